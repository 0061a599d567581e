/* The I/O thread: epoll, the eventfd, the request queue (net.h).
 *
 * One loop turn: handle up to DRAIN_MAX queued requests (calls are encoded
 * into their connection's write buffer), run due timers, write every
 * connection that has bytes (one send() each, however many frames), then
 * wait for sockets. The wait is epoll_wait(0) while there is reason to
 * expect more work within microseconds (a request just handled, an answer
 * expected from a worker of this process); otherwise the thread gives the
 * queue up (sets its empty mark, so the next push rings the eventfd) and
 * sleeps until a socket, the eventfd or the next deadline wakes it. */
#include "remote/net.h"
#include "remote/rwatch.h"
#include "remote/peer.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/adopt.h"
#include "remote/address.h"
#include "remote/epoll.h"
#include "remote/client.h"
#include "remote/server.h"
#include "rpc/wire.h"
#include "troupe/error.h"

#define DRAIN_MAX 4096           /* requests per loop turn, then sockets */
#define EVENTS_MAX 64
#define ACCEPT_MAX 32            /* connections accepted per readiness */
#define WBUF_HIGH (4u << 20)     /* pause the queue while this much waits for sockets */
#define WHEEL_SLOTS 4096
#define WHEEL_TICK_NS (1 << 20)  /* ~1 ms: epoll_wait's resolution */
#define LISTEN_BACKLOG 1024

/* epoll data for the two sockets that are not connections (connection ids
 * have a non-zero generation in their top half). */
#define ID_EVENTFD 1u
#define ID_LISTEN 2u

static _Thread_local tri_net *tls_io_net; /* set on an I/O thread */

/* ---- the loop ------------------------------------------------------------------------- */

/* Clears the queue's empty mark after a sleep, so that pushes while we are
 * awake ring no bell. A push that already cleared it rang it. */
static void queue_unmark(tri_net *net)
{
    uintptr_t marked = (uintptr_t)&net->qc.stub | TRI_MPSC_EMPTY_MARK;
    /* acq_rel: as the consumer taking the queue back (pairs with the
     * producers' exchange, like tri_mq_try_mark_empty). */
    atomic_compare_exchange_strong_explicit(&net->qp.head, &marked, (uintptr_t)&net->qc.stub,
                                            memory_order_acq_rel, memory_order_acquire);
}

static void handle(tri_net *net, tr_msg *m)
{
    tri_wire_call call;
    if (tri_wire_call_of(m, &call)) {
        tri_client_call(net, m, &call);
        return;
    }
    switch (m->tag) {
    case TRI_NET_CONNECT:
        tri_client_connect(net, m);
        break;
    case TRI_NET_RELEASE: {
        tri_rtarget *rt;
        memcpy(&rt, tr_msg_data(m), sizeof rt);
        tr_msg_free(m);
        tri_client_release(net, rt);
        break;
    }
    case TRI_NET_REPLY:
    case TRI_NET_REPLY_CARRIED:
        tri_server_reply(net, m);
        break;
    case TRI_NET_STOP:
        net->stopping = true;
        tr_msg_free(m);
        break;
    case TRI_NET_WATCH:
    case TRI_NET_UNWATCH:
    case TRI_NET_DOWN:
        tri_rwatch_request(net, m);
        break;
    case TRI_NET_ADOPT:
        tri_net_adopted(net, m);
        break;
    default:
        TRI_ERROR(&net->log, "remote", NULL, "unknown request %#x on the I/O queue; dropped",
                  m->tag);
        tr_msg_free(m);
    }
}


/* Handles up to DRAIN_MAX requests. Returns how many; *busy when a
 * producer was caught half-way through its push. */
static unsigned drain(tri_net *net, bool *busy)
{
    unsigned n = 0;
    *busy = false;
    while (n < DRAIN_MAX && !net->stopping) {
        tri_node *node = tri_mq_pop(&net->qp, &net->qc);
        if (!node)
            break;
        if (node == TRI_MPSC_BUSY) {
            *busy = true;
            break;
        }
        handle(net, (tr_msg *)node);
        n++;
    }
    return n;
}

