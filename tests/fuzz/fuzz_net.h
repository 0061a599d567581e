/* What the socket-fed fuzz targets share: a tnode endpoint whose handlers
 * answer at once, the frames of a valid handshake, and a bounded drain.
 * Loopback only (127.0.0.1). */
#ifndef TR_FUZZ_NET_H
#define TR_FUZZ_NET_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remote/frame.h"
#include "tnode.h"
#include "troupe/troupe.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static int fz_echo(tr_endpoint *self, void *state, const tr_bytes *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return tnode_echo_reply(reply, arg);
}
static int fz_ping(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return tnode_ping_reply(reply, arg);
}
static int fz_sink(tr_endpoint *self, void *state, const tr_bytes *arg)
{
    (void)self, (void)arg;
    ++*(uint64_t *)state;
    return 0;
}
static int fz_count(tr_endpoint *self, void *state, const tr_u64 *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    tr_u64 n = *(uint64_t *)state;
    return tnode_count_reply(reply, &n);
}
static int fz_bytes(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    return tr_reply_fail(reply, TR_EFAILED, "fuzz: no bytes here");
}
static const tnode_handlers fz_handlers = {
    .echo = fz_echo, .ping = fz_ping, .sink = fz_sink, .count = fz_count, .bytes = fz_bytes};

/* A started "node" endpoint on svc. */
static inline tr_endpoint *fz_node(tr_service *svc)
{
    tr_gateway_impl impls[] = {tnode_impl(&fz_handlers)};
    tr_endpoint *ep;
    CHECK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = TNODE_ENDPOINT, .gateways = impls,
                                                      .ngateways = 1, .state_size = 8},
                             &ep) == 0);
    CHECK(tr_endpoint_start(ep) == 0);
    return ep;
}

/* HELLO (client) or HELLO_OK (server) at p; returns its size. */
static inline size_t fz_hello(uint8_t *p, uint8_t type)
{
    tri_frame_put_hdr(p, type, 0, 0, 0, 0, TRI_FRAME_HELLO_BODY);
    tri_hello_put(p + TRI_FRAME_HDR, TRI_PROTOCOL_VERSION, 10u << 20, 0x1234567890abcdefull);
    return TRI_FRAME_HDR + TRI_FRAME_HELLO_BODY;
}

/* RESOLVE of tnode on "node" with correlation id corr. */
static inline size_t fz_resolve(uint8_t *p, uint64_t corr)
{
    tri_resolve r = {TNODE_ENDPOINT, strlen(TNODE_ENDPOINT), "tnode", 5,
                     tri_gateway_fingerprint(&tnode_gateway), (uint16_t)tnode_gateway.nmethods};
    size_t body = tri_resolve_size(r.id_len, r.gateway_len);
    tri_frame_put_hdr(p, TRI_F_RESOLVE, 0, 0, 0, corr, body);
    tri_resolve_put(p + TRI_FRAME_HDR, &r);
    return TRI_FRAME_HDR + body;
}

/* Closing fd resets the connection instead of leaving it in TIME_WAIT:
 * hundreds of thousands of inputs would use up the loopback ports (the
 * campaign's server run failed to connect after 322,000). */
static inline void fz_no_time_wait(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

/* A connection to the server under test, or -1 when the machine gives
 * none within about a second (a full accept backlog or no free port: the
 * harness's environment, not a finding; the caller skips the input, and
 * still_serving-style checks catch a server that stopped accepting). */
static inline int fz_connect(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 200; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            fz_no_time_wait(fd);
            return fd;
        }
        close(fd);
        usleep(5000);
    }
    return -1;
}

/* Reads until the other side closes or `ms` pass with nothing. */
static inline void fz_drain(int fd, int ms)
{
    uint8_t sink[65536];
    for (int rounds = 0; rounds < 10000; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            return;
        ssize_t n = read(fd, sink, sizeof sink);
        if (n <= 0)
            return;
    }
}

/* Writes all of it unless the other side goes away (no SIGPIPE). */
static inline void fz_write(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

#endif
