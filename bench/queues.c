/* troupe-bench: the two candidate mailbox queues head to head, outside the
 * scheduler.
 *
 *   vyukov  the engine's intrusive MPSC queue (core/mpsc.h)
 *   wfcq    liburcu's wait-free concurrent queue, single consumer, no lock
 *           (struct __cds_wfcq_head, __cds_wfcq_dequeue_nonblocking)
 *
 * mpsc: p producer threads push m preallocated intrusive nodes in total to
 * one consumer (the main thread), which busy-polls, retries on "busy" /
 * CDS_WFCQ_WOULDBLOCK, and checks FIFO order per producer and the total.
 * mpsc_pair: one thread pushes `burst` nodes and pops them again, the cost
 * of an enqueue+dequeue pair when an actor messages itself or a queue is
 * drained in a batch. Both queues run in each repetition, one after the
 * other (the order alternates between repetitions), on the same node
 * layout: a link word and a 64-bit payload. */
#define _LGPL_SOURCE /* wfcqueue inline, header-only */
#include "bench.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/arch.h>
#include <urcu/wfcqueue.h>

#include "core/mpsc.h"

#define PRODUCER_SHIFT 56 /* payload = producer << 56 | sequence number */
#define SEQ_MASK ((UINT64_C(1) << PRODUCER_SHIFT) - 1)
#define MAX_PRODUCERS 64

typedef struct vy_node {
    tri_node link;
    uint64_t payload;
} vy_node;

typedef struct wf_node {
    struct cds_wfcq_node link;
    uint64_t payload;
} wf_node;

/* Producer side and consumer side of wfcq a cache line apart, as the
 * engine's queue has them. */
typedef struct queues {
    tri_mpsc vy;
    alignas(64) struct __cds_wfcq_head wf_head; /* consumer */
    alignas(64) struct cds_wfcq_tail wf_tail;   /* producers */
    alignas(64) vy_node *vnodes;                /* read-only below */
    wf_node *wnodes;
    pthread_barrier_t start;
} queues;

typedef struct producer {
    queues *q;
    pthread_t thread;
    unsigned index;
    int64_t first, count;
} producer;

/* Force-inlined with a constant `wfcq` so each queue gets its own loop. */
static inline __attribute__((always_inline)) void push(queues *q, bool wfcq, int64_t i,
                                                       uint64_t payload)
{
    if (wfcq) {
        wf_node *n = &q->wnodes[i];
        n->payload = payload;
        cds_wfcq_node_init(&n->link);
        cds_wfcq_enqueue(&q->wf_head, &q->wf_tail, &n->link);
    } else {
        vy_node *n = &q->vnodes[i];
        n->payload = payload;
        tri_mq_push(&q->vy.p, &n->link); /* the mailbox path: no length count */
    }
}

/* The node's payload; false when the queue had nothing to hand out (empty,
 * or a producer half-way through a push). */
static inline __attribute__((always_inline)) bool pop(queues *q, bool wfcq, uint64_t *payload)
{
    if (wfcq) {
        struct cds_wfcq_node *n = __cds_wfcq_dequeue_nonblocking(&q->wf_head, &q->wf_tail);
        if (!n || n == CDS_WFCQ_WOULDBLOCK)
            return false;
        *payload = caa_container_of(n, wf_node, link)->payload;
    } else {
        tri_node *n = tri_mpsc_pop(&q->vy);
        if (!n || n == TRI_MPSC_BUSY)
            return false;
        *payload = caa_container_of(n, vy_node, link)->payload;
    }
    return true;
}

static inline __attribute__((always_inline)) void produce(producer *pr, bool wfcq)
{
    uint64_t tag = (uint64_t)pr->index << PRODUCER_SHIFT;
    for (int64_t i = 0; i < pr->count; i++)
        push(pr->q, wfcq, pr->first + i, tag | (uint64_t)i);
}

static void *produce_vy(void *arg)
{
    producer *pr = arg;
    pthread_barrier_wait(&pr->q->start);
    produce(pr, false);
    return NULL;
}

