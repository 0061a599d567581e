/* Remote death watch, both sides (rwatch.h). */
#include "remote/rwatch.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/net.h"
#include "remote/peer.h"
#include "troupe/error.h"

/* A calling-side watch on a peer. */
typedef struct tri_cwatch {
    struct tri_cwatch *next;
    tr_watch *w;        /* the transport's reference */
    tri_rtarget *rt;    /* alive while w holds its gateway */
    uint64_t id;        /* WATCH's corr */
    uint32_t sent_gen;  /* the connection it was sent on (0: not sent) */
    uint64_t inc;       /* the incarnation it was armed on (0: not yet) */
} tri_cwatch;

/* A serving-side watch for a remote watcher. */
typedef struct tri_swatch {
    struct tri_swatch *next;
    tr_watch *w;        /* our reference */
    uint64_t wid;       /* net-unique: how its DOWN request finds it */
    uint64_t conn_id;
    uint64_t corr;      /* the watcher's id, echoed in DOWN */
} tri_swatch;

typedef struct req {
    tri_rtarget *rt;
    tr_watch *w;
} req;

typedef struct down_req {
    uint64_t wid;
    int32_t code;
    uint32_t len;       /* message bytes that follow */
} down_req;

/* ---- the caller's thread ----------------------------------------------------------- */

static int post(tr_gateway *gw, tr_watch *w, uint32_t tag)
{
    tri_net *net = tri_net_of(tri_wire_gateway_service(gw));
    if (!net)
        return TR_ESTOPPED;
    tr_msg *m = tr_msg_new(tag, sizeof(req));
    if (!m)
        return TR_ENOMEM;
    req r = {tri_wire_gateway_target(gw), w};
    memcpy(tr_msg_data(m), &r, sizeof r);
    tri_net_post(net, m);
    return 0;
}

int tri_rwatch_watch(tr_gateway *gw, tr_watch *w) { return post(gw, w, TRI_NET_WATCH); }

void tri_rwatch_unwatch(tr_gateway *gw, tr_watch *w)
{
    if (post(gw, w, TRI_NET_UNWATCH))
        TRI_WARN(&tri_net_of(tri_wire_gateway_service(gw))->log, "remote", NULL,
                 "out of memory cancelling a remote watch: it stays until its DOWN");
}

/* ---- calling side, I/O thread -------------------------------------------------------- */

uint32_t tri_rwatch_count(const tri_peer *p) { return p->nwatches; }

static int send_watch(tri_net *net, tri_peer *p, tri_cwatch *cw)
{
    size_t body = 2 + cw->rt->id_len;
    uint8_t *q = tri_conn_reserve(p->conn, TRI_FRAME_HDR + body);
    if (!q)
        return TR_ENOMEM;
    tri_frame_put_hdr(q, TRI_F_WATCH, 0, 0, 0, cw->id, body);
    tri_put_u16(q + TRI_FRAME_HDR, (uint16_t)cw->rt->id_len);
    memcpy(q + TRI_FRAME_HDR + 2, cw->rt->id, cw->rt->id_len);
    tri_conn_commit(net, p->conn, TRI_FRAME_HDR + body);
    cw->sent_gen = p->gen;
    cw->inc = p->incarnation;
    return 0;
}

static void fire_node(tri_cwatch *cw, int code, const char *why)
{
    char msg[800];
    snprintf(msg, sizeof msg, "%s: %s", cw->rt->address, why);
    tri_wire_watch_fire(cw->w, code, msg);
    tri_wire_watch_unref(cw->w);
    tri_free(cw, sizeof *cw);
}

static void add_watch(tri_net *net, tri_rtarget *rt, tr_watch *w)
{
    tri_peer *p = rt->peer;
    tri_cwatch *cw = p ? tri_zalloc(sizeof *cw) : NULL;
    if (!cw) {
        tri_wire_watch_fire(w, TR_EUNREACHABLE, p ? "out of memory registering the watch"
                                                  : "the gateway's peer is gone");
        tri_wire_watch_unref(w);
        return;
    }
    cw->w = w;
    cw->rt = rt;
    cw->id = ++p->next_watch;
    cw->next = p->watches;
    p->watches = cw;
    p->nwatches++;
    if (p->ready && p->conn) {
        if (send_watch(net, p, cw))
            TRI_WARN(&net->log, "remote", NULL, "out of memory sending WATCH to %s", p->key);
    } else if (!p->conn) {
        tri_peer_connect(net, p); /* hello_ok sends it */
        /* It failed at once (no socket, refused, known down): a grace
         * period holds the watch as it would one made before the loss (a
         * link that heals within it is no notification); without one, the
         * watch fails now. */
        const char *why = p->down_until_ns ? p->down_why : "cannot connect";
        if (!p->conn && !p->grace_until_ns && !tri_rwatch_hold(net, p, why, tri_now_ns()))
            tri_rwatch_peer_lost(net, p, TR_EUNREACHABLE, why);
    }
}

