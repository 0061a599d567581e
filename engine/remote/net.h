/* The network layer of one service: its I/O thread and what it owns.
 *
 * One I/O thread per service runs an epoll loop over the listening socket,
 * every connection and an eventfd. It alone touches sockets, connection
 * buffers, peers, the pending-request tables and its timing wheel; worker
 * and user threads reach it only through its request queue:
 *
 *   - a lock-free MPSC queue of tr_msg (core/mpsc.h), whose empty mark the
 *     I/O thread sets only when it is about to sleep in epoll_wait. The one
 *     push that finds the mark writes the eventfd; every other push costs
 *     no system call. Each wake-up drains the whole queue.
 *   - requests: a call (TELL message, or ASK future, built by the caller
 *     with its argument deep-copied, not encoded: serialization happens
 *     here), a connect, a gateway's release, an answered inbound ask.
 *
 * Ordering: requests from one thread are handled in the order pushed (the
 * queue is FIFO per producer), and calls to one peer leave on its one
 * connection in that order (S21).
 *
 * Lifetime: `refs` counts the service's hold and every inbound ask in
 * flight (its answer is posted from whichever thread completes it, maybe
 * after the I/O thread stopped); the last one frees everything, draining
 * what was posted too late.
 *
 *   operation            threads         may run concurrently with
 *   tri_net_post         any             everything but tri_net_unref's free
 *   tri_net_ref / unref  any             everything
 *   counters (read)      any             everything (relaxed snapshots)
 *   everything else      the I/O thread  (post, counters)
 */
#ifndef TRI_REMOTE_NET_H
#define TRI_REMOTE_NET_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "core/mpsc.h"
#include "core/timer_wheel.h"
#include "remote/conn.h"
#include "remote/trust.h"
#include "troupe/remote.h"
#include "troupe/service.h"

/* Requests that are not calls: tr_msg tags of kind 0 (rpc's call kinds
 * start at 1), used only on this queue, never in a mailbox. Calls keep
 * their rpc tag (rpc/wire.h: tri_wire_call_of). */
enum tri_net_req {
    TRI_NET_CONNECT = 1,   /* payload: tri_connect_req (client.h) */
    TRI_NET_RELEASE,       /* payload: the tri_rtarget * a gateway let go */
    TRI_NET_REPLY,         /* the message of an answered inbound ask */
    TRI_NET_REPLY_CARRIED, /* payload: that future, when its own message was busy */
    TRI_NET_STOP,          /* from tri_net_stop */
    TRI_NET_WATCH,         /* rwatch.c: a remote watch to register / cancel */
    TRI_NET_UNWATCH,
    TRI_NET_DOWN,          /* rwatch.c: a local endpoint a remote watcher watched is gone */
    TRI_NET_ADOPT,         /* adopt.c: a connected socket to serve as inbound */
};

typedef struct tri_peer tri_peer;

/* Counters written by the I/O thread alone (a relaxed load and store,
 * never torn; read anywhere with relaxed loads). */
typedef struct tri_net_counters {
    _Atomic uint64_t frames_sent, frames_received, bytes_sent, bytes_received;
    _Atomic uint64_t writes, reads;
    _Atomic uint64_t oversized_replies, oversized_incoming, oversized_tells_io;
    _Atomic uint64_t last_request_size, last_reply_size, last_received_size;
    _Atomic uint64_t largest_sent, largest_received;
    _Atomic uint64_t connections_opened, connections_accepted, connections_lost;
    _Atomic uint64_t malformed, late_replies, tells_dropped;
    _Atomic uint64_t inbound_open, outbound_open, asks_pending;
    _Atomic uint64_t refused_connections, handshake_timeouts, asks_refused, buffer_overflows;
} tri_net_counters;

typedef struct tri_conn_entry {
    tri_conn *c;   /* NULL: free */
    uint32_t gen;
    uint32_t next; /* free list, index + 1 */
} tri_conn_entry;

