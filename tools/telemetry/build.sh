#!/usr/bin/env bash
# Builds the servers of the live tests' trace and log path, from the Go module proxy
# only, into ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/:
#   otelcol-<tag>/otelcol-mlops   the OpenTelemetry Collector at the pinned contrib
#                                 image's version (stacks/base.py), from otelcol/main.go:
#                                 exactly the components the rendered config names
#   jaeger-<version>/jaeger       Jaeger v2 (Apache-2.0): a real OTLP trace store with a
#                                 query API, standing where the stacks run Tempo
# Nothing AGPL is built: the stacks' Loki, Tempo and Grafana images are deployed on
# the user's platform, and the tests put permitted stand-ins in their place.
# Outputs are cached by version and by a hash of their inputs: a warm run takes well
# under a second. Prints the two binaries' paths, one a line. Nothing built goes in the repo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
otel_tag="$(cd "$here/../.." && python3 -c \
  "from stacks.base import PROFILE as p; print(p['images']['otelCollector']['tag'])")"

# Both come from the one wrapper module here (go.mod): Jaeger v1.76.0 is itself a collector
# distribution, and the collector components the rendered config names are required at the
# versions Jaeger builds with, so the two binaries share one dependency set and one `go build`
# compiles every shared package (the collector, gRPC, protobuf, OpenTelemetry) once.
source "$here/../go-mod.sh"
jaeger_version="$(required "$here/go.mod" github.com/jaegertracing/jaeger)"
collector_version="$(required "$here/go.mod" go.opentelemetry.io/collector/otelcol)"
[ -n "$jaeger_version" ] || { echo "$here/go.mod requires no github.com/jaegertracing/jaeger" >&2; exit 1; }
# The deployed contrib image is released with the core collector of its minor version.
[ "${collector_version%.*}" = "v${otel_tag%.*}" ] || {
  echo "$here/go.mod: go.opentelemetry.io/collector/otelcol $collector_version is not the pinned image's $otel_tag" >&2
  exit 1
}
otelcol="$cache/otelcol-$otel_tag/otelcol-mlops"
jaeger="$cache/jaeger-${jaeger_version#v}/jaeger"
ldflags="-s -w -X main.version=$otel_tag -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$jaeger_version"
src="$( (cat "$here/go.mod" "$here/go.sum" "$here"/otelcol/*.go; echo "$ldflags") | sha256sum | cut -c1-16)"
if [ ! -x "$otelcol" ] || [ ! -x "$jaeger" ] || [ "$(cat "$jaeger.src" 2>/dev/null)" != "$src" ] \
  || [ "$(cat "$otelcol.src" 2>/dev/null)" != "$src" ]; then
  start=$SECONDS
  echo "building otelcol-mlops $otel_tag and jaeger ${jaeger_version#v}" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$here" && nice -n 10 go build -ldflags "$ldflags" -o "$work/" \
    ./otelcol github.com/jaegertracing/jaeger/cmd/jaeger)
  mkdir -p "$(dirname "$otelcol")" "$(dirname "$jaeger")"
  mv "$work/otelcol" "$otelcol"
  mv "$work/jaeger" "$jaeger"
  echo "$src" >"$otelcol.src"
  echo "$src" >"$jaeger.src"
  echo "built otelcol-mlops and jaeger in $((SECONDS - start))s" >&2
fi

echo "$otelcol"
echo "$jaeger"
