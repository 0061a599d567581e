/* Gateways: local connect, the calling side of tell and ask, the transport
 * table.
 *
 * A gateway reaches its endpoint through a transport: a table of a few
 * functions (the local one is below; remote/transport.c has the one that
 * hands calls to the I/O thread). Local calls copy the argument deep into
 * the message, never serialize it (S22), unless the service forces it.
 * The public tr_service_connect is in remote/node.c: it tells local ids
 * from remote addresses and comes here for the local ones. */
#include "rpc/gateway_impl.h"

#include <string.h>

#include "base/alloc.h"
#include "core/actor_impl.h"
#include "core/sched_impl.h"
#include "rpc/codec.h"
#include "rpc/future_impl.h"
#include "rpc/metrics.h"
#include "rpc/msg.h"
#include "rpc/registry.h"
#include "rpc/service_impl.h"

/* ---- building a call message ------------------------------------------------ */

size_t tri_gateway_put_fence(const tr_gateway *gw, uint8_t *p)
{
    if (gw->fence == TRI_RF_TOKEN) {
        memcpy(p, &gw->token, sizeof gw->token);
        return sizeof gw->token;
    }
    if (gw->fence == TRI_RF_EPOCH) {
        /* acquire: pairs with the token change's release (fencing.c). */
        uint64_t e = atomic_load_explicit(&gw->ep->fence_epoch, memory_order_acquire);
        memcpy(p, &e, sizeof e);
        return sizeof e;
    }
    return 0;
}

/* The argument part of a call: its size, then writing it. The common case
 * (a scalar argument, not encoded) is a memcpy. */
typedef struct call_arg {
    const tr_type *type;
    const void *value;
    size_t len;
    bool flat;
    tr_buf enc; /* S22: the encoding */
} call_arg;

static inline int arg_prepare(tr_gateway *gw, const tr_method_desc *md, const void *arg, call_arg *ca)
{
    ca->type = md->arg_type;
    ca->value = arg;
    if (gw->encode) {
        ca->flat = false;
        tr_buf_init(&ca->enc);
        int rv = tr_encode(ca->type, arg, &ca->enc);
        ca->len = ca->enc.len;
        return rv;
    }
    ca->flat = ca->type->kind < TR_KIND_STR;
    ca->len = !arg ? 0 : ca->flat ? ca->type->size : tr_value_deep_size(ca->type, arg);
    return 0;
}

static void arg_discard(tr_gateway *gw, call_arg *ca)
{
    if (gw->encode)
        tr_buf_free(&ca->enc);
}

/* A flat value of `len` bytes (a type's size: fixed sizes, no libc call). */
static inline void copy_flat(uint8_t *p, const void *v, size_t len)
{
    if (__builtin_expect(len == 8, 1)) { /* the most common: no jump table */
        memcpy(p, v, 8);
        return;
    }
    switch (len) {
    case 0: break;
    case 1: memcpy(p, v, 1); break;
    case 2: memcpy(p, v, 2); break;
    case 4: memcpy(p, v, 4); break;
    case 8: memcpy(p, v, 8); break;
    default: memcpy(p, v, len);
    }
}

/* Writes the fencing data then the argument at p. */
static inline void arg_write(tr_gateway *gw, call_arg *ca, uint8_t *p)
{
    if (gw->fence)
        p += tri_gateway_put_fence(gw, p);
    if (gw->encode) {
        if (ca->len)
            memcpy(p, ca->enc.data, ca->len);
        tr_buf_free(&ca->enc);
    } else if (ca->flat) {
        copy_flat(p, ca->value, ca->len);
    } else {
        tri_value_copy_into(ca->type, ca->value, p, ca->len);
    }
}

static unsigned call_flags(const tr_gateway *gw)
{
    return gw->fence | (gw->encode ? TRI_RF_ENCODED : 0);
}

