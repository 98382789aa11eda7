#!/usr/bin/env bash
# Packages every test chart (test/charts/<chart>/<version>/) and publishes it to the HTTP chart
# repository (a directory with index.yaml behind a static server) and to the OCI registry.
# Re-running republishes the same versions; nothing else in the repositories changes.
#
# The plain chart is also published behind basic authentication (HTTP_DIR/private and
# OCI_AUTH_URL, credentials in PLANTON_REPO_USERNAME / PLANTON_REPO_PASSWORD).
#
# Usage: publish-charts.sh HELM HTTP_DIR HTTP_URL OCI_URL OCI_AUTH_URL
set -euo pipefail
helm=$1 http_dir=$2 http_url=$3 oci_url=$4 oci_auth_url=$5
charts=$(cd "$(dirname "${BASH_SOURCE[0]}")/../charts" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Work on a copy (dependency builds write charts/ and Chart.lock); file:// dependencies are
# relative paths inside test/charts, so the copy keeps the same layout.
cp -r "$charts" "$work/src"
for dir in "$work"/src/*/*/; do
  [[ -f $dir/Chart.yaml ]] || continue
  if grep -q '^dependencies:' "$dir/Chart.yaml"; then
    "$helm" dependency build "$dir" >/dev/null
  fi
  "$helm" package "$dir" -d "$work/packages" >/dev/null
done

cp "$work"/packages/*.tgz "$http_dir/"
"$helm" repo index "$http_dir" --url "$http_url"
for pkg in "$work"/packages/*.tgz; do
  "$helm" push "$pkg" "$oci_url" --plain-http
done
mkdir -p "$http_dir/private"
cp "$work"/packages/plain-*.tgz "$http_dir/private/"
"$helm" repo index "$http_dir/private" --url "$http_url/private"
for pkg in "$work"/packages/plain-*.tgz; do
  "$helm" push "$pkg" "$oci_auth_url" --plain-http \
    --username "$PLANTON_REPO_USERNAME" --password "$PLANTON_REPO_PASSWORD"
done
# The same charts with relative URLs in the index, for clients that reach the repository by
# another address than 127.0.0.1 (the real node's pods: PLANTON_NODE_HTTP_REPO).
mkdir -p "$http_dir/node"
cp "$work"/packages/*.tgz "$http_dir/node/"
"$helm" repo index "$http_dir/node"
echo "published $(ls "$work"/packages | wc -l) chart versions to $http_url and $oci_url"
