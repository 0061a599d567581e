/** @file
 * troupe: futures (the caller's side of an ask) and replies (the side that
 * answers it).
 *
 * A tr_future is completed exactly once: with a value, with an error (a
 * code and a message a person can act on), or by its deadline
 * (TR_ETIMEDOUT). It is reference-counted: whoever receives one owns one
 * reference (tr_future_release). Reading a completed future is safe from
 * any thread; the value stays valid while you hold a reference.
 *
 * Continuations (tr_future_then) run once the future completes:
 *  - registered from inside an endpoint (a handler, on_start/on_stop, a
 *    run_async body, another continuation): on that endpoint's main thread,
 *    in a later turn (posted to its mailbox), never concurrently with its
 *    other code (S9). If the endpoint has terminated by then, the callback
 *    still runs once, with self == NULL, on the thread that dropped it, so
 *    it can release what `arg` holds;
 *  - registered anywhere else: on the thread that completes the future (a
 *    worker, the service's timer thread, or a user thread), with self ==
 *    NULL; if the future is already complete, at once on the calling
 *    thread.
 *
 * A tr_reply is the answering side, handed to ask handlers and call_async
 * bodies. Answer it at once (tr_reply_value / the typed `<gw>_<m>_reply`, or
 * tr_reply_fail) or keep it across turns with tr_reply_keep and answer it
 * later from any thread. */
#ifndef TROUPE_FUTURE_H
#define TROUPE_FUTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/codec.h"
#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A future (opaque, reference-counted): the outcome of an ask. */
typedef struct tr_future tr_future;
/** The answer slot of one ask, handed to its handler (opaque). */
typedef struct tr_reply tr_reply;
/** An endpoint (endpoint.h). */
typedef struct tr_endpoint tr_endpoint;

/* ---- futures ----------------------------------------------------------- */

/** A pending future that you complete yourself (tr_future_complete or
 * tr_future_fail), e.g. for an endpoint's on_stop. Any thread. It has no
 * deadline. On 0, *out holds one reference the caller owns.
 * Errors: TR_EINVAL, TR_ENOMEM. */
TR_API int tr_future_new(tr_future **out);

/** Takes / drops a reference (NULL: nothing). Any thread. Releasing the
 * last reference of a pending future is allowed: whoever completes it
 * later just finds nobody listening. */
TR_API void tr_future_retain(tr_future *f);
/** Drops a reference (see tr_future_retain). Any thread. */
TR_API void tr_future_release(tr_future *f);

/** True once completed (acquire: the outcome is then readable). Any thread. */
TR_API bool tr_future_done(const tr_future *f);

/** The outcome: 0 (a value, possibly empty), a negative TR_E* code, or
 * TR_EAGAIN while pending. Any thread. */
TR_API int tr_future_code(const tr_future *f);

/** The error message of a failed future, or NULL (pending or succeeded).
 * Valid while you hold a reference. Any thread. */
TR_API const char *tr_future_error(const tr_future *f);

/** The value of a succeeded future, if it has type `t`; NULL when pending,
 * failed, empty (S19) or of another type. Valid while you hold a reference;
 * do not modify it. Any thread. */
TR_API const void *tr_future_value(const tr_future *f, const tr_type *t);

/** Blocks the calling thread until the future completes or `timeout_ns`
 * passes (negative: no limit). Returns 0 when complete, TR_ETIMEDOUT when
 * the wait ran out (the future stays pending), TR_EDEADLK when called on a
 * worker thread, for example from an endpoint's main thread, where waiting
 * could block the very endpoint that must answer: use tr_future_then there.
 * Outside threads only. */
TR_API int tr_future_wait(tr_future *f, int64_t timeout_ns);

/** tr_future_wait, then the outcome (tr_future_code). A wait that runs out
 * also gives TR_ETIMEDOUT; tell it from a timed-out ask with
 * tr_future_done. */
TR_API int tr_future_get(tr_future *f, int64_t timeout_ns);

/** Completes a pending future with a deep copy of `value` of type `t`
 * (value NULL or t == &tr_void__type: an empty value). Any thread.
 * Errors: TR_EBUSY (already complete; nothing changes), TR_ENOMEM,
 * TR_EINVAL. */
TR_API int tr_future_complete(tr_future *f, const tr_type *t, const void *value);

/** Completes a pending future with the negative `code` and a message
 * (printf format; NULL: the code's description). Any thread. Returns 0 or
 * TR_EBUSY (already complete). */
TR_API int tr_future_fail(tr_future *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Continuation: cb(self, f, arg) runs once, after completion, on the thread
 * described at the top of this file. `f` is valid during the call (the
 * continuation holds a reference). Any thread. Returns 0, or TR_ENOMEM /
 * TR_EINVAL (then cb will not run). */
typedef void tr_future_cb(tr_endpoint *self, tr_future *f, void *arg);
/** Registers `cb` as the continuation of `f` (see tr_future_cb). */
TR_API int tr_future_then(tr_future *f, tr_future_cb *cb, void *arg);

/* ---- replies ----------------------------------------------------------- */

/** Answers with a deep copy of `value` (type `t` must be the method's result
 * type; NULL value: an empty reply, S19). Any thread, once per reply: a
 * second answer returns TR_EBUSY and changes nothing. The typed form is
 * `<gateway>_<method>_reply`. Errors also: TR_EINVAL (wrong type), TR_ENOMEM. */
TR_API int tr_reply_value(tr_reply *r, const tr_type *t, const void *value);

/** Answers with an error that reaches the caller unchanged (S17): `code`
 * (negative TR_E*) and a message (printf format). Returns `code`, so a
 * handler can `return tr_reply_fail(r, TR_EINVAL, "bad id %d", id);`. */
TR_API int tr_reply_fail(tr_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** From inside the handler (or call_async body) that received `r`: keep it
 * to answer after the handler returns, from any thread. Returns the handle
 * to keep (the same pointer); you own it and must give it back with
 * tr_reply_release once answered. */
TR_API tr_reply *tr_reply_keep(tr_reply *r);

/** Gives a kept reply back. If it was never answered, the caller's future
 * fails now with TR_EFAILED ("... released without an answer"), rather
 * than waiting for its deadline. Any thread. */
TR_API void tr_reply_release(tr_reply *r);

/** True once answered (or failed / timed out on the caller's side). */
TR_API bool tr_reply_done(const tr_reply *r);

#ifdef __cplusplus
}
#endif

#endif
