# Quick start: `make run` (server with local HSM tokens and Redis), `make test` (every test).
STATE ?= .state
export DTRUST_STATE_DIR := $(abspath $(STATE))

.PHONY: run test deps build format bench bench-full bench-rpc bench-tsa clean-state

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
