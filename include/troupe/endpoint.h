/** @file
 * troupe: endpoints (Flink's RpcEndpoint).
 *
 * An endpoint is an actor with RPC dispatch: it implements one or more
 * gateways (gateway.h), has an id unique in its service while it lives
 * (S6), and a lifecycle: created (registered, answers connects, processes
 * no call: S1/S2), started (on_start ran on the main thread: S3), stopping
 * (on_stop ran; serving until its future completes: S4), terminated (no
 * message processed again; the id is free; the termination future is
 * complete). Its "main thread" is a guarantee, not an OS thread: its
 * handlers, on_start/on_stop, run_async and call_async bodies and the
 * continuations it registers run one at a time, each seeing the effects of
 * the one before (S9).
 *
 * A fenced endpoint (S31-S33) processes only calls that carry its current
 * 128-bit fencing token; the token changes on the main thread.
 *
 * Handles are reference-counted (tr_endpoint_release); every handle of a
 * service is invalid after tr_service_destroy. */
#ifndef TROUPE_ENDPOINT_H
#define TROUPE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/export.h"
#include "troupe/future.h"
#include "troupe/gateway.h"
#include "troupe/service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An endpoint (opaque): an actor with gateways, a lifecycle and an id. */
typedef struct tr_endpoint tr_endpoint;

#define TR_ENDPOINT_ID_MAX 256 /**< bytes, without the NUL */

/** How to create an endpoint (tr_endpoint_create). */
typedef struct tr_endpoint_opts {
    /** Unique in the service while the endpoint lives; NULL: a fresh
     * `"endpoint-<n>"`. Copied. */
    const char *id;
    /** The gateways it implements (at most 16), e.g.
     * (tr_gateway_impl[]){calc_impl(&my_calc_handlers)}. The array is
     * copied; the handler tables must outlive the endpoint. */
    const tr_gateway_impl *gateways;
    size_t ngateways; /**< entries in `gateways` */
    /** Bytes of state kept inside the endpoint, zeroed; the creator may
     * initialise it (tr_endpoint_state) before tr_endpoint_start. */
    size_t state_size;
    /** Main thread, once, on start. A negative return terminates the
     * endpoint (on_stop is skipped) and fails its termination future with
     * that code (S3). */
    int (*on_start)(tr_endpoint *self, void *state);
    /** Main thread, once, on terminate of a started endpoint (S4). It may
     * set *out to a future (troupe takes that reference): the endpoint
     * keeps serving until it completes. A negative return, or that future's
     * failure, fails the termination future. */
    int (*on_stop)(tr_endpoint *self, void *state, tr_future **out);
    /** Once, after the endpoint's last turn, whether or not it ever started:
     * release what the state holds. Runs on the main thread, or on the
     * thread destroying the service. */
    void (*on_cleanup)(tr_endpoint *self, void *state);
    /** Fenced (S31): calls must carry the current token; none is set at
     * first, so every call is rejected until tr_endpoint_set_fencing_token. */
    bool fenced;
    /** Flow control of its mailbox (tr_actor_opts has the same three). */
    uint32_t mailbox_high;     /**< the high-water mark (0: the service's) */
    uint32_t mailbox_low;      /**< the low-water mark (0: half of the high one) */
    uint32_t mailbox_capacity; /**< an opt-in hard capacity beyond which calls fail
                                    with TR_EFULL (0: none) */
} tr_endpoint_opts;

/** Creates and registers an endpoint (S1). Any thread. It processes no call
 * until started. On 0, *out is a handle the caller owns. Errors:
 * TR_EEXISTS (the id is in use, S6), TR_EINVAL (no gateway, too many,
 * an id longer than TR_ENDPOINT_ID_MAX), TR_ESTOPPED, TR_ENOMEM. */
TR_API int tr_endpoint_create(tr_service *svc, const tr_endpoint_opts *opts, tr_endpoint **out);

/** Starts it: on_start runs on the main thread; calls sent after this (from
 * this thread) are processed after on_start. Starting twice is a no-op
 * (S3). Any thread. Errors: TR_EUNREACHABLE (terminated), TR_ENOMEM. */
TR_API int tr_endpoint_start(tr_endpoint *ep);

/** Terminates it (S4, S5), asynchronously: what was sent before is processed
 * first. Idempotent. Any thread, the endpoint's own main thread included.
 * Wait with tr_endpoint_termination. Errors: TR_ENOMEM. */
TR_API int tr_endpoint_terminate(tr_endpoint *ep);

/** The termination future: completes (value empty) once terminated, or
 * fails with on_start's / on_stop's error (S3, S4) or tr_endpoint_fail's.
 * On 0, *out is a reference the caller owns. Any thread. */
TR_API int tr_endpoint_termination(tr_endpoint *ep, tr_future **out);

/** From the endpoint's main thread: terminate with an error (S8: only this
 * endpoint goes down). on_stop runs as for tr_endpoint_terminate; the
 * termination future fails with `code` and the message. Returns `code`;
 * TR_EINVAL off the main thread. */
