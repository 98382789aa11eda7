#!/usr/bin/env bash
# Installs the Debian packages the tests need besides the local control plane:
#   prometheus     the server and promtool (deploy/monitoring rules, test/monitoring/)
#   gnuplot-nox    plots the dashboard's key panels to a PNG (test/monitoring/)
#   buildah, skopeo, mmdebstrap, umoci, runc, jq, binutils
#                  make images and running them with runc (deploy/images/, test/deploy/images.test.ts)
#   containerd, containernetworking-plugins, socat, busybox-static
#                  the real nodes (test/cluster/real-node.sh, PLANTON_REAL_NODE=1): the container
#                  runtime, pod networks inside the nodes' own network namespaces, the loopback
#                  forwarders into them, and the busybox of the small test image
# Idempotent: exits at once when every command is there; runs `apt-get update` only when the
# package lists do not know a package yet (or name versions the archive no longer has). Never
# starts a Debian service: a policy-rc.d that refuses every start is in place during the install
# (the tests run their own Prometheus on loopback). Needs root (as here and in CI).
set -euo pipefail

# command:package
wanted=(promtool:prometheus prometheus:prometheus gnuplot:gnuplot-nox buildah:buildah skopeo:skopeo
  mmdebstrap:mmdebstrap umoci:umoci runc:runc jq:jq strip:binutils containerd:containerd
  /usr/lib/cni/bridge:containernetworking-plugins socat:socat /bin/busybox:busybox-static)

missing=()
for w in "${wanted[@]}"; do
  command -v "${w%%:*}" >/dev/null || missing+=("${w#*:}")
done
if ((${#missing[@]} == 0)); then exit 0; fi
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) != 0 ]]; then
  echo "test/cluster/debian-tools.sh: needs root to install ${packages[*]} (or install them yourself)" >&2
  exit 1
fi

known() {
  local p
  for p in "${packages[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || return 1
  done
}
export DEBIAN_FRONTEND=noninteractive
if ! known; then apt-get update -qq; fi

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before starting a service;
# exit code 101 means "not allowed". An existing policy is left as it is.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=1
fi
remove_policy() { if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi; }
trap remove_policy EXIT

install_packages() { apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
# Lists older than the archive name versions it no longer has: refresh them once and retry.
install_packages || { apt-get update -qq && install_packages; }

for w in "${wanted[@]}"; do
  command -v "${w%%:*}" >/dev/null || { echo "test/cluster/debian-tools.sh: ${w%%:*} missing after installing ${w#*:}" >&2; exit 1; }
done
