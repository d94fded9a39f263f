# Emporium: the commands a developer needs. `make help` lists them.
GO       ?= go
PKGS_RACE = $(shell $(GO) list ./... | grep -v -e /clustertest -e /processtest)
BENCH    ?= .
BENCHTIME ?= 2s
SEED     ?= 200

.PHONY: help run build test test-cluster bench bench-orders proto proto-check lint clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## run one node on :8080 with embedded stores under ./data and a demo catalogue (SEED=200 products)
	$(GO) run ./cmd/emporium serve --seed $(SEED)

build: ## build the emporium binary into ./bin
	$(GO) build -o bin/emporium ./cmd/emporium

test: ## vet, then every test with -race (multi-member cluster tests without, see DESIGN §2)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 5m $(PKGS_RACE)
	$(MAKE) test-cluster

test-cluster: ## the multi-member cluster tests and the tests that run and kill real node processes (without -race)
	$(GO) test -count=1 -timeout 5m ./actors/clustertest/... ./node/clustertest/... ./node/processtest/...

bench: ## run the benchmarks (BENCH=regexp, BENCHTIME=2s)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./...

bench-orders: ## checkout load from a separate process against a built node (tools/orderload/bench.sh, ~15 min; see docs/benchmarks.md)
	./tools/orderload/bench.sh

proto: ## regenerate protos/ (needs protoc: apt-get install protobuf-compiler)
	./protos/gen.sh

proto-check: ## check that protos/ holds what `make proto` makes now (skips, saying so, without protoc)
	./protos/check.sh

lint: ## gofmt, vet, staticcheck (pinned as a go tool in go.mod) and fresh generated protos
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(MAKE) proto-check

clean: ## remove built binaries and local data
	rm -rf bin data
