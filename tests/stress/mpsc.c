/* Stress (TSan): the MPSC mailbox and its empty-mark scheduling protocol.
 *
 * Rounds of 2-6 producers pushing into one queue; a push that returns true
 * schedules the consumer, which either runs inline on the pushing thread
 * (as a worker runs the actor it woke) or on a dedicated consumer thread.
 * The consumer's bookkeeping is plain memory handed from one consumer to
 * the next only by the mark/push edge, so TSan checks that edge. Checked:
 * never two consumers at once, never scheduled while scheduled, each node
 * exactly once, FIFO per producer, schedules == marks, queue given up. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "core/mpsc.h"

enum { MAX_PRODUCERS = 6 };

typedef struct item {
    tri_node link;
    uint32_t producer, seq;
    uint64_t check; /* written before push, read by the consumer */
} item;

typedef struct round_ctx {
    tri_mpsc *q;
    item *items;
    uint32_t producers, per;
    bool dedicated;
    unsigned yield_mask;
    _Atomic int start;
    _Atomic int running;
    _Atomic int tokens;
    _Atomic int producers_done;
    _Atomic uint64_t schedules, marks, double_runs, over_scheduled, consumed;
    /* consumer-only (plain) */
    uint32_t next[MAX_PRODUCERS];
    unsigned char *seen;
    uint64_t dup, order, corrupt;
} round_ctx;

static item *pop_retry(tri_mpsc *q)
{
    for (;;) {
        tri_node *n = tri_mpsc_pop(q);
        if (n != TRI_MPSC_BUSY)
            return (item *)n;
        sched_yield();
    }
}

static void enter(round_ctx *c)
{
    if (atomic_exchange_explicit(&c->running, 1, memory_order_acq_rel))
        atomic_fetch_add(&c->double_runs, 1);
}

static void consume(round_ctx *c)
{
    enter(c);
    for (;;) {
        item *it = pop_retry(c->q);
        if (it) {
            size_t idx = (size_t)(it - c->items);
            if (c->seen[idx]++)
                c->dup++;
            if (it->check != ((uint64_t)it->producer << 32 | it->seq))
                c->corrupt++;
            if (it->seq != c->next[it->producer])
                c->order++;
            c->next[it->producer] = it->seq + 1;
            atomic_fetch_add_explicit(&c->consumed, 1, memory_order_relaxed);
            continue;
        }
        atomic_store_explicit(&c->running, 0, memory_order_release);
        if (tri_mpsc_try_mark_empty(c->q)) {
            atomic_fetch_add(&c->marks, 1);
            return;
        }
        enter(c);
    }
}

typedef struct prod_arg {
    round_ctx *c;
    uint32_t id;
} prod_arg;

static void *producer(void *p)
{
    prod_arg *a = p;
    round_ctx *c = a->c;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    item *mine = c->items + (size_t)a->id * c->per;
    for (uint32_t i = 0; i < c->per; i++) {
        mine[i].producer = a->id;
        mine[i].seq = i;
        mine[i].check = (uint64_t)a->id << 32 | i;
        if (tri_mpsc_push(c->q, &mine[i].link)) {
            atomic_fetch_add(&c->schedules, 1);
            if (c->dedicated) {
                if (atomic_fetch_add_explicit(&c->tokens, 1, memory_order_release) != 0)
                    atomic_fetch_add(&c->over_scheduled, 1);
            } else {
                consume(c);
            }
        }
        if ((i & c->yield_mask) == 0)
            sched_yield();
    }
    atomic_fetch_add(&c->producers_done, 1);
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *nodes)
{
    round_ctx *c = calloc(1, sizeof *c);
    c->producers = 2 + (uint32_t)tc_rng_below(rng, MAX_PRODUCERS - 1);
    c->per = 2000 + (uint32_t)tc_rng_below(rng, 20000);
    c->dedicated = tc_rng_below(rng, 2);
    c->yield_mask = (1u << tc_rng_below(rng, 10)) - 1;
    size_t total = (size_t)c->producers * c->per;
    c->q = aligned_alloc(64, sizeof(tri_mpsc));
    c->items = calloc(total, sizeof(item));
    c->seen = calloc(total, 1);
    tri_mpsc_init(c->q, true);

    pthread_t th[MAX_PRODUCERS];
    prod_arg args[MAX_PRODUCERS];
    for (uint32_t i = 0; i < c->producers; i++) {
        args[i] = (prod_arg){c, i};
        TC_ASSERT(pthread_create(&th[i], NULL, producer, &args[i]) == 0);
    }
    atomic_store_explicit(&c->start, 1, memory_order_release);
    int fail = 0;
    if (c->dedicated) {
        uint64_t deadline = tc_deadline_ms(30000);
        for (;;) {
            if (atomic_load_explicit(&c->tokens, memory_order_acquire) == 0) {
                if (atomic_load(&c->producers_done) == (int)c->producers &&
                    atomic_load(&c->tokens) == 0)
                    break;
                if (tc_now_ns() > deadline) {
                    fprintf(stderr, "dedicated consumer starved\n");
                    exit(1);
                }
                sched_yield();
                continue;
            }
            atomic_fetch_sub_explicit(&c->tokens, 1, memory_order_acq_rel);
            consume(c);
        }
    }
    for (uint32_t i = 0; i < c->producers; i++)
        pthread_join(th[i], NULL);

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "FAIL %s: ", #cond);                              \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            fail = 1;                                                         \
        }                                                                     \
    } while (0)
    const char *mode = c->dedicated ? "dedicated" : "inline";
    CHECK(atomic_load(&c->double_runs) == 0, "%s: two consumers at once", mode);
    CHECK(atomic_load(&c->over_scheduled) == 0, "%s: scheduled while scheduled", mode);
    CHECK(c->dup == 0 && c->corrupt == 0, "%s: dup %llu corrupt %llu", mode,
          (unsigned long long)c->dup, (unsigned long long)c->corrupt);
    CHECK(c->order == 0, "%s: %llu FIFO violations", mode, (unsigned long long)c->order);
    CHECK(atomic_load(&c->consumed) == total, "%s: consumed %llu of %zu", mode,
          (unsigned long long)atomic_load(&c->consumed), total);
    CHECK(atomic_load(&c->schedules) == atomic_load(&c->marks), "%s: schedules %llu marks %llu",
          mode, (unsigned long long)atomic_load(&c->schedules),
          (unsigned long long)atomic_load(&c->marks));
    CHECK(tri_mpsc_is_marked(c->q) && tri_mpsc_is_empty(c->q), "%s: not given up", mode);
    for (size_t i = 0; i < total && !fail; i++)
        CHECK(c->seen[i] == 1, "%s: node %zu seen %u times", mode, i, c->seen[i]);
#undef CHECK
    *nodes += total;
    free(c->seen);
    free(c->items);
    free(c->q);
    free(c);
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_mpsc", "nodes", run_round);
}
