/* The remote transport of tr_gateway: what a caller's thread does for a
 * remote call (rpc/gateway_impl.h's table), and the blocking half of a
 * remote connect.
 *
 * A call is enqueued, never encoded here: the argument is deep-copied into
 * the request (as a local call copies it into the message), and the I/O
 * thread writes its encoding straight into the connection's buffer. What
 * the caller does compute is the encoding's size, so that a call whose
 * frame would exceed max_frame_size fails at once, before anything is
 * queued (S24). */
#include "remote/transport.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/client.h"
#include "remote/frame.h"
#include "remote/net.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/future_impl.h"
#include "rpc/gateway_impl.h"
#include "rpc/msg.h"
#include "rpc/service_impl.h"
#include "troupe/error.h"

/* Extra wait beyond the lookup timeout: the I/O thread's own deadline
 * fires first and says more; this only guards against it not answering. */
#define CONNECT_GRACE_NS (1000LL * 1000 * 1000)

/* The request's size checks and copies (S24). */
typedef struct call_plan {
    size_t enc, deep, fence, frame;
} call_plan;

static int plan_call(tr_gateway *gw, tri_net *net, const tr_method_desc *md, const void *arg,
                     bool ask, call_plan *cp)
{
    const tr_type *t = md->arg_type;
    if (!arg) {
        cp->enc = cp->deep = 0;
    } else if (t->kind == TR_KIND_BYTES) { /* the common payload: no walks */
        cp->enc = 4 + (size_t)((const tr_bytes *)arg)->len;
        cp->deep = sizeof(tr_bytes) + (size_t)((const tr_bytes *)arg)->len;
    } else if (t->kind < TR_KIND_STR) { /* a scalar */
        cp->enc = tri_encoded_size(t, arg);
        cp->deep = t->size;
    } else {
        if (!tri_encodable(t, arg))
            return TR_EINVAL;
        cp->enc = tri_encoded_size(t, arg);
        cp->deep = tr_value_deep_size(t, arg);
    }
    cp->fence = gw->fence ? TRI_FRAME_TOKEN : 0;
    cp->frame = tri_frame_size(cp->fence + (ask ? 4 : 0) + cp->enc);
    if (cp->frame > net->max_frame) {
        /* relaxed: statistics; the count is added by any caller, the size
         * is "the latest" (a plain store, as the I/O thread's). */
        atomic_fetch_add_explicit(&net->oversized_requests, 1, memory_order_relaxed);
        atomic_store_explicit(&net->ctr.last_request_size, cp->frame, memory_order_relaxed);
        return TR_EFRAMESIZE;
    }
    if (cp->enc > UINT32_MAX || cp->deep > UINT32_MAX)
        return TR_EFRAMESIZE;
    return 0;
}

/* Writes header, fencing token and argument copy at p. */
static void fill_call(tr_gateway *gw, const tr_method_desc *md, const void *arg, const call_plan *cp,
                      int64_t deadline, uint8_t *p)
{
    tri_call_hdr *ch = (tri_call_hdr *)p;
    ch->rt = gw->remote;
    ch->deadline_ns = deadline;
    ch->enc_size = (uint32_t)cp->enc;
    ch->deep_size = (uint32_t)cp->deep;
    p += sizeof *ch;
    if (cp->fence)
        p += tri_gateway_put_fence(gw, p);
    if (cp->deep)
        tri_value_copy_into(md->arg_type, arg, p, cp->deep);
}

static int remote_tell(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg)
{
    tri_net *net = tri_net_of(gw->svc);
    tri_rtarget *rt = gw->remote;
    call_plan cp;
    int rv = plan_call(gw, net, md, arg, false, &cp);
    if (rv) {
        if (rv == TR_EFRAMESIZE) /* S24: counted (above) and said, never silent */
            TRI_WARN(&net->log, "remote", NULL,
                     "tell %s.%s to %s is %zu bytes, exceeds the maximum frame size "
                     "%zu; not sent", gw->desc->name, md->name, rt->address, cp.frame,
                     net->max_frame);
        return rv;
    }
    tr_msg *m = tr_msg_new(tri_rpc_tag(TRI_RK_TELL, gw->fence, 0, method),
                           sizeof(tri_call_hdr) + cp.fence + cp.deep);
    if (!m)
        return TR_ENOMEM;
    fill_call(gw, md, arg, &cp, 0, tr_msg_data(m));
    tri_net_post(net, m);
    return 0;
}

/* An ask refused before it left (S24): its future fails at once, naming
 * the method, the size and the limit. */
static int refused_ask(tr_gateway *gw, tri_net *net, const tr_method_desc *md, size_t frame,
                       tr_future_cb *cb, void *cb_arg, tr_future **out)
{
    tr_future *f = tri_future_new(md->result_type, 1, 0);
    if (!f)
        return TR_ENOMEM;
    tri_rtarget *rt = gw->remote;
    f->gw_name = gw->desc->name;
    f->method_name = md->name;
    tri_future_failf(f, TR_EFRAMESIZE,
                     "request %s.%s to %s is %zu bytes, exceeds the maximum frame size %zu; "
                     "nothing was sent",
                     gw->desc->name, md->name, rt->address, frame, net->max_frame);
    if (!cb) {
        *out = f;
        return 0;
    }
    int rv = tr_future_then(f, cb, cb_arg);
    tr_future_release(f);
    return rv;
}

