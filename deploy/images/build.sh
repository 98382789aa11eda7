#!/usr/bin/env bash
# `make images`: builds the Dockerfile's two targets with buildah on the local base images
# (bases.sh), then pushes them to the local OCI registry the cluster runs, as repositories
# helm-runner and helm-reconciler (tag: the package version, or $IMAGE_TAG). Layers are cached by
# buildah (--layers), so an unchanged tree rebuilds nothing. PUSH=0 builds only.
#
# Usage: deploy/images/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need buildah skopeo go npm
BUILD_CA_BUNDLE=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

mapfile -t base_args < <("$IMAGES_SRC/bases.sh")
[[ ${#base_args[@]} -eq 3 ]] || die "bases.sh did not name three base images"

GO_MODULE_CACHE=$(go env GOMODCACHE)
NPM_CACHE=$(npm config get cache)
mkdir -p "$GO_MODULE_CACHE" "$NPM_CACHE"

build() {
  local target=$1 image=$2 start=$SECONDS logf=$PLANTON_CACHE_DIR/logs/images-$1.log
  mkdir -p "$(dirname "$logf")"
  log "building $image (target $target; log: $logf)"
  # The build stages reach the package registries through the machine's network, trusting the
  # machine's CA bundle: mounted in RUN steps only, so no image carries it.
  # The machine's Go module and npm caches too: what `go mod download` and `npm ci` fetch was
  # mostly fetched already for the tests (a cold first build took 5.5 min for the runner without).
  if ! buildah bud --layers --pull=never --network host --target "$target" \
      --volume "$BUILD_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
      --volume "$GO_MODULE_CACHE:/go/pkg/mod" --volume "$NPM_CACHE:/root/.npm" \
      "${base_args[@]}" --tag "$image" --file "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    die "build of $target failed; log: $logf"
  fi
  log "built $image in $((SECONDS - start)) s, $(image_size "$image")"
}

# image_size IMAGE: the uncompressed size of its layers, in MB.
image_size() {
  buildah inspect --type image --format '{{.FromImageID}}' "$1" >/dev/null
  buildah images --format '{{.Size}}' "$1" | head -n1
}

build helm-runner "$RUNNER_IMAGE"
build reconciler "$RECONCILER_IMAGE"

if [[ ${PUSH:-1} == 1 ]]; then
  reg=$(registry)
  verify=$(tls_verify "$reg")
  for pair in "$RUNNER_IMAGE=helm-runner" "$RECONCILER_IMAGE=helm-reconciler"; do
    dest=docker://$reg/${pair#*=}:$IMAGE_TAG
    skopeo copy --quiet --dest-tls-verify="$verify" "containers-storage:${pair%%=*}" "$dest" >&2
    log "pushed $dest"
  done
fi
