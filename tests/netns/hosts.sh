# shellcheck shell=bash
# Sourced by run.sh and bench.sh: three hosts a, b, c in network
# namespaces this shell creates (never the host's own network), addresses
# 10.77.0.1-3/24 inside them only, joined one of two ways:
#
#   netem  veth pairs into a bridge in a fourth namespace (the switch);
#          each host's eth0 gets tc netem (NETEM_ARGS). The partition
#          takes b's switch port down.
#   tunem  (kernels without sch_netem) each host has a TUN device, tun0,
#          and tunem (tunem.c, started here by PID) carries packets
#          between them with the same delay, loss and reordering. The
#          partition is tunem's `down b`.
#
# TROUPE_NETNS_EMU=netem|tunem picks one (default: netem where the kernel
# has it, else tunem); TROUPE_NETNS_NETEM=required fails instead of using
# tunem. Before sourcing: $tunem (the binary), optionally $impair=0 (no
# delay, loss or reordering: a baseline). After hosts_up: $p (the
# namespace prefix), $emu (which was used), $partition_cmd and $heal_cmd
# (shell commands), $pids (processes to end). hosts_down ends every PID
# in $pids and deletes the namespaces (run.sh and bench.sh trap it).

# 10 ms each way (+-2 ms), so 20 ms round trips; 1% loss; 5% reordered.
NETEM_ARGS="delay 10ms 2ms loss 1% reorder 5% 50%"
TUNEM_ARGS="-d 10 -j 2 -l 0.01 -r 0.05"
# The hosts' links' MTU (TROUPE_NETNS_MTU, default 65535, loopback's size
# less one): TCP's first window is 10 segments, so at 1500 bytes a new
# connection starts at 14 KiB a round trip where loopback starts at 640
# KiB, and a 20 ms path spends ~4 more round trips in slow start (rtt20 in
# bench.sh: 2.5 M tells/s at 1500, 3.4 M at 65535). Either way tunem and
# veth carry TSO packets of up to 64 KiB.
netns_mtu=${TROUPE_NETNS_MTU:-65535}
# Each host's TCP buffers (min default max, bytes; per namespace), as a
# deployment on a long fat path tunes them (README "Real networks"): 20 ms
# at loopback's rate (~0.55 GB/s) keeps ~11 MB in flight, above the
# kernel's 4 MiB tcp_wmem ceiling (rtt20: 1.2 M tells/s), and a 128 KiB
# default receive buffer opens with a 64 KiB window that grows once a
# round trip (rtt20: 2.2 M tells/s).
TCP_WMEM="4096 16384 67108864"
TCP_RMEM="4096 4194304 67108864"

skip() { echo "netns test SKIPPED: $*"; exit 77; }

p= pids=() emu=


hosts_down() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    pids=()
    [[ -n $p ]] || return 0
    for n in a b c s; do ip netns del "$p$n" 2>/dev/null; done
    rm -f "${TMPDIR:-/tmp}/$p.tunem.sock"
}

# Does this kernel have sch_netem? Asked in the switch namespace's lo.
netem_works() {
    tc -n "${p}s" qdisc add dev lo root netem delay 1ms 2>/dev/null &&
        tc -n "${p}s" qdisc del dev lo root 2>/dev/null
}

