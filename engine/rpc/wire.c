/* The transport's interface to rpc/ (wire.h): gateways, outbound calls,
 * futures, the service's network slot.
 *
 * Outbound call layouts (payload of a TELL message, extra bytes of an ASK
 * future), each part 8-aligned:
 *   [u32 priv][u32 deep][priv bytes][fencing token][deep copy of the argument]
 * The transport owns the priv bytes; rpc writes everything else. Inbound
 * calls (wire_inbound.c) are laid out as local ones, so the endpoint's
 * dispatch cannot tell them apart. */
#include "rpc/wire.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/loan.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/future_impl.h"
#include "rpc/gateway_impl.h"
#include "rpc/msg.h"
#include "rpc/service_impl.h"
#include "troupe/error.h"

#define OUT_HDR 8u /* u32 priv, u32 deep */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- gateways ------------------------------------------------------------------------ */

tr_gateway *tri_wire_gateway_new(tr_service *svc, const tr_gateway_desc *desc,
                                 const tr_fence_token *token, const tri_transport *tp,
                                 void *target)
{
    tr_gateway *gw = tri_zalloc(sizeof *gw);
    if (!gw)
        return NULL;
    gw->tp = tp;
    gw->svc = svc;
    gw->remote = target;
    gw->desc = desc;
    atomic_init(&gw->refs, 1);
    if (token) {
        gw->fence = TRI_RF_TOKEN; /* S33: every call carries it */
        gw->token = *token;
    }
    return gw;
}

void tri_wire_gateway_discard(tr_gateway *gw) { tri_free(gw, sizeof *gw); }

void *tri_wire_gateway_target(const tr_gateway *gw) { return gw->remote; }
tr_service *tri_wire_gateway_service(const tr_gateway *gw) { return gw->svc; }
const tr_gateway_desc *tri_wire_gateway_desc(const tr_gateway *gw) { return gw->desc; }

/* ---- outbound calls: the caller's thread ------------------------------------------- */

/* The deep size of arg; the common payloads (scalars, one byte string)
 * without a walk. */
static size_t deep_size(const tr_type *t, const void *arg)
{
    if (!arg)
        return 0;
    if (t->kind == TR_KIND_BYTES)
        return sizeof(tr_bytes) + (size_t)((const tr_bytes *)arg)->len;
    if (t->kind < TR_KIND_STR)
        return t->size;
    return tr_value_deep_size(t, arg);
}

int tri_wire_call_size(const tr_gateway *gw, const tr_method_desc *md, const void *arg,
                       tri_wire_sizes *sz)
{
    const tr_type *t = md->arg_type;
    sz->fence = gw->fence ? TRI_WIRE_TOKEN : 0;
    sz->enc = sz->deep = 0;
    sz->lend_min = SIZE_MAX;
    if (!arg)
        return 0;
    if (t->kind == TR_KIND_BYTES) {
        sz->enc = 4 + (size_t)((const tr_bytes *)arg)->len;
    } else {
        if (t->kind >= TR_KIND_STR && !tri_encodable(t, arg))
            return TR_EINVAL;
        sz->enc = tri_encoded_size(t, arg);
    }
    sz->deep = deep_size(t, arg);
    return sz->enc > UINT32_MAX || sz->deep > UINT32_MAX ? TR_EFRAMESIZE : 0;
}

void tri_wire_sizes_lend(const tr_method_desc *md, const void *arg, size_t lend_min,
                         tri_wire_sizes *sz)
{
    sz->lend_min = lend_min;
    sz->deep = tri_value_deep_size_lent(md->arg_type, arg, lend_min);
}

void tri_wire_ask_lend(tr_future *f, struct tri_loan *loan)
{
    tri_loan_take(loan);
    f->loan = loan;
}

/* Writes the header, the token and the deep copy of an outbound call;
 * returns where its priv bytes are. */
static void *put_out(const tr_gateway *gw, const tr_method_desc *md, const void *arg,
                     size_t priv, const tri_wire_sizes *sz, uint8_t *p)
{
    size_t deep = sz->deep;
    uint32_t h[2] = {(uint32_t)priv, (uint32_t)deep};
    memcpy(p, h, sizeof h);
    p += OUT_HDR;
    void *priv_at = p;
    /* priv is a few words (align8): stores, not a call to memset */
    for (size_t i = 0; i < priv; i += 8)
        memcpy(p + i, &(uint64_t){0}, 8);
    p += priv;
    if (gw->fence)
        p += tri_gateway_put_fence(gw, p);
    if (deep)
        tri_value_copy_into_lent(md->arg_type, arg, p, deep, sz->lend_min);
    return priv_at;
}

