/* core/mpsc.h: the intrusive MPSC mailbox queue and its empty mark.
 *
 * Checks FIFO order and conservation (single and multiple producers), the
 * mark protocol step by step, and under contention that the mark makes
 * scheduling exactly-once: no consumer ever runs twice at once, and no node
 * is left behind unscheduled. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/check.h"
#include "core/mpsc.h"

typedef struct item {
    tri_node link; /* first: a tri_node * is an item * */
    uint32_t producer;
    uint32_t seq;
} item;

/* Pops one node, retrying while a producer is half-way through a push. */
static item *pop_retry(tri_mpsc *q)
{
    for (;;) {
        tri_node *n = tri_mpsc_pop(q);
        if (n != TRI_MPSC_BUSY)
            return (item *)n;
        sched_yield();
    }
}

Test(mpsc, single_producer_fifo, .timeout = 20)
{
    /* 1e6 nodes pushed, then popped in exactly the push order, none lost. */
    enum { N = 1000000 };
    item *items = calloc(N, sizeof *items);
    cr_assert(items);
    tri_mpsc *q = aligned_alloc(64, sizeof *q);
    tri_mpsc_init(q, false);
    cr_assert_null(tri_mpsc_pop(q), "a new queue is empty");
    for (uint32_t i = 0; i < N; i++) {
        items[i].seq = i;
        cr_assert_not(tri_mpsc_push(q, &items[i].link), "an unmarked queue never asks to schedule");
    }
    cr_assert_eq(tri_mpsc_length(q), N);
    for (uint32_t i = 0; i < N; i++) {
        item *it = pop_retry(q);
        cr_assert_not_null(it, "lost node at %u", i);
        cr_assert_eq(it, &items[i], "FIFO broken at %u (got seq %u)", i, it->seq);
    }
    cr_assert_null(pop_retry(q));
    cr_assert(tri_mpsc_is_empty(q));
    cr_assert_eq(tri_mpsc_length(q), 0);
    free(q);
    free(items);
}

Test(mpsc, interleaved_push_pop_fifo, .timeout = 20)
{
    /* The stub re-enters the queue whenever it drains to one node: push and
     * pop in uneven bursts so that happens often, order must still hold. */
    enum { N = 200000 };
    item *items = calloc(N, sizeof *items);
    tri_mpsc *q = aligned_alloc(64, sizeof *q);
    tri_mpsc_init(q, false);
    tc_rng rng;
    tc_rng_seed(&rng, 42);
    uint32_t pushed = 0, popped = 0;
    while (popped < N) {
        uint32_t burst = (uint32_t)tc_rng_below(&rng, 5);
        for (uint32_t k = 0; k < burst && pushed < N; k++, pushed++) {
            items[pushed].seq = pushed;
            tri_mpsc_push(q, &items[pushed].link);
        }
        burst = (uint32_t)tc_rng_below(&rng, 5);
        for (uint32_t k = 0; k < burst; k++) {
            item *it = pop_retry(q);
            if (!it) {
                cr_assert_eq(popped, pushed, "pop said empty with %u nodes queued", pushed - popped);
                break;
            }
            cr_assert_eq(it->seq, popped, "FIFO broken");
            popped++;
        }
        cr_assert_eq(tri_mpsc_length(q), pushed - popped, "length when quiet");
    }
    cr_assert_null(pop_retry(q));
    free(q);
    free(items);
}

Test(mpsc, length_when_quiet, .timeout = 5)
{
    /* tri_mpsc_length is exact when no producer is running. */
    item items[10];
    tri_mpsc *q = aligned_alloc(64, sizeof *q);
    tri_mpsc_init(q, true);
    cr_assert_eq(tri_mpsc_length(q), 0);
    for (int i = 0; i < 10; i++) {
        tri_mpsc_push(q, &items[i].link);
        cr_assert_eq(tri_mpsc_length(q), (uint64_t)i + 1);
    }
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(pop_retry(q), &items[i]);
        cr_assert_eq(tri_mpsc_length(q), (uint64_t)(9 - i));
    }
    free(q);
}

