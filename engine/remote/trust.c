/* Trust: TLS context, safe-by-default listening, limits (trust.h). */
#include "remote/trust.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/log.h"
#include "remote/address.h"
#include "remote/net.h"
#include "remote/tls.h"
#include "troupe/error.h"

#define DEFAULT_MAX_CONNECTIONS 1024u
#define DEFAULT_MAX_INBOUND_ASKS 100000u
#define DEFAULT_MAX_CONN_BUFFER ((size_t)256 << 20)
#define DEFAULT_HANDSHAKE_NS (10LL * 1000 * 1000 * 1000)

/* True when bind_address resolves to a loopback address (127/8, ::1). */
static bool loopback_only(const char *bind_address)
{
    tri_addr a;
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[160];
    if (tri_addr_parse_hostport(bind_address, &a) ||
        tri_addr_resolve(&a, &sa, &salen, why, sizeof why))
        return true; /* open_listener reports the bad address itself */
    if (sa.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&sa)->sin6_addr);
    return false;
}

int tri_trust_start(tri_net *net, const tr_service_config *cfg, char *why, size_t why_len)
{
    tri_limits *l = &net->limits;
    l->max_connections = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
    l->max_inbound_asks = cfg->max_inbound_asks ? cfg->max_inbound_asks : DEFAULT_MAX_INBOUND_ASKS;
    l->max_conn_buffer = cfg->max_conn_buffer ? cfg->max_conn_buffer : DEFAULT_MAX_CONN_BUFFER;
    l->handshake_timeout_ns = cfg->handshake_timeout_ns > 0 ? cfg->handshake_timeout_ns
                                                            : DEFAULT_HANDSHAKE_NS;
    int rv = tri_tls_ctx_new(cfg, &net->tls, why, why_len);
    if (rv)
        return rv;
    if (cfg->listen && !net->tls && !cfg->allow_insecure && !loopback_only(cfg->bind_address)) {
        snprintf(why, why_len,
                 "refusing to listen on %s without authentication: configure TLS (tls_ca_file, "
                 "tls_cert_file, tls_key_file, or tls_psk; troupe-node --tls-*) or set "
                 "allow_insecure (--allow-insecure) to listen in plaintext anyway",
                 cfg->bind_address);
        tri_tls_ctx_free(net->tls);
        net->tls = NULL;
        return TR_EAUTH;
    }
    if (net->tls)
        TRI_INFO(&net->log, "remote", NULL, "TLS 1.3 by %s on every connection", tri_tls_mode(net->tls));
    return 0;
}

void tri_trust_free(tri_net *net)
{
    tri_tls_ctx_free(net->tls);
    net->tls = NULL;
}

void tri_limit_hit(tri_net *net, enum tri_limit which, const char *fmt, ...)
{
    _Atomic uint64_t *ctr[] = {&net->ctr.refused_connections, &net->ctr.handshake_timeouts,
                               &net->ctr.asks_refused, &net->ctr.buffer_overflows};
    tri_net_add(ctr[which], 1);
    if (net->limits.logged[which])
        return;
    net->limits.logged[which] = true;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    TRI_WARN(&net->log, "remote", NULL, "%s (logged once; tr_remote_stats counts every one)", msg);
}
