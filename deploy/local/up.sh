#!/usr/bin/env bash
# make up: the product on the local control plane, in the background.
#
#   1. the local control plane and chart repositories (test/cluster/up.sh: builds what is missing);
#   2. the HelmRelease CRD (server-side apply);
#   3. helm-runner (unix socket, mode 0600) and the reconciler, each in its own session, pids and
#      logs under $PLANTON_STATE_DIR (default .cluster/controller/); the reconciler serves the
#      gRPC API over TLS (a local CA in api-tls/) and api.env says where (PLANTON_API_ADDR,
#      PLANTON_API_CA);
#   4. two example HelmReleases from deploy/examples/ in namespace planton-demo, pointed at the
#      local HTTP chart repository and the local OCI registry; waits until both are Ready.
#
# Idempotent: what already runs (recorded pid, same executable) is left alone. Expects the
# reconciler built (npm run build) and bin/helm-runner (make build-runner): `make up` does both.
# Stop everything with deploy/local/down.sh (make down).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_built

if "$REPO_ROOT/test/cluster/status.sh" >/dev/null 2>&1; then
  log "the local control plane runs already ($CLUSTER_DIR)"
else
  log "starting the local control plane (the first run on a machine builds it: about 20 min)"
fi
"$REPO_ROOT/test/cluster/up.sh"
load_cluster_env
# shellcheck disable=SC2153 # KUBECONFIG comes from the cluster env (load_cluster_env)
kubectl() { "$PLANTON_KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

# How to stop what this starts (printed at the end).
prefix=''
[[ $CLUSTER_DIR == "$REPO_ROOT/.cluster" ]] || prefix+="CLUSTER_DIR=$CLUSTER_DIR "
[[ -z ${PLANTON_STATE_DIR:-} ]] || prefix+="PLANTON_STATE_DIR=$PLANTON_STATE_DIR "
stop_hint="${prefix}make down"
[[ ${PLANTON_DEMO:-0} != 1 ]] || stop_hint="Ctrl-C (make demo tears everything down)"

mkdir -p "$STATE_DIR"/{pids,logs}
SOCKET=$(socket_path "$STATE_DIR")
RUNNER_LOG=$STATE_DIR/logs/helm-runner.log
RECONCILER_LOG=$STATE_DIR/logs/reconciler.log

apply_crd kubectl
log "CRD helmreleases.helm.project-planton.org established"

if alive "$STATE_DIR/pids/helm-runner.pid"; then
  log "helm-runner already running (pid $(recorded_pid "$STATE_DIR/pids/helm-runner.pid"))"
else
  start_runner "$STATE_DIR" "$SOCKET" "$RUNNER_LOG" 1 "$KUBECONFIG"
  wait_socket "$STATE_DIR/pids/helm-runner.pid" "$SOCKET" "$RUNNER_LOG"
  wait_runner_metrics "$STATE_DIR" "$RUNNER_LOG"
  log "helm-runner serving on $SOCKET, metrics on http://$(cat "$STATE_DIR/runner-metrics-addr")"
fi

if alive "$STATE_DIR/pids/reconciler.pid" && [[ -f $STATE_DIR/http-addr ]]; then
  log "reconciler already running (pid $(recorded_pid "$STATE_DIR/pids/reconciler.pid"))"
else
  stop_recorded "$STATE_DIR/pids/reconciler.pid" reconciler 40 # a half-started one, if any
  ensure_api_tls "$STATE_DIR"
  start_reconciler "$STATE_DIR" "$SOCKET" "$RECONCILER_LOG" 1 "$KUBECONFIG"
  wait_reconciler "$STATE_DIR" "$RECONCILER_LOG"
  write_api_env "$STATE_DIR" "$RECONCILER_LOG"
  log "reconciler ready on http://$(cat "$STATE_DIR/http-addr")"
fi
ADDR=$(cat "$STATE_DIR/http-addr")
# shellcheck source=/dev/null
source "$STATE_DIR/api.env"

kubectl create namespace "$DEMO_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
local_examples | kubectl apply -n "$DEMO_NAMESPACE" -f - >/dev/null
log "applied ${DEMO_RELEASES[*]} in namespace $DEMO_NAMESPACE; waiting until they are Ready"
targets=()
for r in "${DEMO_RELEASES[@]}"; do targets+=("helmrelease/$r"); done
if ! kubectl wait -n "$DEMO_NAMESPACE" --for=condition=Ready --timeout="${READY_TIMEOUT:-180s}" "${targets[@]}" >/dev/null; then
  kubectl get helmreleases -n "$DEMO_NAMESPACE" >&2 || true
  kubectl get helmreleases -n "$DEMO_NAMESPACE" \
    -o jsonpath='{range .items[*]}{.metadata.name}:{range .status.conditions[*]} {.type}={.status} ({.reason}: {.message}){end}{"\n"}{end}' >&2 || true
  tail -n 15 "$RECONCILER_LOG" >&2
  die "the examples did not become Ready; logs: $RECONCILER_LOG, $RUNNER_LOG (stop: $stop_hint)"
fi

cat <<EOF

$(kubectl get helmreleases -n "$DEMO_NAMESPACE")

The controller runs in the background against the local cluster.
  export KUBECONFIG=$KUBECONFIG
  alias kubectl=$PLANTON_KUBECTL
  kubectl get helmreleases -n $DEMO_NAMESPACE   # Ready, status, chart, version, revision
  kubectl describe helmrelease -n $DEMO_NAMESPACE ${DEMO_RELEASES[0]}
  curl -s http://$ADDR/metrics | grep ^planton_helm_release
  curl -s http://$(cat "$STATE_DIR/runner-metrics-addr")/metrics | grep ^planton_helm_runner

The gRPC API (HelmReleaseService, TLS) serves on $PLANTON_API_ADDR; its address and CA are in
$STATE_DIR/api.env. The CLI reads them and the kubeconfig's token:
  set -a; source $STATE_DIR/api.env; set +a
  npx planton-helm list -n $DEMO_NAMESPACE
  npx planton-helm diff -n $DEMO_NAMESPACE ${DEMO_RELEASES[0]}
Logs: $RECONCILER_LOG
      $RUNNER_LOG
Stop: $stop_hint
EOF
