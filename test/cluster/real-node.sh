#!/usr/bin/env bash
# A node that really runs containers, next to the KWOK nodes: kubelet 1.34 (the newest that runs
# on cgroup v1, within the skew policy of the 1.36 control plane), Debian's containerd and runc,
# Debian's CNI plugins. Started by up.sh when PLANTON_REAL_NODE=1; the tests that need it set it.
#
# The node lives in a network namespace of its own (planton-<cluster>-node), so that nothing of
# it listens on or sends to any address of the machine but loopback:
#   * pods get their own network namespaces from the CNI bridge plugin inside the node's
#     namespace (10.251.0.0/24, gateway 10.251.0.1): no host networking, Pod Security
#     `restricted` holds, two replicas of one Deployment do not share ports;
#   * the node's namespace holds the address of the `kubernetes` Service (10.96.0.1) on its
#     loopback interface, so in-cluster configuration works unchanged;
#   * socat pairs joined by Unix sockets carry the API server, both registries and the HTTP
#     chart repository from the machine's loopback into the node's namespace, where they listen
#     on every address of that namespace (127.0.0.1 for the kubelet and containerd, 10.251.0.1
#     for pods). Nothing else crosses.
# The node is tainted planton.local/real-node=true:NoSchedule and labelled
# planton.local/real-node=true, so only pods that ask for it land there.
#
# Usage: test/cluster/real-node.sh up | down
# Writes: .cluster/nodes/real-node/ (configuration, containerd and kubelet state, pod logs),
# PLANTON_NODE_* lines in .cluster/env (up.sh), logs in .cluster/logs/real-node-*.log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE=real-node
NODE_DIR=$CLUSTER_DIR/nodes/$NODE
# Names the machine shares between clusters (network namespaces, cgroups) carry the cluster's id.
CLUSTER_ID=$(printf '%s' "$CLUSTER_DIR" | sha256sum | cut -c1-8)
NETNS=planton-$CLUSTER_ID-node
NETNS_PATH=/run/netns/$NETNS
CGROUP_ROOT=/planton-$CLUSTER_ID-node
POD_CIDR=10.251.0.0/24
NODE_GATEWAY=10.251.0.1
NODE_IP=10.250.0.2
SERVICE_IP=10.96.0.1
TAINT=planton.local/real-node

[[ -d $CLUSTER_DIR ]] || { [[ ${1:-} == down ]] && exit 0; die "no cluster in $CLUSTER_DIR: test/cluster/up.sh first"; }
cd "$CLUSTER_DIR"
mkdir -p logs pids
if [[ -f ports ]]; then
  # shellcheck source=/dev/null
  source ports
fi

# start_in NAME BINARY ARGS...: start() inside the node's network namespace. nsenter execs the
# binary in place, so the pid recorded is the binary's once the exec happened.
start_in() {
  local name=$1 bin=$2 i pid
  shift 2
  if running "$name"; then return 0; fi
  log "starting $name (in $NETNS)"
  setsid nsenter --net="$NETNS_PATH" -- "$bin" "$@" >>"logs/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid $(readlink -f "$bin")" >"pids/$name.pid"
  for ((i = 0; i < 50; i++)); do
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$bin")" ]] && return 0
    sleep 0.05
  done
}

# The forwarded endpoints: name, port on the machine's loopback, port in the node's namespace
# (the ports are empty when the cluster's ports file is gone; down() needs the names only).
forwards() {
  echo "apiserver ${PORT_APISERVER:-} ${PORT_APISERVER:-}"
  echo "kubernetes ${PORT_APISERVER:-} 443"
  echo "registry ${PORT_REGISTRY:-} ${PORT_REGISTRY:-}"
  echo "registry-auth ${PORT_REGISTRY_AUTH:-} ${PORT_REGISTRY_AUTH:-}"
  echo "http-repo ${PORT_HTTP_REPO:-} ${PORT_HTTP_REPO:-}"
}
forward_names() { forwards | while read -r n _; do echo "$NODE-fwd-$n-host $NODE-fwd-$n-node"; done; }

