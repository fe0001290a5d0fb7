#!/usr/bin/env bash
# Builds promtool and amtool at the versions of the pinned Prometheus and
# Alertmanager images (stacks/base.py), from the Go module proxy only, so the
# rendered files are checked by the same versions that run them. Outputs are
# cached by version: a warm run takes well under a second.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
read -r prom_tag am_tag < <(cd "$here" && python3 -c \
  "from stacks.base import PROFILE as p; i = p['images']; print(i['prometheus']['tag'], i['alertmanager']['tag'])")
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

# Prometheus tags vX.Y.Z are published as Go module versions v0.(100X+Y).Z.
IFS=. read -r major minor patch <<<"${prom_tag#v}"
prom_module="v0.$((major * 100 + minor)).${patch}"

promtool="$cache/prometheus-$prom_tag/promtool"
if [ ! -x "$promtool" ]; then
  echo "building promtool $prom_tag (module $prom_module)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # Prometheus' go.mod carries a replace, so `go install pkg@version` refuses it:
  # build from a wrapper module that repeats the replace.
  mkdir -p "$(dirname "$promtool")"
  cp "$here/tools/promtool.go.mod" "$work/go.mod"
  # Only the Kubernetes service discovery is compiled in: the one the rendered configs use.
  (cd "$work" && go get "github.com/prometheus/prometheus/cmd/promtool@$prom_module" 2>"$work/get.log" \
    || { cat "$work/get.log" >&2; exit 1; })
  (cd "$work" && go build -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-X github.com/prometheus/common/version.Version=${prom_tag#v}" \
    -o "$promtool.tmp" github.com/prometheus/prometheus/cmd/promtool)
  mv "$promtool.tmp" "$promtool"
fi

amtool="$cache/alertmanager-$am_tag/amtool"
if [ ! -x "$amtool" ]; then
  echo "building amtool $am_tag" >&2
  mkdir -p "$(dirname "$amtool")"
  GOBIN="$(dirname "$amtool")" go install \
    -ldflags "-X github.com/prometheus/common/version.Version=${am_tag#v}" \
    "github.com/prometheus/alertmanager/cmd/amtool@$am_tag"
fi
"$promtool" --version | head -n 1
echo "$promtool"
echo "$amtool"
