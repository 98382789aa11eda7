#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, one wrapper module per
# component (test/cluster/tools/*), into the version cache. A component already in the cache is
# not rebuilt. Prints nothing but progress; exits non-zero naming the component that failed.
#
# Usage: test/cluster/build.sh [component...]   (default: all)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_tool() {
  local name=$1 src=$CLUSTER_SRC/tools/$1 out tmp logf
  out=$(tool_dir "$name")
  if [[ -f $out/.complete ]]; then return 0; fi
  BINARIES="" LDFLAGS="" VERSION=""
  post_build() { :; }
  # shellcheck source=/dev/null
  source "$src/build.env"
  tmp=$out.tmp.$$
  logf=$PLANTON_CACHE_DIR/logs/build-$name.log
  mkdir -p "$tmp" "$(dirname "$logf")"
  log "building $name $VERSION (log: $logf)"
  local start=$SECONDS pair
  for pair in $BINARIES; do
    if ! (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $LDFLAGS" \
        -o "$tmp/${pair%%=*}" "${pair#*=}") >>"$logf" 2>&1; then
      rm -rf "$tmp"
      tail -n 20 "$logf" >&2
      die "build of $name (${pair%%=*}) failed; log: $logf"
    fi
  done
  if ! (cd "$src" && post_build "$tmp") >>"$logf" 2>&1; then
    rm -rf "$tmp"
    die "post-build step of $name failed; log: $logf"
  fi
  echo "$VERSION" >"$tmp/.complete"
  rm -rf "$out" && mv "$tmp" "$out"
  log "built $name in $((SECONDS - start)) s -> $out"
}

components=("$@")
if [[ ${#components[@]} -eq 0 ]]; then
  components=(etcd kubernetes kwok helm registry)
fi
for c in "${components[@]}"; do
  [[ -d $CLUSTER_SRC/tools/$c ]] || die "unknown component $c"
  build_tool "$c"
done
