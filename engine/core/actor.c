/* Actors: spawn, send, the run loop, stop and destruction; messages.
 *
 * Scheduling rides on the mailbox's empty mark (core/mpsc.h): a new actor's
 * mailbox starts marked; the send that finds the mark schedules it; a turn
 * that empties the mailbox marks it again. A stopped actor's mailbox is
 * marked too, once drained: a send racing the stop schedules a run that only
 * hands messages to on_drop, holding a reference of its own meanwhile. */
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "core/msgpool.h"
#include "core/sched_impl.h"
#include "troupe/error.h"

/* ---- messages ---------------------------------------------------------- */

tr_msg *tr_msg_new(uint32_t tag, size_t size)
{
    if (size > UINT32_MAX - sizeof(tr_msg))
        return NULL;
    tri_worker *w = tri_tls_worker;
    tr_msg *m;
    if (w && w->pool && size <= TRI_POOL_MAX_PAYLOAD) {
        m = tri_msgpool_alloc(w->pool, size);
    } else {
        m = tri_alloc(sizeof(tr_msg) + size);
        if (m)
            tri_msg_set_origin(m, NULL);
    }
    if (!m)
        return NULL;
    m->tag = tag;
    m->size = (uint32_t)size;
    return m;
}

void tr_msg_free(tr_msg *m)
{
    if (!m)
        return;
    if (tri_msg_origin(m)) {
        tri_worker *w = tri_tls_worker;
        tri_msgpool_free(w ? w->pool : NULL, m);
    } else {
        tri_free(m, sizeof(tr_msg) + m->size);
    }
}

/* ---- lifetime ---------------------------------------------------------- */

/* The block: [gate slot when gated] header, state (actor_impl.h). */
static size_t block_size(uint32_t state_size, bool gated)
{
    return (gated ? TRI_GATE_SLOT : 0) + sizeof(struct tr_actor) + state_size;
}

static uint64_t mailbox_level(const void *owner)
{
    struct tr_actor *a = (struct tr_actor *)owner;
    return tri_mq_length(&a->mb_prod, &a->mb_cons);
}

int tri_actor_spawn(tri_sched *s, const tr_actor_opts *opts, struct tr_actor **out)
{
    if (opts->state_size > UINT32_MAX - sizeof(struct tr_actor))
        return TR_EINVAL;
    if (tri_sched_stopped(s))
        return TR_ESTOPPED;
    uint32_t state_size = (uint32_t)opts->state_size;
    /* Plain actors are gated only when asked: the gate's tail would double
     * an idle actor's block (136 -> 264 bytes, troupe-bench spawn_mem) and
     * cost big, ring and spawn a fifth of their rate. Endpoints ask for the
     * service's mark (rpc/endpoint.c). */
    uint32_t high = opts->mailbox_high ? opts->mailbox_high : TR_MAILBOX_UNBOUNDED;
    bool gated = high != TR_MAILBOX_UNBOUNDED;
    char *block = tri_zalloc_aligned(block_size(state_size, gated), TRI_ACTOR_ALIGN);
    if (!block)
        return TR_ENOMEM;
    struct tr_actor *a = (struct tr_actor *)(block + (gated ? TRI_GATE_SLOT : 0));
    a->state_size = state_size;
    a->on_stop = opts->on_stop;
    a->on_drop = opts->on_drop;
    a->count_mailbox = gated ? TRI_GATED : opts->count_mailbox ? 1 : 0;
    if (gated) {
        uint32_t cap = opts->mailbox_capacity;
        tri_gate_init(tri_actor_gate(a), cap && cap < high ? cap : high, opts->mailbox_low, cap,
                      mailbox_level, a);
    }
    atomic_init(&a->mute_state, 0);
    tri_mq_init(&a->mb_prod, &a->mb_cons, true); /* marked: not scheduled */
    a->sched = s;
    a->behavior = opts->behavior;
    atomic_init(&a->stopped, 0);
    atomic_init(&a->refs, 2); /* the caller's handle + alive */
    tri_sched_track(s, a);
    *out = a;
    return 0;
}

static void drop_msg(struct tr_actor *a, tr_msg *m)
{
    if (m->tag == TRI_MSG_TAG_STOP || !a->on_drop)
        tr_msg_free(m);
    else
        a->on_drop(a, a->state, m);
}

