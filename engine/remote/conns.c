/* The I/O thread's connection table: ids, registration with epoll, the
 * flush list, closing (net.h). */
#include "remote/net.h"
#include "remote/rwatch.h"
#include "remote/peer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/client.h"
#include "remote/epoll.h"
#include "remote/server.h"
#include "remote/tls.h"
#include <sys/socket.h>
#include "troupe/error.h"

/* ---- the connection table ------------------------------------------------------------ */

tri_conn *tri_net_conn(tri_net *net, uint64_t id)
{
    uint32_t i = (uint32_t)id;
    if (i == 0 || i > net->cap_conns)
        return NULL;
    tri_conn_entry *e = &net->conns[i - 1];
    return e->c && e->gen == (uint32_t)(id >> 32) ? e->c : NULL;
}

static int conn_slot(tri_net *net, uint32_t *index)
{
    if (!net->free_conn) {
        uint32_t cap = net->cap_conns ? net->cap_conns * 2 : 16;
        pthread_mutex_lock(&net->list_lock); /* the table may move */
        tri_conn_entry *e = tri_realloc(net->conns, (size_t)net->cap_conns * sizeof *e,
                                        (size_t)cap * sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&net->list_lock);
            return TR_ENOMEM;
        }
        for (uint32_t i = net->cap_conns; i < cap; i++)
            e[i] = (tri_conn_entry){NULL, 1, i + 1 < cap ? i + 2 : 0};
        net->free_conn = net->cap_conns + 1;
        net->conns = e;
        net->cap_conns = cap;
        pthread_mutex_unlock(&net->list_lock);
    }
    *index = net->free_conn - 1;
    net->free_conn = net->conns[*index].next;
    return 0;
}

static void inbound_timer_fired(tri_timer *t);

/* Over max_connections: say so (in plaintext only; a TLS client could
 * not read it) and close. */
