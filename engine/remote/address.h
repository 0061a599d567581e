/* Addresses (S30): "troupe://host:port/<endpoint-id>" for an endpoint in
 * any process, "local://<id>" or a bare id for one in this service, and
 * "host:port" for what a service binds to.
 *
 * host is an IPv4 address, a bracketed IPv6 address ("[::1]") or a name
 * the resolver knows (getaddrinfo: /etc/hosts, DNS); port is decimal,
 * 1-65535 in a remote address, 0-65535 for a bind address (0: any free
 * port). Parsing is pure; resolving may block in getaddrinfo, so callers
 * do it on their own thread, never the I/O thread. */
#ifndef TRI_REMOTE_ADDRESS_H
#define TRI_REMOTE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "troupe/endpoint.h"

#define TRI_REMOTE_SCHEME "troupe://"
#define TRI_HOST_MAX 255

typedef struct tri_addr {
    char host[TRI_HOST_MAX + 1]; /* without brackets */
    bool v6_literal;             /* was bracketed */
    uint16_t port;
    const char *id;              /* into the parsed string; NULL for host:port */
} tri_addr;

/* True for "troupe://..." (a remote address, possibly of this service). */
bool tri_addr_is_remote(const char *s);

/* Parses "troupe://host:port/id" (the id: 1 to TR_ENDPOINT_ID_MAX bytes,
 * any but NUL). 0 or TR_EADDR. */
int tri_addr_parse_remote(const char *s, tri_addr *out);

/* Parses "host:port" (port 0 allowed). 0 or TR_EADDR. */
int tri_addr_parse_hostport(const char *s, tri_addr *out);

/* "host:port" with brackets for IPv6 literals. */
void tri_addr_format_hostport(const tri_addr *a, char *buf, size_t len);

/* Resolves host:port to a socket address (the first the resolver gives,
 * IPv4 or IPv6). 0, or TR_EUNREACHABLE with the reason in why. */
int tri_addr_resolve(const tri_addr *a, struct sockaddr_storage *sa, socklen_t *salen, char *why,
                     size_t why_len);

/* "127.0.0.1:5000" / "[::1]:5000" of a socket address. */
void tri_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len);

#endif
