/* The seam between rpc/ and a transport (engine/remote/): the only rpc
 * header a transport includes.
 *
 * rpc/ owns every message, future and endpoint it hands out, and where a
 * value's strings and bytes live. A transport sees them as opaque handles
 * and goes through these functions:
 *   - gateways it makes at connect, and the calls that reach it through
 *     its tri_transport table (the caller's thread);
 *   - outbound calls it takes off its queue and encodes (its own thread);
 *   - the futures of those calls: labelled here, completed from bytes;
 *   - inbound calls decoded from bytes into messages rpc lays out, and
 *     their answers encoded back;
 *   - the service's configuration and the slot where the network layer
 *     hangs.
 * Each outbound call and each outbound ask carries `priv` bytes that
 * belong to the transport alone (8-aligned, zeroed): its routing data.
 * Any thread unless a function says otherwise. */
#ifndef TRI_RPC_WIRE_H
#define TRI_RPC_WIRE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timer_wheel.h"
#include "troupe/actor.h"
#include "troupe/endpoint.h"
#include "troupe/future.h"
#include "troupe/gateway.h"
#include "troupe/service.h"
#include "troupe/watch.h"

/* Local endpoint addresses start with this (S30). */
#define TRI_WIRE_LOCAL_SCHEME "local://"

/* A fencing token on the wire (S33): 16 bytes, hi then lo, little-endian. */
#define TRI_WIRE_TOKEN 16u

struct tri_loan; /* base/loan.h */

/* ---- the transport table and gateways ------------------------------------------- */

/* How calls through a gateway reach its endpoint: local (a mailbox push,
 * gateway.c) or a transport's. */
typedef struct tri_transport {
    int (*tell)(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg);
    /* cb non-NULL: ask_then (out may be NULL); else *out gets the future. */
    int (*ask)(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
               int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out);
    /* ask, lending byte strings of lend_min or more (tri_gateway_ask_lent);
     * NULL: the transport copies (the local one: its handler reads later) */
    int (*ask_lent)(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
                    int64_t timeout_ns, struct tri_loan *loan, size_t lend_min,
                    tr_future **out);
    const char *(*address)(const tr_gateway *gw);
    void (*close)(tr_gateway *gw);
    /* Death watch (watch.h) on the gateway's target: watch takes the
     * record's source reference (0), and later fires it once with
     * tri_wire_watch_fire or lets it go with tri_wire_watch_unref;
     * unwatch says a cancel won (the transport drops its reference when
     * it has forgotten the watch). NULL for the local transport. */
    int (*watch)(tr_gateway *gw, tr_watch *w);
    void (*unwatch)(tr_gateway *gw, tr_watch *w);
    /* Tells accepted and not delivered (tr_gateway_undelivered); NULL: 0. */
    uint64_t (*undelivered)(const tr_gateway *gw);
    /* run_async and friends need the endpoint here: else TR_ENOTLOCAL (S13). */
    bool local;
} tri_transport;

/* A gateway with one reference, calling through `tp` to `target` (the
 * transport's own object). token NULL: unfenced, else every call carries
 * it (S33). NULL when out of memory. */
tr_gateway *tri_wire_gateway_new(tr_service *svc, const tr_gateway_desc *desc,
                                 const tr_fence_token *token, const tri_transport *tp,
                                 void *target);
/* Frees a gateway tri_wire_gateway_new made that was never handed out
 * (its transport's close is not called). */
void tri_wire_gateway_discard(tr_gateway *gw);
void *tri_wire_gateway_target(const tr_gateway *gw);
tr_service *tri_wire_gateway_service(const tr_gateway *gw);
const tr_gateway_desc *tri_wire_gateway_desc(const tr_gateway *gw);

/* ---- outbound calls: the caller's thread ----------------------------------------- */

/* What a call through gw takes: on the wire, the argument's encoding
 * (enc) and the fencing token (fence, 0 or TRI_WIRE_TOKEN); in the
 * transport's queue, the argument's deep copy (deep). */
