#!/bin/sh
# The troupe command against a live troupe-node (started and stopped by
# PID, 127.0.0.1 only): ls / stats / ping --json checked field by field,
# metrics and the node's HTTP /metrics validated by promtool, `troupe top`
# driven in tmux (on a private tmux socket) and its screen read back with
# capture-pane, 'q' ending it. Exit 77 (skipped) when python3 or promtool
# is missing; the tmux part is skipped, and said so, without tmux.
#
#   tests/cli/troupe_cli.sh TROUPE_NODE TROUPE
# TROUPE_TOP_SCREEN=FILE keeps the captured top screen.
set -eu
NODE=$1
TROUPE=$2
for tool in python3 promtool; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
tmp=$(mktemp -d /tmp/troupe-cli.XXXXXX)
sock="troupe-cli-$$"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    command -v tmux >/dev/null 2>&1 && tmux -L "$sock" kill-server 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$NODE" --version | grep -q '^troupe-node [0-9]' || fail "troupe-node --version"
"$NODE" --listen 127.0.0.1:0 --port-file "$tmp/port" --metrics-listen 127.0.0.1:0 \
    --metrics-port-file "$tmp/mport" >"$tmp/node.out" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ] || [ ! -s "$tmp/mport" ]; do
    i=$((i + 1)); [ $i -le 100 ] || fail "troupe-node did not start: $(cat "$tmp/node.out")"
    sleep 0.1
done
ADDR=127.0.0.1:$(cat "$tmp/port")
MPORT=$(cat "$tmp/mport")
echo "node pid $pid at $ADDR, metrics on port $MPORT"

"$TROUPE" --version | grep -q '^troupe [0-9]' || fail "troupe --version"
"$TROUPE" --help | grep -q 'top ADDR' || fail "troupe --help"
"$TROUPE" ping "$ADDR" --count 70 --json >"$tmp/ping.json"
"$TROUPE" ls "$ADDR" --json >"$tmp/ls.json"
"$TROUPE" stats "$ADDR" --json >"$tmp/stats.json"
"$TROUPE" stats "$ADDR/\$troupe" --json >"$tmp/ep.json"
"$TROUPE" metrics "$ADDR" >"$tmp/metrics.txt"

python3 - "$tmp" "$pid" "$ADDR" <<'PY'
import json, sys
tmp, pid, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(n):
    with open(f"{tmp}/{n}") as f:
        return json.load(f)
ping = load("ping.json")
assert ping["address"] == addr, ping
assert len(ping["rtt_ns"]) == 70 and all(r > 0 for r in ping["rtt_ns"]), ping
assert ping["min_ns"] <= ping["avg_ns"] <= ping["max_ns"], ping
ls = {e["id"]: e for e in load("ls.json")["endpoints"]}
assert set(ls) == {"node", "$troupe"}, ls
assert ls["node"]["state"] == "started" and ls["node"]["gateways"] == "tnode,troupe.stream", ls
assert ls["$troupe"]["gateways"] == "troupe_introspect", ls
assert ls["$troupe"]["calls"] == 71, ls  # 70 pings and this ls (a call counts as it starts)
st = load("stats.json")
assert st["node"]["pid"] == pid and st["node"]["listen"] == addr, st["node"]
assert st["node"]["workers"] == 1 and st["node"]["live_actors"] == 2, st["node"]
assert st["io"]["inbound_open"] == 1 and st["io"]["frames_received"] > 70, st["io"]
assert {e["id"] for e in st["endpoints"]} == {"node", "$troupe"}, st["endpoints"]
conns = st["connections"]
assert len(conns) == 1 and conns[0]["direction"] == "in" and conns[0]["open"] == "yes", conns
assert conns[0]["bytes_received"] > 0 and conns[0]["frames_received"] >= 2, conns
ep = load("ep.json")
assert ep["endpoint"]["id"] == "$troupe" and ep["endpoint"]["state"] == "started", ep
m = {x["method"]: x for x in ep["methods"]}
assert set(m) == {"ping", "node", "endpoints", "endpoint_stats", "connections", "metrics"}, m
assert m["ping"]["calls"] == 70 and m["ping"]["errors"] == 0, m["ping"]
assert m["endpoints"]["calls"] == 1 and m["node"]["calls"] == 1, m
assert m["ping"]["processing_count"] >= 1, m["ping"]  # 1 in 64 timed
p = m["ping"]
assert p["processing_p50_ns"] <= p["processing_p99_ns"] <= p["processing_max_ns"], p
print("json checks passed")
PY

