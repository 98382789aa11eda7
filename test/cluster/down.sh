#!/usr/bin/env bash
# Stops exactly the processes up.sh started (pid files whose process still runs the recorded
# binary), newest first, then removes the cluster's state so the next up.sh starts clean.
# Logs stay in .cluster/logs/. Safe to run when nothing is running.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d $CLUSTER_DIR/pids ]] || { log "nothing to stop"; exit 0; }
cd "$CLUSTER_DIR"

# The real node first: its pods' processes, mounts, cgroups and network namespace.
"$CLUSTER_SRC/real-node.sh" down

for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  stop "${COMPONENTS[i]}"
done
rm -rf nodes etcd registry registry-auth charts-http helm nodes.yaml registry.yml registry-auth.yml env ports pids pki kubeconfig
