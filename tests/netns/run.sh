#!/usr/bin/env bash
# Three hosts in network namespaces this script creates (never the host's
# own network): a, b, c, each with a veth into a bridge in a fourth
# namespace (the switch), addresses 10.77.0.1-3/24 inside them only. Each
# host's link gets netem: 10 ms delay (+-2 ms jitter) each way, so 20 ms
# round trips, 1% loss and 5% reordering. troupe-nodes run on b and c
# (started by PID, ended by PID); the driver (netns_driver.c) runs on a,
# and takes b's switch port down (the partition) and up (the heal).
#
#   tests/netns/run.sh TROUPE_NODE NETNS_DRIVER [M [W]]
# Needs root; elsewhere it exits 77 (ctest: skipped) saying why. Bounded:
# the driver runs under `timeout`, and the namespaces go on any exit.
set -uo pipefail
node=$1 driver=$2
shift 2

skip() { echo "netns test SKIPPED: $*"; exit 77; }
((EUID == 0)) || skip "it needs root for ip netns and tc (CI runs it as root)"
command -v ip >/dev/null && command -v tc >/dev/null || skip "iproute2 (ip, tc) is not installed"

p=trn$$ # this run's namespaces: trn<pid>{s,a,b,c}
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    for n in a b c s; do ip netns del "$p$n" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "${p}s" 2>/dev/null || skip "ip netns add does not work here"
ip -n "${p}s" link add br0 type bridge || exit 1
ip -n "${p}s" link set br0 up || exit 1
i=0
for h in a b c; do
    i=$((i + 1))
    ip netns add "$p$h" || exit 1
    ip -n "$p$h" link add eth0 type veth peer name "${h}sw" netns "${p}s" || exit 1
    ip -n "$p$h" addr add "10.77.0.$i/24" dev eth0 || exit 1
    ip -n "$p$h" link set lo up && ip -n "$p$h" link set eth0 up || exit 1
    ip -n "${p}s" link set "${h}sw" master br0 && ip -n "${p}s" link set "${h}sw" up || exit 1
    if ! tc -n "$p$h" qdisc add dev eth0 root netem delay 10ms 2ms loss 1% reorder 5% 50% \
        2>/dev/null; then
        # Some kernels (a minimal VM's) have no sch_netem: the partition,
        # heal and duplicate checks still run, on an unimpaired network.
        [[ ${TROUPE_NETNS_NETEM:-} == required ]] && { echo "netns: netem is required"; exit 1; }
        netem=0
    fi
done
if ((${netem:-1})); then
    echo "netns: hosts ${p}a ${p}b ${p}c on 10.77.0.0/24 via ${p}s; netem 10 ms each way (20 ms RTT), 1% loss, reordering"
else
    echo "netns: WARNING: this kernel has no netem qdisc (tc: 'Specified qdisc kind is unknown');"
    echo "netns: running on an unimpaired namespaced network: no delay, loss or reordering"
fi

for h in b c; do
    addr=10.77.0.$([[ $h == b ]] && echo 2 || echo 3)
    # A namespaced address is not loopback: the node must be told it may
    # listen there without authentication (the test network is ours).
    ip netns exec "$p$h" "$node" --listen "$addr:7000" --idle-exit 300 --allow-insecure \
        >"${TMPDIR:-/tmp}/$p$h.log" 2>&1 &
    pids+=($!)
done

ip netns exec "${p}a" timeout 240 "$driver" 10.77.0.2:7000 10.77.0.3:7000 \
    "ip -n ${p}s link set bsw down" "ip -n ${p}s link set bsw up" "$@"
rc=$?
if ((rc != 0)); then
    echo "netns: the driver failed ($rc); node logs:"
    cat "${TMPDIR:-/tmp}/$p"{b,c}.log
fi
rm -f "${TMPDIR:-/tmp}/$p"{b,c}.log
exit $rc
