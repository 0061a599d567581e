#!/usr/bin/env bash
# A/B in one session: two troupe-bench binaries take turns, one run each,
# so a change in machine load falls on both; prints median (min-max) per
# workload and the ratio B/A. Usage:
#   bench/ab.sh A_BENCH B_BENCH ROUNDS "WORKLOAD [key=value...]" ...
# e.g. bench/ab.sh /tmp/base/build/release/troupe-bench build/release/troupe-bench 5 \
#        "remote_throughput m=1000000" "ask_pingpong"
# (an empty workload string runs troupe-bench's default local set, 5 reps each)
set -euo pipefail
a=$1 b=$2 rounds=$3
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
    for w in "$@"; do
        # shellcheck disable=SC2086
        "$a" $w 2>/dev/null | sed 's/^/A /; s/,tls=none//; s/,warm=0//' >>"$out"
        # shellcheck disable=SC2086
        "$b" $w 2>/dev/null | sed 's/^/B /; s/,tls=none//; s/,warm=0//' >>"$out"
    done
done
python3 - "$out" <<'PY'
import collections, re, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r'([AB]) RESULT impl=troupe workload=(\S+) param=(\S+) rate=([\d.]+)', line)
    if m:
        d[(m.group(2), m.group(3), m.group(1))].append(float(m.group(4)))
for w, p in sorted({(w, p) for (w, p, _) in d}):
    A, B = d.get((w, p, 'A'), []), d.get((w, p, 'B'), [])
    if A and B:
        ma, mb = statistics.median(A), statistics.median(B)
        print(f"{w} {p}: A {ma:.4g} ({min(A):.3g}-{max(A):.3g}) B {mb:.4g} ({min(B):.3g}-{max(B):.3g}) "
              f"B/A {100 * mb / ma:.0f}% (n={len(A)}/{len(B)})")
PY