Test(mpsc, empty_mark_protocol, .timeout = 5)
{
    item a, b, c;
    tri_mpsc *q = aligned_alloc(64, sizeof *q);

    /* Initialised marked: an unscheduled actor. Only the first push
     * schedules; pushes while scheduled do not. */
    tri_mpsc_init(q, true);
    cr_assert(tri_mpsc_is_marked(q));
    cr_assert(tri_mpsc_push(q, &a.link), "first push onto a marked queue must schedule");
    cr_assert_not(tri_mpsc_is_marked(q));
    cr_assert_not(tri_mpsc_push(q, &b.link), "second push must not schedule again");
    cr_assert_not(tri_mpsc_push(q, &c.link));

    /* Drained but not yet given up: still unmarked, pushes do not schedule
     * (the consumer is running). */
    cr_assert_eq(pop_retry(q), &a);
    cr_assert_eq(pop_retry(q), &b);
    cr_assert_eq(pop_retry(q), &c);
    cr_assert_null(pop_retry(q));
    cr_assert(tri_mpsc_is_empty(q));
    cr_assert_not(tri_mpsc_is_marked(q), "only try_mark_empty sets the mark");

    /* The consumer gives the queue up; the next push schedules again. */
    cr_assert(tri_mpsc_try_mark_empty(q), "mark must succeed on a drained queue");
    cr_assert(tri_mpsc_is_marked(q));
    cr_assert(tri_mpsc_push(q, &a.link), "push after the mark must schedule");
    cr_assert_not(tri_mpsc_push(q, &b.link));

    /* The race, sequentially: pop saw empty, then a push lands before the
     * mark. The mark must fail (the consumer keeps running) and that push
     * must not have scheduled: exactly one of the two "schedules". */
    cr_assert_eq(pop_retry(q), &a);
    cr_assert_eq(pop_retry(q), &b);
    cr_assert_null(pop_retry(q));
    bool scheduled = tri_mpsc_push(q, &c.link);
    cr_assert_not(scheduled, "push onto an unmarked queue must not schedule");
    cr_assert_not(tri_mpsc_try_mark_empty(q), "mark must fail when a push raced in");
    cr_assert_not(tri_mpsc_is_marked(q));
    cr_assert_eq(pop_retry(q), &c, "the raced-in node is still delivered");
    cr_assert_null(pop_retry(q));
    cr_assert(tri_mpsc_try_mark_empty(q));

    /* Initialised unmarked: a running consumer; push never schedules. */
    tri_mpsc_init(q, false);
    cr_assert_not(tri_mpsc_is_marked(q));
    cr_assert_not(tri_mpsc_push(q, &a.link));
    cr_assert_eq(pop_retry(q), &a);
    free(q);
}

/* ---- several producers, one dedicated consumer ------------------------- */

enum { MP_PRODUCERS = 4, MP_PER = 250000 };

typedef struct mp_ctx {
    tri_mpsc *q;
    item *items; /* MP_PRODUCERS * MP_PER */
    _Atomic int start;
} mp_ctx;

typedef struct mp_arg {
    mp_ctx *ctx;
    uint32_t id;
} mp_arg;

static void *mp_producer(void *p)
{
    mp_arg *a = p;
    while (!atomic_load_explicit(&a->ctx->start, memory_order_acquire))
        sched_yield();
    item *mine = a->ctx->items + (size_t)a->id * MP_PER;
    for (uint32_t i = 0; i < MP_PER; i++) {
        mine[i].producer = a->id;
        mine[i].seq = i;
        tri_mpsc_push(a->ctx->q, &mine[i].link);
    }
    return NULL;
}

Test(mpsc, many_producers_exactly_once_fifo_per_producer, .timeout = 30)
{
    /* 4 x 250k nodes, one consumer: each node exactly once, and each
     * producer's nodes in the order it pushed them. */
    mp_ctx ctx = {.q = aligned_alloc(64, sizeof(tri_mpsc)),
                  .items = calloc((size_t)MP_PRODUCERS * MP_PER, sizeof(item))};
    unsigned char *seen = calloc((size_t)MP_PRODUCERS * MP_PER, 1);
    tri_mpsc_init(ctx.q, false);
    pthread_t th[MP_PRODUCERS];
    mp_arg args[MP_PRODUCERS];
    for (uint32_t i = 0; i < MP_PRODUCERS; i++) {
        args[i] = (mp_arg){&ctx, i};
        cr_assert_eq(pthread_create(&th[i], NULL, mp_producer, &args[i]), 0);
    }
    atomic_store_explicit(&ctx.start, 1, memory_order_release);

    uint32_t next[MP_PRODUCERS] = {0};
    uint64_t got = 0, busy = 0;
    uint64_t deadline = tc_deadline_ms(25000);
    while (got < (uint64_t)MP_PRODUCERS * MP_PER) {
        tri_node *n = tri_mpsc_pop(ctx.q);
        if (n == TRI_MPSC_BUSY) {
            busy++;
            sched_yield();
            continue;
        }
        if (!n) {
            cr_assert(tc_now_ns() < deadline, "consumer starved: %llu of %d", (unsigned long long)got,
                      MP_PRODUCERS * MP_PER);
            sched_yield();
            continue;
        }
        item *it = (item *)n;
        size_t idx = (size_t)(it - ctx.items);
        cr_assert_lt(idx, (size_t)MP_PRODUCERS * MP_PER, "foreign node");
        cr_assert_eq(seen[idx], 0, "node %zu delivered twice", idx);
        seen[idx] = 1;
        cr_assert_eq(it->seq, next[it->producer], "producer %u out of order: got %u, want %u",
                     it->producer, it->seq, next[it->producer]);
        next[it->producer]++;
        got++;
    }
    for (int i = 0; i < MP_PRODUCERS; i++)
        pthread_join(th[i], NULL);
    cr_assert_null(pop_retry(ctx.q), "a node appeared beyond those pushed");
    cr_assert_eq(tri_mpsc_length(ctx.q), 0);
    TC_LOG("BUSY seen %llu times", (unsigned long long)busy);
    free(seen);
    free(ctx.items);
    free(ctx.q);
}

