#!/usr/bin/env bash
# Produces the Dockerfile's three base images locally, from Debian's packages (mmdebstrap) and
# the pinned toolchains (Go from the Go module proxy, Node and npm from npm), into buildah's
# storage as localhost/planton-base/NAME:KEY, and prints the build arguments that select them:
#   GO_IMAGE          Debian bookworm (minbase, ca-certificates) + Go     (build stage)
#   NODE_BUILD_IMAGE  Debian bookworm (minbase, ca-certificates) + Node + npm (build stage)
#   NODE_IMAGE        glibc and libstdc++ only (extracted, no shell) + Node (the reconciler's base)
# KEY is a hash of what the image contains (recipe, Debian sources, toolchain versions, the Node
# binary). Each image is also kept as an OCI archive under $PLANTON_CACHE_DIR/images/base, so a
# fresh clone, or a machine whose buildah storage was wiped, loads it instead of rebuilding.
#
# Usage: deploy/images/bases.sh   (prints --build-arg NAME=IMAGE lines)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need buildah skopeo mmdebstrap strip npm go

NODE_BIN=$REPO_ROOT/node_modules/node/bin/node
[[ -x $NODE_BIN ]] || die "$NODE_BIN missing: make deps first (npm ci installs the pinned Node)"
[[ $("$NODE_BIN" --version) == "v$NODE_VERSION" ]] || die "$NODE_BIN is not Node $NODE_VERSION: make deps"
ARCH=$(go env GOARCH)

RECIPE=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)
BUILD_PACKAGES=ca-certificates
RUNTIME_PACKAGES=libc6,libgcc-s1,libstdc++6
key() { printf '%s\n' "$RECIPE" "$DEBIAN_SUITE" "$ARCH" "$(cat "$DEBIAN_SOURCES")" "$@" | sha256sum | cut -c1-16; }

NODE_SUM=$(sha256sum "$NODE_BIN" | cut -c1-64)
GO_KEY=$(key go "$BUILD_PACKAGES" "$GO_VERSION")
NODE_BUILD_KEY=$(key node-build "$BUILD_PACKAGES" "$NODE_SUM" "$NPM_VERSION")
NODE_KEY=$(key node "$RUNTIME_PACKAGES" "$NODE_SUM")

# rootfs VARIANT PACKAGES: a cached tarball of a Debian root file system; prints its path.
rootfs() {
  local variant=$1 packages=$2 out tmp
  out=$IMAGES_CACHE/rootfs/$DEBIAN_SUITE-$variant-$(key rootfs "$variant" "$packages").tar
  if [[ ! -f $out ]]; then
    mkdir -p "$(dirname "$out")" "$PLANTON_CACHE_DIR/logs"
    tmp=${out%.tar}.tmp$$.tar # mmdebstrap picks the output format by the name's extension
    log "mmdebstrap $DEBIAN_SUITE ($variant: $packages)"
    mmdebstrap --variant="$variant" --include="$packages" --architectures="$ARCH" \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      "$DEBIAN_SUITE" "$tmp" "$DEBIAN_SOURCES" >>"$PLANTON_CACHE_DIR/logs/images-mmdebstrap.log" 2>&1 \
      || { rm -f "$tmp"; die "mmdebstrap failed; log: $PLANTON_CACHE_DIR/logs/images-mmdebstrap.log"; }
    mv "$tmp" "$out"
  fi
  printf '%s' "$out"
}

# ensure NAME KEY FILL: localhost/planton-base/NAME:KEY in buildah's storage: already there, loaded
# from the cached archive, or built by FILL MOUNTPOINT CONTAINER on an empty image and archived.
ensure() {
  local name=$1 key=$2 fill=$3 ref archive ctr mnt
  ref=localhost/planton-base/$name:$key
  archive=$IMAGES_CACHE/base/$name-$key.oci.tar
  if buildah inspect --type image "$ref" >/dev/null 2>&1; then
    :
  elif [[ -f $archive ]]; then
    log "loading $ref from $archive"
    skopeo copy --quiet "oci-archive:$archive" "containers-storage:$ref" >&2
  else
    log "building base image $ref"
    ctr=$(buildah from scratch)
    # Runs in a command substitution: this trap removes the working container on any failure.
    trap 'buildah umount "$ctr" >/dev/null 2>&1; buildah rm "$ctr" >/dev/null 2>&1' EXIT
    mnt=$(buildah mount "$ctr")
    "$fill" "$mnt" "$ctr"
    buildah umount "$ctr" >/dev/null
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
    trap - EXIT
    mkdir -p "$(dirname "$archive")"
    rm -f "$archive.tmp"
    skopeo copy --quiet "containers-storage:$ref" "oci-archive:$archive.tmp" >&2
    mv "$archive.tmp" "$archive"
  fi
  printf '%s' "$ref"
}

fill_go() {
  local mnt=$1 ctr=$2 dir
  tar -C "$mnt" -xf "$(rootfs minbase "$BUILD_PACKAGES")"
  # The toolchain as the go command itself fetches it (GOTOOLCHAIN): a module of the Go proxy.
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json \
    "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$ARCH" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [[ -x $dir/bin/go ]] || [[ -f $dir/bin/go ]] || { log "no Go toolchain at '$dir'"; return 1; }
  mkdir -p "$mnt/usr/local/go"
  cp -a "$dir/." "$mnt/usr/local/go/"
  chmod -R u+w "$mnt/usr/local/go"
  chmod +x "$mnt/usr/local/go/bin/"* "$mnt/usr/local/go/pkg/tool/"*/*
  buildah config --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env GOPATH=/go --env GOTOOLCHAIN=local --workingdir /go "$ctr"
}

node_binary() {
  mkdir -p "$1/usr/local/bin"
  strip -o "$1/usr/local/bin/node" "$NODE_BIN"
}

fill_node_build() {
  local mnt=$1 ctr=$2 tmp
  tar -C "$mnt" -xf "$(rootfs minbase "$BUILD_PACKAGES")"
  node_binary "$mnt"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$mnt/usr/local/lib/node_modules/npm"
  tar -C "$mnt/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$tmp/npm-$NPM_VERSION.tgz"
  rm -rf "$tmp"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  # Node trusts the system bundle too (build.sh mounts the machine's over it in RUN steps).
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$ctr"
}

fill_node() {
  local mnt=$1 ctr=$2
  # Only the shared libraries Node links (no shell, no package manager): extracted, not installed.
  tar -C "$mnt" -xf "$(rootfs extract "$RUNTIME_PACKAGES")"
  rm -rf "$mnt/var/lib/dpkg" "$mnt/var/cache" "$mnt/var/log" "$mnt/usr/lib/$(uname -m)-linux-gnu/gconv"
  mkdir -p "$mnt/tmp" "$mnt/etc" && chmod 1777 "$mnt/tmp"
  node_binary "$mnt"
  buildah config --env PATH=/usr/local/bin:/usr/bin:/bin "$ctr"
}

printf -- '--build-arg=GO_IMAGE=%s\n' "$(ensure go "$GO_KEY" fill_go)"
printf -- '--build-arg=NODE_BUILD_IMAGE=%s\n' "$(ensure node-build "$NODE_BUILD_KEY" fill_node_build)"
printf -- '--build-arg=NODE_IMAGE=%s\n' "$(ensure node "$NODE_KEY" fill_node)"