static void flush_all(tri_net *net)
{
    tri_client_publish(net); /* callers held on a target's gate go on */
    while (net->dirty) {
        tri_conn *c = net->dirty;
        net->dirty = c->next_dirty;
        c->dirty = false;
        tri_close_info ci;
        if (tri_conn_flush(net, c, &ci) != TRI_FRAME_OK)
            tri_net_close_conn(net, c, &ci);
    }
}

static void run_timers(tri_net *net, int64_t now)
{
    tri_timer *due = NULL;
    if (!tri_wheel_expire(&net->wheel, now, &due))
        return;
    while (due) {
        tri_timer *t = due;
        due = t->next;
        t->fire(t);
    }
}

static void accept_some(tri_net *net)
{
    for (int i = 0; i < ACCEPT_MAX; i++) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof sa;
        int fd = accept4(net->lfd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                TRI_WARN(&net->log, "remote", NULL, "accept on %s failed: %s", net->bound,
                         strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char name[64];
        tri_sockaddr_format((struct sockaddr *)&sa, name, sizeof name);
        if (!tri_net_add_conn(net, fd, false, false, name))
            TRI_WARN(&net->log, "remote", NULL, "refusing a connection from %s: out of resources",
                     name);
    }
}

static void on_event(tri_net *net, const struct epoll_event *ev)
{
    if (ev->data.u64 == ID_EVENTFD) {
        uint64_t v;
        ssize_t r = read(net->efd, &v, sizeof v); /* reset the bell */
        (void)r;
        return;
    }
    if (ev->data.u64 == ID_LISTEN) {
        accept_some(net);
        return;
    }
    tri_conn *c = tri_net_conn(net, ev->data.u64);
    if (!c)
        return; /* closed earlier in this batch */
    tri_close_info ci;
    if (c->state == TRI_CONN_CONNECTING) {
        if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            if (tri_peer_connected(net, c, &ci) != TRI_FRAME_OK)
                tri_net_close_conn(net, c, &ci);
        return;
    }
    if (ev->events & EPOLLIN) {
        if (tri_conn_read(net, c, &ci) != TRI_FRAME_OK) {
            tri_net_close_conn(net, c, &ci);
            return;
        }
    } else if (ev->events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        tri_close_with(&ci, TR_EUNREACHABLE, false, "connection with %s %s", c->name,
                       err ? strerror(err) : "hung up");
        tri_net_close_conn(net, c, &ci);
        return;
    }
    if (ev->events & EPOLLOUT) {
        if (tri_conn_flush(net, c, &ci) != TRI_FRAME_OK)
            tri_net_close_conn(net, c, &ci);
    }
}

static int timeout_ms(tri_net *net, int64_t now)
{
    int64_t due = tri_wheel_next_due(&net->wheel);
    if (due == INT64_MAX)
        return -1;
    int64_t ms = due <= now ? 0 : (due - now + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static uint64_t asks_pending(tri_net *net)
{
    uint64_t n = 0;
    for (tri_peer *p = net->peers; p; p = p->next)
        n += tri_pending_count(&p->pending);
    return n;
}

/* Stop: fail what the calling side holds, say goodbye to the serving
 * side's clients, send what can be sent without blocking, close. */
static void shut(tri_net *net)
{
    tri_peer_stop_all(net);
    for (uint32_t i = 0; i < net->cap_conns; i++) {
        tri_conn *c = net->conns[i].c;
        if (c && c->state == TRI_CONN_OPEN)
            tri_conn_put_error(net, c, TRI_F_CLOSE, 0, 0, "the node is shutting down");
    }
    flush_all(net);
    for (uint32_t i = 0; i < net->cap_conns; i++) {
        tri_conn *c = net->conns[i].c;
        if (c) {
            tri_close_info ci = {.code = TR_ESTOPPED, .malformed = false};
            snprintf(ci.why, sizeof ci.why, "the service shut down");
            tri_net_close_conn(net, c, &ci);
        }
    }
    if (net->lfd >= 0) {
        tri_ep_del(net, net->lfd);
        close(net->lfd);
        net->lfd = -1;
    }
    tri_server_stop(net);
    tri_rwatch_stop_all(net);
    tri_net_set(&net->ctr.asks_pending, 0);
}

static void *io_main(void *arg)
{
    tri_net *net = arg;
    tls_io_net = net;
    pthread_setname_np(pthread_self(), "troupe-io"); /* for top, perf, gdb */
    /* This thread serves every connection: a continuation that runs here and
     * sends to a full mailbox gets TR_EAGAIN rather than stalling them all. */
    tr_thread_send_timeout(0);
    struct epoll_event ev[EVENTS_MAX];
    bool marked = false;
    for (;;) {
        bool busy = false;
        /* Sockets full: leave requests queued until the peer catches up
         * (encoding more would only grow the write buffers). */
        bool paused = net->unsent > WBUF_HIGH &&
                      /* acquire: pairs with hook_stop's release */
                      !atomic_load_explicit(&net->stop_req, memory_order_acquire);
        unsigned handled = paused ? 0 : drain(net, &busy);
        if (net->stopping)
            break;
        int64_t now = tri_now_ns();
        run_timers(net, now);
        if (net->sweep_peers)
            tri_peer_sweep(net);
        flush_all(net);
        if (handled)
            tri_net_set(&net->ctr.asks_pending, asks_pending(net));
        /* Poll while work is flowing or an answer is due from a worker;
         * else give the queue up and sleep. */
        int wait = 0;
        if (paused) {
            wait = timeout_ms(net, now); /* for EPOLLOUT; the queue stays ours */
        } else if (!handled && !busy && now >= net->busy_until_ns) {
            if (!tri_mq_try_mark_empty(&net->qp, &net->qc))
                continue; /* a push came in meanwhile */
            marked = true;
            wait = timeout_ms(net, now);
        } else if (busy) {
            sched_yield(); /* a producer preempted mid-push: let it finish */
        } else if (!handled) {
            /* Polling for an expected answer: give the CPU to whoever is
             * runnable here, most likely the thread that will answer
             * (two cores: a spin that does not yield can hold that
             * thread off for a whole time slice). */
            sched_yield();
        }
        int n = tri_ep_wait(net, ev, EVENTS_MAX, wait);
        if (marked) {
            queue_unmark(net);
            marked = false;
        }
        for (int i = 0; i < n; i++)
            on_event(net, &ev[i]);
        flush_all(net); /* answers to what was just read (PONG, errors) */
        if (n)
            tri_net_set(&net->ctr.asks_pending, asks_pending(net));
    }
    shut(net);
    tls_io_net = NULL;
    return NULL;
}

/* ---- start, stop, free ----------------------------------------------------------------- */

static void net_free(tri_net *net)
{
    /* What was posted after the I/O thread stopped. */
    for (;;) {
        tri_node *node = tri_mq_pop(&net->qp, &net->qc);
        if (!node)
            break;
        if (node == TRI_MPSC_BUSY) { /* impossible with refs at zero; be safe */
            sched_yield();
            continue;
        }
        tr_msg *m = (tr_msg *)node;
        if (m->tag == TRI_NET_REPLY || m->tag == TRI_NET_REPLY_CARRIED)
            tri_server_discard(m);
        else if (m->tag == TRI_NET_STOP)
            tr_msg_free(m);
        else if (m->tag == TRI_NET_WATCH || m->tag == TRI_NET_UNWATCH || m->tag == TRI_NET_DOWN)
            tri_rwatch_discard(m);
        else if (m->tag == TRI_NET_ADOPT)
            tri_net_adopt_discard(m);
        else
            tri_client_discard(m);
    }
    tri_peer_free_all(net);
    if (net->stop_msg)
        tr_msg_free(net->stop_msg);
    tri_wheel_destroy(&net->wheel);
    tri_trust_free(net);
    tri_free(net->conns, (size_t)net->cap_conns * sizeof *net->conns);
    if (net->lfd >= 0)
        close(net->lfd);
    if (net->epfd >= 0)
        close(net->epfd);
    if (net->efd >= 0)
        close(net->efd);
    pthread_mutex_destroy(&net->err_lock);
    pthread_mutex_destroy(&net->list_lock);
    tri_free_aligned(net, sizeof *net, 64);
}

void tri_net_ref(tri_net *net)
{
    /* relaxed: taking a reference needs one already held. */
    atomic_fetch_add_explicit(&net->refs, 1, memory_order_relaxed);
}

void tri_net_unref(tri_net *net)
{
    /* acq_rel: the last release sees every holder's posts before freeing. */
    if (atomic_fetch_sub_explicit(&net->refs, 1, memory_order_acq_rel) == 1)
        net_free(net);
}

void tri_net_post(tri_net *net, tr_msg *m)
{
    if (tri_mq_push(&net->qp, tri_msg_link(m))) {
        /* The queue was marked: the I/O thread sleeps (or is about to);
         * this push alone rings. */
        uint64_t one = 1;
        ssize_t r = write(net->efd, &one, sizeof one);
        (void)r; /* EAGAIN only at a counter of 2^64-2: it is awake anyway */
    }
}

tri_net *tri_net_of(const tr_service *svc) { return tri_wire_net(svc); }

bool tri_net_current(const tri_net *net) { return net && tls_io_net == net; }

static void hook_stop(tr_service *svc)
{
    tri_net *net = tri_net_of(svc);
    if (!net || net->stopped)
        return;
    net->stopped = true; /* under the service's shutdown lock */
    tr_msg *m = net->stop_msg; /* made at start: stopping cannot fail */
    net->stop_msg = NULL;
    /* release: pairs with the loop's acquire; a loop paused for full
     * sockets drains the queue again, up to this STOP. */
    atomic_store_explicit(&net->stop_req, 1, memory_order_release);
    tri_net_post(net, m);
    uint64_t one = 1; /* wake it even if the queue was not marked (paused) */
    ssize_t r = write(net->efd, &one, sizeof one);
    (void)r;
    pthread_join(net->io_thread, NULL);
}

static void hook_destroy(tr_service *svc)
{
    tri_net *net = tri_net_of(svc);
    if (net)
        tri_net_unref(net);
}

static const tri_net_hooks hooks = {.stop = hook_stop, .destroy = hook_destroy};

/* Binds and listens on cfg.bind_address. */
static int open_listener(tri_net *net, const char *bind_address, char *why, size_t why_len)
{
    tri_addr a;
    if (tri_addr_parse_hostport(bind_address, &a)) {
        snprintf(why, why_len, "bind address \"%s\" is not host:port", bind_address);
        return TR_EADDR;
    }
    struct sockaddr_storage sa;
    socklen_t salen;
    if (tri_addr_resolve(&a, &sa, &salen, why, why_len))
        return TR_EADDR;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, salen) || listen(fd, LISTEN_BACKLOG)) {
        int err = errno;
        snprintf(why, why_len, "cannot listen on %s: %s", bind_address, strerror(err));
        if (fd >= 0)
            close(fd);
        return err == EADDRINUSE ? TR_EADDRINUSE : TR_EIO;
    }
    salen = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &salen);
    tri_sockaddr_format((struct sockaddr *)&sa, net->bound, sizeof net->bound);
    net->port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
                                              : ((struct sockaddr_in6 *)&sa)->sin6_port);
    net->lfd = fd;
    return 0;
}

