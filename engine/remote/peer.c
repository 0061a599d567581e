/* The calling side's connections: a peer per remote host:port, its one
 * connection at a time, the handshake's deadline, liveness, loss (S34),
 * and the end of it all (peer.h). The calls and the backlog they wait
 * in are client.c's. */
#include "remote/peer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/handshake.h"
#include "remote/net.h"
#include "remote/rwatch.h"
#include "rpc/wire.h"
#include "troupe/error.h"
#include "troupe/metrics.h"

/* Heartbeats: an open connection sends a PING every net->hb_interval_ns
 * (its PONG is the round-trip time, troupe/metrics.h); one that owes us
 * something (asks pending, watches on the peer) and is silent for
 * net->hb_timeout_ns in all is declared lost (service.h). */
#define PING_AFTER_NS (net->hb_interval_ns)
#define LIVENESS_NS (net->hb_timeout_ns)

/* ---- peers ---------------------------------------------------------- */

tri_peer *tri_peer_of(tri_net *net, const tri_rtarget *rt)
{
    for (tri_peer *p = net->peers; p; p = p->next)
        if (!strcmp(p->key, rt->key))
            return p;
    tri_peer *p = tri_zalloc(sizeof *p);
    if (!p)
        return NULL;
    p->net = net;
    snprintf(p->key, sizeof p->key, "%s", rt->key);
    memcpy(&p->sa, &rt->sa, rt->salen);
    p->salen = rt->salen;
    tri_pending_init(&p->pending);
    p->next = net->peers;
    net->peers = p;
    return p;
}

static void conn_timer_fired(tri_timer *t);

/* A failed attempt: the next one waits (exponential, with jitter). */
static void mark_down(tri_net *net, tri_peer *p, const char *why)
{
    int64_t b = p->backoff_ns ? p->backoff_ns * 2 : net->backoff_min_ns;
    if (b > net->backoff_max_ns)
        b = net->backoff_max_ns;
    p->backoff_ns = b;
    net->jitter ^= net->jitter << 13; /* xorshift64: only to spread reconnects out */
    net->jitter ^= net->jitter >> 7;
    net->jitter ^= net->jitter << 17;
    int64_t jitter = (int64_t)(net->jitter % (uint64_t)(b / 4 + 1));
    p->down_until_ns = tri_now_ns() + b + jitter;
    snprintf(p->down_why, sizeof p->down_why, "%.150s", why);
}

void tri_peer_connect(tri_net *net, tri_peer *p)
{
    if (p->conn)
        return;
    char why[400];
    int64_t now = tri_now_ns();
    if (now < p->down_until_ns) { /* known down: say so at once, dial nothing */
        snprintf(why, sizeof why, "%s is down (%s); the next connection attempt is in %lld ms",
                 p->key, p->down_why, (long long)((p->down_until_ns - now + 999999) / 1000000));
        tri_client_fail_backlog(net, p, TR_EUNREACHABLE, why);
        return;
    }
    int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, sizeof why, "cannot create a socket for %s: %s", p->key, strerror(errno));
        tri_client_fail_backlog(net, p, TR_EUNREACHABLE, why);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rv;
    do
        rv = connect(fd, (struct sockaddr *)&p->sa, p->salen);
    while (rv < 0 && errno == EINTR);
    if (rv < 0 && errno != EINPROGRESS) {
        snprintf(why, sizeof why, "cannot connect to %s: %s", p->key, strerror(errno));
        close(fd);
        mark_down(net, p, strerror(errno));
        tri_client_fail_backlog(net, p, TR_EUNREACHABLE, why);
        return;
    }
    tri_conn *c = tri_net_add_conn(net, fd, true, true, p->key);
    if (!c) {
        snprintf(why, sizeof why, "out of resources connecting to %s", p->key);
        tri_client_fail_backlog(net, p, TR_EUNREACHABLE, why);
        return;
    }
    c->peer = p;
    p->conn = c;
    p->gen++;
    p->ready = false;
    /* The lookup timeout bounds connect and handshake (S28). */
    tri_timer_init(&c->timer, conn_timer_fired);
    tri_wheel_arm(&net->wheel, &c->timer, tri_now_ns() + net->lookup_timeout_ns);
}

enum tri_frame_outcome tri_peer_connected(tri_net *net, tri_conn *c, tri_close_info *ci)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        return tri_close_with(ci, TR_EUNREACHABLE, false, "cannot connect to %s: %s", c->name,
                              strerror(err));
    c->state = TRI_CONN_HELLO;
    tri_net_want_out(net, c, false);
    if (tri_handshake_hello(net, c))
        return tri_close_with(ci, TR_ENOMEM, false, "out of memory");
    return TRI_FRAME_OK;
}

