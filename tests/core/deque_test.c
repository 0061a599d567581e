/* core/deque.h: the Chase-Lev work-stealing deque.
 *
 * Owner LIFO and thief FIFO order single-threaded, the capacity limit, and
 * under contention (owner pushing and popping against thieves) that every
 * item is taken exactly once. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/check.h"
#include "core/deque.h"

/* Items are small integers disguised as pointers; 0 would read as NULL. */
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((uintptr_t)(p) - 1)

static tri_deque *new_deque(void)
{
    tri_deque *d = aligned_alloc(64, sizeof *d);
    cr_assert_not_null(d);
    tri_deque_init(d);
    return d;
}

Test(deque, owner_lifo, .timeout = 5)
{
    tri_deque *d = new_deque();
    cr_assert_null(tri_deque_pop(d), "new deque is empty");
    cr_assert_null(tri_deque_steal(d));
    for (uintptr_t i = 0; i < 100; i++)
        cr_assert(tri_deque_push(d, ITEM(i)));
    cr_assert_eq(tri_deque_size(d), 100);
    for (uintptr_t i = 100; i-- > 0;)
        cr_assert_eq(tri_deque_pop(d), ITEM(i), "owner pops newest first");
    cr_assert_null(tri_deque_pop(d));
    cr_assert_eq(tri_deque_size(d), 0);
    free(d);
}

Test(deque, steal_fifo_and_mixed, .timeout = 5)
{
    /* Thieves take the oldest item, the owner the newest; both sides meet
     * on the last item without losing or repeating one. */
    tri_deque *d = new_deque();
    for (uintptr_t i = 0; i < 10; i++)
        tri_deque_push(d, ITEM(i));
    cr_assert_eq(tri_deque_steal(d), ITEM(0));
    cr_assert_eq(tri_deque_steal(d), ITEM(1));
    cr_assert_eq(tri_deque_pop(d), ITEM(9));
    cr_assert_eq(tri_deque_steal(d), ITEM(2));
    for (uintptr_t i = 8; i >= 4; i--)
        cr_assert_eq(tri_deque_pop(d), ITEM(i));
    cr_assert_eq(tri_deque_steal(d), ITEM(3), "last item to the thief");
    cr_assert_null(tri_deque_pop(d));
    cr_assert_null(tri_deque_steal(d));
    /* Index wrap-around: many more items than slots pass through. */
    for (uintptr_t i = 0; i < 3 * TRI_DEQUE_CAP; i++) {
        cr_assert(tri_deque_push(d, ITEM(i)));
        cr_assert_eq(tri_deque_steal(d), ITEM(i));
    }
    cr_assert_eq(tri_deque_size(d), 0);
    free(d);
}

Test(deque, full_at_capacity, .timeout = 5)
{
    tri_deque *d = new_deque();
    /* Start off zero so the full check also holds across the wrap. */
    for (uintptr_t i = 0; i < 100; i++) {
        tri_deque_push(d, ITEM(i));
        tri_deque_steal(d);
    }
    for (uintptr_t i = 0; i < TRI_DEQUE_CAP; i++)
        cr_assert(tri_deque_push(d, ITEM(i)), "push %zu of %d failed early", (size_t)i,
                  TRI_DEQUE_CAP);
    cr_assert_eq(tri_deque_size(d), TRI_DEQUE_CAP);
    cr_assert_not(tri_deque_push(d, ITEM(TRI_DEQUE_CAP)), "push into a full deque must fail");
    cr_assert_eq(tri_deque_size(d), TRI_DEQUE_CAP, "a failed push changes nothing");
    /* A steal frees a slot at the top; the failed item never appears. */
    cr_assert_eq(tri_deque_steal(d), ITEM(0));
    cr_assert(tri_deque_push(d, ITEM(TRI_DEQUE_CAP + 1)));
    cr_assert_not(tri_deque_push(d, ITEM(TRI_DEQUE_CAP + 2)));
    cr_assert_eq(tri_deque_pop(d), ITEM(TRI_DEQUE_CAP + 1));
    for (uintptr_t i = TRI_DEQUE_CAP - 1; i >= 1; i--)
        cr_assert_eq(tri_deque_pop(d), ITEM(i), "overwritten slot at %zu", (size_t)i);
    cr_assert_null(tri_deque_pop(d));
    free(d);
}

