/* The owner's side of the shard lock's mode (shard_lock.h). */
#include "rpc/shard_lock.h"

void tri_shard_lock_init(tri_shard_lock *l, bool has_owner)
{
    atomic_init(&l->lock, 0);
    atomic_init(&l->foreign_in, 0);
    atomic_init(&l->owner_in, 0);
    atomic_init(&l->biased, has_owner);
    atomic_init(&l->handshakes, 0);
    atomic_init(&l->foreign_entries, 0);
    l->has_owner = has_owner;
    l->owner_biased = has_owner;
    l->owner_entries = l->plain_entries = l->seen_handshakes = l->seen_foreign = 0;
    l->rebias_after = TRI_SHARD_ADAPT_WINDOW;
    l->revocations = l->rebiases = 0;
}

/* Under `lock`, so that no foreign holder is inside either mode's
 * protocol; `lock`'s release publishes the mode to the next taker. */
static void set_mode(tri_shard_lock *l, bool biased)
{
    tri_shard_take(l);
    /* relaxed: read under `lock` (or by us). */
    atomic_store_explicit(&l->biased, biased, memory_order_relaxed);
    l->seen_handshakes = atomic_load_explicit(&l->handshakes, memory_order_relaxed);
    l->seen_foreign = atomic_load_explicit(&l->foreign_entries, memory_order_relaxed);
    tri_shard_give(l);
    l->owner_biased = biased;
    l->plain_entries = 0;
}

void tri_shard_revoke(tri_shard_lock *l)
{
    set_mode(l, false);
    l->revocations++;
    if (l->rebias_after < TRI_SHARD_REBIAS_MAX)
        l->rebias_after *= 2;
}

void tri_shard_adapt(tri_shard_lock *l)
{
    if (l->owner_biased) { /* a quiet window: the next revocation waits less */
        /* relaxed: a count (as in tri_shard_lock_owner). */
        l->seen_handshakes = atomic_load_explicit(&l->handshakes, memory_order_relaxed);
        if (l->rebias_after > TRI_SHARD_ADAPT_WINDOW)
            l->rebias_after /= 2;
        return;
    }
    l->plain_entries += TRI_SHARD_ADAPT_WINDOW;
    if (l->plain_entries < l->rebias_after)
        return;
    /* relaxed: a count of entries made under `lock`. */
    uint32_t foreign = atomic_load_explicit(&l->foreign_entries, memory_order_relaxed);
    uint32_t allowed = TRI_SHARD_REVOKE_AT * (l->plain_entries / TRI_SHARD_ADAPT_WINDOW);
    if (foreign - l->seen_foreign <= allowed) {
        set_mode(l, true);
        l->rebiases++;
        return;
    }
    l->seen_foreign = foreign;
    l->plain_entries = 0;
}