kubectl() { "$(tool_dir kubernetes)/kubectl" --kubeconfig "$CLUSTER_DIR/kubeconfig" "$@"; }

down() {
  local name pidf pid cg sub d
  # The kubelet first (it would restart what we stop), then every process of the node's pods
  # (their cgroups), then the shims and containerd, then the forwarders.
  stop "$NODE-kubelet"
  for sub in /sys/fs/cgroup/*/; do
    [[ -d $sub$CGROUP_ROOT ]] || continue
    find "$sub$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $NODE_DIR/containerd.sock" 2>/dev/null || true
  stop "$NODE-containerd"
  for name in $(forward_names); do stop "$name"; done
  # Mounts the kubelet and containerd made (volumes, rootfs, shm), deepest first.
  if [[ -d $NODE_DIR ]]; then
    findmnt -rn -o TARGET | grep "^$NODE_DIR/" | sort -r | while read -r d; do umount -l "$d" 2>/dev/null || true; done
  fi
  for sub in /sys/fs/cgroup/*/; do
    [[ -d $sub$CGROUP_ROOT ]] || continue
    find "$sub$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  if [[ -e $NETNS_PATH ]]; then ip netns del "$NETNS" 2>/dev/null || true; fi
  if [[ -f kubeconfig ]] && running kube-apiserver; then
    kubectl delete node "$NODE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$NODE_DIR"
}

up() {
  local k8s_bin kubelet_bin
  [[ $(id -u) == 0 ]] || die "a real node needs root (network namespace, cgroups, mounts)"
  [[ -n ${PORT_APISERVER:-} ]] || die "no $CLUSTER_DIR/ports: test/cluster/up.sh first"
  for c in containerd runc socat nsenter ip /usr/lib/cni/bridge; do
    command -v "$c" >/dev/null || die "$c not found: test/cluster/debian-tools.sh installs it"
  done
  "$CLUSTER_SRC/build.sh" kubelet
  k8s_bin=$(tool_dir kubernetes)
  kubelet_bin=$(tool_dir kubelet)/kubelet
  mkdir -p "$NODE_DIR"/{containerd,kubelet,cni/net.d,cni/ipam,pod-logs,fwd} \
    "$NODE_DIR/containerd/certs.d"

  # ---- the node's network namespace ---------------------------------------------------------
  if [[ ! -e $NETNS_PATH ]]; then
    log "creating network namespace $NETNS"
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
    # The node's own address and the kubernetes Service's, on the namespace's loopback interface
    # (the kernel here has no dummy interfaces): both exist only inside this namespace.
    ip -n "$NETNS" addr add "$NODE_IP/32" dev lo
    ip -n "$NETNS" addr add "$SERVICE_IP/32" dev lo
  fi

  # ---- loopback forwarders ------------------------------------------------------------------
  local name host_port node_port sock
  while read -r name host_port node_port; do
    sock=$NODE_DIR/fwd/$name.sock
    start "$NODE-fwd-$name-host" "$(command -v socat)" \
      "UNIX-LISTEN:$sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$host_port"
    start_in "$NODE-fwd-$name-node" "$(command -v socat)" \
      "TCP-LISTEN:$node_port,fork,reuseaddr" "UNIX-CONNECT:$sock"
  done < <(forwards)

  # ---- pod network (inside the node's namespace) --------------------------------------------
  cat >"$NODE_DIR/cni/net.d/10-pods.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "planton-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true,
      "ipMasq": false, "hairpinMode": false,
      "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
               "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_GATEWAY"}]]}
    },
    {"type": "loopback"}
  ]
}
EOF

  # ---- containerd ---------------------------------------------------------------------------
  mkdir -p "$NODE_DIR/containerd/certs.d/127.0.0.1:$PORT_REGISTRY"
  cat >"$NODE_DIR/containerd/certs.d/127.0.0.1:$PORT_REGISTRY/hosts.toml" <<EOF