static tri_cwatch *take(tri_peer *p, bool (*match)(tri_cwatch *, const void *), const void *k)
{
    for (tri_cwatch **pp = &p->watches; *pp; pp = &(*pp)->next) {
        if (match(*pp, k)) {
            tri_cwatch *cw = *pp;
            *pp = cw->next;
            p->nwatches--;
            return cw;
        }
    }
    return NULL;
}
static bool by_watch(tri_cwatch *cw, const void *k) { return cw->w == k; }
static bool by_id(tri_cwatch *cw, const void *k) { return cw->id == *(const uint64_t *)k; }

static void grace_end(tri_peer *p);

static void cancel_watch(tri_net *net, tri_rtarget *rt, tr_watch *w)
{
    tri_peer *p = rt->peer;
    tri_cwatch *cw = p ? take(p, by_watch, w) : NULL;
    if (!cw)
        return; /* fired already: its reference went with it */
    if (!p->watches)
        grace_end(p); /* nothing left to hold */
    if (p->conn && p->ready && cw->sent_gen == p->gen)
        tri_conn_put_frame(net, p->conn, TRI_F_UNWATCH, cw->id, NULL, 0);
    tri_wire_watch_unref(cw->w);
    tri_free(cw, sizeof *cw);
}

/* ---- the grace period (service.h watch_grace_ns) --------------------------------------- */

static void grace_end(tri_peer *p)
{
    if (p->grace_until_ns)
        tri_wheel_cancel(&p->net->wheel, &p->grace_timer);
    p->grace_until_ns = 0;
}

/* The next dial when the backoff allows it, never past the end. */
static void grace_arm(tri_net *net, tri_peer *p, int64_t at)
{
    if (at > p->grace_until_ns)
        at = p->grace_until_ns;
    tri_wheel_cancel(&net->wheel, &p->grace_timer);
    tri_wheel_arm(&net->wheel, &p->grace_timer, at);
}

static void grace_fired(tri_timer *t)
{
    tri_peer *p = (tri_peer *)((char *)t - offsetof(tri_peer, grace_timer));
    tri_net *net = p->net;
    int64_t now = tri_now_ns();
    if (!p->watches) { /* all unwatched meanwhile */
        p->grace_until_ns = 0;
        return;
    }
    if (now >= p->grace_until_ns) {
        char why[480];
        snprintf(why, sizeof why,
                 "the connection was lost (%s) and not re-established within the grace period "
                 "of %lld ms (watch_grace_ns)%s%s",
                 p->grace_why, (long long)(net->watch_grace_ns / 1000000),
                 p->down_until_ns ? "; the last attempt: " : "",
                 p->down_until_ns ? p->down_why : "");
        p->grace_until_ns = 0;
        tri_rwatch_peer_lost(net, p, TR_EUNREACHABLE, why);
        return;
    }
    if (!p->conn)
        tri_peer_connect(net, p); /* its end re-arms us (tri_rwatch_hold, _peer_ready) */
    if (!p->conn) /* failed at once: try again after the backoff (at least its floor) */
        grace_arm(net, p, p->down_until_ns > now ? p->down_until_ns : now + net->backoff_min_ns);
    else
        grace_arm(net, p, p->grace_until_ns);
}

