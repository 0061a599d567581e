/** @file
 * troupe: metrics of endpoints and connections, and their Prometheus text.
 *
 * Every endpoint counts the calls to each of its methods, the mailbox
 * high-water mark, and two latencies per method: queue time (from the
 * send to the start of the handler) and processing time (the handler's
 * own duration). Latencies are kept as log-linear histograms (8 buckets
 * per power of two, so a quantile is at most 12.5% above the true value),
 * never as samples. They are sampled to keep the clock off the hot path:
 * one call in TR_METRICS_SAMPLE per sending thread carries its send time
 * (queue time), and one call in TR_METRICS_SAMPLE of each method is timed
 * (processing time; its first call too, so a quiet method soon has a
 * figure), as is every handler of a stamped call; the mailbox
 * depth is looked at when a handler is timed. Call counts are exact.
 *
 * Every connection counts bytes and frames each way, frames skipped for
 * their size, its round-trip time (from PING/PONG, sent on an outbound
 * connection every TR_METRICS_PING_NS), and for an outbound one how many
 * connections to that peer came before it (reconnects).
 *
 * Reading any of it is safe from any thread at any time: each figure is
 * exact when read; a snapshot as a whole is not atomic. Nothing here
 * costs anything while nobody reads. */
#ifndef TROUPE_METRICS_H
#define TROUPE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/buf.h"
#include "troupe/endpoint.h"
#include "troupe/export.h"
#include "troupe/service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One call in this many is timed (a power of two): each timed call reads
 * the clock two or three times and the mailbox depth once, about 60 ns
 * here, so 1 in 256 keeps that near 0.3 ns a call. */
#define TR_METRICS_SAMPLE 256
/** An open outbound connection sends a PING this often (round-trip time). */
#define TR_METRICS_PING_NS (1000LL * 1000 * 1000)
/** Endpoint ids starting with this are troupe's own (the introspection
 * endpoint); tr_endpoint_create refuses them with TR_EINVAL. */
#define TR_RESERVED_ID_PREFIX '$'
/** The id of the introspection endpoint every listening service has
 * (unless tr_service_config.introspection_off). */
#define TR_INTROSPECT_ID "$troupe"

/** A latency distribution in nanoseconds (0s when nothing was sampled). */
typedef struct tr_latency {
    uint64_t count;  /**< samples */
    uint64_t sum_ns; /**< their sum */
    uint64_t p50_ns; /**< median (a bucket's upper bound, never above max) */
    uint64_t p90_ns; /**< 90th percentile */
    uint64_t p99_ns; /**< 99th percentile */
    uint64_t max_ns; /**< the largest sample */
} tr_latency;

/** One method of one of an endpoint's gateways. */
typedef struct tr_method_metrics {
    const char *gateway;  /**< the gateway's declared name (static) */
    const char *method;   /**< the method's declared name (static) */
    uint64_t calls;       /**< handler calls (exact), counted as each starts */
    uint64_t errors;      /**< of those, returned an error, counted as each returns */
    tr_latency queue;      /**< send to handler start (sampled) */
    tr_latency processing; /**< handler duration (sampled) */
} tr_method_metrics;

/** The methods of all the endpoint's gateways, in declaration order. */
TR_API size_t tr_endpoint_method_count(const tr_endpoint *ep);
/** Method `i` (< tr_endpoint_method_count). Any thread. 0 or TR_EINVAL. */
TR_API int tr_endpoint_method_metrics(const tr_endpoint *ep, size_t i, tr_method_metrics *out);
/** The most messages seen waiting in the mailbox (sampled, see the top). */
TR_API uint64_t tr_endpoint_mailbox_hwm(const tr_endpoint *ep);

/** What an endpoint is, for listing. Strings point into the endpoint
 * (valid while it is held, or during tr_service_foreach_endpoint's call). */
typedef struct tr_endpoint_info {
    const char *id;          /**< its id */
    const char *address;     /**< tr_endpoint_address */
    const char *state;       /**< "created", "started", "stopping" or "terminated" */
    bool fenced;             /**< opts.fenced */
    unsigned ngateways;      /**< gateways it implements */
    const char *gateways[16]; /**< their names */
} tr_endpoint_info;

/** Fills *out. Any thread. */
TR_API void tr_endpoint_description(const tr_endpoint *ep, tr_endpoint_info *out);

/** Called for each endpoint; a non-zero return stops the walk. */
typedef int tr_endpoint_visit(tr_endpoint *ep, void *arg);
/** Calls fn for every endpoint of svc not yet freed (newest first), under
 * the service's endpoint-list lock: fn must not create, release or wait
 * for endpoints. Returns what fn returned last (0 when it never stopped). */
TR_API int tr_service_foreach_endpoint(tr_service *svc, tr_endpoint_visit *fn, void *arg);

/** One connection of a service's network layer. */
typedef struct tr_conn_metrics {
    uint64_t id;               /**< the connection's id in its service */
    char peer[64];             /**< the other side, "host:port" */
    bool outbound;             /**< this service connected (else accepted) */
    bool open;                 /**< the handshake is done */
    uint64_t bytes_sent;       /**< bytes written */
    uint64_t bytes_received;   /**< bytes read */
    uint64_t frames_sent;      /**< whole frames written */
    uint64_t frames_received;  /**< whole frames read (skipped ones included) */
    uint64_t oversized;        /**< frames skipped on arrival for their size (S26) */
    uint64_t pings;            /**< PONGs received (round trips measured) */
    uint64_t rtt_ns;           /**< the latest PING/PONG round trip, 0 before one */
    uint64_t rtt_max_ns;       /**< the longest */
    uint64_t reconnects;       /**< outbound: connections to this peer before this one */
    uint64_t age_ns;           /**< since it was made */
    uint64_t buffer_bytes;     /**< memory its read and write buffers hold now */
} tr_conn_metrics;

/** Copies up to `max` connections into out and returns how many there
 * are (0 when the network layer never started). Any thread. */
TR_API size_t tr_service_connections(tr_service *svc, tr_conn_metrics *out, size_t max);

/** Appends the service's metrics to `out` in the Prometheus text
 * exposition format (version 0.0.4): scheduler and network counters,
 * per-endpoint and per-method figures (latencies as summaries with
 * quantiles 0.5, 0.9, 0.99, plus a _max gauge), per-connection figures.
 * Any thread; it takes the endpoint-list lock while it walks.
 * 0, TR_EINVAL or TR_ENOMEM. */
TR_API int tr_service_metrics_write(tr_service *svc, tr_buf *out);

#ifdef __cplusplus
}
#endif

#endif
