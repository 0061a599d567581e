/* Gateways: connect, the calling side of tell and ask, the transport table.
 *
 * A gateway reaches its endpoint through a transport: a table of a few
 * functions (the local one is below; the remote layer adds one that hands
 * frames to its I/O thread). Local calls copy the argument deep into the
 * message, never serialize it (S22), unless the service forces it. */
#include "rpc/gateway_impl.h"

#include <string.h>

#include "base/alloc.h"
#include "rpc/codec.h"
#include "rpc/future_impl.h"
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

/* A TELL or ASK message with `pre` bytes reserved before the fencing data. */
static int build_call(tr_gateway *gw, const tr_method_desc *md, unsigned kind, unsigned method,
                      const void *arg, size_t pre, tr_msg **out)
{
    unsigned flags = gw->fence | (gw->encode ? TRI_RF_ENCODED : 0);
    size_t fence = tri_fence_bytes(flags);
    tr_buf enc;
    tr_buf_init(&enc);
    size_t len;
    if (gw->encode) {
        int rv = tr_encode(md->arg_type, arg, &enc);
        if (rv) {
            tr_buf_free(&enc);
            return rv;
        }
        len = enc.len;
    } else {
        len = tr_value_deep_size(md->arg_type, arg);
    }
    tr_msg *m = tr_msg_new(tri_rpc_tag(kind, flags, gw->impl_index, method), pre + fence + len);
    if (!m) {
        tr_buf_free(&enc);
        return TR_ENOMEM;
    }
    uint8_t *p = tr_msg_data(m);
    tri_gateway_put_fence(gw, p + pre);
    if (gw->encode)
        memcpy(p + pre + fence, enc.data, len);
    else
        tri_value_copy_into(md->arg_type, arg, p + pre + fence, len);
    tr_buf_free(&enc);
    *out = m;
    return 0;
}

/* tr_send failed: the endpoint has terminated (S16), or the service. */
static int send_failed(tr_gateway *gw)
{
    if (tri_service_check_running(gw->svc))
        return TR_ESTOPPED;
    /* relaxed: a statistic, bumped by any sender. */
    atomic_fetch_add_explicit(&gw->ep->dropped_at_send, 1, memory_order_relaxed);
    return TR_EUNREACHABLE;
}

/* ---- the local transport ------------------------------------------------------ */

static int local_tell(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg)
{
    tr_msg *m;
    int rv = build_call(gw, md, TRI_RK_TELL, method, arg, 0, &m);
    if (rv)
        return rv;
    if (tr_send(gw->ep->actor, m)) {
        tr_msg_free(m);
        return send_failed(gw);
    }
    return 0;
}

static int local_ask(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
                     int64_t timeout_ns, tr_future **out)
{
    tr_endpoint *ep = gw->ep;
    /* References: the caller's, the message's, the armed timer's. */
    tr_future *f = tri_future_new(md->result_type, 3);
    if (!f)
        return TR_ENOMEM;
    f->encode = gw->encode;
    tr_msg *m;
    int rv = build_call(gw, md, TRI_RK_ASK, method, arg, sizeof f, &m);
    if (rv) {
        tri_future_unref(f, 3);
        return rv;
    }
    memcpy(tr_msg_data(m), &f, sizeof f);
    rv = tri_future_arm(f, gw->svc, timeout_ns, gw->desc->name, md->name, ep->id, ep->id_len);
    if (rv) {
        tr_msg_free(m);
        tri_future_unref(f, 3);
        return rv;
    }
    if (tr_send(ep->actor, m)) {
        tr_msg_free(m);
        /* Unarm; if the timer already fired it drops its own reference. */
        tri_future_unref(f, tri_timers_cancel(gw->svc->timers, &f->timer) ? 3 : 2);
        return send_failed(gw);
    }
    *out = f;
    return 0;
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
    if (tr_send(ep->actor, m) == 0)
        return 0;
    if (tri_service_check_running(ep->svc))
        return TR_ESTOPPED;
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
    *out = gw;
    return 0;
}

static int connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
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

int tr_service_connect(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                       tr_gateway **out)
{
    return connect_local(svc, id, desc, NULL, out);
}

int tr_service_connect_fenced(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              const tr_fence_token *token, tr_gateway **out)
{
    if (!token)
        return TR_EINVAL;
    return connect_local(svc, id, desc, token, out);
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
const tr_gateway_desc *tr_gateway_desc_of(const tr_gateway *gw) { return gw->desc; }
bool tr_gateway_is_local(const tr_gateway *gw) { return gw->tp == &local_transport; }

/* ---- calls ------------------------------------------------------------------------ */

static int check_call(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                      tr_call_kind kind, const tr_method_desc **md)
{
    if (!gw)
        return TR_EINVAL;
    if (desc && desc != gw->desc)
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
    return rv ? rv : gw->tp->tell(gw, md, method, arg);
}

int tr_gateway_ask(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method, const void *arg,
                   int64_t timeout_ns, tr_future **out)
{
    const tr_method_desc *md;
    if (!out || timeout_ns < 0)
        return TR_EINVAL;
    int rv = check_call(gw, desc, method, TR_ASK, &md);
    if (rv)
        return rv;
    return gw->tp->ask(gw, md, method, arg, timeout_ns ? timeout_ns : gw->svc->cfg.ask_timeout_ns,
                       out);
}
