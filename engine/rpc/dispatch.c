/* The receiving side of calls: checks, decoding, the handler, the answer.
 *
 * Message payloads (after the tr_msg header; see msg.h for the tag):
 *   TELL   [fencing data][argument]
 *   ASK    [struct tr_future][fencing data][argument] (the future itself)
 *   RUN    [tr_run_fn *][fencing data][argument bytes]
 *   CALL   [tr_call_fn *][tr_future *][fencing data][argument bytes]
 *   BATCH  records of tells (msg.h), each run as a TELL message would be
 * The argument is a deep copy (pointers into the message) or, with
 * TRI_RF_ENCODED, its encoding. Every part is a multiple of 8 bytes. */
#include <stdalign.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/fast_tell.h"
#include "rpc/service_impl.h"
#include "rpc/future_impl.h"
#include "rpc/metrics.h"
#include "rpc/msg.h"
#include "troupe/error.h"

/* Where the parts of a call message are. */
typedef struct parsed {
    unsigned kind, flags, method;
    tr_future *f;
    void (*fn)(void); /* a tr_run_fn or tr_call_fn, by kind */
    const void *fence;
    uint8_t *arg;
    size_t arg_len;
    const tr_gateway_impl *impl;
    const tr_method_desc *md;
    unsigned gi;
    int64_t stamp; /* the send time, when flags has TRI_RF_STAMP */
} parsed;

/* The parts of a call with tag `tag` whose payload is `d`, `size` bytes
 * (a message's, or a record's in a batch). */
static inline void parse_parts(tr_endpoint *ep, uint32_t tag, uint8_t *d, size_t size, parsed *p)
{
    size_t off = 0;
    p->kind = tri_rpc_kind_of(tag);
    p->flags = tri_rpc_flags_of(tag);
    p->f = NULL;
    p->fn = NULL;
    p->impl = NULL;
    p->md = NULL;
    if (p->kind == TRI_RK_ASK) { /* the message is the future */
        p->f = (tr_future *)d;
        off = sizeof(tr_future);
        /* release: pairs with cont_dispatch's acquire: the message has
         * left the mailbox, it may travel as a carrier now. */
        atomic_store_explicit(&p->f->queued, 0, memory_order_release);
    } else if (p->kind == TRI_RK_RUN || p->kind == TRI_RK_CALL) {
        memcpy(&p->fn, d, sizeof p->fn);
        off = 8;
        if (p->kind == TRI_RK_CALL) {
            memcpy(&p->f, d + off, sizeof p->f);
            off += 8;
        }
    }
    if (p->flags & TRI_RF_STAMP) { /* else p->stamp is never read */
        memcpy(&p->stamp, d + off, TRI_STAMP_BYTES);
        off += TRI_STAMP_BYTES;
    }
    p->fence = d + off;
    off += tri_fence_bytes(p->flags);
    /* An ask's block may be roomier than its argument (future.c's cache). */
    p->arg_len = p->kind == TRI_RK_ASK ? sizeof(tr_future) + p->f->extra_len - off : size - off;
    p->arg = p->arg_len ? d + off : NULL;
    if (p->kind == TRI_RK_TELL || p->kind == TRI_RK_ASK) {
        unsigned gi = tri_rpc_gw_of(tag);
        p->gi = gi;
        p->method = tri_rpc_method_of(tag);
        if (gi < ep->nimpls) {
            p->impl = &ep->impls[gi];
            if (p->method < p->impl->desc->nmethods)
                p->md = &p->impl->desc->methods[p->method];
        }
    }
}

static inline void parse(tr_endpoint *ep, tr_msg *m, parsed *p)
{
    parse_parts(ep, m->tag, tr_msg_data(m), m->size, p);
}

/* For messages: what the call was. */
static const char *gw_name(const parsed *p)
{
    if (p->kind == TRI_RK_RUN || p->kind == TRI_RK_CALL)
        return "endpoint";
    return p->impl ? p->impl->desc->name : "?";
}

static const char *method_name(const parsed *p)
{
    if (p->kind == TRI_RK_RUN)
        return "run_async";
    if (p->kind == TRI_RK_CALL)
        return "call_async";
    return p->md ? p->md->name : "?";
}

/* Drops the message's own reference to its future and the message (an
 * ask's message is its future: the reference is all there is to drop). */
static void finish_msg(parsed *p, tr_msg *m)
{
    if (p->kind == TRI_RK_ASK) {
        tri_future_unref(p->f, 1);
        return;
    }
    if (p->f)
        tri_future_unref(p->f, 1);
    tr_msg_free(m);
}

/* A run_async / call_async body that will never run on its endpoint is
 * called once with self == NULL, state == NULL (and reply == NULL), so it
 * can release what its argument holds (gateway.h). */
