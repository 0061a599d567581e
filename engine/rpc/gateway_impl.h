/* The gateway handle's layout and its transport table.
 *
 * A gateway is immutable after connect (any thread may call through it);
 * only its reference count changes. The transport is how calls reach the
 * endpoint: local (a mailbox push, gateway.c) or remote (the I/O thread's
 * queue, remote/transport.c). */
#ifndef TRI_RPC_GATEWAY_IMPL_H
#define TRI_RPC_GATEWAY_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/endpoint_impl.h"
#include "troupe/gateway.h"
#include "rpc/wire.h"


struct tr_gateway {
    const tri_transport *tp;
    tr_service *svc;
    tr_endpoint *ep;           /* local: a reference */
    void *remote;              /* remote: the transport's target */
    const tr_gateway_desc *desc;
    _Atomic uint32_t refs;
    uint8_t impl_index;        /* the desc's index in the endpoint's list */
    uint8_t fence;             /* 0, TRI_RF_TOKEN or TRI_RF_EPOCH (self) */
    bool encode;               /* S22: the service forces serialization */
    bool plain;                /* local, unfenced, not encoded: a flat
                                  argument's tell is a copy into a message */
    tr_fence_token token;      /* TRI_RF_TOKEN: bound at connect (S33) */
};

/* Writes the fencing data a call through gw carries; returns its size. */
size_t tri_gateway_put_fence(const tr_gateway *gw, uint8_t *p);

/* Connects to the local endpoint `id` (tr_service_connect's local half;
 * token NULL: unfenced). Errors as tr_service_connect. */
int tri_service_connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              const tr_fence_token *token, tr_gateway **out);

#endif