static void conn_timer_fired(tri_timer *t)
{
    tri_conn *c = (tri_conn *)((char *)t - offsetof(tri_conn, timer));
    tri_net *net = c->net;
    if (c->state != TRI_CONN_OPEN) {
        tri_close_info ci;
        tri_close_with(&ci, TR_EUNREACHABLE, false,
                       "%s did not complete the connection and handshake within the lookup "
                       "timeout of %lld ms",
                       c->name, (long long)(net->lookup_timeout_ns / 1000000));
        tri_net_close_conn(net, c, &ci);
        return;
    }
    tri_peer_tick(net, c);
}

void tri_peer_tick(tri_net *net, tri_conn *c)
{
    tri_peer *p = c->peer;
    int64_t now = tri_now_ns(), silent = now - c->last_rx_ns;
    bool owed = tri_pending_count(&p->pending) != 0 || tri_rwatch_count(p) != 0;
    if (!owed && c->ping_out && now - c->ping_sent_ns >= LIVENESS_NS) {
        c->ping_out = false; /* nothing owed to us: unanswered is no loss; ask again */
    } else if (owed && c->ping_out && silent >= LIVENESS_NS) {
        tri_close_info ci;
        tri_close_with(&ci, TR_EUNREACHABLE, false,
                       "%s has sent nothing for %lld ms, not even a PONG; the connection is "
                       "considered lost",
                       c->name, (long long)(silent / 1000000));
        /* No grace for a silence: it already lasted the timeout (a stopped
         * process keeps its socket open; waiting longer only delays). */
        tri_rwatch_peer_lost(net, p, TR_EUNREACHABLE, ci.why);
        tri_net_close_conn(net, c, &ci);
        return;
    } else if (!c->ping_out && now - c->ping_sent_ns >= PING_AFTER_NS) {
        /* Every PING_AFTER_NS while open, owed or not: the PONG gives the
         * round-trip time (metrics.h); the corr carries the send time. */
        if (tri_conn_put_frame(net, c, TRI_F_PING, (uint64_t)now, NULL, 0) == 0) {
            c->ping_out = true;
            c->ping_sent_ns = now;
        }
    }
    tri_conn_trim(c); /* a read buffer grown for large frames, once idle */
    /* a tick per half interval, and never past the timeout */
    int64_t step = PING_AFTER_NS / 2;
    if (c->ping_out && c->last_rx_ns + LIVENESS_NS - now < step)
        step = c->last_rx_ns + LIVENESS_NS - now;
    tri_wheel_arm(&net->wheel, &c->timer, now + (step > 1000000 ? step : 1000000));
}

enum tri_frame_outcome tri_peer_hello_ok(tri_net *net, tri_conn *c, const uint8_t *body,
                                          size_t len, tri_close_info *ci)
{
    if (tri_handshake_hello_ok(net, c, body, len, ci))
        return TRI_FRAME_CLOSE;
    tri_peer *p = c->peer;
    p->ready = true;
    p->backoff_ns = 0; /* reachable again */
    p->down_until_ns = 0;
    c->reconnects = p->opened++;
    /* release: reconnects is set; pairs with tr_service_connections' acquire. */
    atomic_store_explicit(&c->m_open, 1, memory_order_release);
    if (p->incarnation && c->peer_incarnation != p->incarnation)
        TRI_INFO(&net->log, "remote", NULL, "%s is a new incarnation (%016llx, was %016llx): gateways bound to "
                 "the old one fail with TR_ERESTARTED", p->key,
                 (unsigned long long)c->peer_incarnation, (unsigned long long)p->incarnation);
    p->incarnation = c->peer_incarnation;
    tri_net_add(&net->ctr.connections_opened, 1);
    tri_wheel_cancel(&net->wheel, &c->timer);
    tri_wheel_arm(&net->wheel, &c->timer, tri_now_ns() + PING_AFTER_NS / 2);
    for (tri_rtarget *rt = p->targets; rt; rt = rt->next)
        rt->resolve_corr = 0; /* none is in flight on a new connection */
    tri_rwatch_peer_ready(net, p);
    tri_client_drain(net, p);
    return TRI_FRAME_OK;
}

/* ---- connection loss (S34) ------------------------------------------------------------ */

typedef struct lost_ctx {
    tri_net *net;
    const tri_close_info *ci;
    const char *key;
} lost_ctx;

static void fail_lost(tr_future *f, bool sent, void *arg)
{
    lost_ctx *x = arg;
    tri_rtarget *rt = tri_ask_target(f);
    int code = x->ci->code == TR_EVERSION || x->ci->code == TR_ESTOPPED ? x->ci->code
                                                                           : TR_EUNREACHABLE;
    tri_wire_fail(f, code, "%s.%s to %s: %s%s", tri_wire_gw_name(f), tri_wire_method_name(f),
                  rt->address,
                     sent ? "the connection was lost before the answer came: " : "not sent: ",
                     x->ci->why);
    tri_rtarget_unref(x->net, rt); /* the pending entry's */
    if (sent) /* an unsent one's future is the backlog's to drop */
        tri_wire_future_unref(f, 1);
}

