# Quick start: `make run` (server with local HSM tokens and Redis), `make test` (every test).
STATE ?= .state
export DTRUST_STATE_DIR := $(abspath $(STATE))

.PHONY: run test deps build format bench bench-full bench-rpc bench-tsa bench-load clean-state

deps:
	@bash scripts/deps.sh

run: deps
	@bash scripts/run.sh

test:
	@bash scripts/deps.sh --test
	@bash scripts/test.sh

build:
	dotnet build DTrust.sln

format:
	dotnet format DTrust.sln

# BenchmarkDotNet: a short representative set (minutes), or every suite and parameter; results in benchmarks/results/.
bench: deps
	bash benchmarks/bench.sh quick

bench-full: deps
	bash benchmarks/bench.sh full

bench-rpc: deps
	bash benchmarks/rpc-load.sh

clean-state:
	rm -rf $(STATE)

bench-tsa: deps
	bash benchmarks/tsa-load.sh

# The load generator against nodes it starts itself: one node (SQLite), then two nodes on one Redis, PostgreSQL and
# token directory. Writes docs/performance/load-{1,2}node.md and the latency chart; about 15 minutes.
bench-load: deps
	bash benchmarks/load.sh
