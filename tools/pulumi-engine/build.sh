#!/usr/bin/env bash
# Builds the Pulumi engine from Go modules (no download site needed) into a cache outside the
# work tree, keyed by engine version and this module's sources, and links it into .tools/bin.
#   - pulumi                              the CLI (github.com/pulumi/pulumi/pkg/v3)
#   - pulumi-language-python              this project's language host (./cmd/...)
#   - pulumi-language-python-exec         the SDK's program runner   } copied from the
#   - pulumi-resource-pulumi-python       the SDK's dynamic provider } sdk/v3 module
# A warm run only checks the cache and relinks.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^\tgithub.com\/pulumi\/pulumi\/pkg\/v3 \(v[0-9.]*\).*/\1/p' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no pkg/v3 version in $here/go.mod" >&2; exit 1; }

source_hash=$(cd "$here" && cat go.mod go.sum build.sh $(find cmd -name '*.go' | sort) | sha256sum | cut -c1-12)
cache_root=${VOICEPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicepop}
cache="$cache_root/pulumi-engine/$version-$source_hash"
link_dir="$root/.tools/bin"

link_into_tools() {
  mkdir -p "$link_dir"
  for bin in "$cache"/bin/*; do ln -sfn "$bin" "$link_dir/$(basename "$bin")"; done
}

if [ -f "$cache/.complete" ]; then
  link_into_tools
  echo "pulumi engine $version: cached at $cache"
  exit 0
fi

# The module proxy only: a module it does not serve must fail at once, never fall back to VCS.
GOPROXY=$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g')
export GOPROXY GOFLAGS=-mod=mod CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
build=(go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags")

staging="$cache.partial"
rm -rf "$staging" && mkdir -p "$staging/bin"
cd "$here"
echo "pulumi engine $version: building (cold: ~10-20 min on 2 cores) into $cache"
"${build[@]}" -o "$staging/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
"${build[@]}" -o "$staging/bin/pulumi-language-python" ./cmd/pulumi-language-python

sdk_dir=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$staging/bin/"
install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$staging/bin/"

"$staging/bin/pulumi" version | grep -qx "$version" || {
  echo "build.sh: built pulumi does not report $version" >&2; exit 1; }
touch "$staging/.complete"
rm -rf "$cache" && mv "$staging" "$cache"
link_into_tools
echo "pulumi engine $version: built"
