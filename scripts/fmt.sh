#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
gofmt -w $(git ls-files '*.go')