static void *produce_wf(void *arg)
{
    producer *pr = arg;
    pthread_barrier_wait(&pr->q->start);
    produce(pr, true);
    return NULL;
}

/* Main thread: pops m nodes, checking per-producer order. Bounded by the
 * deadline, checked every 2^20 empty polls. */
static inline __attribute__((always_inline)) int consume(queues *q, bool wfcq, unsigned p,
                                                         int64_t m, int64_t *next,
                                                         int64_t deadline, const bench_run *r)
{
    uint64_t idle = 0;
    for (int64_t got = 0; got < m;) {
        uint64_t v;
        if (!pop(q, wfcq, &v)) {
            if (!(++idle & ((1u << 20) - 1)) && bench_now_ns() > deadline) {
                bench_fail(r, "%s: consumer has %lld of %lld after the timeout",
                           wfcq ? "wfcq" : "vyukov", (long long)got, (long long)m);
                return BENCH_FAIL;
            }
            caa_cpu_relax();
            continue;
        }
        unsigned k = (unsigned)(v >> PRODUCER_SHIFT);
        if (k >= p || (int64_t)(v & SEQ_MASK) != next[k]) {
            bench_fail(r, "%s: got producer %u item %llu, expected item %lld",
                       wfcq ? "wfcq" : "vyukov", k, (unsigned long long)(v & SEQ_MASK),
                       k < p ? (long long)next[k] : -1LL);
            return BENCH_FAIL;
        }
        next[k]++;
        got++;
    }
    return BENCH_OK;
}

static int run_mpsc(const bench_run *r, bool wfcq, unsigned p, int64_t m)
{
    queues *q = aligned_alloc(64, sizeof *q);
    size_t node_size = wfcq ? sizeof(wf_node) : sizeof(vy_node);
    void *nodes = malloc((size_t)m * node_size);
    if (!q || !nodes) {
        free(q);
        free(nodes);
        bench_fail(r, "out of memory for %lld nodes", (long long)m);
        return BENCH_FAIL;
    }
    memset(q, 0, sizeof *q);
    memset(nodes, 0, (size_t)m * node_size); /* fault the pages in before timing */
    tri_mpsc_init(&q->vy, false);
    __cds_wfcq_init(&q->wf_head, &q->wf_tail);
    q->vnodes = nodes;
    q->wnodes = nodes;
    pthread_barrier_init(&q->start, NULL, p + 1);

    producer pr[MAX_PRODUCERS];
    int64_t next[MAX_PRODUCERS] = {0};
    int64_t first = 0;
    unsigned started = 0;
    for (unsigned k = 0; k < p; k++) {
        int64_t count = m / p + ((int64_t)k < m % p ? 1 : 0);
        pr[k] = (producer){.q = q, .index = k, .first = first, .count = count};
        first += count;
        if (pthread_create(&pr[k].thread, NULL, wfcq ? produce_wf : produce_vy, &pr[k]))
            break;
        started++;
    }
    int rv = BENCH_FAIL;
    int64_t t0 = 0, t1 = 0;
    if (started == p) {
        pthread_barrier_wait(&q->start);
        t0 = bench_now_ns();
        int64_t deadline = t0 + (int64_t)r->opts->timeout_s * 1000000000LL;
        rv = wfcq ? consume(q, true, p, m, next, deadline, r)
                  : consume(q, false, p, m, next, deadline, r);
        t1 = bench_now_ns();
    } else {
        /* The barrier can never fill; nothing sensible is left but to go. */
        bench_fail(r, "pthread_create failed after %u producers", started);
        return BENCH_TIMEOUT;
    }
    /* Producers never block (the queue is unbounded): joining ends. */
    for (unsigned k = 0; k < p; k++)
        pthread_join(pr[k].thread, NULL);
    for (unsigned k = 0; k < p && rv == BENCH_OK; k++) {
        if (next[k] != pr[k].count) {
            bench_fail(r, "producer %u: consumer saw %lld of %lld", k, (long long)next[k],
                       (long long)pr[k].count);
            rv = BENCH_FAIL;
        }
    }
    if (rv == BENCH_OK && !(wfcq ? cds_wfcq_empty(&q->wf_head, &q->wf_tail)
                                 : tri_mpsc_is_empty(&q->vy))) {
        bench_fail(r, "%s: queue not empty after %lld pops", wfcq ? "wfcq" : "vyukov",
                   (long long)m);
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, wfcq ? "mpsc_wfcq" : "mpsc_vyukov", (double)m / bench_secs(t0, t1),
                     "msgs/s", (t1 - t0) / (double)m, bench_secs(t0, t1));
    pthread_barrier_destroy(&q->start);
    free(nodes);
    free(q);
    return rv;
}

