#!/usr/bin/env bash
# `make test`: every tier, with the Pulumi engine's build overlapped with the tiers that do not
# need it. Cold, the engine (CLI, Kubernetes provider, control plane) is the longest build by far
# (~45 min on 2 cores) and only the engine tier (tests/engine, collected last) runs it; so it
# starts first, in the background (niced, as every tool build is: the tests keep the CPU they
# need), while the other tools build, lint runs and the other tiers test. The engine tier's
# fixtures wait for its lock (tests/tools.py: wait_for_engine_build), then read the cache.
# Warm, the background build finds everything cached and ends in about a second. The build is
# stopped by its process group if this script ends first.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MLOPS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-observability/tools}"
mkdir -p "$cache"
log="$cache/engine-build.log"
start=$SECONDS
setsid bash tools/engine/build.sh >"$log" 2>&1 &
engine=$!
trap 'kill -- -"$engine" 2>/dev/null || true' EXIT
echo "tools/engine/build.sh started in the background (pid $engine, log $log)" >&2
make --no-print-directory test-tools lint
uv run pytest
if wait "$engine"; then status=ok; else status=FAILED; fi
echo "== tools/engine/build.sh: $status"
grep -v '^go: downloading ' "$log" || true
echo "test: done in $((SECONDS - start))s" >&2
[ "$status" = ok ]
