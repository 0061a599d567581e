/* The work-stealing scheduler.
 *
 * Finding work, in order: every 61st pick the inject queue first (so actors
 * woken by outside threads are not starved by a busy pair), then the "next"
 * slot, the own deque (LIFO: cache-warm), the inject queue, other workers'
 * deques (FIFO steal from a random victim).
 *
 * Idle workers spin for TRI_SPIN_NS (yielding the CPU after the first
 * TRI_SPIN_ALONE_NS), then park (core/park.h: why no
 * wake-up is lost, and why one piece of work wakes at most one worker). */
#include "core/sched_impl.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "troupe/error.h"

/* 150 µs: longer than a remote round trip's slow mode. At 50 µs a round
 * trip that once outlasted the spin parked the node's worker, every request
 * then paid a wake-up of an idle CPU (~14 us to run, perf sched) and the
 * round trip stayed above the spin: remote_pingpong p50 70-80 us in some
 * runs, 30-35 us in others (150 us: 28-37 us over 8 runs). The spin yields
 * after TRI_SPIN_ALONE_NS, and an idle service still parks every worker. */
#define TRI_SPIN_NS 150000
/* After this much of a spin, each look for work is followed by
 * sched_yield(): a worker woken onto the CPU of the thread that woke it (an
 * I/O thread polling for the answer, a producer) would otherwise hold that
 * thread off for the rest of its spin. remote_pingpong's slow mode was
 * exactly that: the node's worker answered in ~5 us, then spun 50 us while
 * the I/O thread that sends the answer waited on the same CPU. With the
 * CPU otherwise free, a yield returns at once. */
#define TRI_SPIN_ALONE_NS 2000

_Thread_local tri_worker *tri_tls_worker __attribute__((tls_model("initial-exec")));

tri_worker *tri_worker_current(void) { return tri_tls_worker; }
tri_sched *tri_worker_sched(tri_worker *w) { return w->sched; }
struct tr_actor *tri_current_actor(void)
{
    tri_worker *w = tri_tls_worker;
    return w ? w->current : NULL;
}
int64_t tri_sched_send_timeout(const tri_sched *s) { return s->send_timeout_ns; }
uint32_t tri_sched_mailbox_high(const tri_sched *s) { return s->mailbox_high; }

unsigned tri_sched_workers(const tri_sched *s) { return s->nworkers; }
void *tri_sched_owner(const tri_sched *s) { return s->owner; }
bool tri_sched_stopped(const tri_sched *s)
{
    return atomic_load_explicit(&s->stopping, memory_order_acquire) != 0;
}

/* ck_pr_stall() is this same pause instruction. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* Call after making work stealable (deque or inject push). */
static inline void notify(tri_sched *s) { tri_park_notify(&s->park); }

/* ---- inject queue ------------------------------------------------------ */

static void inject_push(tri_sched *s, struct tr_actor *a)
{
    tri_mq_push(&s->inject.p, &a->snode);
}

/* An estimate without the consumer lock. Both ends matter: a pop that
 * re-pushed the stub and then met a half-linked push leaves head on the stub
 * with nodes still queued behind tail. Must never say "empty" for a queue
 * whose last push has completed and is unconsumed: parking relies on it. */
static bool inject_maybe_nonempty(tri_sched *s)
{
    tri_node *stub = &s->inject.c.stub;
    uintptr_t h = atomic_load_explicit(&s->inject.p.head, memory_order_acquire);
    return (tri_node *)(h & ~TRI_MPSC_EMPTY_MARK) != stub ||
           atomic_load_explicit(&s->inject.c.tail, memory_order_relaxed) != stub;
}

#define INJECT_BATCH 16 /* actors moved to the own deque per lock taken */

/* Takes up to INJECT_BATCH actors under the consumer lock: returns the first,
 * pushes the rest onto w's deque (where idle workers can steal them). NULL
 * when empty, busy or locked by another worker. */
static struct tr_actor *inject_pop(tri_worker *w)
{
    tri_sched *s = w->sched;
    if (!inject_maybe_nonempty(s))
        return NULL;
    /* One exchange, as ck_spinlock_fas_trylock is (troupe-ckbench trylock:
     * the same xchg, a tie); C11 so that TSan sees the hand-off.
     * acquire: pairs with the release in unlock, ordering consumer-side
     * queue state between the workers that take turns consuming. */
    if (atomic_exchange_explicit(&s->inject_lock, 1, memory_order_acquire))
        return NULL;
    struct tr_actor *first = NULL, *batch[INJECT_BATCH];
    unsigned n = 0;
    for (; n < INJECT_BATCH; n++) {
        tri_node *node = tri_mpsc_pop(&s->inject);
        if (!node || node == TRI_MPSC_BUSY)
            break;
        batch[n] = tri_actor_from_snode(node);
    }
    atomic_store_explicit(&s->inject_lock, 0, memory_order_release);
    if (n == 0)
        return NULL;
    first = batch[0];
    for (unsigned i = 1; i < n; i++) {
        if (!tri_deque_push(&w->deque, batch[i]))
            inject_push(s, batch[i]);
    }
    if (n > 1)
        notify(s);
    return first;
}

