#!/usr/bin/env bash
# `make bench-load`: the load generator (benchmarks/DTrust.LoadGen) against nodes it starts from the Release build.
# One node on SQLite with the open-loop sweep of scenario 1 (chart), then two nodes on one Redis and one PostgreSQL.
# Extra arguments go to both runs (e.g. `bash benchmarks/load.sh --runs 1 --duration 5` for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test >/dev/null
dotnet build src/SigningServer -c Release -v q -nologo
dotnet build benchmarks/DTrust.LoadGen -c Release -v q -nologo
loadgen=benchmarks/DTrust.LoadGen/bin/Release/net10.0/DTrust.LoadGen.dll
dotnet "$loadgen" --spawn 1 "$@"
dotnet "$loadgen" --spawn 2 --sweep "" "$@"
