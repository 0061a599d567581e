/* Flow gates: muting, blocking, releasing (flow.h). */
#include "core/flow.h"

#include <errno.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/futex.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "core/sched.h"
#include "troupe/error.h"

/* One registration of a muted actor on a gate (muting is rare: only
 * while overloaded, so an allocation per mute is fine). */
typedef struct tri_mute {
    struct tri_mute *next;
    struct tr_actor *a;   /* a reference */
    uint32_t gen;
} tri_mute;

void tri_gate_init(tri_gate *g, uint32_t high, uint32_t low, uint32_t capacity,
                   tri_gate_level_fn *level, const void *owner)
{
    g->high = high;
    g->low = low && low < high ? low : high / 2;
    g->capacity = capacity;
    g->level = level;
    g->owner = owner;
    atomic_init(&g->muted, NULL);
    atomic_init(&g->limit, (uint64_t)g->high - 1);
    atomic_init(&g->seq, 0);
    atomic_init(&g->sleepers, 0);
    atomic_init(&g->mutes, 0);
    atomic_init(&g->blocks, 0);
    atomic_init(&g->refusals, 0);
    atomic_init(&g->timeouts, 0);
}

/* Ends mute generation `gen` of a (if it is still the current one),
 * scheduling it when it was owed. */
static void unmute(struct tr_actor *a, uint32_t gen)
{
    /* seq_cst: rule 1's other half is a seq_cst load of this word. */
    uint16_t s = atomic_load_explicit(&a->mute_state, memory_order_seq_cst);
    for (;;) {
        if (!(s & TRI_MUTED) || s >> 2 != gen)
            return; /* stale: unmuted already, maybe muted elsewhere since */
        if (atomic_compare_exchange_weak_explicit(&a->mute_state, &s, (uint16_t)(gen << 2),
                                                  memory_order_seq_cst, memory_order_seq_cst))
            break;
    }
    if (s & TRI_MUTE_OWED) /* the schedule it was owed (a turn or a wake) */
        tri_sched_schedule(a->sched, a);
}

bool tri_gate_mute(tri_gate *g, struct tr_actor *self)
{
    if (g->owner == self)
        return false; /* sends to itself: the turn drains them */
    /* Rule 1: an overloaded actor keeps running. */
    if (tri_actor_gate(self) && tri_gate_level(tri_actor_gate(self)) >= tri_actor_gate(self)->high)
        return false;
    uint16_t s = atomic_load_explicit(&self->mute_state, memory_order_relaxed);
    if (s & TRI_MUTED)
        return false; /* one gate at a time: the first one it met */
    tri_mute *r = tri_alloc(sizeof *r);
    if (!r)
        return false; /* not muting loses nothing */
    /* 14 bits: a stale registration that matched a wrapped generation
     * would only unmute early (less backpressure, nothing lost). */
    uint32_t gen = ((uint32_t)(s >> 2) + 1) & 0x3FFFu;
    /* seq_cst: rule 1 (pairs with the sender's RMW then load). Only this
     * thread sets MUTED (it runs self); unmuters only clear it. */
    if (!atomic_compare_exchange_strong_explicit(&self->mute_state, &s,
                                                 (uint16_t)(gen << 2 | TRI_MUTED),
                                                 memory_order_seq_cst, memory_order_relaxed)) {
        tri_free(r, sizeof *r);
        return false;
    }
    tr_actor_retain(self);
    r->a = self;
    r->gen = gen;
    r->next = atomic_load_explicit(&g->muted, memory_order_relaxed);
    /* seq_cst: rule 2 (pairs with tri_gate_drained's fence then load). */
    while (!atomic_compare_exchange_weak_explicit(&g->muted, &r->next, r, memory_order_seq_cst,
                                                  memory_order_relaxed))
        ;
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&g->mutes, 1, memory_order_relaxed);
    /* seq_cst fence: the registration before the level loads (rule 2). */
    atomic_thread_fence(memory_order_seq_cst);
    if (tri_gate_level(g) < g->low) /* rule 2: it drained meanwhile */
        tri_gate_release(g);
    if (tri_actor_gate(self) && tri_gate_level(tri_actor_gate(self)) >= tri_actor_gate(self)->high)
        unmute(self, gen); /* rule 1: overloaded meanwhile */
    return true;
}