bool tri_rwatch_hold(tri_net *net, tri_peer *p, const char *why, int64_t born_ns)
{
    if (!p->watches || net->watch_grace_ns <= 0 || net->stopping)
        return false;
    int64_t now = tri_now_ns();
    if (!p->grace_until_ns) {
        p->grace_until_ns = now + net->watch_grace_ns;
        snprintf(p->grace_why, sizeof p->grace_why, "%.150s", why);
        tri_timer_init(&p->grace_timer, grace_fired);
    }
    /* At once after a loss (a connection that got through the handshake
     * leaves no backoff), else when the backoff allows; never sooner than
     * the backoff's floor after the lost one was made, so a peer that
     * accepts and drops at once is not redialled in a tight loop. */
    int64_t at = p->down_until_ns > now ? p->down_until_ns : now;
    if (at < born_ns + net->backoff_min_ns)
        at = born_ns + net->backoff_min_ns;
    grace_arm(net, p, at);
    return true;
}

void tri_rwatch_peer_ready(tri_net *net, tri_peer *p)
{
    grace_end(p);
    for (tri_cwatch **pp = &p->watches; *pp;) {
        tri_cwatch *cw = *pp;
        uint64_t inc = cw->inc ? cw->inc : cw->rt->incarnation;
        if (inc && inc != p->incarnation) { /* its process is gone: say so */
            *pp = cw->next;
            p->nwatches--;
            fire_node(cw, TR_ERESTARTED,
                      "restarted (a new incarnation) while the connection was down: the watched "
                      "endpoint's process is gone");
            continue;
        }
        if (cw->sent_gen != p->gen && send_watch(net, p, cw))
            TRI_WARN(&net->log, "remote", NULL, "out of memory sending WATCH to %s", p->key);
        pp = &cw->next;
    }
}

void tri_rwatch_peer_lost(tri_net *net, tri_peer *p, int code, const char *why)
{
    (void)net;
    grace_end(p);
    while (p->watches) {
        tri_cwatch *cw = p->watches;
        p->watches = cw->next;
        p->nwatches--;
        fire_node(cw, code, why);
    }
}

void tri_rwatch_peer_free(tri_peer *p)
{
    tri_rwatch_peer_lost(NULL, p, TR_ESTOPPED, "the service shut down");
}

enum tri_frame_outcome tri_rwatch_on_down(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                          const uint8_t *body, size_t len, tri_close_info *ci)
{
    (void)net;
    int32_t code;
    const char *msg;
    size_t mlen;
    if (tri_error_get(body, len, &code, &msg, &mlen))
        return tri_close_with(ci, TR_EPROTO, true, "a DOWN that does not parse");
    tri_cwatch *cw = take(c->peer, by_id, &h->corr);
    if (!cw)
        return TRI_FRAME_OK; /* unwatched meanwhile */
    char why[300];
    snprintf(why, sizeof why, "%.*s", (int)mlen, msg);
    tri_wire_watch_fire(cw->w, code, why);
    tri_wire_watch_unref(cw->w);
    tri_free(cw, sizeof *cw);
    return TRI_FRAME_OK;
}

/* ---- serving side --------------------------------------------------------------------- */

/* Any thread: the watched endpoint is gone. Posts the DOWN, then drops
 * the net reference the entry held for this call. */
static void on_local_down(void *ctx, uint64_t wid, int code, const char *msg)
{
    tri_net *net = ctx;
    size_t len = strlen(msg);
    if (len > 512)
        len = 512;
    tr_msg *m = tr_msg_new(TRI_NET_DOWN, sizeof(down_req) + len);
    if (m) {
        down_req d = {wid, code, (uint32_t)len};
        memcpy(tr_msg_data(m), &d, sizeof d);
        memcpy((uint8_t *)tr_msg_data(m) + sizeof d, msg, len);
        tri_net_post(net, m);
    } else {
        TRI_WARN(&net->log, "remote", NULL, "out of memory telling a remote watcher that %s", msg);
    }
    tri_net_unref(net);
}

static void swatch_free(tri_swatch *s)
{
    tri_wire_watch_unref(s->w);
    tri_free(s, sizeof *s);
}

enum tri_frame_outcome tri_rwatch_on_watch(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                           const uint8_t *body, size_t len, tri_close_info *ci)
{
    if (len < 2 || len != 2u + tri_get_u16(body) || len == 2 || len - 2 > TRI_FRAME_NAME_MAX)
        return tri_close_with(ci, TR_EPROTO, true, "a WATCH that does not parse");
    tri_swatch *s = tri_zalloc(sizeof *s);
    if (!s)
        return tri_close_with(ci, TR_ENOMEM, false, "out of memory registering a watch");
    s->wid = ++net->next_swatch;
    s->conn_id = c->id;
    s->corr = h->corr;
    s->next = net->swatches;
    net->swatches = s; /* before the watch: its DOWN may be posted at once */
    tri_net_ref(net);  /* for on_local_down, or dropped when cancelled */
    s->w = tri_wire_watch_local(net->svc, (const char *)body + 2, len - 2, on_local_down, net,
                                s->wid);
    if (!s->w) {
        net->swatches = s->next;
        tri_free(s, sizeof *s);
        tri_net_unref(net);
        return tri_close_with(ci, TR_ENOMEM, false, "out of memory registering a watch");
    }
    return TRI_FRAME_OK;
}