static tri_net *net_new(tr_service *svc)
{
    tri_net *net = tri_zalloc_aligned(sizeof *net, 64);
    if (!net)
        return NULL;
    atomic_init(&net->refs, 1);
    atomic_init(&net->stop_req, 0);
    atomic_init(&net->oversized_requests, 0);
    net->svc = svc;
    net->log = *tri_wire_logger(svc);
    net->max_frame = tri_wire_config(svc)->max_frame_size;
    net->credit_calls = tri_wire_config(svc)->credit_calls;
    net->credit_bytes = tri_wire_config(svc)->credit_bytes;
    net->lookup_timeout_ns = tri_wire_config(svc)->lookup_timeout_ns;
    net->hb_interval_ns = tri_wire_config(svc)->heartbeat_interval_ns;
    net->hb_timeout_ns = tri_wire_config(svc)->heartbeat_timeout_ns;
    net->watch_grace_ns = tri_wire_config(svc)->watch_grace_ns; /* < 0: none */
    net->backoff_min_ns = tri_wire_config(svc)->reconnect_backoff_min_ns;
    net->backoff_max_ns = tri_wire_config(svc)->reconnect_backoff_max_ns;
    if (net->backoff_min_ns <= 0)
        net->backoff_min_ns = 50LL * 1000 * 1000;
    if (net->backoff_max_ns < net->backoff_min_ns)
        net->backoff_max_ns = net->backoff_min_ns > 5000LL * 1000 * 1000 ? net->backoff_min_ns
                                                                          : 5000LL * 1000 * 1000;
    net->jitter = (uint64_t)tri_now_ns() | 1;
    net->incarnation = tri_wire_incarnation(svc);
    net->efd = net->epfd = net->lfd = -1;
    pthread_mutex_init(&net->err_lock, NULL);
    pthread_mutex_init(&net->list_lock, NULL);
    tri_mq_init(&net->qp, &net->qc, false); /* unmarked: the thread starts awake */
    net->stop_msg = tr_msg_new(TRI_NET_STOP, 0);
    if (!net->stop_msg) {
        pthread_mutex_destroy(&net->err_lock);
    pthread_mutex_destroy(&net->list_lock);
        tri_free_aligned(net, sizeof *net, 64);
        return NULL;
    }
    return net;
}

