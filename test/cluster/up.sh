#!/usr/bin/env bash
# Starts the local control plane and chart repositories on loopback, then publishes every test
# chart to both repositories. Builds missing binaries first (test/cluster/build.sh).
#
#   etcd -> kube-apiserver (TLS, token authn, RBAC) -> kube-controller-manager, kube-scheduler,
#   KWOK (3 fake nodes that run pods) ; OCI registry (distribution) ; HTTP chart repository;
#   with PLANTON_REAL_NODE=1 also a node that really runs containers (real-node.sh).
#
# Idempotent: components already running (pid alive, same binary) are left alone.
# Writes: .cluster/kubeconfig (admin), .cluster/env (addresses, KEY=VALUE lines), logs in
# .cluster/logs/, pids in .cluster/pids/. On a failure it names the component and its log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$CLUSTER_SRC/build.sh"

K8S_BIN=$(tool_dir kubernetes)
ETCD_BIN=$(tool_dir etcd)
KWOK_BIN=$(tool_dir kwok)
HELM_BIN=$(tool_dir helm)
REGISTRY_BIN=$(tool_dir registry)
KUBECTL=$K8S_BIN/kubectl
HELM=$HELM_BIN/helm

mkdir -p "$CLUSTER_DIR"/{pki,logs,pids,etcd,registry,registry-auth,charts-http/private,helm}
cd "$CLUSTER_DIR"
start_time=$SECONDS

# ---- addresses: chosen once per cluster directory, then reused -------------------------------
if [[ ! -f ports ]] || ! grep -q '^PORT_REGISTRY_AUTH=' ports; then
  python3 - >ports <<'PY'
import socket
names = ["ETCD", "ETCD_PEER", "APISERVER", "KCM", "SCHEDULER", "KWOK", "REGISTRY", "REGISTRY_AUTH", "HTTP_REPO"]
socks = []
for n in names:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    print(f"PORT_{n}={s.getsockname()[1]}")
PY
fi
# shellcheck source=/dev/null
source ports

