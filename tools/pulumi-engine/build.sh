#!/usr/bin/env bash
# Builds the Pulumi engine from Go modules (no download site needed) into a cache outside the
# work tree, and links it into .tools/bin:
#   - pulumi                              the CLI (github.com/pulumi/pulumi/pkg/v3)
#   - pulumi-language-python              this project's language host (./cmd/...)
#   - pulumi-language-python-exec         the SDK's program runner   } copied from the
#   - pulumi-resource-pulumi-python       the SDK's dynamic provider } sdk/v3 module
# The CLI (10-20 min cold on 2 cores) is keyed by the engine version, the module's go.mod and
# go.sum and the build recipe; the language host (seconds) by those and its own sources, so a
# change to the host never rebuilds the CLI. A warm run only checks the caches and relinks.
# Where the pinned engine is installed already (Pulumi's setup action on a CI runner, an
# operator's install: `pulumi` on PATH reports the pinned version and has its language host
# beside it), that one is linked instead and nothing is built; VOICEPOP_BUILD_ENGINE=1 builds
# anyway. VOICEPOP_TOOLS_BIN: where the links go (default .tools/bin).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^\tgithub.com\/pulumi\/pulumi\/pkg\/v3 \(v[0-9.]*\).*/\1/p' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no pkg/v3 version in $here/go.mod" >&2; exit 1; }
tools_bin=${VOICEPOP_TOOLS_BIN:-$root/.tools/bin}
RELEASED=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)

# The folder of an installed engine of the pinned version with its language host, if any.
installed_engine() {
  local path found dir
  path=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$tools_bin" | paste -sd:)
  found=$(PATH=$path command -v pulumi) || return 1
  dir=$(dirname "$(readlink -f "$found")")
  local reported
  reported=$("$dir/pulumi" version 2>/dev/null) || return 1
  if [ "$reported" != "$version" ]; then
    echo "pulumi engine: the installed one ($dir) is $reported, not the pinned $version" >&2
    return 1
  fi
  for bin in "${RELEASED[@]}"; do [ -x "$dir/$bin" ] || return 1; done
  echo "$dir"
}

if [ "${VOICEPOP_BUILD_ENGINE:-}" != 1 ] && dir=$(installed_engine); then
  mkdir -p "$tools_bin"
  for bin in "${RELEASED[@]}"; do ln -sfn "$dir/$bin" "$tools_bin/$bin"; done
  echo "pulumi engine $version: the installed one ($dir), nothing built"
  exit 0
fi

# The module proxy only: a module it does not serve must fail at once, never fall back to VCS.
GOPROXY=$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g')
export GOPROXY GOFLAGS=-mod=mod CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
build=(go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags")

key() { { echo "${build[*]}"; cat "$@"; } | sha256sum | cut -c1-12; }
cd "$here"
host_sources=$(find cmd -name '*.go' ! -name '*_test.go' | sort)
cache_root=${VOICEPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicepop}/pulumi-engine
cli_cache="$cache_root/$version-cli-$(key go.mod go.sum)"
# shellcheck disable=SC2086 # one path per word
host_cache="$cache_root/$version-host-$(key go.mod go.sum $host_sources)"

build_cli() {
  echo "pulumi engine $version: building the CLI (cold: ~10-20 min on 2 cores)"
  "${build[@]}" -o "$1/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  "$1/pulumi" version | grep -qx "$version" || {
    echo "build.sh: built pulumi does not report $version" >&2; exit 1; }
}

build_host() {
  echo "pulumi engine $version: building the Python language host"
  "${build[@]}" -o "$1/pulumi-language-python" ./cmd/pulumi-language-python
  local sdk_dir
  sdk_dir=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$1/"
  install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$1/"
}

# cached CACHE BUILDER: runs BUILDER into CACHE/bin unless CACHE is complete, then links it.
cached() {
  local cache=$1 builder=$2
  if [ ! -f "$cache/.complete" ]; then
    rm -rf "$cache.partial" && mkdir -p "$cache.partial/bin"
    "$builder" "$cache.partial/bin"
    touch "$cache.partial/.complete"
    rm -rf "$cache" && mv "$cache.partial" "$cache"
  fi
  mkdir -p "$tools_bin"
  for bin in "$cache"/bin/*; do ln -sfn "$bin" "$tools_bin/$(basename "$bin")"; done
}

cached "$cli_cache" build_cli
cached "$host_cache" build_host
echo "pulumi engine $version: ready ($cli_cache, $host_cache)"
