/* The calling side: peers, remote targets, the backlog, replies.
 *
 * A peer is one remote "host:port" this service calls: at most one
 * outbound connection at a time, its generation (bumped per connection),
 * the pending-request table of its asks, and a backlog of requests that
 * wait for the connection or for a target's RESOLVE. A remote target
 * (tri_rtarget) is what a gateway points at: endpoint id and gateway on a
 * peer, and the slot the peer's current connection gave it.
 *
 * Calls leave in the order they were queued: a call goes straight to the
 * connection only when the peer is ready, its target resolved for this
 * connection and the backlog empty; otherwise it joins the backlog, which
 * drains in order as connection and resolves complete. When a connection
 * is lost, every ask pending on the peer fails at once with
 * TR_EUNREACHABLE (S34) and the backlog is failed likewise; the next call
 * connects again and resolves its target anew.
 *
 * The peers' connections, their liveness and loss are peer.h's.
 *
 * I/O thread only, except where a field says otherwise. */
#ifndef TRI_REMOTE_CLIENT_H
#define TRI_REMOTE_CLIENT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/flow.h"
#include "remote/conn.h"
#include "remote/pending.h"
#include "troupe/actor.h"
#include "troupe/gateway.h"

typedef struct tri_rtarget tri_rtarget;

struct tri_peer {
    tri_peer *next;
    tri_net *net;
    char key[80];                  /* "host:port" as addresses name it */
    struct sockaddr_storage sa;
    socklen_t salen;
    tri_conn *conn;                /* NULL: none */
    uint32_t gen;                  /* of conn (0 before the first) */
    bool ready;                    /* conn's handshake is done */
    tri_rtarget *targets;          /* linked by next / prev */
    tr_msg *bl_head, *bl_tail;     /* the backlog, in order */
    uint32_t bl_len;
    tri_pending pending;
    uint64_t next_resolve;         /* RESOLVE correlation ids (top bit set) */
    uint64_t opened;               /* connections whose handshake completed */
    /* death watch (rwatch.c) and the incarnation seen in HELLO_OK */
    struct tri_cwatch *watches;
    uint32_t nwatches;
    uint64_t next_watch;
    uint64_t incarnation;          /* 0: none seen yet */
    /* Watch grace (rwatch.c): the connection went with watches on it;
     * they are held, and the peer redialled, until grace_until_ns. */
    int64_t grace_until_ns;        /* 0: no grace period running */
    tri_timer grace_timer;         /* the next attempt, or the end */
    char grace_why[160];           /* the loss that started it */
    /* Credit per slot of the current connection (PROTOCOL.md "Credit"):
     * calls the peer lets us send; UINT32_MAX: unlimited (version 1).
     * Reset with every new connection. */
    struct tri_credit *credit;     /* per slot */
    uint32_t credit_cap;
    /* Reconnects (peer.c): while down, calls fail at once, no dialling. */
    int64_t backoff_ns;            /* 0: the last attempt worked */
    int64_t down_until_ns;
    char down_why[160];
    /* "tells were not sent" warnings: one line a second, with a count */
    int64_t warned_ns;
    uint32_t unwarned;
};

/* Written once by the connecting thread before the CONNECT request, then
 * read-only for it; everything else belongs to the I/O thread. */
struct tri_rtarget {
    /* immutable after connect */
    const tr_gateway_desc *desc;
    uint64_t fingerprint;
    char *id;                      /* NUL-terminated, id_len bytes */
    size_t id_len;
    char *address;                 /* "troupe://host:port/id" (S30) */
    char key[80];                  /* the peer's "host:port" */
    struct sockaddr_storage sa;
    socklen_t salen;
    size_t alloc_size;             /* of this block (id and address follow) */
    /* the I/O thread */
    tri_peer *peer;
    tri_rtarget *next, *prev;
    uint32_t io_refs;              /* the gateway, pending asks, backlog entries */
    uint32_t slot, slot_gen;       /* valid while slot_gen == peer->gen */
    uint64_t incarnation;          /* the peer's when first resolved (0: not yet) */
    uint64_t resolve_corr;         /* a RESOLVE in flight on this connection */
    tri_timer timer;               /* its deadline */
    uint64_t io_settled;           /* settled, not yet published (tri_client_publish) */
    tri_rtarget *settle_next;      /* on net->settle_dirty while settle_dirty */
    bool settle_dirty;
    /* Flow control (core/flow.h): the calls callers posted and the I/O
     * thread has not yet written or failed are the gate's level; credit is
     * what the peer lets us send to the slot (PROTOCOL.md "Credit"); calls
     * beyond it wait in `held`, in order. */
    tri_gate gate;
    _Atomic uint64_t settled;      /* the I/O thread, once a loop (relaxed store, single writer) */
    tr_msg *held_head, *held_tail; /* the I/O thread's, read for every call */
    _Atomic uint64_t undelivered;  /* tells: the I/O thread adds (relaxed), callers read */
    /* Callers' own line, last (alignas rounds the struct up, so it is
     * alone on it): the I/O thread never touches it. With held_head beside
     * it, read by the I/O thread for every call, tri_rtarget_admit took
     * 7.3% of remote_throughput's samples; alone, 2.4%. */
    alignas(64) _Atomic uint64_t posted; /* callers (seq_cst RMW) */
};

