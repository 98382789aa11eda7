#!/usr/bin/env bash
# make run: helm-runner and the reconciler in the foreground against the cluster KUBECONFIG
# names (default: the local cluster when it is up, else ~/.kube/config). Applies the CRD first.
# Both logs are shown on the terminal; Ctrl-C stops the reconciler, then the runner.
#
#   ALLOW_INSECURE_HTTP=1   allow http:// and plain-HTTP OCI repositories (always on for the local
#                           cluster, whose repositories listen on loopback without TLS)
#   LEADER_ELECT=true       take the Lease (LEADER_ELECTION_NAMESPACE, default: default)
#   KUBECTL=path            kubectl to apply the CRD with (default: the local cluster's, else PATH)
#   PLANTON_RUN_DIR=dir     socket, chart cache and logs (default: a new temporary directory,
#                           removed on a clean stop)
#   and HTTP_ADDR, LOG_LEVEL, WATCH_NAMESPACE, CONTROLLER_ARGS, RUNNER_ARGS (deploy/local/lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_built

# ---- which cluster, which kubectl ---------------------------------------------------------------
local_cluster=0
if [[ -z ${KUBECONFIG:-} ]]; then
  if [[ -f $CLUSTER_DIR/env ]]; then
    KUBECONFIG=$CLUSTER_DIR/kubeconfig
  elif [[ -f $HOME/.kube/config ]]; then
    KUBECONFIG=$HOME/.kube/config
  else
    die "no cluster: set KUBECONFIG, or start the local one with 'make cluster-up' (or use 'make up')"
  fi
fi
[[ $KUBECONFIG != *:* ]] || die "KUBECONFIG lists several files; name one"
[[ -f $KUBECONFIG ]] || die "KUBECONFIG=$KUBECONFIG does not exist"
KUBECONFIG=$(readlink -f "$KUBECONFIG")
if [[ -f $CLUSTER_DIR/env && $KUBECONFIG == "$(readlink -f "$CLUSTER_DIR/kubeconfig")" ]]; then
  local_cluster=1
  if alive "$STATE_DIR/pids/reconciler.pid"; then
    die "the controller started by 'make up' runs against this cluster; stop it first (make down, or KEEP_CLUSTER=1 make down)"
  fi
fi
if [[ -z ${KUBECTL:-} ]]; then
  if [[ $local_cluster == 1 ]]; then
    KUBECTL=$(sed -n 's/^PLANTON_KUBECTL=//p' "$CLUSTER_DIR/env")
  else
    KUBECTL=$(command -v kubectl || true)
    [[ -n $KUBECTL ]] || KUBECTL=$(tool_dir kubernetes)/kubectl
  fi
fi
[[ -x $KUBECTL ]] || die "no kubectl (looked for $KUBECTL): set KUBECTL=/path/to/kubectl"
export KUBECONFIG

insecure=0
if [[ ${ALLOW_INSECURE_HTTP:-0} == 1 || $local_cluster == 1 ]]; then insecure=1; fi
if [[ $LEADER_ELECT == true ]]; then
  CONTROLLER_ARGS="${CONTROLLER_ARGS:-} --leader-election-namespace ${LEADER_ELECTION_NAMESPACE:-default}"
fi

# ---- state ----------------------------------------------------------------------------------------
if [[ -n ${PLANTON_RUN_DIR:-} ]]; then
  RUN_DIR=$PLANTON_RUN_DIR
  keep_dir=1
else
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/planton-run.XXXXXX")
  keep_dir=0
fi
mkdir -p "$RUN_DIR"/{pids,logs}
SOCKET=$(socket_path "$RUN_DIR")
RUNNER_LOG=$RUN_DIR/logs/helm-runner.log
RECONCILER_LOG=$RUN_DIR/logs/reconciler.log
tail_pid=''

# Stops the reconciler first (it ends or cancels in-flight operations through the runner), then
# the runner. Runs on Ctrl-C, SIGTERM and any exit.
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  local rc=$?
  trap '' INT TERM
  stop_recorded "$RUN_DIR/pids/reconciler.pid" reconciler 45
  stop_recorded "$RUN_DIR/pids/helm-runner.pid" helm-runner 40
  rm -f "$SOCKET"
  if [[ -n $tail_pid ]]; then
    sleep 0.3 # let the last lines reach the terminal
    kill "$tail_pid" 2>/dev/null || true
  fi
  if [[ $keep_dir == 0 && $rc == 0 ]]; then
    rm -rf "$RUN_DIR"
  else
    log "logs: $RUN_DIR/logs"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# ---- start ----------------------------------------------------------------------------------------
log "cluster: $("$KUBECTL" --kubeconfig "$KUBECONFIG" config view --minify -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null || true) (KUBECONFIG=$KUBECONFIG)"
if out=$(apply_crd "$KUBECTL" --kubeconfig "$KUBECONFIG" 2>&1); then
  log "CRD helmreleases.helm.project-planton.org established"
else
  # A least-privilege kubeconfig (the controller's own ServiceAccount) may not write CRDs.
  log "could not apply the CRD; continuing, it must be installed already: ${out//$'\n'/ }"
fi

touch "$RUNNER_LOG" "$RECONCILER_LOG"
tail -q -n 0 -F "$RUNNER_LOG" "$RECONCILER_LOG" 2>/dev/null &
tail_pid=$!

start_runner "$RUN_DIR" "$SOCKET" "$RUNNER_LOG" "$insecure" "$KUBECONFIG"
wait_socket "$RUN_DIR/pids/helm-runner.pid" "$SOCKET" "$RUNNER_LOG"
wait_runner_metrics "$RUN_DIR" "$RUNNER_LOG"
ensure_api_tls "$RUN_DIR"
start_reconciler "$RUN_DIR" "$SOCKET" "$RECONCILER_LOG" "$insecure" "$KUBECONFIG"
wait_reconciler "$RUN_DIR" "$RECONCILER_LOG"
write_api_env "$RUN_DIR" "$RECONCILER_LOG"
log "running: metrics http://$(cat "$RUN_DIR/http-addr")/metrics, gRPC API $(sed -n 's/^PLANTON_API_ADDR=//p' "$RUN_DIR/api.env") ($RUN_DIR/api.env), plain HTTP repositories $( ((insecure)) && echo allowed || echo refused); Ctrl-C stops"

# Until Ctrl-C (the trap), or until one of the two exits on its own.
while alive "$RUN_DIR/pids/reconciler.pid" && alive "$RUN_DIR/pids/helm-runner.pid"; do
  sleep 1 &
  wait $! || true
done
for p in reconciler helm-runner; do
  alive "$RUN_DIR/pids/$p.pid" || log "$p exited on its own"
done
exit 1
