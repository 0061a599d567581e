/* The remote transport of tr_gateway: what a caller's thread does for a
 * remote call (rpc/wire.h's tri_transport), and the blocking half of a
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
#include "remote/rwatch.h"
#include "rpc/wire.h"
#include "troupe/error.h"

/* Extra wait beyond the lookup timeout: the I/O thread's own deadline
 * fires first and says more; this only guards against it not answering. */
#define CONNECT_GRACE_NS (1000LL * 1000 * 1000)

/* The request's size check (S24): 0, TR_EINVAL, or TR_EFRAMESIZE with
 * *frame the size it would have had. */
static int plan_call(tr_gateway *gw, tri_net *net, const tr_method_desc *md, const void *arg,
                     bool ask, tri_wire_sizes *sz, size_t *frame)
{
    int rv = tri_wire_call_size(gw, md, arg, sz);
    *frame = tri_frame_size(sz->fence + (ask ? 4 : 0) + sz->enc);
    if (rv)
        return rv;
    if (*frame > net->max_frame) {
        /* relaxed: statistics; the count is added by any caller, the size
         * is "the latest" (a plain store, as the I/O thread's). */
        atomic_fetch_add_explicit(&net->oversized_requests, 1, memory_order_relaxed);
        atomic_store_explicit(&net->ctr.last_request_size, *frame, memory_order_relaxed);
        return TR_EFRAMESIZE;
    }
    return 0;
}

static int remote_tell(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg)
{
    tr_service *svc = tri_wire_gateway_service(gw);
    tri_net *net = tri_net_of(svc);
    tri_rtarget *rt = tri_wire_gateway_target(gw);
    tri_wire_sizes sz;
    size_t frame;
    int rv = plan_call(gw, net, md, arg, false, &sz, &frame);
    if (rv) {
        if (rv == TR_EFRAMESIZE) /* S24: counted (above) and said, never silent */
            TRI_WARN(&net->log, "remote", NULL,
                     "tell %s.%s to %s is %zu bytes, exceeds the maximum frame size "
                     "%zu; not sent", rt->desc->name, md->name, rt->address, frame, net->max_frame);
        return rv;
    }
    if ((rv = tri_rtarget_admit(rt, svc))) /* flow control */
        return rv;
    void *priv;
    tr_msg *m = tri_wire_tell_new(gw, md, method, arg, &sz, TRI_TELL_PRIV, &priv);
    if (!m) {
        tri_rtarget_unadmit(rt);
        return TR_ENOMEM;
    }
    tri_call_hdr *ch = priv;
    ch->rt = rt;
    ch->enc_size = (uint32_t)sz.enc;
    tri_net_post(net, m);
    return 0;
}

/* loan NULL: a plain ask (constant at each call below). */
static inline __attribute__((always_inline)) int
remote_ask_as(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
              int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out,
              struct tri_loan *loan, size_t lend_min)
{
    tr_service *svc = tri_wire_gateway_service(gw);
    tri_net *net = tri_net_of(svc);
    tri_rtarget *rt = tri_wire_gateway_target(gw);
    tri_wire_sizes sz;
    size_t frame;
    int rv = plan_call(gw, net, md, arg, true, &sz, &frame);
    if (rv == TR_EFRAMESIZE && frame > net->max_frame) /* S24: it fails at once */
        return tri_wire_ask_refused(gw, md, cb, cb_arg, out, TR_EFRAMESIZE,
                                    "request %s.%s to %s is %zu bytes, exceeds the maximum "
                                    "frame size %zu; nothing was sent",
                                    rt->desc->name, md->name, rt->address, frame,
                                    net->max_frame);
    if (rv)
        return rv;
    if ((rv = tri_rtarget_admit(rt, svc))) /* flow control */
        return rv;
    if (loan)
        tri_wire_sizes_lend(md, arg, lend_min, &sz);
    tr_future *f = tri_wire_ask_new(gw, md, method, arg, &sz, sizeof(tri_call_hdr), timeout_ns,
                                    rt->id, rt->id_len, cb, cb_arg);
    if (!f) {
        tri_rtarget_unadmit(rt);
        return TR_ENOMEM;
    }
    if (loan) /* the I/O thread encodes or splices the lender's bytes */
        tri_wire_ask_lend(f, loan);
    tri_call_hdr *ch = tri_wire_ask_priv(f);
    int64_t now = tri_now_ns();
    ch->rt = rt;
    ch->enc_size = (uint32_t)sz.enc;
    ch->deadline_ns = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
    if (out)
        *out = f;
    tri_net_post(net, tri_wire_ask_msg(f));
    return 0;
}

