#!/usr/bin/python3
"""Parses every certificate and CRL it is given with Debian's python3-cryptography, decoding every extension,
and prints one line per file: "OK <path> <subject>" or "FAIL <path> <error>". Exit status 1 if any file failed.

Usage: /usr/bin/python3 parse_pki.py FILE...   (.pem or .der certificates, .crl DER CRLs)

Why: a relying party written in Python (pyHanko, signing platforms) reads our certificates with this library; it
refuses a whole certificate when one extension holds a value it cannot represent (an OID arc above 64 bits).
"""
import sys

from cryptography import x509


def parse(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".crl"):
        crl = x509.load_der_x509_crl(data)
        values = [e.value for e in crl.extensions]
        values += [e.value for r in crl for e in r.extensions]
        return f"{crl.issuer.rfc4514_string()} ({len(values)} extensions)"
    cert = x509.load_pem_x509_certificate(data) if data.startswith(b"-----") else x509.load_der_x509_certificate(data)
    values = [e.value for e in cert.extensions]
    return f"{cert.subject.rfc4514_string()} ({len(values)} extensions)"


def main():
    failed = False
    for path in sys.argv[1:]:
        try:
            print(f"OK {path} {parse(path)}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, whatever its type
            failed = True
            print(f"FAIL {path} {type(e).__name__}: {e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
