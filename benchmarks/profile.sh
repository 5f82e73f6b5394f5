#!/usr/bin/env bash
# A CPU flame graph of one node under the load generator's closed loop (scenario 1 unless --scenarios is given).
#   bash benchmarks/profile.sh OUT_PREFIX [load generator arguments]
# Starts the Release build with the runtime's perf map (DOTNET_PerfMapEnabled=1; W^X off so that perf can attribute
# JIT'd code), records the server process with `perf record -g` for 15 s once the load has settled, and writes
# OUT_PREFIX.svg (benchmarks/flamegraph.py) and OUT_PREFIX.txt (the load's line, CPU by origin, the heaviest frames).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: profile.sh OUT_PREFIX [load generator arguments]}"
shift
title="$(basename "$out") ($(git rev-parse --short HEAD))"
work="$(mktemp -d)"
dotnet benchmarks/DTrust.LoadGen/bin/Release/net10.0/DTrust.LoadGen.dll --spawn 1 --runs 1 --duration 40 --sweep "" \
  --out "$work" --scenarios 1 --node-env DOTNET_PerfMapEnabled=1 --node-env DOTNET_EnableWriteXorExecute=0 "$@" > "$work/log" 2>&1 &
loadgen=$!
pid=""
for _ in $(seq 1 120); do
  pid="$(grep -oP 'pid \K[0-9]+' "$work/log" 2>/dev/null | head -1 || true)"
  [[ -n "$pid" ]] && break
  sleep 1
done
[[ -n "$pid" ]] || { echo "profile.sh: the node did not start" >&2; cat "$work/log" >&2; exit 1; }
# Past the raw baselines, the settle phase and the warm-up: the measured phase.
sleep 32
perf record -F 999 -g -p "$pid" -o "$work/perf.data" -- sleep 15 >/dev/null 2>&1
wait "$loadgen" || true
{
  echo "# $title"
  grep -E "^run 1: scenario" "$work/log" | head -1
  echo
  perf script -i "$work/perf.data" 2>/dev/null | python3 benchmarks/flamegraph.py --title "$title" --folded "$work/folded" > "$out.svg"
  python3 benchmarks/flamegraph.py --origins < "$work/folded"
  echo
  echo "Heaviest frames, inclusive (share of samples with the frame on the stack):"
  python3 benchmarks/flamegraph.py --top 45 < "$work/folded"
} > "$out.txt"
rm -rf "$work"
cat "$out.txt" | head -12
echo "written: $out.svg $out.txt"