/* ---- scheduling -------------------------------------------------------- */

static void push_local(tri_worker *w, struct tr_actor *a)
{
    if (!tri_deque_push(&w->deque, a))
        inject_push(w->sched, a); /* deque full: FIFO overflow */
    notify(w->sched);
}

void tri_sched_schedule(tri_sched *s, struct tr_actor *a)
{
    tri_worker *w = tri_tls_worker;
    if (w && w->sched == s) {
        if (w->current && w->turn_sends < TRI_NEXT_SLOT_SENDS) {
            /* The woken actor runs next here: a request/reply pair stays on
             * one core. The actor it displaces becomes stealable. */
            struct tr_actor *old = w->next;
            w->next = a;
            if (old)
                push_local(w, old);
        } else if (w->current && !w->next && !w->helping) {
            /* A long turn woke an actor that had drained its mailbox: it
             * kept up with this sender, so it stays here, in the slot that
             * help() serves within TRI_HELP_EVERY sends, rather than going
             * to a thief on another CPU (fanin p=1: 15-25 M msgs/s with
             * the receiver stolen, each message's cache lines crossing
             * CPUs twice; 40-70 M helped here). One that help() cannot
             * drain goes to the deque, stealable, as before. */
            w->next = a;
        } else {
            push_local(w, a);
        }
        return;
    }
    atomic_fetch_add_explicit(&s->injected, 1, memory_order_relaxed);
    inject_push(s, a);
    notify(s);
}

/* Runs the actor that waits in w's own queue (next slot, else the deque's
 * newest, else one stolen from another worker's deque) for up to
 * TRI_HELP_BUDGET messages, nested inside the current turn, whose context
 * is saved and restored around it. The steal: with two producers in long
 * turns a receiver pushed to one worker's deque was helped by that worker
 * alone while the other producer ran ahead into fresh pages (fanin p=2:
 * clear_page 25% of the profile, then 14%; 30.5 -> 35.7 M msgs/s, medians
 * of 8 in turns). */
static struct tr_actor *steal(tri_worker *w);

static void help(tri_worker *w)
{
    struct tr_actor *a = w->next;
    if (a)
        w->next = NULL;
    else if (!(a = tri_deque_pop(&w->deque)) && !(a = steal(w)))
        return;
    tri_outbox_flush(w); /* the helped actor sees what we sent so far */
    struct tr_actor *outer = w->current;
    uint32_t outer_sends = w->turn_sends;
    bool outer_muted = w->turn_muted;
    w->helping = true;
    enum tri_run_result r = TRI_RUN_MORE;
    for (unsigned done = 0; r == TRI_RUN_MORE && done < TRI_HELP_BUDGET; done += w->sched->batch) {
        w->current = a;
        w->turn_sends = 0;
        r = tri_actor_run(a, w->sched->batch);
    }
    w->current = outer;
    w->turn_sends = outer_sends;
    w->turn_muted = outer_muted;
    w->helping = false;
    if (r != TRI_RUN_DONE && !((atomic_load_explicit(&a->mute_state, memory_order_relaxed) &
                                TRI_MUTED) && tri_mute_defer(a)))
        push_local(w, a);
}

/* Called by tr_send on a worker after each send of the current turn. */
void tri_sched_note_send(tri_worker *w)
{
    uint32_t n = ++w->turn_sends;
    if (n == TRI_NEXT_SLOT_SENDS && w->next) {
        struct tr_actor *a = w->next;
        w->next = NULL;
        push_local(w, a);
    }
    if (n % TRI_HELP_EVERY == 0 && !w->helping)
        help(w);
}

static struct tr_actor *steal(tri_worker *w)
{
    tri_sched *s = w->sched;
    unsigned n = s->nworkers;
    if (n < 2)
        return NULL;
    /* xorshift32: a random first victim spreads thieves out. */
    uint32_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rng = x;
    unsigned start = x % n;
    for (unsigned i = 0; i < n; i++) {
        tri_worker *v = s->workers[(start + i) % n];
        if (v == w)
            continue;
        struct tr_actor *a = tri_deque_steal(&v->deque);
        if (a) {
            atomic_fetch_add_explicit(&w->steals, 1, memory_order_relaxed);
            return a;
        }
    }
    return NULL;
}

