/* Trust at the network layer: TLS (tls.h), the refusal to listen beyond
 * loopback without it, and the limits against abusive clients. Each
 * limit is configurable (tr_service_config), counted (tr_remote_stats)
 * and logged once per service, at its first hit.
 *
 *   limit                 default   on a hit
 *   max_connections       1024      the new connection is closed (plaintext:
 *                                   after a CLOSE with TR_EBUSY saying why)
 *   handshake_timeout_ns  10 s      a connection without HELLO is closed
 *   max_inbound_asks      100000    the ask is answered TR_EBUSY at once
 *   max_conn_buffer       256 MiB   a client not reading its answers is closed
 *
 * I/O thread, except tri_trust_start (net start, before it runs). */
#ifndef TRI_REMOTE_TRUST_H
#define TRI_REMOTE_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/service.h"

typedef struct tri_net tri_net;

enum tri_limit { TRI_LIM_CONNECTIONS, TRI_LIM_HANDSHAKE, TRI_LIM_ASKS, TRI_LIM_BUFFER, TRI_LIM_END_ };

typedef struct tri_limits {
    unsigned max_connections;
    unsigned max_inbound_asks;
    size_t max_conn_buffer;
    int64_t handshake_timeout_ns;
    bool logged[TRI_LIM_END_]; /* each limit's first hit is logged, later ones counted */
} tri_limits;

/* At net start: the limits, the TLS context (net->tls), and the check
 * that a listener beyond loopback has authentication or allow_insecure.
 * 0, or TR_EAUTH / TR_EINVAL / TR_ENOMEM with why naming the fix. */
int tri_trust_start(tri_net *net, const tr_service_config *cfg, char *why, size_t why_len);
void tri_trust_free(tri_net *net);

/* Counts a limit's hit and logs the first (warning, with `fmt`). */
void tri_limit_hit(tri_net *net, enum tri_limit which, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
