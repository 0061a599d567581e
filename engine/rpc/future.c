/* Futures and replies: completion exactly once, continuations, waiting.
 * The state word's protocol is described in future_impl.h. */
#include "rpc/future_impl.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/loan.h"
#include "core/actor_impl.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/msg.h"
#include "core/sched.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/msg.h"
#include "rpc/service_impl.h"
#include "rpc/timer.h"
#include "troupe/error.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- allocation and references ----------------------------------------- */

_Static_assert(sizeof(tr_future) % 8 == 0, "the payload after a future stays 8-aligned");

/* ---- a per-thread cache of future blocks ------------------------------------
 *
 * Every ask allocates a future and frees it a round trip later, usually on
 * the same worker. Blocks with room for CACHED_EXTRA bytes of argument are
 * kept on a per-thread list (CACHE_MAX of them) instead of going back to the
 * allocator. Per thread, not per service: a block carries no service state.
 * Sanitizer builds skip the cache so every future's lifetime stays visible. */
#define CACHED_EXTRA 64u

#ifdef TROUPE_WITH_JEMALLOC
#define CACHE_MAX 64u

/* The blocks are linked through their mailbox link (an atomic field, used
 * with relaxed order: the list is this thread's alone). */
static _Thread_local struct {
    tr_msg *head;
    uint32_t n;
    bool keyed;
} cache;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

void tri_future_cache_flush(void)
{
    while (cache.head) {
        tr_msg *m = cache.head;
        cache.head = tri_msg_next(m);
        tr_msg_free(m);
    }
    cache.n = 0;
}

static void cache_exit(void *unused)
{
    (void)unused;
    tri_future_cache_flush();
}

static void make_cache_key(void)
{
    if (pthread_key_create(&cache_key, cache_exit))
        cache_key = (pthread_key_t)-1;
}

static tr_msg *block_get(size_t extra)
{
    if (extra <= CACHED_EXTRA && cache.head) {
        tr_msg *m = cache.head;
        cache.head = tri_msg_next(m);
        cache.n--;
        return m;
    }
    size_t room = extra <= CACHED_EXTRA ? CACHED_EXTRA : extra;
    return tr_msg_new(tri_rpc_tag(TRI_RK_FUTURE, 0, 0, 0), sizeof(tr_future) + room);
}

static void block_put(tr_msg *m)
{
    if (cache.n >= CACHE_MAX || m->size != sizeof(tr_future) + CACHED_EXTRA) {
        tr_msg_free(m);
        return;
    }
    if (!cache.keyed) { /* the thread's exit must free what it keeps */
        pthread_once(&cache_key_once, make_cache_key);
        if (cache_key == (pthread_key_t)-1 || pthread_setspecific(cache_key, (void *)1)) {
            tr_msg_free(m);
            return;
        }
        cache.keyed = true;
    }
    tri_msg_set_next(m, cache.head);
    cache.head = m;
    cache.n++;
}
#else /* sanitizer builds: no cache */
void tri_future_cache_flush(void) {}

static tr_msg *block_get(size_t extra)
{
    return tr_msg_new(tri_rpc_tag(TRI_RK_FUTURE, 0, 0, 0), sizeof(tr_future) + extra);
}

static void block_put(tr_msg *m) { tr_msg_free(m); }
#endif

tr_future *tri_future_new(const tr_type *result_type, uint32_t refs, size_t extra)
{
    tr_msg *m = block_get(extra);
    if (!m)
        return NULL;
    m->tag = tri_rpc_tag(TRI_RK_FUTURE, 0, 0, 0);
    tr_future *f = tr_msg_data(m);
    memset(f, 0, offsetof(tr_future, timer)); /* the rest is set when used */
    atomic_init(&f->head, 0);
    atomic_init(&f->refs, refs);
    atomic_init(&f->inline_used, 0);
    atomic_init(&f->queued, 0);
    f->type = result_type;
    f->extra_len = (uint32_t)extra;
    return f;
}

int tr_future_new(tr_future **out)
{
    if (!out)
        return TR_EINVAL;
    *out = tri_future_new(NULL, 1, 0);
    return *out ? 0 : TR_ENOMEM;
}