/* What a slot's peer lets us send (PROTOCOL.md "Credit"): a call may go
 * while both are positive, and may take them below zero by itself. */
typedef struct tri_credit {
    int64_t calls, bytes;          /* calls TRI_CREDIT_NONE: unlimited (version 1) */
} tri_credit;
#define TRI_CREDIT_NONE INT64_MAX

/* The transport's bytes of a call (rpc/wire.h's priv): a tell carries the
 * first TRI_TELL_PRIV of them, an ask all. */
typedef struct tri_call_hdr {
    tri_rtarget *rt;
    uint32_t enc_size;             /* bytes of the argument's encoding */
    int64_t deadline_ns;           /* asks: when it times out */
} tri_call_hdr;
#define TRI_TELL_PRIV offsetof(tri_call_hdr, deadline_ns)

/* A CONNECT request's payload. */
typedef struct tri_connect_req {
    tri_rtarget *rt;
    tr_future *done;               /* completed with nothing, or failed */
} tri_connect_req;

/* ---- client.c ------------------------------------------------------------- */

/* A tell of rt's accepted and not delivered: counted (service and
 * target), the service's on_undelivered told. I/O thread, or net NULL
 * after it stopped. */
void tri_client_tell_undelivered(tri_net *net, tri_rtarget *rt, unsigned method, int code,
                                 const char *why);

/* Allocates a target for `id` on key/sa; the caller fills nothing else.
 * NULL when out of memory. Any thread. */
tri_rtarget *tri_rtarget_new(const char *key, const struct sockaddr_storage *sa, socklen_t salen,
                             const char *id, const tr_gateway_desc *desc, uint32_t high);
/* Callers' side of a target's gate: admits one call (0, TR_EAGAIN,
 * TR_EFULL; see tri_gate_admit), then counts it posted. Any thread. */
int tri_rtarget_admit(tri_rtarget *rt, tr_service *svc);
/* Takes back an admission whose call was never posted. */
void tri_rtarget_unadmit(tri_rtarget *rt);
/* Frees one the I/O thread never saw. Any thread. */
void tri_rtarget_free(tri_rtarget *rt);

/* Publishes what the I/O thread settled since its last call (one store
 * and one fence per target per loop, not per call), releasing callers
 * held on a target's gate. Before the I/O thread sleeps. */
void tri_client_publish(tri_net *net);

/* Drops one of the target's references (the gateway's, a pending ask's,
 * a backlog entry's); the last frees it and unlinks it from its peer. */
void tri_rtarget_unref(tri_net *net, tri_rtarget *rt);
/* The target of a remote ask's future (whatever its tag says by now). */
tri_rtarget *tri_ask_target(tr_future *f);

/* Requests from the queue. */
/* A TELL message or ASK future off the queue, and its view (decoded once). */
struct tri_wire_call;
void tri_client_call(tri_net *net, tr_msg *m, const struct tri_wire_call *call);
void tri_client_connect(tri_net *net, tr_msg *m);    /* TRI_NET_CONNECT */
void tri_client_release(tri_net *net, tri_rtarget *rt);

/* A frame on an outbound connection (PING, PONG, CLOSE handled before). */
enum tri_frame_outcome tri_client_frame(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                        const uint8_t *body, size_t len, tri_close_info *ci);
/* A frame above our limit announced on an outbound connection (S26). */
enum tri_frame_outcome tri_client_oversized(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                            uint64_t size, tri_close_info *ci);

/* Sends what the peer's backlog holds, in order, as far as its targets
 * are resolved on the current connection; starts the RESOLVEs it needs. */
void tri_client_drain(tri_net *net, tri_peer *p);
/* A CREDIT frame on an outbound connection. */
enum tri_frame_outcome tri_client_credit(tri_net *net, tri_conn *c, const uint8_t *body,
                                         size_t len, tri_close_info *ci);
/* Forgets the connection's credit (it is gone, or a new one starts). */
void tri_client_credit_reset(tri_peer *p);

/* Fails the whole backlog: asks with `code`, tells dropped and counted,
 * connects failed with `code` and `why`; calls held for credit too. */
void tri_client_fail_backlog(tri_net *net, tri_peer *p, int code, const char *why);
/* Drops a request posted after the I/O thread stopped. */
void tri_client_discard(tr_msg *m);

#endif