void tri_actor_free(struct tr_actor *a)
{
    bool gated = tri_actor_gate(a) != NULL;
    tri_free_aligned((char *)a - (gated ? TRI_GATE_SLOT : 0), block_size(a->state_size, gated),
                     TRI_ACTOR_ALIGN);
}

void tri_actor_teardown(struct tr_actor *a)
{
    /* Every sender has released its reference (or the workers are gone), so
     * every push completed: BUSY cannot last. */
    for (unsigned spins = 0;;) {
        tri_node *n = tri_mq_pop(&a->mb_prod, &a->mb_cons);
        if (!n)
            break;
        if (n == TRI_MPSC_BUSY) {
            if (++spins > 1000000) {
                TRI_ERROR(NULL, "actor", NULL,
                          "mailbox of actor %p never settled; leaking its tail", (void *)a);
                break;
            }
            continue;
        }
        drop_msg(a, (tr_msg *)n);
    }
    if (tri_actor_gate(a)) /* nobody waits for this mailbox any more */
        tri_gate_release(tri_actor_gate(a));
    if (!a->stop_done) {
        a->stop_done = 1;
        atomic_store_explicit(&a->stopped, 1, memory_order_release);
        if (a->on_stop)
            a->on_stop(a, a->state);
    }
}

void tri_actor_destroy(struct tr_actor *a)
{
    tri_actor_teardown(a);
    tri_sched_bury(a->sched, a);
}

void tr_actor_retain(tr_actor *a)
{
    /* relaxed: taking a reference needs one already held. */
    if (a)
        atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void tr_actor_release(tr_actor *a)
{
    if (!a)
        return;
    /* Messages coalesced for `a` must reach it while our reference holds. */
    tri_worker *w = tri_tls_worker;
    if (w && w->outbox.to == a)
        tri_outbox_flush(w);
    /* acq_rel: the last release sees every other holder's writes. */
    if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
        tri_actor_destroy(a);
}

void *tr_actor_state(tr_actor *a) { return a->state; }
tr_actor *tr_actor_current(void) { return tri_current_actor(); }
uint64_t tr_actor_mailbox_len(tr_actor *a) { return tri_mq_length(&a->mb_prod, &a->mb_cons); }

/* ---- sending ----------------------------------------------------------- */

/* This thread's send timeout (tr_thread_send_timeout). */
static _Thread_local int64_t tls_send_timeout = TR_SEND_TIMEOUT_DEFAULT;
/* send_timed's "this thread's send timeout", read only when a send may block. */
#define TRI_SEND_TIMEOUT_TLS INT64_MIN

int64_t tr_thread_send_timeout(int64_t ns)
{
    int64_t old = tls_send_timeout;
    tls_send_timeout = ns < 0 ? TR_SEND_TIMEOUT_DEFAULT : ns;
    return old;
}

/* Our push found the empty mark: we alone schedule the actor. A stopped
 * actor's mark means "drain me"; the run that drains holds a reference of
 * its own, taken here while the sender's reference keeps the actor alive.
 * acquire: the mark was set after `stopped` (release CAS), so it is seen.
 * A muted actor is owed this schedule by its unmuter instead (flow.h). */
static void wake(struct tr_actor *to)
{
    if (atomic_load_explicit(&to->stopped, memory_order_acquire))
        tr_actor_retain(to);
    /* relaxed: a hint; tri_mute_defer decides with seq_cst. */
    else if ((atomic_load_explicit(&to->mute_state, memory_order_relaxed) & TRI_MUTED) &&
             tri_mute_defer(to))
        return;
    tri_sched_schedule(to->sched, to);
}

/* Counts n pushes to a gated (or counting) mailbox. seq_cst: for a gated
 * one this RMW is rule 1's first half (flow.h); on x86 it costs what a
 * relaxed one does. */
static inline uint64_t count_pushes(struct tr_actor *to, uint64_t n)
{
    return atomic_fetch_add_explicit(&to->mb_prod.pushed, n, memory_order_seq_cst) + n;
}

/* The slow path of a gated push that passed the senders' limit: the level
 * may be at the high mark. Rule 1 (an overloaded muted actor runs), and a
 * sender in a turn is muted (its turn ends after this message). */
static void over_limit(struct tr_actor *to, uint64_t pushed)
{
    uint64_t popped = atomic_load_explicit(&to->mb_cons.popped, memory_order_relaxed);
    uint64_t level = pushed > popped ? pushed - popped : 0;
    if (level < tri_actor_gate(to)->high)
        return;
    tri_gate_unmute_overloaded(to, tri_actor_gate(to), level);
    tri_worker *w = tri_tls_worker;
    if (w && w->current && w->sched == to->sched && tri_gate_mute(tri_actor_gate(to), w->current))
        w->turn_muted = true;
}

/* Pushes a counted chain of n (a chain of one is a plain push). A gated
 * mailbox is checked against its limit (one relaxed load of a line the
 * consumer writes once a turn). Inlined: every send ends here. */
static inline __attribute__((always_inline)) void push_counted(struct tr_actor *to,
                                                               tri_node *first, tri_node *last,
                                                               uint64_t n)
{
    if (to->count_mailbox && n) { /* weight 0: not in the level */
        uint64_t pushed = count_pushes(to, n);
        if (tri_actor_gate(to) && pushed > atomic_load_explicit(&tri_actor_gate(to)->limit, memory_order_relaxed))
            over_limit(to, pushed);
    }
    if (tri_mq_push_chain(&to->mb_prod, first, last))
        wake(to);
}

/* The gate's say on a send from outside a turn: 0, TR_EFULL, TR_EAGAIN. */
static int gate_outside(struct tr_actor *to, int64_t timeout_ns)
{
    /* relaxed: the fast path; below the limit the level is below the mark. */
    if (atomic_load_explicit(&to->mb_prod.pushed, memory_order_relaxed) + 1 <=
            atomic_load_explicit(&tri_actor_gate(to)->limit, memory_order_relaxed) &&
        !tri_actor_gate(to)->capacity)
        return 0;
    switch (tri_gate_check(tri_actor_gate(to), mailbox_level(to))) {
    case TRI_GATE_PASS:
        return 0;
    case TRI_GATE_FULL:
        /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&tri_actor_gate(to)->refusals, 1, memory_order_relaxed);
        return TR_EFULL;
    case TRI_GATE_OVER:
        break;
    }
    if (timeout_ns < 0)
        timeout_ns = tri_sched_send_timeout(to->sched);
    if (timeout_ns <= 0) { /* never block (0 here: the caller asked not to) */
        if (timeout_ns == 0) {
            atomic_fetch_add_explicit(&tri_actor_gate(to)->timeouts, 1, memory_order_relaxed);
            return TR_EAGAIN;
        }
        return 0;
    }
    return tri_gate_wait(tri_actor_gate(to), tri_now_ns() + timeout_ns);
}

