# Shared settings for the local control plane scripts (sourced, not run).
# Versions live here and in the wrapper modules under test/cluster/tools/.

set -euo pipefail

CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_SRC/../.." && pwd)

# Built binaries are cached by component and a hash of its wrapper module, outside the work tree,
# so that a fresh clone on the same machine (which is what CI is) reuses them.
PLANTON_CACHE_DIR=${PLANTON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/planton-helm}

# Runtime state of one cluster: kubeconfig, certificates, data, logs, pids.
CLUSTER_DIR=${CLUSTER_DIR:-$REPO_ROOT/.cluster}

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# tool_dir NAME: the cache directory for the binaries of test/cluster/tools/NAME.
tool_dir() {
  local name=$1 src=$CLUSTER_SRC/tools/$1 sum
  sum=$(cat "$src/go.mod" "$src/build.env" 2>/dev/null | sha256sum | cut -c1-12)
  printf '%s/bin/%s-%s' "$PLANTON_CACHE_DIR" "$name" "$sum"
}

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(etcd registry registry-auth http-repo kube-apiserver kube-controller-manager kube-scheduler kwok)

# running NAME: true when the pid recorded for NAME is alive and still runs the binary recorded
# with it (so a recycled pid is never mistaken for ours).
running() {
  local pidf=$CLUSTER_DIR/pids/$1.pid pid exe
  [[ -f $pidf ]] || return 1
  read -r pid exe <"$pidf"
  [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]]
}

# ---- process helpers (run from $CLUSTER_DIR) ------------------------------------------------------
# start NAME BINARY ARGS...: start in its own session, log to logs/NAME.log, record the pid.
start() {
  local name=$1 bin=$2
  shift 2
  if running "$name"; then return 0; fi
  log "starting $name"
  setsid "$bin" "$@" >>"logs/$name.log" 2>&1 </dev/null &
  echo "$! $(readlink -f "$bin")" >"pids/$name.pid"
}

# wait_for NAME SECONDS COMMAND...: poll COMMAND until it succeeds; fail naming NAME and its log.
wait_for() {
  local name=$1 limit=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 15 "logs/$name.log" >&2 || true
      die "$name exited; log: $CLUSTER_DIR/logs/$name.log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 15 "logs/$name.log" >&2 || true
      die "$name not ready after ${limit}s; log: $CLUSTER_DIR/logs/$name.log"
    fi
    sleep 0.2
  done
}

# terminate PID NAME SECONDS: SIGTERM, wait up to SECONDS for the process to end, then SIGKILL.
terminate() {
  local pid=$1 name=$2 limit=$3 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    # A zombie (exited, not yet reaped) has no exe link: it has stopped.
    [[ -e /proc/$pid/exe ]] || break
    sleep 0.1
  done
  if [[ -e /proc/$pid/exe ]]; then
    log "$name did not stop within $limit s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "stopped $name"
}

# stop NAME: terminate the process recorded for NAME (10 s), forget its pid file.
stop() {
  local name=$1 pidf=pids/$1.pid pid _
  [[ -f $pidf ]] || return 0
  read -r pid _ <"$pidf"
  if running "$name"; then terminate "$pid" "$name" 10; fi
  rm -f "$pidf"
}