int bench_mpsc(const bench_run *r)
{
    unsigned p = (unsigned)bench_int(r, "p");
    int64_t m = bench_int(r, "m");
    if (m < p) {
        bench_fail(r, "m must be at least p");
        return BENCH_FAIL;
    }
    /* Alternate which queue goes first, so neither always inherits the
     * other's cache and frequency state. */
    static unsigned calls;
    bool wfcq_first = calls++ & 1;
    int rv = run_mpsc(r, wfcq_first, p, m);
    if (rv == BENCH_TIMEOUT)
        return rv;
    int rv2 = run_mpsc(r, !wfcq_first, p, m);
    return rv2 ? rv2 : rv;
}

/* ------------------------------------------------------------------ pairs */

static inline __attribute__((always_inline)) int pairs(queues *q, bool wfcq, int64_t rounds,
                                                       int64_t burst, const bench_run *r)
{
    for (int64_t round = 0; round < rounds; round++) {
        for (int64_t i = 0; i < burst; i++)
            push(q, wfcq, i, (uint64_t)(round + i));
        for (int64_t i = 0; i < burst; i++) {
            uint64_t v;
            /* One thread: nothing is ever half-pushed, so pop must deliver. */
            if (!pop(q, wfcq, &v) || v != (uint64_t)(round + i)) {
                bench_fail(r, "%s: round %lld item %lld missing or out of order",
                           wfcq ? "wfcq" : "vyukov", (long long)round, (long long)i);
                return BENCH_FAIL;
            }
        }
    }
    return BENCH_OK;
}

static int run_pairs(const bench_run *r, bool wfcq, int64_t n, int64_t burst)
{
    queues *q = aligned_alloc(64, sizeof *q);
    void *nodes = calloc((size_t)burst, wfcq ? sizeof(wf_node) : sizeof(vy_node));
    if (!q || !nodes) {
        free(q);
        free(nodes);
        bench_fail(r, "out of memory");
        return BENCH_FAIL;
    }
    memset(q, 0, sizeof *q);
    tri_mpsc_init(&q->vy, false);
    __cds_wfcq_init(&q->wf_head, &q->wf_tail);
    q->vnodes = nodes;
    q->wnodes = nodes;
    int64_t rounds = n / burst > 0 ? n / burst : 1;
    int64_t total = rounds * burst;
    int64_t t0 = bench_now_ns();
    int rv = wfcq ? pairs(q, true, rounds, burst, r) : pairs(q, false, rounds, burst, r);
    int64_t t1 = bench_now_ns();
    if (rv == BENCH_OK)
        bench_report(r, wfcq ? "mpsc_pair_wfcq" : "mpsc_pair_vyukov",
                     (double)total / bench_secs(t0, t1), "pairs/s", (t1 - t0) / (double)total,
                     bench_secs(t0, t1));
    free(nodes);
    free(q);
    return rv;
}

int bench_mpsc_pair(const bench_run *r)
{
    int64_t n = bench_int(r, "n"), burst = bench_int(r, "burst");
    static unsigned calls; /* alternate the order, as in bench_mpsc */
    bool wfcq_first = calls++ & 1;
    int rv = run_pairs(r, wfcq_first, n, burst);
    int rv2 = run_pairs(r, !wfcq_first, n, burst);
    return rv ? rv : rv2;
}