static tri_swatch *take_s(tri_net *net, bool (*match)(tri_swatch *, uint64_t, uint64_t),
                          uint64_t a, uint64_t b)
{
    for (tri_swatch **pp = &net->swatches; *pp; pp = &(*pp)->next) {
        if (match(*pp, a, b)) {
            tri_swatch *s = *pp;
            *pp = s->next;
            return s;
        }
    }
    return NULL;
}
static bool s_by_wid(tri_swatch *s, uint64_t wid, uint64_t b) { return (void)b, s->wid == wid; }
static bool s_by_corr(tri_swatch *s, uint64_t conn, uint64_t corr)
{
    return s->conn_id == conn && s->corr == corr;
}
static bool s_by_conn(tri_swatch *s, uint64_t conn, uint64_t b)
{
    return (void)b, s->conn_id == conn;
}
static bool s_any(tri_swatch *s, uint64_t a, uint64_t b) { return (void)s, (void)a, (void)b, true; }

/* Cancels an entry; a cancel that loses means its DOWN is on its way
 * (and will find no entry). */
static void cancel_s(tri_net *net, tri_swatch *s)
{
    if (tri_wire_watch_cancel(s->w))
        tri_net_unref(net); /* on_local_down will not run */
    swatch_free(s);
}

enum tri_frame_outcome tri_rwatch_on_unwatch(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                             tri_close_info *ci)
{
    (void)ci;
    tri_swatch *s = take_s(net, s_by_corr, c->id, h->corr);
    if (s)
        cancel_s(net, s);
    return TRI_FRAME_OK;
}

void tri_rwatch_conn_closed(tri_net *net, tri_conn *c)
{
    tri_swatch *s;
    while ((s = take_s(net, s_by_conn, c->id, 0)))
        cancel_s(net, s);
}

void tri_rwatch_stop_all(tri_net *net)
{
    tri_swatch *s;
    while ((s = take_s(net, s_any, 0, 0)))
        cancel_s(net, s);
}

static void on_down_req(tri_net *net, tr_msg *m)
{
    down_req d;
    memcpy(&d, tr_msg_data(m), sizeof d);
    const char *msg = (const char *)tr_msg_data(m) + sizeof d;
    tri_swatch *s = take_s(net, s_by_wid, d.wid, 0);
    if (s) {
        tri_conn *c = tri_net_conn(net, s->conn_id);
        if (c && c->state == TRI_CONN_OPEN)
            tri_conn_put_error(net, c, TRI_F_DOWN, s->corr, d.code, "%.*s", (int)d.len, msg);
        swatch_free(s);
    }
    tr_msg_free(m);
}

/* ---- requests ------------------------------------------------------------------------- */

void tri_rwatch_request(tri_net *net, tr_msg *m)
{
    if (m->tag == TRI_NET_DOWN) {
        on_down_req(net, m);
        return;
    }
    req r;
    memcpy(&r, tr_msg_data(m), sizeof r);
    uint32_t tag = m->tag;
    tr_msg_free(m);
    if (net->stopping) {
        if (tag == TRI_NET_WATCH) {
            tri_wire_watch_fire(r.w, TR_ESTOPPED, "the service is shutting down");
            tri_wire_watch_unref(r.w);
        }
        return;
    }
    if (tag == TRI_NET_WATCH)
        add_watch(net, r.rt, r.w);
    else
        cancel_watch(net, r.rt, r.w);
}

void tri_rwatch_discard(tr_msg *m)
{
    if (m->tag == TRI_NET_WATCH) {
        req r;
        memcpy(&r, tr_msg_data(m), sizeof r);
        tri_wire_watch_fire(r.w, TR_ESTOPPED, "the service shut down");
        tri_wire_watch_unref(r.w);
    }
    tr_msg_free(m);
}
