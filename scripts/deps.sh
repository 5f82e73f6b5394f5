#!/usr/bin/env bash
# Installs the Debian packages the server and its tests need, only those missing. Needs root (or prints the command).
set -euo pipefail
declare -A need=(
  [softhsm2-util]=softhsm2
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [pkcs11-tool]=opensc
  [openssl]=openssl
)
if [ "${1:-}" = "--test" ]; then
  need[h2load]=nghttp2-client
  need[node]=nodejs
  need[npm]=npm
  # The holder's pages are tested in a real browser (headless, with the DevTools WebAuthn authenticator).
  need[chromium]=chromium
  # Signed PDFs are judged by verifiers nobody here wrote: poppler's pdfsig (with an NSS database), qpdf, pdftoppm.
  need[pdfsig]=poppler-utils
  need[pdftoppm]=poppler-utils
  need[qpdf]=qpdf
  need[certutil]=libnss3-tools
fi
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ -f /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
if [ "${1:-}" = "--test" ]; then
  # Debian's grpcio/protobuf are modules of /usr/bin/python3, not of a pyenv python first on PATH.
  /usr/bin/python3 -c 'import grpc, google.protobuf' >/dev/null 2>&1 || missing+=(python3-grpcio python3-protobuf)
  # Relying parties in Python read our certificates with it; a test parses every one we issue.
  /usr/bin/python3 -c 'import cryptography.x509' >/dev/null 2>&1 || missing+=(python3-cryptography)
  # The store's contract tests run a real PostgreSQL (initdb/pg_ctl are not on PATH in Debian's layout).
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages. Run as root: apt-get update && $cmd" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
$cmd >/dev/null