server = "http://127.0.0.1:$PORT_REGISTRY"
[host."http://127.0.0.1:$PORT_REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$NODE_DIR/containerd/config.toml" <<EOF
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$NODE_DIR/containerd.sock"
[ttrpc]
  address = "$NODE_DIR/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "127.0.0.1:$PORT_REGISTRY/pause:3.10.1"
  enable_unprivileged_ports = true
  # This machine withholds CAP_SYS_RESOURCE, without which no process may lower an OOM score
  # below its own (the kubelet asks -998 for sandboxes, -997 for Guaranteed pods): clamp them to
  # containerd's own score instead of failing every sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$NODE_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$NODE_DIR/containerd/certs.d"
EOF
  "$CLUSTER_SRC/node-images.sh" "127.0.0.1:$PORT_REGISTRY"
  start_in "$NODE-containerd" "$(command -v containerd)" --config "$NODE_DIR/containerd/config.toml"
  wait_for "$NODE-containerd" 30 test -S "$NODE_DIR/containerd.sock"

  # ---- the kubelet's identity: a ServiceAccount bound to the system:node role ----------------
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: planton-real-node, namespace: kube-system}
---
apiVersion: v1
kind: Secret
metadata:
  name: planton-real-node-token
  namespace: kube-system
  annotations: {kubernetes.io/service-account.name: planton-real-node}
type: kubernetes.io/service-account-token
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: planton-real-node}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node}
subjects: [{kind: ServiceAccount, name: planton-real-node, namespace: kube-system}]
EOF
  local token="" i
  for ((i = 0; i < 100; i++)); do
    token=$(kubectl -n kube-system get secret planton-real-node-token -o jsonpath='{.data.token}' | base64 -d)
    [[ -n $token ]] && break
    sleep 0.2
  done
  [[ -n $token ]] || die "the token controller did not fill planton-real-node-token"
  cat >"$NODE_DIR/kubelet/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: planton-local
  cluster: {server: "https://127.0.0.1:$PORT_APISERVER", certificate-authority: "$CLUSTER_DIR/pki/ca.crt"}
users:
- name: $NODE
  user: {token: "$token"}
contexts:
- name: planton-local
  context: {cluster: planton-local, user: $NODE}
current-context: planton-local
EOF
  chmod 600 "$NODE_DIR/kubelet/kubeconfig"

  # ---- cgroups: the kubelet's own root, so that two clusters' nodes never meet ----------------
  local sub
  for sub in /sys/fs/cgroup/*/; do
    [[ $sub == */unified/ ]] && continue
    mkdir -p "$sub$CGROUP_ROOT"
  done

  # ---- kubelet ------------------------------------------------------------------------------
  cat >"$NODE_DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$NODE_DIR/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
podLogsDir: $NODE_DIR/pod-logs
registerWithTaints:
- {key: $TAINT, value: "true", effect: NoSchedule}
maxPods: 30
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
nodeStatusReportFrequency: 10s
nodeStatusUpdateFrequency: 10s
resolvConf: /etc/resolv.conf
EOF
  start_in "$NODE-kubelet" "$kubelet_bin" --config="$NODE_DIR/kubelet/config.yaml" \
    --kubeconfig="$NODE_DIR/kubelet/kubeconfig" --root-dir="$NODE_DIR/kubelet/root" \
    --cert-dir="$NODE_DIR/kubelet/pki" --hostname-override="$NODE" --node-ip="$NODE_IP" \
    --node-labels="$TAINT=true" --v=1
  node_ready() {
    [[ $(kubectl get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
  }
  wait_for "$NODE-kubelet" 120 node_ready
  cat >"$NODE_DIR/env" <<EOF
NODE_NAME=$NODE
NODE_GATEWAY=$NODE_GATEWAY
NODE_POD_LOGS=$NODE_DIR/pod-logs
EOF
  log "real node $NODE Ready (kubelet $("$kubelet_bin" --version | cut -d' ' -f2), containerd $(containerd --version | cut -d' ' -f3))"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) die "usage: real-node.sh up|down" ;;
esac
