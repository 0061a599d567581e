/* troupe: death watch (Erlang's monitors, Akka's DeathWatch, CAF's
 * down_msg).
 *
 * A watch is on a gateway's target, local or remote. It notifies exactly
 * once, when the target
 *  - terminates: code 0 for an orderly stop, else its termination future's
 *    code (on_start's, on_stop's, tr_endpoint_fail's), with the message;
 *  - becomes unreachable (remote): TR_EUNREACHABLE, the reason in words
 *    (the connection was lost and not re-established within the grace
 *    period, tr_service_config's watch_grace_ns; or it stayed silent past
 *    the heartbeat timeout). A connection re-established within the grace
 *    to the same process keeps the watch armed, with no notification;
 *  - restarted (remote): TR_ERESTARTED, when the connection comes back
 *    within the grace to a new incarnation on the same address (and calls
 *    through gateways bound to the old one fail with TR_ERESTARTED).
 * Watching a target that is already gone notifies at once (still through
 * the watcher's mailbox, never inside the watch call). tr_unwatch cancels.
 *
 * Two kinds of watcher:
 *  - an endpoint (tr_endpoint_watch, from its main thread): fn runs on its
 *    main thread, in a later turn. If the watcher terminates first, its
 *    watches are dropped and fn runs once with self == NULL and down ==
 *    NULL (so it can release `arg`), on whichever thread drops it;
 *  - any thread (tr_gateway_watch): a future completes (code 0: empty
 *    value) or fails with the notification's code and message.
 * Exactly one of: fn with a notification, fn with self == NULL, or nothing
 * after a tr_unwatch that returned 0.
 *
 * A tr_watch handle is optional (pass NULL to fire and forget); one given
 * out is reference-counted: release it with tr_watch_release. */
#ifndef TROUPE_WATCH_H
#define TROUPE_WATCH_H

#include "troupe/endpoint.h"
#include "troupe/export.h"
#include "troupe/future.h"
#include "troupe/gateway.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A watch (opaque): one notification, then it is done. */
typedef struct tr_watch tr_watch;

/** What a watch reports. Valid during the callback only. */
typedef struct tr_down {
    int code;            /**< 0, the termination code, TR_EUNREACHABLE, TR_ERESTARTED,
                              TR_ESTOPPED */
    const char *reason;  /**< a sentence, never NULL */
    const char *address; /**< the watched target's address (S30) */
} tr_down;

/** down == NULL (and self == NULL): the watcher went first. */
typedef void tr_watch_fn(tr_endpoint *self, void *state, const tr_down *down, void *arg);

/** From `self`'s main thread: watch `target`'s endpoint; fn runs once on
 * self's main thread. On 0 with out non-NULL, *out is a handle the caller
 * owns. Errors: TR_EINVAL (off the main thread, NULL), TR_ESTOPPED,
 * TR_ENOMEM; then fn never runs. */
TR_API int tr_endpoint_watch(tr_endpoint *self, tr_gateway *target, tr_watch_fn *fn, void *arg,
                             tr_watch **out);

/** From any thread: *fut completes once (see the top); on 0 the caller owns
 * *fut, and *out when given. Errors: TR_EINVAL, TR_ESTOPPED, TR_ENOMEM. */
TR_API int tr_gateway_watch(tr_gateway *target, tr_future **fut, tr_watch **out);

/** Cancels: 0 when no notification will be seen (a future watch's future
 * fails with TR_ECANCELED), TR_EBUSY when it was already delivered.
 * An endpoint's watch: from that endpoint's main thread (else TR_EINVAL);
 * a notification already on its way is then suppressed. Remote: the
 * remote side is told (UNWATCH). Does not release the handle. */
TR_API int tr_unwatch(tr_watch *w);

TR_API void tr_watch_release(tr_watch *w);

/** Live watch records of a service (its own, watched or watching): for
 * leak checks. Any thread. */
TR_API uint64_t tr_service_live_watches(const tr_service *svc);

#ifdef __cplusplus
}
#endif

#endif
