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
 * Not liburcu's wfcq (66 vs 48 M msgs/s, 2 producers; troupe-bench mpsc) nor
 * ck's rings (bounded, not intrusive).
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

/* tri_node, the intrusive link, is defined with the message header: a
 * message is pushed by its own address. */
#include "core/msg.h"

#define TRI_MPSC_EMPTY_MARK ((uintptr_t)1)
#define TRI_MPSC_BUSY ((tri_node *)(uintptr_t)1)

/* The queue is two halves so that an owner (the actor) can lay them out on
 * separate cache lines among its own fields. */
typedef struct tri_mq_prod { /* written by producers */
    _Atomic uintptr_t head;  /* last pushed node | EMPTY_MARK */
    /* Nodes pushed, for a length estimate; counted only by the callers of
     * tri_mq_count_push. A lock add on every push cost 2 ns of a 5.5 ns
     * push+pop pair (troupe-bench mpsc_pair), so plain actors skip it. */
    _Atomic uint64_t pushed;
} tri_mq_prod;

typedef struct tri_mq_cons { /* written by the consumer */
    /* Next node to hand out (or the stub). Atomic only so that other
     * threads may read it for an emptiness estimate; the consumer's own
     * accesses are relaxed (plain moves). */
    tri_node *_Atomic tail;
    tri_node stub;
    _Atomic uint64_t popped; /* nodes ever handed out (relaxed) */
} tri_mq_cons;

/* Starts empty; `marked` makes it start as an unscheduled actor's mailbox.
 * Not thread-safe. */
static inline void tri_mq_init(tri_mq_prod *p, tri_mq_cons *c, bool marked)
{
    atomic_store_explicit(&c->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&p->head, (uintptr_t)&c->stub | (marked ? TRI_MPSC_EMPTY_MARK : 0),
                          memory_order_relaxed);
    atomic_store_explicit(&c->tail, &c->stub, memory_order_relaxed);
    atomic_store_explicit(&p->pushed, 0, memory_order_relaxed);
    atomic_store_explicit(&c->popped, 0, memory_order_relaxed);
}

/* Any thread. Returns true when the queue carried the empty mark: the caller
 * is the one producer that must schedule the consumer. */
static inline bool tri_mq_push(tri_mq_prod *p, tri_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes n's contents with the exchange; acquire
     * orders our write to prev->next after the previous producer's exchange. */
    uintptr_t prev = atomic_exchange_explicit(&p->head, (uintptr_t)n, memory_order_acq_rel);
    tri_node *pn = (tri_node *)(prev & ~TRI_MPSC_EMPTY_MARK);
    /* release: pairs with the consumer's acquire load of pn->next. */
    atomic_store_explicit(&pn->next, n, memory_order_release);
    return (prev & TRI_MPSC_EMPTY_MARK) != 0;
}

/* Any thread: pushes the chain first..last (linked through next, in order)
 * with one exchange. Returns true when the queue carried the empty mark. */
static inline bool tri_mq_push_chain(tri_mq_prod *p, tri_node *first, tri_node *last)
{
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    /* acq_rel and release: as in tri_mq_push; the chain's inner links were
     * written before, so the consumer's acquire of pn->next covers them. */
    uintptr_t prev = atomic_exchange_explicit(&p->head, (uintptr_t)last, memory_order_acq_rel);
    tri_node *pn = (tri_node *)(prev & ~TRI_MPSC_EMPTY_MARK);
    atomic_store_explicit(&pn->next, first, memory_order_release);
    return (prev & TRI_MPSC_EMPTY_MARK) != 0;
}

/* Consumer only. Returns a node (now owned by the caller), NULL when empty,
 * or TRI_MPSC_BUSY when a producer is half-way through a push. */
