/** @file
 * troupe: error codes.
 *
 * Every fallible function returns 0 or a negative TR_E* code. A call that
 * fails never also runs its callback or completes its future.
 * One X-macro table makes the enum, tr_strerror() and tr_errname(). */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The table of troupe's error codes: X(NAME, description) per code, in
 * order from TR_EINVAL (-999) up. */
#define TR_ERRORS(X)                                                          \
    X(EINVAL, "invalid argument")                                            \
    X(ENOMEM, "out of memory")                                               \
    X(ESTOPPED, "stopped: the service or actor no longer accepts work")      \
    X(ENOTSTARTED, "endpoint has not been started")                          \
    X(EUNREACHABLE, "recipient is terminated or unreachable")                \
    X(ETIMEDOUT, "timed out")                                                \
    X(EEXISTS, "already exists")                                             \
    X(ENOMETHOD, "unknown method")                                           \
    X(EGATEWAY, "endpoint does not implement the requested gateway")         \
    X(EFENCED, "fencing token mismatch")                                     \
    X(EFRAMESIZE, "frame exceeds the maximum frame size")                    \
    X(ENOTLOCAL, "operation is only possible on a local endpoint")           \
    X(EVERSION, "protocol version mismatch")                                 \
    X(ENOENDPOINT, "no such endpoint")                                       \
    X(EDEADLK, "blocking wait on an endpoint's own main thread")             \
    X(ECANCELED, "canceled")                                                 \
    X(EPROTO, "protocol error")                                              \
    X(EIO, "input/output error")                                             \
    X(EAGAIN, "resource temporarily unavailable")                            \
    X(EBUSY, "busy")                                                         \
    X(EADDR, "malformed address")                                            \
    X(EFAILED, "failed")                                                     \
    X(EFULL, "mailbox at its hard capacity: the message was refused")        \
    X(EADDRINUSE, "address already in use")                                  \
    X(ERESTARTED, "the peer restarted: a new incarnation, connect again")        \
    X(EAUTH, "authentication failed (TLS)")

/** 0 (TR_OK) and troupe's error codes, TR_E<NAME> for each row of TR_ERRORS. */
typedef enum tr_error {
    TR_OK = 0,
#define TR_ERR_ENUM_(name, text) TR_##name,
    TR_ERR_FIRST_ = -1000,
    TR_ERRORS(TR_ERR_ENUM_)
#undef TR_ERR_ENUM_
    TR_ERR_END_
} tr_error;

/** Application error codes: a handler, on_start or tr_endpoint_fail may use
 * any negative code, and it reaches the caller unchanged (also remotely);
 * troupe's own are -999..-900 (new ones are added there). Codes made with
 * TR_EAPP(n), n in 0..TR_EAPP_MAX, never collide with troupe's and have a
 * name: tr_strerror gives "application code n", tr_errname "TR_EAPP(n)". */
#define TR_EAPP_BASE (-100000)
/** The largest n of TR_EAPP(n). */
#define TR_EAPP_MAX 999999999
/** Application code n (0 <= n <= TR_EAPP_MAX) as a troupe error code. */
#define TR_EAPP(n) (TR_EAPP_BASE - (int)(n))
/** True when `code` is a TR_EAPP code; then TR_EAPP_NUM gives its n. */
#define TR_IS_EAPP(code) ((code) <= TR_EAPP_BASE && (code) >= TR_EAPP_BASE - TR_EAPP_MAX)
/** The n of a TR_EAPP(n) code. */
#define TR_EAPP_NUM(code) (TR_EAPP_BASE - (code))

/** A sentence describing `code` (0, TR_E* or TR_EAPP(n)); never NULL.
 * Thread-safe. For a TR_EAPP code the text is in a per-thread buffer, valid
 * until this thread's next tr_strerror. */
TR_API const char *tr_strerror(int code);
/** The symbolic name of `code`, e.g. "TR_ETIMEDOUT" or "TR_EAPP(42)"; never
 * NULL. For a TR_EAPP code, per thread as tr_strerror. */
TR_API const char *tr_errname(int code);

#ifdef __cplusplus
}
#endif

#endif
