/* epoll behind a few functions, for the I/O thread's files (net.c,
 * conns.c). */
#ifndef TRI_REMOTE_EPOLL_H
#define TRI_REMOTE_EPOLL_H

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "remote/net.h"

static inline int tri_ep_add(tri_net *net, int fd, uint32_t events, uint64_t id)
{
    struct epoll_event ev = {.events = events, .data.u64 = id};
    return epoll_ctl(net->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static inline void tri_ep_mod(tri_net *net, int fd, uint32_t events, uint64_t id)
{
    struct epoll_event ev = {.events = events, .data.u64 = id};
    epoll_ctl(net->epfd, EPOLL_CTL_MOD, fd, &ev);
}

static inline void tri_ep_del(tri_net *net, int fd)
{
    struct epoll_event ev = {0};
    epoll_ctl(net->epfd, EPOLL_CTL_DEL, fd, &ev);
}

static inline int tri_ep_wait(tri_net *net, struct epoll_event *ev, int max, int timeout_ms)
{
    int n;
    do
        n = epoll_wait(net->epfd, ev, max, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n < 0 ? 0 : n;
}

#define TRI_CONN_EVENTS (EPOLLIN | EPOLLRDHUP) /* what every connection waits for */

#endif
