#!/usr/bin/env bash
# make down: stops what deploy/local/up.sh (make up, make demo) started, in order: the
# reconciler (SIGTERM; it finishes or cancels in-flight Helm operations), then helm-runner, then
# the local control plane (test/cluster/down.sh, which removes its state). Only recorded pids
# that still run the recorded executable are signalled. Logs stay. Safe to run twice.
#
#   KEEP_CLUSTER=1   leave the control plane running; the example HelmReleases are deleted first
#                    (while the controller still runs, so their releases are uninstalled).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2153 # KUBECONFIG comes from the cluster env (load_cluster_env)

if [[ ${KEEP_CLUSTER:-0} == 1 ]] && alive "$STATE_DIR/pids/reconciler.pid" && [[ -f $CLUSTER_DIR/env ]]; then
  load_cluster_env
  log "deleting the example HelmReleases in namespace $DEMO_NAMESPACE"
  "$PLANTON_KUBECTL" --kubeconfig "$KUBECONFIG" delete helmreleases -n "$DEMO_NAMESPACE" \
    --ignore-not-found --timeout=120s "${DEMO_RELEASES[@]}" >/dev/null ||
    log "the example HelmReleases were not deleted within 120 s"
fi

# The reconciler gives in-flight operations --shutdown-grace (30 s) before cancelling them.
stop_recorded "$STATE_DIR/pids/reconciler.pid" reconciler 45
stop_recorded "$STATE_DIR/pids/helm-runner.pid" helm-runner 40
rm -f "$STATE_DIR/http-addr" "$STATE_DIR/api.env" "$STATE_DIR/reconciler.log-offset" "$(socket_path "$STATE_DIR")" \
  "$STATE_DIR/runner-metrics-addr" "$STATE_DIR/helm-runner.log-offset"

if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
  log "the local control plane keeps running (KEEP_CLUSTER=1)"
else
  cluster_ran=0
  [[ ! -d $CLUSTER_DIR/pids ]] || cluster_ran=1
  "$REPO_ROOT/test/cluster/down.sh"
  rm -rf "$STATE_DIR/cache" "$STATE_DIR/pids" "$(dirname "$(socket_path "$STATE_DIR")")"
  if ((cluster_ran)); then log "stopped; logs kept in $STATE_DIR/logs and $CLUSTER_DIR/logs"; fi
fi
