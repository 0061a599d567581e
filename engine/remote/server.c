/* The serving side: inbound calls and their answers (server.h). */
#include "remote/server.h"

#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/handshake.h"
#include "remote/net.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/future_impl.h"
#include "rpc/msg.h"
#include "rpc/service_impl.h"
#include "troupe/error.h"

/* How long the I/O thread keeps polling for an answer after handing an
 * ask to an endpoint: a worker that is spinning answers an echo within a
 * few microseconds, and polling then saves the worker the eventfd write
 * and this thread the wake-up (a cross-CPU wake-up costs 20-25 us here).
 * Measured with remote_pingpong: 20 and 80 us were slower, 0 slower still. */
#define EXPECT_ANSWER_NS 40000
/* An inbound ask's deadline is the asker's timeout plus this. */
#define INBOUND_GRACE_NS (1000LL * 1000 * 1000)

/* ---- the answer's way back -------------------------------------------------------- */

/* The first continuation of every inbound ask, on the thread that
 * completed it: hand the future to the I/O thread. */
static void on_answered(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    tri_net *net = arg;
    tr_msg *m;
    /* acquire: pairs with the endpoint's release when it takes the ask out
     * of its mailbox (dispatch.c). Still there (its deadline beat it): the
     * message is in the mailbox's list, so a carrier goes instead. */
    if (atomic_load_explicit(&f->queued, memory_order_acquire)) {
        m = tr_msg_new(TRI_NET_REPLY_CARRIED, sizeof(tr_future *));
        if (!m) {
            TRI_ERROR(&net->log, "remote", NULL,
                      "out of memory sending the answer to %s.%s; its asker times out", f->gw_name,
                      f->method_name);
            tri_net_unref(net);
            return;
        }
        memcpy(tr_msg_data(m), &f, sizeof f);
    } else {
        m = tri_future_msg(f);
        m->tag = TRI_NET_REPLY;
    }
    /* The request carries the I/O thread's reference (see on_ask). */
    tri_net_post(net, m);
    tri_net_unref(net); /* the inbound ask's hold, kept across the post */
}

static tr_future *reply_future(tr_msg *m)
{
    if (m->tag == TRI_NET_REPLY)
        return tr_msg_data(m);
    tr_future *f;
    memcpy(&f, tr_msg_data(m), sizeof f);
    return f;
}

/* Drops the request and the I/O thread's reference to the future. */
static void reply_done(tr_msg *m, tr_future *f)
{
    if (m->tag == TRI_NET_REPLY_CARRIED)
        tr_msg_free(m);
    tri_future_unref(f, 1);
}

/* An inbound ask's deadline on the I/O thread's wheel: it fails (unless
 * answered meanwhile) and its answer goes out like any other. */
static void inbound_deadline(tri_timer *t)
{
    tr_future *f = (tr_future *)((char *)t - offsetof(tr_future, timer));
    tri_future_failf(f, TR_ETIMEDOUT, "%s.%s was not answered within %lld ms (and a second)",
                     f->gw_name, f->method_name, (long long)(f->timeout_ns / 1000000));
}

void tri_server_stop(tri_net *net)
{
    /* Every timer left on the wheel now is an inbound ask's: the calling
     * side and the connections took theirs off when they closed. */
    tri_timer *t = NULL;
    tri_wheel_drain(&net->wheel, &t);
    while (t) {
        tri_timer *next = t->next;
        if (t->fire == inbound_deadline) {
            tr_future *f = (tr_future *)((char *)t - offsetof(tr_future, timer));
            tri_future_failf(f, TR_ESTOPPED, "the service at %s shut down before %s.%s was "
                             "answered", net->bound, f->gw_name, f->method_name);
        }
        t = next;
    }
}

void tri_server_discard(tr_msg *m) { reply_done(m, reply_future(m)); }

