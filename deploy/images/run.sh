#!/usr/bin/env bash
# Runs both images for real with runc against the local control plane, the way the Deployment
# runs them on a node: pulled from the local registry and unpacked (umoci), user 65532, read-only
# root, no capabilities, the shared socket volume (a host directory bind-mounted into both), the
# Deployment's arguments and environment (read from deploy/controller/deployment.yaml), host
# networking, in-cluster configuration with the tokens of the controller's two identities (their
# ServiceAccounts in a namespace of this run, bound to the RBAC of deploy/controller). Then waits
# for the reconciler's /readyz and for a HelmRelease of the `plain` chart from the local HTTP
# chart repository to become Ready. Removes everything it created (containers, namespace, RBAC,
# bundles) on exit, whatever happened. Every wait is bounded.
#
# Differences from the Deployment, for a shared local cluster: both containers also get
# --allow-insecure-http (the local chart repository is plain HTTP); the reconciler
# --watch-namespace (its own namespace only, not other tests' releases); the HTTP listeners
# (reconciler :8080, runner :8081) bind free loopback ports (host networking on a shared machine).
#
# Usage: deploy/images/run.sh   (after deploy/images/build.sh; the cluster must be up)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need runc umoci skopeo jq curl
[[ $(id -u) == 0 ]] || die "runc needs root here"

env_file=$REPO_ROOT/.cluster/env
[[ -f $env_file ]] || die "$env_file missing: make cluster-up first"
cluster() { sed -n "s/^$1=//p" "$env_file"; }
KUBECTL=$(cluster PLANTON_KUBECTL)
export KUBECONFIG=$(cluster KUBECONFIG)
APISERVER=$(cluster PLANTON_APISERVER)
HTTP_REPO=$(cluster PLANTON_HTTP_REPO)
REG=$(registry)
k() { "$KUBECTL" --request-timeout=30s "$@"; }

RUN_ID=planton-images-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS=$RUN_ID
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$RUN_ID.XXXX")
CONTAINERS=()

cleanup() {
  local c i
  for c in "${CONTAINERS[@]}"; do
    runc kill "$c" TERM >/dev/null 2>&1 || true
    for ((i = 0; i < 40; i++)); do
      [[ $(runc state "$c" 2>/dev/null | jq -r .status) == running ]] || break
      sleep 0.5
    done
    runc delete --force "$c" >/dev/null 2>&1 || true
  done
  wait 2>/dev/null || true
  k delete helmreleases.helm.project-planton.org --all -n "$NS" --wait=false >/dev/null 2>&1 || true
  k patch helmreleases.helm.project-planton.org web -n "$NS" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
  k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  k delete clusterrolebinding,clusterrole -l "planton-images=$RUN_ID" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# A signal ends the script through exit, so the EXIT trap still cleans up.
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
METRICS_PORT=$(free_port)

# The two identities: ServiceAccounts in $NS with deploy/controller's RBAC, renamed for this run.
log "identities in namespace $NS"
k create namespace "$NS" >/dev/null
k create serviceaccount planton-helm-runner -n "$NS" >/dev/null
k create serviceaccount planton-helm-reconciler -n "$NS" >/dev/null
k create --dry-run=client -o json -f "$REPO_ROOT/deploy/controller/rbac.yaml" \
    -f "$REPO_ROOT/deploy/controller/runner-cluster-admin.yaml" |
  jq -s --arg id "$RUN_ID" --arg ns "$NS" '{apiVersion: "v1", kind: "List", items: map(
      .metadata.labels["planton-images"] = $id
      | if (.kind | startswith("Cluster")) then .metadata.name = $id + "-" + .metadata.name else .metadata.namespace = $ns end
      | if .roleRef and .roleRef.kind == "ClusterRole" and .roleRef.name != "cluster-admin" then .roleRef.name = $id + "-" + .roleRef.name else . end
      | if .subjects then .subjects |= map(.namespace = $ns) else . end)}' |
  k apply -f - >/dev/null

