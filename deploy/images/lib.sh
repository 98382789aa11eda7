# Shared settings for the image scripts (sourced, not run).
# Base images are built from Debian's packages and the toolchains the project pins, and cached
# outside the work tree by a hash of what they contain, so a fresh clone on the same machine
# reuses them (as test/cluster/ does for the control plane's binaries).

set -euo pipefail
shopt -s inherit_errexit

IMAGES_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$IMAGES_SRC/../.." && pwd)
PLANTON_CACHE_DIR=${PLANTON_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/planton-helm}
IMAGES_CACHE=$PLANTON_CACHE_DIR/images

# The toolchains. Node is the version package.json pins (devDependency "node"); Go the 1.26
# release the build machines run; npm only runs in the build stage.
GO_VERSION=${GO_VERSION:-1.26.8}
NODE_VERSION=$(node -p "require('$REPO_ROOT/package.json').devDependencies.node")
NPM_VERSION=${NPM_VERSION:-11.19.1}
DEBIAN_SUITE=bookworm
# Debian's packages come from the machine's own apt sources.
DEBIAN_SOURCES=${DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}

# Image names and tag: the Deployment's repositories, the package's version.
IMAGE_TAG=${IMAGE_TAG:-$(node -p "require('$REPO_ROOT/package.json').version")}
RUNNER_IMAGE=localhost/planton/helm-runner:$IMAGE_TAG
RECONCILER_IMAGE=localhost/planton/helm-reconciler:$IMAGE_TAG

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

# need CMD...: fails naming the Debian package of the first missing command.
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || die "$c not found: test/cluster/debian-tools.sh installs it (buildah skopeo mmdebstrap umoci runc jq binutils)"
  done
}

# registry: the local OCI registry the cluster runs (host:port), from .cluster/env.
registry() {
  if [[ -n ${PLANTON_OCI_REGISTRY:-} ]]; then printf '%s' "$PLANTON_OCI_REGISTRY"; return; fi
  local env=$REPO_ROOT/.cluster/env
  [[ -f $env ]] || die "no local registry: $env missing (make cluster-up first)"
  sed -n 's/^PLANTON_OCI_REGISTRY=//p' "$env"
}

# tls_verify HOST:PORT: false for a loopback registry (plain HTTP), true for anything else.
tls_verify() {
  case ${1%:*} in
    127.*|localhost|\[::1\]) echo false ;;
    *) echo true ;;
  esac
}