/* ---- the scheduling protocol under contention ---------------------------
 *
 * Producers push; a push that returns true "schedules" the consumer, which
 * here means the pushing thread runs the consumer itself (as a worker runs
 * the actor it woke). The consumer drains, clears its running flag and
 * tries to mark; if the mark fails a push raced in and it keeps going.
 * Exactly-once scheduling means: the running flag is never found set on
 * entry, every successful mark is matched by exactly one later schedule,
 * and at the end nothing is left in the queue. */

enum { SC_PRODUCERS = 4, SC_PER = 100000 };

typedef struct sc_ctx {
    tri_mpsc *q;
    item *items;
    _Atomic int running;        /* 1 while some thread is the consumer */
    _Atomic uint64_t schedules; /* pushes that returned true */
    _Atomic uint64_t marks;     /* successful try_mark_empty */
    _Atomic uint64_t double_runs;
    _Atomic uint64_t consumed;
    _Atomic uint64_t order_errors;
    _Atomic uint64_t dup_errors;
    _Atomic int start;
    /* consumer-only, handed between consumers by the mark/push edge */
    uint32_t next[SC_PRODUCERS];
    unsigned char *seen;
} sc_ctx;

static void sc_enter(sc_ctx *c)
{
    if (atomic_exchange_explicit(&c->running, 1, memory_order_acq_rel) != 0)
        atomic_fetch_add(&c->double_runs, 1);
}

static void sc_consume(sc_ctx *c)
{
    sc_enter(c);
    for (;;) {
        item *it = pop_retry(c->q);
        if (it) {
            size_t idx = (size_t)(it - c->items);
            if (c->seen[idx]++)
                atomic_fetch_add(&c->dup_errors, 1);
            if (it->seq != c->next[it->producer])
                atomic_fetch_add(&c->order_errors, 1);
            c->next[it->producer] = it->seq + 1;
            atomic_fetch_add_explicit(&c->consumed, 1, memory_order_relaxed);
            continue;
        }
        /* Clear before the mark: once marked, another thread may become
         * the consumer at once. */
        atomic_store_explicit(&c->running, 0, memory_order_release);
        if (tri_mpsc_try_mark_empty(c->q)) {
            atomic_fetch_add(&c->marks, 1);
            return;
        }
        /* A push raced in and did not schedule: we are still the consumer. */
        sc_enter(c);
    }
}

typedef struct sc_arg {
    sc_ctx *ctx;
    uint32_t id;
} sc_arg;

static void *sc_producer(void *p)
{
    sc_arg *a = p;
    sc_ctx *c = a->ctx;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    item *mine = c->items + (size_t)a->id * SC_PER;
    for (uint32_t i = 0; i < SC_PER; i++) {
        mine[i].producer = a->id;
        mine[i].seq = i;
        if (tri_mpsc_push(c->q, &mine[i].link)) {
            atomic_fetch_add(&c->schedules, 1);
            sc_consume(c);
        }
        if ((i & 255) == 0)
            sched_yield(); /* let the others interleave on 2 cores */
    }
    return NULL;
}