static int remote_ask(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
                      int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out)
{
    tri_net *net = tri_net_of(gw->svc);
    tri_rtarget *rt = gw->remote;
    call_plan cp;
    int rv = plan_call(gw, net, md, arg, true, &cp);
    if (rv == TR_EFRAMESIZE && cp.frame > net->max_frame)
        return refused_ask(gw, net, md, cp.frame, cb, cb_arg, out);
    if (rv)
        return rv;
    /* References: the I/O thread's, and the caller's handle or the preset
     * continuation's. */
    tr_future *f = tri_future_new(md->result_type, 2, sizeof(tri_call_hdr) + cp.fence + cp.deep);
    if (!f)
        return TR_ENOMEM;
    tri_future_msg(f)->tag = tri_rpc_tag(TRI_RK_ASK, gw->fence, 0, method);
    int64_t now = tri_now_ns();
    fill_call(gw, md, arg, &cp, timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns,
              tri_future_extra(f));
    f->gw_name = gw->desc->name;
    f->method_name = md->name;
    f->timeout_ns = timeout_ns;
    size_t keep = rt->id_len < TRI_FUT_TARGET_MAX ? rt->id_len : TRI_FUT_TARGET_MAX;
    memcpy(f->target, rt->id, keep);
    f->target[keep] = '\0';
    if (cb)
        tri_future_preset_then(f, cb, cb_arg, tri_endpoint_current());
    /* relaxed: the post publishes it; the I/O thread clears it (release)
     * when it takes the request (a completion meanwhile uses a carrier). */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    if (out)
        *out = f;
    tri_net_post(net, tri_future_msg(f));
    return 0;
}

static const char *remote_address(const tr_gateway *gw)
{
    return ((const tri_rtarget *)gw->remote)->address;
}

static void remote_close(tr_gateway *gw)
{
    tri_net *net = tri_net_of(gw->svc);
    tri_rtarget *rt = gw->remote;
    tr_msg *m = tr_msg_new(TRI_NET_RELEASE, sizeof rt);
    if (!m) {
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory releasing the gateway to %s; its target stays until "
                  "the service is destroyed", rt->address);
        return;
    }
    memcpy(tr_msg_data(m), &rt, sizeof rt);
    tri_net_post(net, m);
}

static const tri_transport remote_transport = {
    .tell = remote_tell,
    .ask = remote_ask,
    .address = remote_address,
    .close = remote_close,
    .local = false,
};

/* ---- connect ------------------------------------------------------------------------------ */

int tri_remote_connect(tr_service *svc, const tri_addr *a, const tr_gateway_desc *desc,
                       const tr_fence_token *token, tr_gateway **out, char *why, size_t why_len)
{
    tri_net *net;
    int rv = tri_net_start(svc, &net, why, why_len);
    if (rv)
        return rv;
    if (tri_net_current(net)) {
        snprintf(why, why_len, "a remote connect cannot wait on the service's own I/O thread "
                 "(from a continuation it runs); connect from another thread");
        return TR_EDEADLK;
    }
    struct sockaddr_storage sa;
    socklen_t salen;
    if ((rv = tri_addr_resolve(a, &sa, &salen, why, why_len)))
        return rv;
    char key[80];
    tri_addr_format_hostport(a, key, sizeof key);
    tri_rtarget *rt = tri_rtarget_new(key, &sa, salen, a->id, desc);
    tr_future *done = tri_future_new(NULL, 2, 0); /* ours and the request's */
    tr_msg *m = tr_msg_new(TRI_NET_CONNECT, sizeof(tri_connect_req));
    tr_gateway *gw = tri_zalloc(sizeof *gw);
    if (!rt || !done || !m || !gw) {
        if (rt)
            tri_rtarget_free(rt);
        if (done)
            tri_future_unref(done, 2);
        if (m)
            tr_msg_free(m);
        tri_free(gw, sizeof *gw);
        return TR_ENOMEM;
    }
    *(tri_connect_req *)tr_msg_data(m) = (tri_connect_req){rt, done};
    tri_net_post(net, m); /* from here on the I/O thread owns rt until we get it */
    int64_t wait = net->lookup_timeout_ns + CONNECT_GRACE_NS;
    if (tri_future_block(done, wait) == TR_ETIMEDOUT &&
        tri_future_failf(done, TR_EUNREACHABLE,
                         "no answer from %s within the lookup timeout of %lld ms", key,
                         (long long)(net->lookup_timeout_ns / 1000000)) == 0) {
        /* We gave up first: the I/O thread drops rt when it gets there. */
    }
    rv = tr_future_code(done);
    if (rv) {
        snprintf(why, why_len, "%s", tr_future_error(done));
        tr_future_release(done);
        tri_free(gw, sizeof *gw);
        return rv;
    }
    tr_future_release(done);
    gw->tp = &remote_transport;
    gw->svc = svc;
    gw->remote = rt;
    gw->desc = desc;
    atomic_init(&gw->refs, 1);
    if (token) {
        gw->fence = TRI_RF_TOKEN; /* S33: every call carries it */
        gw->token = *token;
    }
    *out = gw;
    return 0;
}
