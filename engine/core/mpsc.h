/* Intrusive lock-free MPSC queue (Vyukov) with an "empty" mark for actor
 * scheduling.
 *
 * Ordering and progress. Producers are wait-free: one exchange on `head`
 * (acq_rel: it orders the node's initialisation before its publication and
 * pairs with the previous producer's exchange), then a release store of
 * prev->next that pairs with the consumer's acquire load of `next`. The
 * consumer is lock-free; between a producer's exchange and its link store the
 * queue is non-empty but not walkable, and pop reports TRI_MPSC_BUSY rather
 * than spinning (the wfcq trap in STYLE.md: never sleep in a run loop).
 *
 * The empty mark (bit 0 of `head`) is what makes scheduling exactly-once:
 * only the consumer sets it, with a CAS that fails if a producer raced in,
 * and only when it gives the actor up. A push that finds the mark returns
 * true and that producer alone schedules the actor. A queue whose consumer
 * is still running (even with no node left) carries no mark, so no push can
 * schedule a running actor twice. A stub node lives in the queue so that the
 * last real node can be handed out and owned by its consumer at once.
 *
 *   operation        may run concurrently with
 *   push             push, pop, try_mark_empty, is_empty
 *   pop              push only (single consumer)
 *   try_mark_empty   push only (single consumer)
 */
#ifndef TRI_CORE_MPSC_H
#define TRI_CORE_MPSC_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tri_node {
    struct tri_node *_Atomic next;
} tri_node;

#define TRI_MPSC_EMPTY_MARK ((uintptr_t)1)
#define TRI_MPSC_BUSY ((tri_node *)(uintptr_t)1)

/* Producer and consumer fields sit a cache line apart. */
typedef struct tri_mpsc {
    /* written by producers */
    alignas(64) _Atomic uintptr_t head; /* last pushed node | EMPTY_MARK */
    _Atomic uint64_t pushed;            /* nodes ever pushed (relaxed) */
    /* written by the consumer */
    alignas(64) tri_node *tail;         /* next node to hand out (or the stub) */
    tri_node stub;
    _Atomic uint64_t popped;            /* nodes ever handed out (relaxed) */
} tri_mpsc;

/* Starts empty and marked (an unscheduled actor). Not thread-safe. */
static inline void tri_mpsc_init(tri_mpsc *q, bool marked)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, (uintptr_t)&q->stub | (marked ? TRI_MPSC_EMPTY_MARK : 0),
                          memory_order_relaxed);
    q->tail = &q->stub;
    atomic_store_explicit(&q->pushed, 0, memory_order_relaxed);
    atomic_store_explicit(&q->popped, 0, memory_order_relaxed);
}

/* Any thread. Returns true when the queue carried the empty mark: the caller
 * is the one producer that must schedule the consumer. */
static inline bool tri_mpsc_push(tri_mpsc *q, tri_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* relaxed: a statistic; exact once producers are quiet. */
    atomic_fetch_add_explicit(&q->pushed, 1, memory_order_relaxed);
    /* acq_rel: release publishes n's contents with the exchange; acquire
     * orders our write to prev->next after the previous producer's exchange. */
    uintptr_t prev = atomic_exchange_explicit(&q->head, (uintptr_t)n, memory_order_acq_rel);
    tri_node *p = (tri_node *)(prev & ~TRI_MPSC_EMPTY_MARK);
    /* release: pairs with the consumer's acquire load of p->next. */
    atomic_store_explicit(&p->next, n, memory_order_release);
    return (prev & TRI_MPSC_EMPTY_MARK) != 0;
}

/* Consumer only. Returns a node (now owned by the caller), NULL when empty,
 * or TRI_MPSC_BUSY when a producer is half-way through a push. */
static inline tri_node *tri_mpsc_pop(tri_mpsc *q)
{
    tri_node *tail = q->tail;
    /* acquire: pairs with the producer's release store of next. */
    tri_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next) {
            uintptr_t h = atomic_load_explicit(&q->head, memory_order_acquire);
            return (tri_node *)(h & ~TRI_MPSC_EMPTY_MARK) == &q->stub ? NULL : TRI_MPSC_BUSY;
        }
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        goto handed_out;
    }
    /* tail is the last linked node; is it the last pushed? */
    uintptr_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    if ((tri_node *)h != tail)
        return TRI_MPSC_BUSY;
    /* Put the stub behind it so tail can leave the queue. The consumer never
     * sees the mark here: it only sets it when giving the queue up. */
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    uintptr_t prev = atomic_exchange_explicit(&q->head, (uintptr_t)&q->stub, memory_order_acq_rel);
    atomic_store_explicit(&((tri_node *)prev)->next, &q->stub, memory_order_release);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next)
        return TRI_MPSC_BUSY;
    q->tail = next;
handed_out:
    /* relaxed: only this thread writes it; readers want an estimate. */
    atomic_store_explicit(&q->popped, atomic_load_explicit(&q->popped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return tail;
}

/* Any thread: nodes pushed and not yet handed out (an estimate while
 * producers run). */
static inline uint64_t tri_mpsc_length(tri_mpsc *q)
{
    uint64_t popped = atomic_load_explicit(&q->popped, memory_order_relaxed);
    uint64_t pushed = atomic_load_explicit(&q->pushed, memory_order_relaxed);
    return pushed > popped ? pushed - popped : 0;
}

/* Consumer only: true when nothing has been pushed that pop has not handed
 * out (a racing push may make it stale at once). */
static inline bool tri_mpsc_is_empty(tri_mpsc *q)
{
    uintptr_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    return q->tail == &q->stub && (tri_node *)(h & ~TRI_MPSC_EMPTY_MARK) == &q->stub;
}

/* Consumer only, after pop returned NULL: give the queue up. Returns true
 * when marked (the next push reschedules), false when a producer raced in
 * (the consumer keeps it and must keep running). */
static inline bool tri_mpsc_try_mark_empty(tri_mpsc *q)
{
    uintptr_t expected = (uintptr_t)&q->stub;
    /* release: our turn's effects happen-before the next scheduler's acquire
     * of the push that clears the mark; acquire on failure to see the push. */
    return atomic_compare_exchange_strong_explicit(&q->head, &expected,
                                                   (uintptr_t)&q->stub | TRI_MPSC_EMPTY_MARK,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* Any thread: producer-side view, true when the queue is marked. */
static inline bool tri_mpsc_is_marked(tri_mpsc *q)
{
    return (atomic_load_explicit(&q->head, memory_order_acquire) & TRI_MPSC_EMPTY_MARK) != 0;
}

#endif