/* tr_send failed: the endpoint has terminated (S16), or the service. */
static int send_failed(tr_gateway *gw, int rv)
{
    if (rv == TR_EAGAIN || rv == TR_EFULL) /* backpressure: the caller keeps its value */
        return rv;
    if (tri_service_check_running(gw->svc))
        return TR_ESTOPPED;
    /* relaxed: a statistic, bumped by any sender. */
    atomic_fetch_add_explicit(&gw->ep->dropped_at_send, 1, memory_order_relaxed);
    return TR_EUNREACHABLE;
}

/* ---- the local transport ------------------------------------------------------ */

/* `stamp` (0 or TRI_RF_STAMP) is a constant at each call below: the
 * common, unstamped call is compiled without the stamp's arithmetic. */
static inline __attribute__((always_inline)) int
local_tell_as(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
              unsigned stamp)
{
    call_arg ca;
    int rv = arg_prepare(gw, md, arg, &ca);
    unsigned flags = call_flags(gw) | stamp;
    size_t st = stamp ? TRI_STAMP_BYTES : 0; /* from the constant, not the flags */
    tr_msg *m = rv ? NULL
                   : tr_msg_new(tri_rpc_tag(TRI_RK_TELL, flags, gw->impl_index, method),
                                st + tri_fence_bytes(flags) + ca.len);
    if (!m) {
        arg_discard(gw, &ca);
        return rv ? rv : TR_ENOMEM;
    }
    arg_write(gw, &ca, (uint8_t *)tr_msg_data(m) + st);
    if (st)
        tri_stamp_put(tr_msg_data(m));
    if ((rv = tr_send(gw->ep->actor, m))) {
        tr_msg_free(m);
        return send_failed(gw, rv);
    }
    return 0;
}

/* The sampled tell, apart: the common path keeps its registers. */
static __attribute__((noinline)) int local_tell_stamped(tr_gateway *gw, const tr_method_desc *md,
                                                        unsigned method, const void *arg)
{
    return local_tell_as(gw, md, method, arg, TRI_RF_STAMP);
}

/* Inlined into tr_gateway_tell (the transport table keeps a copy). */
static inline __attribute__((always_inline)) int
local_tell(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg)
{
    if (__builtin_expect(tri_stamp_due(), 0)) /* one in TR_METRICS_SAMPLE */
        return local_tell_stamped(gw, md, method, arg);
    const tr_type *t = md->arg_type;
    if (!gw->plain || t->kind >= TR_KIND_STR)
        return local_tell_as(gw, md, method, arg, 0);
    /* The common tell: a flat argument copied into an unflagged message. */
    size_t len = arg ? t->size : 0;
    tr_msg *m = tr_msg_new(tri_rpc_tag(TRI_RK_TELL, 0, gw->impl_index, method), len);
    if (!m)
        return TR_ENOMEM;
    copy_flat(tr_msg_data(m), arg, len);
    int rv = tr_send(gw->ep->actor, m);
    if (rv) {
        tr_msg_free(m);
        return send_failed(gw, rv);
    }
    return 0;
}

/* tri_endpoint_current inlined (once per ask): the endpoint whose turn
 * this worker runs, or NULL. */
static inline tr_endpoint *current_endpoint(void)
{
    tri_worker *w = tri_tls_worker;
    struct tr_actor *a = w ? w->current : NULL;
    return a && a->behavior == tri_ep_behavior ? tri_endpoint_in(a->state) : NULL;
}

/* An ask whose arm failed, or (armed) whose send failed: 0 when the
 * deadline fired first (the ask stands as made, timed out, never queued);
 * else it is undone whole, cb never runs, and the error returned. */
static __attribute__((noinline)) int local_ask_unsent(tr_gateway *gw, tr_future *f, int rv,
                                                      bool armed, tr_future_cb *cb,
                                                      tr_future **out)
{
    if (armed) {
        rv = send_failed(gw, rv);
        if (!tri_timers_cancel(gw->svc->timers, &f->timer)) {
            /* release: pairs with cont_dispatch's acquire (future.c): never
             * queued, the message may serve as a carrier now */
            atomic_store_explicit(&f->queued, 0, memory_order_release);
            tri_future_unref(f, 1); /* the message's reference */
            if (out)
                *out = f;
            return 0;
        }
    }
    if (cb && f->inline_cont.ep)
        tri_endpoint_unref(f->inline_cont.ep);
    tri_future_unref(f, 3);
    return rv;
}

