#!/usr/bin/env bash
# Instructions per operation of a troupe-bench workload, deterministic: two
# runs under callgrind with KEY=M1 and KEY=M2, the difference of their
# totals divided by M2-M1 (set-up and teardown cancel out). For comparing
# builds on a noisy machine, beside bench/ab.sh's wall-clock turns.
#   bench/cg_per_op.sh BENCH WORKLOAD KEY M1 M2 [key=value ...]
# e.g. bench/cg_per_op.sh build/release/troupe-bench tell_fanin m 100000 200000 p=1 workers=1
set -euo pipefail
b=$1 w=$2 k=$3 m1=$4 m2=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
total() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$b" "$w" "$k=$1" "${@:2}" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    awk '/^(summary|totals):/ {print $2; exit}' "$tmp/out"
}
a=$(total "$m1" "$@")
c=$(total "$m2" "$@")
echo "$w $* $k=$m1..$m2: $(( (c - a) * 10 / (m2 - m1) ))e-1 instructions per op" |
    sed -E 's/ ([0-9]+)([0-9])e-1 / \1.\2 /'
