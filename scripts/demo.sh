#!/usr/bin/env bash
# End-to-end demo: a fresh hushd, two accounts (alice, bob) of two devices
# each, every device sending one message to the other person, every device
# receiving. It checks that each device decrypted exactly the three
# messages meant for it, that no envelope is left on the server, and that
# no plaintext appears anywhere in the data directory (database, WAL, log).
#
# Usage: scripts/demo.sh [DATA_DIR]   (HUSH_DEMO_TEXT sets the message text)
# DATA_DIR must be empty or missing; by default a fresh temp dir. The data
# and the server log stay there; everything else is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/goenv.sh

say() { printf '%s\n' "$*"; }
die() { printf 'demo: FAIL: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is needed"

data=${1:-}
if [[ -z $data ]]; then
  data=$(mktemp -d "${TMPDIR:-/tmp}/hush-demo-data.XXXXXX")
elif [[ -e $data && -n $(ls -A "$data" 2>/dev/null) ]]; then
  die "DATA_DIR $data is not empty; give a new or empty directory"
fi
mkdir -p "$data"
data=$(cd "$data" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hush-demo.XXXXXX")
bin=$work/bin
clients=$work/clients
mkdir -p "$bin" "$clients"

hushd_pid=
bg_pids=()
cleanup() {
  local rc=$?
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n $hushd_pid ]] && kill -0 "$hushd_pid" 2>/dev/null; then
    kill -TERM "$hushd_pid" 2>/dev/null || true
    wait "$hushd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS WHAT CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < end)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.1
  done
}

say "== building hushd and hush"
go build -o "$bin/hushd" ./cmd/hushd
go build -o "$bin/hush" ./cmd/hush

say "== starting hushd (data: $data)"
"$bin/hushd" --data "$data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --test-numbers "+15550000001=111111,+15550000002=222222" >"$data/hushd.log" 2>&1 &
hushd_pid=$!
hushd_alive() { kill -0 "$hushd_pid" 2>/dev/null || die "hushd exited; see $data/hushd.log"; }
addr_written() { hushd_alive; [[ -s $data/hushd.addr ]]; }
wait_for 60 "hushd.addr" addr_written
url=$(head -n1 "$data/hushd.addr" | tr -d '[:space:]')
ready() { hushd_alive; curl -fsS -o /dev/null "$url/readyz"; }
wait_for 30 "$url/readyz" ready
say "   serving $url"

text=${HUSH_DEMO_TEXT:-"hush demo canary $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"}
declare -A number=([alice]=+15550000001 [bob]=+15550000002)
declare -A code=([alice]=111111 [bob]=222222)
declare -A other=([alice]=bob [bob]=alice)
devices=(alice1 alice2 bob1 bob2)

hush() { # hush DEVICE ARGS...
  local dev=$1; shift
  "$bin/hush" --server "$url" --home "$clients/$dev" "$@"
}

say "== registering alice and bob"
for p in alice bob; do
  hush "${p}1" register "${number[$p]}" --code "${code[$p]}" --name "$p primary" >/dev/null
done

say "== linking a second device to each"
for p in alice bob; do
  out=$work/${p}2.link.out
  hush "${p}2" link --name "$p second" --timeout 60s >"$out" 2>"$work/${p}2.link.err" &
  link_pid=$!
  bg_pids+=("$link_pid")
  link_shown() { grep -q "^hush-link:" "$out" || ! kill -0 "$link_pid" 2>/dev/null; }
  wait_for 30 "the link code of ${p}2" link_shown
  link_code=$(grep -m1 '^hush-link:' "$out") || die "${p}2: hush link printed no link code: $(cat "$work/${p}2.link.err")"
  hush "${p}1" approve "$link_code" >/dev/null
  wait "$link_pid" || die "${p}2: hush link failed: $(cat "$work/${p}2.link.err")"
done

declare -A account device_id
for d in "${devices[@]}"; do
  who=$(hush "$d" whoami --json)
  account[$d]=$(sed -E 's/.*"account_id":"([^"]*)".*/\1/' <<<"$who")
  device_id[$d]=$(sed -E 's/.*"device_id":([0-9]+).*/\1/' <<<"$who")
  say "   $d: account ${account[$d]} device ${device_id[$d]}"