promtool check metrics <"$tmp/metrics.txt" || fail "promtool rejected troupe metrics"
grep -q '^troupe_method_calls_total{endpoint="\$troupe",gateway="troupe_introspect",method="ping"} 70$' \
    "$tmp/metrics.txt" || fail "troupe metrics: no exact ping count"

# /metrics over HTTP (python3 as the client: no curl needed)
python3 - "$MPORT" "$tmp" <<'PY'
import sys, urllib.request, urllib.error
port, tmp = sys.argv[1], sys.argv[2]
r = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
body = r.read().decode()
assert "troupe_endpoint_info{endpoint=\"node\"" in body, body[:500]
open(f"{tmp}/http.txt", "w").write(body)
try:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=10)
    raise SystemExit("/other answered")
except urllib.error.HTTPError as e:
    assert e.code == 404, e.code
print("http checks passed")
PY
promtool check metrics <"$tmp/http.txt" || fail "promtool rejected /metrics"

# Tables for people, and errors
"$TROUPE" ls "$ADDR" | grep -q '^node  *started  *tnode,troupe.stream ' || fail "troupe ls table"
"$TROUPE" stats "$ADDR" | grep -q "^  pid  *$pid\$" || fail "troupe stats table"
set +e
"$TROUPE" stats "$ADDR/nope" 2>"$tmp/err"; rv=$?
"$TROUPE" ls 127.0.0.1:1 2>/dev/null; rv2=$?
"$TROUPE" frobnicate "$ADDR" 2>/dev/null; rv3=$?
set -e
[ $rv -eq 1 ] && grep -q 'no endpoint nope' "$tmp/err" || fail "stats of a missing endpoint: $rv $(cat "$tmp/err")"
[ $rv2 -eq 1 ] || fail "ls of nothing listening: $rv2"
[ $rv3 -eq 2 ] || fail "an unknown command: $rv3"
"$TROUPE" top "$ADDR" --iterations 2 --interval-ms 100 >"$tmp/top-plain.txt" </dev/null \
    || fail "top --iterations 2"
[ "$(grep -c 'troupe top - ' "$tmp/top-plain.txt")" -eq 2 ] || fail "top drew $(grep -c 'troupe top - ' "$tmp/top-plain.txt") screens, not 2"

# troupe top in tmux: its screen, then 'q'
if ! command -v tmux >/dev/null 2>&1; then
    echo "tmux is not installed: the top screen part is skipped"
else
    tmux -L "$sock" new-session -d -s top -x 110 -y 30 \
        "'$TROUPE' top '$ADDR' --iterations 60; echo TOP-EXITED-\$?; sleep 60"
    i=0
    until tmux -L "$sock" capture-pane -p -t top >"$tmp/screen" 2>/dev/null &&
        grep -q '^\$troupe ' "$tmp/screen" && grep -q 'MSG/S' "$tmp/screen"; do
        i=$((i + 1)); [ $i -le 100 ] || fail "top never drew: $(cat "$tmp/screen")"
        sleep 0.1
    done
    "$TROUPE" ping "$ADDR" --count 200 >/dev/null  # traffic for the next refresh's rates
    sleep 2.5
    tmux -L "$sock" capture-pane -p -t top >"$tmp/screen"
    grep -q "^troupe top - $ADDR  troupe [0-9.]*  pid $pid " "$tmp/screen" || fail "top header: $(cat "$tmp/screen")"
    grep -q '^node  *started ' "$tmp/screen" || fail "top endpoint rows: $(cat "$tmp/screen")"
    grep -q '^CONN ' "$tmp/screen" || fail "top connections: $(cat "$tmp/screen")"
    [ -n "${TROUPE_TOP_SCREEN:-}" ] && cp "$tmp/screen" "$TROUPE_TOP_SCREEN"
    tmux -L "$sock" send-keys -t top q
    i=0
    until tmux -L "$sock" capture-pane -p -t top | grep -q 'TOP-EXITED-0'; do
        i=$((i + 1)); [ $i -le 50 ] || fail "q did not end top"
        sleep 0.1
    done
    echo "top screen checks passed; q ended it"
fi

kill -TERM "$pid"
wait "$pid" || fail "troupe-node exited with $?"
pid=
echo "PASS"