void tri_peer_lost(tri_net *net, tri_conn *c, const tri_close_info *ci)
{
    tri_peer *p = c->peer;
    if (!p || p->conn != c)
        return;
    bool was_ready = p->ready;
    p->conn = NULL;
    p->ready = false;
    /* An attempt that never got through the handshake backs off; a
     * connection lost after it reconnects at the next call (S34), or at
     * once when it held watches (the grace period's timer, rwatch.c). */
    if (!was_ready && ci->code != TR_ESTOPPED)
        mark_down(net, p, ci->why);
    lost_ctx x = {net, ci, p->key};
    tri_pending_take_all(&p->pending, &net->wheel, fail_lost, &x);
    for (tri_rtarget *rt = p->targets; rt; rt = rt->next) {
        if (rt->resolve_corr) {
            rt->resolve_corr = 0;
            tri_wheel_cancel(&net->wheel, &rt->timer);
        }
    }
    /* Connect requests keep the code that says why (TR_EVERSION, ...). */
    int code = ci->code && ci->code != TR_EPROTO ? ci->code : TR_EUNREACHABLE;
    uint32_t lost_tells = 0;
    for (tr_msg *m = p->bl_head; m;
         m = tri_msg_next(m)) {
        tri_wire_call call;
        lost_tells += tri_wire_call_of(m, &call) && !call.ask;
    }
    tri_client_fail_backlog(net, p, code, ci->why);
    tri_client_credit_reset(p); /* credit was the lost connection's */
    /* Watches wait out the grace period for a reconnect (rwatch.h). */
    if (ci->code != TR_EUNREACHABLE || !tri_rwatch_hold(net, p, ci->why, c->born_ns))
        tri_rwatch_peer_lost(net, p, code == TR_ESTOPPED ? TR_ESTOPPED : TR_EUNREACHABLE,
                             ci->why);
    if (lost_tells) { /* one line a second per peer, with what it held back */
        int64_t now = tri_now_ns();
        p->unwarned += lost_tells;
        if (now - p->warned_ns >= 1000000000LL) {
            TRI_WARN(&net->log, "remote", NULL, "%u tells to %s were not sent: %s", p->unwarned,
                     p->key, ci->why);
            p->unwarned = 0;
            p->warned_ns = now;
        }
    }
}

/* ---- the end ---------------------------------------------------------------------------- */

void tri_peer_sweep(tri_net *net)
{
    net->sweep_peers = false;
    for (tri_peer *p = net->peers; p; p = p->next) {
        if (p->targets || !p->conn || tri_pending_count(&p->pending) || p->bl_head)
            continue;
        if (p->conn->state == TRI_CONN_OPEN)
            tri_conn_put_error(net, p->conn, TRI_F_CLOSE, 0, 0, "no gateway uses this connection");
        tri_close_info ci = {.code = 0, .malformed = false};
        snprintf(ci.why, sizeof ci.why, "no gateway to %s is left", p->key);
        tri_net_close_conn(net, p->conn, &ci);
    }
}


void tri_peer_stop_all(tri_net *net)
{
    tri_close_info ci = {.code = TR_ESTOPPED, .malformed = false};
    snprintf(ci.why, sizeof ci.why, "the service shut down before the answer came");
    for (tri_peer *p = net->peers; p; p = p->next) {
        if (p->conn) {
            tri_conn_put_error(net, p->conn, TRI_F_CLOSE, 0, 0, "the service is shutting down");
            tri_net_close_conn(net, p->conn, &ci); /* fails pending and backlog */
        } else {
            lost_ctx x = {net, &ci, p->key};
            tri_pending_take_all(&p->pending, &net->wheel, fail_lost, &x);
            tri_client_fail_backlog(net, p, TR_ESTOPPED, ci.why);
            tri_rwatch_peer_lost(net, p, TR_ESTOPPED, ci.why);
        }
    }
}

void tri_peer_free_all(tri_net *net)
{
    while (net->peers) {
        tri_peer *p = net->peers;
        net->peers = p->next;
        while (p->targets) { /* gateways never released: the user's leak, not ours */
            tri_rtarget *rt = p->targets;
            p->targets = rt->next;
            tri_rtarget_free(rt);
        }
        tri_rwatch_peer_free(p);
        tri_pending_destroy(&p->pending);
        tri_client_credit_reset(p);
        tri_free(p, sizeof *p);
    }
}