/* Makes the network layer (tri_wire_net_attach calls it once, under the
 * service's lock). */
typedef struct start_ctx {
    char *why;
    size_t why_len;
} start_ctx;

static int net_make(tr_service *svc, void *arg, void **out, char *prefix, size_t prefix_len)
{
    start_ctx *x = arg;
    char *why = x->why;
    size_t why_len = x->why_len;
    const tr_service_config *cfg = tri_wire_config(svc);
    tri_net *net = net_new(svc);
    if (!net)
        return TR_ENOMEM;
    int rv = tri_wheel_init(&net->wheel, WHEEL_SLOTS, WHEEL_TICK_NS, tri_now_ns());
    net->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    net->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!rv && (net->efd < 0 || net->epfd < 0 || tri_ep_add(net, net->efd, EPOLLIN, ID_EVENTFD))) {
        snprintf(why, why_len, "cannot create the I/O thread's epoll or eventfd: %s",
                 strerror(errno));
        rv = TR_EIO;
    }
    if (!rv)
        rv = tri_trust_start(net, cfg, why, why_len); /* TLS, limits, no open listener by mistake */
    if (!rv && cfg->listen) {
        rv = open_listener(net, cfg->bind_address, why, why_len);
        if (!rv && tri_ep_add(net, net->lfd, EPOLLIN, ID_LISTEN)) {
            snprintf(why, why_len, "epoll: %s", strerror(errno));
            rv = TR_EIO;
        }
    }
    if (!rv) {
        /* The I/O thread takes no process signals (a program waits for
         * them elsewhere, as troupe-node does with sigwait). */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&net->io_thread, NULL, io_main, net)) {
            snprintf(why, why_len, "cannot start the I/O thread");
            rv = TR_EIO;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rv) {
        tri_trust_free(net);
        if (net->wheel.slots)
            tri_wheel_destroy(&net->wheel);
        tr_msg_free(net->stop_msg);
        if (net->lfd >= 0)
            close(net->lfd);
        if (net->epfd >= 0)
            close(net->epfd);
        if (net->efd >= 0)
            close(net->efd);
        pthread_mutex_destroy(&net->err_lock);
    pthread_mutex_destroy(&net->list_lock);
        tri_free_aligned(net, sizeof *net, 64);
        return rv;
    }
    net->started = true;
    if (cfg->listen)
        snprintf(prefix, prefix_len, TRI_REMOTE_SCHEME "%s/", net->bound);
    *out = net;
    return 0;
}

int tri_net_start(tr_service *svc, tri_net **out, char *why, size_t why_len)
{
    why[0] = '\0';
    start_ctx x = {why, why_len};
    void *net = NULL;
    int rv = tri_wire_net_attach(svc, net_make, &x, &hooks, &net);
    if (rv == TR_ESTOPPED && !why[0])
        snprintf(why, why_len, "the service is shutting down");
    *out = net;
    return rv;
}