static void future_free(tr_future *f)
{
    if (f->loan)
        tri_loan_drop(f->loan);
    if (f->value_heap)
        tri_free(f->value, f->value_size);
    tri_free(f->error, f->error_size);
    block_put(tri_future_msg(f));
}

void tr_future_retain(tr_future *f)
{
    /* relaxed: taking a reference needs one already held. */
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void tri_future_unref(tr_future *f, uint32_t n)
{
    /* Holding every reference (the common end of an ask: the message's,
     * the timer's and the continuation's dropped together), nobody else
     * can take or drop one, so no RMW is needed. acquire: pairs with the
     * release half of the other holders' earlier acq_rel drops, as the
     * RMW below would. Otherwise acq_rel: the last release sees every
     * holder's writes before freeing. */
    if (atomic_load_explicit(&f->refs, memory_order_acquire) == n ||
        atomic_fetch_sub_explicit(&f->refs, n, memory_order_acq_rel) == n)
        future_free(f);
}

void tr_future_release(tr_future *f)
{
    if (f)
        tri_future_unref(f, 1);
}

/* ---- reading ----------------------------------------------------------- */

static uintptr_t state(const tr_future *f)
{
    /* acquire: pairs with the completer's release exchange to DONE. */
    return atomic_load_explicit(&((tr_future *)f)->head, memory_order_acquire);
}

bool tr_future_done(const tr_future *f) { return f && (state(f) & TRI_FUT_DONE); }

int tr_future_code(const tr_future *f)
{
    if (!f)
        return TR_EINVAL;
    return (state(f) & TRI_FUT_DONE) ? f->code : TR_EAGAIN;
}

const char *tr_future_error(const tr_future *f)
{
    if (!f || !(state(f) & TRI_FUT_DONE) || !f->code)
        return NULL;
    return f->error ? f->error : tr_strerror(f->code);
}

const void *tr_future_value(const tr_future *f, const tr_type *t)
{
    if (!f || !(state(f) & TRI_FUT_DONE) || f->code || !f->value)
        return NULL;
    return (!t || t == f->vtype) ? f->value : NULL;
}

/* ---- continuations ----------------------------------------------------- */

static tr_msg *carrier_of(tr_future *f, tri_cont *c)
{
    if (c == &f->inline_cont)
        return tri_future_msg(f);
    return (tr_msg *)((char *)c - offsetof(tri_cont_msg, c)) - 1;
}

/* Runs `c` on this thread and drops what it held: the continuation's
 * reference and `more` others (one read-modify-write for all). */
static void cont_run_n(tr_endpoint *self, tr_future *f, tri_cont *c, uint32_t more)
{
    tr_msg *carrier = c == &f->inline_cont ? NULL : carrier_of(f, c);
    c->cb(self, f, c->arg);
    if (carrier)
        tr_msg_free(carrier);
    tri_future_unref(f, 1 + more);
}

static void cont_run(tr_endpoint *self, tr_future *f, tri_cont *c) { cont_run_n(self, f, c, 0); }

/* The future whose ask message this thread is dispatching (dispatch.c), so
 * that a completion inside its handler can leave the timer's reference to
 * the dispatcher, which drops it together with the message's in one go,
 * and so that the future's trip home waits for the handler to return
 * (tls_home_deferred), taking the message's reference along. */
static _Thread_local tr_future *tls_dispatching;
static _Thread_local bool tls_home_deferred;

/* Sends f home carrying c (its inline one or its own message) to c's
 * endpoint; false when that endpoint has terminated, after c ran here. */
static bool send_posted(tr_future *f, tri_cont *c)
{
    tr_endpoint *ep = c->ep;
    tr_msg *m = carrier_of(f, c);
    m->tag = tri_rpc_tag(c == &f->inline_cont ? TRI_RK_FUTURE : TRI_RK_CONT, 0, 0, 0);
    /* The endpoint reference travels with the message and is dropped on
     * the endpoint's own thread (tri_future_run_posted): its count's cache
     * line stays with it instead of bouncing to every answering worker. A
     * send that races the endpoint's stop leaves the message, and so the
     * endpoint, until the service is destroyed: rare, and bounded. */
    /* Never held back: an answer must always reach its asker. Not in the
     * asker's level either (weight 0; tri_future_run_posted uncounts its
     * pop): what is held back is never waiting behind it, the answers
     * out are bounded by the asks the asker made, and counting it was a
     * locked add on every answer (troupe-bench ask_pingpong workers=1:
     * 98 -> 92 ns a round trip). */
    if (tri_send_unchecked(ep->actor, m, 0) == 0)
        return true;
    /* its endpoint has terminated */
    if (c == &f->inline_cont && f->svc && tri_timers_cancel(f->svc->timers, &f->timer))
        tri_future_unref(f, 1); /* it will not travel: unarm here */
    cont_run(NULL, f, c);
    tri_endpoint_unref(ep);
    return false;
}

/* The future is complete: run `c` here or post it to its endpoint. */
static void cont_dispatch(tr_future *f, tri_cont *c)
{
    tr_endpoint *ep = c->ep;
    if (!ep) {
        cont_run(NULL, f, c);
        return;
    }
    if (c == &f->inline_cont &&
        atomic_load_explicit(&f->queued, memory_order_acquire)) {
        /* acquire: pairs with the callee's release when it takes the ask
         * out of its mailbox. Still queued there (a deadline beat it): the
         * future cannot travel yet, so the continuation moves to its own
         * message. */
        tr_msg *m = tr_msg_new(tri_rpc_tag(TRI_RK_CONT, 0, 0, 0), sizeof(tri_cont_msg));
        if (!m) {
            TRI_ERROR(&ep->svc->log, "future", ep->id,
                      "out of memory posting a continuation to endpoint %s; it runs "
                      "here without its endpoint", ep->id);
            cont_run(NULL, f, c);
            tri_endpoint_unref(ep);
            return;
        }
        tri_cont_msg *cm = tr_msg_data(m);
        cm->c = *c;
        cm->f = f;
        c = &cm->c;
    }
    if (c == &f->inline_cont && f == tls_dispatching) {
        /* Answered inside its own handler: the dispatcher sends it once the
         * handler has returned (the reply stays valid for the whole
         * handler), with the message's reference (dispatch_end). */
        tls_home_deferred = true;
        return;
    }
    send_posted(f, c);
}

void tri_future_preset_then(tr_future *f, tr_future_cb *cb, void *arg, tr_endpoint *owner)
{
    tri_cont *c = &f->inline_cont;
    c->next = NULL;
    c->cb = cb;
    c->arg = arg;
    c->ep = owner;
    if (owner)
        tri_endpoint_ref_own(owner); /* owner is the current endpoint */
    atomic_store_explicit(&f->inline_used, 1, memory_order_relaxed);
    /* relaxed: nobody else has the future yet; sending it publishes. */
    atomic_store_explicit(&f->head, (uintptr_t)c, memory_order_relaxed);
}

/* An owner's own reference for c (tri_endpoint_ref_own): owner is the
 * current endpoint wherever a continuation is bound to one. */
static void owner_ref(tr_endpoint *owner)
{
    if (owner)
        tri_endpoint_ref_own(owner);
}

void tri_future_run_posted(tr_endpoint *self, tr_msg *m)
{
    tr_endpoint *ep; /* read first: running may free the carrier */
    if (tri_rpc_kind_of(m->tag) == TRI_RK_FUTURE) {
        tr_future *f = tr_msg_data(m);
        ep = f->inline_cont.ep;
        /* The completer left the deadline to us (unarm()): our shard. Its
         * reference, and the ask message's when the dispatcher sent it
         * along (home_refs), go with the continuation's. */
        uint32_t more = f->home_refs;
        if (f->svc && tri_timers_cancel(f->svc->timers, &f->timer))
            more++;
        cont_run_n(self, f, &f->inline_cont, more);
    } else {
        tri_cont_msg *cm = tr_msg_data(m);
        ep = cm->c.ep;
        cont_run(self, cm->f, &cm->c);
    }
    /* the reference the message carried; on its own thread, to the cache */
    if (self == ep)
        tri_endpoint_unref_own(ep);
    else
        tri_endpoint_unref(ep);
}

int tr_future_then(tr_future *f, tr_future_cb *cb, void *arg)
{
    if (!f || !cb)
        return TR_EINVAL;
    tr_endpoint *owner = tri_endpoint_current();
    tri_cont *c;
    uint8_t unused = 0;
    /* relaxed: the flag only hands the slot to one registrant; the slot's
     * contents are published by the push below. */
    if (atomic_compare_exchange_strong_explicit(&f->inline_used, &unused, 1, memory_order_relaxed,
                                                memory_order_relaxed)) {
        c = &f->inline_cont;
    } else {
        tr_msg *m = tr_msg_new(tri_rpc_tag(TRI_RK_CONT, 0, 0, 0), sizeof(tri_cont_msg));
        if (!m)
            return TR_ENOMEM;
        tri_cont_msg *cm = tr_msg_data(m);
        cm->f = f;
        c = &cm->c;
    }
    c->cb = cb;
    c->arg = arg;
    c->ep = owner;
    owner_ref(owner);
    tr_future_retain(f);
    /* acquire (load and failed CAS): seeing DONE, we see the outcome before
     * running on it; pairs with publish()'s release exchange. */
    uintptr_t h = atomic_load_explicit(&f->head, memory_order_acquire);
    for (;;) {
        if (h & TRI_FUT_DONE) {
            cont_dispatch(f, c);
            return 0;
        }
        c->next = (tri_cont *)(h & ~TRI_FUT_FLAGS);
        /* release: publishes *c to the completer's acquire exchange. */
        if (atomic_compare_exchange_weak_explicit(&f->head, &h, (uintptr_t)c | (h & TRI_FUT_FLAGS),
                                                  memory_order_release, memory_order_acquire))
            return 0;
    }
}

/* ---- completion -------------------------------------------------------- */

void tri_future_dispatch_begin(tr_future *f) { tls_dispatching = f; }

uint32_t tri_future_dispatch_end(tr_future *f)
{
    tls_dispatching = NULL;
    if (tls_home_deferred) { /* unarm() left the timer to the asker: owed 0 */
        tls_home_deferred = false;
        f->home_refs = 1; /* the message's reference travels (published by the send) */
        return send_posted(f, &f->inline_cont) ? TRI_FUT_SENT_HOME : 1;
    }
    uint32_t owed = f->owed;
    f->owed = 0;
    return 1 + owed;
}

/* Exactly one completer wins: a CAS setting CLAIMED. Returns the state
 * word it claimed from (its continuation stack), or 0 when it lost. */
static uintptr_t claim(tr_future *f)
{
    /* acquire (load and failed CAS): a complete future is left alone, and
     * so is its service, which may be gone by now; a continuation seen on
     * the stack is seen whole (pairs with tr_future_then's release). */
    uintptr_t h = atomic_load_explicit(&f->head, memory_order_acquire);
    do {
        if (h & (TRI_FUT_CLAIMED | TRI_FUT_DONE))
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&f->head, &h, h | TRI_FUT_CLAIMED,
                                                    memory_order_acquire, memory_order_acquire));
    return h | TRI_FUT_CLAIMED;
}

