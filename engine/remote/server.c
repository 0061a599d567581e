/* The serving side: inbound calls and their answers (server.h). */
#include "remote/server.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/loan.h"
#include "base/log.h"
#include "remote/handshake.h"
#include "remote/net.h"
#include "remote/rwatch.h"
#include "rpc/wire.h"
#include "troupe/stream.h"
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
    tr_msg *m = tri_wire_answer_msg(f, TRI_NET_REPLY, TRI_NET_REPLY_CARRIED);
    if (!m) {
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory sending the answer to %s.%s; its asker times out",
                  tri_wire_gw_name(f), tri_wire_method_name(f));
        tri_net_unref(net);
        return;
    }
    /* The request carries the I/O thread's reference (see on_ask). */
    tri_net_post(net, m);
    tri_net_unref(net); /* the inbound ask's hold, kept across the post */
}

/* An inbound ask's deadline on the I/O thread's wheel: it fails (unless
 * answered meanwhile) and its answer goes out like any other. */
static void inbound_deadline(tri_timer *t)
{
    tr_future *f = tri_wire_timer_future(t);
    tri_wire_fail(f, TR_ETIMEDOUT, "%s.%s was not answered within %lld ms (and a second)",
                  tri_wire_gw_name(f), tri_wire_method_name(f),
                  (long long)(tri_wire_timeout_ns(f) / 1000000));
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
            tr_future *f = tri_wire_timer_future(t);
            tri_wire_fail(f, TR_ESTOPPED, "the service at %s shut down before %s.%s was "
                          "answered", net->bound, tri_wire_gw_name(f), tri_wire_method_name(f));
        }
        t = next;
    }
}

void tri_server_discard(tr_msg *m) { tri_wire_answer_done(m, TRI_NET_REPLY_CARRIED); }

static void release_result(void *f) { tr_future_release(f); }

void tri_server_reply(tri_net *net, tr_msg *m)
{
    tr_future *f = tri_wire_answer_future(m, TRI_NET_REPLY_CARRIED);
    tri_wheel_cancel(&net->wheel, tri_wire_timer(f)); /* answered: no deadline now */
    if (net->inbound_waiting && !--net->inbound_waiting)
        tri_net_expect(net, 0); /* nothing more is owed to us: sleep when idle */
    tri_conn *c = tri_net_conn(net, tri_wire_route_link(f));
    if (c && c->asks_in)
        c->asks_in--;
    if (!c) { /* its connection is gone: nobody to tell */
        tri_wire_answer_done(m, TRI_NET_REPLY_CARRIED);
        return;
    }
    const char *gw = tri_wire_gw_name(f), *method = tri_wire_method_name(f);
    uint64_t corr = tri_wire_route_corr(f);
    /* acquire: the outcome was published with DONE (future.c). */
    int code = tr_future_code(f);
    int rv;
    if (code == 0) {
        size_t enc = tri_wire_result_size(f);
        size_t size = tri_frame_size(enc);
        tri_net_set(&net->ctr.last_reply_size, size);
        if (size > net->max_frame) { /* S25: never sent; the asker hears why */
            tri_net_add(&net->ctr.oversized_replies, 1);
            TRI_WARN(&net->log, "remote", NULL,
                     "the result of %s.%s for %s is %zu bytes, exceeds the maximum frame "
                     "size %zu; it is not sent (S25)", gw, method, c->name, size, net->max_frame);
            rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, corr, TR_EFRAMESIZE,
                                    "result of %s.%s is %zu bytes, exceeds the maximum frame "
                                    "size %zu",
                                    gw, method, size, net->max_frame);
        } else {
            uint8_t *p = tri_conn_reserve(c, size);
            rv = p ? 0 : TR_ENOMEM;
            if (p && !c->tls && enc >= TRI_SPLICE_MIN) {
                /* Large bytes go out from the result itself (conn.h):
                 * the future holds them until written. */
                tri_frame_put_hdr(p, TRI_F_REPLY_OK, 0, 0, 0, corr, enc);
                tri_splicer sp = {c, 0};
                uint8_t *end = tri_wire_result_encode_gather(f, p + TRI_FRAME_HDR, TRI_SPLICE_MIN,
                                                             tri_conn_splicer, &sp);
                if (sp.recorded) {
                    tr_future_retain(f);
                    tri_conn_splice_owner(c, f, release_result);
                }
                tri_conn_commit_gathered(net, c, (size_t)(end - p), size);
            } else if (p) {
                tri_frame_put_hdr(p, TRI_F_REPLY_OK, 0, 0, 0, corr, enc);
                if (enc)
                    tri_wire_result_encode(f, p + TRI_FRAME_HDR);
                tri_conn_commit(net, c, size);
            }
        }
    } else {
        const char *msg = tr_future_error(f);
        rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, corr, code, "%s", msg);
        tri_net_set(&net->ctr.last_reply_size,
                    tri_frame_size(tri_error_size(strlen(msg) < 511 ? strlen(msg) : 511)));
    }
    if (rv)
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory answering %s.%s for %s; its asker times out", gw, method, c->name);
    tri_wire_answer_done(m, TRI_NET_REPLY_CARRIED);
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

