#!/usr/bin/env bash
# troupe-node's instructions per remote tell, deterministic: troupe-node
# under callgrind serves remote_throughput with M1 and then M2 tells (a
# fresh node each time, stopped by PID with SIGTERM so that callgrind
# writes its totals); the difference divided by M2-M1 (start-up and
# shutdown cancel out). The client runs natively. The node side of
# bench/cg_per_op.sh's remote_throughput figure.
#   bench/cg_node.sh BUILD_DIR [M1 M2]   BUILD_DIR holds troupe-bench and troupe-node
# e.g. bench/cg_node.sh build/release 100000 300000
set -euo pipefail
dir=$1 m1=${2:-100000} m2=${3:-300000}
tmp=$(mktemp -d)
node_pid=
cleanup() {
    [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
total() {
    rm -f "$tmp/port" "$tmp/out"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$dir/troupe-node" \
        --listen 127.0.0.1:0 --port-file "$tmp/port" --idle-exit 120 >/dev/null 2>"$tmp/err" &
    node_pid=$!
    for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
    [ -s "$tmp/port" ] || { cat "$tmp/err" >&2; echo "troupe-node did not start" >&2; exit 1; }
    "$dir/troupe-bench" remote_throughput "m=$1" "peer=127.0.0.1:$(cat "$tmp/port")" timeout=300 \
        >/dev/null 2>"$tmp/bench" || { cat "$tmp/bench" >&2; exit 1; }
    kill -TERM "$node_pid"
    wait "$node_pid" || true
    node_pid=
    awk '/^(summary|totals):/ {print $2; exit}' "$tmp/out"
}
a=$(total "$m1")
c=$(total "$m2")
echo "troupe-node remote_throughput m=$m1..$m2: $(( (c - a) * 10 / (m2 - m1) ))e-1 instructions per tell" |
    sed -E 's/ ([0-9]+)([0-9])e-1 / \1.\2 /'
