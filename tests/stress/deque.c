/* Stress (TSan): the Chase-Lev deque, owner against thieves.
 *
 * Items are heap objects the owner fills before pushing; whoever takes one
 * reads and marks it, so TSan checks the push -> steal publication and the
 * steal -> reuse edge. Checked: every item taken exactly once, payload
 * intact, owner + thieves == pushed. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/check.h"
#include "core/deque.h"

enum { MAX_THIEVES = 4 };

typedef struct obj {
    uint64_t value;     /* plain: written by the owner before push */
    _Atomic int taken;
} obj;

typedef struct round_ctx {
    tri_deque *d;
    obj *objs;
    size_t n;
    _Atomic int done, start;
    _Atomic uint64_t stolen, bad;
} round_ctx;

static void take(round_ctx *c, obj *o)
{
    size_t i = (size_t)(o - c->objs);
    if (i >= c->n || o->value != i * 2654435761u || atomic_fetch_add(&o->taken, 1) != 0)
        atomic_fetch_add(&c->bad, 1);
}

static void *thief(void *p)
{
    round_ctx *c = p;
    uint64_t mine = 0;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    for (;;) {
        obj *o = tri_deque_steal(c->d);
        if (o) {
            take(c, o);
            mine++;
            continue;
        }
        if (atomic_load_explicit(&c->done, memory_order_acquire) && tri_deque_size(c->d) == 0)
            break;
        sched_yield();
    }
    atomic_fetch_add(&c->stolen, mine);
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *items)
{
    round_ctx c = {.d = aligned_alloc(64, sizeof(tri_deque))};
    c.n = 10000 + tc_rng_below(rng, 200000);
    c.objs = calloc(c.n, sizeof(obj));
    tri_deque_init(c.d);
    unsigned thieves = 1 + (unsigned)tc_rng_below(rng, MAX_THIEVES);
    unsigned max_burst = 1 + (unsigned)tc_rng_below(rng, 2 * TRI_DEQUE_CAP);
    pthread_t th[MAX_THIEVES];
    for (unsigned i = 0; i < thieves; i++)
        TC_ASSERT(pthread_create(&th[i], NULL, thief, &c) == 0);
    atomic_store_explicit(&c.start, 1, memory_order_release);

    uint64_t popped = 0;
    size_t next = 0;
    while (next < c.n) {
        bool tiny = tc_rng_below(rng, 2);
        unsigned burst = 1 + (unsigned)tc_rng_below(rng, tiny ? 3 : max_burst);
        for (unsigned k = 0; k < burst && next < c.n; k++) {
            c.objs[next].value = next * 2654435761u;
            if (!tri_deque_push(c.d, &c.objs[next])) {
                obj *o = tri_deque_pop(c.d); /* full */
                if (o) {
                    take(&c, o);
                    popped++;
                }
                continue;
            }
            next++;
        }
        unsigned pops = tiny ? burst + 1 : (unsigned)tc_rng_below(rng, burst + 1);
        for (unsigned k = 0; k < pops; k++) {
            obj *o = tri_deque_pop(c.d);
            if (!o)
                break;
            take(&c, o);
            popped++;
        }
    }
    for (obj *o; (o = tri_deque_pop(c.d));) {
        take(&c, o);
        popped++;
    }
    atomic_store_explicit(&c.done, 1, memory_order_release);
    for (unsigned i = 0; i < thieves; i++)
        pthread_join(th[i], NULL);

    int fail = 0;
    uint64_t stolen = atomic_load(&c.stolen);
    if (popped + stolen != c.n || atomic_load(&c.bad) != 0) {
        fprintf(stderr, "FAIL: %zu items, popped %llu + stolen %llu, %llu bad (thieves %u)\n", c.n,
                (unsigned long long)popped, (unsigned long long)stolen,
                (unsigned long long)atomic_load(&c.bad), thieves);
        fail = 1;
    }
    for (size_t i = 0; i < c.n && !fail; i++)
        if (atomic_load(&c.objs[i].taken) != 1) {
            fprintf(stderr, "FAIL: item %zu taken %d times\n", i, atomic_load(&c.objs[i].taken));
            fail = 1;
        }
    *items += c.n;
    free(c.objs);
    free(c.d);
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_deque", "items", run_round);
}
