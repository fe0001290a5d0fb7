#!/usr/bin/env bash
# Builds promtool, amtool, and the Prometheus and Alertmanager servers at the
# versions of the pinned images (stacks/base.py), from the Go module proxy only,
# so the rendered files are checked and run (live tests) by the same versions
# that run them in the stacks. Outputs are cached by version: a warm run takes
# well under a second. The Prometheus server is built without its embedded web
# UI (no `builtinassets` tag: the UI needs an npm build); the HTTP API is whole.
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
prometheus="$cache/prometheus-$prom_tag/prometheus"
if [ ! -x "$promtool" ] || [ ! -x "$prometheus" ]; then
  echo "building promtool and prometheus $prom_tag (module $prom_module)" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # Prometheus' go.mod carries a replace, so `go install pkg@version` refuses it:
  # build from a wrapper module that repeats the replace.
  mkdir -p "$(dirname "$promtool")"
  cp "$here/tools/promtool.go.mod" "$work/go.mod"
  (cd "$work" && go get "github.com/prometheus/prometheus/cmd/promtool@$prom_module" \
      "github.com/prometheus/prometheus/cmd/prometheus@$prom_module" 2>"$work/get.log" \
    || { cat "$work/get.log" >&2; exit 1; })
  # Only the Kubernetes service discovery is compiled in: the one the rendered configs use.
  for cmd in promtool prometheus; do
    (cd "$work" && go build -tags remove_all_sd,enable_kubernetes_sd \
      -ldflags "-X github.com/prometheus/common/version.Version=${prom_tag#v}" \
      -o "$cache/prometheus-$prom_tag/$cmd.tmp" "github.com/prometheus/prometheus/cmd/$cmd")
    mv "$cache/prometheus-$prom_tag/$cmd.tmp" "$cache/prometheus-$prom_tag/$cmd"
  done
fi

amtool="$cache/alertmanager-$am_tag/amtool"
alertmanager="$cache/alertmanager-$am_tag/alertmanager"
for cmd in amtool alertmanager; do
  if [ ! -x "$cache/alertmanager-$am_tag/$cmd" ]; then
    echo "building $cmd $am_tag" >&2
    mkdir -p "$cache/alertmanager-$am_tag"
    GOBIN="$cache/alertmanager-$am_tag" go install \
      -ldflags "-X github.com/prometheus/common/version.Version=${am_tag#v}" \
      "github.com/prometheus/alertmanager/cmd/$cmd@$am_tag"
  fi
done
"$promtool" --version | head -n 1
echo "$promtool"
echo "$prometheus"
echo "$amtool"
echo "$alertmanager"
