#!/usr/bin/env bash
# Prepares a SoftHSM2 environment in a state directory, idempotently:
#   <state>/softhsm2.conf, <state>/tokens/, one token per label with its own random user PIN
#   kept in <state>/pins/<label>.pin (mode 0600). The SO PIN is random too and kept beside it.
# A second run reuses what exists. Usage: softhsm-tokens.sh STATE_DIR LABEL...
set -euo pipefail
state=$(realpath -m "$1"); shift
umask 077
mkdir -p "$state/tokens" "$state/pins"
conf="$state/softhsm2.conf"
if [ ! -f "$conf" ]; then
  cat > "$conf" <<CONF
directories.tokendir = $state/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
fi
export SOFTHSM2_CONF="$conf"
newpin() { head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20; }
for label in "$@"; do
  if softhsm2-util --show-slots 2>/dev/null | grep -q -E "^\s+Label:\s+$label\s*$"; then
    continue
  fi
  pin=$(newpin); so=$(newpin)
  softhsm2-util --init-token --free --label "$label" --so-pin "$so" --pin "$pin" >/dev/null
  printf '%s' "$pin" > "$state/pins/$label.pin"
  printf '%s' "$so" > "$state/pins/$label.so-pin"
done
echo "$conf"
