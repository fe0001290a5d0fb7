#!/usr/bin/env bash
# Runs the Go tool builds at once (tools/build.sh, tools/telemetry/build.sh,
# tools/cadvisor/build.sh, tools/engine/build.sh): on a cold machine each spends minutes downloading modules and
# linking on one core, time in which the others compile. Each build is cached by version, so
# a warm run takes about a second. Prints each build's output, then fails if any failed.
# Arguments name a subset (paths under tools/): `make test` builds the engine beside the tiers.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
builds=(build.sh telemetry/build.sh cadvisor/build.sh engine/build.sh)
[ $# -eq 0 ] || builds=("$@")
pids=()
start=$SECONDS
for build in "${builds[@]}"; do
  bash "$here/$build" >"$logs/${build//\//-}.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!builds[@]}"; do
  if wait "${pids[$i]}"; then status=ok; else status=FAILED; failed=1; fi
  echo "== tools/${builds[$i]}: $status"
  grep -v '^go: downloading ' "$logs/${builds[$i]//\//-}.log"
done
echo "tools built in $((SECONDS - start))s" >&2
exit "$failed"