static void release_body(parsed *p)
{
    if (p->kind == TRI_RK_RUN)
        ((tr_run_fn *)p->fn)(NULL, NULL, p->arg);
    else if (p->kind == TRI_RK_CALL)
        ((tr_call_fn *)p->fn)(NULL, NULL, p->arg, NULL);
}

void tri_dispatch_drop(tr_endpoint *ep, tr_msg *m, int code, const char *why)
{
    if (tri_rpc_kind_of(m->tag) == TRI_RK_BATCH) { /* tells: counted, no one to tell */
        uint8_t *d = (uint8_t *)tr_msg_data(m) + tri_stamp_bytes(tri_rpc_flags_of(m->tag));
        uint32_t n = 0;
        for (uint8_t *end = (uint8_t *)tr_msg_data(m) + m->size; end - d >= 8; n++) {
            uint32_t size;
            memcpy(&size, d, 4);
            tri_count(&ep->dropped);
            d += 8 + size;
        }
        tr_msg_free(m);
        /* The run was counted as its tells (wire_inbound.c); the drop path
         * is the consumer's, as dispatch is: the level stays true. */
        if (n > 1)
            tri_actor_consumed(ep->actor, n - 1);
        return;
    }
    parsed p;
    parse(ep, m, &p);
    tri_count(&ep->dropped);
    if (p.f)
        tri_future_failf(p.f, code, "endpoint %s %s; %s.%s was not processed", ep->id, why,
                         gw_name(&p), method_name(&p));
    release_body(&p);
    finish_msg(&p, m);
}

void tri_dispatch_release_run(tr_msg *m)
{
    parsed p;
    p.kind = tri_rpc_kind_of(m->tag);
    p.flags = tri_rpc_flags_of(m->tag);
    uint8_t *d = tr_msg_data(m);
    memcpy(&p.fn, d, sizeof p.fn);
    size_t off = 8 + tri_fence_bytes(p.flags);
    p.arg_len = m->size - off;
    p.arg = p.arg_len ? d + off : NULL;
    release_body(&p);
}

/* A refusal before any handler ran. Returns true when refused. */
static bool refuse(tr_endpoint *ep, parsed *p)
{
    char why[400];
    if (ep->life == TRI_EP_CREATED) { /* S2 */
        tri_endpoint_reject(ep, TR_REJECT_NOT_STARTED);
        if (p->f)
            tri_future_failf(p->f, TR_ENOTSTARTED,
                             "endpoint %s has not been started; discarding %s.%s", ep->id,
                             gw_name(p), method_name(p));
        else
            TRI_DEBUG(&ep->svc->log, "endpoint", ep->id,
                      "endpoint %s has not been started; discarding %s.%s", ep->id, gw_name(p),
                      method_name(p));
        return true;
    }
    if (ep->fenced && !(p->flags & TRI_RF_UNFENCED) &&
        tri_fence_check(ep, p->flags, p->fence, why, sizeof why)) { /* S31, S32 */
        tri_endpoint_reject(ep, TR_REJECT_FENCED);
        if (p->f)
            tri_future_failf(p->f, TR_EFENCED, "%s.%s: %s", gw_name(p), method_name(p), why);
        else
            TRI_DEBUG(&ep->svc->log, "endpoint", ep->id, "%s.%s: %s", gw_name(p), method_name(p),
                      why);
        return true;
    }
    if ((p->kind == TRI_RK_TELL || p->kind == TRI_RK_ASK) && !p->md) { /* S18 */
        tri_endpoint_reject(ep, TR_REJECT_NO_METHOD);
        if (p->f)
            tri_future_failf(p->f, TR_ENOMETHOD, "endpoint %s has no method #%u in gateway %s",
                             ep->id, p->method, gw_name(p));
        return true;
    }
    return false;
}

/* After the handler: an ask must be answered, kept, or failed now. */
static void settle_reply(tr_endpoint *ep, parsed *p, int rv)
{
    tr_reply *r = tri_future_reply(p->f);
    if (tr_reply_done(r))
        return;
    if (rv < 0)
        tri_future_failf(p->f, rv, "%s.%s on endpoint %s failed: %s", gw_name(p), method_name(p),
                         ep->id, tr_strerror(rv));
    else if (!p->f->kept)
        tri_future_failf(p->f, TR_EFAILED,
                         "the handler of %s.%s on endpoint %s returned without answering or "
                         "keeping its reply (tr_reply_keep)",
                         gw_name(p), method_name(p), ep->id);
}

/* Whether refuse() has anything to check (the common case: no). */
static inline bool may_refuse(const tr_endpoint *ep, const parsed *p)
{
    return ep->life == TRI_EP_CREATED || ep->fenced ||
           ((p->kind == TRI_RK_TELL || p->kind == TRI_RK_ASK) && !p->md);
}

/* A sampled call (metrics.h): the handler timed, apart from the common
 * path so that path keeps nothing live across the handler for it. */
