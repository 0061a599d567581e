/* Connections: one TCP socket, its read and write buffers, its state.
 *
 * Owned by the I/O thread (net.h): nothing here is touched by any other
 * thread. A connection is outbound (this service connected: it sends
 * HELLO, RESOLVE and calls, and gets answers; it belongs to a peer,
 * client.h) or inbound (accepted by the listener: it answers HELLO and
 * RESOLVE and serves calls; server.h).
 *
 * Reading: one read() per readiness into the read buffer, then every
 * complete frame in it is handled before the next read. A frame's declared
 * length is compared with the limit before anything of it is buffered
 * beyond its header (invariant 6, S26): a larger one is skipped as it
 * arrives. The buffer grows only for a frame that fits the limit and is
 * larger than it, and shrinks back once that frame is done.
 *
 * Writing: frames are appended to one write buffer (reserve, fill,
 * commit); the I/O thread flushes every connection that has bytes once per
 * loop turn, so one write() carries every frame made since the last one.
 * A short write keeps the rest and asks epoll for EPOLLOUT. */
#ifndef TRI_REMOTE_CONN_H
#define TRI_REMOTE_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timer_wheel.h"
#include "remote/frame.h"
#include "troupe/endpoint.h"

typedef struct tri_net tri_net;
typedef struct tri_peer tri_peer;

enum tri_conn_state {
    TRI_CONN_CONNECTING, /* outbound: TCP connect in progress */
    TRI_CONN_HELLO,      /* outbound: HELLO sent; inbound: waiting for HELLO */
    TRI_CONN_OPEN,       /* handshake done */
};

/* Server side: what a RESOLVE bound a slot to (the frames' target). */
typedef struct tri_slot {
    tr_endpoint *ep;      /* a reference, dropped when the connection closes or
                             the endpoint is found terminated (then NULL: the
                             slot stays dead, never given again) */
    uint8_t impl_index;   /* the gateway's index in the endpoint's list */
    const tr_gateway_desc *desc;
    char *id;             /* the endpoint's id, for messages once it is gone */
    uint32_t owed_calls;  /* received since the last CREDIT (server.c) */
    uint64_t owed_bytes;  /* of their frames */
    uint32_t window;      /* calls the client may have out now (0: not yet set) */
    uint32_t withheld;    /* calls of a shrunk window not to give back */
    uint64_t bwindow, bwithheld; /* the same in bytes */
    bool starved;         /* a CREDIT waits for the endpoint to drain */
} tri_slot;

/* Drops a slot's endpoint (found terminated): later calls to the slot fail
 * at once (S16) without holding the endpoint's memory. */
void tri_slot_release(tri_slot *s);

typedef struct tri_conn {
    tri_net *net;
    uint64_t id;          /* net's table: generation << 32 | index */
    int fd;
    bool outbound;
    enum tri_conn_state state;
    tri_peer *peer;       /* outbound: the peer it serves */
    char name[64];        /* the other side, "127.0.0.1:5000", for messages */
    uint32_t peer_max_frame; /* from the handshake (informational) */
    uint64_t peer_incarnation; /* from the handshake (version 2) */
    struct tri_tls *tls;  /* TLS under the frames (tls.h), NULL: plaintext */

    /* reading: rbuf is rloan's bytes (base/loan.h); an inbound ask's large
     * bytes may point into it (server.c), and then it is not reused */
    struct tri_loan *rloan;
    uint8_t *rbuf;
    size_t rcap, rlen, rpos;
    uint64_t skip;        /* bytes of an oversized frame still to discard */
    int64_t big_rx_ns;    /* when the last frame above the default buffer came */

    /* writing */
    uint8_t *wbuf;
    size_t wcap, wlen, woff;
    /* zero-copy: large payloads written from their ask's own copy
     * (plaintext only), each after wbuf byte `at`; in order */
    struct tri_splice *splices;
    uint32_t nsplices, cap_splices, splice_head;
    size_t splice_done;   /* bytes of the head splice already written */
    size_t splice_bytes;  /* spliced bytes not yet written */
    bool dirty;           /* on the net's flush list */
    bool want_out;        /* EPOLLOUT is registered */
    struct tri_conn *next_dirty;

    /* server side */
    tri_slot *slots;
    uint32_t nslots, cap_slots;
    /* tells to one slot gathered from one read, handed over as one
     * message when the run ends (server.c; rpc/wire.h owns the run) */
    struct tri_wire_inbox *inbox;   /* made at the first tell */
    uint32_t batch_slot;            /* the slot the run is for */
    /* credit the endpoints could not take yet: retried on this timer */
    uint32_t starved;
    tri_timer credit_timer;
    uint32_t asks_in;               /* inbound asks not yet answered (max_inbound_asks) */

    /* handshake deadline (both sides), then liveness (outbound) */
    tri_timer timer;
    int64_t last_rx_ns;   /* when bytes last arrived */
    bool ping_out;        /* a PING is unanswered */
    int64_t ping_sent_ns; /* when the last PING left (its corr carries it) */

    /* metrics (troupe/metrics.h): written by the I/O thread alone (relaxed
     * load and store), read by tr_service_connections under the net's
     * list_lock with relaxed loads */
    int64_t born_ns;
    _Atomic uint32_t m_open; /* the handshake is done (release: reconnects is set) */
    uint64_t reconnects;  /* outbound: the peer's connections before this one */
    _Atomic uint64_t m_bytes_out, m_bytes_in, m_frames_out, m_frames_in;
    _Atomic uint64_t m_oversized, m_pongs, m_rtt_ns, m_rtt_max_ns;
    _Atomic uint64_t m_buffers; /* rcap + wcap, stored when either changes */
} tri_conn;

