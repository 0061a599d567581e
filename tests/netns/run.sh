#!/usr/bin/env bash
# Three hosts in network namespaces (hosts.sh: veth + tc netem, or TUN +
# tunem where the kernel has no sch_netem): 10 ms delay (+-2 ms) each way,
# so 20 ms round trips, 1% loss and 5% reordering. troupe-nodes run on b
# and c (started by PID, ended by PID); the driver (netns_driver.c) runs
# on a, and takes b's link down (the partition) and up (the heal).
#
#   tests/netns/run.sh TROUPE_NODE NETNS_DRIVER TUNEM [M [W]]
# Needs root; elsewhere it exits 77 (ctest: skipped) saying why. Bounded:
# the driver runs under `timeout`, and the namespaces go on any exit.
set -uo pipefail
node=$1 driver=$2 tunem=$3
shift 3
# shellcheck source=hosts.sh
. "$(dirname "$0")/hosts.sh"

trap hosts_down EXIT
trap 'exit 1' INT TERM
hosts_up || exit 1

for h in b c; do
    addr=10.77.0.$([[ $h == b ]] && echo 2 || echo 3)
    # A namespaced address is not loopback: the node must be told it may
    # listen there without authentication (the test network is ours).
    ip netns exec "$p$h" "$node" --listen "$addr:7000" --idle-exit 300 --allow-insecure \
        >"${TMPDIR:-/tmp}/$p$h.log" 2>&1 &
    pids+=($!)
done

ip netns exec "${p}a" timeout 240 "$driver" 10.77.0.2:7000 10.77.0.3:7000 \
    "$partition_cmd" "$heal_cmd" "$@"
rc=$?
echo "netns: emulation by $emu; counters: $(emu_stats)"
if ((rc != 0)); then
    echo "netns: the driver failed ($rc); node logs:"
    cat "${TMPDIR:-/tmp}/$p"{b,c}.log
fi
rm -f "${TMPDIR:-/tmp}/$p"{b,c}.log "${TMPDIR:-/tmp}/$p.tunem.log"
exit $rc
