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
go test -race -count=1 -timeout 15m -skip '^TestInterop' ./...
# The server's API tests again, on PostgreSQL.
HUSH_TEST_STORE=postgres go test -race -count=1 -timeout 10m ./internal/server/
# The interoperability suite: hush against a client on the official
# libsignal, through hushd, on SQLite and PostgreSQL. It runs on its own,
# always as under CI (nothing skips), and prints one result line per
# scenario and store; the whole log stays in the artefacts.
mkdir -p "$HUSH_ARTIFACTS"
interop_log="$HUSH_ARTIFACTS/interop.log"
rc=0
CI=true go test -race -count=1 -v -timeout 15m -run '^TestInterop' ./integration/ >"$interop_log" 2>&1 || rc=$?
sed -n -E 's/^ *--- (PASS|FAIL|SKIP): ([^ ]+) \((.*)\)$/interop: \2: \1 (\3)/p' "$interop_log"
if [ "$rc" -ne 0 ]; then
  echo "interop: FAIL; why (the whole log: $interop_log):" >&2
  if grep -q -E '^ *--- FAIL' "$interop_log"; then
    grep -E '^ *--- FAIL|^ +[a-z_]+_test\.go:[0-9]+: ' "$interop_log" | grep -v 'order seed' | cut -c1-400 >&2
  else
    tail -n 40 "$interop_log" >&2
  fi
  exit "$rc"
fi
