/* Stress: the timer shard's owner-biased lock (engine/rpc/shard_lock.h).
 *
 * One owner thread and 1-3 foreign threads enter one lock; inside, each
 * reads a plain counter, spins, checks that nobody changed it, and writes
 * it back plus one. Two holders at once lose increments (release build,
 * where the owner's fence is a compiler barrier against membarrier) or are
 * a data race (TSan, where both fences are seq_cst). The foreigners come in
 * bursts separated by quiet spells, so the owner both revokes its bias
 * (more than REVOKE_AT handshakes in a window) and takes it back (a quiet
 * spell): every round checks that both happened and the count is exact. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "common/check.h"
#include "rpc/shard_lock.h"

enum { MAX_FOREIGN = 3, BURSTS = 3 };

typedef struct round_ctx {
    tri_shard_lock lock;
    uint32_t owner_entries, burst, spin, nforeign;
    _Atomic uint32_t owner_done;    /* owner's entries so far (pacing) */
    _Atomic uint32_t burst_entries; /* foreigners' burst entries so far */
    _Atomic int start;
    /* under the lock (plain) */
    uint64_t counter;
    uint64_t clobbered;
} round_ctx;

static void section(round_ctx *c)
{
    uint64_t v = c->counter;
    for (volatile uint32_t i = 0; i < c->spin; i++)
        ;
    if (c->counter != v)
        c->clobbered++;
    c->counter = v + 1;
}

/* Burst b starts when the owner reaches this many entries. */
static uint32_t burst_mark(const round_ctx *c, uint32_t b) { return c->owner_entries / 8 * (2 * b + 1); }

static void wait_until(_Atomic uint32_t *v, uint32_t at, const char *what)
{
    uint64_t deadline = tc_deadline_ms(60000);
    /* relaxed: pacing only; the lock orders the sections. */
    while (atomic_load_explicit(v, memory_order_relaxed) < at) {
        if (tc_now_ns() > deadline)
            TC_FAIL("stalled waiting for %s (%u of %u)", what, atomic_load(v), at);
        sched_yield();
    }
}

/* At each burst's mark the owner waits until half the burst is in (those
 * are handshakes while it is biased: the next entry must revoke), then
 * runs beside the other half (plain mode, concurrently). */
static void *owner(void *arg)
{
    round_ctx *c = arg;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    uint32_t b = 0;
    for (uint32_t i = 0; i < c->owner_entries; i++) {
        if (b < BURSTS && i == burst_mark(c, b)) {
            wait_until(&c->burst_entries, c->nforeign * c->burst * b + c->nforeign * c->burst / 2,
                       "half a burst");
            b++;
        }
        tri_shard_lock_owner(&c->lock);
        section(c);
        tri_shard_unlock_owner(&c->lock);
        /* relaxed: pacing only */
        atomic_store_explicit(&c->owner_done, i + 1, memory_order_relaxed);
    }
    return NULL;
}

typedef struct foreign_arg {
    round_ctx *c;
    uint32_t index, entries;
} foreign_arg;

static void foreign_entry(foreign_arg *fa)
{
    tri_shard_lock_foreign(&fa->c->lock);
    section(fa->c);
    tri_shard_unlock_foreign(&fa->c->lock);
    fa->entries++;
}

/* Bursts at the owner's 1/8, 3/8 and 5/8 marks. Between them the first
 * foreigner trickles in once per 4096 owner entries, below the revocation
 * rate: the biased mode then runs beside a foreign holder too. */
static void *foreign(void *arg)
{
    foreign_arg *fa = arg;
    round_ctx *c = fa->c;
    while (!atomic_load_explicit(&c->start, memory_order_acquire))
        sched_yield();
    uint32_t next_trickle = 4096;
    for (uint32_t b = 0; b < BURSTS; b++) {
        uint64_t deadline = tc_deadline_ms(60000);
        /* relaxed: pacing only */
        for (uint32_t done; (done = atomic_load_explicit(&c->owner_done, memory_order_relaxed)) <
                            burst_mark(c, b);) {
            if (fa->index == 0 && done >= next_trickle) {
                foreign_entry(fa);
                next_trickle = done + 4096;
            }
            if (tc_now_ns() > deadline)
                TC_FAIL("owner stalled at %u entries", done);
            sched_yield();
        }
        for (uint32_t i = 0; i < c->burst; i++) {
            foreign_entry(fa);
            atomic_fetch_add_explicit(&c->burst_entries, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *entries)
{
    round_ctx *c = aligned_alloc(64, sizeof *c);
    *c = (round_ctx){0};
    tri_shard_lock_init(&c->lock, true);
    uint32_t nforeign = c->nforeign = 1 + (uint32_t)tc_rng_below(rng, MAX_FOREIGN);
    c->owner_entries = 200000 + (uint32_t)tc_rng_below(rng, 200000);
    c->burst = 200 + (uint32_t)tc_rng_below(rng, 2000);
    c->spin = (uint32_t)tc_rng_below(rng, 40);
    pthread_t ot, ft[MAX_FOREIGN];
    foreign_arg fa[MAX_FOREIGN];
    TC_ASSERT(pthread_create(&ot, NULL, owner, c) == 0);
    for (uint32_t i = 0; i < nforeign; i++) {
        fa[i] = (foreign_arg){c, i, 0};
        TC_ASSERT(pthread_create(&ft[i], NULL, foreign, &fa[i]) == 0);
    }
    atomic_store_explicit(&c->start, 1, memory_order_release);
    pthread_join(ot, NULL);
    uint64_t expect = c->owner_entries;
    for (uint32_t i = 0; i < nforeign; i++) {
        pthread_join(ft[i], NULL);
        expect += fa[i].entries;
    }
    int fail = 0;
    if (c->counter != expect || c->clobbered) {
        fprintf(stderr, "count %llu, expected %llu; %llu sections saw another holder\n",
                (unsigned long long)c->counter, (unsigned long long)expect,
                (unsigned long long)c->clobbered);
        fail = 1;
    }
    /* The first burst's first half (>= 100 handshakes) must revoke; the
     * quiet spell after it (>= 50000 owner entries, many times the first
     * rebias_after) must take the bias back. */
    if (!c->lock.revocations || !c->lock.rebiases) {
        fprintf(stderr, "mode never flipped: %u revocations, %u rebiases (burst %u)\n",
                c->lock.revocations, c->lock.rebiases, c->burst);
        fail = 1;
    }
    *entries += expect;
    free(c);
    return fail;
}

int main(int argc, char **argv)
{
    printf("stress_shard_lock: owner's fence %s\n",
           tri_fence_asymmetric ? "a compiler barrier (membarrier on the others)" : "seq_cst");
    return tc_stress_main(argc, argv, "stress_shard_lock", "entries", run_round);
}
