#!/usr/bin/env bash
# Runs every fuzz target of FUZZPKGS (default ./...) for FUZZTIME (default
# 30s) each, with FUZZPARALLEL workers (default: GOMAXPROCS) and
# FUZZMINIMIZETIME per new input (default: Go's, 60s; targets that call a
# whole node spend most of their time minimizing unless it is lowered).
#
# A failing target, or a package whose tests do not build, does not stop
# the others: all run, a summary follows, and the exit status is 1 if
# anything failed. A run that fails only with "context deadline exceeded"
# at the end of FUZZTIME and writes no failing input is a race in Go's
# fuzzing coordinator (go.dev/issue/75804, fixed in Go 1.27), not a
# finding: it is counted as a flake and does not fail the script.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh
t=${FUZZTIME:-30s}
opts=()
if [[ -n ${FUZZPARALLEL:-} ]]; then
  opts+=(-parallel "$FUZZPARALLEL")
fi
if [[ -n ${FUZZMINIMIZETIME:-} ]]; then
  opts+=(-fuzzminimizetime "$FUZZMINIMIZETIME")
fi

# shellcheck disable=SC2086 # FUZZPKGS is a list of patterns
pkgs=$(go list ${FUZZPKGS:-./...}) || { echo "fuzz: go list failed" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=() flaked=() failed=()
for pkg in $pkgs; do
  if ! list=$(go test -list '^Fuzz' "$pkg" 2>&1); then
    echo "$list" >&2
    echo "== $pkg: the tests do not build" >&2
    failed+=("$pkg (tests do not build)")
    continue
  fi
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep '^Fuzz' <<<"$list"); do
    echo "== $pkg $target"
    corpus="$dir/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null)
    if go test -run '^$' -fuzz "^$target\$" -fuzztime "$t" "${opts[@]}" "$pkg" 2>&1 | tee "$out"; then
      passed+=("$pkg $target")
    elif [[ $(ls "$corpus" 2>/dev/null) == "$before" ]] &&
      grep -A1 -- "^--- FAIL: $target " "$out" | grep -qx '    context deadline exceeded'; then
      flaked+=("$pkg $target (context deadline exceeded, no failing input)")
    else
      failed+=("$pkg $target")
    fi
  done
done

echo
echo "fuzz: ${#passed[@]} passed, ${#flaked[@]} flaked, ${#failed[@]} failed (FUZZTIME=$t each)"
for x in "${passed[@]}"; do echo "  ok     $x"; done
for x in "${flaked[@]}"; do echo "  flake  $x"; done
for x in "${failed[@]}"; do echo "  FAIL   $x"; done
[[ ${#failed[@]} -eq 0 ]]
