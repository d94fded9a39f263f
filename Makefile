# Emporium: the commands a developer needs. `make help` lists them.
GO       ?= go
PKGS_RACE = $(shell $(GO) list ./... | grep -v -e /clustertest -e /processtest -e /killtest)
BENCH    ?= .
BENCHTIME ?= 2s
SEED     ?= 200
# The API linters make lint-api runs, pinned (npx fetches them from npm).
SPECTRAL_CLI   ?= @stoplight/spectral-cli@6.16.3
SPECTRAL_OWASP ?= @stoplight/spectral-owasp-ruleset@2.0.1
REDOCLY_CLI    ?= @redocly/cli@2.77.0

.PHONY: help run build test test-cluster test-kill test-deploy compose-up compose-down cluster-up cluster-down cluster-status bench bench-orders proto proto-check lint lint-api clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## run one node on :8080 with embedded stores under ./data and a demo catalogue (SEED=200 products)
	$(GO) run ./cmd/emporium serve --seed $(SEED)

build: ## build the emporium binary into ./bin
	$(GO) build -o bin/emporium ./cmd/emporium

test: ## vet, then every test with -race (multi-member cluster tests without, see DESIGN §2)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m $(PKGS_RACE)
	$(MAKE) test-cluster
	$(MAKE) test-deploy

test-cluster: ## the multi-member cluster tests and the tests that run and kill real node processes (without -race)
	$(GO) test -count=1 -timeout 5m ./actors/clustertest/... ./node/clustertest/... ./node/processtest/...

test-kill: ## the cluster kill test: 3 node processes on one shared store, -9, SIGTERM and a join under load (needs PostgreSQL; KILLTEST_GAP=25s for the full run)
	$(GO) test -count=1 -timeout 12m -v -run 'TestClusterSurvivesKillStopAndJoin' ./node/killtest/

test-deploy: ## validate docker-compose.yml and deploy/k8s without starting them (deploy/, a Go module of its own)
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 -timeout 5m ./...

cluster-up: ## three nodes on 127.0.0.1:8081-8083, a shared store and Redis in the background, without Docker (README: Run a cluster on one machine)
	./tools/cluster/cluster.sh up

cluster-down: ## stop the local cluster: every node with SIGTERM, then the store (data stays in ./data/cluster)
	./tools/cluster/cluster.sh down

cluster-status: ## what the local cluster runs, and each node's /readyz
	./tools/cluster/cluster.sh status

compose-up: ## the three-node cluster of docker-compose.yml behind one port (needs Docker; README: Run a cluster with Docker)
	docker compose up --build --wait

compose-down: ## stop the compose cluster (its volumes stay; docker compose down -v forgets them)
	docker compose down

bench: ## run the benchmarks (BENCH=regexp, BENCHTIME=2s)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./...

bench-orders: ## checkout load from a separate process against a built node (tools/orderload/bench.sh, ~15 min; see docs/benchmarks.md)
	./tools/orderload/bench.sh

proto: ## regenerate protos/ (needs protoc: apt-get install protobuf-compiler)
	./protos/gen.sh

proto-check: ## check that protos/ holds what `make proto` makes now (skips, saying so, without protoc)
	./protos/check.sh

lint: ## gofmt, vet, staticcheck (pinned as a go tool in go.mod), the API contract's lint rules and fresh generated protos
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) test -count=1 -run '^TestContractLint$$' ./gateway/
	$(MAKE) proto-check

lint-api: ## lint gateway/openapi.yaml with Spectral (spectral:oas + OWASP) and Redocly (recommended); needs Node.js and npm's registry
	@command -v npx >/dev/null || { echo "lint-api needs Node.js (npx); TestContractLint applies the same rules with Go alone"; exit 1; }
	@# Spectral resolves the ruleset .spectral.yaml extends from NODE_PATH:
	@# the node_modules npx installed both packages in.
	npx --yes -p $(SPECTRAL_CLI) -p $(SPECTRAL_OWASP) -c \
	  'NODE_PATH="$$(dirname "$$(command -v spectral)")/.." spectral lint --fail-severity=warn -r .spectral.yaml gateway/openapi.yaml'
	npx --yes $(REDOCLY_CLI) lint --config redocly.yaml gateway/openapi.yaml

clean: ## remove built binaries and local data
	rm -rf bin data
