/** @file
 * troupe: gateways, the typed handles through which endpoints are called.
 *
 * A gateway is declared once, as a list of methods; each row gives the
 * gateway's name, the method's name, its argument type, its result type
 * and whether it is a TELL (no reply) or an ASK (a future):
 *
 *     #define CALC_METHODS(M)                                  \
 *         M(calc, add,   calc_pair, tr_i64,  ASK)              \
 *         M(calc, reset, tr_void,   tr_void, TELL)
 *     TR_GATEWAY(calc, CALC_METHODS)         // in a header
 *     TR_GATEWAY_DEFINE(calc, CALC_METHODS)  // in exactly one .c file
 *
 * From that one list come:
 *  - client calls:  calc_add(gw, &arg, timeout_ns, &fut)  (ASK; 0: default)
 *                   calc_add_then(gw, &arg, timeout_ns, cb, cb_arg)
 *                   calc_reset(gw, &arg)                  (TELL)
 *                   calc_add_result(fut) -> const tr_i64 * (NULL: no value)
 *  - the server side: struct calc_handlers { add, reset } with typed
 *    handlers, calc_impl(&handlers) for tr_endpoint_opts, and the dispatch
 *    table the endpoint uses; calc_add_reply(reply, &result) to answer;
 *  - the codec of every argument and result (their tr_type descriptors).
 * Adding a method is adding a row. Argument and result types are built-in
 * types (codec.h) or structs declared with TR_STRUCT.
 *
 * Handlers run on the endpoint's main thread. An ASK handler answers through
 * its tr_reply (future.h): at once, or later after tr_reply_keep. Returning a
 * negative code without answering fails the call with that code; returning 0
 * without answering or keeping fails it with TR_EFAILED (a bug, reported
 * rather than left to the deadline). A TELL handler's error is logged and
 * counted.
 *
 * tr_gateway handles are reference-counted, immutable and usable from any
 * thread. Release them before tr_service_destroy. */
#ifndef TROUPE_GATEWAY_H
#define TROUPE_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/codec.h"
#include "troupe/export.h"
#include "troupe/future.h"
#include "troupe/service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A handle to call an endpoint through one gateway (opaque, reference-counted). */
typedef struct tr_gateway tr_gateway;

/** A 128-bit fencing token (S31): a leadership epoch's identity. */
typedef struct tr_fence_token {
    uint64_t hi; /**< high 64 bits */
    uint64_t lo; /**< low 64 bits */
} tr_fence_token;

/** How a method is called. */
typedef enum tr_call_kind {
    TR_TELL, /**< one-way: no answer, errors are logged and counted */
    TR_ASK,  /**< a request with a future for the answer */
} tr_call_kind;

/** Calls the typed handler in `handlers` (a `<gw>_handlers` struct). Returns
 * the handler's result, or TR_NO_HANDLER_ when its slot is NULL. */
typedef int tr_method_invoke(const void *handlers, tr_endpoint *self, void *state,
                             const void *arg, tr_reply *reply);
#define TR_NO_HANDLER_ 1

/** One method of a gateway (TR_GATEWAY_DEFINE makes the table). */
typedef struct tr_method_desc {
    const char *name;           /**< the method's name */
    tr_call_kind kind;          /**< TR_TELL or TR_ASK */
    const tr_type *arg_type;    /**< the argument's type */
    const tr_type *result_type; /**< the result's type (tr_void for a tell) */
    tr_method_invoke *invoke;   /**< calls the typed handler */
} tr_method_desc;

/** A gateway: a named, ordered set of methods (TR_GATEWAY_DEFINE). */
typedef struct tr_gateway_desc {
    const char *name;              /**< the gateway's name */
    size_t nmethods;               /**< entries in `methods` */
    const tr_method_desc *methods; /**< in declaration order (method numbers) */
} tr_gateway_desc;