static size_t out_size(const tr_gateway *gw, size_t priv, size_t deep)
{
    return OUT_HDR + align8(priv) + (gw->fence ? TRI_WIRE_TOKEN : 0) + deep;
}

tr_msg *tri_wire_tell_new(const tr_gateway *gw, const tr_method_desc *md, unsigned method,
                          const void *arg, const tri_wire_sizes *sz, size_t priv,
                          void **priv_out)
{
    priv = align8(priv);
    tr_msg *m = tr_msg_new(tri_rpc_tag(TRI_RK_TELL, gw->fence, 0, method),
                           out_size(gw, priv, sz->deep));
    if (m)
        *priv_out = put_out(gw, md, arg, priv, sz, tr_msg_data(m));
    return m;
}

tr_future *tri_wire_ask_new(const tr_gateway *gw, const tr_method_desc *md, unsigned method,
                            const void *arg, const tri_wire_sizes *sz, size_t priv,
                            int64_t timeout_ns, const char *target, size_t target_len,
                            tr_future_cb *cb, void *cb_arg)
{
    size_t deep = sz->deep;
    priv = align8(priv);
    tr_future *f = tri_future_new(md->result_type, 2, out_size(gw, priv, deep));
    if (!f)
        return NULL;
    tri_future_msg(f)->tag = tri_rpc_tag(TRI_RK_ASK, gw->fence, 0, method);
    put_out(gw, md, arg, priv, sz, tri_future_extra(f));
    tri_future_label(f, gw->desc->name, md->name, timeout_ns, target, target_len);
    if (cb)
        tri_future_preset_then(f, cb, cb_arg, tri_endpoint_current());
    /* relaxed: the post publishes it; tri_wire_ask_taken clears it (release)
     * when the transport lets go of the message (a completion meanwhile
     * uses a carrier). */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    return f;
}

int tri_wire_ask_refused(const tr_gateway *gw, const tr_method_desc *md, tr_future_cb *cb,
                         void *cb_arg, tr_future **out, int code, const char *fmt, ...)
{
    tr_future *f = tri_future_new(md->result_type, 1, 0);
    if (!f)
        return TR_ENOMEM;
    tri_future_label(f, gw->desc->name, md->name, 0, "", 0);
    va_list ap;
    va_start(ap, fmt);
    tri_future_failv(f, code, fmt, ap);
    va_end(ap);
    if (!cb) {
        *out = f;
        return 0;
    }
    int rv = tr_future_then(f, cb, cb_arg);
    tr_future_release(f);
    return rv;
}

/* ---- outbound calls: the transport's thread --------------------------------------- */

static void view_out(uint8_t *p, unsigned flags, tri_wire_call *c)
{
    uint32_t h[2];
    memcpy(h, p, sizeof h);
    p += OUT_HDR;
    c->priv = p;
    p += h[0];
    c->token = flags & TRI_RF_TOKEN ? p : NULL;
    p += c->token ? TRI_WIRE_TOKEN : 0;
    c->arg = h[1] ? p : NULL;
}

bool tri_wire_call_of(tr_msg *m, tri_wire_call *c)
{
    unsigned kind = tri_rpc_kind_of(m->tag);
    if (kind != TRI_RK_TELL && kind != TRI_RK_ASK)
        return false;
    c->method = tri_rpc_method_of(m->tag);
    c->ask = kind == TRI_RK_ASK ? tr_msg_data(m) : NULL;
    view_out(c->ask ? tri_future_extra(c->ask) : tr_msg_data(m), tri_rpc_flags_of(m->tag), c);
    return true;
}

tr_msg *tri_wire_ask_msg(tr_future *f) { return tri_future_msg(f); }

void *tri_wire_ask_priv(tr_future *f) { return tri_future_extra(f) + OUT_HDR; }

void tri_wire_ask_taken(tr_future *f)
{
    /* release: pairs with cont_dispatch's acquire (future.c). Until now the
     * message was linked in a queue, so a completion (a deadline) used a
     * carrier; from here on nothing links it and the future may travel
     * home in it. */
    atomic_store_explicit(&f->queued, 0, memory_order_release);
}

/* ---- futures ----------------------------------------------------------------------- */

tr_future *tri_wire_future_new(uint32_t refs) { return tri_future_new(NULL, refs, 0); }