Test(mpsc, mark_race_schedules_exactly_once, .timeout = 30)
{
    sc_ctx c = {.q = aligned_alloc(64, sizeof(tri_mpsc)),
                .items = calloc((size_t)SC_PRODUCERS * SC_PER, sizeof(item)),
                .seen = calloc((size_t)SC_PRODUCERS * SC_PER, 1)};
    tri_mpsc_init(c.q, true);
    pthread_t th[SC_PRODUCERS];
    sc_arg args[SC_PRODUCERS];
    for (uint32_t i = 0; i < SC_PRODUCERS; i++) {
        args[i] = (sc_arg){&c, i};
        cr_assert_eq(pthread_create(&th[i], NULL, sc_producer, &args[i]), 0);
    }
    atomic_store_explicit(&c.start, 1, memory_order_release);
    for (int i = 0; i < SC_PRODUCERS; i++)
        pthread_join(th[i], NULL);

    uint64_t total = (uint64_t)SC_PRODUCERS * SC_PER;
    cr_assert_eq(atomic_load(&c.double_runs), 0, "consumer scheduled twice at once");
    cr_assert_eq(atomic_load(&c.dup_errors), 0, "node consumed twice");
    cr_assert_eq(atomic_load(&c.order_errors), 0, "per-producer FIFO broken");
    cr_assert_eq(atomic_load(&c.consumed), total, "node left behind: consumed %llu of %llu",
                 (unsigned long long)atomic_load(&c.consumed), (unsigned long long)total);
    /* Every schedule ended in a mark, and the queue ends given up. */
    cr_assert_eq(atomic_load(&c.schedules), atomic_load(&c.marks));
    cr_assert_geq(atomic_load(&c.schedules), 1);
    cr_assert(tri_mpsc_is_marked(c.q));
    cr_assert(tri_mpsc_is_empty(c.q));
    for (size_t i = 0; i < total; i++)
        cr_assert_eq(c.seen[i], 1, "node %zu seen %u times", i, c.seen[i]);
    TC_LOG("schedules %llu", (unsigned long long)atomic_load(&c.schedules));
    free(c.seen);
    free(c.items);
    free(c.q);
}

/* Same protocol with a dedicated consumer thread: a schedule posts a token;
 * at most one token may be outstanding, or the actor would be queued twice. */
typedef struct dc_ctx {
    sc_ctx sc;
    _Atomic int tokens;
    _Atomic uint64_t over_scheduled;
    _Atomic int producers_done;
} dc_ctx;

static void *dc_producer(void *p)
{
    sc_arg *a = p;
    dc_ctx *d = (dc_ctx *)a->ctx;
    sc_ctx *c = &d->sc;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    item *mine = c->items + (size_t)a->id * SC_PER;
    for (uint32_t i = 0; i < SC_PER; i++) {
        mine[i].producer = a->id;
        mine[i].seq = i;
        if (tri_mpsc_push(c->q, &mine[i].link)) {
            atomic_fetch_add(&c->schedules, 1);
            if (atomic_fetch_add_explicit(&d->tokens, 1, memory_order_release) != 0)
                atomic_fetch_add(&d->over_scheduled, 1);
        }
    }
    atomic_fetch_add(&d->producers_done, 1);
    return NULL;
}

Test(mpsc, mark_race_dedicated_consumer, .timeout = 30)
{
    dc_ctx d = {.sc = {.q = aligned_alloc(64, sizeof(tri_mpsc)),
                       .items = calloc((size_t)SC_PRODUCERS * SC_PER, sizeof(item)),
                       .seen = calloc((size_t)SC_PRODUCERS * SC_PER, 1)}};
    sc_ctx *c = &d.sc;
    tri_mpsc_init(c->q, true);
    pthread_t th[SC_PRODUCERS];
    sc_arg args[SC_PRODUCERS];
    for (uint32_t i = 0; i < SC_PRODUCERS; i++) {
        args[i] = (sc_arg){c, i};
        cr_assert_eq(pthread_create(&th[i], NULL, dc_producer, &args[i]), 0);
    }
    atomic_store_explicit(&c->start, 1, memory_order_release);
    uint64_t total = (uint64_t)SC_PRODUCERS * SC_PER;
    uint64_t deadline = tc_deadline_ms(25000);
    for (;;) {
        /* acquire: pairs with the scheduling producer's release. */
        if (atomic_load_explicit(&d.tokens, memory_order_acquire) == 0) {
            if (atomic_load(&d.producers_done) == SC_PRODUCERS &&
                atomic_load(&d.tokens) == 0)
                break;
            cr_assert(tc_now_ns() < deadline, "consumer never scheduled again");
            sched_yield();
            continue;
        }
        /* Take the token before running: from here until our mark no push
         * may schedule again, so a producer finding tokens != 0 is a bug. */
        atomic_fetch_sub_explicit(&d.tokens, 1, memory_order_acq_rel);
        sc_consume(c);
    }
    for (int i = 0; i < SC_PRODUCERS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&c->double_runs), 0);
    cr_assert_eq(atomic_load(&d.over_scheduled), 0, "scheduled while already scheduled");
    cr_assert_eq(atomic_load(&c->dup_errors), 0);
    cr_assert_eq(atomic_load(&c->order_errors), 0);
    cr_assert_eq(atomic_load(&c->consumed), total, "node left behind: consumed %llu of %llu",
                 (unsigned long long)atomic_load(&c->consumed), (unsigned long long)total);
    cr_assert_eq(atomic_load(&c->schedules), atomic_load(&c->marks));
    cr_assert(tri_mpsc_is_marked(c->q));
    free(c->seen);
    free(c->items);
    free(c->q);
}
