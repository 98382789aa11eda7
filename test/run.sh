#!/usr/bin/env bash
# Runs every test: static checks (buf lint, generated code up to date, TypeScript types),
# Go tests of helm-runner, TypeScript unit tests, then the integration suites against the local
# control plane. Starts the cluster when it is not already up, and stops it at the end in that
# case (a cluster you started yourself is left running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

started_cluster=0
cleanup() {
  if [[ $started_cluster == 1 ]]; then
    step "stopping the local control plane"
    test/cluster/down.sh || true
  fi
}
trap cleanup EXIT

step "generated code and CRD are up to date (buf generate, buf lint, CRD generator)"
npm run --silent generate
if [[ -n $(git status --porcelain -- src/gen helm-runner/gen sdk/go/planton deploy/crds deploy/chart/crds deploy/chart/files) ]]; then
  git status --short -- src/gen helm-runner/gen sdk/go/planton deploy/crds deploy/chart/crds deploy/chart/files
  echo "generated code differs from the committed tree: run 'make generate' and commit" >&2
  exit 1
fi

step "no breaking proto changes against main (buf breaking)"
if git rev-parse --verify --quiet main >/dev/null; then
  npx buf breaking --against '.git#branch=main'
else
  echo "no local main branch: skipped"
fi

step "TypeScript type check"
npm run --silent typecheck

step "Go: vet and unit tests (helm-runner, sdk/go)"
(cd helm-runner && go vet ./... && go test ./...)
(cd sdk/go && go vet ./... && go test ./...)

step "TypeScript unit tests"
npx vitest run --project unit --passWithNoTests

step "Debian tools the tests use (Prometheus, promtool, gnuplot; buildah, skopeo, mmdebstrap, umoci, runc; containerd, CNI plugins, socat, busybox-static)"
test/cluster/debian-tools.sh

step "alerting rules (promtool check rules, promtool test rules, PrometheusRule generated from the rule file)"
deploy/monitoring/generate.sh --check
promtool check rules deploy/monitoring/rules/planton-helm.rules.yaml
promtool test rules deploy/monitoring/tests/*.test.yaml

step "local control plane"
if ! test/cluster/status.sh >/dev/null; then
  started_cluster=1
fi
# With the node that really runs containers (test/deploy/real-node.test.ts needs it).
PLANTON_REAL_NODE=1 test/cluster/up.sh

step "Go integration tests (helm-runner against the local cluster and repositories)"
(cd helm-runner && PLANTON_REQUIRE_CLUSTER=1 go test -tags integration -count=1 ./...)

step "integration tests (vitest)"
npx vitest run --project integration
