/* Addresses: parsing, formatting, resolving (address.h). */
#include "remote/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"

bool tri_addr_is_remote(const char *s)
{
    return s && strncmp(s, TRI_REMOTE_SCHEME, strlen(TRI_REMOTE_SCHEME)) == 0;
}

/* Parses host:port at s (up to `end`), port 0 allowed when zero_ok. */
static int parse_hostport(const char *s, const char *end, bool zero_ok, tri_addr *out)
{
    const char *colon;
    out->v6_literal = false;
    if (s < end && *s == '[') {
        const char *close = memchr(s, ']', (size_t)(end - s));
        if (!close || close == s + 1 || close + 1 >= end || close[1] != ':')
            return TR_EADDR;
        if ((size_t)(close - s - 1) > TRI_HOST_MAX)
            return TR_EADDR;
        memcpy(out->host, s + 1, (size_t)(close - s - 1));
        out->host[close - s - 1] = '\0';
        out->v6_literal = true;
        colon = close + 1;
    } else {
        colon = NULL;
        for (const char *p = s; p < end; p++)
            if (*p == ':')
                colon = p;
        if (!colon || colon == s || (size_t)(colon - s) > TRI_HOST_MAX)
            return TR_EADDR;
        for (const char *p = s; p < colon; p++)
            if (*p == ':' || *p == '/' || *p == '[' || *p == ']' || *p <= ' ')
                return TR_EADDR;
        memcpy(out->host, s, (size_t)(colon - s));
        out->host[colon - s] = '\0';
    }
    const char *digits = colon + 1;
    if (digits >= end || end - digits > 5)
        return TR_EADDR;
    unsigned long port = 0;
    for (const char *p = digits; p < end; p++) {
        if (*p < '0' || *p > '9')
            return TR_EADDR;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535 || (port == 0 && !zero_ok))
        return TR_EADDR;
    out->port = (uint16_t)port;
    return 0;
}

int tri_addr_parse_remote(const char *s, tri_addr *out)
{
    if (!tri_addr_is_remote(s))
        return TR_EADDR;
    const char *hp = s + strlen(TRI_REMOTE_SCHEME);
    const char *slash = strchr(hp, '/');
    /* IPv6 literals hold no '/', so the first one ends host:port. */
    if (!slash || parse_hostport(hp, slash, false, out))
        return TR_EADDR;
    out->id = slash + 1;
    size_t n = strlen(out->id);
    if (n == 0 || n > TR_ENDPOINT_ID_MAX)
        return TR_EADDR;
    return 0;
}

int tri_addr_parse_hostport(const char *s, tri_addr *out)
{
    if (!s)
        return TR_EADDR;
    out->id = NULL;
    return parse_hostport(s, s + strlen(s), true, out);
}

void tri_addr_format_hostport(const tri_addr *a, char *buf, size_t len)
{
    snprintf(buf, len, a->v6_literal ? "[%s]:%u" : "%s:%u", a->host, (unsigned)a->port);
}

int tri_addr_resolve(const tri_addr *a, struct sockaddr_storage *sa, socklen_t *salen, char *why,
                     size_t why_len)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)a->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (a->v6_literal ? AI_NUMERICHOST : 0)};
    struct addrinfo *res = NULL;
    int rv = getaddrinfo(a->host, port, &hints, &res);
    if (rv || !res) {
        snprintf(why, why_len, "cannot resolve host \"%s\": %s", a->host,
                 rv ? gai_strerror(rv) : "no address");
        if (res)
            freeaddrinfo(res);
        return TR_EUNREACHABLE;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void tri_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}
