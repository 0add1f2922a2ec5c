#!/usr/bin/env bash
# Installs the test oracle: the official libsignal for Node.js, at the
# version pinned in integration/oracle/package-lock.json, from the npm
# registry. Tests that compare Hush's Go protocol code with the official
# library run Node scripts against it. Needs node and npm (Node.js 20+).
set -euo pipefail
cd "$(dirname "$0")/../integration/oracle"
want=$(node -p 'require("./package-lock.json").packages["node_modules/@signalapp/libsignal-client"].version')
have=$(node -p 'try { require("./node_modules/@signalapp/libsignal-client/package.json").version } catch { "" }' 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
