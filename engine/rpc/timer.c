/* The service timer: sharded wheels, one thread, RCU-deferred releases.
 *
 * Sleeping without missing an arm. The thread publishes `next_wake` (the
 * earliest deadline it knows, INT64_MAX for none; 0 while it is awake and
 * collecting) and then sleeps on the `seq` futex. An arm that lands before
 * `next_wake` bumps `seq` and, if the thread is `sleeping`, wakes it. The
 * thread stores `sleeping` then re-reads `seq`; the arm bumps `seq` then
 * reads `sleeping` (all seq_cst), so one of the two sees the other: either
 * the thread notices the bump and loops, or the arm sees it asleep and
 * issues the futex wake.
 *
 * Arming later (tri_timers_arm_after, an ask's deadline) reads no clock: the
 * timer waits on its shard with only its timeout, and the thread settles it
 * (deadline = the thread's clock, read under the shard's lock, + timeout) on
 * its next pass. So that a pass comes within TRI_TIMER_SETTLE_NS, the thread
 * *polls* (sleeps at most that long, `polling` 1) while recent passes found
 * such timers, and an arm that finds `polling` 0 kicks it. Before it stops
 * polling it stores `polling` 0 and makes one more pass: an arm its locks
 * saw is settled by that pass, and one they did not see comes after the
 * store (the shard lock orders them) and so reads 0 and kicks. */
#include "rpc/timer.h"

#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/futex.h"
#include "base/log.h"
#include "core/sched_impl.h"
#include "rpc/rcu.h"
#include "rpc/shard_lock.h"
#include "troupe/error.h"

typedef struct shard {
    tri_shard_lock lock;
    uint32_t closed; /* under lock */
    tri_timer_wheel wheel;
} shard;

struct tri_timers {
    tri_sched *sched;
    unsigned nshards; /* workers + 1 */
    shard *shards;
    pthread_t thread;
    bool thread_started;
    _Atomic uint32_t closing;
    /* written by arms and the thread */
    alignas(64) _Atomic uint32_t seq;     /* futex word: bumped to wake */
    _Atomic uint32_t sleeping;
    _Atomic uint32_t stop;
    _Atomic uint32_t polling;         /* a pass comes within SETTLE_NS */
    _Atomic int64_t next_wake;
    _Atomic uint64_t wakeups;
    /* deferred releases: a stack pushed by anyone, taken whole by one */
    alignas(64) tri_deferred *_Atomic deferred;
};

/* The calling worker's own shard, or the shared last one. */
static unsigned shard_of_caller(const tri_timers *ts)
{
    tri_worker *w = tri_tls_worker; /* the variable, not the call: per arm */
    if (w && w->sched == ts->sched && w->index < ts->nshards - 1)
        return w->index;
    return ts->nshards - 1;
}

/* Whether the calling thread owns shard idx (its worker; shard_lock.h). */
static bool caller_owns(const tri_timers *ts, unsigned idx)
{
    return idx < ts->nshards - 1 && shard_of_caller(ts) == idx;
}

static void shard_lock(shard *s, bool owner)
{
    if (owner)
        tri_shard_lock_owner(&s->lock);
    else
        tri_shard_lock_foreign(&s->lock);
}

static void shard_unlock(shard *s, bool owner)
{
    if (owner)
        tri_shard_unlock_owner(&s->lock);
    else
        tri_shard_unlock_foreign(&s->lock);
}

static void kick(tri_timers *ts)
{
    /* seq_cst: the bump, then the read of `sleeping` (see the top). */
    atomic_fetch_add_explicit(&ts->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&ts->sleeping, memory_order_seq_cst))
        tri_futex_wake(&ts->seq, 1);
}

int64_t tri_timers_deadline(const tri_timers *ts, int64_t timeout_ns)
{
    (void)ts;
    /* The precise clock: CLOCK_MONOTONIC_COARSE is 4x cheaper but lags by
     * more than its resolution on a tickless VM (measured), which made
     * deadlines fire early. */
    int64_t now = tri_now_ns();
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}

int tri_timers_arm(tri_timers *ts, tri_timer *t, int64_t deadline_ns)
{
    unsigned idx = shard_of_caller(ts);
    bool own = idx < ts->nshards - 1;
    shard *s = &ts->shards[idx];
    shard_lock(s, own);
    if (s->closed) {
        shard_unlock(s, own);
        return TR_ESTOPPED;
    }
    t->shard = idx;
    tri_wheel_arm(&s->wheel, t, deadline_ns);
    shard_unlock(s, own);
    /* seq_cst: ordered after our insert, against the thread's store of
     * next_wake after its pass (see the top). */
    int64_t nw = atomic_load_explicit(&ts->next_wake, memory_order_seq_cst);
    /* 0: the thread is collecting and may have scanned our shard already:
     * bump seq so that it loops instead of sleeping past this deadline
     * (without this, an arm during a pass that then slept to INT64_MAX was
     * lost: a supervisor's restart backoff never fired). */
    if (nw == 0 || deadline_ns < nw)
        kick(ts);
    return 0;
}

