/** @file
 * troupe: remote endpoints (S24-S30, S34-S36).
 *
 * A service reaches endpoints in other processes, on this machine or
 * another, through the same gateways as local ones:
 *
 *     tr_gateway *gw;
 *     tr_service_connect(svc, "troupe://127.0.0.1:4711/calc", &calc_gateway, &gw);
 *     calc_add(gw, &(calc_pair){1, 2}, 0, &fut);   // as for a local endpoint
 *
 * Addresses are "troupe://host:port/<endpoint-id>" (S30). A service whose
 * configuration sets `listen` binds `bind_address` (default
 * "127.0.0.1:0": any free port on loopback) and its endpoints' addresses
 * become `troupe://<bound host:port>/<id>`. A service that only calls out
 * needs no listener. One I/O thread per service (started at create when
 * listening, else at the first remote connect) owns every socket; a
 * caller's thread only enqueues its call, and the I/O thread encodes it
 * (engine/remote/PROTOCOL.md has the bytes).
 *
 * Remote calls differ from local ones in what can go wrong: frames are at
 * most `max_frame_size` bytes (S23-S27: TR_EFRAMESIZE), a connection can
 * be lost (S34: TR_EUNREACHABLE, the next call reconnects), replies can
 * arrive after their ask timed out (S35: dropped). run_async and friends
 * are local only (S13: TR_ENOTLOCAL).
 *
 * Continuations registered outside any endpoint on a remote ask run on
 * the service's I/O thread (which completes it): keep them short and do
 * not block there. */
#ifndef TROUPE_REMOTE_H
#define TROUPE_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/export.h"
#include "troupe/service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The wire protocol version this library speaks (the handshake checks it,
 * S28). */
#define TR_PROTOCOL_VERSION 2

/** The address the service listens on, "host:port" with the port bound
 * (so a configured port 0 reads back as the one the system chose), copied
 * into buf with its NUL. Any thread. Errors: TR_EINVAL (NULL, or buf too
 * small: nothing written), TR_ENOENDPOINT (the service does not listen). */
TR_API int tr_service_listen_address(const tr_service *svc, char *buf, size_t len);

/** The bound port, or 0 when the service does not listen. Any thread. */
TR_API uint16_t tr_service_port(const tr_service *svc);

/** Why the last failed tr_service_connect / tr_service_connect_fenced on
 * the calling thread failed, in a sentence that names what failed (the
 * versions on TR_EVERSION, the endpoint on TR_ENOENDPOINT, the gateway on
 * TR_EGATEWAY, the host and the timeout on TR_EUNREACHABLE); "" when it
 * said nothing more than its code. Valid until the next connect on this
 * thread. */
TR_API const char *tr_service_connect_error(void);

/** Counters of the service's network layer (S27). Each is exact at the
 * moment it is read; together they are not one atomic snapshot. Sizes are
 * whole frames in bytes, header included. */
typedef struct tr_remote_stats {
    uint64_t frames_sent;               /**< frames written */
    uint64_t frames_received;           /**< frames read */
    uint64_t bytes_sent;                /**< bytes written */
    uint64_t bytes_received;            /**< bytes read */
    uint64_t writes;                    /**< write system calls (frames per call: batching) */
    uint64_t reads;                     /**< read system calls */
    uint64_t oversized_requests;        /**< S24: calls refused before sending */
    uint64_t oversized_replies;         /**< S25: results refused before sending */
    uint64_t oversized_incoming;        /**< S26: frames skipped on arrival */
    uint64_t last_request_size;         /**< the latest TELL or ASK frame, sent or refused */
    uint64_t last_reply_size;           /**< the latest REPLY frame, sent or refused */
    uint64_t last_received_size;        /**< the latest frame that arrived, skipped or not */
    uint64_t largest_sent;              /**< the largest frame written (never above the limit) */
    uint64_t largest_received;          /**< the largest frame buffered (never above the limit) */
    uint64_t connections_opened;        /**< outbound, handshake done */
    uint64_t connections_accepted;      /**< inbound, handshake done */
    uint64_t connections_lost;          /**< closed by a fault (S34, S36), not by us */
    uint64_t malformed;                 /**< connections closed for a malformed frame (S36) */
    uint64_t late_replies;              /**< S35: answers to asks no longer pending */
    uint64_t tells_dropped;             /**< tells lost with their connection, or sent to
                                           an endpoint that had terminated */
    uint64_t inbound_open;              /**< accepted connections open now */
    uint64_t outbound_open;             /**< connections to others open now */
    uint64_t asks_pending;              /**< remote asks waiting for an answer now */
    /** limits against abuse (service.h; each logged once, counted here) */
    uint64_t refused_connections;       /**< over max_connections */
    uint64_t handshake_timeouts;        /**< no HELLO within handshake_timeout_ns */
    uint64_t asks_refused;              /**< over max_inbound_asks on one connection */
    uint64_t buffer_overflows;          /**< connections closed over max_conn_buffer */
    char last_error[160];               /**< the latest protocol error, "" if none */
} tr_remote_stats;

/** Fills *out (zeros when the network layer never started). Any thread. */
TR_API void tr_service_remote_stats(const tr_service *svc, tr_remote_stats *out);

#ifdef __cplusplus
}
#endif

#endif