/** A gateway an endpoint implements: its descriptor and handler table. */
typedef struct tr_gateway_impl {
    const tr_gateway_desc *desc; /**< which gateway */
    const void *handlers;        /**< its `<gw>_handlers` table */
} tr_gateway_impl;

/* ---- the declaration macros --------------------------------------------- */

#define TR_GW_HANDLER_ASK_(m, A, R) int (*m)(tr_endpoint *self, void *state, const A *arg, tr_reply *reply);
#define TR_GW_HANDLER_TELL_(m, A, R) int (*m)(tr_endpoint *self, void *state, const A *arg);
#define TR_GW_HANDLER_(g, m, A, R, K) TR_GW_HANDLER_##K##_(m, A, R)
#define TR_GW_ENUM_(g, m, A, R, K) g##__##m,

#define TR_GW_STUB_ASK_(g, m, A, R)                                           \
    static inline int g##_##m(tr_gateway *gw, const A *arg, int64_t timeout_ns, tr_future **out) \
    {                                                                         \
        return tr_gateway_ask(gw, &g##_gateway, g##__##m, arg, timeout_ns, out); \
    }                                                                         \
    static inline int g##_##m##_then(tr_gateway *gw, const A *arg, int64_t timeout_ns,     \
                                     tr_future_cb *cb, void *cb_arg)          \
    {                                                                         \
        return tr_gateway_ask_then(gw, &g##_gateway, g##__##m, arg, timeout_ns, cb, cb_arg); \
    }                                                                         \
    static inline const R *g##_##m##_result(const tr_future *f)              \
    {                                                                         \
        return (const R *)tr_future_value(f, &R##__type);                     \
    }                                                                         \
    static inline int g##_##m##_reply(tr_reply *r, const R *result)           \
    {                                                                         \
        return tr_reply_value(r, &R##__type, result);                         \
    }
#define TR_GW_STUB_TELL_(g, m, A, R)                                          \
    static inline int g##_##m(tr_gateway *gw, const A *arg)                   \
    {                                                                         \
        return tr_gateway_tell(gw, &g##_gateway, g##__##m, arg);              \
    }
#define TR_GW_STUB_(g, m, A, R, K) TR_GW_STUB_##K##_(g, m, A, R)

/** In a header: method indices, the handler struct, the client calls. */
#define TR_GATEWAY(gw, METHODS)                                               \
    enum { METHODS(TR_GW_ENUM_) gw##__nmethods };                             \
    typedef struct gw##_handlers {                                            \
        METHODS(TR_GW_HANDLER_)                                               \
    } gw##_handlers;                                                          \
    extern const tr_gateway_desc gw##_gateway;                                \
    static inline tr_gateway_impl gw##_impl(const gw##_handlers *h)           \
    {                                                                         \
        tr_gateway_impl i = {&gw##_gateway, h};                               \
        return i;                                                             \
    }                                                                         \
    METHODS(TR_GW_STUB_)

#define TR_GW_CALL_ASK_(m, A) hh->m(self, state, (const A *)arg, reply)
#define TR_GW_CALL_TELL_(m, A) ((void)reply, hh->m(self, state, (const A *)arg))
#define TR_GW_INVOKE_(g, m, A, R, K)                                          \
    static int g##__##m##__invoke(const void *h, tr_endpoint *self, void *state, const void *arg, \
                                  tr_reply *reply)                            \
    {                                                                         \
        const g##_handlers *hh = (const g##_handlers *)h;                     \
        if (!hh->m)                                                           \
            return TR_NO_HANDLER_;                                            \
        return TR_GW_CALL_##K##_(m, A);                                       \
    }
#define TR_GW_DESC_(g, m, A, R, K) {#m, TR_##K, &A##__type, &R##__type, g##__##m##__invoke},

/** In exactly one .c file: the dispatch table and descriptor. */
#define TR_GATEWAY_DEFINE(gw, METHODS)                                        \
    METHODS(TR_GW_INVOKE_)                                                    \
    static const tr_method_desc gw##__methods[] = {METHODS(TR_GW_DESC_)};     \
    const tr_gateway_desc gw##_gateway = {#gw, sizeof gw##__methods / sizeof gw##__methods[0], \
                                          gw##__methods};

/* ---- connecting --------------------------------------------------------- */

/** Connects to an endpoint through gateway `desc`. `id` is the id of an
 * endpoint of `svc` (or `"local://<id>"`), or the address of one anywhere:
 * `"troupe://host:port/<id>"` (S30; remote.h). The same call serves both; an
 * address naming svc's own listener connects locally. Local gateways never
 * serialize (S22). Works before the endpoint starts (S1, S29; calls then
 * fail with TR_ENOTSTARTED). A remote connect blocks the calling thread
 * while the I/O thread connects, handshakes and resolves (S28), at most the
 * lookup timeout; then calls through the handle never block.
 * On 0, *out is a handle the caller owns (tr_gateway_release). Errors:
 * TR_ENOENDPOINT (no such id), TR_EGATEWAY (the endpoint does not implement
 * `desc`, or declares it differently, S20), TR_EADDR (a malformed address),
 * TR_EVERSION (the remote speaks another protocol version),
 * TR_EUNREACHABLE (refused, unresolvable, or no answer within the lookup
 * timeout), TR_EDEADLK (a remote connect from the service's own I/O
 * thread), TR_ESTOPPED, TR_EINVAL, TR_ENOMEM. tr_service_connect_error()
 * then says what failed, in a sentence. Any thread. */
TR_API int tr_service_connect(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              tr_gateway **out);

/** The same, for a fenced endpoint: every call through the handle carries
 * `token` (S33). */
TR_API int tr_service_connect_fenced(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                                     const tr_fence_token *token, tr_gateway **out);

/** Takes / drops a reference to the handle (NULL: nothing). Any thread.
 * The last release frees the handle and its hold on the endpoint (not the
 * endpoint itself, which lives until it terminates). */
TR_API void tr_gateway_retain(tr_gateway *gw);
/** Drops a reference (see tr_gateway_retain). Any thread. */
TR_API void tr_gateway_release(tr_gateway *gw);

/** The recipient's address (S30): its endpoint's address, `"local://<id>"`
 * or `"troupe://host:port/<id>"`; valid while the handle is held. Any
 * thread. */
TR_API const char *tr_gateway_address(const tr_gateway *gw);
/** The gateway declaration the handle was connected with. Any thread. */
TR_API const tr_gateway_desc *tr_gateway_descriptor(const tr_gateway *gw);
/** True for an endpoint in this process (run_async and friends allowed,
 * S13). Any thread. */
TR_API bool tr_gateway_is_local(const tr_gateway *gw);
/** Tells through this handle that were accepted (the call returned 0) and
 * then not delivered: a remote one's peer was down or its connection lost,
 * the tell did not fit the receiver's frame limit, the service stopped
 * first. 0 for a local handle, whose tells fail at the call instead (or,
 * queued when their endpoint terminates, count in its tr_endpoint_stats
 * `dropped`). tr_service_config.on_undelivered hears of each one. Any
 * thread. */
TR_API uint64_t tr_gateway_undelivered(const tr_gateway *gw);

/* ---- calls (the typed stubs wrap these) ---------------------------------- */

/** `desc` is the declaration gw was connected with: another one is
 * TR_EGATEWAY, NULL is TR_EINVAL (never "any gateway"). */

/** One-way call of method `method` of `desc` with a copy of `*arg` (S14).
 * Any thread; never blocks. Messages from one sender are processed in
 * order (S21). Errors: TR_EGATEWAY (gw was not connected with `desc`),
 * TR_ENOMETHOD (no such method, or it is an ASK), TR_EUNREACHABLE (the
 * endpoint has terminated, S16; the tell is counted as dropped),
 * TR_ESTOPPED, TR_EINVAL, TR_ENOMEM. */
TR_API int tr_gateway_tell(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                           const void *arg);

/** Request with a future reply (S14). timeout_ns: 0 for the service's
 * default (10 s), else the deadline after which the future fails with
 * TR_ETIMEDOUT (S15). Any thread; never blocks. On 0, *out is a future the
 * caller owns; every later outcome arrives through it: the handler's value
 * or error (S17), TR_ENOTSTARTED (S2), TR_EFENCED (S31), TR_ENOMETHOD
 * (S18), TR_EUNREACHABLE when the endpoint terminates first (S4).
 * Errors (no future made): TR_EUNREACHABLE (already terminated, S16),
 * TR_EGATEWAY, TR_ENOMETHOD (not an ASK), TR_ESTOPPED, TR_EINVAL,
 * TR_ENOMEM. */
TR_API int tr_gateway_ask(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                          const void *arg, int64_t timeout_ns, tr_future **out);

/** An ask with its continuation given up front (Flink's ask().thenAccept):
 * cb(self, f, cb_arg) runs once with the outcome, on the thread future.h
 * describes (the calling endpoint's main thread when called from inside
 * one); no future handle is returned. The continuation is in place before
 * the call leaves, so this costs less than tr_gateway_ask followed by
 * tr_future_then. The typed form is `<gateway>_<method>_then`. Errors as
 * tr_gateway_ask; on error cb never runs. */
TR_API int tr_gateway_ask_then(tr_gateway *gw, const tr_gateway_desc *desc, unsigned method,
                               const void *arg, int64_t timeout_ns, tr_future_cb *cb,
                               void *cb_arg);

/* ---- running code on the endpoint's main thread (S11-S13) ---------------- */

/** A body run on the endpoint's main thread, with a copy of the `arg_size`
 * bytes given at scheduling time. A negative return is logged (S11).
 * A body that will never run on its endpoint (the endpoint terminated or
 * had not started, the service shut down, or the fencing token changed,
 * S32) is called once anyway with self == NULL and state == NULL, on the
 * thread that drops it, so that it can release what `arg` holds. */
typedef int tr_run_fn(tr_endpoint *self, void *state, void *arg);
/** A body whose answer goes to a future: answer `reply` like an ASK handler
 * (tr_reply_value, tr_reply_fail, or return a negative code). Dropped, it
 * is called with self, state and reply NULL (the future fails by itself). */
typedef int tr_call_fn(tr_endpoint *self, void *state, void *arg, tr_reply *reply);

/** Runs fn on the main thread as soon as it gets there (S11). Any thread.
 * Through a fenced gateway it carries the gateway's token (S32). If it
 * cannot run there, fn is called with self == NULL (see tr_run_fn). On
 * error fn is never called and the caller keeps what arg refers to.
 * Errors: TR_ENOTLOCAL (remote gateway, S13), TR_EUNREACHABLE, TR_ESTOPPED,
 * TR_EINVAL, TR_ENOMEM. */
TR_API int tr_gateway_run_async(tr_gateway *gw, tr_run_fn *fn, const void *arg, size_t arg_size);

/** Runs fn no earlier than `delay_ns` from now (S11). TR_EINVAL for a
 * negative delay; otherwise as tr_gateway_run_async. */
TR_API int tr_gateway_schedule_run_async(tr_gateway *gw, tr_run_fn *fn, const void *arg,
                                         size_t arg_size, int64_t delay_ns);

/** Runs fn on the main thread; its answer completes *out (S12), which times
 * out like an ask (timeout_ns 0: the default). Errors as
 * tr_gateway_run_async. */
TR_API int tr_gateway_call_async(tr_gateway *gw, tr_call_fn *fn, const void *arg, size_t arg_size,
                                 int64_t timeout_ns, tr_future **out);

#ifdef __cplusplus
}
#endif

#endif
