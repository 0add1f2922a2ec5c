#!/usr/bin/env bash
# The README's test command: lint, then every test with the race detector.
# Under CI=true nothing that needs a service may skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
scripts/lint.sh
# Known vulnerabilities our code reaches, in dependencies and the
# standard library (exit 3 fails the run).
scripts/vulncheck.sh
# The admin console's browser test drives Debian's chromium (without it
# the test skips, or fails under CI=true).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
  else
    echo "test: /usr/bin/chromium is missing (apt-get install chromium); the console's browser test skips" >&2
  fi
fi
# Tests that make artefacts (the console's screenshots) keep them here.
export HUSH_ARTIFACTS="${HUSH_ARTIFACTS:-$PWD/test-artifacts}"
go test -race -count=1 -timeout 15m ./...
# The server's API tests again, on PostgreSQL.
HUSH_TEST_STORE=postgres go test -race -count=1 -timeout 10m ./internal/server/
