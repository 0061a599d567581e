/* The timer shard's lock, biased towards the worker that owns the shard
 * while the others leave it alone.
 *
 * A worker arms every ask's deadline on its own shard and, when the answer
 * comes home, usually cancels it there: two lock round trips per ask. The
 * others (the timer thread's passes, a cancel on another worker after the
 * asker moved) are rare in a ping-pong and common in a fan-in. So:
 *
 *   Biased: the owner enters with a flag and a compiler barrier, and the
 *   others pay for both sides with membarrier(2), an asymmetric Dekker
 *   handshake (base/fence.h):
 *     owner:   owner_in = 1; light fence; enter if foreign_in == 0
 *     others:  take `lock`; foreign_in = 1; heavy fence; wait owner_in == 0
 *   If the owner's load missed foreign_in, the other's load sees owner_in
 *   and waits; an owner that sees foreign_in backs out (owner_in = 0) and
 *   waits, so they never wait for each other.
 *
 *   Plain: everyone takes `lock` (an exchange).
 *
 * Only the owner changes the mode, holding `lock`, and the others read it
 * holding `lock`, so nobody is half-way through the other mode's protocol.
 * The owner goes plain as soon as it sees more than REVOKE_AT handshakes
 * within one window of ADAPT_WINDOW of its own entries, so a burst of
 * foreign entries pays at most REVOKE_AT + 1 membarriers. In plain mode it
 * counts the others' entries over `rebias_after` of its own, and goes
 * biased again when they came at most at that same rate. Each revocation
 * doubles `rebias_after` (to REBIAS_MAX) and each quiet biased window
 * halves it, so a steady stream of foreign entries (a fan-in, where the
 * answers come home to whichever worker runs the asker now) stays plain.
 *
 * Measured (troupe-bench, 2 vCPUs): ask_pingpong workers=1 110 -> 98 ns per
 * round trip; with biasing alone, ask_fanin fell to 12% of before, which
 * the revocation is for (with it, 104%). The timer thread's pass takes
 * each biased shard with a membarrier of its own: on many cores one
 * membarrier for all shards of a pass would do. */
#ifndef TRI_RPC_SHARD_LOCK_H
#define TRI_RPC_SHARD_LOCK_H

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/fence.h"

enum {
    TRI_SHARD_ADAPT_WINDOW = 1024,
    TRI_SHARD_REVOKE_AT = 4,
    TRI_SHARD_REBIAS_MAX = 1 << 22,
};

typedef struct tri_shard_lock {
    alignas(64) _Atomic uint32_t lock; /* plain mode's lock; the others' in both */
    _Atomic uint32_t foreign_in;       /* biased: one of the others holds or enters */
    _Atomic uint32_t owner_in;         /* biased: the owner holds or enters */
    _Atomic uint32_t biased;           /* written by the owner holding `lock` */
    _Atomic uint32_t handshakes;       /* the others' membarriers (under `lock`) */
    _Atomic uint32_t foreign_entries;  /* the others' entries (under `lock`) */
    bool has_owner;
    /* the owner's own */
    bool owner_biased; /* `biased` as the owner last wrote it */
    uint32_t owner_entries, plain_entries, seen_handshakes, seen_foreign, rebias_after;
    uint32_t revocations, rebiases; /* statistics (tests/stress/shard_lock.c) */
} tri_shard_lock;

/* ck_pr_stall() is this same pause instruction. */
static inline void tri_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The holder may have been preempted: on 2 cores, yield after a while. */
static inline void tri_spin_wait(unsigned *spins)
{
    if (++*spins > 128)
        sched_yield();
    else
        tri_cpu_relax();
}

void tri_shard_lock_init(tri_shard_lock *l, bool has_owner);

/* Not a ck_spinlock: with 2 workers and the timer thread on 2 cores the
 * yield gave 61-66 M locks/s against ck_spinlock_fas's 27-40 M and
 * ticket/MCS's 1-10 k (troupe-ckbench spinlock threads=3, bench/ck/run.sh). */
static inline void tri_shard_take(tri_shard_lock *l)
{
    unsigned spins = 0;
    /* acquire: pairs with tri_shard_give's release. */
    while (atomic_exchange_explicit(&l->lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&l->lock, memory_order_relaxed))
            tri_spin_wait(&spins);
}

/* release: the holder's writes, for the next taker's acquire. */
static inline void tri_shard_give(tri_shard_lock *l)
{
    atomic_store_explicit(&l->lock, 0, memory_order_release);
}

/* The owner, not holding: its window's bookkeeping, which may flip the
 * mode (shard_lock.c). */
void tri_shard_adapt(tri_shard_lock *l);
/* The owner, not holding, biased: goes plain. */
void tri_shard_revoke(tri_shard_lock *l);

/* The owner only (the shard's own worker). */
static inline void tri_shard_lock_owner(tri_shard_lock *l)
{
    if (++l->owner_entries % TRI_SHARD_ADAPT_WINDOW == 0)
        tri_shard_adapt(l);
    /* relaxed: a count; the handshakes themselves are ordered by `lock`. */
    if (l->owner_biased &&
        atomic_load_explicit(&l->handshakes, memory_order_relaxed) - l->seen_handshakes >
            TRI_SHARD_REVOKE_AT)
        tri_shard_revoke(l);
    if (!l->owner_biased) {
        tri_shard_take(l);
        return;
    }
    for (unsigned spins = 0;;) {
        /* relaxed: the light fence orders it before the load below. */
        atomic_store_explicit(&l->owner_in, 1, memory_order_relaxed);
        tri_fence_light();
        /* acquire: a foreign holder's writes (pairs with the release in
         * tri_shard_unlock_foreign). */
        if (!atomic_load_explicit(&l->foreign_in, memory_order_acquire))
            return;
        /* release: a foreign holder that reads this 0 sees our earlier
         * sections, as from tri_shard_unlock_owner. */
        atomic_store_explicit(&l->owner_in, 0, memory_order_release);
        while (atomic_load_explicit(&l->foreign_in, memory_order_relaxed))
            tri_spin_wait(&spins);
    }
}

static inline void tri_shard_unlock_owner(tri_shard_lock *l)
{
    if (!l->owner_biased)
        tri_shard_give(l);
    else /* release: our writes, for the next foreign holder's acquire. */
        atomic_store_explicit(&l->owner_in, 0, memory_order_release);
}

static inline void tri_shard_lock_foreign(tri_shard_lock *l)
{
    tri_shard_take(l);
    if (!l->has_owner)
        return;
    /* relaxed: under `lock`, like their writers. */
    atomic_store_explicit(&l->foreign_entries,
                          atomic_load_explicit(&l->foreign_entries, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (!atomic_load_explicit(&l->biased, memory_order_relaxed))
        return;
    /* relaxed: the heavy fence orders it before the load below. */
    atomic_store_explicit(&l->foreign_in, 1, memory_order_relaxed);
    tri_fence_heavy();
    atomic_store_explicit(&l->handshakes,
                          atomic_load_explicit(&l->handshakes, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    /* acquire: the owner's writes (pairs with its releases of owner_in). */
    for (unsigned spins = 0; atomic_load_explicit(&l->owner_in, memory_order_acquire);)
        tri_spin_wait(&spins);
}

static inline void tri_shard_unlock_foreign(tri_shard_lock *l)
{
    /* relaxed: the mode cannot change while we hold `lock`. */
    if (l->has_owner && atomic_load_explicit(&l->biased, memory_order_relaxed))
        /* release: our writes, for the owner's acquire. */
        atomic_store_explicit(&l->foreign_in, 0, memory_order_release);
    tri_shard_give(l);
}

#endif
