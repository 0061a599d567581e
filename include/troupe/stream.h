/** @file
 * troupe: streams, for payloads larger than one frame (README "Streams").
 *
 * A stream carries bytes from a caller to an endpoint, in order, cut into
 * chunks that each fit a frame, for the payloads Flink users push through a
 * side channel (its BlobServer). It travels through the built-in gateway
 * tr_stream_gateway like any call: locally it is a mailbox push (one copy
 * per chunk), remotely chunks are calls on the gateway's connection and
 * spend its credit (PROTOCOL.md "Credit"), so a stream never outruns the
 * endpoint nor starves its neighbours.
 *
 * The receiving endpoint lists tr_stream_impl(&receiver) among its
 * gateways; its handler sees, on the endpoint's main thread, one OPEN, then
 * DATA chunk by chunk, then END, or an ERROR instead of what is left:
 * the sender cancelled, the connection was lost, the stream went past the
 * receiver's size limit, or a chunk came out of order.
 *
 * The sender keeps at most TR_STREAM_WINDOW chunks unanswered by the
 * handler: what a stream holds in memory on either side is bounded by the
 * window whatever its length. A thread outside the workers blocks while
 * the window is full (up to the stream's timeout); on a worker (an
 * endpoint's main thread), where blocking could stall the very endpoint
 * that must answer, a write that does not fit returns TR_EAGAIN instead. */
#ifndef TROUPE_STREAM_H
#define TROUPE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/endpoint.h"
#include "troupe/export.h"
#include "troupe/future.h"
#include "troupe/gateway.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Chunks a stream may have sent and not yet seen handled. */
#define TR_STREAM_WINDOW 8u
/** The largest chunk a write is cut into (less where the service's frame
 * limit is smaller). */
#define TR_STREAM_CHUNK (256u * 1024)

/** A stream's sending side (opaque; one thread at a time). */
typedef struct tr_stream tr_stream;

/** What the receiving handler is told. */
typedef enum tr_stream_event_kind {
    TR_STREAM_OPEN,  /**< a new stream: `name` */
    TR_STREAM_DATA,  /**< the next chunk: `data`, `len`, at `offset` */
    TR_STREAM_END,   /**< the sender closed it: `offset` is the total */
    TR_STREAM_ERROR, /**< it ends without END: `code` and `message` say why */
} tr_stream_event_kind;

/** One event of one stream; pointers are valid during the call only. */
typedef struct tr_stream_event {
    tr_stream_event_kind kind; /**< which event */
    uint64_t stream;           /**< the stream's id (unique while it is open) */
    const char *name;          /**< the sender's name for it ("" if none) */
    const void *data;          /**< DATA: the chunk */
    size_t len;                /**< DATA: its length */
    uint64_t offset;           /**< bytes of the stream before this event */
    int code;                  /**< ERROR: TR_ECANCELED (the sender cancelled),
                                    TR_EUNREACHABLE (its connection was lost),
                                    TR_EFULL (past max_bytes), TR_EPROTO (a gap) */
    const char *message;       /**< ERROR: a sentence */
} tr_stream_event;

/** The receiver's handler, on the endpoint's main thread. For OPEN and
 * DATA a negative return aborts the stream with that code (the sender's
 * next write or close fails with it; no ERROR event follows); for END it
 * becomes the outcome of the sender's close (0: success). */
typedef int tr_stream_handler(tr_endpoint *self, void *state, const tr_stream_event *ev);

/** How an endpoint takes streams: its handler and a limit. Must outlive the
 * endpoint (a static const, like a handler table). */
typedef struct tr_stream_receiver {
    tr_stream_handler *on_event; /**< required */
    uint64_t max_bytes;          /**< a stream's total at most; 0: no limit */
} tr_stream_receiver;

/** The built-in gateway streams travel through ("troupe.stream"). */
TR_API extern const tr_gateway_desc tr_stream_gateway;

/** For tr_endpoint_opts.gateways: the endpoint takes streams. */
static inline tr_gateway_impl tr_stream_impl(const tr_stream_receiver *r)
{
    tr_gateway_impl i = {&tr_stream_gateway, r};
    return i;
}

/** Opens a stream to the endpoint behind `gw` (connected with
 * &tr_stream_gateway, local or remote); `name` (may be NULL) is passed to
 * its OPEN event. Does not wait: a refusal shows at the next write or at
 * close. Each chunk, and the close, must be answered within `timeout_ns`
 * (0: the service's ask timeout). On 0, *out is the stream (finish it with
 * tr_stream_close or tr_stream_cancel). Errors: TR_EINVAL, TR_ENOMEM,
 * what a call through gw returns (TR_EUNREACHABLE, TR_ESTOPPED, ...). */
TR_API int tr_stream_open(tr_gateway *gw, const char *name, int64_t timeout_ns, tr_stream **out);

/** Appends `len` bytes (copied; cut into chunks). 0, or the stream's
 * failure (TR_ECANCELED never: that is the sender's own), TR_EAGAIN (the
 * window is full: on a worker at once, nothing written; elsewhere after
 * the timeout, with tr_stream_offset() saying how much went), TR_EINVAL
 * (on a worker, more than TR_STREAM_WINDOW chunks at once). Once a write
 * fails with anything but TR_EAGAIN the stream is broken: close or cancel
 * it. */
TR_API int tr_stream_write(tr_stream *s, const void *data, size_t len);

/** tr_stream_write without the copy: the chunks of a remote stream are
 * written to the connection from `data` itself, which the caller must
 * neither change nor free until `done(ctx)` runs. It runs exactly once
 * (unless this returns TR_EINVAL: then nothing was lent), on any thread,
 * possibly before this returns, once every chunk cut from `data` has been
 * answered or has failed and nothing reads the bytes any more. The same
 * returns and window as tr_stream_write. A local stream copies as
 * tr_stream_write does (its handler runs later) and calls done once the
 * copies are made. One copy fewer per byte on the sending side:
 * `troupe-bench remote_stream zc=1`. */
TR_API int tr_stream_write_zc(tr_stream *s, const void *data, size_t len,
                              void (*done)(void *ctx), void *ctx);

/** Bytes accepted by tr_stream_write so far. */
TR_API uint64_t tr_stream_offset(const tr_stream *s);

/** The stream's failure so far (0: none) and, when `why` is non-NULL, its
 * sentence (valid until the stream is finished). */
TR_API int tr_stream_error(const tr_stream *s, const char **why);

/** Ends the stream and frees `s`. On 0, *out is a future (tr_void) that
 * completes once the handler has seen END, with the handler's outcome, or
 * fails with the stream's failure; never blocks. Errors (s freed all the
 * same): TR_ENOMEM and what a call through the gateway returns. */
TR_API int tr_stream_close(tr_stream *s, tr_future **out);

/** Abandons the stream and frees `s`: the receiver gets ERROR with
 * TR_ECANCELED and `why` (may be NULL). */
TR_API void tr_stream_cancel(tr_stream *s, const char *why);

#ifdef __cplusplus
}
#endif

#endif
