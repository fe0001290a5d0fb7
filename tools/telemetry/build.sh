#!/usr/bin/env bash
# Builds the servers of the live tests' trace and log path, from the Go module proxy
# only, into ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/:
#   otelcol-<tag>/otelcol-mlops   the OpenTelemetry Collector at the pinned contrib
#                                 image's version (stacks/base.py), built by its official
#                                 builder (ocb) from otelcol-builder.yaml: exactly the
#                                 components the rendered config names
#   jaeger-<version>/jaeger       Jaeger v2 (Apache-2.0), from the wrapper module in
#                                 jaeger/: a real OTLP trace store with a query API,
#                                 standing where the stacks run Tempo
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

stamp() { cat "$@" | sha256sum | cut -c1-16; }

# The OpenTelemetry Collector.
manifest="$here/otelcol-builder.yaml"
manifest_version="$(awk '$1 == "version:" { print $2; exit }' "$manifest")"
[ "$manifest_version" = "$otel_tag" ] || {
  echo "$manifest: dist version $manifest_version is not the pinned image's $otel_tag" >&2
  exit 1
}
otel_out="$cache/otelcol-$otel_tag"
otelcol="$otel_out/otelcol-mlops"
otel_stamp="$(stamp "$manifest")"
if [ ! -x "$otelcol" ] || [ "$(cat "$otelcol.src" 2>/dev/null)" != "$otel_stamp" ]; then
  start=$SECONDS
  echo "building otelcol-mlops $otel_tag with the collector builder" >&2
  mkdir -p "$otel_out"
  if [ ! -x "$otel_out/builder" ]; then
    # sum.golang.org has no entry for this one module version (404); its zip still
    # comes from the proxy, and every module the build pulls in is checked as usual.
    GONOSUMDB=go.opentelemetry.io/collector/cmd/builder GOBIN="$otel_out" \
      go install "go.opentelemetry.io/collector/cmd/builder@v$otel_tag"
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  sed "/^dist:/a\\  output_path: $work" "$manifest" >"$work/manifest.yaml"
  nice -n 10 "$otel_out/builder" --config="$work/manifest.yaml" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
  mv "$work/otelcol-mlops" "$otelcol"
  echo "$otel_stamp" >"$otelcol.src"
  echo "built otelcol-mlops in $((SECONDS - start))s" >&2
fi

# Jaeger v2: the trace store the live tests put where Tempo would be (Tempo is AGPL-3.0
# and never built here). Its version is the wrapper module's requirement.
jaeger_mod="$here/jaeger"
jaeger_version="$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2 }' "$jaeger_mod/go.mod")"
[ -n "$jaeger_version" ] || { echo "$jaeger_mod/go.mod requires no github.com/jaegertracing/jaeger" >&2; exit 1; }
jaeger_out="$cache/jaeger-${jaeger_version#v}"
jaeger="$jaeger_out/jaeger"
jaeger_ldflags="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$jaeger_version"
jaeger_stamp="$( (cat "$jaeger_mod/go.mod" "$jaeger_mod/go.sum"; echo "$jaeger_ldflags") | sha256sum | cut -c1-16)"
if [ ! -x "$jaeger" ] || [ "$(cat "$jaeger.src" 2>/dev/null)" != "$jaeger_stamp" ]; then
  start=$SECONDS
  echo "building jaeger ${jaeger_version#v}" >&2
  mkdir -p "$jaeger_out"
  (cd "$jaeger_mod" && nice -n 10 go build -ldflags "$jaeger_ldflags" -o "$jaeger.tmp" \
    github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$jaeger.tmp" "$jaeger"
  echo "$jaeger_stamp" >"$jaeger.src"
  echo "built jaeger in $((SECONDS - start))s" >&2
fi

echo "$otelcol"
echo "$jaeger"