/* Whether the future's first continuation is bound to an endpoint, so the
 * future itself will travel back to that endpoint's mailbox (h: the state
 * claimed from). */
static bool travels_home(tr_future *f, uintptr_t h)
{
    for (tri_cont *c = (tri_cont *)(h & ~TRI_FUT_FLAGS); c; c = c->next)
        if (c == &f->inline_cont)
            return c->ep != NULL;
    return false;
}

/* After a claim: unarm the deadline, unless the future travels home, where
 * the asker's thread unarms it on its own timer shard (tri_future_run_posted)
 * instead of this (often another) core taking that shard's lock. Until then
 * the deadline may still fire: it finds the future claimed and only drops
 * its reference. */
static void unarm(tr_future *f, uintptr_t h)
{
    if (!f->svc || travels_home(f, h))
        return;
    if (tri_timers_cancel(f->svc->timers, &f->timer)) {
        if (f == tls_dispatching)
            f->owed++; /* the dispatcher drops it with the message's */
        else
            tri_future_unref(f, 1); /* the completer's keeps f alive */
    }
}

static uint32_t *futex_word(tr_future *f)
{
    uint32_t *w = (uint32_t *)&f->head;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w += 1; /* the flags live in the low-order half */
#endif
    return w;
}

/* The outcome is written (by the claimer, whose claim returned `claimed`):
 * publish, wake, continue. */
