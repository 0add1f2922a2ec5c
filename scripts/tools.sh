#!/usr/bin/env bash
# Installs the Go tools the checks need (pinned versions) into ./bin/tools,
# from the Go module proxy, and prints that directory.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
dir="$PWD/bin/tools"
mkdir -p "$dir"
install() {
  local name=$1 pkg=$2
  if [ ! -x "$dir/$name" ]; then
    GOBIN="$dir" go install "$pkg" >&2
  fi
}
install staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
install govulncheck golang.org/x/vuln/cmd/govulncheck@v1.9.0
echo "$dir"