static __attribute__((noinline)) int invoke_timed(tr_endpoint *ep, parsed *p,
                                                  tri_method_metrics *mm, const void *arg,
                                                  tr_reply *reply)
{
    int64_t t0 = tri_now_ns();
    int rv = p->md->invoke(p->impl->handlers, ep, ep->state, arg, reply);
    if (rv != TR_NO_HANDLER_)
        tri_metrics_record(ep, mm, p->flags & TRI_RF_STAMP ? p->stamp : 0, t0, tri_now_ns());
    return rv;
}

/* Refusal checks, decoding, the handler, the answer: everything but
 * freeing the message (a batch's records share one). */
static void run_call(tr_endpoint *ep, parsed *p)
{
    if (may_refuse(ep, p) && refuse(ep, p))
        return;
    const void *arg = p->arg;
    void *decoded = NULL;
    size_t dsize = 0;
    alignas(16) unsigned char small[256];
    if (p->flags & TRI_RF_ENCODED) { /* S22: decode as a remote peer would */
        int rv = tri_decode_size(p->md->arg_type, p->arg, p->arg_len, &dsize);
        if (rv) {
            tri_endpoint_reject(ep, TR_REJECT_DECODE);
            if (p->f)
                tri_future_failf(p->f, rv, "endpoint %s cannot decode the %zu-byte %s argument of %s.%s",
                                 ep->id, p->arg_len, p->md->arg_type->name, gw_name(p), method_name(p));
            return;
        }
        decoded = dsize <= sizeof small ? small : tri_alloc(dsize);
        if (dsize && !decoded) {
            if (p->f)
                tri_future_failf(p->f, TR_ENOMEM, "out of memory decoding %s.%s", gw_name(p),
                                 method_name(p));
            return;
        }
        tri_decode_into(p->md->arg_type, p->arg, p->arg_len, decoded, dsize);
        tri_count(&ep->decoded);
        arg = dsize ? decoded : NULL;
    }
    if (p->f)
        tri_future_dispatch_begin(p->f);
    /* Counted as it starts (undone below if there is no handler); the
     * count picks the timed calls, so the common call adds one store. */
    tri_method_metrics *mm = tri_metrics_of(ep, p->gi, p->method);
    uint64_t n = tri_metrics_count(mm);
    tr_reply *reply = p->f ? tri_future_reply(p->f) : NULL;
    /* An ask is counted before its handler, which may answer: whoever
     * reads the stats after the answer sees the call counted. */
    if (p->f)
        tri_count(&ep->processed);
    int rv;
    if (__builtin_expect(tri_metrics_timed(n, p->flags & TRI_RF_STAMP), 0))
        rv = invoke_timed(ep, p, mm, arg, reply);
    else
        rv = p->md->invoke(p->impl->handlers, ep, ep->state, arg, reply);
    if (rv == TR_NO_HANDLER_) {
        if (TRI_METRICS_ON) /* relaxed: single writer */
            atomic_store_explicit(&mm->calls, n, memory_order_relaxed); /* not a call after all */
    } else if (rv < 0) {
        tri_count(&mm->errors);
    }
    if (rv == TR_NO_HANDLER_) { /* S18: declared, but this endpoint has no handler */
        tri_endpoint_reject(ep, TR_REJECT_NO_METHOD);
        if (p->f) {
            tri_uncount(&ep->processed);
            tri_future_failf(p->f, TR_ENOMETHOD, "endpoint %s does not handle %s.%s", ep->id,
                             gw_name(p), method_name(p));
        }
    } else if (p->f) {
        settle_reply(ep, p, rv);
    } else {
        tri_count(&ep->processed); /* a tell: nobody waits on it */
        if (rv < 0) {
            tri_count(&ep->handler_errors);
            TRI_WARN(&ep->svc->log, "endpoint", ep->id, "tell %s.%s on endpoint %s failed: %s",
                     gw_name(p), method_name(p), ep->id, tr_strerror(rv));
        }
    }
    if (decoded && decoded != small)
        tri_free(decoded, dsize);
}

/* A plain tell's handler returned non-zero (tri_fast_tell): the bookkeeping
 * run_call does after its handler, apart so the common path stays short. */
void tri_tell_outcome(tr_endpoint *ep, unsigned gi, unsigned method, tri_method_metrics *mm,
                      uint64_t n, int rv)
{
    /* For the names in the log: the fast paths checked gi and method. */
    parsed p = {.kind = TRI_RK_TELL, .gi = gi, .method = method, .impl = &ep->impls[gi]};
    p.md = &p.impl->desc->methods[method];
    if (rv == TR_NO_HANDLER_) { /* S18: declared, but this endpoint has no handler */
        if (TRI_METRICS_ON) /* relaxed: single writer */
            atomic_store_explicit(&mm->calls, n, memory_order_relaxed); /* not a call after all */
        tri_endpoint_reject(ep, TR_REJECT_NO_METHOD);
        return;
    }
    tri_count(&ep->processed);
    if (rv < 0) {
        tri_count(&mm->errors);
        tri_count(&ep->handler_errors);
        TRI_WARN(&ep->svc->log, "endpoint", ep->id, "tell %s.%s on endpoint %s failed: %s",
                 gw_name(&p), method_name(&p), ep->id, tr_strerror(rv));
    }
}