/* ---- credit (PROTOCOL.md "Credit") --------------------------------------------------------- */

#define CREDIT_RETRY_NS (1000LL * 1000) /* a starved slot looks again this often */

static void credit_retry(tri_timer *t);

/* The calls window adapts (PROTOCOL.md "Credit"): it starts at
 * credit_calls, doubles while the endpoint keeps up with a client that uses
 * it (so that a long round trip is covered: 512 calls carried 21.8 k
 * tells/s at 20 ms RTT, where loopback did 1.7 M), up to this many times,
 * and halves back when the endpoint falls behind. */
#define CREDIT_GROWTH 16u

static uint32_t slot_window(const tri_net *net, tri_slot *s)
{
    if (!s->window) {
        s->window = net->credit_calls;
        s->bwindow = net->credit_bytes;
    }
    return s->window;
}

/* How much a window of `w` grows by, at most `most`. */
static uint64_t growth(uint64_t w, uint64_t most) { return w < most - w ? w : most - w; }

/* Grants slot i what its caller used, if the endpoint has room; else marks
 * it starved, shrinks its window and retries on the connection's credit
 * timer. */
static void grant(tri_net *net, tri_conn *c, uint32_t i)
{
    tri_slot *s = &c->slots[i];
    if (!s->ep || !s->owed_calls)
        return;
    uint32_t window = slot_window(net, s);
    /* Room: below its mark plus the initial window, so that a fast
     * endpoint absorbs a whole window's burst without starving the slot
     * (its mailbox stays below mark + two windows). */
    if (tri_wire_endpoint_has_room(s->ep, net->credit_calls)) {
        /* A client that used half a window while the endpoint kept up:
         * both windows double (the round trip, not the endpoint, held it).
         * Kept up: its mailbox, beyond its low mark, holds less than half
         * of the calls owed, so it took at least half of them as they came.
         * Over a long round trip a window arrives as one burst, faster than
         * any endpoint takes it, and a grant in mid-burst always found the
         * mailbox above the bare low mark: at 20 ms the window stopped at
         * 4-8x (netns bench.sh rtt20). A slow endpoint takes next to none
         * of a burst: its window stays. */
        bool used = s->owed_calls >= window / 2 || s->owed_bytes >= s->bwindow / 2;
        uint32_t grow = 0;
        uint64_t bgrow = 0, most = (uint64_t)net->credit_calls * CREDIT_GROWTH;
        uint64_t bmost = (uint64_t)net->credit_bytes * CREDIT_GROWTH;
        if (!s->starved && used && tri_wire_endpoint_keeps_up(s->ep, s->owed_calls / 2)) {
            grow = (uint32_t)growth(window, most);
            bgrow = growth(s->bwindow, bmost);
        }
        uint32_t give = s->owed_calls + grow;
        uint32_t keep = s->withheld < give ? s->withheld : give;
        give -= keep;
        uint64_t bgive = s->owed_bytes + bgrow;
        uint64_t bkeep = s->bwithheld < bgive ? s->bwithheld : bgive;
        bgive -= bkeep;
        uint8_t b[12];
        uint32_t n = bgive > UINT32_MAX ? UINT32_MAX : (uint32_t)bgive;
        tri_put_u32(b, i);
        tri_put_u32(b + 4, give);
        tri_put_u32(b + 8, n);
        if (tri_conn_put_frame(net, c, TRI_F_CREDIT, 0, b, sizeof b))
            return; /* out of memory: the next call or the timer tries again */
        s->owed_calls = 0;
        s->owed_bytes = bgive - n; /* 0 unless more than 4 GiB was owed */
        s->window += grow;
        s->withheld -= keep;
        s->bwindow += bgrow;
        s->bwithheld -= bkeep;
        if (s->starved) {
            s->starved = false;
            c->starved--;
        }
        return;
    }
    if (!s->starved) {
        s->starved = true;
        if (window > net->credit_calls) { /* it fell behind: back off */
            uint32_t to = window / 2 > net->credit_calls ? window / 2 : net->credit_calls;
            s->withheld += window - to;
            s->window = to;
        }
        if (s->bwindow > net->credit_bytes) {
            uint64_t to = s->bwindow / 2 > net->credit_bytes ? s->bwindow / 2 : net->credit_bytes;
            s->bwithheld += s->bwindow - to;
            s->bwindow = to;
        }
        if (!c->starved++) {
            tri_timer_init(&c->credit_timer, credit_retry);
            tri_wheel_arm(&net->wheel, &c->credit_timer, tri_now_ns() + CREDIT_RETRY_NS);
        }
    }
}