int tri_timers_arm_after(tri_timers *ts, tri_timer *t, int64_t timeout_ns)
{
    unsigned idx = shard_of_caller(ts);
    bool own = idx < ts->nshards - 1;
    shard *s = &ts->shards[idx];
    shard_lock(s, own);
    if (s->closed) {
        shard_unlock(s, own);
        return TR_ESTOPPED;
    }
    t->shard = idx;
    tri_wheel_arm_later(&s->wheel, t, timeout_ns);
    shard_unlock(s, own);
    /* seq_cst: after our insert, against the thread's store of 0 before
     * its last pass (see the top). A thread that polls needs no kick. */
    if (!atomic_load_explicit(&ts->polling, memory_order_seq_cst))
        kick(ts);
    return 0;
}

bool tri_timers_cancel(tri_timers *ts, tri_timer *t)
{
    shard *s = &ts->shards[t->shard];
    bool own = caller_owns(ts, t->shard);
    shard_lock(s, own);
    bool was = tri_wheel_cancel(&s->wheel, t);
    shard_unlock(s, own);
    return was;
}

void tri_timers_defer(tri_timers *ts, tri_deferred *d)
{
    /* A Treiber push in C11: ck_stack_push_upmc is the same lock cmpxchg
     * loop (troupe-ckbench stack: a tie), and TSan sees C11 atomics. */
    /* relaxed: only a guess for the CAS, which publishes. */
    tri_deferred *head = atomic_load_explicit(&ts->deferred, memory_order_relaxed);
    do {
        d->next = head;
        /* release: publishes d; pairs with the taker's acquire exchange. */
    } while (!atomic_compare_exchange_weak_explicit(&ts->deferred, &head, d, memory_order_release,
                                                    memory_order_relaxed));
    kick(ts);
}

bool tri_timers_closing(const tri_timers *ts)
{
    /* acquire: pairs with tri_timers_close's exchange. */
    return atomic_load_explicit(&ts->closing, memory_order_acquire) != 0;
}

uint64_t tri_timers_wakeups(const tri_timers *ts)
{
    /* relaxed: a statistic. */
    return atomic_load_explicit(&ts->wakeups, memory_order_relaxed);
}

static void fire_list(tri_timer *list)
{
    while (list) {
        tri_timer *t = list;
        list = t->next;
        t->next = NULL;
        t->fire(t);
    }
}

/* Takes every deferred release, waits a grace period, runs them. */
static void run_deferred(tri_timers *ts)
{
    /* acquire: pairs with tri_timers_defer's release. */
    tri_deferred *d = atomic_exchange_explicit(&ts->deferred, NULL, memory_order_acquire);
    if (!d)
        return;
    synchronize_rcu(); /* every reader that could still see them is done */
    while (d) {
        tri_deferred *next = d->next;
        d->fn(d);
        d = next;
    }
}

