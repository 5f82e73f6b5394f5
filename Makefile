# Quick start: `make run` (server with local HSM tokens and Redis), `make test` (every test).
STATE ?= .state
export DTRUST_STATE_DIR := $(abspath $(STATE))

.PHONY: run test deps build format bench bench-rpc bench-tsa clean-state

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

bench: deps
	dotnet run -c Release --project benchmarks/DTrust.Benchmarks -- --filter '*'

bench-rpc: deps
	bash benchmarks/rpc-load.sh

clean-state:
	rm -rf $(STATE)

bench-tsa: deps
	bash benchmarks/tsa-load.sh