void tri_server_reply(tri_net *net, tr_msg *m)
{
    tr_future *f = reply_future(m);
    tri_wheel_cancel(&net->wheel, &f->timer); /* answered: no deadline now */
    if (net->inbound_waiting && !--net->inbound_waiting)
        tri_net_expect(net, 0); /* nothing more is owed to us: sleep when idle */
    tri_conn *c = tri_net_conn(net, f->wire_link);
    if (!c) { /* its connection is gone: nobody to tell */
        reply_done(m, f);
        return;
    }
    /* acquire: the outcome was published with DONE (future.c). */
    int code = tr_future_code(f);
    int rv;
    if (code == 0) {
        size_t enc = f->vtype ? tri_encoded_size(f->vtype, f->value) : 0;
        size_t size = tri_frame_size(enc);
        tri_net_set(&net->ctr.last_reply_size, size);
        if (size > net->max_frame) { /* S25: never sent; the asker hears why */
            tri_net_add(&net->ctr.oversized_replies, 1);
            TRI_WARN(&net->log, "remote", NULL,
                     "the result of %s.%s for %s is %zu bytes, exceeds the maximum frame "
                     "size %zu; it is not sent (S25)", f->gw_name, f->method_name, c->name, size,
                     net->max_frame);
            rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, f->wire_id, TR_EFRAMESIZE,
                                    "result of %s.%s is %zu bytes, exceeds the maximum frame "
                                    "size %zu",
                                    f->gw_name, f->method_name, size, net->max_frame);
        } else {
            uint8_t *p = tri_conn_reserve(c, size);
            rv = p ? 0 : TR_ENOMEM;
            if (p) {
                tri_frame_put_hdr(p, TRI_F_REPLY_OK, 0, 0, 0, f->wire_id, enc);
                if (enc)
                    tri_encode_into(f->vtype, f->value, p + TRI_FRAME_HDR);
                tri_conn_commit(net, c, size);
            }
        }
    } else {
        const char *msg = tr_future_error(f);
        rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, f->wire_id, code, "%s", msg);
        tri_net_set(&net->ctr.last_reply_size,
                    tri_frame_size(tri_error_size(strlen(msg) < 511 ? strlen(msg) : 511)));
    }
    if (rv)
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory answering %s.%s for %s; its asker times out", f->gw_name,
                  f->method_name, c->name);
    reply_done(m, f);
}

/* ---- calls coming in ---------------------------------------------------------------- */

/* The slot and method a call frame names, checked. */
static enum tri_frame_outcome call_target(tri_conn *c, const tri_frame_hdr *h, tri_slot **slot,
                                          const tr_method_desc **md, tri_close_info *ci)
{
    if (h->target >= c->nslots)
        return tri_close_with(ci, TR_EPROTO, true, "a %s to slot %u, which no RESOLVE gave",
                              tri_frame_type_name(h->type), h->target);
    *slot = &c->slots[h->target];
    *md = h->method < (*slot)->desc->nmethods ? &(*slot)->desc->methods[h->method] : NULL;
    if (*md && (*md)->kind != (h->type == TRI_F_ASK ? TR_ASK : TR_TELL))
        return tri_close_with(ci, TR_EPROTO, true, "a %s frame for %s.%s, which is %s",
                              tri_frame_type_name(h->type), (*slot)->desc->name, (*md)->name,
                              (*md)->kind == TR_ASK ? "an ASK" : "a TELL");
    return TRI_FRAME_OK;
}

/* ---- tells, gathered -------------------------------------------------------------------- */

#define BATCH_BYTES (16u * 1024) /* a batch's records, at most (unless one is larger) */
#define BATCH_MAX 64u            /* tells per batch: bounds one endpoint turn's work */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

void tri_server_flush(tri_net *net, tri_conn *c)
{
    (void)net;
    if (!c->batch_count)
        return;
    tri_slot *s = &c->slots[c->batch_slot];
    tr_msg *m;
    if (c->batch_count == 1) { /* a single tell goes as itself */
        uint32_t size, tag;
        memcpy(&size, c->batch, 4);
        memcpy(&tag, c->batch + 4, 4);
        m = tr_msg_new(tag, size);
        if (m)
            memcpy(tr_msg_data(m), c->batch + TRI_BATCH_RECORD_HDR, size);
    } else {
        m = tr_msg_new(tri_rpc_tag(TRI_RK_BATCH, 0, s->impl_index, 0), c->batch_len);
        if (m)
            memcpy(tr_msg_data(m), c->batch, c->batch_len);
    }
    uint32_t n = c->batch_count;
    c->batch_count = 0;
    c->batch_len = 0;
    if (c->batch_cap > BATCH_BYTES) { /* after a large tell: give the room back */
        tri_free(c->batch, c->batch_cap);
        c->batch = NULL;
        c->batch_cap = 0;
    }
    if (!m) {
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory receiving %u tells to %s from %s; they are lost", n, s->ep->id,
                  c->name);
        return;
    }
    if (tr_send(s->ep->actor, m)) { /* terminated (S16): counted like local drops */
        tr_msg_free(m);
        /* relaxed: a statistic, bumped by any sender (as gateway.c). */
        atomic_fetch_add_explicit(&s->ep->dropped_at_send, n, memory_order_relaxed);
        tri_slot_release(s);
    }
}

