/* The public calls that span the service and its network: creating a
 * service (and its listener), connecting by id or by address, the bound
 * address, the counters (include/troupe/remote.h).
 *
 * They live in this top layer so that rpc/ never calls upward: rpc/ makes
 * the service and local gateways; this file adds the network where the
 * configuration or the address asks for it. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "remote/address.h"
#include "remote/introspect.h"
#include "remote/net.h"
#include "remote/transport.h"
#include "rpc/wire.h"
#include "troupe/error.h"
#include "troupe/remote.h"

/* Per thread, as errno: a connect's message for tr_service_connect_error,
 * a create's for tr_service_create_error (there is no service to hold it). */
static _Thread_local char connect_error[600];
static _Thread_local char create_error[400];

const char *tr_service_connect_error(void) { return connect_error; }

const char *tr_service_create_error(void) { return create_error; }

int tr_service_create(const tr_service_config *cfg, tr_service **out)
{
    int rv = tri_wire_service_create(cfg, out, create_error, sizeof create_error);
    if (rv || !tri_wire_config(*out)->listen)
        return rv;
    tri_net *net;
    char why[300];
    rv = tri_net_start(*out, &net, why, sizeof why);
    if (rv) {
        snprintf(create_error, sizeof create_error,
                 "cannot start the service's network layer: %s", why);
        TRI_ERROR(tri_wire_logger(*out), "remote", NULL, "%s", create_error);
        tr_service_destroy(*out);
        *out = NULL;
        return rv;
    }
    if (!tri_wire_config(*out)->introspection_off && (rv = tri_introspect_start(*out))) {
        snprintf(create_error, sizeof create_error,
                 "cannot start the introspection endpoint %s: %s", TR_INTROSPECT_ID,
                 tr_strerror(rv));
        TRI_ERROR(tri_wire_logger(*out), "remote", NULL, "%s", create_error);
        tr_service_destroy(*out);
        *out = NULL;
    }
    return rv;
}

/* True when `a` names this service's own listener (then the endpoint is
 * local: never serialized, S22). */
static bool is_self(const tr_service *svc, const tri_addr *a)
{
    tri_net *net = tri_net_of(svc);
    if (!net || !net->bound[0])
        return false;
    char hp[sizeof net->bound + 8];
    tri_addr_format_hostport(a, hp, sizeof hp);
    return strcmp(hp, net->bound) == 0;
}

static int connect_any(tr_service *svc, const char *address, const tr_gateway_desc *desc,
                       const tr_fence_token *token, tr_gateway **out)
{
    connect_error[0] = '\0';
    if (!svc || !address || !desc || !out)
        return TR_EINVAL;
    int rv;
    if (tri_addr_is_remote(address)) {
        tri_addr a;
        if (tri_addr_parse_remote(address, &a)) {
            snprintf(connect_error, sizeof connect_error,
                     "malformed address \"%s\" (expected troupe://host:port/<endpoint-id>)",
                     address);
            return TR_EADDR;
        }
        if (is_self(svc, &a)) {
            rv = tri_wire_connect_local(svc, a.id, desc, token, out);
        } else {
            if ((rv = tri_wire_service_open(svc)))
                return rv;
            rv = tri_remote_connect(svc, &a, desc, token, out, connect_error,
                                    sizeof connect_error);
            if (rv)
                TRI_DEBUG(tri_wire_logger(svc), "remote", NULL, "connect to %s failed: %s", address,
                          connect_error);
            return rv;
        }
    } else {
        const char *id = address;
        if (!strncmp(id, TRI_WIRE_LOCAL_SCHEME, strlen(TRI_WIRE_LOCAL_SCHEME)))
            id += strlen(TRI_WIRE_LOCAL_SCHEME);
        rv = tri_wire_connect_local(svc, id, desc, token, out);
    }
    if (rv == TR_ENOENDPOINT)
        snprintf(connect_error, sizeof connect_error, "no endpoint \"%s\" in this service",
                 address);
    else if (rv == TR_EGATEWAY)
        snprintf(connect_error, sizeof connect_error,
                 "endpoint \"%s\" does not implement gateway %s", address, desc->name);
    return rv;
}

int tr_service_connect(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                       tr_gateway **out)
{
    return connect_any(svc, id, desc, NULL, out);
}

int tr_service_connect_fenced(tr_service *svc, const char *id, const tr_gateway_desc *desc,
                              const tr_fence_token *token, tr_gateway **out)
{
    if (!token)
        return TR_EINVAL;
    return connect_any(svc, id, desc, token, out);
}

int tr_service_listen_address(const tr_service *svc, char *buf, size_t len)
{
    if (!svc || !buf)
        return TR_EINVAL;
    tri_net *net = tri_net_of(svc);
    if (!net || !net->bound[0])
        return TR_ENOENDPOINT;
    size_t n = strlen(net->bound);
    if (n + 1 > len)
        return TR_EINVAL;
    memcpy(buf, net->bound, n + 1);
    return 0;
}

uint16_t tr_service_port(const tr_service *svc)
{
    tri_net *net = svc ? tri_net_of(svc) : NULL;
    return net ? net->port : 0;
}

void tr_service_remote_stats(const tr_service *svc, tr_remote_stats *out)
{
    memset(out, 0, sizeof *out);
    tri_net *net = svc ? tri_net_of(svc) : NULL;
    if (!net)
        return;
    const tri_net_counters *c = &net->ctr;
#define GET(f) atomic_load_explicit(&c->f, memory_order_relaxed) /* snapshots */
    out->frames_sent = GET(frames_sent);
    out->frames_received = GET(frames_received);
    out->bytes_sent = GET(bytes_sent);
    out->bytes_received = GET(bytes_received);
    out->writes = GET(writes);
    out->reads = GET(reads);
    out->oversized_requests = atomic_load_explicit(&net->oversized_requests, memory_order_relaxed);
    out->oversized_replies = GET(oversized_replies);
    out->oversized_incoming = GET(oversized_incoming);
    out->last_request_size = GET(last_request_size);
    out->last_reply_size = GET(last_reply_size);
    out->last_received_size = GET(last_received_size);
    out->largest_sent = GET(largest_sent);
    out->largest_received = GET(largest_received);
    out->connections_opened = GET(connections_opened);
    out->connections_accepted = GET(connections_accepted);
    out->connections_lost = GET(connections_lost);
    out->malformed = GET(malformed);
    out->late_replies = GET(late_replies);
    out->tells_dropped = GET(tells_dropped);
    out->inbound_open = GET(inbound_open);
    out->refused_connections = GET(refused_connections);
    out->handshake_timeouts = GET(handshake_timeouts);
    out->asks_refused = GET(asks_refused);
    out->buffer_overflows = GET(buffer_overflows);
    out->outbound_open = GET(outbound_open);
    out->asks_pending = GET(asks_pending);
#undef GET
    pthread_mutex_lock(&((tri_net *)net)->err_lock);
    snprintf(out->last_error, sizeof out->last_error, "%s", net->last_error);
    pthread_mutex_unlock(&((tri_net *)net)->err_lock);
}
