/* Connecting to something that is not a troupe node: the error names the
 * host:port and says what came back, instead of a frame length read out
 * of someone else's protocol. The stranger is a plain TCP listener in this
 * test that answers any connection with an HTTP response (or other bytes)
 * and closes. */
#include <pthread.h>

#include "remote_common.h"

typedef struct stranger {
    int lfd;
    const char *reply;
    size_t reply_len;
    _Atomic int served;
} stranger;

/* Serves one connection: waits (bounded) for the client's HELLO, answers
 * with the reply, then waits for the client to close. */
static void *serve(void *arg)
{
    stranger *s = arg;
    struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) <= 0)
        return NULL;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t hello[32];
    (void)r_read_n(fd, hello, sizeof hello, 5000);
    /* Before the write: the client may read the reply, fail the connect
     * and check this flag before this thread runs again. */
    atomic_store(&s->served, 1);
    r_write_all(fd, s->reply, s->reply_len);
    (void)r_closed_by_peer(fd, 10000);
    close(fd);
    return NULL;
}

static void connect_to_stranger(const char *reply, size_t reply_len, const char *want_seen)
{
    stranger s = {.reply = reply, .reply_len = reply_len};
    uint16_t port;
    s.lfd = r_listen(&port);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, serve, &s), 0);
    tr_service *client = r_client(1, 0, 5000 * 1000000LL);
    char a[128], hostport[64];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)port);
    snprintf(hostport, sizeof hostport, "127.0.0.1:%u", (unsigned)port);
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, a, &tcalc_gateway, &gw);
    const char *why = tr_service_connect_error();
    cr_assert_neq(rv, 0, "a connect to a non-troupe port succeeded");
    cr_assert_null(gw);
    cr_assert_eq(atomic_load(&s.served), 1, "the stranger never answered (%s)", why);
    cr_assert(strstr(why, hostport), "the error does not name %s: %s", hostport, why);
    cr_assert(strstr(why, want_seen), "the error does not say what came back (%s): %s",
              want_seen, why);
    cr_assert(strstr(why, "not a troupe node"), "%s", why);
    tr_service_destroy(client);
    pthread_join(t, NULL);
    close(s.lfd);
    T_LEAK_CHECK();
}

Test(stranger, http_server, .timeout = 30)
{
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    connect_to_stranger(http, sizeof http - 1, "'HTTP'");
}

Test(stranger, binary_garbage, .timeout = 30)
{
    /* A length that passes as small but a frame type that does not exist. */
    static const char junk[] = "\x14\x00\x00\x00\xee\x00\x00\x00\x00\x00\x00\x00"
                               "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    connect_to_stranger(junk, sizeof junk - 1, "not a troupe node");
}