typedef struct tri_wire_sizes {
    size_t enc, fence, deep;
    size_t lend_min; /* bytes this long are lent, not copied (SIZE_MAX: none) */
} tri_wire_sizes;

/* Fills *sz for a call of md with arg through gw. 0, or TR_EINVAL when a
 * string is too long to encode, or TR_EFRAMESIZE when the deep copy would
 * not fit a message (4 GiB). */
int tri_wire_call_size(const tr_gateway *gw, const tr_method_desc *md, const void *arg,
                       tri_wire_sizes *sz);
/* Makes *sz (from tri_wire_call_size) a lending call's: the deep copy
 * leaves byte strings of lend_min or more where they are. */
void tri_wire_sizes_lend(const tr_method_desc *md, const void *arg, size_t lend_min,
                         tri_wire_sizes *sz);
/* The ask f (made with lending sizes) keeps a reference to `loan`, the
 * lender's bytes, until it is freed. */
void tri_wire_ask_lend(tr_future *f, struct tri_loan *loan);
/* tr_gateway_ask whose byte strings of lend_min or more are read where
 * they are until the future is freed (loan: the lender's; see
 * tr_stream_write_zc). A transport without ask_lent copies them. */
int tri_gateway_ask_lent(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                         const void *arg, int64_t timeout_ns, struct tri_loan *loan,
                         size_t lend_min, tr_future **out);

/* A TELL message for the transport's queue: `priv` bytes of its own (at
 * *priv_out), the fencing token and a deep copy of arg (rpc lays them
 * out); sz from tri_wire_call_size for the same call. NULL when out of
 * memory. */
tr_msg *tri_wire_tell_new(const tr_gateway *gw, const tr_method_desc *md, unsigned method,
                          const void *arg, const tri_wire_sizes *sz, size_t priv,
                          void **priv_out);

/* An ASK future for the transport's queue, labelled for its messages
 * (gateway, method, the target's id, the timeout) with `priv` bytes of
 * the transport's and a deep copy of arg. It holds two references: the
 * transport's (its message) and the caller's handle, or the continuation
 * cb's when given (run on the calling endpoint when there is one). It is
 * marked queued: the transport calls tri_wire_ask_taken when it unlinks
 * it from its own lists. NULL when out of memory. */
tr_future *tri_wire_ask_new(const tr_gateway *gw, const tr_method_desc *md, unsigned method,
                            const void *arg, const tri_wire_sizes *sz, size_t priv,
                            int64_t timeout_ns, const char *target,
                            size_t target_len, tr_future_cb *cb, void *cb_arg);

/* An ask refused before it left: a future (one reference) already failed
 * with code and the message, or, with cb, that continuation registered
 * and no handle (*out untouched). 0 or TR_ENOMEM. */