TR_API int tr_endpoint_fail(tr_endpoint *self, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Takes / drops a reference to the handle (NULL: nothing). Any thread.
 * Releasing does not terminate the endpoint (tr_endpoint_terminate does);
 * its memory goes once it has terminated and the last reference is
 * dropped. */
TR_API void tr_endpoint_retain(tr_endpoint *ep);
/** Drops a reference (see tr_endpoint_retain). Any thread. */
TR_API void tr_endpoint_release(tr_endpoint *ep);

/** The id, and the address (S30): `"troupe://host:port/<id>"` on a service
 * that listens (host:port as bound), else `"local://<id>"`. Valid while a reference
 * is held. Any thread. */
TR_API const char *tr_endpoint_id(const tr_endpoint *ep);
/** The endpoint's address (see tr_endpoint_id). Any thread. */
TR_API const char *tr_endpoint_address(const tr_endpoint *ep);
/** The state (opts.state_size bytes, 16-aligned). Touch it from the main
 * thread only, or before tr_endpoint_start, or after its termination
 * future completed (the endpoint is quiet then). */
TR_API void *tr_endpoint_state(tr_endpoint *ep);
/** The service it belongs to. Any thread. */
TR_API tr_service *tr_endpoint_service(const tr_endpoint *ep);

/** The self gateway (S20): local, never serialized (not even when the
 * service forces serialization), carrying the endpoint's current fencing
 * epoch. On 0, *out is a handle the caller owns. Errors: TR_EGATEWAY,
 * TR_EINVAL, TR_ENOMEM. Any thread. */
TR_API int tr_endpoint_gateway(tr_endpoint *ep, const tr_gateway_desc *desc, tr_gateway **out);

/* ---- the main thread (S9, S10) ------------------------------------------ */

/** True when called from the endpoint's main thread (inside one of its
 * turns). Any thread. */
TR_API bool tr_endpoint_in_main_thread(const tr_endpoint *ep);

/** Flink's validateRunsInMainThread (S10): in builds without NDEBUG, a call
 * from anywhere but the endpoint's main thread logs a message naming the
 * endpoint and the call site, and aborts. With NDEBUG it compiles away. */
TR_API void tr_endpoint_assert_main_thread_at(const tr_endpoint *ep, const char *file, int line);
#ifndef NDEBUG
/** Aborts unless called from `ep`'s main thread (builds without NDEBUG). */
#define tr_endpoint_assert_main_thread(ep) tr_endpoint_assert_main_thread_at((ep), __FILE__, __LINE__)
#else
#define tr_endpoint_assert_main_thread(ep) ((void)(ep))
#endif

/** run_async / schedule_run_async / call_async on the endpoint itself (the
 * gateway forms are in gateway.h). Any thread. A fenced endpoint's
 * run_async carries the fencing epoch current when it is scheduled; if the
 * token changes before it runs, it is discarded (S32). */
TR_API int tr_endpoint_run_async(tr_endpoint *ep, tr_run_fn *fn, const void *arg, size_t arg_size);
/** Runs whatever the fencing token is by then (S32's explicit variant). */
TR_API int tr_endpoint_run_async_unfenced(tr_endpoint *ep, tr_run_fn *fn, const void *arg,
                                          size_t arg_size);
/** Runs fn no earlier than `delay_ns` from now (S11). Errors as
 * tr_gateway_schedule_run_async. */
TR_API int tr_endpoint_schedule_run_async(tr_endpoint *ep, tr_run_fn *fn, const void *arg,
                                          size_t arg_size, int64_t delay_ns);
/** Runs fn on the main thread; its answer completes *out (S12), which times
 * out like an ask (timeout_ns 0: the default). Errors as
 * tr_gateway_call_async. */
TR_API int tr_endpoint_call_async(tr_endpoint *ep, tr_call_fn *fn, const void *arg,
                                  size_t arg_size, int64_t timeout_ns, tr_future **out);

/* ---- fencing (S31-S33) -------------------------------------------------- */

/** From the main thread of a fenced endpoint: from now on only calls with
 * `token` are processed; run_async bodies scheduled under the previous
 * token are discarded (S32). Errors: TR_EINVAL (off the main thread, not
 * fenced, NULL). */
TR_API int tr_endpoint_set_fencing_token(tr_endpoint *self, const tr_fence_token *token);

/** From the main thread: the current token; TR_EFENCED when none is set. */
TR_API int tr_endpoint_fencing_token(const tr_endpoint *self, tr_fence_token *out);

/* ---- statistics ---------------------------------------------------------- */

/** Why a message was refused without reaching a handler. */
typedef enum tr_reject_reason {
    TR_REJECT_NOT_STARTED, /**< S2: asks fail, tells are counted here */
    TR_REJECT_FENCED,      /**< S31, S32 */
    TR_REJECT_NO_METHOD,   /**< S18 */
    TR_REJECT_DECODE,      /**< encoded arguments that do not decode */
    TR_REJECT_COUNT_
} tr_reject_reason;

/** An endpoint's counters (tr_endpoint_call_stats). */
typedef struct tr_endpoint_stats {
    uint64_t processed;   /**< handler calls, bodies and continuations run */
    uint64_t dropped;     /**< never looked at: calls sent to, or still queued
                             at, a terminated endpoint (S4, S16) */
    uint64_t rejected[TR_REJECT_COUNT_]; /**< refused calls, by tr_reject_reason */
    uint64_t handler_errors; /**< tells and run_asyncs that returned an error */
    uint64_t decoded;     /**< calls whose argument arrived encoded (S22) */
    uint64_t mailbox_len; /**< messages waiting now (approximate); answers
                             travelling home to this endpoint's asks are
                             not counted (they are never held back) */
} tr_endpoint_stats;

/** A snapshot (each counter exact, together not atomic). Any thread. */
TR_API void tr_endpoint_call_stats(const tr_endpoint *ep, tr_endpoint_stats *out);

/** "not_started", "fenced", "no_method", "decode". Any thread. */
TR_API const char *tr_reject_reason_name(tr_reject_reason r);

#ifdef __cplusplus
}
#endif

#endif
