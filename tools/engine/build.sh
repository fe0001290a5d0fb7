#!/usr/bin/env bash
# Builds the Pulumi engine for the engine test tier, from the Go module proxy
# only, into ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/pulumi-<version>/:
#   pulumi                          the CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
#   pulumi-language-python          our own language host (./pulumi-language-python):
#                                   the proxy does not serve the upstream one
#   pulumi-language-python-exec     the sdk module's exec script, which the host runs
# The version is the pkg/v3 requirement of tools/engine/go.mod (the wrapper
# module: pkg's go.mod replaces the sdk with a local path, so `go install
# pkg@version` refuses it). Outputs are cached by version, and the language
# host also by a hash of its source: a warm run takes about a second.
# Prints the cache directory's three paths, one a line. Nothing goes in the repo.
set -euo pipefail
engine="$(cd "$(dirname "$0")" && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
cd "$engine"

version="$(awk '$1 == "github.com/pulumi/pulumi/pkg/v3" { print $2 }' go.mod)"
sdk_version="$(awk '$1 == "github.com/pulumi/pulumi/sdk/v3" { print $2 }' go.mod)"
[ -n "$version" ] && [ "$version" = "$sdk_version" ] || {
  echo "tools/engine/go.mod must require pkg/v3 and sdk/v3 at one tag (got '$version' and '$sdk_version')" >&2
  exit 1
}
out="$cache/pulumi-$version"
mkdir -p "$out"
build() { # build OUTPUT LDFLAGS PACKAGE: atomically, so an interrupted build leaves nothing behind
  local start=$SECONDS
  echo "building $(basename "$1") $version" >&2
  nice -n 10 go build -ldflags "$2" -o "$1.tmp" "$3"
  mv "$1.tmp" "$1"
  echo "built $(basename "$1") in $((SECONDS - start))s" >&2
}

if [ ! -x "$out/pulumi" ]; then
  build "$out/pulumi" "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
fi

host_hash="$(cat go.mod go.sum pulumi-language-python/*.go | sha256sum | cut -c1-16)"
if [ ! -x "$out/pulumi-language-python" ] || [ "$(cat "$out/pulumi-language-python.src" 2>/dev/null)" != "$host_hash" ]; then
  build "$out/pulumi-language-python" "-s -w -X main.Version=$version" ./pulumi-language-python
  echo "$host_hash" >"$out/pulumi-language-python.src"
fi

if [ ! -f "$out/pulumi-language-python-exec" ]; then
  sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  [ -n "$sdk_dir" ] || { go mod download github.com/pulumi/pulumi/sdk/v3 && sdk_dir="$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"; }
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$out/pulumi-language-python-exec.tmp"
  mv "$out/pulumi-language-python-exec.tmp" "$out/pulumi-language-python-exec"
fi

"$out/pulumi" version >&2
echo "$out/pulumi"
echo "$out/pulumi-language-python"
echo "$out/pulumi-language-python-exec"