# identity DIR SA: the layout in-cluster configuration reads (token, ca.crt, namespace).
identity() {
  local dir=$WORK/$1 i
  mkdir -p "$dir"
  k create token "$2" -n "$NS" --duration 1h >"$dir/token"
  for ((i = 0; i < 60; i++)); do
    k get configmap kube-root-ca.crt -n "$NS" -o jsonpath='{.data.ca\.crt}' >"$dir/ca.crt" 2>/dev/null && [[ -s $dir/ca.crt ]] && break
    sleep 0.5
  done
  [[ -s $dir/ca.crt ]] || die "kube-root-ca.crt never appeared in $NS"
  printf '%s' "$NS" >"$dir/namespace"
  chmod -R a+rX "$dir"
}
identity runner-identity planton-helm-runner
identity reconciler-identity planton-helm-reconciler

# The pod's volumes: emptyDirs owned by the pod's fsGroup.
for d in socket chart-cache runner-tmp reconciler-tmp; do mkdir -p "$WORK/$d"; done
chown 65532:65532 "$WORK"/{socket,chart-cache,runner-tmp,reconciler-tmp}

DEPLOYMENT=$(k create --dry-run=client -o json -f "$REPO_ROOT/deploy/controller/deployment.yaml")
host=${APISERVER#https://}
api_env=$(jq -nc --arg h "${host%:*}" --arg p "${host##*:}" '["KUBERNETES_SERVICE_HOST=" + $h, "KUBERNETES_SERVICE_PORT=" + $p]')

# bundle NAME REPOSITORY ARGS_JSON ENV_JSON MOUNTS_JSON MEMORY_BYTES: a runc bundle of the image
# as the registry serves it, configured as the Deployment's container NAME.
bundle() {
  local name=$1 repo=$2 dir=$WORK/$1
  skopeo copy --quiet --src-tls-verify="$(tls_verify "$REG")" "docker://$REG/$repo:$IMAGE_TAG" "oci:$WORK/oci:$name"
  umoci unpack --image "$WORK/oci:$name" "$dir" >/dev/null
  jq --argjson args "$3" --argjson env "$4" --argjson mounts "$5" --argjson mem "$6" '
      .process.terminal = false
    | .process.user = {uid: 65532, gid: 65532, additionalGids: [65532]}
    | .process.args += $args
    | .process.env += $env
    | .process.noNewPrivileges = true
    | .process.capabilities = {bounding: [], effective: [], inheritable: [], permitted: [], ambient: []}
    | .root.readonly = true
    | .linux.namespaces |= map(select(.type != "network"))
    | .linux.resources.memory = {limit: $mem}
    | .mounts += ($mounts | map({destination: .[1], type: "bind", source: .[0], options: (["rbind", "nosuid", "nodev"] + (if .[2] then ["ro"] else ["rw"] end))}))
    ' "$dir/config.json" >"$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
}

runner=$(jq -c '.spec.template.spec.initContainers[] | select(.name == "helm-runner")' <<<"$DEPLOYMENT")
reconciler=$(jq -c '.spec.template.spec.containers[] | select(.name == "reconciler")' <<<"$DEPLOYMENT")
runner_args=$(jq -c --arg m "127.0.0.1:$METRICS_PORT" '.args + ["--allow-insecure-http", "--metrics-addr=" + $m]' <<<"$runner")
reconciler_args=$(jq -c --arg h "127.0.0.1:$HTTP_PORT" --arg ns "$NS" '.args + ["--allow-insecure-http", "--watch-namespace=" + $ns, "--http-addr=" + $h]' <<<"$reconciler")
# Literal values as given; the downward API's fieldRefs as the kubelet resolves them.
pod_env() {
  jq -c --arg ns "$NS" --arg pod "$RUN_ID-0" --argjson api "$api_env" '[.env[]? |
      .name + "=" + (.value // (if .valueFrom.fieldRef.fieldPath == "metadata.namespace" then $ns
                                elif .valueFrom.fieldRef.fieldPath == "metadata.name" then $pod
                                else error("unsupported env source of " + .name) end))] + $api' <<<"$1"
}
memory() { jq -r '.resources.limits.memory' <<<"$1" | sed 's/Gi$/*1073741824/; s/Mi$/*1048576/' | bc; }