# ---- keys, certificates, tokens ---------------------------------------------------------------
if [[ ! -f pki/.complete ]]; then
  log "generating CA, serving certificate, service-account key and tokens"
  (
    cd pki
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=planton-local-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n' >san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile san.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    tok() { openssl rand -hex 24; }
    {
      echo "$(tok),planton-admin,uid-admin,\"system:masters\""
      echo "$(tok),system:kube-controller-manager,uid-kcm"
      echo "$(tok),system:kube-scheduler,uid-scheduler"
      echo "$(tok),kwok-controller,uid-kwok,\"system:masters\""
    } >tokens.csv
    chmod 600 ./*.key tokens.csv
    touch .complete
  )
fi
# Credentials of the password-protected repositories (tests prove wrong ones are refused).
if [[ ! -f pki/registry.htpasswd ]]; then
  echo "planton-$(openssl rand -hex 12)" >pki/repo-password
  python3 -W ignore -c 'import crypt, sys; print("planton:" + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    "$(cat pki/repo-password)" >pki/registry.htpasswd
  chmod 600 pki/repo-password pki/registry.htpasswd
fi

token_of() { grep ",$1," pki/tokens.csv | cut -d, -f1; }

# kubeconfig USER FILE: a kubeconfig for USER (token authentication, CA-verified TLS).
write_kubeconfig() {
  cat >"$2" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: planton-local
  cluster:
    server: https://127.0.0.1:$PORT_APISERVER
    certificate-authority: $CLUSTER_DIR/pki/ca.crt
users:
- name: $1
  user:
    token: $(token_of "$1")
contexts:
- name: planton-local
  context: {cluster: planton-local, user: $1, namespace: default}
current-context: planton-local
EOF
  chmod 600 "$2"
}
write_kubeconfig planton-admin kubeconfig
write_kubeconfig system:kube-controller-manager pki/kcm.kubeconfig
write_kubeconfig system:kube-scheduler pki/scheduler.kubeconfig
write_kubeconfig kwok-controller pki/kwok.kubeconfig

kubectl() { "$KUBECTL" --kubeconfig "$CLUSTER_DIR/kubeconfig" "$@"; }

# ---- etcd -------------------------------------------------------------------------------------
start etcd "$ETCD_BIN/etcd" --name=planton --data-dir="$CLUSTER_DIR/etcd" \
  --listen-client-urls="http://127.0.0.1:$PORT_ETCD" --advertise-client-urls="http://127.0.0.1:$PORT_ETCD" \
  --listen-peer-urls="http://127.0.0.1:$PORT_ETCD_PEER" --initial-advertise-peer-urls="http://127.0.0.1:$PORT_ETCD_PEER" \
  --initial-cluster="planton=http://127.0.0.1:$PORT_ETCD_PEER" --unsafe-no-fsync=true --log-level=warn

# ---- OCI registry and HTTP chart repository (independent of Kubernetes; start them early) ------
cat >registry.yml <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $CLUSTER_DIR/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT_REGISTRY
EOF
# A second registry that requires basic authentication (htpasswd, bcrypt).
sed -e "s|$CLUSTER_DIR/registry\$|$CLUSTER_DIR/registry-auth|" -e "s|:$PORT_REGISTRY\$|:$PORT_REGISTRY_AUTH|" \
  registry.yml >registry-auth.yml
printf 'auth:\n  htpasswd:\n    realm: planton-local\n    path: %s\n' "$CLUSTER_DIR/pki/registry.htpasswd" >>registry-auth.yml
OTEL_TRACES_EXPORTER=none start registry "$REGISTRY_BIN/registry" serve "$CLUSTER_DIR/registry.yml"
OTEL_TRACES_EXPORTER=none start registry-auth "$REGISTRY_BIN/registry" serve "$CLUSTER_DIR/registry-auth.yml"
REPO_USERNAME=planton
REPO_PASSWORD=$(cat pki/repo-password)
PLANTON_REPO_USERNAME=$REPO_USERNAME PLANTON_REPO_PASSWORD=$REPO_PASSWORD \
  start http-repo "$(python3 -c 'import sys; print(sys.executable)')" "$CLUSTER_SRC/http-repo.py" \
  "$PORT_HTTP_REPO" "$CLUSTER_DIR/charts-http"

wait_for etcd 30 curl -sf "http://127.0.0.1:$PORT_ETCD/health"

# ---- kube-apiserver ---------------------------------------------------------------------------
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$PORT_ETCD" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$PORT_APISERVER" \
  --tls-cert-file="$CLUSTER_DIR/pki/apiserver.crt" --tls-private-key-file="$CLUSTER_DIR/pki/apiserver.key" \
  --token-auth-file="$CLUSTER_DIR/pki/tokens.csv" --anonymous-auth=false \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-signing-key-file="$CLUSTER_DIR/pki/sa.key" \
  --service-account-key-file="$CLUSTER_DIR/pki/sa.pub" \
  --api-audiences=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
  --allow-privileged=true --cert-dir="$CLUSTER_DIR/pki/apiserver-generated"

readyz() { curl -sf --cacert "$CLUSTER_DIR/pki/ca.crt" -H "Authorization: Bearer $(token_of planton-admin)" \
  "https://127.0.0.1:$PORT_APISERVER/readyz"; }
wait_for kube-apiserver 90 readyz

# ---- controller-manager, scheduler, KWOK ------------------------------------------------------
start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$CLUSTER_DIR/pki/kcm.kubeconfig" --leader-elect=false --use-service-account-credentials=true \
  --bind-address=127.0.0.1 --secure-port="$PORT_KCM" \
  --service-account-private-key-file="$CLUSTER_DIR/pki/sa.key" --root-ca-file="$CLUSTER_DIR/pki/ca.crt" \
  --service-cluster-ip-range=10.96.0.0/16 --allocate-node-cidrs=false \
  --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --kube-api-qps=200 --kube-api-burst=400
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$CLUSTER_DIR/pki/scheduler.kubeconfig" --leader-elect=false \
  --bind-address=127.0.0.1 --secure-port="$PORT_SCHEDULER" --kube-api-qps=200 --kube-api-burst=400
start kwok "$KWOK_BIN/kwok" --kubeconfig="$CLUSTER_DIR/pki/kwok.kubeconfig" \
  --config="$KWOK_BIN/stages.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --server-address="127.0.0.1:$PORT_KWOK" --node-ip=127.0.0.1 --cidr=10.244.0.0/16 \
  --node-lease-duration-seconds=40 --v=WARN

# Three fake nodes with room for many pods. No NoSchedule taint: ordinary pods land on them.
for i in 0 1 2; do
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "500"}
  capacity: {cpu: "64", memory: 256Gi, pods: "500"}
---
EOF
done >nodes.yaml
wait_for kube-apiserver 30 kubectl apply -f nodes.yaml

nodes_ready() {
  [[ $(kubectl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True) == 3 ]]
}
wait_for kwok 60 nodes_ready
# The controller-manager creates default ServiceAccounts: pods cannot be admitted before that.
wait_for kube-controller-manager 60 kubectl get serviceaccount default -n default
hz() { curl -sfk "https://127.0.0.1:$1/healthz"; }
wait_for kube-scheduler 30 hz "$PORT_SCHEDULER"

# ---- publish the test charts ------------------------------------------------------------------
export HELM_CACHE_HOME=$CLUSTER_DIR/helm/cache HELM_CONFIG_HOME=$CLUSTER_DIR/helm/config \
  HELM_DATA_HOME=$CLUSTER_DIR/helm/data
wait_for registry 30 curl -sf "http://127.0.0.1:$PORT_REGISTRY/v2/"
wait_for registry-auth 30 curl -sf -u "$REPO_USERNAME:$REPO_PASSWORD" "http://127.0.0.1:$PORT_REGISTRY_AUTH/v2/"
wait_for http-repo 30 curl -sf "http://127.0.0.1:$PORT_HTTP_REPO/"
PLANTON_REPO_USERNAME=$REPO_USERNAME PLANTON_REPO_PASSWORD=$REPO_PASSWORD \
  "$CLUSTER_SRC/publish-charts.sh" "$HELM" "$CLUSTER_DIR/charts-http" \
  "http://127.0.0.1:$PORT_HTTP_REPO" "oci://127.0.0.1:$PORT_REGISTRY/charts" \
  "oci://127.0.0.1:$PORT_REGISTRY_AUTH/charts" \
  >>logs/publish-charts.log 2>&1 || {
  tail -n 20 logs/publish-charts.log >&2
  die "publishing test charts failed; log: $CLUSTER_DIR/logs/publish-charts.log"
}

cat >env <<EOF
KUBECONFIG=$CLUSTER_DIR/kubeconfig
PLANTON_KUBECTL=$KUBECTL
PLANTON_HELM=$HELM
PLANTON_HTTP_REPO=http://127.0.0.1:$PORT_HTTP_REPO
PLANTON_OCI_REPO=oci://127.0.0.1:$PORT_REGISTRY/charts
PLANTON_OCI_REGISTRY=127.0.0.1:$PORT_REGISTRY
PLANTON_HTTP_AUTH_REPO=http://127.0.0.1:$PORT_HTTP_REPO/private
PLANTON_OCI_AUTH_REPO=oci://127.0.0.1:$PORT_REGISTRY_AUTH/charts
PLANTON_REPO_USERNAME=$REPO_USERNAME
PLANTON_REPO_PASSWORD=$REPO_PASSWORD
PLANTON_APISERVER=https://127.0.0.1:$PORT_APISERVER
PLANTON_KUBE_VERSION=$("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')
HELM_CACHE_HOME=$HELM_CACHE_HOME
HELM_CONFIG_HOME=$HELM_CONFIG_HOME
HELM_DATA_HOME=$HELM_DATA_HOME
EOF
# ---- the real node (PLANTON_REAL_NODE=1) -----------------------------------------------------
if [[ ${PLANTON_REAL_NODE:-0} == 1 ]]; then
  "$CLUSTER_SRC/real-node.sh" up
  # shellcheck source=/dev/null
  source "$CLUSTER_DIR/nodes/real-node/env"
  cat >>env <<EOF
PLANTON_REAL_NODE=1
PLANTON_NODE_NAME=$NODE_NAME
PLANTON_NODE_POD_LOGS=$NODE_POD_LOGS
PLANTON_NODE_HTTP_REPO=http://$NODE_GATEWAY:$PORT_HTTP_REPO/node
PLANTON_NODE_OCI_REPO=oci://$NODE_GATEWAY:$PORT_REGISTRY/charts
PLANTON_NODE_BUSYBOX_IMAGE=127.0.0.1:$PORT_REGISTRY/busybox:1.35
EOF
fi

log "cluster up in $((SECONDS - start_time)) s: KUBECONFIG=$CLUSTER_DIR/kubeconfig (addresses in $CLUSTER_DIR/env)"