/* ---- owner against thieves ---------------------------------------------- */

enum { N_ITEMS = 1000000, N_THIEVES = 3 };

typedef struct race_ctx {
    tri_deque *d;
    _Atomic unsigned char *taken; /* per item: times taken */
    _Atomic int done;             /* owner finished pushing */
    _Atomic int start;
    _Atomic uint64_t stolen;
} race_ctx;

static void take(race_ctx *c, void *p)
{
    uintptr_t i = INDEX(p);
    if (i < N_ITEMS)
        atomic_fetch_add_explicit(&c->taken[i], 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&c->taken[0], 100, memory_order_relaxed); /* garbage */
}

static void *thief(void *p)
{
    race_ctx *c = p;
    uint64_t mine = 0;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    for (;;) {
        void *it = tri_deque_steal(c->d);
        if (it) {
            take(c, it);
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

static void run_race(uint64_t seed)
{
    race_ctx c = {.d = new_deque(), .taken = calloc(N_ITEMS, 1)};
    pthread_t th[N_THIEVES];
    for (int i = 0; i < N_THIEVES; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, thief, &c), 0);
    atomic_store_explicit(&c.start, 1, memory_order_release);

    /* Owner: push bursts, pop some back (LIFO side), so pops race thieves
     * both deep in the deque and on the last item. */
    tc_rng rng;
    tc_rng_seed(&rng, seed);
    uint64_t popped = 0;
    uintptr_t next = 0;
    while (next < N_ITEMS) {
        /* Mostly tiny bursts popped back to empty: the owner then races the
         * thieves for the last item, the delicate case. */
        bool tiny = tc_rng_below(&rng, 4) != 0;
        unsigned burst = 1 + (unsigned)tc_rng_below(&rng, tiny ? 3 : 64);
        for (unsigned k = 0; k < burst && next < N_ITEMS; k++) {
            if (!tri_deque_push(c.d, ITEM(next))) {
                void *it = tri_deque_pop(c.d); /* full: make room ourselves */
                if (it) {
                    take(&c, it);
                    popped++;
                }
                continue;
            }
            next++;
        }
        unsigned pops = tiny ? burst + 1 : (unsigned)tc_rng_below(&rng, burst + 1);
        for (unsigned k = 0; k < pops; k++) {
            void *it = tri_deque_pop(c.d);
            if (!it)
                break;
            take(&c, it);
            popped++;
        }
    }
    /* Drain what is left from the owner side while thieves still steal. */
    for (void *it; (it = tri_deque_pop(c.d));) {
        take(&c, it);
        popped++;
    }
    atomic_store_explicit(&c.done, 1, memory_order_release);
    for (int i = 0; i < N_THIEVES; i++)
        pthread_join(th[i], NULL);

    uint64_t stolen = atomic_load(&c.stolen);
    cr_assert_eq(popped + stolen, N_ITEMS, "taken %llu (popped %llu + stolen %llu), pushed %d",
                 (unsigned long long)(popped + stolen), (unsigned long long)popped,
                 (unsigned long long)stolen, N_ITEMS);
    for (size_t i = 0; i < N_ITEMS; i++)
        cr_assert_eq(atomic_load_explicit(&c.taken[i], memory_order_relaxed), 1,
                     "item %zu taken %u times (seed %llu)", i,
                     (unsigned)atomic_load_explicit(&c.taken[i], memory_order_relaxed),
                     (unsigned long long)seed);
    TC_LOG("popped %llu, stolen %llu", (unsigned long long)popped, (unsigned long long)stolen);
    free((void *)c.taken);
    free(c.d);
}

Test(deque, owner_vs_thieves_exactly_once, .timeout = 30)
{
    run_race(12345);
}

Test(deque, owner_vs_thieves_exactly_once_seed2, .timeout = 30)
{
    run_race(0xdecafbad);
}
