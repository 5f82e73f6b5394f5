#!/usr/bin/env bash
# Loads the gRPC health check (through Grpc.AspNetCore) and a bare Kestrel HTTP/2 POST on the same server with h2load, for a
# bounded time on 127.0.0.1 only, and prints requests/s of each and their ratio: the transport's overhead.
# The host is shared and figures move run to run, so every endpoint is warmed up first (JIT tiering), then the three
# are measured in turn ROUNDS times and the median of each is reported.
# Knobs: DURATION (s per run, default 5), ROUNDS (3), CLIENTS (connections, 8), STREAMS (concurrent streams each, 32),
# THREADS (h2load threads, 1).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
duration="${DURATION:-5}"
rounds="${ROUNDS:-3}"
clients="${CLIENTS:-8}"
streams="${STREAMS:-32}"
threads="${THREADS:-1}"

if ! command -v h2load >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y nghttp2-client >/dev/null
  else
    echo "h2load is missing: sudo apt-get install -y nghttp2-client" >&2
    exit 1
  fi
fi

work="$(mktemp -d)"
target_pid=""
cleanup() {
  if [ -n "$target_pid" ]; then kill "$target_pid" 2>/dev/null || true; wait "$target_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

dotnet build -c Release -v quiet -nologo -o "$work/bin" "$root/benchmarks/DTrust.RpcLoadTarget" >"$work/build.log" \
  || { cat "$work/build.log" >&2; exit 1; }
mkfifo "$work/out"
dotnet "$work/bin/DTrust.RpcLoadTarget.dll" >"$work/out" &
target_pid=$!
port=""
exec 3<"$work/out"
while read -r -t 30 line <&3; do
  case "$line" in listening\ *) port="${line#listening }"; break ;; esac
done
[ -n "$port" ] || { echo "load target did not start" >&2; exit 1; }
# Keep draining the target's stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &

# An empty HealthCheckRequest framed for gRPC: flag 0, length 0. The baseline gets the same 5 bytes.
printf '\0\0\0\0\0' >"$work/request.bin"

run() { # name url content-type [duration]
  local out
  out="$(h2load -D "${4:-$duration}" --warm-up-time=1 -c "$clients" -m "$streams" -t "$threads" -d "$work/request.bin" \
    -H "content-type: $3" -H "te: trailers" "$2")"
  local ok rps
  ok="$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")"
  rps="$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")"
  if [ -z "$rps" ] || [ "${ok:-0}" = 0 ] || grep -q 'failed: [1-9]\|errored: [1-9]' <<<"$out"; then
    echo "$1: h2load run failed" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "$rps"
}

echo "h2load: ${duration}s per run, $rounds rounds, $clients connections x $streams streams, $threads thread(s), 127.0.0.1:$port"
grpc_url="http://127.0.0.1:$port/grpc.health.v1.Health/Check"
plain_url="http://127.0.0.1:$port/plain"
trailers_url="http://127.0.0.1:$port/plain-trailers"
run grpc "$grpc_url" application/grpc 3 >/dev/null
run plain "$plain_url" application/octet-stream 3 >/dev/null
run plain-trailers "$trailers_url" application/octet-stream 3 >/dev/null
grpc_all=(); plain_all=(); trailers_all=()
for _ in $(seq "$rounds"); do
  grpc_all+=("$(run grpc "$grpc_url" application/grpc)")
  plain_all+=("$(run plain "$plain_url" application/octet-stream)")
  trailers_all+=("$(run plain-trailers "$trailers_url" application/octet-stream)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
grpc_rps="$(median "${grpc_all[@]}")"
plain_rps="$(median "${plain_all[@]}")"
trailers_rps="$(median "${trailers_all[@]}")"
echo "runs (req/s): gRPC ${grpc_all[*]} | plain ${plain_all[*]} | plain+trailer ${trailers_all[*]}"
printf 'grpc.health.v1.Health/Check (Grpc.AspNetCore): %10.0f req/s (median)\n' "$grpc_rps"
printf 'plain Kestrel HTTP/2 POST:                    %10.0f req/s (median)\n' "$plain_rps"
printf 'plain POST + one trailer (reference):         %10.0f req/s (median)\n' "$trailers_rps"
awk -v g="$grpc_rps" -v p="$plain_rps" 'BEGIN { printf "ratio gRPC / plain:                           %10.2f\n", g / p }'
