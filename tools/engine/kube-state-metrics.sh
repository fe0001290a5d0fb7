#!/usr/bin/env bash
# Builds kube-state-metrics at the pinned image's version (stacks/base.py,
# images.kubeStateMetrics.tag), from the Go module proxy only, into
# ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/kube-state-metrics-<tag>/,
# for the engine tier, which runs it against the local control plane (tests/cluster.py).
# The proxy serves the module k8s.io/kube-state-metrics/v2 at the tag but not its version list
# (403), so `go install ...@<tag>` fails; a throwaway wrapper module that `go get`s the tag
# builds it (its requirements are exactly kube-state-metrics' own go.mod). Cached by version: a
# warm run takes well under a second. tools/engine/build.sh runs it (under its lock). Prints the
# binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
tag="$(cd "$here" && python3 -c \
  "from stacks.base import PROFILE as p; print(p['images']['kubeStateMetrics']['tag'])")"
module=k8s.io/kube-state-metrics/v2
out="$cache/kube-state-metrics-$tag/kube-state-metrics"
if [ ! -x "$out" ]; then
  start=$SECONDS
  echo "building kube-state-metrics $tag" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  printf 'module ksmbuild\n\ngo %s\n' "$(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')" \
    >"$work/go.mod"
  (cd "$work" && go get "$module@$tag" 2>"$work/get.log") || { cat "$work/get.log" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  (cd "$work" && nice -n 10 go build \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${tag#v} -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$tag" \
    -o "$out.tmp" "$module")
  mv "$out.tmp" "$out"
  echo "built kube-state-metrics $tag in $((SECONDS - start))s" >&2
fi
echo "$out"