static struct tr_actor *find_work(tri_worker *w)
{
    struct tr_actor *a;
    if (++w->tick % 61 == 0) {
        /* Fairness: now and then serve the oldest work first, the inject
         * queue's, then the own deque's top (owner pops are LIFO). */
        if ((a = inject_pop(w)) || (a = tri_deque_steal(&w->deque))) {
            w->next_streak = 0;
            return a;
        }
    }
    if ((a = w->next)) {
        w->next = NULL;
        /* Only others waiting can be starved; with none, keep the pair here. */
        if (++w->next_streak <= TRI_NEXT_SLOT_STREAK ||
            (tri_deque_size(&w->deque) == 0 && !inject_maybe_nonempty(w->sched)))
            return a;
        inject_push(w->sched, a); /* to the back of the line */
        notify(w->sched);
    }
    w->next_streak = 0;
    if ((a = tri_deque_pop(&w->deque)))
        return a;
    if ((a = inject_pop(w)))
        return a;
    return steal(w);
}

/* Stealable work anywhere (an estimate)? */
static bool work_visible(tri_sched *s)
{
    if (inject_maybe_nonempty(s))
        return true;
    for (unsigned i = 0; i < s->nworkers; i++)
        if (tri_deque_size(&s->workers[i]->deque) > 0)
            return true;
    return false;
}

static void stop_spinning(tri_worker *w)
{
    if (!w->spinning)
        return;
    w->spinning = false;
    /* The last spinner to find work wakes one more worker when more work
     * waits, so parallelism ramps up one worker at a time. */
    if (tri_park_spin_end(&w->sched->park) && work_visible(w->sched))
        notify(w->sched);
}

/* Out of work: spin, then park. Returns an actor, or NULL when stopping. */
static void flush_graves(tri_worker *w);

static struct tr_actor *idle(tri_worker *w)
{
    tri_sched *s = w->sched;
    flush_graves(w);
    for (;;) {
        if (!w->spinning) {
            w->spinning = true;
            tri_park_spin_begin(&s->park);
        }
        int64_t start = tri_now_ns(), now = start;
        do {
            if (now - start < TRI_SPIN_ALONE_NS) {
                for (int i = 0; i < 64; i++)
                    cpu_relax();
            } else {
                sched_yield();
            }
            struct tr_actor *a = find_work(w);
            if (a) {
                stop_spinning(w);
                return a;
            }
            if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
                return NULL;
        } while ((now = tri_now_ns()) - start < TRI_SPIN_NS);

        /* Park: leave spinners, join sleepers, fence, look once more. */
        w->spinning = false;
        tri_park_sleep_begin(&s->park);
        struct tr_actor *a = find_work(w);
        if (!a && !atomic_load_explicit(&s->stopping, memory_order_acquire)) {
            atomic_fetch_add_explicit(&w->parks, 1, memory_order_relaxed);
            tri_park_wait(&s->park, &s->stopping);
        }
        w->spinning = !a;
        tri_park_sleep_end(&s->park, !a);
        if (a) {
            /* Found on the last look: someone else may have posted a
             * permit for it; that worker will find nothing and park. */
            return a;
        }
        if (atomic_load_explicit(&s->stopping, memory_order_acquire))
            return NULL;
    }
}

/* ---- running ----------------------------------------------------------- */

static void run_turns(tri_worker *w, struct tr_actor *a)
{
    tri_sched *s = w->sched;
    for (int busy_rounds = 0;;) {
        w->current = a;
        w->turn_sends = 0;
        enum tri_run_result r = tri_actor_run(a, s->batch);
        w->current = NULL;
        if (r == TRI_RUN_DONE)
            return;
        /* Muted (core/flow.h): its unmuter schedules it. relaxed: the
         * runner's own earlier CAS set it; defer re-reads seq_cst. */
        if ((atomic_load_explicit(&a->mute_state, memory_order_relaxed) & TRI_MUTED) &&
            tri_mute_defer(a))
            return;
        /* More to do. Let others go first if anything else is waiting;
         * otherwise keep the actor here and skip a trip through a queue. */
        bool others = w->next || tri_deque_size(&w->deque) > 0 || inject_maybe_nonempty(s);
        if (others || atomic_load_explicit(&s->stopping, memory_order_relaxed)) {
            inject_push(s, a);
            notify(s);
            return;
        }
        if (r == TRI_RUN_BUSY) {
            /* A sender is between its two stores; it needs nanoseconds,
             * unless it was preempted: then give the CPU away. */
            if (++busy_rounds > 64)
                sched_yield();
            else
                cpu_relax();
        } else {
            busy_rounds = 0;
        }
    }
}

