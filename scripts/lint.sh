#!/usr/bin/env bash
# gofmt drift, go vet and staticcheck; any finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
tools=$(scripts/tools.sh)
drift=$(gofmt -l $(git ls-files '*.go' | grep -v '^vendor/') || true)
if [ -n "$drift" ]; then
  echo "gofmt would change:" >&2
  echo "$drift" >&2
  exit 1
fi
go vet ./...
"$tools/staticcheck" ./...
echo "lint: ok"
