/* What the remote tests share: the RPC tests' gateway and endpoint (tcalc,
 * rpc/rpc_common.h) served by one service over loopback and called from
 * another, plus small helpers for addresses and raw sockets.
 *
 * Every wait is bounded (WAIT_NS, TC_ASSERT_EVENTUALLY); every test runs
 * under a Criterion .timeout. */
#ifndef TR_TESTS_REMOTE_COMMON_H
#define TR_TESTS_REMOTE_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/rpc_common.h"

/* A service listening on 127.0.0.1 (any free port). */
static inline tr_service *r_server(unsigned workers, size_t max_frame)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = workers;
    cfg.listen = true;
    if (max_frame)
        cfg.max_frame_size = max_frame;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* A service that only calls out (its I/O thread starts at the first
 * remote connect). */
static inline tr_service *r_client(unsigned workers, size_t max_frame, int64_t lookup_timeout_ns)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = workers;
    if (max_frame)
        cfg.max_frame_size = max_frame;
    if (lookup_timeout_ns)
        cfg.lookup_timeout_ns = lookup_timeout_ns;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* "troupe://127.0.0.1:<port>/<id>" of an endpoint on `server`. */
static inline const char *r_addr(tr_service *server, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "troupe://127.0.0.1:%u/%s", (unsigned)tr_service_port(server), id);
    return buf;
}

static inline tr_gateway *r_connect(tr_service *client, tr_service *server, const char *id)
{
    char a[128];
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, r_addr(server, id, a, sizeof a), &tcalc_gateway, &gw);
    TC_ASSERT_MSG(rv == 0, "connect %s: %s: %s", a, tr_errname(rv), tr_service_connect_error());
    return gw;
}

static inline tr_remote_stats r_stats(tr_service *svc)
{
    tr_remote_stats st;
    tr_service_remote_stats(svc, &st);
    return st;
}

/* ---- raw sockets, for fake peers and malformed frames ------------------------------ */

/* A blocking TCP connection to 127.0.0.1:port (TC_FAIL on error). */
static inline int r_dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TC_ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TC_ASSERT_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s",
                  strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A listening socket on 127.0.0.1, any port; its port in *port. */
static inline int r_listen(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TC_ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TC_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    TC_ASSERT(listen(fd, 16) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static inline void r_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return; /* the other side closed: the caller checks for that */
        c += k;
        n -= (size_t)k;
    }
}

/* Reads exactly n bytes within timeout_ms; the count read (less: closed
 * or timed out). */
static inline size_t r_read_n(int fd, void *p, size_t n, unsigned timeout_ms)
{
    size_t got = 0;
    uint64_t dl = tc_deadline_ms(timeout_ms);
    while (got < n) {
        uint64_t now = tc_now_ns();
        if (now >= dl)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)((dl - now) / 1000000) + 1) <= 0)
            continue;
        ssize_t k = recv(fd, (char *)p + got, n - got, 0);
        if (k == 0)
            break;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            break;
        }
        got += (size_t)k;
    }
    return got;
}

/* True when the other side closes fd within timeout_ms (reading and
 * discarding whatever it still sends). */
static inline bool r_closed_by_peer(int fd, unsigned timeout_ms)
{
    char buf[4096];
    uint64_t dl = tc_deadline_ms(timeout_ms);
    for (;;) {
        uint64_t now = tc_now_ns();
        if (now >= dl)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)((dl - now) / 1000000) + 1) <= 0)
            continue;
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return true;
    }
}

/* ---- frames by hand, as PROTOCOL.md lays them out ----------------------------------- */

static inline size_t r_put_hdr(uint8_t *p, uint8_t type, uint8_t flags, uint16_t method,
                               uint32_t target, uint64_t corr, size_t body)
{
    uint32_t len = (uint32_t)(16 + body);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(len >> (8 * i));
    p[4] = type;
    p[5] = flags;
    p[6] = (uint8_t)method;
    p[7] = (uint8_t)(method >> 8);
    for (int i = 0; i < 4; i++)
        p[8 + i] = (uint8_t)(target >> (8 * i));
    for (int i = 0; i < 8; i++)
        p[12 + i] = (uint8_t)(corr >> (8 * i));
    return 20;
}

/* HELLO (type 1) with the given version: 32 bytes at p. */
/* A HELLO / HELLO_OK frame: 40 bytes since version 2 (the incarnation
 * follows the max frame size). */
#define R_HELLO_LEN 40
#define R_TEST_INCARNATION 0x0123456789abcdefull
static inline size_t r_hello(uint8_t *p, uint8_t type, uint16_t version)
{
    size_t n = r_put_hdr(p, type, 0, 0, 0, 0, 20);
    memcpy(p + n, "TRPE", 4);
    p[n + 4] = (uint8_t)version;
    p[n + 5] = (uint8_t)(version >> 8);
    p[n + 6] = p[n + 7] = 0;
    uint32_t mf = 10u << 20;
    for (int i = 0; i < 4; i++)
        p[n + 8 + i] = (uint8_t)(mf >> (8 * i));
    for (int i = 0; i < 8; i++)
        p[n + 12 + i] = (uint8_t)(R_TEST_INCARNATION >> (8 * i));
    return n + 20;
}

#endif
