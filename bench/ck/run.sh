#!/bin/sh
# Runs the troupe-ckbench configurations quoted in the issue-7 note (item 6).
# Usage: bench/ck/run.sh [path/to/troupe-ckbench]   (run it under
# `flock /tmp/troupe-heavy.lock` on a shared machine). Exit 1 on any mismatch.
set -e
B=${1:-build/release/troupe-ckbench}
R=${REPS:-7}
# timer shard lock: own shard (uncontended), 2 workers, 2 workers + the timer
# thread on 2 cores (oversubscribed: ticket/MCS hand the lock to a preempted
# waiter), and with private work between sections (the realistic mix)
"$B" spinlock threads=1 n=20000000 reps=$R
"$B" spinlock threads=2 n=2000000 reps=$R
"$B" spinlock threads=2 n=2000000 outside=200 reps=$R
"$B" spinlock threads=3 n=1000000 reps=$R deadline_ms=2000
# inject try-lock: 2 workers hammering, and with work between tries
"$B" trylock threads=2 n=10000000 reps=$R
"$B" trylock threads=2 n=5000000 outside=200 reps=$R
# remote-free stack: 1 and 2 producers, the main thread pops all
"$B" stack threads=1 n=5000000 reps=$R
"$B" stack threads=2 n=2500000 reps=$R
# timer wheel bitmap, parking, registry hash
"$B" bitmap n=2000000 reps=$R
"$B" park n=100000 reps=$R
"$B" hash n=20000000 reps=$R