static inline tri_node *tri_mq_pop(tri_mq_prod *p, tri_mq_cons *c)
{
    tri_node *tail = atomic_load_explicit(&c->tail, memory_order_relaxed);
    /* acquire: pairs with the producer's release store of next. */
    tri_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &c->stub) {
        if (!next) {
            uintptr_t h = atomic_load_explicit(&p->head, memory_order_acquire);
            return (tri_node *)(h & ~TRI_MPSC_EMPTY_MARK) == &c->stub ? NULL : TRI_MPSC_BUSY;
        }
        atomic_store_explicit(&c->tail, next, memory_order_relaxed);
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        atomic_store_explicit(&c->tail, next, memory_order_relaxed);
        goto handed_out;
    }
    /* tail is the last linked node; is it the last pushed? */
    if ((tri_node *)atomic_load_explicit(&p->head, memory_order_acquire) != tail)
        return TRI_MPSC_BUSY;
    /* Put the stub behind it so tail can leave the queue. The consumer never
     * meets the mark here: it only sets it when giving the queue up. */
    atomic_store_explicit(&c->stub.next, NULL, memory_order_relaxed);
    uintptr_t prev = atomic_exchange_explicit(&p->head, (uintptr_t)&c->stub, memory_order_acq_rel);
    atomic_store_explicit(&((tri_node *)prev)->next, &c->stub, memory_order_release);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next)
        return TRI_MPSC_BUSY;
    atomic_store_explicit(&c->tail, next, memory_order_relaxed);
handed_out:
    /* relaxed: only this thread writes it; readers want an estimate. */
    atomic_store_explicit(&c->popped, atomic_load_explicit(&c->popped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return tail;
}

/* Consumer only: true when everything pushed has been handed out (a racing
 * push may make it stale at once). */
static inline bool tri_mq_is_empty(tri_mq_prod *p, tri_mq_cons *c)
{
    uintptr_t h = atomic_load_explicit(&p->head, memory_order_acquire);
    return atomic_load_explicit(&c->tail, memory_order_relaxed) == &c->stub &&
           (tri_node *)(h & ~TRI_MPSC_EMPTY_MARK) == &c->stub;
}

/* Consumer only, after pop returned NULL: give the queue up. True when
 * marked (the next push reschedules); false when a producer raced in (the
 * consumer keeps the queue and must go on). */
static inline bool tri_mq_try_mark_empty(tri_mq_prod *p, tri_mq_cons *c)
{
    uintptr_t expected = (uintptr_t)&c->stub;
    /* release: this turn's effects happen-before the acquire of the push
     * that finds the mark (and so the next turn); acquire on failure. */
    return atomic_compare_exchange_strong_explicit(&p->head, &expected,
                                                   (uintptr_t)&c->stub | TRI_MPSC_EMPTY_MARK,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* Any thread: counts a push for tri_mq_length (call it before the push, so
 * the estimate never goes below zero for long). */
static inline void tri_mq_count_push(tri_mq_prod *p)
{
    /* relaxed: a statistic; exact once producers are quiet. */
    atomic_fetch_add_explicit(&p->pushed, 1, memory_order_relaxed);
}

/* Any thread: nodes counted by tri_mq_count_push and not yet handed out (an estimate while
 * producers run). */
static inline uint64_t tri_mq_length(tri_mq_prod *p, tri_mq_cons *c)
{
    uint64_t popped = atomic_load_explicit(&c->popped, memory_order_relaxed);
    uint64_t pushed = atomic_load_explicit(&p->pushed, memory_order_relaxed);
    return pushed > popped ? pushed - popped : 0;
}

/* A whole queue, halves a cache line apart (the inject queue, tests). */
typedef struct tri_mpsc {
    alignas(64) tri_mq_prod p;
    alignas(64) tri_mq_cons c;
} tri_mpsc;

static inline void tri_mpsc_init(tri_mpsc *q, bool marked) { tri_mq_init(&q->p, &q->c, marked); }
static inline bool tri_mpsc_push(tri_mpsc *q, tri_node *n)
{
    tri_mq_count_push(&q->p);
    return tri_mq_push(&q->p, n);
}
static inline tri_node *tri_mpsc_pop(tri_mpsc *q) { return tri_mq_pop(&q->p, &q->c); }
static inline bool tri_mpsc_is_empty(tri_mpsc *q) { return tri_mq_is_empty(&q->p, &q->c); }
static inline bool tri_mpsc_try_mark_empty(tri_mpsc *q) { return tri_mq_try_mark_empty(&q->p, &q->c); }
static inline uint64_t tri_mpsc_length(tri_mpsc *q) { return tri_mq_length(&q->p, &q->c); }
static inline bool tri_mpsc_is_marked(tri_mpsc *q)
{
    return (atomic_load_explicit(&q->p.head, memory_order_acquire) & TRI_MPSC_EMPTY_MARK) != 0;
}

#endif