static void *worker_main(void *arg)
{
    tri_worker *w = arg;
    tri_sched *s = w->sched;
    tri_tls_worker = w;
    char name[16];
    snprintf(name, sizeof name, "troupe-w%u", w->index);
    pthread_setname_np(pthread_self(), name); /* for top, perf, gdb */
    if (s->thread_start)
        s->thread_start(s->owner);
    for (;;) {
        if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
            break;
        struct tr_actor *a = find_work(w);
        if (!a && !(a = idle(w)))
            break;
        run_turns(w, a);
    }
    flush_graves(w);
    if (w->pool)
        tri_msgpool_flush(w->pool);
    if (s->thread_stop)
        s->thread_stop(s->owner);
    tri_tls_worker = NULL;
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int tri_sched_create(const tri_sched_config *cfg, tri_sched **out)
{
    tri_sched *s = tri_zalloc(sizeof *s);
    if (!s)
        return TR_ENOMEM;
    s->nworkers = cfg->workers ? cfg->workers : online_cpus();
    s->batch = cfg->batch ? cfg->batch : TR_DEFAULT_BATCH;
    s->mailbox_high = cfg->mailbox_high ? cfg->mailbox_high : TR_DEFAULT_MAILBOX_HIGH;
    s->send_timeout_ns = cfg->send_timeout_ns ? cfg->send_timeout_ns : TR_DEFAULT_SEND_TIMEOUT_NS;
    s->msg_alloc = cfg->msg_alloc;
    if (s->msg_alloc == TR_MSG_ALLOC_DEFAULT)
        s->msg_alloc = TRI_MSG_ALLOC_MEASURED_BEST;
    s->owner = cfg->owner;
    s->thread_start = cfg->thread_start;
    s->thread_stop = cfg->thread_stop;
    tri_mpsc_init(&s->inject, false);
    s->workers = tri_zalloc(s->nworkers * sizeof *s->workers);
    s->pools = tri_zalloc(s->nworkers * sizeof *s->pools);
    s->shards = tri_zalloc((s->nworkers + 1) * sizeof *s->shards);
    int rv = (s->workers && s->pools && s->shards) ? 0 : TR_ENOMEM;
    for (unsigned i = 0; i < s->nworkers && !rv; i++) {
        tri_worker *w = tri_alloc(sizeof *w);
        if (!w) {
            rv = TR_ENOMEM;
            break;
        }
        memset(w, 0, sizeof *w);
        tri_deque_init(&w->deque);
        w->sched = s;
        w->index = i;
        w->rng = 0x9E3779B9u * (i + 1) | 1;
        s->workers[i] = w;
        if (s->msg_alloc == TR_MSG_ALLOC_POOL) {
            s->pools[i] = w->pool = tri_msgpool_create(i, s->nworkers, s->pools);
            if (!w->pool)
                rv = TR_ENOMEM;
        }
    }
    unsigned started = 0;
    for (; started < s->nworkers && !rv; started++)
        if (pthread_create(&s->workers[started]->thread, NULL, worker_main, s->workers[started]))
            rv = TR_EIO;
    if (rv) {
        atomic_store_explicit(&s->stopping, 1, memory_order_release);
        tri_park_wake_all(&s->park, s->nworkers);
        for (unsigned i = 0; i < started; i++)
            pthread_join(s->workers[i]->thread, NULL);
        s->started = false;
        tri_sched_destroy(s);
        return rv;
    }
    s->started = true;
    *out = s;
    return 0;
}

void tri_sched_stop(tri_sched *s)
{
    if (atomic_exchange_explicit(&s->stopping, 1, memory_order_acq_rel))
        return;
    tri_park_wake_all(&s->park, s->nworkers);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i]->thread, NULL);
}

