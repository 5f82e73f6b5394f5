#!/usr/bin/env bash
# BenchmarkDotNet suites of benchmarks/DTrust.Benchmarks, results under benchmarks/results/<set>/.
#   bench.sh quick   (make bench)       one representative case per question, a short job: a few minutes
#   bench.sh full    (make bench-full)  every suite and parameter (DTRUST_BENCH_MATRIX=full), the longer job
# Further arguments go to BenchmarkDotNet (e.g. --filter '*Cades*' to run one suite of the chosen set).
# BenchmarkDotNet writes <set>/results/*-report-github.md (also .csv, .html) and a log; this script joins the
# GitHub tables into <set>/summary.md and prints it with the wall time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
set_name="${1:-quick}"
shift || true
case "$set_name" in
  quick)
    # KeyVault: raw C_Sign and raw transaction beside vault batch 1 and 100, one session (P-256, RSA-2048).
    filters=('*KeyVaultBenchmarks.RawSign' '*KeyVaultBenchmarks.RawTransaction' '*KeyVaultBenchmarks.VaultBatch1'
             '*KeyVaultBenchmarks.VaultBatch100' '*KeyVaultBenchmarks.SelfCheck100' '*CadesBenchmarks*' '*ChallengeStoreBenchmarks*'
             '*AuditAppendBenchmarks*' '*PinAttemptBenchmarks*' '*SigningRoundTripBenchmarks*') ;;
  full) filters=('*') ;;
  *) echo "usage: $0 quick|full [BenchmarkDotNet arguments]" >&2; exit 2 ;;
esac
if [[ " $* " == *" --filter "* ]]; then
  filters=()
fi

# The Store suite runs a throw-away PostgreSQL cluster (Debian keeps initdb off PATH).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || bash "$root/scripts/deps.sh" --test

out="$root/benchmarks/results/$set_name"
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
dotnet build -c Release "$root/benchmarks/DTrust.Benchmarks" -v quiet -nologo
rc=0
DTRUST_BENCH_MATRIX="$set_name" dotnet run -c Release --no-build --project "$root/benchmarks/DTrust.Benchmarks" -- \
  --artifacts "$out" ${filters[@]+--filter "${filters[@]}"} "$@" || rc=$?
seconds=$(( $(date +%s) - start ))

{
  echo "# DTrust benchmarks: $set_name set, $(date -u +%Y-%m-%dT%H:%MZ), wall time ${seconds} s"
  echo
  echo "Machine load at the end (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg). Allocated is per operation (per"
  echo "signature or append where the benchmark says so); the Server suite's Allocated is client and server together."
  for report in "$out"/results/*-report-github.md; do
    [ -e "$report" ] || continue
    echo
    echo "## $(basename "$report" -report-github.md)"
    # BenchmarkDotNet's header (machine, job), then the table; its quotes around descriptions come HTML-escaped.
    sed "s/&#39;/'/g" "$report"
  done
} > "$out/summary.md"
cat "$out/summary.md"
echo
echo "bench $set_name: ${seconds} s wall time; reports in ${out#"$root"/}/results/, joined in ${out#"$root"/}/summary.md"
if [ "$rc" -ne 0 ]; then
  echo "bench $set_name: some benchmarks did not build or run (NA above); see ${out#"$root"/}/*.log" >&2
fi
exit "$rc"
