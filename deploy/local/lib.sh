# shellcheck shell=bash disable=SC2034 # variables used by the scripts that source this file
# Shared settings and helpers of the local run scripts (sourced, not run): where the controller's
# state lives, how the helm-runner and the reconciler are started, recorded and stopped.
#
# Settings (environment):
#   CLUSTER_DIR          the local cluster's state (default .cluster/, see test/cluster/lib.sh)
#   PLANTON_STATE_DIR    runner + reconciler state of make up/demo (default $CLUSTER_DIR/controller)
#   HTTP_ADDR            reconciler /metrics, /healthz, /readyz (default 127.0.0.1:0: any free port)
#   RUNNER_METRICS_ADDR  helm-runner /metrics, /healthz (default 127.0.0.1:0: any free port); written
#                        to $PLANTON_STATE_DIR/runner-metrics-addr
#   API_ADDR             the public gRPC API, TLS (default 127.0.0.1:0: any free port); written
#                        with its CA to $PLANTON_STATE_DIR/api.env
#   LOG_LEVEL            debug|info|warn|error, both processes (default info)
#   LEADER_ELECT         true: take the Lease (default false: one controller, no Lease)
#   WATCH_NAMESPACE      only reconcile HelmReleases of this namespace (default: all)
#   CONTROLLER_ARGS      extra reconciler flags, split on spaces (see src/config.ts)
#   RUNNER_ARGS          extra helm-runner flags, split on spaces (bin/helm-runner --help)

# The cluster scripts' settings: CLUSTER_DIR, PLANTON_CACHE_DIR, REPO_ROOT, tool_dir.
# shellcheck source=../../test/cluster/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../test/cluster/lib.sh"

log() { printf '[planton] %s\n' "$*" >&2; }
die() { printf '[planton] ERROR: %s\n' "$*" >&2; exit 1; }

STATE_DIR=${PLANTON_STATE_DIR:-$CLUSTER_DIR/controller}
NODE=$REPO_ROOT/node_modules/node/bin/node # Node 24, pinned in package-lock.json
MAIN_JS=$REPO_ROOT/dist/src/main.js
RUNNER_BIN=$REPO_ROOT/bin/helm-runner
CRD=$REPO_ROOT/deploy/crds/helmreleases.helm.project-planton.org.yaml
EXAMPLES=$REPO_ROOT/deploy/examples
DEMO_NAMESPACE=planton-demo
# The examples make up/demo apply, and their names (metadata.name in each file).
DEMO_EXAMPLES=(https-repository.yaml oci-registry.yaml)
DEMO_RELEASES=(hello-https hello-oci)

HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:0}
RUNNER_METRICS_ADDR=${RUNNER_METRICS_ADDR:-127.0.0.1:0}
API_ADDR=${API_ADDR:-127.0.0.1:0}
LOG_LEVEL=${LOG_LEVEL:-info}
LEADER_ELECT=${LEADER_ELECT:-false}

require_built() {
  [[ -x $NODE ]] || die "Node 24 is missing from node_modules: run 'make deps'"
  [[ -f $MAIN_JS ]] || die "$MAIN_JS is missing: run 'npm run build' (make up/run/demo do)"
  [[ -x $RUNNER_BIN ]] || die "$RUNNER_BIN is missing: run 'make build-runner'"
}