done

person() { echo "${1%[0-9]}"; }
message_of() { # the text device $1 sends
  echo "$text (from $(person "$1") device ${device_id[$1]})"
}

say "== every device sends one message to the other person"
for d in "${devices[@]}"; do
  p=$(person "$d")
  hush "$d" send "${number[${other[$p]}]}" "$(message_of "$d")" >/dev/null
  say "   $d -> ${other[$p]}: $(message_of "$d")"
done

say "== every device receives"
rpids=()
for d in "${devices[@]}"; do
  hush "$d" receive --json --timeout 2s >"$work/$d.received" 2>"$work/$d.receive.err" &
  rpids+=($!)
done
for i in "${!rpids[@]}"; do
  wait "${rpids[$i]}" || die "${devices[$i]}: hush receive failed: $(cat "$work/${devices[$i]}.receive.err")"
done

# json_string TEXT: TEXT as hush --json writes it (no HTML escaping).
json_string() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '%s' "$s"
}
# decoded LINE: "account device body" of one receive --json line.
decoded() {
  sed -E 's/.*"from_account":"([^"]*)","from_device":([0-9]+),.*"body":"((\\.|[^"\\])*)",.*/\1 \2 \3/' <<<"$1"
}

failures=0
for d in "${devices[@]}"; do
  say "-- $d decrypted:"
  got=()
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    got+=("$(decoded "$line")")
    say "     $(decoded "$line" | cut -d' ' -f3-)"
  done <"$work/$d.received"
  if [[ -s $work/$d.receive.err ]]; then
    say "   stderr: $(cat "$work/$d.receive.err")"
  fi
  want=()
  for s in "${devices[@]}"; do
    [[ $s == "$d" ]] && continue
    want+=("${account[$s]} ${device_id[$s]} $(json_string "$(message_of "$s")")")
  done
  ok=1
  [[ ${#got[@]} -eq ${#want[@]} ]] || ok=0
  for w in "${want[@]}"; do
    n=0
    for g in "${got[@]}"; do [[ $g == "$w" ]] && n=$((n + 1)); done
    [[ $n -eq 1 ]] || ok=0
  done
  if ((ok)); then
    say "   ok: exactly the ${#want[@]} messages from the other devices"
  else
    say "   FAIL: want exactly the ${#want[@]} messages from the other devices, got ${#got[@]} lines"
    failures=$((failures + 1))
  fi
done

say "== stopping hushd"
kill -TERM "$hushd_pid"
wait "$hushd_pid" || die "hushd exited with status $? on SIGTERM; see $data/hushd.log"
hushd_pid=

stats=$("$bin/hushd" stats --data "$data")
envelopes=$(grep -o '"envelopes": *[0-9]*' <<<"$stats" | grep -o '[0-9]*$' || true)
say "   stats: $stats"
if [[ $envelopes == 0 ]]; then
  say "   ok: no envelope left on the server"
else
  say "   FAIL: envelopes left on the server: ${envelopes:-unknown}"
  failures=$((failures + 1))
fi

say "== looking for plaintext in $data"
leaks=0
canaries=("$text")
for d in "${devices[@]}"; do canaries+=("$(message_of "$d")"); done
for c in "${canaries[@]}"; do
  if grep -rFaq -- "$c" "$data"; then
    say "   FAIL: plaintext found: $(grep -rFal -- "$c" "$data" | tr '\n' ' ')"
    leaks=$((leaks + 1))
  fi
done
if ((leaks == 0)); then
  say "   ok: no message text in the database, its WAL, or the log"
else
  failures=$((failures + 1))
fi

say ""
if ((failures == 0)); then
  say "demo: PASS — 4 devices, 12 deliveries decrypted, 0 envelopes left, no plaintext on the server"
  say "data and log: $data"
else
  say "demo: FAIL — $failures check(s) failed; data and log: $data"
  exit 1
fi
