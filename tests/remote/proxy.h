/* A TCP proxy for the fault tests: it forwards every connection made to
 * its port to 127.0.0.1:<target>, byte for byte, until told to cut; a cut
 * resets every connection it carries at that moment (both sides see the
 * loss, as when a cable is pulled or a peer dies) and later connections
 * are forwarded again (unless refusing: r_proxy_refuse, then a new
 * connection is reset as soon as it is accepted, as by a host whose
 * service is gone). One thread, poll(2), bounded waits.
 *
 * Plain C and check.h only: the Criterion tests and the TSan stress
 * program both use it. */
#ifndef TR_TESTS_REMOTE_PROXY_H
#define TR_TESTS_REMOTE_PROXY_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/check.h"

#define RP_MAX_PAIRS 16

typedef struct r_proxy {
    int lfd;
    uint16_t port, target;
    pthread_t thread;
    _Atomic int stop;
    _Atomic unsigned cut_req, cut_done; /* cuts asked for / carried out */
    _Atomic unsigned accepted;
    _Atomic int refuse;                 /* reset new connections at once */
    _Atomic unsigned refused;           /* connections reset so */
    int a[RP_MAX_PAIRS], b[RP_MAX_PAIRS]; /* the proxy thread's */
} r_proxy;

static inline int rp_connect_target(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Closes with a reset (SO_LINGER 0): the other end sees ECONNRESET. */
static inline void rp_reset(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static inline void rp_drop(r_proxy *p, int i, bool reset)
{
    if (reset) {
        rp_reset(p->a[i]);
        rp_reset(p->b[i]);
    } else {
        close(p->a[i]);
        close(p->b[i]);
    }
    p->a[i] = p->b[i] = -1;
}

/* Copies what is readable on `from` to `to` (blocking write). False when
 * either side is done. */
static inline bool rp_pump(int from, int to)
{
    char buf[65536];
    ssize_t n = recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0)
        return false;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    for (ssize_t off = 0; off < n;) {
        ssize_t k = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        off += k;
    }
    return true;
}

static inline void *rp_main(void *arg)
{
    r_proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        if (atomic_load(&p->cut_req) != atomic_load(&p->cut_done)) {
            for (int i = 0; i < RP_MAX_PAIRS; i++)
                if (p->a[i] >= 0)
                    rp_drop(p, i, true);
            atomic_fetch_add(&p->cut_done, 1);
        }
        struct pollfd pf[1 + 2 * RP_MAX_PAIRS];
        int idx[1 + 2 * RP_MAX_PAIRS], n = 0;
        pf[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        idx[n++] = -1;
        for (int i = 0; i < RP_MAX_PAIRS; i++) {
            if (p->a[i] < 0)
                continue;
            pf[n] = (struct pollfd){.fd = p->a[i], .events = POLLIN};
            idx[n++] = i;
            pf[n] = (struct pollfd){.fd = p->b[i], .events = POLLIN};
            idx[n++] = i + RP_MAX_PAIRS;
        }
        if (poll(pf, (nfds_t)n, 5) <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (!pf[k].revents)
                continue;
            if (idx[k] < 0) {
                int c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                    continue;
                if (atomic_load(&p->refuse)) {
                    rp_reset(c);
                    atomic_fetch_add(&p->refused, 1);
                    continue;
                }
                int one = 1;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                int t = rp_connect_target(p->target);
                int slot = -1;
                for (int i = 0; i < RP_MAX_PAIRS && slot < 0; i++)
                    if (p->a[i] < 0)
                        slot = i;
                if (t < 0 || slot < 0) {
                    rp_reset(c);
                    if (t >= 0)
                        close(t);
                    continue;
                }
                p->a[slot] = c;
                p->b[slot] = t;
                atomic_fetch_add(&p->accepted, 1);
                continue;
            }
            int i = idx[k] % RP_MAX_PAIRS;
            if (p->a[i] < 0)
                continue; /* dropped earlier in this round */
            bool ok = idx[k] < RP_MAX_PAIRS ? rp_pump(p->a[i], p->b[i]) : rp_pump(p->b[i], p->a[i]);
            if (!ok)
                rp_drop(p, i, false);
        }
    }
    for (int i = 0; i < RP_MAX_PAIRS; i++)
        if (p->a[i] >= 0)
            rp_drop(p, i, false);
    return NULL;
}

/* Starts a proxy to 127.0.0.1:target; its own port in p->port. */
static inline void r_proxy_start(r_proxy *p, uint16_t target)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < RP_MAX_PAIRS; i++)
        p->a[i] = p->b[i] = -1;
    p->target = target;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TC_ASSERT(p->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TC_ASSERT(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
    TC_ASSERT(listen(p->lfd, 16) == 0);
    socklen_t len = sizeof sa;
    getsockname(p->lfd, (struct sockaddr *)&sa, &len);
    p->port = ntohs(sa.sin_port);
    TC_ASSERT(pthread_create(&p->thread, NULL, rp_main, p) == 0);
}

/* Resets every connection carried now; returns once done (bounded). */
static inline void r_proxy_cut(r_proxy *p)
{
    unsigned want = atomic_fetch_add(&p->cut_req, 1) + 1;
    uint64_t dl = tc_deadline_ms(5000);
    while (atomic_load(&p->cut_done) < want && tc_poll(dl)) {
    }
    TC_ASSERT_MSG(atomic_load(&p->cut_done) >= want, "the proxy did not cut within 5 s");
}

/* While on, new connections are reset at once (those carried stay). */
static inline void r_proxy_refuse(r_proxy *p, bool on) { atomic_store(&p->refuse, on); }

static inline void r_proxy_stop(r_proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->lfd);
}

#endif
