/* The remote transport: gateways to endpoints reached through the I/O
 * thread (transport.c). */
#ifndef TRI_REMOTE_TRANSPORT_H
#define TRI_REMOTE_TRANSPORT_H

#include <stddef.h>

#include "remote/address.h"
#include "troupe/gateway.h"

/* Connects to endpoint a->id at a->host:a->port through `desc` (S28):
 * starts the network layer if needed, resolves the host on this thread,
 * then waits (at most the lookup timeout, and a little) while the I/O
 * thread connects, handshakes and resolves. On 0, *out is a remote
 * gateway the caller owns. On error, `why` says what failed. Errors:
 * TR_EVERSION, TR_ENOENDPOINT, TR_EGATEWAY, TR_EUNREACHABLE, TR_EDEADLK
 * (called on the I/O thread itself), TR_ESTOPPED, TR_ENOMEM. */
int tri_remote_connect(tr_service *svc, const tri_addr *a, const tr_gateway_desc *desc,
                       const tr_fence_token *token, tr_gateway **out, char *why, size_t why_len);

#endif
