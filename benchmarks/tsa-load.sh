#!/usr/bin/env bash
# Time-stamp tokens per second through the running server: HTTP POST /tsa (RFC 3161 over HTTP/1.1) and gRPC
# dtrust.tsa.v1.TimestampService/Timestamp (h2c), loaded with h2load on 127.0.0.1 for a bounded time. Beside them,
# in the same run, BenchmarkDotNet measures the raw HSM sign rate of a SoftHSM P-256 key and the library's token
# rate, so every figure reads as a ratio to the raw HSM rate. Knobs: DURATION (s, default 10), CLIENTS (8),
# STREAMS (gRPC streams per connection, 16), SKIP_BDN=1 to reuse nothing and skip the in-process baseline.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
duration="${DURATION:-10}"
clients="${CLIENTS:-8}"
streams="${STREAMS:-16}"
command -v h2load >/dev/null || bash "$root/scripts/deps.sh" --test

work="$(mktemp -d)"
run_pid=""
cleanup() {
  if [ -n "$run_pid" ]; then kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port); http_port=$(free_port); redis_port=$(free_port); holder_port=$(free_port); admin_port=$(free_port)

if [ -z "${SKIP_BDN:-}" ]; then
  echo "== in-process baseline (BenchmarkDotNet): raw HSM sign vs library token, SoftHSM P-256"
  dotnet run -c Release --project "$root/benchmarks/DTrust.Benchmarks" -- \
    --filter '*TsaHsmBenchmarks*' 2>&1 | grep -E '^\|' || true
fi

# h2load is one client address: the public listener's per-address rate limit and connection cap are off for this measurement.
echo "== server (scripts/run.sh, fresh state, 127.0.0.1:$http_port and :$grpc_port)"
DTRUST_STATE_DIR="$work/state" DTRUST_REDIS_PORT="$redis_port" \
  DTrust__Listen__Grpc="127.0.0.1:$grpc_port" DTrust__Listen__Http="127.0.0.1:$http_port" \
  DTrust__Listen__Holder="localhost:$holder_port" DTrust__Listen__Admin="127.0.0.1:$admin_port" \
  DTrust__Pki__RateLimit__Enabled=false DTrust__Listen__PublicConnectionsPerAddress=100000 Logging__LogLevel__Default=Warning bash "$root/scripts/run.sh" >"$work/server.log" 2>&1 &
run_pid=$!
for _ in $(seq 240); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

echo "benchmark payload" >"$work/doc.txt"
openssl ts -query -data "$work/doc.txt" -sha256 -cert -out "$work/req.tsq" 2>/dev/null
# The same request framed for gRPC: TimestampRequest{der_request=1} behind the 5-byte length prefix.
/usr/bin/python3 - "$work/req.tsq" "$work/req.grpc" <<'PY'
import struct, sys
der = open(sys.argv[1], "rb").read()
assert len(der) < 128
msg = b"\x0a" + bytes([len(der)]) + der
open(sys.argv[2], "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
PY

rate() { # label h2load-args...
  local label=$1; shift
  local out rps
  out=$(h2load -D "$duration" --warm-up-time=2 -c "$clients" "$@")
  rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
  if grep -q 'failed: [1-9]\|errored: [1-9]' <<<"$out" || ! grep -q '[1-9][0-9]* 2xx' <<<"$out"; then
    echo "$label: h2load reported failures" >&2; echo "$out" >&2; exit 1
  fi
  printf '%-40s %10.0f tokens/s\n' "$label" "$rps"
}
rate "POST /tsa (HTTP/1.1, $clients conns)" --h1 -d "$work/req.tsq" \
  -H 'content-type: application/timestamp-query' "http://127.0.0.1:$http_port/tsa"
rate "gRPC Timestamp (h2c, $clients x $streams)" -m "$streams" -d "$work/req.grpc" \
  -H 'content-type: application/grpc' -H 'te: trailers' \
  "http://127.0.0.1:$grpc_port/dtrust.tsa.v1.TimestampService/Timestamp"