int tri_wire_future_block(tr_future *f, int64_t timeout_ns)
{
    return tri_future_block(f, timeout_ns);
}

void tri_wire_future_unref(tr_future *f, uint32_t n) { tri_future_unref(f, n); }

const char *tri_wire_gw_name(const tr_future *f) { return f->gw_name ? f->gw_name : "?"; }
const char *tri_wire_method_name(const tr_future *f)
{
    return f->method_name ? f->method_name : "?";
}
int64_t tri_wire_timeout_ns(const tr_future *f) { return f->timeout_ns; }

tri_timer *tri_wire_timer(tr_future *f) { return &f->timer; }
tr_future *tri_wire_timer_future(tri_timer *t)
{
    return (tr_future *)((char *)t - offsetof(tr_future, timer));
}

void tri_wire_set_route(tr_future *f, uint64_t corr, uint64_t link)
{
    f->wire_id = corr;
    f->wire_link = link;
}
uint64_t tri_wire_route_corr(const tr_future *f) { return f->wire_id; }
uint64_t tri_wire_route_link(const tr_future *f) { return f->wire_link; }

int tri_wire_complete(tr_future *f, const void *data, size_t len)
{
    /* No result type asked for (any): an empty answer is all we decode. */
    const tr_type *t = f->type ? f->type : &tr_void__type;
    return tri_future_complete_encoded(f, t, data, len);
}

int tri_wire_fail(tr_future *f, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rv = tri_future_failv(f, code, fmt, ap);
    va_end(ap);
    return rv;
}

/* ---- values ------------------------------------------------------------------------- */

void tri_wire_encode(const tr_type *t, const void *value, uint8_t *dst)
{
    tri_encode_into(t, value, dst);
}

uint8_t *tri_wire_encode_gather(const tr_type *t, const void *value, uint8_t *dst, size_t min,
                                tri_wire_splice_fn *splice, void *ctx)
{
    tri_gather g = {.min = min, .splice = splice, .ctx = ctx};
    return tri_encode_gather(t, value, dst, &g);
}

/* ---- the service --------------------------------------------------------------------- */

const tr_service_config *tri_wire_config(const tr_service *svc) { return &svc->cfg; }
struct tri_sched *tri_wire_sched(const tr_service *svc) { return svc->sched; }
uint64_t tri_wire_incarnation(const tr_service *svc) { return svc->incarnation; }

int tri_wire_service_open(const tr_service *svc) { return tri_service_check_open(svc); }

void *tri_wire_net(const tr_service *svc)
{
    /* acquire: pairs with the release store in tri_wire_net_attach. */
    return atomic_load_explicit(&((tr_service *)svc)->net, memory_order_acquire);
}

int tri_wire_net_attach(tr_service *svc, tri_net_start_fn *start, void *ctx,
                        const tri_net_hooks *hooks, void **out)
{
    pthread_mutex_lock(&svc->net_lock);
    void *net = tri_wire_net(svc);
    int rv = 0;
    if (!net && !(rv = tri_service_check_open(svc))) {
        char prefix[TRI_ADDRESS_PREFIX_MAX] = "";
        rv = start(svc, ctx, &net, prefix, sizeof prefix);
        if (!rv) {
            if (prefix[0])
                memcpy(svc->addr_prefix, prefix, sizeof prefix);
            svc->net_hooks = hooks;
            /* release: the hooks, the prefix and the net's own fields before
             * the pointer (pairs with tri_wire_net's acquire). */
            atomic_store_explicit(&svc->net, (struct tri_net *)net, memory_order_release);
        } else {
            net = NULL;
        }
    }
    pthread_mutex_unlock(&svc->net_lock);
    *out = net;
    return rv;
}

int tri_wire_connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                           const tr_fence_token *token, tr_gateway **out)
{
    return tri_service_connect_local(svc, id, desc, token, out);
}

int tri_wire_service_create(const tr_service_config *cfg, tr_service **out, char *why,
                            size_t why_len)
{
    return tri_service_create(cfg, out, why, why_len);
}

const tri_logger *tri_wire_logger(const tr_service *svc) { return &svc->log; }

int tri_wire_endpoint_create_reserved(tr_service *svc, const tr_endpoint_opts *opts,
                                      tr_endpoint **out)
{
    if (!svc || !opts || !opts->id || !out)
        return TR_EINVAL;
    return tri_endpoint_create_reserved(svc, opts, out);
}