void tri_sched_destroy(tri_sched *s)
{
    if (!s)
        return;
    if (s->started)
        tri_sched_stop(s);
    /* Every thread that could run an actor has been joined. First tear
     * every actor down (on_drop, on_stop) while holding an extra reference,
     * so a release from a callback frees nothing under our feet; sends fail
     * with TR_ESTOPPED by now, so no mailbox refills. Then free them all. */
    for (unsigned i = 0; s->shards && i <= s->nworkers; i++)
        for (struct tr_actor *a = s->shards[i].head; a; a = a->list_next)
            tr_actor_retain(a);
    for (unsigned i = 0; s->shards && i <= s->nworkers; i++)
        for (struct tr_actor *a = s->shards[i].head; a; a = a->list_next)
            tri_actor_teardown(a);
    for (unsigned i = 0; s->shards && i <= s->nworkers; i++) {
        while (s->shards[i].head) {
            struct tr_actor *a = s->shards[i].head;
            tri_sched_untrack(s, a);
            tri_actor_free(a);
        }
    }
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->pools && s->pools[i])
            tri_msgpool_destroy(s->pools[i]);
        if (s->workers && s->workers[i])
            tri_free(s->workers[i], sizeof(tri_worker));
    }
    tri_free(s->workers, s->nworkers * sizeof *s->workers);
    tri_free(s->pools, s->nworkers * sizeof *s->pools);
    tri_free(s->shards, (s->nworkers + 1) * sizeof *s->shards);
    tri_free(s, sizeof *s);
}

void tri_sched_stats(const tri_sched *s, tr_sched_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < s->nworkers; i++) {
        out->parks += atomic_load_explicit(&s->workers[i]->parks, memory_order_relaxed);
        out->steals += atomic_load_explicit(&s->workers[i]->steals, memory_order_relaxed);
    }
    out->wakes = atomic_load_explicit(&s->park.wakes, memory_order_relaxed);
    out->injected = atomic_load_explicit(&s->injected, memory_order_relaxed);
}

/* ---- live actors ------------------------------------------------------- */

/* ck_spinlock_fas's algorithm, in C11 so that TSan sees it. */
static void shard_lock(live_shard *sh)
{
    /* acquire: pairs with shard_unlock's release. */
    while (atomic_exchange_explicit(&sh->lock, 1, memory_order_acquire))
        while (atomic_load_explicit(&sh->lock, memory_order_relaxed))
            cpu_relax();
}

static void shard_unlock(live_shard *sh) { atomic_store_explicit(&sh->lock, 0, memory_order_release); }

void tri_sched_track(tri_sched *s, struct tr_actor *a)
{
    tri_worker *w = tri_tls_worker;
    unsigned idx = (w && w->sched == s) ? w->index : s->nworkers;
    live_shard *sh = &s->shards[idx];
    a->list_shard = (uint16_t)idx;
    a->list_prev = NULL;
    shard_lock(sh);
    a->list_next = sh->head;
    if (sh->head)
        sh->head->list_prev = a;
    sh->head = a;
    shard_unlock(sh);
    atomic_fetch_add_explicit(&s->live, 1, memory_order_relaxed);
}

static void unlink_locked(live_shard *sh, struct tr_actor *a)
{
    if (a->list_prev)
        a->list_prev->list_next = a->list_next;
    else
        sh->head = a->list_next;
    if (a->list_next)
        a->list_next->list_prev = a->list_prev;
}

void tri_sched_untrack(tri_sched *s, struct tr_actor *a)
{
    live_shard *sh = &s->shards[a->list_shard];
    shard_lock(sh);
    unlink_locked(sh, a);
    shard_unlock(sh);
    atomic_fetch_sub_explicit(&s->live, 1, memory_order_relaxed);
}

static void flush_graves(tri_worker *w)
{
    tri_sched *s = w->sched;
    live_shard *locked = NULL;
    for (unsigned i = 0; i < w->ngrave; i++) {
        struct tr_actor *a = w->grave[i];
        live_shard *sh = &s->shards[a->list_shard];
        if (sh != locked) {
            if (locked)
                shard_unlock(locked);
            shard_lock(sh);
            locked = sh;
        }
        unlink_locked(sh, a);
    }
    if (locked)
        shard_unlock(locked);
    atomic_fetch_sub_explicit(&s->live, w->ngrave, memory_order_relaxed);
    for (unsigned i = 0; i < w->ngrave; i++)
        tri_actor_free(w->grave[i]);
    w->ngrave = 0;
}

void tri_sched_bury(tri_sched *s, struct tr_actor *a)
{
    tri_worker *w = tri_tls_worker;
    if (w && w->sched == s) {
        w->grave[w->ngrave++] = a;
        if (w->ngrave == TRI_GRAVE_SIZE)
            flush_graves(w);
        return;
    }
    tri_sched_untrack(s, a);
    tri_actor_free(a);
}

uint64_t tri_sched_live(const tri_sched *s)
{
    return atomic_load_explicit(&s->live, memory_order_relaxed);
}