/* The ask message is the future itself (future_impl.h): one allocation. */
static inline __attribute__((always_inline)) int
local_ask_as(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
             int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out, unsigned stamp)
{
    tr_endpoint *ep = gw->ep;
    call_arg ca;
    int rv = arg_prepare(gw, md, arg, &ca);
    if (rv) {
        arg_discard(gw, &ca);
        return rv;
    }
    unsigned flags = call_flags(gw) | stamp;
    size_t st = stamp ? TRI_STAMP_BYTES : 0; /* from the constant, not the flags */
    /* References: the message's, the armed timer's, and the caller's
     * handle or the preset continuation's. */
    tr_future *f = tri_future_new(md->result_type, 3, st + tri_fence_bytes(flags) + ca.len);
    if (!f) {
        arg_discard(gw, &ca);
        return TR_ENOMEM;
    }
    tr_msg *m = tri_future_msg(f);
    m->tag = tri_rpc_tag(TRI_RK_ASK, flags, gw->impl_index, method);
    arg_write(gw, &ca, (uint8_t *)tri_future_extra(f) + st);
    if (st)
        tri_stamp_put(tri_future_extra(f));
    f->encode = gw->encode;
    f->sole = !out; /* ask_then: the caller gets no handle */
    if (cb)
        tri_future_preset_then(f, cb, cb_arg, current_endpoint());
    /* relaxed: the send publishes it; set before arming so that a deadline
     * racing the send never takes the message for a free carrier. */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    rv = tri_future_arm(f, gw->svc, timeout_ns, gw->desc->name, md->name, ep->id, ep->id_len);
    if (rv)
        return local_ask_unsent(gw, f, rv, false, cb, out);
    if ((rv = tr_send(ep->actor, m)))
        return local_ask_unsent(gw, f, rv, true, cb, out);
    if (out)
        *out = f;
    return 0;
}

/* The sampled ask, apart: the common path keeps its registers. */
static __attribute__((noinline)) int local_ask_stamped(tr_gateway *gw, const tr_method_desc *md,
                                                       unsigned method, const void *arg,
                                                       int64_t timeout_ns, tr_future_cb *cb,
                                                       void *cb_arg, tr_future **out)
{
    return local_ask_as(gw, md, method, arg, timeout_ns, cb, cb_arg, out, TRI_RF_STAMP);
}

/* The common ask: a plain gateway (local, unfenced, not encoded), a flat
 * argument, unstamped. local_ask_as's steps without its call_arg record. */
static inline __attribute__((always_inline)) int
local_ask_plain(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
                int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out)
{
    tr_endpoint *ep = gw->ep;
    size_t len = arg ? md->arg_type->size : 0;
    tr_future *f = tri_future_new(md->result_type, 3, len);
    if (!f)
        return TR_ENOMEM;
    tri_future_msg(f)->tag = tri_rpc_tag(TRI_RK_ASK, 0, gw->impl_index, method);
    copy_flat(tri_future_extra(f), arg, len);
    f->sole = !out; /* encode stays 0 (tri_future_new) */
    if (cb)
        tri_future_preset_then(f, cb, cb_arg, current_endpoint());
    /* relaxed: as in local_ask_as. */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    int rv = tri_future_arm(f, gw->svc, timeout_ns, gw->desc->name, md->name, ep->id, ep->id_len);
    if (__builtin_expect(rv, 0))
        return local_ask_unsent(gw, f, rv, false, cb, out);
    rv = tr_send(ep->actor, tri_future_msg(f));
    if (__builtin_expect(rv, 0))
        return local_ask_unsent(gw, f, rv, true, cb, out);
    if (out)
        *out = f;
    return 0;
}

