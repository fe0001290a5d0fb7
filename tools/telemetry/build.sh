#!/usr/bin/env bash
# Builds the trace and log path's servers at the versions of the pinned images
# (stacks/base.py), from the Go module proxy only, into
# ${MLOPS_TOOLS_CACHE:-~/.cache/mlops-observability/tools}/:
#   otelcol-<tag>/otelcol-mlops   the OpenTelemetry Collector, built by its official
#                                 builder (ocb) from otelcol-builder.yaml: exactly the
#                                 components the rendered config names
#   loki-<tag>/loki               Grafana Loki (github.com/grafana/loki/v3/cmd/loki),
#                                 from the wrapper module in loki/ (Loki's go.mod
#                                 replaces its pkg/push module with a local path, so
#                                 `go install loki@version` refuses it)
# Tempo is not built: the proxy lists no version of github.com/grafana/tempo (its
# v2 tags are not Go module versions of that path). Outputs are cached by version
# and by a hash of their inputs: a warm run takes well under a second. Prints the
# two binaries' paths, one a line. Nothing built goes in the repo.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
export GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
read -r otel_tag loki_tag < <(cd "$here/../.." && python3 -c \
  "from stacks.base import PROFILE as p; i = p['images']; print(i['otelCollector']['tag'], i['loki']['tag'])")

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

# Loki.
loki_out="$cache/loki-$loki_tag"
loki="$loki_out/loki"
required="$(awk '$1 == "require" { $0 = substr($0, 9) } $1 == "github.com/grafana/loki/v3" { print $2 }' "$here/loki/go.mod")"
[ "$required" = "v$loki_tag" ] || {
  echo "$here/loki/go.mod requires Loki $required, not the pinned image's v$loki_tag" >&2
  exit 1
}
loki_stamp="$(stamp "$here/loki/go.mod" "$here/loki/go.sum")"
if [ ! -x "$loki" ] || [ "$(cat "$loki.src" 2>/dev/null)" != "$loki_stamp" ]; then
  start=$SECONDS
  echo "building loki $loki_tag" >&2
  mkdir -p "$loki_out"
  (cd "$here/loki" && nice -n 10 go build \
    -ldflags "-s -w -X github.com/grafana/loki/v3/pkg/util/build.Version=$loki_tag" \
    -o "$loki.tmp" github.com/grafana/loki/v3/cmd/loki)
  mv "$loki.tmp" "$loki"
  echo "$loki_stamp" >"$loki.src"
  echo "built loki in $((SECONDS - start))s" >&2
fi

echo "$otelcol"
echo "$loki"