hosts_up() {
    ((EUID == 0)) || skip "it needs root for ip netns, tc and TUN devices (CI runs it as root)"
    command -v ip >/dev/null && command -v tc >/dev/null || skip "iproute2 (ip, tc) is not installed"
    p=trn$$ # this run's namespaces: trn<pid>{s,a,b,c}
    pids=()
    ip netns add "${p}s" 2>/dev/null || skip "ip netns add does not work here"
    emu=${TROUPE_NETNS_EMU:-}
    if [[ -z $emu ]]; then
        if netem_works; then emu=netem; else emu=tunem; fi
    fi
    if [[ $emu == netem ]] && ! netem_works; then
        echo "netns: TROUPE_NETNS_EMU=netem, but this kernel has no netem qdisc"
        return 1
    fi
    if [[ $emu == tunem && ${TROUPE_NETNS_NETEM:-} == required ]]; then
        echo "netns: netem is required (TROUPE_NETNS_NETEM=required) and this kernel has none"
        return 1
    fi
    if [[ $emu == netem ]]; then
        ip -n "${p}s" link add br0 type bridge && ip -n "${p}s" link set br0 up || return 1
    fi
    local i=0 h specs=()
    for h in a b c; do
        i=$((i + 1))
        ip netns add "$p$h" || return 1
        ip -n "$p$h" link set lo up || return 1
        ip netns exec "$p$h" sysctl -qw net.ipv4.tcp_wmem="$TCP_WMEM" net.ipv4.tcp_rmem="$TCP_RMEM" ||
            return 1
        if [[ $emu == netem ]]; then
            ip -n "$p$h" link add eth0 mtu "$netns_mtu" type veth \
                peer name "${h}sw" mtu "$netns_mtu" netns "${p}s" || return 1
            ip -n "$p$h" addr add "10.77.0.$i/24" dev eth0 || return 1
            ip -n "$p$h" link set eth0 up || return 1
            ip -n "${p}s" link set "${h}sw" master br0 && ip -n "${p}s" link set "${h}sw" up ||
                return 1
            if [[ ${impair:-1} == 1 ]]; then
                # shellcheck disable=SC2086
                tc -n "$p$h" qdisc add dev eth0 root netem $NETEM_ARGS || return 1
            fi
        else
            [[ -c /dev/net/tun ]] || skip "no netem qdisc and no /dev/net/tun for tunem"
            ip -n "$p$h" tuntap add dev tun0 mode tun || skip "cannot make a TUN device here"
            ip -n "$p$h" addr add "10.77.0.$i/24" dev tun0 || return 1
            ip -n "$p$h" link set tun0 mtu "$netns_mtu" txqueuelen 10000 up || return 1
            specs+=("$p$h=10.77.0.$i")
        fi
    done
    if [[ $emu == netem ]]; then
        partition_cmd="ip -n ${p}s link set bsw down"
        heal_cmd="ip -n ${p}s link set bsw up"
        echo "netns: hosts ${p}a ${p}b ${p}c on 10.77.0.0/24 through a bridge in ${p}s;" \
            "impairment by tc netem: $([[ ${impair:-1} == 1 ]] && echo "$NETEM_ARGS" || echo none)"
        return 0
    fi
    local sock=${TMPDIR:-/tmp}/$p.tunem.sock args=$TUNEM_ARGS log=${TMPDIR:-/tmp}/$p.tunem.log
    [[ ${impair:-1} == 1 ]] || args="-d 0"
    # shellcheck disable=SC2086
    "$tunem" $args -c "$sock" "${specs[@]}" >"$log" 2>&1 &
    pids+=($!)
    for ((i = 0; i < 100; i++)); do # ready within 10 s
        grep -q "tunem: ready" "$log" 2>/dev/null && break
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "tunem: ready" "$log" || { echo "netns: tunem did not start:"; cat "$log"; return 1; }
    partition_cmd="$tunem ctl $sock down b"
    heal_cmd="$tunem ctl $sock up b"
    echo "netns: this kernel has no sch_netem (or TROUPE_NETNS_EMU=tunem): the hosts are" \
        "joined by tunem, the userspace emulator (tests/netns/tunem.c), over TUN devices"
    echo "netns: hosts ${p}a ${p}b ${p}c on 10.77.0.0/24; impairment by tunem: $(sed -n 's/^tunem: ready: //p' "$log")"
}

# tunem's counters (received, delivered, lost, ...) while it runs.
emu_stats() {
    [[ $emu == tunem ]] && "$tunem" ctl "${TMPDIR:-/tmp}/$p.tunem.sock" stats
    [[ $emu == netem ]] && tc -n "${p}b" -s qdisc show dev eth0 | head -3
    return 0
}
