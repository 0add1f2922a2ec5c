#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
gofmt -w $(git ls-files '*.go')
