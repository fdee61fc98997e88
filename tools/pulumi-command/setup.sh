#!/usr/bin/env bash
# Makes Pulumi's Command provider plugin (pulumi-resource-command, the plugin behind the pinned
# PyPI package pulumi-command) available to the engine without a download site, best first:
#   1. already installed in the engine's plugins (PULUMI_HOME): nothing to do;
#   2. built from its unmodified source (../shared/third_party/pulumi-command, or
#      VOICEPOP_THIRD_PARTY): every dependency from the Go module proxy, into a cache outside
#      the work tree keyed by version, source and recipe (~3 min cold on 2 cores, then cached),
#      then installed with `pulumi plugin install --file`;
#   3. no source here: `pulumi plugin install` fetches the released plugin (a machine with the
#      internet).
# Run with tools/env.sh sourced (the engine on PATH, PULUMI_HOME set).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^pulumi-command==\([0-9.]*\).*/\1/p' "$root/requirements.in")
[ -n "$version" ] || { echo "pulumi-command: no pulumi-command pin in requirements.in" >&2; exit 1; }
source_dir=${VOICEPOP_THIRD_PARTY:-$root/../shared/third_party}/pulumi-command/provider
plugins=${PULUMI_HOME:?tools/env.sh sets PULUMI_HOME}/plugins

if [ -x "$plugins/resource-command-v$version/pulumi-resource-command" ]; then
  echo "pulumi-command $version: installed ($plugins/resource-command-v$version)"
  exit 0
fi

if [ ! -f "$source_dir/go.mod" ]; then
  echo "pulumi-command $version: no source at $source_dir; fetching the released plugin"
  exec pulumi plugin install resource command "$version"
fi

GOPROXY=$(go env GOPROXY | sed -e 's/,direct//g' -e 's/|direct//g')
export GOPROXY GOFLAGS=-mod=readonly CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$version"
build=(go build -trimpath -ldflags "$ldflags")
key=$({ echo "${build[*]}"; cat "$source_dir/go.mod" "$source_dir/go.sum";
        find "$source_dir" -name '*.go' -type f | sort | xargs cat; } | sha256sum | cut -c1-12)
cache=${VOICEPOP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voicepop}/pulumi-command/$version-$key

if [ ! -x "$cache/pulumi-resource-command" ]; then
  echo "pulumi-command $version: building from $source_dir (cold: ~3 min on 2 cores)"
  rm -rf "$cache.partial" && mkdir -p "$cache.partial"
  # the source folder is read-only: go writes only its module and build caches
  (cd "$source_dir" && "${build[@]}" -o "$cache.partial/pulumi-resource-command" \
    ./cmd/pulumi-resource-command)
  rm -rf "$cache" && mv "$cache.partial" "$cache"
fi
pulumi plugin install resource command "$version" --file "$cache/pulumi-resource-command"
echo "pulumi-command $version: built and installed ($cache)"