/* The unsampled ask that is not plain, apart: the plain path keeps a
 * short prologue. */
static __attribute__((noinline)) int local_ask_other(tr_gateway *gw, const tr_method_desc *md,
                                                     unsigned method, const void *arg,
                                                     int64_t timeout_ns, tr_future_cb *cb,
                                                     void *cb_arg, tr_future **out)
{
    return local_ask_as(gw, md, method, arg, timeout_ns, cb, cb_arg, out, 0);
}

/* Inlined into tr_gateway_ask_then (the transport table keeps a copy). */
static inline __attribute__((always_inline)) int
local_ask(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
          int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out)
{
    if (__builtin_expect(tri_stamp_due(), 0)) /* one in TR_METRICS_SAMPLE */
        return local_ask_stamped(gw, md, method, arg, timeout_ns, cb, cb_arg, out);
    if (__builtin_expect(gw->plain && md->arg_type->kind < TR_KIND_STR, 1))
        return local_ask_plain(gw, md, method, arg, timeout_ns, cb, cb_arg, out);
    return local_ask_other(gw, md, method, arg, timeout_ns, cb, cb_arg, out);
}

static const char *local_address(const tr_gateway *gw) { return gw->ep->address; }

static void local_close(tr_gateway *gw) { tri_endpoint_unref(gw->ep); }

static const tri_transport local_transport = {
    .tell = local_tell,
    .ask = local_ask,
    .address = local_address,
    .close = local_close,
    .local = true,
};

int tri_endpoint_post(tr_endpoint *ep, tr_msg *m)
{
    /* run_async and friends are the endpoint's own work (often posted by
     * the timer thread, which must never block): not held back. */
    if (tri_send_unchecked(ep->actor, m, 1) == 0)
        return 0;
    if (tri_service_check_running(ep->svc))
        return TR_ESTOPPED;
    /* relaxed: a statistic, bumped by any sender. */
    atomic_fetch_add_explicit(&ep->dropped_at_send, 1, memory_order_relaxed);
    return TR_EUNREACHABLE;
}

/* ---- handles --------------------------------------------------------------------- */

static int make_local(tr_endpoint *ep, const tr_gateway_desc *desc, unsigned fence,
                      const tr_fence_token *token, bool encode, tr_gateway **out)
{
    unsigned idx = 0;
    while (idx < ep->nimpls && ep->impls[idx].desc != desc)
        idx++;
    if (idx == ep->nimpls)
        return TR_EGATEWAY; /* S20 */
    tr_gateway *gw = tri_zalloc(sizeof *gw);
    if (!gw)
        return TR_ENOMEM;
    gw->tp = &local_transport;
    gw->svc = ep->svc;
    gw->ep = ep;
    gw->desc = desc;
    atomic_init(&gw->refs, 1);
    gw->impl_index = (uint8_t)idx;
    gw->fence = (uint8_t)fence;
    if (token)
        gw->token = *token;
    gw->encode = encode;
    gw->plain = !fence && !encode;
    *out = gw;
    return 0;
}

int tri_service_connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              const tr_fence_token *token, tr_gateway **out)
{
    if (!svc || !id || !desc || !out)
        return TR_EINVAL;
    int rv = tri_service_check_open(svc);
    if (rv)
        return rv;
    tr_endpoint *ep = tri_registry_lookup(svc->registry, id, strlen(id));
    if (!ep)
        return TR_ENOENDPOINT;
    rv = make_local(ep, desc, token ? TRI_RF_TOKEN : 0, token, svc->cfg.force_serialization, out);
    if (rv)
        tri_endpoint_unref(ep); /* on success the gateway keeps it */
    return rv;
}

int tr_endpoint_gateway(tr_endpoint *ep, const tr_gateway_desc *desc, tr_gateway **out)
{
    if (!ep || !desc || !out)
        return TR_EINVAL;
    /* S20: the self gateway never serializes. */
    int rv = make_local(ep, desc, ep->fenced ? TRI_RF_EPOCH : 0, NULL, false, out);
    if (!rv)
        tri_endpoint_ref(ep);
    return rv;
}

