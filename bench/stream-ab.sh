#!/usr/bin/env bash
# remote_stream of an older troupe-bench (its default, a copying write) and of
# a newer one with zc=0 (tr_stream_write) and zc=1 (tr_stream_write_zc), in
# turns, one run each per round, so that a change in machine load (raw TCP
# alone swings 2x between periods on 2 vCPUs) falls on all three. Prints the
# median (min-max) of each line the workload reports. Usage:
#   bench/stream-ab.sh OLD_BENCH NEW_BENCH ROUNDS
# e.g. bench/stream-ab.sh /tmp/old/build/release/troupe-bench build/release/troupe-bench 7
set -euo pipefail
old=$1 new=$2 rounds=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
    "$old" remote_stream 2>/dev/null | sed 's/^/O /' >>"$out"
    "$new" remote_stream zc=0 2>/dev/null | sed 's/^/C /' >>"$out"
    "$new" remote_stream zc=1 2>/dev/null | sed 's/^/Z /' >>"$out"
done
python3 - "$out" <<'PY'
import collections, re, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r'([OCZ]) RESULT impl=troupe workload=(\S+) param=\S+ rate=([\d.]+)', line)
    if m:
        d[(m.group(2), m.group(1))].append(float(m.group(3)))
names = {'O': 'old', 'C': 'zc=0', 'Z': 'zc=1'}
for w in sorted({w for (w, _) in d}):
    cols = [f"{names[k]} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
            for k in 'OCZ' for v in [d.get((w, k), [])] if v]
    print(f"{w}: " + "  ".join(cols) + f"  (n={len(d.get((w, 'C'), []))})")
PY
