#!/usr/bin/env python3
# A/B by CPU time: two (or more) troupe-bench binaries take turns, and each
# run's user+sys CPU time is divided by its operation count; on a shared,
# loaded machine this moves far less than wall time (a preempted worker adds
# wall time, not CPU time). Prints median (min-max) CPU and wall ns per op.
# usage: bench/cpu_ab.py ROUNDS BENCH_A BENCH_B ... -- "WORKLOAD args|OPS" ...
# e.g. bench/cpu_ab.py 5 base/troupe-bench build/release/troupe-bench -- "ask_pingpong workers=1|3000000"
import resource, subprocess, sys, statistics, re
rounds=int(sys.argv[1]); benches=sys.argv[2:sys.argv.index('--')]; specs=sys.argv[sys.argv.index('--')+1:]
res={}
for r in range(rounds):
    for sp in specs:
        args, ops = sp.split('|'); ops=float(ops)
        for b in benches:
            before=resource.getrusage(resource.RUSAGE_CHILDREN)
            out=subprocess.run([b]+args.split(), capture_output=True, text=True)
            after=resource.getrusage(resource.RUSAGE_CHILDREN)
            if out.returncode: print("FAIL", b, args, out.stderr[-300:]); sys.exit(1)
            cpu=(after.ru_utime-before.ru_utime)+(after.ru_stime-before.ru_stime)
            m=re.search(r'ns_per_op=([\d.]+)', out.stdout)
            res.setdefault((sp,b),[]).append((cpu*1e9/ops, float(m.group(1))))
for sp in specs:
    for b in benches:
        v=res[(sp,b)]; c=[x[0] for x in v]; w=[x[1] for x in v]
        print(f"{sp.split('|')[0]:32s} {b:28s} cpu {statistics.median(c):6.1f} ns/op ({min(c):.1f}-{max(c):.1f})  wall {statistics.median(w):6.1f} ns/op ({min(w):.1f}-{max(w):.1f})")
        if '-v' in sys.argv[:2] or __import__('os').environ.get('AB_RUNS'):
            print("    cpu runs:", " ".join(f"{x:.1f}" for x in c))
