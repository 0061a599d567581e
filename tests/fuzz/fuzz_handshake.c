/* libFuzzer target: the client's side of the handshake against a server
 * that answers untrusted bytes. Each input is what a fake server on
 * loopback writes to a connecting troupe client (tr_service_connect of
 * tnode): HELLO_OK, RESOLVE_OK, REPLY_ERR, CLOSE, garbage. Bit 0 of the
 * first byte puts a valid HELLO_OK first. The fake server then shuts its
 * half, so every connect ends (succeeds or fails) without waiting for the
 * lookup timeout; a call on a gateway it gave reconnects and is served
 * the same bytes. A failed connect must say why (a non-empty message). */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static tr_service *client;
static int lfd = -1;
static uint16_t port;
/* The input, copied: the fake server may still write it to a connection
 * that arrives late (a reconnect) after libFuzzer has freed its own copy
 * (a use-after-free the campaign found in this harness). */
static uint8_t cur[1 << 16];
static size_t cur_len;
static sem_t go, done;

/* Serves every connection that arrives while an input runs (a call after
 * a lost connection reconnects, S34): each gets the input, then our half
 * is shut and it is read until the client closes. The input ends when
 * the main thread says so and every connection is closed. */
static _Atomic int finished;
/* The main thread's bell: `finished` is set (else the fake server would
 * sleep out its 5 ms poll after the last close: 200 inputs a second). */
static int wake[2];

static void serve_input(void)
{
    int fds[16];
    int nfds = 0;
    for (int turns = 0; turns < 2000; turns++) {
        struct pollfd p[18];
        p[0] = (struct pollfd){lfd, POLLIN, 0};
        p[1] = (struct pollfd){wake[0], POLLIN, 0};
        for (int i = 0; i < nfds; i++)
            p[i + 2] = (struct pollfd){fds[i], POLLIN, 0};
        if (atomic_load(&finished) && nfds == 0)
            return;
        poll(p, (nfds_t)nfds + 2, 5);
        if (p[1].revents & POLLIN) {
            char b;
            ssize_t r = read(wake[0], &b, 1);
            (void)r;
        }
        if ((p[0].revents & POLLIN) && nfds < 16) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                if (cur[0] & 1) {
                    uint8_t ok[64];
                    fz_write(fd, ok, fz_hello(ok, TRI_F_HELLO_OK));
                }
                fz_write(fd, cur + 1, cur_len - 1);
                shutdown(fd, SHUT_WR);
                fz_no_time_wait(fd);
                fds[nfds++] = fd;
            }
        }
        for (int i = nfds - 1; i >= 0; i--) {
            if (!p[i + 2].revents)
                continue;
            uint8_t sink[4096];
            if (read(fds[i], sink, sizeof sink) <= 0) {
                close(fds[i]);
                fds[i] = fds[--nfds];
            }
        }
    }
    for (int i = 0; i < nfds; i++) /* 10 s and still open: give up on them */
        close(fds[i]);
}

static void *fake_server(void *arg)
{
    (void)arg;
    for (;;) {
        sem_wait(&go);
        serve_input();
        sem_post(&done);
    }
    return NULL;
}

static void setup(void)
{
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 16) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    port = ntohs(sa.sin_port);
    CHECK(pipe(wake) == 0);
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fake_server, NULL) == 0);
    pthread_detach(t);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.lookup_timeout_ns = 3LL * 1000 * 1000 * 1000;
    cfg.max_frame_size = 4096;
    CHECK(tr_service_create(&cfg, &client) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!client)
        setup();
    if (n < 1)
        return 0;
    if (n > sizeof cur)
        n = sizeof cur;
    memcpy(cur, d, n);
    cur_len = n;
    atomic_store(&finished, 0);
    sem_post(&go);
    char addr[64];
    snprintf(addr, sizeof addr, "troupe://127.0.0.1:%u/" TNODE_ENDPOINT, (unsigned)port);
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, addr, &tnode_gateway, &gw);
    if (rv == 0) {
        /* A server that said RESOLVE_OK: a call must end too (the
         * connection is closing: an error, or an answer the input held). */
        tr_i64 v = 7;
        tr_future *f;
        if (tnode_ping(gw, &v, 3LL * 1000 * 1000 * 1000, &f) == 0) {
            CHECK(tr_future_wait(f, 10LL * 1000 * 1000 * 1000) == 0);
            tr_future_release(f);
        }
        tr_gateway_release(gw);
    } else {
        CHECK(rv < 0 && gw == NULL);
        CHECK(*tr_service_connect_error() != 0);
    }
    atomic_store(&finished, 1);
    CHECK(write(wake[1], "x", 1) == 1);
    sem_wait(&done);
    return 0;
}
