#!/usr/bin/env bash
# The README's test command: lint, then every test with the race detector.
# Under CI=true nothing that needs a service may skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
go test -race -count=1 -timeout 15m ./...
# The server's API tests again, on PostgreSQL.
HUSH_TEST_STORE=postgres go test -race -count=1 -timeout 10m ./internal/server/