static void refuse(tri_net *net, int fd, const char *name)
{
    tri_limit_hit(net, TRI_LIM_CONNECTIONS, "refusing a connection from %s: %u connections are "
                  "open, the most max_connections allows", name, net->limits.max_connections);
    if (!net->tls) {
        char msg[160];
        int n = snprintf(msg, sizeof msg, "this service has %u connections open, the most it "
                         "allows (max_connections)", net->limits.max_connections);
        uint8_t f[TRI_FRAME_HDR + 8 + sizeof msg];
        size_t body = tri_error_size((size_t)n);
        tri_frame_put_hdr(f, TRI_F_CLOSE, 0, 0, 0, 0, body);
        tri_error_put(f + TRI_FRAME_HDR, TR_EBUSY, msg, (size_t)n);
        ssize_t w = send(fd, f, TRI_FRAME_HDR + body, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* best effort */
    }
    close(fd);
}

tri_conn *tri_net_add_conn(tri_net *net, int fd, bool outbound, bool want_out, const char *name)
{
    uint32_t i;
    if (!outbound && atomic_load_explicit(&net->ctr.inbound_open, memory_order_relaxed) >=
                         net->limits.max_connections) { /* relaxed: our own counter */
        refuse(net, fd, name);
        return NULL;
    }
    tri_conn *c = tri_conn_new(fd, outbound, name);
    if (c && net->tls && !(c->tls = tri_tls_new(net->tls, fd, outbound, name))) {
        tri_conn_free(c); /* closes fd */
        return NULL;
    }
    if (!c || conn_slot(net, &i)) {
        if (c)
            tri_conn_free(c); /* closes fd */
        else
            close(fd);
        return NULL;
    }
    tri_conn_entry *e = &net->conns[i];
    c->net = net;
    c->id = (uint64_t)e->gen << 32 | (i + 1);
    c->want_out = want_out;
    pthread_mutex_lock(&net->list_lock);
    e->c = c;
    pthread_mutex_unlock(&net->list_lock);
    if (tri_ep_add(net, fd, TRI_CONN_EVENTS | (want_out ? EPOLLOUT : 0), c->id)) {
        pthread_mutex_lock(&net->list_lock);
        e->c = NULL;
        pthread_mutex_unlock(&net->list_lock);
        e->next = net->free_conn;
        net->free_conn = i + 1;
        tri_conn_free(c);
        return NULL;
    }
    if (!outbound) { /* a stranger gets the lookup timeout to say HELLO */
        tri_timer_init(&c->timer, inbound_timer_fired);
        tri_wheel_arm(&net->wheel, &c->timer, tri_now_ns() + net->limits.handshake_timeout_ns);
    }
    tri_net_add(outbound ? &net->ctr.outbound_open : &net->ctr.inbound_open, 1);
    return c;
}

void tri_net_mark_dirty(tri_net *net, tri_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->next_dirty = net->dirty;
    net->dirty = c;
}

void tri_net_want_out(tri_net *net, tri_conn *c, bool on)
{
    if (c->want_out == on || c->fd < 0)
        return;
    c->want_out = on;
    tri_ep_mod(net, c->fd, TRI_CONN_EVENTS | (on ? EPOLLOUT : 0), c->id);
}

void tri_net_note_error(tri_net *net, const char *fmt, ...)
{
    pthread_mutex_lock(&net->err_lock);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(net->last_error, sizeof net->last_error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&net->err_lock);
}

void tri_net_close_conn(tri_net *net, tri_conn *c, const tri_close_info *ci)
{
    if (!c->outbound) {
        tri_server_flush(net, c); /* tells that arrived whole are delivered */
        tri_rwatch_conn_closed(net, c); /* the remote watcher's watches go */
        tri_server_streams_cut(net, c, ci); /* its streams end with an ERROR */
        tri_server_forget(net, c);      /* and its credit timer */
    }
    if (c->dirty) { /* off the flush list; try once to send what it holds */
        for (tri_conn **pp = &net->dirty; *pp; pp = &(*pp)->next_dirty) {
            if (*pp == c) {
                *pp = c->next_dirty;
                break;
            }
        }
        c->dirty = false;
        tri_close_info ignored;
        tri_conn_flush(net, c, &ignored);
    }
    tri_ep_del(net, c->fd);
    tri_wheel_cancel(&net->wheel, &c->timer);
    net->unsent -= tri_conn_unsent(c);
    bool was_open = c->state == TRI_CONN_OPEN;
    if (ci->malformed) { /* S36: this connection only, and say why */
        tri_net_add(&net->ctr.malformed, 1);
        tri_net_note_error(net, "%s: %s", c->name, ci->why);
        TRI_WARN(&net->log, "remote", NULL, "closing the connection with %s: malformed frame: %s",
                 c->name, ci->why);
    } else if (ci->code && ci->code != TR_ESTOPPED) {
        tri_net_note_error(net, "%s: %s", c->name, ci->why);
        if (was_open)
            TRI_INFO(&net->log, "remote", NULL, "connection with %s lost: %s", c->name, ci->why);
        else
            TRI_DEBUG(&net->log, "remote", NULL, "connection with %s failed: %s", c->name, ci->why);
    } else {
        TRI_DEBUG(&net->log, "remote", NULL, "connection with %s closed: %s", c->name, ci->why);
    }
    if (was_open && ci->code && ci->code != TR_ESTOPPED)
        tri_net_add(&net->ctr.connections_lost, 1);
    if (c->outbound)
        tri_peer_lost(net, c, ci);
    uint32_t i = (uint32_t)c->id - 1;
    pthread_mutex_lock(&net->list_lock); /* no reader holds c after this */
    net->conns[i].c = NULL;
    pthread_mutex_unlock(&net->list_lock);
    if (!++net->conns[i].gen)
        net->conns[i].gen = 1;
    net->conns[i].next = net->free_conn;
    net->free_conn = i + 1;
    tri_net_add(c->outbound ? &net->ctr.outbound_open : &net->ctr.inbound_open, (uint64_t)-1);
    tri_conn_free(c);
}

static void inbound_timer_fired(tri_timer *t)
{
    tri_conn *c = (tri_conn *)((char *)t - offsetof(tri_conn, timer));
    tri_close_info ci;
    tri_close_with(&ci, TR_EPROTO, false, "%s sent no HELLO within %lld ms", c->name,
                   (long long)(c->net->limits.handshake_timeout_ns / 1000000));
    tri_limit_hit(c->net, TRI_LIM_HANDSHAKE, "closing the connection from %s: no HELLO within "
                  "%lld ms (handshake_timeout_ns)", c->name,
                  (long long)(c->net->limits.handshake_timeout_ns / 1000000));
    tri_net_close_conn(c->net, c, &ci);
}

void tri_net_expect(tri_net *net, int64_t ns)
{
    if (ns <= 0) {
        net->busy_until_ns = 0;
        return;
    }
    int64_t until = tri_now_ns() + ns;
    if (until > net->busy_until_ns)
        net->busy_until_ns = until;
}
