#!/usr/bin/env bash
# Builds cadvisor-mlops: cAdvisor's container manager with only its raw cgroup handler and its
# Prometheus collector (main.go, our own main), from the root module github.com/google/cadvisor
# at the pinned image's tag (stacks/base.py images.cadvisor.tag), from the Go module proxy only,
# into ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/cadvisor-<tag>/cadvisor-mlops.
# The proxy does not serve the command's module (github.com/google/cadvisor/cmd: 404 for
# v0.47.0-v0.61.0); from v0.53 on the root module's manager, metrics and container packages
# moved to github.com/google/cadvisor/lib, required as v0.0.0 through a local replace, which
# the proxy refuses; v0.52.1, the pinned image's tag, still has them in the root module.
# The live tests run it. Cached by tag and a hash of its inputs: a warm run takes well under a
# second. Prints the binary's path. Nothing built goes in the repo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
tag="$(cd "$here/../.." && python3 -c \
  "from stacks.base import PROFILE as p; print(p['images']['cadvisor']['tag'])")"
source "$here/../go-mod.sh"
version="$(required "$here/go.mod" github.com/google/cadvisor)"
[ "$version" = "$tag" ] || {
  echo "$here/go.mod: github.com/google/cadvisor $version is not the pinned image's $tag" >&2
  exit 1
}
out="$cache/cadvisor-$tag/cadvisor-mlops"
src="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
if [ ! -x "$out" ] || [ "$(cat "$out.src" 2>/dev/null)" != "$src" ]; then
  start=$SECONDS
  echo "building cadvisor-mlops $tag" >&2
  mkdir -p "$(dirname "$out")"
  (cd "$here" && nice -n 10 go build -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
  echo "$src" >"$out.src"
  echo "built cadvisor-mlops $tag in $((SECONDS - start))s" >&2
fi
echo "$out"
