#!/usr/bin/env bash
# Builds the sandbox's ACME CA, Let's Encrypt's test CA `pebble`, from its Go module (the
# version go.mod pins) into a cache outside the work tree keyed by go.mod, go.sum and this
# recipe (~1 min cold on 2 cores, then cached), and links it into .tools/bin. Only the sandbox
# runs it: production hosts ask a real ACME CA (Let's Encrypt by default).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools_bin=${VOICEPOP_TOOLS_BIN:-$root/.tools/bin}
version=$(sed -n 's/^\tgithub.com\/letsencrypt\/pebble\/v2 \(v[0-9.]*\).*/\1/p' "$here/go.mod")
[ -n "$version" ] || { echo "acme-ca: no pebble version in $here/go.mod" >&2; exit 1; }

GOPROXY=$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g')
export GOPROXY GOFLAGS=-mod=mod CGO_ENABLED=0
build=(go build -trimpath -ldflags "-s -w")
key=$({ echo "${build[*]}"; cat "$here/go.mod" "$here/go.sum"; } | sha256sum | cut -c1-12)
cache=${VOICEPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicepop}/pebble/$version-$key

if [ ! -x "$cache/pebble" ]; then
  echo "pebble $version: building from its Go module into $cache"
  mkdir -p "$cache.partial"
  (cd "$here" && "${build[@]}" -o "$cache.partial/pebble" github.com/letsencrypt/pebble/v2/cmd/pebble)
  rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
mkdir -p "$tools_bin"
ln -sfn "$cache/pebble" "$tools_bin/pebble"
echo "pebble $version: $cache/pebble"
