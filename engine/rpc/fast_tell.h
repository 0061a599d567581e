/* The common local tell and ask, dispatched inline by the endpoint's
 * behaviour: no flags (local, unstamped, unfenced, not encoded), a started
 * unfenced endpoint, a declared method, not a sampled call. The same steps
 * as dispatch.c's parse + run_call without the parse record (about a third
 * of a tell's instructions, a tenth of an ask round trip's); anything else
 * takes tri_dispatch_call. */
#ifndef TRI_RPC_FAST_TELL_H
#define TRI_RPC_FAST_TELL_H

#include <stdbool.h>

#include "core/actor_impl.h"
#include "rpc/future_impl.h"
#include "rpc/endpoint_impl.h"
#include "rpc/metrics.h"
#include "rpc/msg.h"

/* After a fast tell's handler (gateway gi, method) returned rv != 0: the
 * counts and the log run_call would have done (dispatch.c). Main thread. */
void tri_tell_outcome(tr_endpoint *ep, unsigned gi, unsigned method, tri_method_metrics *mm,
                      uint64_t n, int rv) __attribute__((noinline));

/* The call a fast tell or ask runs: an unflagged message of `kind` for a
 * started unfenced endpoint's declared method, not a sampled call (that
 * one is counted here). False: the long way (tri_dispatch_call). */
typedef struct tri_fast_call {
    const tr_gateway_impl *impl;
    unsigned gi, method;
    tri_method_metrics *mm;
    uint64_t n;
} tri_fast_call;

static inline __attribute__((always_inline)) bool tri_fast_target(tr_endpoint *ep, uint32_t tag,
                                                                  unsigned kind, tri_fast_call *c)
{
    if (tag >> 20 != (uint32_t)kind << 8 || ep->life == TRI_EP_CREATED || ep->fenced)
        return false;
    c->gi = tri_rpc_gw_of(tag);
    c->method = tri_rpc_method_of(tag);
    if (c->gi >= ep->nimpls)
        return false;
    c->impl = &ep->impls[c->gi];
    if (c->method >= c->impl->desc->nmethods)
        return false;
    c->mm = tri_metrics_of(ep, c->gi, c->method);
    /* relaxed load and store: single writer (metrics.h) */
    c->n = TRI_METRICS_ON ? atomic_load_explicit(&c->mm->calls, memory_order_relaxed) : 1;
    if (__builtin_expect(tri_metrics_timed(c->n, 0), 0))
        return false; /* the sampled call takes the long way */
    if (TRI_METRICS_ON)
        atomic_store_explicit(&c->mm->calls, c->n + 1, memory_order_relaxed);
    return true;
}

/* Runs the tell with `tag` and argument `arg` (size bytes) if it is such
 * a tell: true; else false, nothing done. Main thread. */
static inline bool tri_fast_tell_of(tr_endpoint *ep, uint32_t tag, void *arg, size_t size)
{
    tri_fast_call c;
    if (!tri_fast_target(ep, tag, TRI_RK_TELL, &c))
        return false;
    int rv = c.impl->desc->methods[c.method].invoke(c.impl->handlers, ep, ep->state,
                                                    size ? arg : NULL, NULL);
    if (__builtin_expect(rv == 0, 1))
        tri_count(&ep->processed);
    else
        tri_tell_outcome(ep, c.gi, c.method, c.mm, c.n, rv);
    return true;
}

/* Runs m if it is such a tell and frees it: true; else false, nothing done.
 * Main thread. */
static inline bool tri_fast_tell(tr_endpoint *ep, tr_msg *m)
{
    if (!tri_fast_tell_of(ep, m->tag, tr_msg_data(m), m->size))
        return false;
    tr_msg_free(m);
    return true;
}

/* After a fast ask's handler returned rv != 0 or left its reply
 * unanswered: what run_call would have done after the handler (dispatch.c).
 * Main thread. */
void tri_ask_outcome(tr_endpoint *ep, tr_future *f, unsigned gi, unsigned method,
                     tri_method_metrics *mm, uint64_t n, int rv) __attribute__((noinline));

/* Runs m if it is such an ask and drops the message's reference: true;
 * else false, nothing done. Main thread. */
static inline bool tri_fast_ask(tr_endpoint *ep, tr_msg *m)
{
    tri_fast_call c;
    if (!tri_fast_target(ep, m->tag, TRI_RK_ASK, &c))
        return false;
    tr_future *f = tr_msg_data(m); /* the message is the future; once
                                      answered, m is not read again */
    /* release: pairs with cont_dispatch's acquire: the message has left
     * the mailbox, it may travel as a carrier now (as dispatch.c's parse). */
    atomic_store_explicit(&f->queued, 0, memory_order_release);
    tri_future_dispatch_begin(f);
    tr_reply *reply = tri_future_reply(f);
    /* Counted before the handler, which may answer: a reader of the stats
     * after the answer sees the call (tri_ask_outcome takes it back if
     * there was no handler). */
    tri_count(&ep->processed);
    int rv = c.impl->desc->methods[c.method].invoke(c.impl->handlers, ep, ep->state,
                                                    f->extra_len ? tri_future_extra(f) : NULL, reply);
    if (__builtin_expect(rv != 0 || !tr_reply_done(reply), 0))
        tri_ask_outcome(ep, f, c.gi, c.method, c.mm, c.n, rv);
    /* the message's reference, the timer's if we completed it */
    uint32_t k = tri_future_dispatch_end(f);
    if (k != TRI_FUT_SENT_HOME)
        tri_future_unref(f, k);
    return true;
}

#endif
