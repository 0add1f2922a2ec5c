#!/usr/bin/env bash
# Go benchmarks of the hot paths, with allocations.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
go test -run '^$' -bench . -benchmem -count "${COUNT:-1}" ./...
