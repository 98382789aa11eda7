#!/usr/bin/env bash
# Stops exactly the processes up.sh started (pid files whose process still runs the recorded
# binary), newest first, then removes the cluster's state so the next up.sh starts clean.
# Logs stay in .cluster/logs/. Safe to run when nothing is running.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d $CLUSTER_DIR/pids ]] || { log "nothing to stop"; exit 0; }
cd "$CLUSTER_DIR"

stop() {
  local name=$1 pidf=pids/$1.pid pid exe i
  [[ -f $pidf ]] || return 0
  read -r pid exe <"$pidf"
  if running "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      # A zombie (exited, not yet reaped) has no exe link: it has stopped.
      [[ -e /proc/$pid/exe ]] || break
      sleep 0.1
    done
    if [[ -e /proc/$pid/exe ]]; then
      log "$name did not stop within 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name"
  fi
  rm -f "$pidf"
}

# The real node first: its pods' processes, mounts, cgroups and network namespace.
"$CLUSTER_SRC/real-node.sh" down

for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  stop "${COMPONENTS[i]}"
done
rm -rf nodes etcd registry registry-auth charts-http helm nodes.yaml registry.yml registry-auth.yml env ports pids pki kubeconfig
