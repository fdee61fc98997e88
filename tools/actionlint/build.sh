#!/usr/bin/env bash
# Builds actionlint (the GitHub Actions workflow linter) from its Go module into a cache outside
# the work tree keyed by its version, and links it into .tools/bin. Seconds when cached.
set -euo pipefail

version=v1.7.12
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${VOICEPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicepop}/actionlint-$version
if [ ! -x "$cache/actionlint" ]; then
  echo "actionlint $version: building from its Go module"
  # the module proxy only, as for the engine: never a VCS fallback
  GOPROXY=$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g')
  rm -rf "$cache.partial" && mkdir -p "$cache.partial"
  GOPROXY=$GOPROXY CGO_ENABLED=0 GOBIN="$cache.partial" \
    go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$version"
  rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
mkdir -p "$root/.tools/bin"
ln -sfn "$cache/actionlint" "$root/.tools/bin/actionlint"
