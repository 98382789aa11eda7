#!/usr/bin/env bash
# Builds the two small images the real nodes need and pushes them to the local OCI registry:
#   pause:3.10.1    the pod sandbox image containerd starts for every pod: Kubernetes' own
#                   pause.c (from the k8s.io/kubernetes module the kubelet is built from),
#                   compiled static here with gcc
#   busybox:1.35    Debian's busybox-static with its applets linked, for test charts whose hook
#                   Jobs and chart tests run real containers (test/charts/*, image value)
# Both are a single layer on scratch, built with buildah, owned by 65532 where it matters.
# Idempotent: an image already in the registry is not rebuilt.
#
# Usage: test/cluster/node-images.sh REGISTRY(host:port)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

registry=${1:?usage: node-images.sh REGISTRY}
PAUSE_IMAGE=$registry/pause:3.10.1
BUSYBOX_IMAGE=$registry/busybox:1.35

in_registry() { curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$registry/v2/$1/manifests/$2"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# push IMAGE DIR CMD...: a one-layer image of DIR's contents with CMD as its entrypoint.
push() {
  local image=$1 dir=$2 ctr
  shift 2
  ctr=$(buildah from --quiet scratch)
  buildah copy --quiet "$ctr" "$dir" / >/dev/null
  buildah config --entrypoint "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")" \
    --user 65532:65532 --os linux --arch amd64 "$ctr"
  buildah commit --quiet --format oci "$ctr" "$image" >/dev/null
  buildah rm "$ctr" >/dev/null
  buildah push --quiet --tls-verify=false "$image" "docker://$image"
  buildah rmi "$image" >/dev/null 2>&1 || true
  log "pushed $image"
}

if ! in_registry pause 3.10.1; then
  src=$(cd "$CLUSTER_SRC/tools/kubelet" && go mod download -json k8s.io/kubernetes |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$work/pause"
  gcc -Os -static -DVERSION=v3.10.1-planton -o "$work/pause/pause" "$src/build/pause/linux/pause.c"
  strip "$work/pause/pause"
  push "$PAUSE_IMAGE" "$work/pause" /pause
fi

if ! in_registry busybox 1.35; then
  bb=/bin/busybox
  [[ -x $bb ]] || die "$bb missing: test/cluster/debian-tools.sh installs busybox-static"
  if readelf -l "$bb" | grep -q 'Requesting program interpreter'; then
    die "$bb is not static (Debian's busybox package, not busybox-static, is installed)"
  fi
  mkdir -p "$work/busybox/bin" "$work/busybox/tmp"
  cp "$bb" "$work/busybox/bin/busybox"
  for applet in $("$bb" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$work/busybox/bin/$applet"
  done
  chmod 1777 "$work/busybox/tmp"
  push "$BUSYBOX_IMAGE" "$work/busybox" /bin/sh
fi
