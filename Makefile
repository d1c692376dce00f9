# firehose-worker. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN ?= firehose-worker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# Static, reproducible builds: the Dockerfile runs this same target.
BUILD_ENV := CGO_ENABLED=0

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build ./firehose-worker
	$(BUILD_ENV) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./worker

.PHONY: run
run: build ## run the worker on the embedded sandbox (Kafka + Firehose in one process) with generated events
	./$(BIN) sandbox --generate 200

.PHONY: test
test: ## unit and in-process integration tests, with the race detector; then the allocation checks it skips
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -run '^TestNextDoesNotAllocate$$' ./internal/eventgen/

.PHONY: chart
chart: ## Helm chart tests: lint, render, strict API decode, check (scripts/helm/test, its own Go module)
	cd scripts/helm/test && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: e2e
e2e: ## end-to-end tests against a real Apache Kafka broker and moto (starts and stops both), then SASL_SSL
	bash scripts/e2e.sh
	bash scripts/e2e-sec.sh

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME inputs (default 500000x; a duration such as 20s also works)
	bash scripts/fuzz.sh $${FUZZTIME:-500000x}

.PHONY: bench
bench: ## end-to-end benchmark vs bare consumers (kafka.Reader, batch API) and a stock-SDK pipeline, consume-only and partition scaling, plus micro-benchmarks; writes scripts/bench-report-<date>.md
	bash scripts/bench.sh

.PHONY: outage
outage: ## Firehose refuses every call for 5 minutes under 2,000 events/s: memory, readiness, loss, recovery (about 8 minutes)
	bash scripts/outage.sh

.PHONY: chaos
chaos: ## 1,000,000 events through 3 workers, 20+ SIGKILLs, a broker restart, throttle storms; fails if anything is missing
	CHAOS_EVENTS=1000000 CHAOS_KILLS=20 bash scripts/chaos.sh

.PHONY: clean
clean: ## remove build outputs and service caches
	rm -rf $(BIN) sandbox-data .cache
