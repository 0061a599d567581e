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

/* After a fast tell's handler returned rv != 0: the counts and the log
 * run_call would have done (dispatch.c). Main thread. */
void tri_tell_outcome(tr_endpoint *ep, tr_msg *m, tri_method_metrics *mm, uint64_t n, int rv)
    __attribute__((noinline));

/* Runs m if it is such a tell and frees it: true; else false, nothing done.
 * Main thread. */
static inline bool tri_fast_tell(tr_endpoint *ep, tr_msg *m)
{
    uint32_t tag = m->tag;
    if (tag >> 20 != (uint32_t)TRI_RK_TELL << 8 || ep->life == TRI_EP_CREATED || ep->fenced)
        return false;
    unsigned gi = tri_rpc_gw_of(tag), method = tri_rpc_method_of(tag);
    if (gi >= ep->nimpls)
        return false;
    const tr_gateway_impl *impl = &ep->impls[gi];
    if (method >= impl->desc->nmethods)
        return false;
    tri_method_metrics *mm = tri_metrics_of(ep, gi, method);
    /* relaxed load and store: single writer (metrics.h) */
    uint64_t n = TRI_METRICS_ON ? atomic_load_explicit(&mm->calls, memory_order_relaxed) : 1;
    if (__builtin_expect(tri_metrics_timed(n, 0), 0))
        return false; /* the sampled call takes the long way */
    if (TRI_METRICS_ON)
        atomic_store_explicit(&mm->calls, n + 1, memory_order_relaxed);
    int rv = impl->desc->methods[method].invoke(impl->handlers, ep, ep->state,
                                                m->size ? tr_msg_data(m) : NULL, NULL);
    if (__builtin_expect(rv == 0, 1))
        tri_count(&ep->processed);
    else
        tri_tell_outcome(ep, m, mm, n, rv);
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
    uint32_t tag = m->tag;
    if (tag >> 20 != (uint32_t)TRI_RK_ASK << 8 || ep->life == TRI_EP_CREATED || ep->fenced)
        return false;
    unsigned gi = tri_rpc_gw_of(tag), method = tri_rpc_method_of(tag);
    if (gi >= ep->nimpls)
        return false;
    const tr_gateway_impl *impl = &ep->impls[gi];
    if (method >= impl->desc->nmethods)
        return false;
    tri_method_metrics *mm = tri_metrics_of(ep, gi, method);
    /* relaxed load and store: single writer (metrics.h) */
    uint64_t n = TRI_METRICS_ON ? atomic_load_explicit(&mm->calls, memory_order_relaxed) : 1;
    if (__builtin_expect(tri_metrics_timed(n, 0), 0))
        return false; /* the sampled call takes the long way */
    if (TRI_METRICS_ON)
        atomic_store_explicit(&mm->calls, n + 1, memory_order_relaxed);
    tr_future *f = tr_msg_data(m); /* the message is the future; once
                                      answered, m is not read again */
    /* release: pairs with cont_dispatch's acquire: the message has left
     * the mailbox, it may travel as a carrier now (as dispatch.c's parse). */
    atomic_store_explicit(&f->queued, 0, memory_order_release);
    tri_future_dispatch_begin(f);
    tr_reply *reply = tri_future_reply(f);
    int rv = impl->desc->methods[method].invoke(impl->handlers, ep, ep->state,
                                                f->extra_len ? tri_future_extra(f) : NULL, reply);
    if (__builtin_expect(rv == 0 && tr_reply_done(reply), 1))
        tri_count(&ep->processed);
    else
        tri_ask_outcome(ep, f, gi, method, mm, n, rv);
    /* the message's reference, the timer's if we completed it */
    uint32_t k = tri_future_dispatch_end(f);
    if (k != TRI_FUT_SENT_HOME)
        tri_future_unref(f, k);
    return true;
}

#endif
