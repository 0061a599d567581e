/* Asymmetric fences, for a store-load (Dekker) handshake whose two sides
 * run at very different rates: a timer shard's own worker enters its lock
 * twice per ask, everyone else rarely (rpc/shard_lock.h).
 *
 * The frequent side calls tri_fence_light: a compiler barrier only. The
 * rare side calls tri_fence_heavy: membarrier(2) PRIVATE_EXPEDITED, which
 * puts a full barrier into every running thread of the process before it
 * returns. Each pair then orders like two seq_cst fences: if the light
 * side's later load missed the heavy side's earlier store, the heavy
 * side's later load sees the light side's earlier store.
 *
 * The heavy side is dear: 0.05-0.1 us in a loop of its own, but in
 * savina.banking on this 2-vCPU VM its 2546 calls per run cost about 8 ms,
 * some 3 us each (an IPI into a busy guest CPU). Tried for the flow gates' rule 2 too: 8 ns off an ask
 * round trip, but savina.banking mutes ~50 k senders a second across a
 * thousand gates and lost a quarter of its rate, so the gates keep their
 * seq_cst fences.
 *
 * Where membarrier is not available (old kernel, or TROUPE_MEMBARRIER=0 in
 * the environment, for sandboxes that forbid it), both sides are plain
 * seq_cst fences. Under ThreadSanitizer too: it does not model membarrier. */
#ifndef TRI_BASE_FENCE_H
#define TRI_BASE_FENCE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/tsan.h"

/* Set once in a constructor before any troupe call, read-only after. */
extern bool tri_fence_asymmetric;

static inline void tri_fence_light(void)
{
#ifndef TRI_TSAN
    if (tri_fence_asymmetric) {
        /* the heavy side's membarrier is the hardware half */
        atomic_signal_fence(memory_order_seq_cst);
        return;
    }
#endif
    atomic_thread_fence(memory_order_seq_cst);
}

/* Aborts with a message if membarrier, working at load, fails later (a
 * seccomp filter installed after start): a light side may already have
 * skipped its fence, and a lost wake-up would stall silently. */
void tri_fence_heavy(void);

#endif
