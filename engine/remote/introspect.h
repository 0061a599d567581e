/* The introspection gateway: what every listening service answers at
 * endpoint TR_INTROSPECT_ID ("$troupe", troupe/metrics.h) unless its
 * configuration sets introspection_off. Read-only: every method reports,
 * none changes anything. The `troupe` command (tools/troupe/) is its
 * client; any other client may declare the same gateway.
 *
 * Every method but ping takes a query and answers text: format "json"
 * (one JSON object) or "tsv" (sections: a "# name" line, a header line of
 * tab-separated column names, rows, a blank line), or for metrics the
 * Prometheus text. `endpoint` names one endpoint (endpoint_stats only).
 *
 * Why here, in the top layer: it reports the network's connections and
 * I/O counters as well as the endpoints and the scheduler, and it is made
 * where listening starts (tr_service_create, node.c). It uses only public
 * calls and rpc/wire.h, as the rest of remote/ does. */
#ifndef TRI_REMOTE_INTROSPECT_H
#define TRI_REMOTE_INTROSPECT_H

#include "troupe/troupe.h"

#define TROUPE_Q_FIELDS(F) F(tr_str, format) F(tr_str, endpoint)
TR_STRUCT(troupe_q, TROUPE_Q_FIELDS)

#define TROUPE_INTROSPECT_METHODS(M)                                   \
    M(troupe_introspect, ping, tr_i64, tr_i64, ASK)                    \
    M(troupe_introspect, node, troupe_q, tr_str, ASK)                  \
    M(troupe_introspect, endpoints, troupe_q, tr_str, ASK)             \
    M(troupe_introspect, endpoint_stats, troupe_q, tr_str, ASK)        \
    M(troupe_introspect, connections, troupe_q, tr_str, ASK)           \
    M(troupe_introspect, metrics, troupe_q, tr_str, ASK)
TR_GATEWAY(troupe_introspect, TROUPE_INTROSPECT_METHODS)

/* Creates and starts svc's introspection endpoint. Any thread, once, at
 * create. Errors as tr_endpoint_create. */
int tri_introspect_start(tr_service *svc);

#endif
