# llmq — make help lists the targets.
GO      ?= go
BIN     ?= bin
PKGS    := ./...

.DEFAULT_GOAL := help
.PHONY: help build demo test test-short lint deps clean bench bench-smoke

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/worker, bin/dashboard, bin/enqueue, bin/api, bin/simulator, bin/demo and bin/bench
	$(GO) build -o $(BIN)/ ./cmd/...

demo: build ## Embed the sample corpus end to end (no API key or Redis needed) and print a summary
	$(BIN)/demo

deps: ## Locate redis-server, chromium, promtool and DuckDB for the tests, installing them if missing; build MinIO for the S3 tests
	@./scripts/ensure-redis
	@./scripts/ensure-chromium
	@./scripts/ensure-promtool
	@./scripts/ensure-duckdb
	@./scripts/ensure-minio

test: deps lint ## Run every test with the race detector (needs redis-server and chromium: see deps)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

bench: build deps ## Run the benchmarks (under 10 minutes on 2 cores) and regenerate BENCHMARKS.md
	$(BIN)/bench -out BENCHMARKS.md -cpuprofile out/worker.cpu.prof

bench-smoke: build deps ## Run every benchmark once at a tiny size; fails unless each produced sane figures
	$(BIN)/bench -smoke

lint: ## gofmt, go vet and staticcheck (pinned in go.mod)
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

clean: ## Remove build output
	rm -rf $(BIN) out