typedef struct tri_net {
    /* ---- producers: every post exchanges qp.head, so nothing the I/O
     * thread reads shares its line (each read would cost the next post a
     * cache miss) */
    alignas(64) tri_mq_prod qp;
    /* ---- any thread (readers of the limits) */
    alignas(64) _Atomic uint32_t refs;
    int efd;                         /* eventfd: the sleeping I/O thread's bell */
    tr_service *svc;
    tri_logger log;                  /* a copy of svc's: the net may outlive it */
    size_t max_frame;                /* svc->cfg.max_frame_size */
    uint32_t credit_calls, credit_bytes; /* the windows we grant (cfg) */
    int64_t lookup_timeout_ns;
    int64_t hb_interval_ns, hb_timeout_ns; /* heartbeats (peer.c) */
    int64_t watch_grace_ns;                 /* lost watches held (rwatch.c); <= 0: none */
    int64_t backoff_min_ns, backoff_max_ns; /* reconnects (peer.c) */
    uint64_t jitter;                        /* xorshift state for the backoff's jitter */
    char bound[80];                  /* "127.0.0.1:41234", "" when not listening */
    uint16_t port;
    _Atomic uint64_t oversized_requests; /* S24, counted by callers (add) */
    pthread_t io_thread;
    tr_msg *stop_msg;                /* TRI_NET_STOP, made at start */
    _Atomic uint32_t stop_req;       /* stop asked: drain even when paused */
    bool stopped;                    /* stop was requested (shutdown's lock) */
    /* last protocol error, for stats: written under err_lock (rare) */
    pthread_mutex_t err_lock;
    char last_error[160];
    /* The connection table for readers on other threads (metrics.h): the
     * I/O thread holds it only to add, remove or move entries (rare), a
     * reader while it copies the counters out. */
    pthread_mutex_t list_lock;

    /* ---- the I/O thread */
    alignas(64) tri_mq_cons qc;
    tri_net_counters ctr;
    int epfd, lfd;
    bool started, stopping;
    tri_timer_wheel wheel;
    tri_conn_entry *conns;
    uint32_t cap_conns, free_conn;
    tri_conn *dirty;                 /* connections with bytes to write */
    size_t unsent;                   /* bytes in write buffers, not yet written */
    tri_peer *peers;
    struct tri_tls_ctx *tls;         /* NULL: plaintext (tls.h); read-only once started */
    tri_limits limits;               /* trust.h */
    uint64_t inbound_waiting;        /* inbound asks handed to endpoints, unanswered */
    struct tri_rtarget *settle_dirty; /* targets with settles to publish (client.c) */
    bool sweep_peers;                /* a target went: tri_peer_sweep after this turn */
    int64_t busy_until_ns;           /* spin (poll) rather than sleep until then */
    struct tri_swatch *swatches;     /* serving-side watches (rwatch.c) */
    uint64_t next_swatch;
    uint64_t incarnation;            /* this service's, random (HELLO) */
} tri_net;

_Static_assert(offsetof(tri_net, qp) % 64 == 0, "the producers' half starts a line");
_Static_assert(offsetof(tri_net, qc) % 64 == 0, "the I/O thread's half starts a line");

/* Starts the network layer of `svc` (listening when cfg.listen), once;
 * later calls return the running one. Any thread, under svc->net_lock.
 * On 0, *out is svc's net. Errors: TR_EADDR (bad bind address), TR_EIO
 * (bind, listen, epoll or thread creation failed: `why` says which),
 * TR_ENOMEM, TR_ESTOPPED. */
int tri_net_start(tr_service *svc, tri_net **out, char *why, size_t why_len);

/* svc's net if started (acquire), else NULL. Any thread. */
tri_net *tri_net_of(const tr_service *svc);

/* True on svc's I/O thread (where blocking on the network would deadlock). */
bool tri_net_current(const tri_net *net);

/* Hands `m` to the I/O thread (see the top). Any thread. */
void tri_net_post(tri_net *net, tr_msg *m);

void tri_net_ref(tri_net *net);
void tri_net_unref(tri_net *net);

/* ---- for the I/O thread's own files ------------------------------------- */

/* The connection with this id, or NULL once closed. */
tri_conn *tri_net_conn(tri_net *net, uint64_t id);

/* Registers a new socket (non-blocking) as a connection: epoll, table.
 * `want_out`: also wait for writability (a connect in progress). NULL
 * when out of resources (fd is then closed). */
tri_conn *tri_net_add_conn(tri_net *net, int fd, bool outbound, bool want_out, const char *name);

/* Closes c: flushes what it can without blocking, tells its owner (the
 * client side fails what waited on it), unregisters and frees it. A
 * malformed frame (ci->malformed) is counted and logged as a warning with
 * its reason and the peer (S36); other ends are logged at info/debug. */
void tri_net_close_conn(tri_net *net, tri_conn *c, const tri_close_info *ci);

/* Puts c on the flush list (after a commit). */
void tri_net_mark_dirty(tri_net *net, tri_conn *c);

/* Adds / removes EPOLLOUT interest. */
void tri_net_want_out(tri_net *net, tri_conn *c, bool on);

/* Records a protocol error for tr_remote_stats.last_error. */
void tri_net_note_error(tri_net *net, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Single-writer counter updates (the I/O thread). */
static inline void tri_net_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void tri_net_set(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}
static inline void tri_net_max(_Atomic uint64_t *c, uint64_t v)
{
    if (v > atomic_load_explicit(c, memory_order_relaxed))
        atomic_store_explicit(c, v, memory_order_relaxed);
}

/* Keep polling instead of sleeping for the next `ns` (something is
 * expected soon from a thread in this process: the answer of an inbound
 * ask, or the next call of a thread whose answer just came); 0: stop
 * (it came). */
void tri_net_expect(tri_net *net, int64_t ns);

#endif