log "unpacking $REG/helm-runner:$IMAGE_TAG and $REG/helm-reconciler:$IMAGE_TAG"
bundle helm-runner helm-runner "$runner_args" "$(pod_env "$runner")" "$(jq -nc --arg w "$WORK" '[
    [$w + "/socket", "/var/run/helm-runner"], [$w + "/chart-cache", "/var/cache/helm-runner"],
    [$w + "/runner-tmp", "/tmp"], [$w + "/runner-identity", "/var/run/secrets/kubernetes.io/serviceaccount", true]]')" "$(memory "$runner")"
bundle reconciler helm-reconciler "$reconciler_args" "$(pod_env "$reconciler")" "$(jq -nc --arg w "$WORK" '[
    [$w + "/socket", "/var/run/helm-runner"], [$w + "/reconciler-tmp", "/tmp"],
    [$w + "/reconciler-identity", "/var/run/secrets/kubernetes.io/serviceaccount", true]]')" "$(memory "$reconciler")"

# start NAME: runs the bundle in the background (runc in the foreground of a background job, so
# the container's output goes to its log and its exit ends the job).
start() {
  CONTAINERS+=("$RUN_ID-$1")
  runc run --bundle "$WORK/$1" "$RUN_ID-$1" </dev/null >"$WORK/$1.log" 2>&1 &
}
show_logs() {
  local c
  for c in helm-runner reconciler; do
    [[ -f $WORK/$c.log ]] && { log "--- $c log (last lines)"; tail -n 8 "$WORK/$c.log" | cut -c1-400 >&2; }
  done
}
# wait_for WHAT SECONDS CMD...: polls CMD every half second; dies (with both logs) at the deadline.
wait_for() {
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      show_logs
      die "timed out waiting for $what"
    fi
    sleep 0.5
  done
}

start_s=$SECONDS
start helm-runner
wait_for "the runner's socket" 30 test -S "$WORK/socket/runner.sock"
log "helm-runner serves $(stat -c '%A %u:%g' "$WORK/socket/runner.sock") $WORK/socket/runner.sock after $((SECONDS - start_s)) s"
start reconciler
wait_for "the reconciler's /readyz" 60 curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
log "reconciler ready (/readyz 200) after $((SECONDS - start_s)) s"

# What the containers run as, and that their root file systems are read-only.
for c in helm-runner reconciler; do
  pid=$(runc state "$RUN_ID-$c" | jq -r .pid)
  log "$c: pid $pid, $(grep -E '^(Uid|Gid):' "/proc/$pid/status" | tr -s '\t' ' ' | paste -sd' '), capabilities $(sed -n 's/^CapEff:\t//p' "/proc/$pid/status")"
done
if runc exec "$RUN_ID-reconciler" node -e "require('fs').writeFileSync('/probe', '')" 2>"$WORK/probe.err"; then
  die "the reconciler's root file system is writable"
fi
log "reconciler: writing to / fails: $(grep -o 'EROFS[^,]*' "$WORK/probe.err" | head -n1)"

cat <<YAML | k apply -n "$NS" -f - >/dev/null
apiVersion: helm.project-planton.org/v1
kind: HelmRelease
metadata:
  name: web
spec:
  repo: $HTTP_REPO
  name: plain
  version: 1.0.0
  values:
    message: from the images
  timeout: 60s
YAML
if ! k wait helmreleases.helm.project-planton.org/web -n "$NS" --for=condition=Ready --timeout=120s >/dev/null; then
  k get helmreleases.helm.project-planton.org/web -n "$NS" -o jsonpath='{.status.conditions}' >&2 || true
  show_logs
  die "HelmRelease web never became Ready"
fi
log "HelmRelease $NS/web Ready after $((SECONDS - start_s)) s: $(k get helmreleases.helm.project-planton.org/web -n "$NS" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}')"
log "ConfigMap web-plain: message=$(k get configmap web-plain -n "$NS" -o jsonpath='{.data.message}')"
echo "ok $RUN_ID"