void tri_gate_unmute_overloaded(struct tr_actor *to, const tri_gate *to_gate, uint64_t level)
{
    if (level < to_gate->high)
        return;
    /* seq_cst: rule 1 (after the caller's seq_cst counting RMW). */
    uint16_t s = atomic_load_explicit(&to->mute_state, memory_order_seq_cst);
    if (s & TRI_MUTED)
        unmute(to, s >> 2);
}

bool tri_mute_defer(struct tr_actor *a)
{
    uint16_t s = atomic_load_explicit(&a->mute_state, memory_order_seq_cst);
    while (s & TRI_MUTED) {
        if (s & TRI_MUTE_OWED)
            return true;
        /* seq_cst: against unmute's CAS; exactly one of us wins. */
        if (atomic_compare_exchange_weak_explicit(&a->mute_state, &s, (uint16_t)(s | TRI_MUTE_OWED),
                                                  memory_order_seq_cst, memory_order_seq_cst))
            return true;
    }
    return false;
}

void tri_gate_release(tri_gate *g)
{
    /* acquire: the registrations' fields (pairs with tri_gate_mute's CAS). */
    tri_mute *r = atomic_exchange_explicit(&g->muted, NULL, memory_order_seq_cst);
    while (r) {
        tri_mute *next = r->next;
        unmute(r->a, r->gen);
        tr_actor_release(r->a);
        tri_free(r, sizeof *r);
        r = next;
    }
    /* release: a woken sender re-reads the level after this. */
    atomic_fetch_add_explicit(&g->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&g->sleepers, memory_order_seq_cst))
        tri_futex_wake(&g->seq, INT32_MAX);
}

void tri_gate_drained(tri_gate *g, uint64_t consumed, uint64_t level, bool idle)
{
    /* relaxed: a hint for the senders' fast path; every slow path reads
     * the counts themselves. */
    atomic_store_explicit(&g->limit, consumed + g->high - 1, memory_order_relaxed);
    /* seq_cst fence: the level just lowered is ordered before our look at
     * waiters (rule 2; pairs with the registrations' seq_cst RMWs and the
     * fences before their level loads). */
    if (idle)
        atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&g->muted, memory_order_relaxed) &&
        !atomic_load_explicit(&g->sleepers, memory_order_relaxed))
        return;
    if (level == TRI_GATE_LEVEL_LAZY)
        level = tri_gate_level(g);
    if (level < g->low)
        tri_gate_release(g);
}

int tri_gate_wait(tri_gate *g, int64_t deadline_ns)
{
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&g->blocks, 1, memory_order_relaxed);
    for (;;) {
        /* seq_cst: the sleeper count before the level (pairs with
         * tri_gate_drained's fence then load of sleepers). */
        atomic_fetch_add_explicit(&g->sleepers, 1, memory_order_seq_cst);
        uint32_t seq = atomic_load_explicit(&g->seq, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst); /* before the level loads (rule 2) */
        bool room = tri_gate_level(g) < g->high;
        int64_t left = deadline_ns - tri_now_ns();
        if (!room && left > 0) {
            /* At most 10 ms at a time: a busy owner only looks for
             * sleepers when it goes idle with a fence (flow.h). */
            int64_t nap = left < 10000000 ? left : 10000000;
            struct timespec ts = {nap / 1000000000, nap % 1000000000};
            tri_futex_wait(&g->seq, seq, &ts);
        }
        atomic_fetch_sub_explicit(&g->sleepers, 1, memory_order_relaxed);
        if (room || tri_gate_level(g) < g->high)
            return 0;
        if (deadline_ns - tri_now_ns() <= 0) {
            atomic_fetch_add_explicit(&g->timeouts, 1, memory_order_relaxed);
            return TR_EAGAIN;
        }
    }
}