static void publish(tr_future *f, uintptr_t claimed)
{
    uintptr_t h;
    if (f->sole) {
        /* release: publishes the outcome (pairs with state()'s acquire). A
         * plain store, no exchange: nobody holds a handle to push a
         * continuation or wait, and every other completer stops at
         * CLAIMED, so the word is still what our claim made it. */
        atomic_store_explicit(&f->head, TRI_FUT_DONE, memory_order_release);
        h = claimed;
    } else {
        /* acq_rel: release publishes the outcome; acquire sees the pushed
         * continuations (pairs with tr_future_then's release CAS). */
        h = atomic_exchange_explicit(&f->head, TRI_FUT_DONE, memory_order_acq_rel);
    }
    if (h & TRI_FUT_WAITERS)
        syscall(SYS_futex, futex_word(f), FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    tri_cont *c = (tri_cont *)(h & ~TRI_FUT_FLAGS), *fifo = NULL;
    while (c) { /* the stack is newest first: run in registration order */
        tri_cont *next = c->next;
        c->next = fifo;
        fifo = c;
        c = next;
    }
    while (fifo) {
        tri_cont *next = fifo->next;
        cont_dispatch(f, fifo);
        fifo = next;
    }
}

static void set_error(tr_future *f, int code, const char *fmt, va_list ap)
{
    f->code = code < 0 ? code : TR_EFAILED;
    va_list ap2;
    va_copy(ap2, ap);
    int n = fmt ? vsnprintf(NULL, 0, fmt, ap2) : -1;
    va_end(ap2);
    if (n < 0) {
        f->error = tri_strdup(tr_strerror(f->code));
        f->error_size = f->error ? (uint32_t)strlen(f->error) + 1 : 0;
        return;
    }
    f->error = tri_alloc((size_t)n + 1);
    if (f->error) {
        vsnprintf(f->error, (size_t)n + 1, fmt, ap);
        f->error_size = (uint32_t)n + 1;
    }
}

int tri_future_failv(tr_future *f, int code, const char *fmt, va_list ap)
{
    uintptr_t h = claim(f);
    if (!h)
        return TR_EBUSY;
    unarm(f, h);
    set_error(f, code, fmt, ap);
    publish(f, h);
    return 0;
}

/* For the timer thread: the deadline is already collected (unarmed). */
static void fail_from_timer(tr_future *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_from_timer(tr_future *f, int code, const char *fmt, ...)
{
    uintptr_t h = claim(f);
    if (!h)
        return; /* answered first: the deadline only drops its reference */
    va_list ap;
    va_start(ap, fmt);
    set_error(f, code, fmt, ap);
    va_end(ap);
    publish(f, h);
}

int tri_future_failf(tr_future *f, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = tri_future_failv(f, code, fmt, ap);
    va_end(ap);
    return rv;
}

int tr_future_fail(tr_future *f, int code, const char *fmt, ...)
{
    if (!f)
        return TR_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    int rv = tri_future_failv(f, code, fmt, ap);
    va_end(ap);
    return rv;
}

/* Room for a value of `size` bytes: inline or from the allocator. */
static void *value_room(tr_future *f, size_t size)
{
    if (size <= sizeof f->inline_value)
        return f->inline_value;
    if (size > UINT32_MAX)
        return NULL;
    void *p = tri_alloc(size);
    if (p)
        f->value_heap = 1;
    return p;
}

static int no_memory(tr_future *f, size_t size, uintptr_t claimed)
{
    f->code = TR_ENOMEM;
    char buf[96];
    snprintf(buf, sizeof buf, "out of memory storing a %zu-byte result", size);
    f->error = tri_strdup(buf);
    f->error_size = f->error ? (uint32_t)strlen(f->error) + 1 : 0;
    publish(f, claimed);
    return TR_ENOMEM;
}

/* tr_future_complete's body, inlined into tr_reply_value too (a handler's
 * answer: once per ask). */
static inline __attribute__((always_inline)) int complete(tr_future *f, const tr_type *t,
                                                          const void *value)
{
    uintptr_t h = claim(f);
    if (!h)
        return TR_EBUSY;
    if (value && t->kind > TR_KIND_VOID && t->kind < TR_KIND_STR) {
        /* An ask_then answered in its own handler, its one continuation
         * bound to its asker (the common local ask): it travels home (no
         * unarm here), nobody waits, and the dispatcher sends it, so
         * publish() and cont_dispatch() come down to the store and the
         * flag below. */
        bool home = f->sole && f == tls_dispatching &&
                    h == ((uintptr_t)&f->inline_cont | TRI_FUT_CLAIMED) && f->inline_cont.ep;
        if (!home)
            unarm(f, h);
        /* A scalar (the common answer): inline, no deep-copy walk. */
        if (t->size == 8)
            memcpy(f->inline_value, value, 8);
        else
            memcpy(f->inline_value, value, t->size);
        f->value = f->inline_value;
        f->value_size = (uint32_t)t->size;
        f->vtype = t;
        f->code = 0;
        if (home) {
            /* release: publishes the outcome, pairs with state()'s acquire
             * (as publish()'s sole store); the dispatcher's send home then
             * carries it to the asker. */
            atomic_store_explicit(&f->head, TRI_FUT_DONE, memory_order_release);
            tls_home_deferred = true;
            return 0;
        }
        publish(f, h);
        return 0;
    }
    unarm(f, h);
    size_t size = t ? tr_value_deep_size(t, value) : 0;
    if (size) {
        void *dst = value_room(f, size);
        if (!dst)
            return no_memory(f, size, h);
        tri_value_copy_into(t, value, dst, size);
        f->value = dst;
        f->value_size = (uint32_t)size;
    }
    f->vtype = t;
    f->code = 0;
    publish(f, h);
    return 0;
}

int tr_future_complete(tr_future *f, const tr_type *t, const void *value)
{
    if (!f || (!t && value))
        return TR_EINVAL;
    return complete(f, t, value);
}

int tri_future_complete_encoded(tr_future *f, const tr_type *t, const void *data, size_t len)
{
    size_t size;
    int rv = tri_decode_size(t, data, len, &size);
    if (rv)
        return tri_future_failf(f, rv, "cannot decode the %zu-byte %s result", len, t->name);
    uintptr_t h = claim(f);
    if (!h)
        return TR_EBUSY;
    unarm(f, h);
    if (size) {
        void *dst = value_room(f, size);
        if (!dst)
            return no_memory(f, size, h);
        tri_decode_into(t, data, len, dst, size);
        f->value = dst;
        f->value_size = (uint32_t)size;
    }
    f->vtype = t;
    f->code = 0;
    publish(f, h);
    return 0;
}

/* ---- deadlines --------------------------------------------------------- */

/* The timer thread collected the deadline; it holds the timer's
 * reference until done. */
static void on_deadline(tri_timer *t)
{
    tr_future *f = (tr_future *)((char *)t - offsetof(tr_future, timer));
    char addr[128];
    tri_service_address(f->svc, f->target, addr, sizeof addr);
    const char *more = f->target_len > TRI_FUT_TARGET_MAX ? "..." : "";
    if (tri_timers_closing(f->svc->timers)) {
        fail_from_timer(f, TR_ESTOPPED, "the service shut down before %s.%s to %s%s was answered",
                     f->gw_name, f->method_name, addr, more);
    } else {
        fail_from_timer(f, TR_ETIMEDOUT,
                     "%s.%s to %s%s timed out after %lld ms without an answer. Usual causes: "
                     "the recipient is slow or blocked (a long handler, or one waiting on "
                     "something itself), the message or its reply was lost or too large "
                     "(see max_frame_size), or the timeout is too short for this call",
                     f->gw_name, f->method_name, addr, more, (long long)(f->timeout_ns / 1000000));
    }
    tri_future_unref(f, 1); /* the timer's reference */
}

/* memcpy for the short ids of asks' targets without a libc call (one per
 * ask): two overlapping fixed-size copies cover 4..16 bytes, so nothing is
 * read outside [src, src + n). */
static inline void copy_small(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        memcpy(dst, src, n);
    }
}

void tri_future_label(tr_future *f, const char *gw_name, const char *method_name,
                      int64_t timeout_ns, const char *target, size_t len)
{
    f->gw_name = gw_name;
    f->method_name = method_name;
    f->timeout_ns = timeout_ns;
    f->target_len = (uint32_t)len;
    size_t keep = len < TRI_FUT_TARGET_MAX ? len : TRI_FUT_TARGET_MAX;
    copy_small(f->target, target, keep);
    f->target[keep] = '\0';
}

int tri_future_arm(tr_future *f, tr_service *svc, int64_t timeout_ns, const char *gw_name,
                   const char *method_name, const char *target, size_t len)
{
    tri_future_label(f, gw_name, method_name, timeout_ns, target, len);
    tri_timer_init(&f->timer, on_deadline);
    f->svc = svc;
    /* Armed after: no clock read per ask (it cost as much as the rest of
     * the arm and the cancel together); the timer thread starts the
     * deadline when it next passes, never early (timer.h). */
    int rv = tri_timers_arm_after(svc->timers, &f->timer, timeout_ns);
    if (rv)
        f->svc = NULL;
    return rv;
}

/* ---- waiting ----------------------------------------------------------- */

int tr_future_wait(tr_future *f, int64_t timeout_ns)
{
    if (!f)
        return TR_EINVAL;
    if (state(f) & TRI_FUT_DONE)
        return 0;
    if (tri_worker_current())
        return TR_EDEADLK;
    return tri_future_block(f, timeout_ns);
}

int tri_future_block(tr_future *f, int64_t timeout_ns)
{
    int64_t deadline = timeout_ns < 0 ? INT64_MAX : tri_now_ns() + timeout_ns;
    for (;;) {
        uintptr_t h = state(f);
        if (h & TRI_FUT_DONE)
            return 0;
        if (!(h & TRI_FUT_WAITERS)) {
            /* relaxed: the flag only asks the completer to wake us; the
             * outcome is read through state()'s acquire. */
            if (!atomic_compare_exchange_weak_explicit(&f->head, &h, h | TRI_FUT_WAITERS,
                                                       memory_order_relaxed, memory_order_relaxed))
                continue;
            h |= TRI_FUT_WAITERS;
        }
        struct timespec rel, *relp = NULL;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - tri_now_ns();
            if (left <= 0)
                return TR_ETIMEDOUT;
            rel.tv_sec = left / 1000000000;
            rel.tv_nsec = left % 1000000000;
            relp = &rel;
        }
        syscall(SYS_futex, futex_word(f), FUTEX_WAIT_PRIVATE, (uint32_t)h, relp, NULL, 0);
    }
}

