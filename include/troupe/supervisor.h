/* troupe: supervisors, in the OTP manner.
 *
 * A supervisor is an endpoint that owns child specifications, starts the
 * children in order, watches them (watch.h) and restarts them by policy:
 *   TR_PERMANENT   always restarted
 *   TR_TRANSIENT   restarted when it terminated abnormally (code != 0)
 *   TR_TEMPORARY   never restarted
 * Strategy, when a child is to be restarted:
 *   TR_ONE_FOR_ONE  only that child
 *   TR_ONE_FOR_ALL  every child is terminated (last first), then all are
 *                   started again in order
 *   TR_REST_FOR_ONE the child and those after it in the list
 * A restart waits a backoff (doubling per restart of that child within the
 * period, up to max_backoff_ns). Intensity: more than max_restarts
 * restarts within period_ns and the supervisor gives up: it terminates its
 * children and fails (TR_EFAILED, "restart intensity exceeded ..."), so
 * its own watchers and its own supervisor learn it (nesting: a child's
 * create may make a supervisor). A restarted child keeps its id, so
 * addresses and ids stay valid (S6: the old endpoint's id is free once it
 * terminated); gateways bound to the old endpoint fail with
 * TR_EUNREACHABLE and are re-made with tr_service_connect.
 * Without a supervisor nothing is restarted and a failure takes down only
 * the endpoint that failed (S8).
 *
 * Terminating the supervisor terminates its children, last first; its
 * termination future completes after theirs. */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/codec.h"
#include "troupe/endpoint.h"
#include "troupe/gateway.h"
#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** When a child is restarted: always, after a failure only, never. */
typedef enum tr_restart { TR_PERMANENT, TR_TRANSIENT, TR_TEMPORARY } tr_restart;
/** Which children a failure restarts: the one, all, the one and those after it. */
typedef enum tr_strategy { TR_ONE_FOR_ONE, TR_ONE_FOR_ALL, TR_REST_FOR_ONE } tr_strategy;

/** How to make one child of a supervisor. */
typedef struct tr_child_spec {
    /** The child's endpoint id, the same at every restart. Copied. */
    const char *id;
    /** Creates the child under `id` (tr_endpoint_create, or
     * tr_supervisor_create for a nested supervisor); the supervisor
     * starts it and takes the handle. Runs on the supervisor's main
     * thread. A negative return counts as a failed start (a restart
     * attempt, subject to the intensity). */
    int (*create)(tr_service *svc, const char *id, void *arg, tr_endpoint **out);
    void *arg;           /**< passed to create */
    tr_restart restart;  /**< permanent, transient or temporary */
} tr_child_spec;

/** The most children one supervisor owns. */
#define TR_SUPERVISOR_CHILDREN_MAX 64

/** A supervisor: its children, strategy, intensity and backoff. */
typedef struct tr_supervisor_opts {
    const char *id;                  /**< NULL: generated */
    tr_strategy strategy;            /**< one_for_one, one_for_all or rest_for_one */
    const tr_child_spec *children;   /**< copied */
    size_t nchildren;                /**< at most TR_SUPERVISOR_CHILDREN_MAX */
    unsigned max_restarts;           /**< R; 0: 3 */
    int64_t period_ns;               /**< T; 0: 5 s */
    int64_t backoff_ns;              /**< first restart delay; 0: 10 ms; < 0: none */
    int64_t max_backoff_ns;          /**< 0: 1 s */
} tr_supervisor_opts;

/** Creates and starts a supervisor (its children start on its main thread,
 * in order). On 0, *out is a handle the caller owns. Errors as
 * tr_endpoint_create. Any thread. */
TR_API int tr_supervisor_create(tr_service *svc, const tr_supervisor_opts *opts,
                                tr_endpoint **out);

/** The supervisor's own gateway: tr_supervisor_query(gw, NULL, timeout,
 * &fut) answers restarts so far and the children running now
 * (tr_supervisor_query_result). */
TR_API extern const tr_type tr_supervisor_counts__type;
TR_API extern const tr_gateway_desc tr_supervisor_gateway;
#define TR_SUPERVISOR_COUNTS_FIELDS(F) F(tr_u64, restarts) F(tr_u64, running)
TR_STRUCT(tr_supervisor_counts, TR_SUPERVISOR_COUNTS_FIELDS)
#define TR_SUPERVISOR_METHODS(M) M(tr_supervisor, query, tr_void, tr_supervisor_counts, ASK)
TR_GATEWAY(tr_supervisor, TR_SUPERVISOR_METHODS)

#ifdef __cplusplus
}
#endif

#endif