static int remote_ask(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
                      int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out)
{
    return remote_ask_as(gw, md, method, arg, timeout_ns, cb, cb_arg, out, NULL, SIZE_MAX);
}

static int remote_ask_lent(tr_gateway *gw, const tr_method_desc *md, unsigned method,
                           const void *arg, int64_t timeout_ns, struct tri_loan *loan,
                           size_t lend_min, tr_future **out)
{
    return remote_ask_as(gw, md, method, arg, timeout_ns, NULL, NULL, out, loan, lend_min);
}

static const char *remote_address(const tr_gateway *gw)
{
    return ((const tri_rtarget *)tri_wire_gateway_target(gw))->address;
}

static void remote_close(tr_gateway *gw)
{
    tri_net *net = tri_net_of(tri_wire_gateway_service(gw));
    tri_rtarget *rt = tri_wire_gateway_target(gw);
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

static uint64_t remote_undelivered(const tr_gateway *gw)
{
    const tri_rtarget *rt = tri_wire_gateway_target(gw);
    /* relaxed: a statistic (client.c). */
    return atomic_load_explicit(&rt->undelivered, memory_order_relaxed);
}

static const tri_transport remote_transport = {
    .tell = remote_tell,
    .ask = remote_ask,
    .ask_lent = remote_ask_lent,
    .address = remote_address,
    .close = remote_close,
    .watch = tri_rwatch_watch,
    .unwatch = tri_rwatch_unwatch,
    .undelivered = remote_undelivered,
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
    /* The callers' gate holds back what the I/O thread has not written
     * yet (held for credit included). */
    uint32_t high = tri_wire_config(svc)->remote_queue_high;
    tri_rtarget *rt = tri_rtarget_new(key, &sa, salen, a->id, desc, high);
    tr_future *done = tri_wire_future_new(2); /* ours and the request's */
    tr_msg *m = tr_msg_new(TRI_NET_CONNECT, sizeof(tri_connect_req));
    /* Made now so that the last step cannot fail: the target is the I/O
     * thread's once posted. */
    tr_gateway *gw = tri_wire_gateway_new(svc, desc, token, &remote_transport, rt);
    if (!rt || !done || !m || !gw) {
        if (rt)
            tri_rtarget_free(rt);
        if (done)
            tri_wire_future_unref(done, 2);
        if (m)
            tr_msg_free(m);
        if (gw)
            tri_wire_gateway_discard(gw);
        return TR_ENOMEM;
    }
    *(tri_connect_req *)tr_msg_data(m) = (tri_connect_req){rt, done};
    tri_net_post(net, m); /* from here on the I/O thread owns rt until we get it */
    int64_t wait = net->lookup_timeout_ns + CONNECT_GRACE_NS;
    if (tri_wire_future_block(done, wait) == TR_ETIMEDOUT &&
        tri_wire_fail(done, TR_EUNREACHABLE,
                         "no answer from %s within the lookup timeout of %lld ms", key,
                         (long long)(net->lookup_timeout_ns / 1000000)) == 0) {
        /* We gave up first: the I/O thread drops rt when it gets there. */
    }
    rv = tr_future_code(done);
    if (rv) {
        snprintf(why, why_len, "%s", tr_future_error(done));
        tr_future_release(done);
        tri_wire_gateway_discard(gw);
        return rv;
    }
    tr_future_release(done);
    *out = gw;
    return 0;
}
