/* Remote faults: S34 (a lost connection fails its asks within 100 ms; the
 * next call reconnects), S35 (late replies are dropped), S36 (a malformed
 * frame closes only its connection), and 100,000 asks in flight while the
 * connection is cut, each completing exactly once. */
#include <pthread.h>

#include "remote/proxy.h"
#include "remote_common.h"

typedef struct world {
    tr_service *server, *client;
    tr_endpoint *ep;
    r_proxy proxy;
    tr_gateway *gw; /* through the proxy */
} world;

/* In place: the proxy's thread holds its address. */
static void world_make(world *w, unsigned server_workers)
{
    w->server = r_server(server_workers, 0);
    w->client = r_client(1, 0, 0);
    w->ep = t_endpoint(w->server, "calc", true);
    r_proxy_start(&w->proxy, tr_service_port(w->server));
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)w->proxy.port);
    int rv = tr_service_connect(w->client, a, &tcalc_gateway, &w->gw);
    TC_ASSERT_MSG(rv == 0, "%s: %s", tr_errname(rv), tr_service_connect_error());
}

static void world_free(world *w)
{
    tr_gateway_release(w->gw);
    tr_endpoint_release(w->ep);
    tr_service_destroy(w->client);
    tr_service_destroy(w->server);
    r_proxy_stop(&w->proxy);
}

static void round_trip(tr_gateway *gw, int64_t a)
{
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){a, 1}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), a + 1);
    tr_future_release(f);
}

/* S34: asks pending on a lost connection fail with TR_EUNREACHABLE within
 * 100 ms of the loss; the next call connects again. */
Test(faults, s34_lost_connection_fails_pending_asks, .timeout = 30)
{
    world w;
    world_make(&w, 2);
    round_trip(w.gw, 1);
    enum { N = 10 };
    tr_future *f[N];
    for (int i = 0; i < N; i++) /* answered after 5 s: pending when cut */
        TC_OK(tcalc_later(w.gw, &(tr_i64){5000}, 0, &f[i]));
    TC_ASSERT_EVENTUALLY(r_stats(w.client).asks_pending == N, 5000);
    tc_sleep_us(20000); /* they are on the wire */
    uint64_t cut = tc_now_ns();
    r_proxy_cut(&w.proxy);
    for (int i = 0; i < N; i++) {
        TC_OK(tr_future_wait(f[i], WAIT_NS));
        uint64_t after = tc_now_ns() - cut;
        cr_assert_lt(after, 100000000ull, "S34: ask %d failed %llu ms after the cut", i,
                     (unsigned long long)(after / 1000000));
        TC_ERR(tr_future_code(f[i]), TR_EUNREACHABLE);
        cr_assert(strstr(tr_future_error(f[i]), "tcalc.later") &&
                      strstr(tr_future_error(f[i]), "connection was lost"),
                  "%s", tr_future_error(f[i]));
        tr_future_release(f[i]);
    }
    round_trip(w.gw, 2); /* reconnects */
    tr_remote_stats cs = r_stats(w.client);
    cr_assert_eq(cs.connections_opened, 2);
    cr_assert_eq(cs.connections_lost, 1);
    TC_ASSERT_EVENTUALLY(r_stats(w.client).asks_pending == 0, 1000); /* updated after the turn */
    world_free(&w);
    T_LEAK_CHECK();
}

/* S34 when the serving service goes away: its asks fail (it shuts down
 * and says so), and a call after it is gone fails at once. */
Test(faults, s34_server_goes_away, .timeout = 30)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    round_trip(gw, 5);
    tr_future *f;
    TC_OK(tcalc_later(gw, &(tr_i64){5000}, 0, &f));
    TC_ASSERT_EVENTUALLY(r_stats(client).asks_pending == 1, 5000);
    tr_endpoint_release(ep);
    tr_service_destroy(server);
    TC_OK(tr_future_wait(f, WAIT_NS));
    /* However it ends, it ends now, not at its deadline: the node says it
     * stopped (TR_ESTOPPED), or the handler's dropped body released the
     * reply unanswered (TR_EFAILED, as locally), or the connection went
     * first (TR_EUNREACHABLE). */
    int code = tr_future_code(f);
    cr_assert(code == TR_ESTOPPED || code == TR_EUNREACHABLE || code == TR_EFAILED, "%s: %s",
              tr_errname(code), tr_future_error(f));
    tr_future_release(f);
    TC_OK(tcalc_add(gw, &(t_pair){1, 1}, 0, &f)); /* nobody listens: refused */
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    tr_future_release(f);
    TC_ERR(tcalc_note(gw, &(tr_i64){1}), 0); /* a tell is accepted, then dropped */
    TC_ASSERT_EVENTUALLY(r_stats(client).tells_dropped == 1, 5000);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* S35: an answer arriving after its ask timed out is dropped safely. */