static void credit_retry(tri_timer *t)
{
    tri_conn *c = (tri_conn *)((char *)t - offsetof(tri_conn, credit_timer));
    tri_net *net = c->net;
    for (uint32_t i = 0; i < c->nslots && c->starved; i++)
        if (c->slots[i].starved)
            grant(net, c, i);
    if (c->starved) /* still full: look again */
        tri_wheel_arm(&net->wheel, &c->credit_timer, tri_now_ns() + CREDIT_RETRY_NS);
}

/* A call of `size` frame bytes to slot i was taken: its caller gets it
 * back once half a window (of either kind) is used and the endpoint has
 * room. */
static void owe(tri_net *net, tri_conn *c, uint32_t i, uint64_t size)
{
    tri_slot *s = &c->slots[i];
    s->owed_calls++;
    s->owed_bytes += size;
    if ((s->owed_calls >= slot_window(net, s) / 2 || s->owed_bytes >= s->bwindow / 2) &&
        !s->starved)
        grant(net, c, i);
}

void tri_server_streams_cut(tri_net *net, tri_conn *c, const tri_close_info *ci)
{
    char why[320];
    snprintf(why, sizeof why, "the connection from %s was lost: %s", c->name, ci->why);
    for (uint32_t i = 0; i < c->nslots; i++)
        if (c->slots[i].ep && c->slots[i].desc == &tr_stream_gateway)
            tri_wire_stream_peer_lost(c->slots[i].ep, c->peer_incarnation, why);
    (void)net;
}

void tri_server_forget(tri_net *net, tri_conn *c)
{
    if (c->starved)
        tri_wheel_cancel(&net->wheel, &c->credit_timer);
    c->starved = 0;
}

/* ---- tells, gathered -------------------------------------------------------------------- */

static tri_wire_target slot_target(const tri_slot *s)
{
    return (tri_wire_target){s->ep, s->impl_index, s->desc};
}

/* What a delivery lost: a refusal (the endpoint terminated, S16) lets the
 * slot go, so later calls to it fail at once; memory's losses are counted
 * here (the endpoint counted its refusals). */
static void after_delivery(tri_net *net, tri_conn *c, const tri_wire_lost *lost)
{
    if (lost->refused)
        tri_slot_release(&c->slots[c->batch_slot]);
    if (lost->no_memory)
        tri_net_add(&net->ctr.tells_dropped, lost->no_memory);
}

void tri_server_flush(tri_net *net, tri_conn *c)
{
    if (!c->inbox)
        return;
    tri_wire_lost lost = {0, 0};
    tri_wire_inbox_flush(c->inbox, &lost);
    after_delivery(net, c, &lost);
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
        tri_wire_count_dropped(s->ep, 1);
        return TRI_FRAME_OK;
    }
    size_t fence = h->flags & TRI_FF_TOKEN ? TRI_FRAME_TOKEN : 0;
    if (len < fence)
        return tri_close_with(ci, TR_EPROTO, true, "a TELL shorter than its fencing token");
    if (!c->inbox && !(c->inbox = tri_wire_inbox_new())) {
        TRI_ERROR(&net->log, "remote", NULL,
                  "out of memory receiving %s.%s from %s; the tell is lost", s->desc->name,
                  md->name, c->name);
        tri_net_add(&net->ctr.tells_dropped, 1);
        return TRI_FRAME_OK;
    }
    /* tri_server_frame flushed a run for another slot already: what this
     * add may deliver is this slot's. */
    tri_wire_target t = slot_target(s);
    tri_wire_lost lost = {0, 0};
    c->batch_slot = h->target;
    int rv = tri_wire_inbox_add(c->inbox, &t, h->method, fence ? body : NULL, body + fence,
                                len - fence, &lost);
    after_delivery(net, c, &lost);
    if (rv) /* TR_EPROTO, the only failure: the run keeps what came before */
        return tri_close_with(ci, TR_EPROTO, true,
                              "the %zu-byte argument of %s.%s does not decode as %s",
                              len - fence, s->desc->name, md->name, md->arg_type->name);
    return TRI_FRAME_OK;
}

