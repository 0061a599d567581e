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

typedef struct tri_transport {
    int (*tell)(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg);
    /* cb non-NULL: ask_then (out may be NULL); else *out gets the future. */
    int (*ask)(tr_gateway *gw, const tr_method_desc *md, unsigned method, const void *arg,
               int64_t timeout_ns, tr_future_cb *cb, void *cb_arg, tr_future **out);
    const char *(*address)(const tr_gateway *gw);
    void (*close)(tr_gateway *gw);
    /* run_async and friends need the endpoint here: else TR_ENOTLOCAL
     * (S13). */
    bool local;
} tri_transport;

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
    tr_fence_token token;      /* TRI_RF_TOKEN: bound at connect (S33) */
};

/* Writes the fencing data a call through gw carries; returns its size. */
size_t tri_gateway_put_fence(const tr_gateway *gw, uint8_t *p);

/* Connects to the local endpoint `id` (tr_service_connect's local half;
 * token NULL: unfenced). Errors as tr_service_connect. */
int tri_service_connect_local(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              const tr_fence_token *token, tr_gateway **out);

#endif