void tr_gateway_retain(tr_gateway *gw)
{
    /* relaxed: taking a reference needs one already held. */
    if (gw)
        atomic_fetch_add_explicit(&gw->refs, 1, memory_order_relaxed);
}

void tr_gateway_release(tr_gateway *gw)
{
    /* acq_rel: the last release sees every holder's use. */
    if (gw && atomic_fetch_sub_explicit(&gw->refs, 1, memory_order_acq_rel) == 1) {
        gw->tp->close(gw);
        tri_free(gw, sizeof *gw);
    }
}

const char *tr_gateway_address(const tr_gateway *gw) { return gw->tp->address(gw); }
const tr_gateway_desc *tr_gateway_descriptor(const tr_gateway *gw) { return gw->desc; }
bool tr_gateway_is_local(const tr_gateway *gw) { return gw->tp->local; }

uint64_t tr_gateway_undelivered(const tr_gateway *gw)
{
    return gw && gw->tp->undelivered ? gw->tp->undelivered(gw) : 0;
}

/* ---- calls ------------------------------------------------------------------------ */

static inline int check_call(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                      tr_call_kind kind, const tr_method_desc **md)
{
    if (!gw || !desc)
        return TR_EINVAL;
    if (desc != gw->desc)
        return TR_EGATEWAY;
    if (method >= gw->desc->nmethods || gw->desc->methods[method].kind != kind)
        return TR_ENOMETHOD; /* S18 */
    *md = &gw->desc->methods[method];
    return tri_service_check_running(gw->svc);
}

int tr_gateway_tell(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method, const void *arg)
{
    const tr_method_desc *md;
    int rv = check_call(gw, desc, method, TR_TELL, &md);
    if (rv)
        return rv;
    /* The local transport called directly: the common case inlined. */
    return gw->tp == &local_transport ? local_tell(gw, md, method, arg)
                                      : gw->tp->tell(gw, md, method, arg);
}

/* An ask with a handle; loan non-NULL: its long byte strings are lent
 * where the transport can (ask_lent), else copied as any ask's. */
static int ask_out(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method, const void *arg,
                   int64_t timeout_ns, struct tri_loan *loan, size_t lend_min, tr_future **out)
{
    const tr_method_desc *md;
    if (!out || timeout_ns < 0)
        return TR_EINVAL;
    int rv = check_call(gw, desc, method, TR_ASK, &md);
    if (rv)
        return rv;
    int64_t t = timeout_ns ? timeout_ns : gw->svc->cfg.ask_timeout_ns;
    if (loan && gw->tp->ask_lent)
        return gw->tp->ask_lent(gw, md, method, arg, t, loan, lend_min, out);
    return gw->tp->ask(gw, md, method, arg, t, NULL, NULL, out);
}

int tr_gateway_ask(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method, const void *arg,
                   int64_t timeout_ns, tr_future **out)
{
    return ask_out(gw, desc, method, arg, timeout_ns, NULL, 0, out);
}

int tri_gateway_ask_lent(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                         const void *arg, int64_t timeout_ns, struct tri_loan *loan,
                         size_t lend_min, tr_future **out)
{
    return ask_out(gw, desc, method, arg, timeout_ns, loan, lend_min, out);
}

int tr_gateway_ask_then(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                        const void *arg, int64_t timeout_ns, tr_future_cb *cb, void *cb_arg)
{
    const tr_method_desc *md;
    if (!cb || timeout_ns < 0)
        return TR_EINVAL;
    int rv = check_call(gw, desc, method, TR_ASK, &md);
    if (rv)
        return rv;
    int64_t t = timeout_ns ? timeout_ns : gw->svc->cfg.ask_timeout_ns;
    return gw->tp == &local_transport ? local_ask(gw, md, method, arg, t, cb, cb_arg, NULL)
                                      : gw->tp->ask(gw, md, method, arg, t, cb, cb_arg, NULL);
}