/* A plain ask's handler returned non-zero or left its reply unanswered
 * (tri_fast_ask): run_call's bookkeeping after its handler. */
void tri_ask_outcome(tr_endpoint *ep, tr_future *f, unsigned gi, unsigned method,
                     tri_method_metrics *mm, uint64_t n, int rv)
{
    /* Not parsed from the message: once answered, a remote ask's message
     * may already be the I/O thread's carrier for the answer (wire.h). */
    parsed p = {.kind = TRI_RK_ASK, .f = f, .gi = gi, .method = method,
                .impl = &ep->impls[gi]};
    p.md = &p.impl->desc->methods[method];
    if (rv == TR_NO_HANDLER_) { /* S18: declared, but this endpoint has no handler */
        if (TRI_METRICS_ON) /* relaxed: single writer */
            atomic_store_explicit(&mm->calls, n, memory_order_relaxed); /* not a call after all */
        tri_endpoint_reject(ep, TR_REJECT_NO_METHOD);
        tri_uncount(&ep->processed); /* counted before the handler (tri_fast_ask) */
        tri_future_failf(p.f, TR_ENOMETHOD, "endpoint %s does not handle %s.%s", ep->id,
                         gw_name(&p), method_name(&p));
        return;
    }
    if (rv < 0)
        tri_count(&mm->errors);
    settle_reply(ep, &p, rv);
}

void tri_dispatch_call(tr_endpoint *ep, tr_msg *m)
{
    parsed p;
    parse(ep, m, &p);
    run_call(ep, &p);
    if (p.f) { /* the message's reference, the timer's if we completed it */
        uint32_t n = tri_future_dispatch_end(p.f);
        if (n != TRI_FUT_SENT_HOME)
            tri_future_unref(p.f, n);
    } else
        tr_msg_free(m);
}

/* A batch (msg.h): each record is a tell, run in order as if it had its
 * own message. */
void tri_dispatch_batch(tr_endpoint *ep, tr_msg *m)
{
    uint8_t *d = tr_msg_data(m), *end = d + m->size;
    int64_t stamp = 0; /* the batch's send time: the first record's queue time */
    if (tri_rpc_flags_of(m->tag) & TRI_RF_STAMP) {
        memcpy(&stamp, d, TRI_STAMP_BYTES);
        d += TRI_STAMP_BYTES;
    }
    uint32_t n = 0;
    while (end - d >= 8) {
        uint32_t size, tag;
        memcpy(&size, d, 4);
        memcpy(&tag, d + 4, 4);
        /* The common record (a plain tell, not the stamped first one): as a
         * tell message would run (fast_tell.h). */
        if (!stamp && tri_fast_tell_of(ep, tag, d + 8, size)) {
            d += 8 + size;
            n++;
            continue;
        }
        parsed p;
        parse_parts(ep, tag, d + 8, size, &p);
        if (stamp) { /* the first record carries the batch's send time */
            p.flags |= TRI_RF_STAMP;
            p.stamp = stamp;
            stamp = 0;
        }
        run_call(ep, &p);
        d += 8 + size;
        n++;
    }
    tr_msg_free(m);
    if (n > 1) /* the run was counted as its tells (wire_inbound.c) */
        tri_actor_consumed(ep->actor, n - 1);
}

void tri_dispatch_run(tr_endpoint *ep, tr_msg *m)
{
    parsed p;
    parse(ep, m, &p);
    if (may_refuse(ep, &p) && refuse(ep, &p)) {
        release_body(&p);
        finish_msg(&p, m);
        return;
    }
    tri_count(&ep->processed);
    if (p.kind == TRI_RK_RUN) {
        tr_run_fn *fn = (tr_run_fn *)p.fn;
        int rv = fn(ep, ep->state, p.arg);
        if (rv < 0) { /* S11: nobody to tell, so say it */
            tri_count(&ep->handler_errors);
            TRI_WARN(&ep->svc->log, "endpoint", ep->id,
                     "a run_async body on endpoint %s failed: %s", ep->id, tr_strerror(rv));
        }
    } else {
        tr_call_fn *fn = (tr_call_fn *)p.fn;
        int rv = fn(ep, ep->state, p.arg, tri_future_reply(p.f));
        settle_reply(ep, &p, rv);
    }
    finish_msg(&p, m);
}
