#!/usr/bin/env bash
# fanin p=1 and p=2 beside Go (../shared/peers, make -C ../shared/peers build/go_bench):
# Go, troupe-bench A and troupe-bench B take turns, one run each, so a change in
# machine load falls on all three; prints medians (min-max), every run, and the
# ratios to Go. Usage: bench/fanin-go.sh A_BENCH B_BENCH ROUNDS
set -euo pipefail
a=$1 b=$2 rounds=$3
G=${GO_BENCH:-$(dirname "$0")/../../shared/peers/build/go_bench}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
  for p in 1 2; do
    m=$((12000000 / p))
    $G fanin $p $m 2>/dev/null | sed 's/^/G /' >>"$out"
    $a fanin p=$p m=$m 2>/dev/null | sed 's/^/A /' >>"$out"
    $b fanin p=$p m=$m 2>/dev/null | sed 's/^/B /' >>"$out"
  done
done
python3 - "$out" <<'PY'
import collections, re, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r'([GAB]) RESULT impl=\S+ workload=(\S+) param=(\S+) rate=([\d.]+)', line)
    if m: d[(m.group(3), m.group(1))].append(float(m.group(4)))
for p in sorted({p for (p, _) in d}):
    med = {k: statistics.median(d[(p, k)]) for k in 'GAB'}
    s = ' '.join(f"{k} {med[k]/1e6:.2f}M ({min(d[(p,k)])/1e6:.2f}-{max(d[(p,k)])/1e6:.2f})" for k in 'GAB')
    print(f"fanin {p}: {s}  A/G {med['A']/med['G']:.2f}x B/G {med['B']/med['G']:.2f}x (n={len(d[(p,'G')])})")
    for k in 'GAB': print('   ', k, ' '.join(f"{x/1e6:.1f}" for x in d[(p,k)]))
PY