static enum tri_frame_outcome on_tell(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                      const uint8_t *body, size_t len, tri_close_info *ci)
{
    tri_slot *s = NULL;
    const tr_method_desc *md = NULL;
    if (call_target(c, h, &s, &md, ci))
        return TRI_FRAME_CLOSE;
    if (!s->ep) { /* its endpoint terminated (S16): dropped, counted here */
        tri_net_add(&net->ctr.tells_dropped, 1);
        return TRI_FRAME_OK;
    }
    if (!md) { /* S18: nobody to tell; counted as the endpoint would */
        TRI_DEBUG(&net->log, "remote", NULL, "%s sent a tell to method #%u of %s, which has %zu",
                  c->name, h->method, s->desc->name, s->desc->nmethods);
        /* relaxed: a statistic, bumped by any sender (as gateway.c). */
        atomic_fetch_add_explicit(&s->ep->dropped_at_send, 1, memory_order_relaxed);
        return TRI_FRAME_OK;
    }
    size_t fence = h->flags & TRI_FF_TOKEN ? TRI_FRAME_TOKEN : 0;
    if (len < fence)
        return tri_close_with(ci, TR_EPROTO, true, "a TELL shorter than its fencing token");
    size_t deep;
    if (tri_decode_size(md->arg_type, body + fence, len - fence, &deep))
        return tri_close_with(ci, TR_EPROTO, true,
                              "the %zu-byte argument of %s.%s does not decode as %s",
                              len - fence, s->desc->name, md->name, md->arg_type->name);
    size_t payload = align8(fence + deep), rec = TRI_BATCH_RECORD_HDR + payload;
    if (c->batch_count && (c->batch_slot != h->target || c->batch_len + rec > BATCH_BYTES))
        tri_server_flush(net, c);
    if (c->batch_cap < c->batch_len + rec) {
        size_t cap = rec > BATCH_BYTES ? rec : BATCH_BYTES;
        uint8_t *p = tri_realloc(c->batch, c->batch_cap, cap);
        if (!p) {
            TRI_ERROR(&net->log, "remote", NULL,
                      "out of memory receiving %s.%s from %s; the tell is lost", s->desc->name,
                      md->name, c->name);
            return TRI_FRAME_OK;
        }
        c->batch = p;
        c->batch_cap = cap;
    }
    uint8_t *r = c->batch + c->batch_len;
    uint32_t size32 = (uint32_t)payload;
    uint32_t tag = tri_rpc_tag(TRI_RK_TELL, fence ? TRI_RF_TOKEN : 0, s->impl_index, h->method);
    memcpy(r, &size32, 4);
    memcpy(r + 4, &tag, 4);
    if (fence)
        memcpy(r + TRI_BATCH_RECORD_HDR, body, fence);
    tri_decode_into(md->arg_type, body + fence, len - fence, r + TRI_BATCH_RECORD_HDR + fence,
                    deep);
    c->batch_len += rec;
    c->batch_slot = h->target;
    if (++c->batch_count == BATCH_MAX)
        tri_server_flush(net, c);
    return TRI_FRAME_OK;
}

