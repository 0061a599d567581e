/* troupe: error codes.
 *
 * Every fallible function returns 0 or a negative TR_E* code. A call that
 * fails never also runs its callback or completes its future.
 * One X-macro table makes the enum, tr_strerror() and tr_errname(). */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#include "troupe/export.h"

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
    X(EAUTH, "authentication failed (TLS)")

typedef enum tr_error {
    TR_OK = 0,
#define TR_ERR_ENUM_(name, text) TR_##name,
    TR_ERR_FIRST_ = -1000,
    TR_ERRORS(TR_ERR_ENUM_)
#undef TR_ERR_ENUM_
    TR_ERR_END_
} tr_error;

/* A sentence describing `code` (0 or TR_E*); never NULL. Thread-safe. */
TR_API const char *tr_strerror(int code);
/* The symbolic name of `code`, e.g. "TR_ETIMEDOUT"; never NULL. */
TR_API const char *tr_errname(int code);

#endif
