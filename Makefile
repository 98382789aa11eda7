# Planton HelmRelease controller. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NPM_STAMP := node_modules/.package-lock.json

.PHONY: help deps generate check-generated breaking build build-runner cluster-build cluster-up \
        cluster-down cluster-status test test-unit test-integration bench bench-api bench-runner demo up down run \
        images images-run

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: $(NPM_STAMP) ## Install the pinned npm toolchain (Node 24, buf, ts-proto, TypeScript, vitest).

generate: deps ## Regenerate src/gen, helm-runner/gen and sdk/go/planton from proto/ (buf generate), then buf lint.
	npm run generate

breaking: deps ## buf breaking against the main branch.
	npx buf breaking --against '.git#branch=main'

build: deps build-runner ## Type-check TypeScript and build the helm-runner binary.
	npm run typecheck

build-runner: ## Build helm-runner into bin/.
	cd helm-runner && go build -o ../bin/ ./...

cluster-build: ## Build the control-plane binaries into the cache (no-op when cached).
	test/cluster/build.sh

cluster-up: deps ## Start etcd, kube-apiserver, controller-manager, scheduler, KWOK, OCI + HTTP chart repositories (PLANTON_REAL_NODE=1: and a node that really runs containers).
	test/cluster/up.sh

cluster-down: ## Stop everything cluster-up started and remove its state.
	test/cluster/down.sh

cluster-status: ## Show which cluster components are running.
	test/cluster/status.sh

images: deps ## Build both images (buildah, base images from Debian packages) and push them to the local cluster's registry.
	deploy/images/build.sh

images-run: ## Run both pushed images with runc against the local cluster until a HelmRelease is Ready, then remove them.
	deploy/images/run.sh

test: deps ## Every test: checks, Go and TypeScript unit tests, integration tests on a local cluster.
	test/run.sh

test-unit: deps ## Unit tests only (no cluster).
	cd helm-runner && go test ./...
	cd sdk/go && go test ./...
	npx vitest run --project unit --passWithNoTests

test-integration: deps ## Integration tests against a running cluster (make cluster-up first).
	cd helm-runner && PLANTON_REQUIRE_CLUSTER=1 go test -tags integration -count=1 ./...
	npx vitest run --project integration

bench-runner: deps ## helm-runner benchmark on a running cluster (make cluster-up first): latency, throughput, RSS, drift.
	cd helm-runner && PLANTON_REQUIRE_CLUSTER=1 go test -tags integration -run '^$$' -bench BenchmarkDetect10Objects -benchtime 3s ./internal/drift/
	npx vitest run --project bench test/bench/runner.bench.test.ts
	GOMEMLIMIT=128MiB BENCH_LATENCY=off npx vitest run --project bench test/bench/runner.bench.test.ts

bench: deps build-runner ## Reconciler benchmark on a running cluster (make cluster-up first): 100 and 1000 HelmReleases, steady state.
	npx vitest run --project bench test/bench/reconciler.bench.test.ts

bench-api: deps build-runner ## gRPC API benchmark on a running cluster (make cluster-up first): latency by concurrency, 100 Watch streams, RSS with the API on and off.
	npx vitest run --project bench test/bench/api.bench.test.ts

demo: deps build-runner ## Run the product end to end: make up, wait for Ctrl-C, then make down.
	@npm run --silent build
	@deploy/local/demo.sh

up: deps build-runner ## Build; start the local cluster, helm-runner, reconciler and two example HelmReleases in the background.
	@npm run --silent build
	@deploy/local/up.sh

down: ## Stop what make up/demo started (reconciler, runner, local cluster). KEEP_CLUSTER=1 keeps the cluster.
	@deploy/local/down.sh

run: deps build-runner ## Build; run helm-runner and the reconciler in the foreground against the KUBECONFIG cluster (Ctrl-C stops).
	@npm run --silent build
	@deploy/local/run.sh