/* A send from outside a turn: the gate may block it (out of line: the
 * in-turn send is the hot path, and this one's frame and clock reads
 * cost it 6 instructions a message, big 322 against 295 on 209b864). */
static __attribute__((noinline)) int send_outside(tr_actor *to, tr_msg *m, int64_t timeout_ns)
{
    if (tri_actor_gate(to)) {
        if (timeout_ns == TRI_SEND_TIMEOUT_TLS)
            timeout_ns = tls_send_timeout;
        int rv = gate_outside(to, timeout_ns);
        if (rv)
            return rv;
    }
    push_counted(to, tri_msg_link(m), tri_msg_link(m), 1);
    return 0;
}

static inline int send_timed(tr_actor *to, tr_msg *m, int64_t timeout_ns)
{
    if (!to || !m)
        return TR_EINVAL;
    /* acquire: pairs with finish_stop's release; a send racing the stop
     * lands in the mailbox and reaches on_drop. Acquire on stopping pairs
     * with tri_sched_stop's release (as tri_sched_stopped). */
    if (atomic_load_explicit(&to->stopped, memory_order_acquire) ||
        atomic_load_explicit(&to->sched->stopping, memory_order_acquire))
        return TR_ESTOPPED;
    tri_worker *w = tri_tls_worker;
    if (w && w->current && w->sched == to->sched) {
        /* Inside a turn: never blocks. Over the mark: mute the sender. */
        tri_outbox *ob = &w->outbox;
        if (tri_actor_gate(to) && tri_actor_gate(to)->capacity) { /* opt-in: the exact level, per send */
            uint64_t level = mailbox_level(to) + (ob->to == to ? ob->n : 0);
            if (tri_gate_check(tri_actor_gate(to), level) == TRI_GATE_FULL) {
                atomic_fetch_add_explicit(&tri_actor_gate(to)->refusals, 1, memory_order_relaxed);
                return TR_EFULL;
            }
        }
        /* Muting is decided when the outbox is pushed (push_counted). */
        /* Coalesce into the worker's outbox. */
        if (ob->to != to || ob->n == TRI_OUTBOX_MAX) {
            tri_outbox_flush(w);
            ob->to = to;
            ob->first = tri_msg_link(m);
        } else {
            atomic_store_explicit(&ob->last->next, tri_msg_link(m), memory_order_relaxed);
        }
        ob->last = tri_msg_link(m);
        ob->n++;
        tri_sched_note_send(w);
        return 0;
    }
    return send_outside(to, m, timeout_ns);
}