Test(faults, s35_late_reply_dropped, .timeout = 30)
{
    world w;
    world_make(&w, 2);
    tr_future *f;
    uint64_t t0 = tc_now_ns();
    TC_OK(tcalc_later(w.gw, &(tr_i64){300}, 50 * 1000000LL, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ETIMEDOUT);
    uint64_t took = tc_now_ns() - t0;
    cr_assert_geq(took, 50000000ull);
    cr_assert_lt(took, 250000000ull);
    cr_assert(strstr(tr_future_error(f), "timed out after 50 ms") &&
                  strstr(tr_future_error(f), "troupe://127.0.0.1:"),
              "S15: %s", tr_future_error(f));
    TC_ASSERT_EVENTUALLY(r_stats(w.client).late_replies == 1, 5000);
    TC_ERR(tr_future_code(f), TR_ETIMEDOUT); /* unchanged */
    tr_future_release(f);
    round_trip(w.gw, 3);
    cr_assert_eq(r_stats(w.client).connections_opened, 1);
    world_free(&w);
    T_LEAK_CHECK();
}

/* ---- S36 ------------------------------------------------------------------------------ */

/* A raw connection that completed HELLO. */
static int hello_conn(tr_service *server)
{
    int fd = r_dial(tr_service_port(server));
    uint8_t b[64];
    r_write_all(fd, b, r_hello(b, 1, TR_PROTOCOL_VERSION));
    TC_ASSERT(r_read_n(fd, b, R_HELLO_LEN, 5000) == R_HELLO_LEN && b[4] == 2);
    return fd;
}

typedef struct bad_frame {
    const char *what;
    bool after_hello;
    uint8_t bytes[64];
    size_t len;
    const char *reason; /* in the logged reason */
} bad_frame;

/* S36: each malformed frame closes its connection only, with a reason
 * (the log line, and last_error in the counters); a well-formed client on
 * another connection is served throughout. */
Test(faults, s36_malformed_frames_close_only_their_connection, .timeout = 60)
{
    tr_service *server = r_server(2, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    bad_frame bad[8];
    int nb = 0;
    bad[nb] = (bad_frame){"unknown type", true, {0}, 0, "unknown frame type"};
    bad[nb].len = r_put_hdr(bad[nb].bytes, 99, 0, 0, 0, 0, 0);
    nb++;
    bad[nb] = (bad_frame){"truncated header (length 10)", true, {10, 0, 0, 0, 5}, 14,
                          "shorter than its header"};
    nb++;
    bad[nb] = (bad_frame){"TELL to an unresolved slot", true, {0}, 0, "which no RESOLVE gave"};
    bad[nb].len = r_put_hdr(bad[nb].bytes, 5, 0, 0, 7, 0, 0);
    nb++;
    bad[nb] = (bad_frame){"RESOLVE with a lying name length", true, {0}, 0,
                          "RESOLVE that does not parse"};
    bad[nb].len = r_put_hdr(bad[nb].bytes, 3, 0, 0, 0, 1, 6);
    memcpy(bad[nb].bytes + bad[nb].len, "\xc8\x00" "calc", 6);
    bad[nb].len += 6;
    nb++;
    bad[nb] = (bad_frame){"unknown flag bits", true, {0}, 0, "unknown flag bits"};
    bad[nb].len = r_put_hdr(bad[nb].bytes, 9, 0x80, 0, 0, 0, 0);
    nb++;
    bad[nb] = (bad_frame){"HELLO with a bad magic", false, {0}, 0, "does not parse"};
    bad[nb].len = r_hello(bad[nb].bytes, 1, 1);
    bad[nb].bytes[20] = 'X';
    nb++;
    bad[nb] = (bad_frame){"a call before HELLO", false, {0}, 0, "before HELLO"};
    bad[nb].len = r_put_hdr(bad[nb].bytes, 6, 0, 0, 0, 1, 0);
    nb++;
    bad[nb] = (bad_frame){"a large frame before HELLO", false, {0x00, 0x00, 0x10, 0x00}, 4,
                          "before the handshake"};
    nb++;
    for (int i = 0; i < nb; i++) {
        int fd = bad[i].after_hello ? hello_conn(server) : r_dial(tr_service_port(server));
        round_trip(gw, i);
        r_write_all(fd, bad[i].bytes, bad[i].len);
        cr_assert(r_closed_by_peer(fd, 5000), "%s: the connection was not closed", bad[i].what);
        close(fd);
        TC_ASSERT_EVENTUALLY(r_stats(server).malformed == (uint64_t)i + 1, 5000);
        tr_remote_stats ss = r_stats(server);
        cr_assert(strstr(ss.last_error, bad[i].reason), "%s: the reason was \"%s\"", bad[i].what,
                  ss.last_error);
        round_trip(gw, 100 + i);
    }
    cr_assert_eq(r_stats(client).connections_opened, 1, "the good client's connection stayed");
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

/* S36 on the calling side: a server that answers with garbage loses its
 * connection; the asks on it fail (not at their deadline), other peers
 * are unaffected. */
typedef struct garbage_server {
    int lfd;
} garbage_server;

static void *garbage_serve(void *arg)
{
    garbage_server *gs = arg;
    int fd = accept(gs->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t b[512];
    if (r_read_n(fd, b, R_HELLO_LEN, 5000) == R_HELLO_LEN) { /* HELLO */
        r_write_all(fd, b, r_hello(b, 2, TR_PROTOCOL_VERSION));
        uint8_t h[20];
        if (r_read_n(fd, h, 20, 5000) == 20) { /* RESOLVE: answer slot 0 */
            uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8;
            r_read_n(fd, b, len - 16, 5000);
            uint64_t corr = 0;
            for (int i = 0; i < 8; i++)
                corr |= (uint64_t)h[12 + i] << (8 * i);
            size_t n = r_put_hdr(b, 4, 0, 0, 0, corr, 4);
            memset(b + n, 0, 4);
            r_write_all(fd, b, n + 4);
            if (r_read_n(fd, h, 20, 5000) == 20) { /* an ASK: answer nonsense */
                n = r_put_hdr(b, 77, 0, 0, 0, 0, 0);
                r_write_all(fd, b, n);
            }
        }
    }
    r_closed_by_peer(fd, 5000);
    close(fd);
    return NULL;
}

Test(faults, s36_garbage_from_a_server, .timeout = 30)
{
    uint16_t port;
    garbage_server gs = {.lfd = r_listen(&port)};
    pthread_t t;
    pthread_create(&t, NULL, garbage_serve, &gs);
    tr_service *good = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(good, "calc", true);
    tr_gateway *ok = r_connect(client, good, "calc");
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)port);
    tr_gateway *gw;
    TC_OK(tr_service_connect(client, a, &tcalc_gateway, &gw));
    tr_future *f;
    uint64_t t0 = tc_now_ns();
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    cr_assert_lt(tc_now_ns() - t0, 2000000000ull, "not at its deadline");
    cr_assert(strstr(tr_future_error(f), "unknown frame type"), "%s", tr_future_error(f));
    tr_future_release(f);
    cr_assert_eq(r_stats(client).malformed, 1);
    round_trip(ok, 9);
    tr_gateway_release(gw);
    tr_gateway_release(ok);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(good);
    pthread_join(t, NULL);
    close(gs.lfd);
    T_LEAK_CHECK();
}

/* ---- 100,000 asks in flight, cut midway ---------------------------------------------------- */

enum { MANY = 100000 };

typedef struct tally {
    _Atomic uint8_t seen[MANY];
    _Atomic uint64_t ok, unreachable, other, wrong, done;
} tally;

static tally *g_tally;

static void counted(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    uintptr_t i = (uintptr_t)arg;
    tally *t = g_tally;
    atomic_fetch_add(&t->seen[i], 1);
    int code = tr_future_code(f);
    if (code == 0) {
        const tr_i64 *v = tcalc_add_result(f);
        atomic_fetch_add(v && *v == (int64_t)i + 7 ? &t->ok : &t->wrong, 1);
    } else if (code == TR_EUNREACHABLE) {
        atomic_fetch_add(&t->unreachable, 1);
    } else {
        atomic_fetch_add(&t->other, 1);
    }
    atomic_fetch_add(&t->done, 1);
}

Test(faults, hundred_thousand_asks_cut_midway, .timeout = 120)
{
    world w;
    world_make(&w, 2);
    tally *t = calloc(1, sizeof *t);
    g_tally = t;
    for (uintptr_t i = 0; i < MANY; i++) {
        TC_OK(tcalc_add_then(w.gw, &(t_pair){(int64_t)i, 7}, 60 * 1000000000LL, counted,
                             (void *)i));
        if (i == MANY / 2) {
            /* Midway: some answered, many in flight or queued. */
            TC_ASSERT_EVENTUALLY(atomic_load(&t->done) > 1000, 20000);
            r_proxy_cut(&w.proxy);
        }
    }
    TC_ASSERT_EVENTUALLY(atomic_load(&t->done) == MANY, 60000);
    uint64_t twice = 0, never = 0;
    for (int i = 0; i < MANY; i++) {
        uint8_t s = atomic_load(&t->seen[i]);
        twice += s > 1;
        never += s == 0;
    }
    TC_LOG("ok %llu, unreachable %llu", (unsigned long long)t->ok,
           (unsigned long long)t->unreachable);
    cr_assert_eq(twice, 0, "completed more than once");
    cr_assert_eq(never, 0, "never completed");
    cr_assert_eq(t->wrong, 0);
    cr_assert_eq(t->other, 0);
    cr_assert_eq(t->ok + t->unreachable, MANY);
    cr_assert_gt(t->unreachable, 0, "the cut failed some");
    cr_assert_gt(t->ok, MANY / 2, "the second half reconnected");
    round_trip(w.gw, 11);
    cr_assert_eq(r_stats(w.client).connections_opened, 2);
    world_free(&w);
    free(t);
}

/* S34 without a closed socket: a peer that stops answering at all (here a
 * fake that takes the ask and then says nothing, not even PONG) is
 * declared lost after 5 s of silence, once a PING went unanswered. */
typedef struct mute_server {
    int lfd;
    _Atomic int pings;
} mute_server;

static void *mute_serve(void *arg)
{
    mute_server *ms = arg;
    int fd = accept(ms->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t b[512], h[20];
    if (r_read_n(fd, b, R_HELLO_LEN, 5000) == R_HELLO_LEN) {
        r_write_all(fd, b, r_hello(b, 2, TR_PROTOCOL_VERSION));
        if (r_read_n(fd, h, 20, 5000) == 20) { /* RESOLVE: slot 0 */
            uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8;
            r_read_n(fd, b, len - 16, 5000);
            uint64_t corr;
            memcpy(&corr, h + 12, 8);
            size_t n = r_put_hdr(b, 4, 0, 0, 0, corr, 4);
            memset(b + n, 0, 4);
            r_write_all(fd, b, n + 4);
        }
        /* From here on: read everything, answer nothing; count PINGs. */
        while (r_read_n(fd, h, 20, 15000) == 20) {
            uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
            if (h[4] == 9)
                atomic_fetch_add(&ms->pings, 1);
            if (len > 16 && len - 16 <= sizeof b)
                r_read_n(fd, b, len - 16, 5000);
        }
    }
    close(fd);
    return NULL;
}

Test(faults, s34_silent_peer_found_by_ping, .timeout = 30)
{
    uint16_t port;
    mute_server ms = {.lfd = r_listen(&port)};
    pthread_t t;
    pthread_create(&t, NULL, mute_serve, &ms);
    tr_service *client = r_client(1, 0, 0);
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)port);
    tr_gateway *gw;
    TC_OK(tr_service_connect(client, a, &tcalc_gateway, &gw));
    tr_future *f;
    uint64_t t0 = tc_now_ns();
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 20 * 1000000000LL, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    uint64_t took = tc_now_ns() - t0;
    cr_assert_geq(took, 4500000000ull);
    cr_assert_lt(took, 8000000000ull, "took %llu ms", (unsigned long long)(took / 1000000));
    cr_assert(strstr(tr_future_error(f), "not even a PONG"), "%s", tr_future_error(f));
    cr_assert_geq(atomic_load(&ms.pings), 1);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    pthread_join(t, NULL);
    close(ms.lfd);
    T_LEAK_CHECK();
}
