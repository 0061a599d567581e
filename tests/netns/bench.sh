#!/usr/bin/env bash
# remote_throughput across the namespaced hosts of hosts.sh: troupe-bench
# on host a, a troupe-node on host b (started and ended by PID), once per
# impairment profile, each run REPS times (troupe-bench's table gives the
# median and min-max):
#
#   plain     no delay, loss or reordering (what the namespaces and the
#             emulator cost by themselves)
#   rtt20     10 ms each way: 20 ms round trips
#   impaired  20 ms round trips, +-2 ms jitter, 1% loss, 5% reordering
#             (run.sh's network)
#
#   tests/netns/bench.sh TROUPE_BENCH TROUPE_NODE TUNEM [REPS [KEY=VALUE...]]
# The keys go to troupe-bench (default m=1000000); TROUPE_NETNS_PROFILES
# (default "plain rtt20 impaired") picks profiles. Compare with loopback:
#   troupe-bench remote_throughput m=1000000 reps=REPS
# The hosts are set as hosts.sh says (MTU 65535, or TROUPE_NETNS_MTU; TCP
# buffers up to 64 MiB); each rep is a new connection, so slow start is in
# every figure unless warm=N (N tells off the clock first). On the 2-core
# machine, medians of 18 in turns (README "Real networks"): loopback 6.6 M
# tells/s, plain 5.7 M, rtt20 3.5 M (54%), impaired 0.7 M; warm=1000000:
# loopback 6.2 M, rtt20 5.7 M (93%).
# Needs root (exit 77 otherwise, saying why).
set -uo pipefail
bench=$1 node=$2 tunem=$3
reps=${4:-5}
shift $(($# < 4 ? $# : 4))
keys=("$@")
((${#keys[@]})) || keys=(m=1000000)
# shellcheck source=hosts.sh
. "$(dirname "$0")/hosts.sh"

trap hosts_down EXIT
trap 'exit 1' INT TERM
hosts_up || exit 1

portf=${TMPDIR:-/tmp}/$p.bench-node.port
ip netns exec "${p}b" "$node" --listen 10.77.0.2:7000 --idle-exit 600 --allow-insecure \
    --port-file "$portf" >"${TMPDIR:-/tmp}/$p.bench-node.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do # listening within 10 s
    [[ -s $portf ]] && break
    sleep 0.1
done
[[ -s $portf ]] || { echo "netns bench: troupe-node did not start"; exit 1; }

profile() { # name delay_ms jitter_ms loss reorder
    if [[ $emu == tunem ]]; then
        "$tunem" ctl "${TMPDIR:-/tmp}/$p.tunem.sock" set delay="$2" jitter="$3" loss="$4" \
            reorder="$5" >/dev/null || return 1
    else
        local h q="delay ${2}ms ${3}ms loss $(awk "BEGIN{print $4 * 100}")% reorder $(awk "BEGIN{print $5 * 100}")% 50%"
        for h in a b c; do
            tc -n "$p$h" qdisc del dev eth0 root 2>/dev/null
            # shellcheck disable=SC2086
            tc -n "$p$h" qdisc add dev eth0 root netem $q || return 1
        done
    fi
}

rc=0
for spec in "plain 0 0 0 0" "rtt20 10 0 0 0" "impaired 10 2 0.01 0.05"; do
    [[ " ${TROUPE_NETNS_PROFILES:-plain rtt20 impaired} " == *" ${spec%% *} "* ]] || continue
    # shellcheck disable=SC2086
    set -- $spec
    profile "$@" || { echo "netns bench: cannot set profile $1"; exit 1; }
    echo "==> netns bench ($emu): profile $1: delay $2 ms each way, jitter $3 ms, loss $4," \
        "reorder $5: troupe-bench remote_throughput peer=10.77.0.2:7000 reps=$reps ${keys[*]}"
    ip netns exec "${p}a" timeout 900 "$bench" remote_throughput peer=10.77.0.2:7000 \
        reps="$reps" timeout=600 "${keys[@]}" 2>&1 | sed "s/^/[$1] /" || rc=1
    echo "[$1] emulator: $(emu_stats)"
done
rm -f "${TMPDIR:-/tmp}/$p.bench-node.log" "$portf" "${TMPDIR:-/tmp}/$p.tunem.log"
exit $rc