# socket_path DIR: the runner socket under DIR, or under /tmp when DIR is too deep for a unix
# socket path (108 bytes on Linux).
socket_path() {
  local dir=$1/run
  if ((${#dir} > 90)); then
    dir=${TMPDIR:-/tmp}/planton-runner-$(printf '%s' "$1" | sha256sum | cut -c1-12)
  fi
  printf '%s/runner.sock' "$dir"
}

# ---- processes: recorded as "pid executable cmdline-marker" -----------------------------------

# alive PIDFILE: true when the recorded pid still runs the recorded executable with the marker
# in its command line (a recycled pid is never mistaken for ours). An executable rebuilt since
# (make build-runner) shows as "PATH (deleted)": still ours.
alive() {
  local pid exe marker cmdline running
  [[ -f $1 ]] || return 1
  read -r pid exe marker <"$1" || true
  [[ -n $pid ]] || return 1
  running=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ $running == "$exe" || $running == "$exe (deleted)" ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$marker"* ]]
}

# recorded_pid PIDFILE
recorded_pid() {
  local pid rest
  read -r pid rest <"$1"
  printf '%s' "$pid"
}

# spawn PIDFILE LOGFILE MARKER BINARY ARGS...: start in its own session (a Ctrl-C in the terminal
# reaches only the script, which stops the processes in order), append output to LOGFILE.
spawn() {
  local pidf=$1 logf=$2 marker=$3 bin=$4
  shift 4
  setsid "$bin" "$@" >>"$logf" 2>&1 </dev/null &
  echo "$! $(readlink -f "$bin") $marker" >"$pidf"
}

# stop_recorded PIDFILE NAME SECONDS: terminate (test/cluster/lib.sh) the process PIDFILE records
# while it still runs, then remove PIDFILE.
stop_recorded() {
  local pidf=$1 name=$2 limit=$3
  [[ -f $pidf ]] || return 0
  if alive "$pidf"; then terminate "$(recorded_pid "$pidf")" "$name" "$limit"; fi
  rm -f "$pidf"
}

# start_runner STATE SOCKET LOGFILE INSECURE(0|1) KUBECONFIG
start_runner() {
  local state=$1 sock=$2 logf=$3 insecure=$4 kubeconfig=$5 args
  mkdir -p "$(dirname "$sock")" "$state/cache"
  chmod 700 "$(dirname "$sock")"
  args=(--socket "$sock" --kubeconfig "$kubeconfig" --cache-dir "$state/cache" --log-level "$LOG_LEVEL"
    --metrics-addr "$RUNNER_METRICS_ADDR")
  [[ $insecure == 1 ]] && args+=(--allow-insecure-http)
  # shellcheck disable=SC2206 # RUNNER_ARGS is split on spaces on purpose
  args+=(${RUNNER_ARGS:-})
  # The log is appended to: remember where this run's lines start.
  stat -c %s "$logf" 2>/dev/null >"$state/helm-runner.log-offset" || echo 0 >"$state/helm-runner.log-offset"
  spawn "$state/pids/helm-runner.pid" "$logf" "$sock" "$RUNNER_BIN" "${args[@]}"
}

# wait_runner_metrics STATE LOGFILE: until the runner started by start_runner logs its metrics
# address; writes host:port to STATE/runner-metrics-addr.
wait_runner_metrics() {
  local state=$1 logf=$2 deadline=$((SECONDS + 30)) offset addr
  offset=$(cat "$state/helm-runner.log-offset")
  while :; do
    addr=$(tail -c +"$((offset + 1))" "$logf" | grep -o '"msg":"serving metrics","address":"[^"]*"' |
      sed 's/.*"address":"\([^"]*\)"/\1/' | tail -n 1 || true)
    addr=${addr/#0.0.0.0:/127.0.0.1:}
    addr=${addr/#\[::\]:/127.0.0.1:}
    if [[ -n $addr ]]; then
      echo "$addr" >"$state/runner-metrics-addr"
      return 0
    fi
    alive "$state/pids/helm-runner.pid" || { tail -n 20 "$logf" >&2; die "helm-runner exited; log: $logf"; }
    ((SECONDS < deadline)) || die "helm-runner did not log its metrics address within 30 s; log: $logf"
    sleep 0.1
  done
}

# wait_socket PIDFILE SOCKET LOGFILE: until the runner serves (its socket exists).
wait_socket() {
  local deadline=$((SECONDS + 30))
  until [[ -S $2 ]]; do
    alive "$1" || { tail -n 20 "$3" >&2; die "helm-runner exited; log: $3"; }
    ((SECONDS < deadline)) || die "helm-runner did not create $2 within 30 s; log: $3"
    sleep 0.1
  done
}

# ensure_api_tls STATE: a local CA and a serving certificate for 127.0.0.1 and localhost under
# STATE/api-tls (ca.crt, tls.crt, tls.key), made once and again when the certificate expires
# within a day. The reconciler re-reads tls.crt and tls.key when they change.
ensure_api_tls() {
  local dir=$1/api-tls
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [[ -f $dir/tls.crt && -f $dir/ca.crt ]] && openssl x509 -checkend 86400 -noout -in "$dir/tls.crt" >/dev/null 2>&1; then
    return 0
  fi
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj /CN=planton-local-api-ca 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout next.key -out next.csr -subj /CN=planton-helm-api 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
    openssl x509 -req -in next.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile san.ext -out next.crt 2>/dev/null
    mv next.key tls.key && mv next.crt tls.crt && rm -f next.csr
  )
}

# start_reconciler STATE SOCKET LOGFILE INSECURE(0|1) KUBECONFIG
start_reconciler() {
  local state=$1 sock=$2 logf=$3 insecure=$4 kubeconfig=$5 args
  # The same V8 heap flags as the image (Dockerfile): without them V8 sizes its heap from the
  # machine's memory and collects lazily (make bench: 247 MiB peak with 1000 releases, 147 MiB with).
  args=(--max-semi-space-size=2 --max-old-space-size=128 "$MAIN_JS" --kubeconfig "$kubeconfig" --runner-address "unix://$sock" --http-addr "$HTTP_ADDR"
    --log-level "$LOG_LEVEL" --leader-elect="$LEADER_ELECT"
    --api-addr "$API_ADDR" --api-tls-cert "$state/api-tls/tls.crt" --api-tls-key "$state/api-tls/tls.key")
  [[ $insecure == 1 ]] && args+=(--allow-insecure-http)
  [[ -n ${WATCH_NAMESPACE:-} ]] && args+=(--watch-namespace "$WATCH_NAMESPACE")
  # shellcheck disable=SC2206 # CONTROLLER_ARGS is split on spaces on purpose
  args+=(${CONTROLLER_ARGS:-})
  # The log is appended to: remember where this run's lines start.
  stat -c %s "$logf" 2>/dev/null >"$state/reconciler.log-offset" || echo 0 >"$state/reconciler.log-offset"
  spawn "$state/pids/reconciler.pid" "$logf" "$MAIN_JS" "$NODE" "${args[@]}"
}

# wait_reconciler STATE LOGFILE: until the reconciler logs its address and /readyz answers 200;
# writes host:port to STATE/http-addr.
wait_reconciler() {
  local state=$1 logf=$2 deadline=$((SECONDS + 60)) offset addr=''
  offset=$(cat "$state/reconciler.log-offset")
  while :; do
    alive "$state/pids/reconciler.pid" || { tail -n 20 "$logf" >&2; die "the reconciler exited; log: $logf"; }
    if [[ -z $addr ]]; then
      addr=$(tail -c +"$((offset + 1))" "$logf" |
        grep -o '"msg":"serving metrics and health".*"address":"[^"]*"' |
        sed 's/.*"address":"\([^"]*\)"/\1/' | tail -n 1 || true)
      addr=${addr/#0.0.0.0:/127.0.0.1:}
      addr=${addr/#:/127.0.0.1:}
    fi
    if [[ -n $addr ]] && curl -sf -o /dev/null "http://$addr/readyz"; then
      echo "$addr" >"$state/http-addr"
      return 0
    fi
    ((SECONDS < deadline)) || { tail -n 20 "$logf" >&2; die "the reconciler was not ready within 60 s; log: $logf"; }
    sleep 0.2
  done
}

# write_api_env STATE LOGFILE: the API's address (from this run's log) and CA, to STATE/api.env
# (PLANTON_API_ADDR=host:port, PLANTON_API_CA=path), which scripts, tests and the CLI read.
write_api_env() {
  local state=$1 logf=$2 offset addr
  offset=$(cat "$state/reconciler.log-offset")
  addr=$(tail -c +"$((offset + 1))" "$logf" | grep -o '"msg":"serving the gRPC API".*"address":"[^"]*"' |
    sed 's/.*"address":"\([^"]*\)"/\1/' | tail -n 1 || true)
  [[ -n $addr ]] || die "the reconciler did not log the gRPC API's address; log: $logf"
  addr=${addr/#0.0.0.0:/127.0.0.1:}
  printf 'PLANTON_API_ADDR=%s\nPLANTON_API_CA=%s\n' "$addr" "$state/api-tls/ca.crt" >"$state/api.env"
}

# apply_crd KUBECTL...: the CRD, server-side, then wait until the API serves it.
apply_crd() {
  "$@" apply --server-side --force-conflicts -f "$CRD" >/dev/null || return 1
  "$@" wait --for=condition=Established --timeout=60s crd/helmreleases.helm.project-planton.org >/dev/null
}

# local_examples: the demo's examples with the local repositories' URLs instead of the public
# ones (PLANTON_HTTP_REPO, PLANTON_OCI_REPO from the cluster's env).
local_examples() {
  local f out
  for f in "${DEMO_EXAMPLES[@]}"; do
    out=$(sed -e "s#https://charts.example.com/stable#$PLANTON_HTTP_REPO#" \
      -e "s#oci://registry.example.com/charts#$PLANTON_OCI_REPO#" "$EXAMPLES/$f")
    if grep -q 'example\.com' <<<"$out"; then die "$EXAMPLES/$f: a repository URL was not replaced"; fi
    printf -- '---\n%s\n' "$out"
  done
}

# load_cluster_env: KUBECONFIG, PLANTON_KUBECTL, PLANTON_HTTP_REPO, ... of the local cluster.
load_cluster_env() {
  [[ -f $CLUSTER_DIR/env ]] || die "no local cluster: $CLUSTER_DIR/env is missing"
  set -a
  # shellcheck source=/dev/null
  source "$CLUSTER_DIR/env"
  set +a
}