int tr_send(tr_actor *to, tr_msg *m) { return send_timed(to, m, TRI_SEND_TIMEOUT_TLS); }

int tri_gate_admit(tri_gate *g, tri_sched *sched)
{
    enum tri_gate_verdict v = tri_gate_check(g, tri_gate_level(g) + 1);
    if (v == TRI_GATE_PASS)
        return 0;
    if (v == TRI_GATE_FULL) {
        /* relaxed: a statistic. */
        atomic_fetch_add_explicit(&g->refusals, 1, memory_order_relaxed);
        return TR_EFULL;
    }
    tri_worker *w = tri_tls_worker;
    if (w && w->current && w->sched == sched) {
        if (tri_gate_mute(g, w->current))
            w->turn_muted = true;
        return 0; /* a turn is never blocked: it goes on, muted after it */
    }
    int64_t timeout_ns = tls_send_timeout < 0 ? tri_sched_send_timeout(sched) : tls_send_timeout;
    if (timeout_ns < 0)
        return 0; /* configured never to block */
    if (timeout_ns == 0) {
        atomic_fetch_add_explicit(&g->timeouts, 1, memory_order_relaxed);
        return TR_EAGAIN;
    }
    return tri_gate_wait(g, tri_now_ns() + timeout_ns);
}

int tr_send_nowait(tr_actor *to, tr_msg *m) { return send_timed(to, m, 0); }

int tri_send_unchecked(tr_actor *to, tr_msg *m, uint32_t weight)
{
    if (atomic_load_explicit(&to->stopped, memory_order_acquire) || tri_sched_stopped(to->sched))
        return TR_ESTOPPED;
    tri_worker *w = tri_tls_worker;
    if (w && w->outbox.to == to)
        tri_outbox_flush(w); /* what this turn sent to it goes first */
    push_counted(to, tri_msg_link(m), tri_msg_link(m), weight);
    return 0;
}

void tri_actor_consumed(tr_actor *a, int64_t extra)
{
    /* relaxed: the consumer is the only writer (as tri_mq_pop). */
    atomic_store_explicit(&a->mb_cons.popped,
                          atomic_load_explicit(&a->mb_cons.popped, memory_order_relaxed) +
                              (uint64_t)extra,
                          memory_order_relaxed);
}

void tr_actor_flow_stats(tr_actor *a, tr_flow_stats *out)
{
    *out = (tr_flow_stats){0};
    if (!a || !tri_actor_gate(a))
        return;
    const tri_gate *g = tri_actor_gate(a);
    out->high = g->high;
    out->low = g->low;
    out->capacity = g->capacity;
    /* relaxed: snapshots. */
    out->mutes = atomic_load_explicit(&g->mutes, memory_order_relaxed);
    out->blocks = atomic_load_explicit(&g->blocks, memory_order_relaxed);
    out->timeouts = atomic_load_explicit(&g->timeouts, memory_order_relaxed);
    out->refusals = atomic_load_explicit(&g->refusals, memory_order_relaxed);
}

void tri_outbox_flush(tri_worker *w)
{
    tri_outbox *ob = &w->outbox;
    if (!ob->n)
        return;
    struct tr_actor *to = ob->to;
    uint32_t n = ob->n;
    ob->n = 0;
    ob->to = NULL;
    push_counted(to, ob->first, ob->last, n);
}

void tr_actor_stop(tr_actor *self)
{
    if (self && tri_current_actor() == self)
        self->stop_requested = 1;
    else if (self)
        tr_actor_stop_async(self);
}

int tr_actor_stop_async(tr_actor *a)
{
    if (!a)
        return TR_EINVAL;
    if (atomic_load_explicit(&a->stopped, memory_order_acquire))
        return TR_ESTOPPED;
    tr_msg *m = tr_msg_new(TRI_MSG_TAG_STOP, 0);
    if (!m)
        return TR_ENOMEM;
    int rv = tri_send_unchecked(a, m, 1); /* a stop is never held back */
    if (rv)
        tr_msg_free(m);
    return rv;
}