/* A connection around `fd` (non-blocking, already registered by the
 * caller). NULL when out of memory (fd untouched). */
tri_conn *tri_conn_new(int fd, bool outbound, const char *name);

/* Frees the buffers and the struct, drops the slots' endpoint references
 * and closes fd. The net unregisters it first. */
void tri_conn_free(tri_conn *c);

/* Room for n more bytes at the end of the write buffer; NULL when out of
 * memory. Fill it, then tri_conn_commit(c, n). */
uint8_t *tri_conn_reserve(tri_conn *c, size_t n);
void tri_conn_commit(tri_net *net, tri_conn *c, size_t n);

/* Payloads of at least this many bytes go out from where they are
 * (writev), not copied into the write buffer. */
#define TRI_SPLICE_MIN (16u * 1024)

/* For the encoder (rpc/wire.h's tri_wire_encode_gather) while it fills
 * room reserved with tri_conn_reserve: the `len` bytes at data belong at
 * `at` and are written from there. Returns where encoding goes on: `at`
 * (recorded), or at + len when they were copied there (no memory to
 * record them). A frame with recorded splices names what holds their
 * bytes with tri_conn_splice_owner, then commits with
 * tri_conn_commit_gathered. */
uint8_t *tri_conn_splice(tri_conn *c, uint8_t *at, const uint8_t *data, size_t len);
/* Drops what holds a frame's spliced payloads (an ask's future, a tell's
 * message). */
typedef void tri_splice_release_fn(void *owner);
/* The owner of the frame's splices, released once the last is written or
 * the connection is freed. */
void tri_conn_splice_owner(tri_conn *c, void *owner, tri_splice_release_fn *release);
/* The encoders' splice callback (rpc/wire.h tri_wire_splice_fn) over
 * tri_conn_splice, counting what it recorded; ctx is a tri_splicer. */
typedef struct tri_splicer {
    tri_conn *conn;
    unsigned recorded;
} tri_splicer;
uint8_t *tri_conn_splicer(void *ctx, uint8_t *at, const uint8_t *data, size_t len);

/* Commits a frame of `frame` bytes of which `in_buf` are in the buffer
 * (the rest spliced). */
void tri_conn_commit_gathered(tri_net *net, tri_conn *c, size_t in_buf, size_t frame);
/* Bytes accepted and not yet written (the buffer's and the splices'). */
size_t tri_conn_unsent(const tri_conn *c);

/* Appends a whole frame with a small body. 0 or TR_ENOMEM. */
int tri_conn_put_frame(tri_net *net, tri_conn *c, uint8_t type, uint64_t corr, const void *body,
                       size_t len);
/* Appends REPLY_ERR or CLOSE with code and printf message. 0 or TR_ENOMEM. */
int tri_conn_put_error(tri_net *net, tri_conn *c, uint8_t type, uint64_t corr, int code,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Why a connection is to be closed: filled by whoever decides it. */
typedef struct tri_close_info {
    int code;        /* 0: an orderly end; else a TR_E* code for those waiting */
    bool malformed;  /* a protocol violation by the other side (S36) */
    char why[200];
} tri_close_info;

/* Fills ci and returns TRI_FRAME_CLOSE (for handlers' returns). */
enum tri_frame_outcome { TRI_FRAME_OK, TRI_FRAME_CLOSE };
enum tri_frame_outcome tri_close_with(tri_close_info *ci, int code, bool malformed,
                                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* write()s what is buffered, once. 0, or TRI_FRAME_CLOSE with ci filled
 * (the connection broke). */
enum tri_frame_outcome tri_conn_flush(tri_net *net, tri_conn *c, tri_close_info *ci);

/* Gives a read buffer grown for large frames back once it is empty and
 * none has come for a second; true when it is back to its default size. */
bool tri_conn_trim(tri_conn *c);

/* read()s once and handles every complete frame. TRI_FRAME_CLOSE with ci
 * filled when the connection must go (end of stream, an error, a
 * malformed frame). */
enum tri_frame_outcome tri_conn_read(tri_net *net, tri_conn *c, tri_close_info *ci);

#endif
