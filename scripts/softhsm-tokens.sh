#!/usr/bin/env bash
# Prepares a SoftHSM2 environment in a state directory, idempotently:
#   <state>/softhsm2.conf, <state>/tokens/, one token per label with its own random user PIN
#   kept in <state>/pins/<label>.pin (mode 0600), the file the server reads.
# The SO PIN is random, used once to initialise the token and its user PIN, and not kept: it is not the server's to
# know, and a development token whose user PIN got locked is simply made again (delete it, rerun).
# PINs reach pkcs11-tool through the environment (env:NAME), never on a command line other local users can read.
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
module=/usr/lib/softhsm/libsofthsm2.so
# State made by earlier versions kept the SO PIN beside the user PIN; it does not belong there.
rm -f "$state"/pins/*.so-pin
newpin() { head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 20; }
# SoftHSM always offers one uninitialised token, in the last slot.
free_slot_index() { pkcs11-tool --module "$module" -L 2>/dev/null | grep -c '^Slot ' | awk '{ print $1 - 1 }'; }
# Quiet on success (pkcs11-tool chats on stderr), everything on failure.
p11() { local out; out=$(pkcs11-tool --module "$module" "$@" 2>&1) || { echo "$out" >&2; return 1; }; }
for label in "$@"; do
  # Read the slots first: grep -q may stop reading early, and with pipefail the writer's SIGPIPE would then read as
  # "no such token" and make a second token of that label.
  slots=$(softhsm2-util --show-slots 2>/dev/null || true)
  if grep -q -E "^\s+Label:\s+$label\s*$" <<<"$slots"; then
    continue
  fi
  DTRUST_USER_PIN=$(newpin) DTRUST_SO_PIN=$(newpin)
  export DTRUST_USER_PIN DTRUST_SO_PIN
  p11 --slot-index "$(free_slot_index)" --init-token --label "$label" --so-pin env:DTRUST_SO_PIN
  p11 --token-label "$label" --login --login-type so --so-pin env:DTRUST_SO_PIN --init-pin --pin env:DTRUST_USER_PIN
  printf '%s' "$DTRUST_USER_PIN" > "$state/pins/$label.pin"
  unset DTRUST_USER_PIN DTRUST_SO_PIN
done
echo "$conf"