/* ---- the run loop ------------------------------------------------------ */

/* A stopped actor's mailbox: hand everything to on_drop, then mark it empty
 * again, so that a send racing the stop schedules one more drain instead of
 * waiting for the actor to be freed (an ask in it fails at once, S16). The
 * run that marks gives up the reference it held (see tri_actor_run). */
static enum tri_run_result drain_and_mark(struct tr_actor *a)
{
    for (;;) {
        tri_node *n = tri_mq_pop(&a->mb_prod, &a->mb_cons);
        if (n == TRI_MPSC_BUSY)
            return TRI_RUN_BUSY;
        if (n) {
            drop_msg(a, (tr_msg *)n);
            continue;
        }
        /* A sender that raced the stop may have muted itself on this gate
         * (its registration comes before its push, whose wake ran us):
         * nobody drains a stopped mailbox for it, so let it go here. */
        if (tri_actor_gate(a))
            tri_gate_release(tri_actor_gate(a));
        if (tri_mq_try_mark_empty(&a->mb_prod, &a->mb_cons))
            return TRI_RUN_DONE;
    }
}

/* The turn that stopped the actor: refuse new sends, drop what is queued,
 * run on_stop, then mark the mailbox and give up the actor's own reference
 * (or keep it for the rerun when a sender is half-way through a push). */
static enum tri_run_result finish_stop(struct tr_actor *a)
{
    /* release: pairs with tr_send's acquire, and travels with the mark. */
    atomic_store_explicit(&a->stopped, 1, memory_order_release);
    a->stop_done = 1;
    for (;;) { /* drop before on_stop, without marking: nothing may run
                  beside on_stop */
        tri_node *n = tri_mq_pop(&a->mb_prod, &a->mb_cons);
        if (!n || n == TRI_MPSC_BUSY)
            break;
        drop_msg(a, (tr_msg *)n);
    }
    if (a->on_stop)
        a->on_stop(a, a->state);
    if (tri_actor_gate(a)) /* stopped: nobody waits for this mailbox any more */
        tri_gate_release(tri_actor_gate(a));
    tri_worker *w = tri_tls_worker;
    if (w)
        tri_outbox_flush(w); /* what on_drop / on_stop sent */
    enum tri_run_result r = drain_and_mark(a);
    if (r == TRI_RUN_DONE)
        tr_actor_release(a);
    return r;
}

/* The consumer's side of a's gate after a turn (flow.h). */
static void gate_drained(struct tr_actor *a, bool idle)
{
    /* relaxed: the consumer's own counter. */
    uint64_t popped = atomic_load_explicit(&a->mb_cons.popped, memory_order_relaxed);
    tri_gate_drained(tri_actor_gate(a), popped, mailbox_level(a), idle);
}

enum tri_run_result tri_actor_run(struct tr_actor *a, unsigned batch)
{
    if (a->stop_done) { /* scheduled by a send that raced the stop */
        enum tri_run_result r = drain_and_mark(a);
        if (r == TRI_RUN_DONE)
            tr_actor_release(a); /* the reference that run held */
        return r;
    }
    tri_worker *w = tri_tls_worker;
    w->turn_muted = false;
    for (unsigned i = 0; i < batch; i++) {
        tri_node *n = tri_mq_pop(&a->mb_prod, &a->mb_cons);
        if (!n) {
            if (tri_actor_gate(a)) /* before the mark: after it, a is not ours */
                gate_drained(a, true);
            if (tri_mq_try_mark_empty(&a->mb_prod, &a->mb_cons))
                return TRI_RUN_DONE;
            continue; /* a sender raced in: it did not schedule us, go on */
        }
        if (n == TRI_MPSC_BUSY)
            return TRI_RUN_BUSY;
        tr_msg *m = (tr_msg *)n;
        if (m->tag == TRI_MSG_TAG_STOP) {
            tr_msg_free(m);
            a->stop_requested = 1;
        } else {
            a->behavior(a, a->state, m);
            if (w->outbox.n)
                tri_outbox_flush(w);
        }
        if (a->stop_requested)
            return finish_stop(a);
        if (w->turn_muted) /* muted (flow.h): no more sends this turn */
            break;
    }
    if (tri_actor_gate(a))
        gate_drained(a, false);
    return TRI_RUN_MORE;
}
