#!/usr/bin/python3
"""Reads a seal certificate with Debian's python3-cryptography and prints what a relying party checks of an
EN 319 412-3 seal profile, as one JSON line: subject attributes by OID, certificate policies, key usage, and the
ETSI EN 319 412-5 QC statement OIDs (cryptography keeps qcStatements as an unrecognised extension; its DER is
walked here, statement by statement).

Usage: /usr/bin/python3 seal_profile.py CERT.pem
"""
import json
import sys

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")


def der_items(data):
    """The (tag, value) pairs of a DER string of TLVs."""
    i, items = 0, []
    while i < len(data):
        tag, length = data[i], data[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i:i + n], "big")
            i += n
        items.append((tag, data[i:i + length]))
        i += length
    return items


def oid(value):
    first, parts, n = value[0], [], 0
    parts += [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    for b in value[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


def qc_statements(der):
    """Each statement's id, and for QcType the type ids, flattened in order."""
    [(_, statements)] = der_items(der)
    out = []
    for _, statement in der_items(statements):
        fields = der_items(statement)
        out.append(oid(fields[0][1]))
        if len(fields) > 1 and fields[1][0] == 0x30:
            out += [oid(v) for t, v in der_items(fields[1][1]) if t == 0x06]
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    ku = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
    policies = cert.extensions.get_extension_for_oid(ExtensionOID.CERTIFICATE_POLICIES).value
    qc = cert.extensions.get_extension_for_oid(QC_STATEMENTS).value
    print(json.dumps({
        "subject": {a.oid.dotted_string: a.value for a in cert.subject},
        "policies": [p.policy_identifier.dotted_string for p in policies],
        "keyUsageCritical": ku.critical,
        "contentCommitment": ku.value.content_commitment,
        "digitalSignature": ku.value.digital_signature,
        "qcStatements": qc_statements(qc.value),
        "days": (cert.not_valid_after - cert.not_valid_before).days,
    }))


if __name__ == "__main__":
    main()