static void *timer_main(void *arg)
{
    tri_timers *ts = arg;
    /* Deadlines must not wait on a full mailbox: a continuation that runs
     * here and sends to one gets TR_EAGAIN instead (README "Backpressure"). */
    tr_thread_send_timeout(0);
    unsigned quiet = TRI_TIMER_POLL_PASSES; /* passes in a row that settled nothing */
    for (;;) {
        /* seq_cst: the sleep protocol at the top of this file; acquire on
         * stop pairs with tri_timers_close's release. */
        uint32_t seq = atomic_load_explicit(&ts->seq, memory_order_seq_cst);
        if (atomic_load_explicit(&ts->stop, memory_order_acquire))
            break;
        /* 0: awake; an arm now wakes us again rather than trust a stale
         * next_wake. */
        atomic_store_explicit(&ts->next_wake, 0, memory_order_seq_cst);
        int64_t now = tri_now_ns(), next = INT64_MAX;
        tri_timer *due = NULL;
        size_t settled = 0;
        for (unsigned i = 0; i < ts->nshards; i++) {
            shard *s = &ts->shards[i];
            shard_lock(s, false);
            /* The clock read under the lock: after every arm it settles. */
            if (s->wheel.nlater)
                settled += tri_wheel_settle(&s->wheel, tri_now_ns());
            tri_wheel_expire(&s->wheel, now, &due);
            int64_t n = tri_wheel_next_due(&s->wheel);
            shard_unlock(s, false);
            if (n < next)
                next = n;
        }
        fire_list(due);
        run_deferred(ts);
        /* Poll while arms-after keep coming (hysteresis: a stream of asks
         * that each live less than a pass would otherwise kick every time). */
        quiet = settled ? 0 : quiet < TRI_TIMER_POLL_PASSES ? quiet + 1 : quiet;
        if (quiet < TRI_TIMER_POLL_PASSES) {
            /* relaxed would do for the value; seq_cst like its other store. */
            atomic_store_explicit(&ts->polling, 1, memory_order_seq_cst);
            if (next - now > TRI_TIMER_SETTLE_NS)
                next = now + TRI_TIMER_SETTLE_NS;
        } else if (atomic_load_explicit(&ts->polling, memory_order_relaxed)) {
            /* seq_cst: before the last pass's locks (see the top). */
            atomic_store_explicit(&ts->polling, 0, memory_order_seq_cst);
            continue;
        }
        /* seq_cst: publish next_wake and sleeping before re-reading seq
         * (the protocol at the top). */
        atomic_store_explicit(&ts->next_wake, next, memory_order_seq_cst);
        atomic_store_explicit(&ts->sleeping, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&ts->seq, memory_order_seq_cst) == seq &&
            !atomic_load_explicit(&ts->stop, memory_order_acquire)) {
            if (next == INT64_MAX) {
                tri_futex_wait(&ts->seq, seq, NULL);
            } else {
                int64_t rel = next - tri_now_ns();
                if (rel > 0) {
                    struct timespec ts_rel = {rel / 1000000000, rel % 1000000000};
                    tri_futex_wait(&ts->seq, seq, &ts_rel);
                }
            }
            atomic_fetch_add_explicit(&ts->wakeups, 1, memory_order_relaxed); /* statistic */
        }
        atomic_store_explicit(&ts->sleeping, 0, memory_order_seq_cst);
    }
    return NULL;
}

int tri_timers_create(tri_sched *sched, unsigned workers, tri_timers **out)
{
    tri_timers *ts = tri_zalloc(sizeof *ts);
    if (!ts)
        return TR_ENOMEM;
    ts->sched = sched;
    ts->nshards = workers + 1;
    ts->shards = tri_zalloc(ts->nshards * sizeof *ts->shards);
    atomic_init(&ts->next_wake, INT64_MAX);
    int rv = ts->shards ? 0 : TR_ENOMEM;
    int64_t now = tri_now_ns();
    unsigned made = 0;
    for (unsigned i = 0; i < ts->nshards && !rv; i++)
        tri_shard_lock_init(&ts->shards[i].lock, i < ts->nshards - 1);
    for (; made < ts->nshards && !rv; made++)
        rv = tri_wheel_init(&ts->shards[made].wheel, TRI_TIMER_SLOTS, TRI_TIMER_TICK_NS, now);
    if (!rv && pthread_create(&ts->thread, NULL, timer_main, ts))
        rv = TR_EIO;
    if (rv) {
        for (unsigned i = 0; i < made; i++) /* a failed init left its wheel empty */
            tri_wheel_destroy(&ts->shards[i].wheel);
        tri_free(ts->shards, ts->nshards * sizeof *ts->shards);
        tri_free(ts, sizeof *ts);
        return rv;
    }
    ts->thread_started = true;
    *out = ts;
    return 0;
}

void tri_timers_close(tri_timers *ts)
{
    /* acq_rel: once; pairs with tri_timers_closing's acquire. */
    if (atomic_exchange_explicit(&ts->closing, 1, memory_order_acq_rel))
        return;
    tri_timer *all = NULL;
    for (unsigned i = 0; i < ts->nshards; i++) {
        shard *s = &ts->shards[i];
        shard_lock(s, false);
        s->closed = 1;
        tri_wheel_drain(&s->wheel, &all);
        shard_unlock(s, false);
    }
    fire_list(all);
    atomic_store_explicit(&ts->stop, 1, memory_order_release); /* pairs with timer_main */
    kick(ts);
    if (ts->thread_started) {
        pthread_join(ts->thread, NULL);
        ts->thread_started = false;
    }
}

void tri_timers_run_deferred(tri_timers *ts) { run_deferred(ts); }

void tri_timers_destroy(tri_timers *ts)
{
    if (!ts)
        return;
    tri_timers_close(ts);
    run_deferred(ts); /* nothing is left here when the service destroys */
    for (unsigned i = 0; i < ts->nshards; i++)
        tri_wheel_destroy(&ts->shards[i].wheel);
    tri_free(ts->shards, ts->nshards * sizeof *ts->shards);
    tri_free(ts, sizeof *ts);
}