static enum tri_frame_outcome on_ask(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                     const uint8_t *body, size_t len, tri_close_info *ci)
{
    tri_slot *s = NULL;
    const tr_method_desc *md = NULL;
    if (call_target(c, h, &s, &md, ci))
        return TRI_FRAME_CLOSE;
    tr_endpoint *ep = s->ep;
    if (!ep) { /* S16: it terminated; the slot no longer holds it */
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_EUNREACHABLE,
                                    "endpoint %s at %s has terminated; %s.%s was not processed",
                                    s->id, net->bound, s->desc->name, md ? md->name : "?");
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    if (!md) { /* S18 */
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_ENOMETHOD,
                                    "endpoint %s has no method #%u in gateway %s", ep->id,
                                    h->method, s->desc->name);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    size_t fence = h->flags & TRI_FF_TOKEN ? TRI_FRAME_TOKEN : 0;
    if (len < fence + 4)
        return tri_close_with(ci, TR_EPROTO, true, "an ASK shorter than its fixed fields");
    uint32_t timeout_ms = tri_get_u32(body + fence);
    const uint8_t *arg = body + fence + 4;
    size_t arg_len = len - fence - 4;
    size_t deep;
    if (timeout_ms == 0)
        return tri_close_with(ci, TR_EPROTO, true, "an ASK with a zero timeout");
    if (tri_decode_size(md->arg_type, arg, arg_len, &deep))
        return tri_close_with(ci, TR_EPROTO, true,
                              "the %zu-byte argument of %s.%s does not decode as %s", arg_len,
                              s->desc->name, md->name, md->arg_type->name);
    /* References: the message's, the continuation's, and the I/O thread's
     * (its deadline on the wheel, then the answer's request; dropped once
     * the answer is sent or discarded). */
    tr_future *f = tri_future_new(md->result_type, 3, fence + deep);
    if (!f) {
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_ENOMEM,
                                    "out of memory receiving %s.%s at %s", s->desc->name,
                                    md->name, net->bound);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    tr_msg *m = tri_future_msg(f);
    unsigned flags = fence ? TRI_RF_TOKEN : 0;
    m->tag = tri_rpc_tag(TRI_RK_ASK, flags, s->impl_index, h->method);
    uint8_t *p = tri_future_extra(f);
    if (fence)
        memcpy(p, body, fence);
    tri_decode_into(md->arg_type, arg, arg_len, p + fence, deep);
    f->wire_id = h->corr;
    f->wire_link = c->id;
    f->gw_name = s->desc->name;
    f->method_name = md->name;
    f->timeout_ns = (int64_t)timeout_ms * 1000000;
    size_t keep = ep->id_len < TRI_FUT_TARGET_MAX ? ep->id_len : TRI_FUT_TARGET_MAX;
    memcpy(f->target, ep->id, keep);
    f->target[keep] = '\0';
    tri_net_ref(net); /* dropped by on_answered, after its post */
    tri_future_preset_then(f, on_answered, net, NULL);
    net->inbound_waiting++;
    /* The deadline is on the I/O thread's own wheel (no lock, no timer
     * thread to wake), a little later than the asker's own, so that the
     * asker times out by itself (S15) and this one only bounds what we
     * hold. Never on the service's timer: f->svc stays NULL. */
    tri_timer_init(&f->timer, inbound_deadline);
    tri_wheel_arm(&net->wheel, &f->timer, tri_now_ns() + f->timeout_ns + INBOUND_GRACE_NS);
    /* relaxed: the send publishes it (as local_ask). */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    if (tr_send(ep->actor, m)) {
        /* Terminated (S16): the answer says so, through on_answered. */
        /* relaxed: never queued, nobody else has seen it. */
        atomic_store_explicit(&f->queued, 0, memory_order_relaxed);
        /* relaxed: a statistic, bumped by any sender (as gateway.c). */
        atomic_fetch_add_explicit(&ep->dropped_at_send, 1, memory_order_relaxed);
        tri_future_failf(f, TR_EUNREACHABLE, "endpoint %s has terminated; %s.%s was not processed",
                         ep->id, s->desc->name, md->name);
        tri_future_unref(f, 1); /* the message's */
        tri_slot_release(s);
        return TRI_FRAME_OK;
    }
    tri_net_expect(net, EXPECT_ANSWER_NS);
    return TRI_FRAME_OK;
}

enum tri_frame_outcome tri_server_frame(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                        const uint8_t *body, size_t len, tri_close_info *ci)
{
    if (c->state != TRI_CONN_OPEN) {
        if (h->type == TRI_F_HELLO)
            return tri_handshake_on_hello(net, c, body, len, ci);
        return tri_close_with(ci, TR_EPROTO, true, "a %s frame before HELLO",
                              tri_frame_type_name(h->type));
    }
    if (c->batch_count && (h->type != TRI_F_TELL || h->target != c->batch_slot))
        tri_server_flush(net, c); /* what came before goes before */
    switch (h->type) {
    case TRI_F_TELL:
        return on_tell(net, c, h, body, len, ci);
    case TRI_F_ASK:
        return on_ask(net, c, h, body, len, ci);
    case TRI_F_RESOLVE:
        return tri_handshake_on_resolve(net, c, h, body, len, ci);
    default:
        return tri_close_with(ci, TR_EPROTO, true, "a %s frame sent to the serving side",
                              tri_frame_type_name(h->type));
    }
}

enum tri_frame_outcome tri_server_oversized(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                            uint64_t size, tri_close_info *ci)
{
    if (h->type == TRI_F_ASK) { /* S26: the asker hears it at once */
        const char *what = "?", *gw = "?";
        if (h->target < c->nslots) {
            const tri_slot *s = &c->slots[h->target];
            gw = s->desc->name;
            if (h->method < s->desc->nmethods)
                what = s->desc->methods[h->method].name;
        }
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_EFRAMESIZE,
                                    "request %s.%s is %llu bytes, exceeds the maximum frame size "
                                    "%zu of the receiving node %s; it was skipped",
                                    gw, what, (unsigned long long)size, net->max_frame, net->bound);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    if (h->type == TRI_F_TELL)
        return TRI_FRAME_OK; /* counted and logged by the read loop */
    return tri_close_with(ci, TR_EPROTO, true, "a %llu-byte %s frame (only calls may be large)",
                          (unsigned long long)size, tri_frame_type_name(h->type));
}
