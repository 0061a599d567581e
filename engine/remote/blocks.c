/* Remote tells' message blocks: a bounded ring from the I/O thread back to
 * the callers (blocks.h). */
#include "remote/blocks.h"

#include "core/msg.h"

#define MASK (TRI_BLOCKS - 1u)
_Static_assert((TRI_BLOCKS & MASK) == 0, "a power of two");

void tri_blocks_init(tri_blocks *b)
{
    atomic_init(&b->head, 0);
    b->tail = 0;
    for (uint64_t i = 0; i < TRI_BLOCKS; i++) {
        atomic_init(&b->slots[i].seq, i);
        b->slots[i].m = NULL;
    }
}

tr_msg *tri_blocks_take(tri_blocks *b)
{
    /* relaxed: a guess; the CAS below decides. */
    uint64_t pos = atomic_load_explicit(&b->head, memory_order_relaxed);
    for (;;) {
        tri_block_slot *s = &b->slots[pos & MASK];
        /* acquire: pairs with give's release; the block and everything the
         * I/O thread did with it come before our reuse. */
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif < 0)
            return NULL; /* nothing given at this position yet: empty */
        if (dif > 0) {   /* another caller took it: look again */
            pos = atomic_load_explicit(&b->head, memory_order_relaxed);
            continue;
        }
        /* relaxed: the slot's seq orders the block, not head. */
        if (atomic_compare_exchange_weak_explicit(&b->head, &pos, pos + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            tr_msg *m = s->m;
            /* release: our read of s->m before the I/O thread reuses the
             * slot (pairs with give's acquire load of seq). */
            atomic_store_explicit(&s->seq, pos + TRI_BLOCKS, memory_order_release);
            return m;
        }
    }
}

void tri_blocks_give(tri_blocks *b, tr_msg *m)
{
    if (tri_msg_origin(m) || m->size != TRI_BLOCK_PAYLOAD) {
        tr_msg_free(m);
        return;
    }
    tri_block_slot *s = &b->slots[b->tail & MASK];
    /* acquire: pairs with take's release; the caller that emptied the
     * slot has read it. */
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != b->tail) {
        tr_msg_free(m); /* full: TRI_BLOCKS kept already */
        return;
    }
    s->m = m;
    /* release: publishes s->m (pairs with take's acquire). */
    atomic_store_explicit(&s->seq, b->tail + 1, memory_order_release);
    b->tail++;
}

void tri_blocks_destroy(tri_blocks *b)
{
    for (tr_msg *m; (m = tri_blocks_take(b));)
        tr_msg_free(m);
}