int tr_future_get(tr_future *f, int64_t timeout_ns)
{
    int rv = tr_future_wait(f, timeout_ns);
    return rv ? rv : tr_future_code(f);
}

/* ---- replies ----------------------------------------------------------- */

int tr_reply_value(tr_reply *r, const tr_type *t, const void *value)
{
    if (!r)
        return TR_EINVAL;
    tr_future *f = tri_reply_future(r);
    if (value && f->type && t != f->type)
        return TR_EINVAL;
    if (!value)
        t = f->type;
    if (!t && value)
        return TR_EINVAL; /* as tr_future_complete */
    if (!f->encode || !t || !value)
        return complete(f, t, value);
    /* S22: the answer crosses as bytes, as it would between processes. */
    tr_buf b;
    tr_buf_init(&b);
    int rv = tr_encode(t, value, &b);
    if (rv) {
        tr_buf_free(&b);
        return rv;
    }
    rv = tri_future_complete_encoded(f, t, b.data, b.len);
    tr_buf_free(&b);
    return rv;
}

int tr_reply_fail(tr_reply *r, int code, const char *fmt, ...)
{
    if (!r)
        return TR_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    tri_future_failv(tri_reply_future(r), code, fmt, ap);
    va_end(ap);
    return code < 0 ? code : TR_EFAILED;
}

tr_reply *tr_reply_keep(tr_reply *r)
{
    if (!r)
        return NULL;
    tr_future *f = tri_reply_future(r);
    f->kept = 1;
    tr_future_retain(f);
    return r;
}

void tr_reply_release(tr_reply *r)
{
    if (!r)
        return;
    tr_future *f = tri_reply_future(r);
    tri_future_failf(f, TR_EFAILED, "the reply to %s.%s was released without an answer",
                     f->gw_name ? f->gw_name : "?", f->method_name ? f->method_name : "call");
    tr_future_release(f);
}

bool tr_reply_done(const tr_reply *r)
{
    return r && (state((const tr_future *)r) & (TRI_FUT_DONE | TRI_FUT_CLAIMED));
}
