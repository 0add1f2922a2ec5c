#!/usr/bin/env bash
# Known vulnerabilities: govulncheck on the project (or on the packages
# given as arguments). Exits 3 when our code reaches a vulnerable symbol
# (govulncheck's own exit status), 0 when it does not.
#
# Database, in this order:
#   - VULNCHECK_DB=<url> if set (https://..., file://...);
#   - https://vuln.go.dev when it answers;
#   - otherwise the newest golang.org/x/vulndb from the Go module proxy
#     (checked against sum.golang.org like every module). Its data/osv
#     holds the same OSV reports vuln.go.dev serves; scripts/vulndb-index.go
#     writes the index govulncheck's file:// databases need, once per
#     version, into bin/vulndb/<version> (git-ignored). VULNCHECK_DB=proxy
#     takes this route even when vuln.go.dev answers.
# The proxy's reports carry no dates, so the database is dated by its
# vulndb commit; older than VULNCHECK_MAX_AGE_DAYS (default 30) warns.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
tools=$(scripts/tools.sh)
[ $# -gt 0 ] || set -- ./...

mod=golang.org/x/vulndb
want=${VULNCHECK_DB:-}

from_proxy() {
  local tmp ver when dir out d
  tmp=$(mktemp -d)
  # Queried outside our module so that go.mod and go.sum stay untouched.
  if ! read -r ver when < <(cd "$tmp" && GOWORK=off go list -m \
    -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z07:00"}}' "$mod@latest"); then
    rm -rf "$tmp"
    # No proxy either: the last database built here, if any, with a warning.
    out=$(ls -d bin/vulndb/v* 2>/dev/null | sort | tail -n 1 || true)
    if [ -z "$out" ]; then
      echo "vulncheck: neither vuln.go.dev nor $mod on the module proxy is reachable" >&2
      return 1
    fi
    echo "vulncheck: warning: module proxy unreachable; using the cached $out" >&2
    db="file://$PWD/$out"
    return 0
  fi
  out=bin/vulndb/$ver
  if [ ! -f "$out/index/db.json" ]; then
    dir=$(cd "$tmp" && GOWORK=off go mod download "$mod@$ver" &&
      GOWORK=off go list -m -f '{{.Dir}}' "$mod@$ver")
    mkdir -p bin/vulndb
    go run scripts/vulndb-index.go -osv "$dir/data/osv" -modified "$when" -out "$out" >&2
    for d in bin/vulndb/*; do
      [ "$d" = "$out" ] || rm -rf "$d"
    done
  fi
  rm -rf "$tmp"
  local age=$((($(date -u +%s) - $(date -u -d "$when" +%s)) / 86400))
  echo "vulncheck: database $mod@$ver ($when, $age days old)" >&2
  if [ "$age" -gt "${VULNCHECK_MAX_AGE_DAYS:-30}" ]; then
    echo "vulncheck: warning: the module proxy's newest $mod is $age days old" >&2
  fi
  db="file://$PWD/$out"
}

case $want in
  "")
    if command -v curl >/dev/null &&
      curl -fsS -m 10 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then
      db=https://vuln.go.dev
    else
      echo "vulncheck: vuln.go.dev unreachable; taking the database from the module proxy" >&2
      from_proxy
    fi
    ;;
  proxy) from_proxy ;;
  *) db=$want ;;
esac

exec "$tools/govulncheck" -show version -db "$db" "$@"
