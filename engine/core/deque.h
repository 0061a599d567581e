/* Chase–Lev work-stealing deque of actor pointers, fixed capacity.
 *
 * The owner pushes and pops at the bottom (LIFO); thieves steal at the top
 * (FIFO). Follows Lê, Pop, Cohen, Zappa Nardelli, "Correct and Efficient
 * Work-Stealing for Weak Memory Models" (PPoPP 2013), with the fence-based
 * publication replaced by release/acquire on `bottom` so ThreadSanitizer sees
 * the hand-off. The one race that matters, owner pop vs. thief steal of the
 * last item, is decided by a seq_cst CAS on `top`; the owner's seq_cst fence
 * between writing `bottom` and reading `top` pairs with the thief's fence
 * between reading `top` and `bottom` (store-load ordering on both sides).
 * Full: push fails and the caller hands the item elsewhere (inject queue).
 * Hand-written: ck 0.7.1 has no work-stealing deque (DEPS.md).
 *
 *   operation   may run concurrently with
 *   push, pop   steal (owner only; push and pop exclude each other)
 *   steal       push, pop, steal
 */
#ifndef TRI_CORE_DEQUE_H
#define TRI_CORE_DEQUE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TRI_DEQUE_CAP 4096 /* power of two */

typedef struct tri_deque {
    alignas(64) _Atomic int64_t top;    /* thieves CAS it */
    alignas(64) _Atomic int64_t bottom; /* owner writes it */
    alignas(64) void *_Atomic slots[TRI_DEQUE_CAP];
} tri_deque;

static inline void tri_deque_init(tri_deque *d)
{
    atomic_store_explicit(&d->top, 0, memory_order_relaxed);
    atomic_store_explicit(&d->bottom, 0, memory_order_relaxed);
}

/* Owner only. False when full. */
static inline bool tri_deque_push(tri_deque *d, void *item)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    /* acquire: a slot is free only once the steal that took it completed. */
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (b - t >= TRI_DEQUE_CAP)
        return false;
    atomic_store_explicit(&d->slots[b & (TRI_DEQUE_CAP - 1)], item, memory_order_relaxed);
    /* release: pairs with the thief's acquire of bottom; publishes the slot
     * and everything the owner did to the item before. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
    return true;
}

/* Owner only. NULL when empty (or a thief won the last item). */
static inline void *tri_deque_pop(tri_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
    atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in steal */
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    if (t > b) {
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
        return NULL;
    }
    void *item = atomic_load_explicit(&d->slots[b & (TRI_DEQUE_CAP - 1)], memory_order_relaxed);
    if (t == b) {
        /* Last item: race thieves for it through top. */
        if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            item = NULL;
        atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
    return item;
}

/* Any thread. NULL when empty or when another thief (or the owner) won. */
static inline void *tri_deque_steal(tri_deque *d)
{
    int64_t t = atomic_load_explicit(&d->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in pop */
    /* acquire: pairs with push's release store of bottom. */
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_acquire);
    if (t >= b)
        return NULL;
    void *item = atomic_load_explicit(&d->slots[t & (TRI_DEQUE_CAP - 1)], memory_order_relaxed);
    /* seq_cst CAS: claims slot t against the owner's pop and other thieves;
     * release publishes "slot t is free" to the owner's acquire of top. */
    if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return NULL;
    return item;
}

/* Any thread, approximate: items currently held. */
static inline int64_t tri_deque_size(tri_deque *d)
{
    int64_t b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&d->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

#endif