int tri_wire_ask_refused(const tr_gateway *gw, const tr_method_desc *md, tr_future_cb *cb,
                         void *cb_arg, tr_future **out, int code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* ---- outbound calls: the transport's thread ------------------------------------- */

/* A call message taken off the transport's queue, as the transport sees it. */
typedef struct tri_wire_call {
    tr_future *ask;         /* NULL: a tell (the message itself) */
    unsigned method;
    const uint8_t *token;   /* TRI_WIRE_TOKEN bytes, or NULL */
    const void *arg;        /* the deep copy, NULL when empty */
    void *priv;
} tri_wire_call;

/* Fills *c and returns true when m is a call made by tri_wire_tell_new or
 * tri_wire_ask_new (for an ask, the message tri_wire_ask_msg gave). */
bool tri_wire_call_of(tr_msg *m, tri_wire_call *c);
/* The message an ask travels in to the transport's queue. */
tr_msg *tri_wire_ask_msg(tr_future *f);
/* The transport's bytes of an ask, whatever has become of its message. */
void *tri_wire_ask_priv(tr_future *f);
/* The ask's message is no longer linked in any of the transport's lists:
 * from here on a completion may send the future home in it. */
void tri_wire_ask_taken(tr_future *f);

/* ---- futures the transport completes ---------------------------------------------- */

/* A plain future with `refs` references (a connect's "done"). */
tr_future *tri_wire_future_new(uint32_t refs);
/* Waits up to timeout_ns for f even on a worker (another service's worker
 * may connect; this one's never waits on its own I/O). 0 or TR_ETIMEDOUT. */
int tri_wire_future_block(tr_future *f, int64_t timeout_ns);
void tri_wire_future_unref(tr_future *f, uint32_t n);

/* The label given at creation: gateway and method names, the timeout. */
const char *tri_wire_gw_name(const tr_future *f);
const char *tri_wire_method_name(const tr_future *f);
int64_t tri_wire_timeout_ns(const tr_future *f);

/* The transport's deadline timer embedded in an ask (remote asks are never
 * armed on the service's timers), and back. */
tri_timer *tri_wire_timer(tr_future *f);
tr_future *tri_wire_timer_future(tri_timer *t);

/* The transport's routing words of an ask (correlation id and connection
 * on the serving side; correlation id on the calling side). */
void tri_wire_set_route(tr_future *f, uint64_t corr, uint64_t link);
uint64_t tri_wire_route_corr(const tr_future *f);
uint64_t tri_wire_route_link(const tr_future *f);

/* Completes f with the decoding of `len` bytes as its result type;
 * bytes that do not decode fail it with TR_EPROTO. 0, or TR_EALREADY. */
int tri_wire_complete(tr_future *f, const void *data, size_t len);
int tri_wire_fail(tr_future *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- inbound calls: the transport's thread --------------------------------------- */

/* An endpoint and one of its gateways, found for an inbound RESOLVE. */
typedef struct tri_wire_target {
    tr_endpoint *ep;        /* a reference (tri_wire_endpoint_release) */
    unsigned impl;          /* the gateway's index in the endpoint's list */
    const tr_gateway_desc *desc;
} tri_wire_target;

/* Looks up endpoint `id` and its gateway named `gw` (S29: a created, not
 * started endpoint resolves); the transport compares the declarations.
 * 0, TR_ESTOPPED, TR_ENOENDPOINT or TR_EGATEWAY with why filled. */
int tri_wire_resolve(tr_service *svc, const char *id, size_t id_len, const char *gw,
                     size_t gw_len, tri_wire_target *out, char *why, size_t why_len);
const char *tri_wire_endpoint_id(const tr_endpoint *ep);
void tri_wire_endpoint_release(tr_endpoint *ep);
/* True while the endpoint's mailbox is below its high-water mark plus
 * `slack`: the transport may let more calls come (its credit, PROTOCOL.md). */
bool tri_wire_endpoint_has_room(const tr_endpoint *ep, uint64_t slack);
/* True while its mailbox is below its low-water mark plus `slack`: it
 * keeps up. */
bool tri_wire_endpoint_keeps_up(const tr_endpoint *ep, uint64_t slack);
/* Counts n calls refused because the endpoint terminated (S16). */
void tri_wire_count_dropped(tr_endpoint *ep, uint64_t n);

/* A run of inbound tells to one (endpoint, gateway), gathered so that a
 * burst costs one mailbox push. The argument bytes are decoded when the
 * run is delivered, straight into the message the handlers read, so
 * every string and byte string they see lives in that message (DESIGN
 * invariant 8). Until then the run points at the encoded bytes where the
 * transport read them: the transport must deliver it (flush) before it
 * moves, reuses or frees those bytes. One per connection; its owner's
 * thread only. */
typedef struct tri_wire_inbox tri_wire_inbox;

tri_wire_inbox *tri_wire_inbox_new(void);
void tri_wire_inbox_free(tri_wire_inbox *in);
/* What delivering a run lost: tells the endpoint refused (it terminated;
 * counted there, S16) and tells memory lost. */
typedef struct tri_wire_lost {
    uint32_t refused, no_memory;
} tri_wire_lost;

/* Gathers one tell (token NULL: unfenced; token and arg stay where they
 * are until the run is delivered). A tell for another target, or one that
 * would make the run too large, delivers the run first; what that lost is
 * added to *lost. 0, or TR_EPROTO (the argument does not decode as the
 * method's type: nothing kept). */
int tri_wire_inbox_add(tri_wire_inbox *in, const tri_wire_target *t, unsigned method,
                       const uint8_t *token, const uint8_t *arg, size_t len, tri_wire_lost *lost);
/* Delivers the run (nothing when empty); what it lost is added to *lost. */
void tri_wire_inbox_flush(tri_wire_inbox *in, tri_wire_lost *lost);
/* The endpoint the gathered run is for, or NULL when there is none. */
const tr_endpoint *tri_wire_inbox_target(const tri_wire_inbox *in);

/* An inbound ask: a future (three references: the message's, the preset
 * continuation's, the transport's) holding the decoded argument, labelled
 * for t's gateway and method, whose first continuation `answered` runs on
 * whichever thread completes it. Not yet sent (tri_wire_ask_deliver).
 * `loan` (or NULL) holds `arg`: then bytes of TRI_WIRE_LEND_MIN or more are
 * not copied, the argument points at them and the future keeps a
 * reference to the loan until it is freed.
 * NULL with *err: TR_EPROTO (the argument does not decode), TR_ENOMEM. */
tr_future *tri_wire_ask_inbound(const tri_wire_target *t, unsigned method, const uint8_t *token,
                                const uint8_t *arg, size_t len, struct tri_loan *loan,
                                int64_t timeout_ns, tr_future_cb *answered, void *cb_arg,
                                int *err);
/* 128 KiB: a stream's 256 KiB chunks are lent, and a lent argument pins at
 * most 8 times its size of read buffer (1 MiB, remote/conn.c). */
#define TRI_WIRE_LEND_MIN (128u * 1024)
/* Pushes it into the endpoint's mailbox. TR_EUNREACHABLE when the endpoint
 * has terminated: then f is failed (its answer still comes through the
 * continuation) and the message's reference dropped. */
int tri_wire_ask_deliver(const tri_wire_target *t, tr_future *f);

/* From the continuation: the message that carries an answered inbound ask
 * to the transport's queue with tag `tag` (the future's own message when
 * it has left the mailbox, else a small carrier). NULL when out of memory. */
tr_msg *tri_wire_answer_msg(tr_future *f, uint32_t tag, uint32_t carrier_tag);
/* The answered future such a message carries. */
tr_future *tri_wire_answer_future(tr_msg *m, uint32_t carrier_tag);
/* Done with such a message: frees a carrier, drops the transport's
 * reference. */
void tri_wire_answer_done(tr_msg *m, uint32_t carrier_tag);
/* The bytes of a completed future's result encoding (0: empty), and the
 * encoding itself (dst has that many bytes). */
size_t tri_wire_result_size(const tr_future *f);
void tri_wire_result_encode(const tr_future *f, uint8_t *dst);

/* ---- death watch (rpc/watch.h) --------------------------------------------------- */

/* The serving side: watches local endpoint `id` for a remote watcher.
 * fn(ctx, wid, code, msg) runs once, on whichever thread sees the end
 * (inside this call when there is no such endpoint). Returns the watch
 * (the transport's reference: tri_wire_watch_unref), NULL when out of
 * memory. */
tr_watch *tri_wire_watch_local(tr_service *svc, const char *id, size_t len,
                               void (*fn)(void *ctx, uint64_t wid, int code, const char *msg),
                               void *ctx, uint64_t wid);
/* Cancels one made so: true when fn will not run. */
bool tri_wire_watch_cancel(tr_watch *w);
/* The calling side: fires a watch the transport took (tri_transport's
 * watch) once; false when a cancel or an earlier fire won. */
bool tri_wire_watch_fire(tr_watch *w, int code, const char *msg);
void tri_wire_watch_unref(tr_watch *w);
/* The transport's words in a watch. */
void tri_wire_watch_set(tr_watch *w, uint64_t id, void *ctx);
uint64_t tri_wire_watch_id(const tr_watch *w);
void *tri_wire_watch_ctx(const tr_watch *w);

/* ---- values ------------------------------------------------------------------------ */

/* Writes the encoding of a deep value at dst (tri_wire_call_size's *enc
 * bytes of room). */
void tri_wire_encode(const tr_type *t, const void *value, uint8_t *dst);
/* The same, except that bytes of at least `min` are handed to splice
 * after their length (see tri_conn_splice) instead of copied; returns the
 * end of what was written at dst. */
typedef uint8_t *tri_wire_splice_fn(void *ctx, uint8_t *at, const uint8_t *data, size_t len);
uint8_t *tri_wire_encode_gather(const tr_type *t, const void *value, uint8_t *dst, size_t min,
                                tri_wire_splice_fn *splice, void *ctx);
/* tri_wire_result_encode, gathering as tri_wire_encode_gather does (the
 * bytes stay the future's: hold a reference until they are written). */
uint8_t *tri_wire_result_encode_gather(const tr_future *f, uint8_t *dst, size_t min,
                                       tri_wire_splice_fn *splice, void *ctx);

/* ---- the service ------------------------------------------------------------------ */

/* What the network layer gives the service: rpc calls it only through
 * these, knowing nothing of sockets. */
typedef struct tri_net_hooks {
    /* During shutdown, after the timers closed (every pending future
     * failed): fails what the network still holds, closes the sockets,
     * joins the I/O thread. Idempotent. */
    void (*stop)(tr_service *svc);
    /* During destroy, after stop: drops the service's hold on the network
     * layer (freed once nothing else holds it). */
    void (*destroy)(tr_service *svc);
} tri_net_hooks;

const tr_service_config *tri_wire_config(const tr_service *svc);
/* The scheduler its actors run on (flow gates: core/flow.h). */
struct tri_sched *tri_wire_sched(const tr_service *svc);
/* The service's incarnation id (random at create, never 0). */
uint64_t tri_wire_incarnation(const tr_service *svc);
/* TR_ESTOPPED once shutdown began (no new connects), else 0. */
int tri_wire_service_open(const tr_service *svc);
/* The network layer hung on svc, or NULL (acquire: its fields are set). */
void *tri_wire_net(const tr_service *svc);

/* Makes the network layer once: under the service's lock, returns the one
 * there, or calls start(svc, ctx, &net, prefix, prefix_len) — which fills
 * the address prefix endpoints get (S30), "" to keep "local://" — and
 * hangs what it made with `hooks`. Errors: start's, or TR_ESTOPPED. */
typedef int tri_net_start_fn(tr_service *svc, void *ctx, void **net, char *prefix,
                             size_t prefix_len);
int tri_wire_net_attach(tr_service *svc, tri_net_start_fn *start, void *ctx,
                        const tri_net_hooks *hooks, void **out);

/* The local half of tr_service_connect (token NULL: unfenced). */
int tri_wire_connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                           const tr_fence_token *token, tr_gateway **out);
/* Creates an endpoint whose id (required) is reserved for troupe
 * (TR_RESERVED_ID_PREFIX, troupe/metrics.h): the introspection endpoint.
 * Errors as tr_endpoint_create. */
int tri_wire_endpoint_create_reserved(tr_service *svc, const tr_endpoint_opts *opts,
                                      tr_endpoint **out);

/* A service without its network layer (tr_service_create adds it); on
 * error `why` says what failed, for tr_service_create_error. */
int tri_wire_service_create(const tr_service_config *cfg, tr_service **out, char *why,
                            size_t why_len);
/* The service's logger (its level and sink; read-only once created). */
const struct tri_logger *tri_wire_logger(const tr_service *svc);

/* ---- streams (troupe/stream.h) -------------------------------------------------- */

/* The connection that streams from service incarnation `origin` came on
 * to `ep` is lost: each one still open ends with an ERROR event
 * (TR_EUNREACHABLE, `why`) on ep's main thread. I/O thread. */
void tri_wire_stream_peer_lost(tr_endpoint *ep, uint64_t origin, const char *why);

#endif
