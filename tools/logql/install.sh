#!/usr/bin/env bash
# Installs the LogQL grammar the tests parse queries with (package-lock.json: exact versions
# and integrity hashes) from the npm registry into tools/logql/node_modules, when the lock
# changed since the last install (warm: well under a second). Needs node and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v npm >/dev/null || { echo "npm is required for the LogQL grammar (apt-get install nodejs npm)" >&2; exit 1; }
stamp="$(sha256sum "$here/package-lock.json" | cut -c1-16)"
if [ "$(cat "$here/node_modules/.mlops-stamp" 2>/dev/null)" != "$stamp" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$stamp" >"$here/node_modules/.mlops-stamp"
fi
echo "$here/check.mjs"