static enum tri_frame_outcome on_ask(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                     const uint8_t *body, size_t len, tri_close_info *ci)
{
    tri_slot *s = NULL;
    const tr_method_desc *md = NULL;
    if (call_target(c, h, &s, &md, ci))
        return TRI_FRAME_CLOSE;
    if (!s->ep) { /* S16: it terminated; the slot no longer holds it */
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_EUNREACHABLE,
                                    "endpoint %s at %s has terminated; %s.%s was not processed",
                                    s->id, net->bound, s->desc->name, md ? md->name : "?");
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    if (!md) { /* S18 */
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_ENOMETHOD,
                                    "endpoint %s has no method #%u in gateway %s", s->id,
                                    h->method, s->desc->name);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    size_t fence = h->flags & TRI_FF_TOKEN ? TRI_FRAME_TOKEN : 0;
    if (len < fence + 4)
        return tri_close_with(ci, TR_EPROTO, true, "an ASK shorter than its fixed fields");
    if (c->asks_in >= net->limits.max_inbound_asks) { /* answered at once, not queued */
        tri_limit_hit(net, TRI_LIM_ASKS, "refusing asks from %s: %u in flight on its connection, "
                      "the most max_inbound_asks allows", c->name, c->asks_in);
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_EBUSY,
                                    "%u asks are in flight on this connection to %s, the most it "
                                    "allows (max_inbound_asks)", c->asks_in, net->bound);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    uint32_t timeout_ms = tri_get_u32(body + fence);
    const uint8_t *arg = body + fence + 4;
    size_t arg_len = len - fence - 4;
    if (timeout_ms == 0)
        return tri_close_with(ci, TR_EPROTO, true, "an ASK with a zero timeout");
    /* References: the message's, the continuation's, and the I/O thread's
     * (its deadline on the wheel, then the answer's request; dropped once
     * the answer is sent or discarded). */
    tri_wire_target t = slot_target(s);
    int err = 0;
    /* The read buffer is lent to the ask's large bytes (no copy of them);
     * conn.c reads into a fresh one while it is out. */
    tri_loan *loan = arg >= c->rbuf && arg + arg_len <= c->rbuf + c->rcap ? c->rloan : NULL;
    tr_future *f = tri_wire_ask_inbound(&t, h->method, fence ? body : NULL, arg, arg_len, loan,
                                        (int64_t)timeout_ms * 1000000, on_answered, net, &err);
    if (!f && err == TR_EPROTO)
        return tri_close_with(ci, TR_EPROTO, true,
                              "the %zu-byte argument of %s.%s does not decode as %s", arg_len,
                              s->desc->name, md->name, md->arg_type->name);
    if (!f) {
        int rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_ENOMEM,
                                    "out of memory receiving %s.%s at %s", s->desc->name,
                                    md->name, net->bound);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    tri_wire_set_route(f, h->corr, c->id);
    c->asks_in++;
    tri_net_ref(net); /* dropped by on_answered, after its post */
    net->inbound_waiting++;
    /* The deadline is on the I/O thread's own wheel (no lock, no timer
     * thread to wake), a little later than the asker's own, so that the
     * asker times out by itself (S15) and this one only bounds what we
     * hold. Never on the service's timers. */
    tri_timer *timer = tri_wire_timer(f);
    tri_timer_init(timer, inbound_deadline);
    tri_wheel_arm(&net->wheel, timer,
                  tri_now_ns() + (int64_t)timeout_ms * 1000000 + INBOUND_GRACE_NS);
    if (tri_wire_ask_deliver(&t, f)) {
        /* Terminated (S16): failed; the answer says so, through on_answered. */
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
    if (c->inbox && tri_wire_inbox_target(c->inbox) &&
        (h->type != TRI_F_TELL || h->target != c->batch_slot))
        tri_server_flush(net, c); /* what came before goes before */
    enum tri_frame_outcome out;
    switch (h->type) {
    case TRI_F_TELL:
    case TRI_F_ASK:
        out = h->type == TRI_F_TELL ? on_tell(net, c, h, body, len, ci)
                                    : on_ask(net, c, h, body, len, ci);
        if (out == TRI_FRAME_OK && h->target < c->nslots)
            owe(net, c, h->target, tri_frame_size(len)); /* taken or refused, it used its caller's credit */
        return out;
    case TRI_F_RESOLVE:
        return tri_handshake_on_resolve(net, c, h, body, len, ci);
    case TRI_F_WATCH:
        return tri_rwatch_on_watch(net, c, h, body, len, ci);
    case TRI_F_UNWATCH:
        return tri_rwatch_on_unwatch(net, c, h, ci);
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
        if (h->target < c->nslots)
            owe(net, c, h->target, size);
        return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
    }
    if (h->type == TRI_F_TELL) {
        if (h->target < c->nslots)
            owe(net, c, h->target, size);
        return TRI_FRAME_OK; /* counted and logged by the read loop */
    }
    return tri_close_with(ci, TR_EPROTO, true, "a %llu-byte %s frame (only calls may be large)",
                          (unsigned long long)size, tri_frame_type_name(h->type));
}
