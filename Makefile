# Emporium: the commands a developer needs. `make help` lists them.
GO       ?= go
PKGS_RACE = $(shell $(GO) list ./... | grep -v -e /clustertest -e /processtest)
BENCH    ?= .
BENCHTIME ?= 2s
SEED     ?= 200

.PHONY: help run build test test-cluster bench proto lint clean

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

proto: ## regenerate protos/ (needs protoc: apt-get install protobuf-compiler)
	./protos/gen.sh

lint: ## gofmt and vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'); exit 1)
	$(GO) vet ./...

clean: ## remove built binaries and local data
	rm -rf bin data
