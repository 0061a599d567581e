/* connect, the handshake and addresses: S28, S29, S30. Fake peers speak
 * the bytes of engine/remote/PROTOCOL.md by hand. */
#include <pthread.h>

#include "remote_common.h"

static int try_connect(tr_service *client, const char *addr, const tr_gateway_desc *desc,
                       tr_gateway **gw)
{
    *gw = NULL;
    return tr_service_connect(client, addr, desc, gw);
}

/* S28: an unknown endpoint fails with TR_ENOENDPOINT, naming it. */
Test(handshake, unknown_endpoint, .timeout = 30)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    char a[128];
    tr_gateway *gw;
    TC_ERR(try_connect(client, r_addr(server, "nobody", a, sizeof a), &tcalc_gateway, &gw),
           TR_ENOENDPOINT);
    cr_assert_null(gw);
    cr_assert(strstr(tr_service_connect_error(), "\"nobody\""), "%s", tr_service_connect_error());
    /* The connection stays up for the next connect. */
    tr_endpoint *ep = t_endpoint(server, "somebody", true);
    gw = r_connect(client, server, "somebody");
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

/* S28, S20: a gateway the endpoint does not implement, or implements
 * with another declaration, fails with TR_EGATEWAY. */
static const tr_method_desc other_methods[] = {
    {"add", TR_ASK, &tr_i64__type, &tr_i64__type, NULL}, /* tcalc.add takes a t_pair */
};
static const tr_gateway_desc other_tcalc = {"tcalc", 1, other_methods};

Test(handshake, wrong_gateway, .timeout = 30)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    char a[128];
    tr_gateway *gw;
    TC_ERR(try_connect(client, r_addr(server, "calc", a, sizeof a), &tping_gateway, &gw),
           TR_EGATEWAY);
    cr_assert(strstr(tr_service_connect_error(), "does not implement gateway tping"), "%s",
              tr_service_connect_error());
    TC_ERR(try_connect(client, a, &other_tcalc, &gw), TR_EGATEWAY);
    cr_assert(strstr(tr_service_connect_error(), "another declaration"), "%s",
              tr_service_connect_error());
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

/* S28: nobody listening: TR_EUNREACHABLE at once, not at the timeout. */
Test(handshake, refused, .timeout = 30)
{
    uint16_t port;
    int lfd = r_listen(&port);
    close(lfd); /* the port is free now: connecting is refused */
    tr_service *client = r_client(1, 0, 0);
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/x", (unsigned)port);
    tr_gateway *gw;
    uint64_t t0 = tc_now_ns();
    TC_ERR(try_connect(client, a, &tcalc_gateway, &gw), TR_EUNREACHABLE);
    cr_assert_lt(tc_now_ns() - t0, 2000000000ull);
    cr_assert(strstr(tr_service_connect_error(), "refused"), "%s", tr_service_connect_error());
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* S28: a host that never answers: TR_EUNREACHABLE within the lookup
 * timeout. A listener that never accepts stands in for it (the kernel
 * completes the TCP handshake; nobody says HELLO_OK). */
Test(handshake, silent_host_within_lookup_timeout, .timeout = 30)
{
    uint16_t port;
    int lfd = r_listen(&port);
    tr_service *client = r_client(1, 0, 300 * 1000000LL);
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/x", (unsigned)port);
    tr_gateway *gw;
    uint64_t t0 = tc_now_ns();
    TC_ERR(try_connect(client, a, &tcalc_gateway, &gw), TR_EUNREACHABLE);
    uint64_t took = tc_now_ns() - t0;
    cr_assert_geq(took, 290000000ull);
    cr_assert_lt(took, 1500000000ull, "took %llu ms", (unsigned long long)(took / 1000000));
    cr_assert(strstr(tr_service_connect_error(), "300 ms"), "%s", tr_service_connect_error());
    close(lfd);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* A fake server: accepts one connection, reads HELLO, answers with the
 * given bytes, then waits for the client to close. */
typedef struct fake_server {
    int lfd;
    uint8_t answer[64];
    size_t answer_len;
    uint8_t hello[R_HELLO_LEN];
    size_t got;
} fake_server;

static void *fake_serve(void *arg)
{
    fake_server *fs = arg;
    int fd = accept(fs->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    fs->got = r_read_n(fd, fs->hello, sizeof fs->hello, 5000);
    r_write_all(fd, fs->answer, fs->answer_len);
    r_closed_by_peer(fd, 5000);
    close(fd);
    return NULL;
}

/* S28: a server speaking another protocol version: TR_EVERSION, and the
 * message names both versions. */
Test(handshake, version_mismatch_server_newer, .timeout = 30)
{
    uint16_t port;
    fake_server fs = {.lfd = r_listen(&port)};
    fs.answer_len = r_hello(fs.answer, 2 /* HELLO_OK */, 7);
    pthread_t t;
    pthread_create(&t, NULL, fake_serve, &fs);
    tr_service *client = r_client(1, 0, 0);
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/x", (unsigned)port);
    tr_gateway *gw;
    TC_ERR(try_connect(client, a, &tcalc_gateway, &gw), TR_EVERSION);
    const char *why = tr_service_connect_error();
    cr_assert(strstr(why, "version 2") && strstr(why, "version 7"), "%s", why);
    /* What the client sent is a HELLO as PROTOCOL.md says. */
    cr_assert_eq(fs.got, R_HELLO_LEN);
    cr_assert_eq(fs.hello[0], R_HELLO_LEN - 4);
    cr_assert_eq(fs.hello[4], 1);
    cr_assert(!memcmp(fs.hello + 20, "TRPE", 4));
    cr_assert_eq(fs.hello[24], TR_PROTOCOL_VERSION);
    tr_service_destroy(client);
    pthread_join(t, NULL);
    close(fs.lfd);
    T_LEAK_CHECK();
}

/* S28: a client speaking another version is told so (CLOSE with
 * TR_EVERSION, both versions in the message), then closed. */
Test(handshake, version_mismatch_client_newer, .timeout = 30)
{
    tr_service *server = r_server(1, 0);
    int fd = r_dial(tr_service_port(server));
    uint8_t hello[R_HELLO_LEN];
    r_write_all(fd, hello, r_hello(hello, 1, 9));
    uint8_t hdr[20];
    cr_assert_eq(r_read_n(fd, hdr, sizeof hdr, 5000), sizeof hdr);
    cr_assert_eq(hdr[4], 11 /* CLOSE */);
    uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16;
    uint8_t body[600];
    cr_assert_leq(len - 16, sizeof body);
    cr_assert_eq(r_read_n(fd, body, len - 16, 5000), len - 16);
    int32_t code = (int32_t)((uint32_t)body[0] | (uint32_t)body[1] << 8 |
                             (uint32_t)body[2] << 16 | (uint32_t)body[3] << 24);
    cr_assert_eq(code, TR_EVERSION);
    char msg[600];
    snprintf(msg, sizeof msg, "%.*s", (int)(len - 16 - 8), (char *)body + 8);
    cr_assert(strstr(msg, "version 9") && strstr(msg, "version 2"), "%s", msg);
    cr_assert(r_closed_by_peer(fd, 5000));
    close(fd);
    tr_service_destroy(server);
}

/* Not a troupe node at all: the client closes that connection (S36) and
 * the connect fails, naming why. */
Test(handshake, not_a_troupe_node, .timeout = 30)
{
    uint16_t port;
    fake_server fs = {.lfd = r_listen(&port)};
    memcpy(fs.answer, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
    fs.answer_len = 28;
    pthread_t t;
    pthread_create(&t, NULL, fake_serve, &fs);
    tr_service *client = r_client(1, 0, 0);
    char a[128];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/x", (unsigned)port);
    tr_gateway *gw;
    int rv = try_connect(client, a, &tcalc_gateway, &gw);
    cr_assert(rv == TR_EUNREACHABLE || rv == TR_EPROTO, "%s", tr_errname(rv));
    cr_assert_eq(r_stats(client).malformed, 1);
    tr_service_destroy(client);
    pthread_join(t, NULL);
    close(fs.lfd);
}

/* S30: malformed addresses fail with TR_EADDR; a bare id and local://
 * are local. */
Test(handshake, s30_address_forms, .timeout = 30)
{
    tr_service *svc = r_server(1, 0);
    tr_endpoint *ep = t_endpoint(svc, "e1", true);
    const char *bad[] = {"troupe://", "troupe://127.0.0.1/e1", "troupe://127.0.0.1:/e1",
                         "troupe://127.0.0.1:99999/e1", "troupe://127.0.0.1:0/e1",
                         "troupe://127.0.0.1:80", "troupe://127.0.0.1:80/", "troupe://:80/e1",
                         "troupe://[::1/e1", "troupe://a:b:80/e1", "troupe://127.0.0.1:8x/e1"};
    tr_gateway *gw;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TC_ERR(try_connect(svc, bad[i], &tcalc_gateway, &gw), TR_EADDR);
        cr_assert(strstr(tr_service_connect_error(), "malformed address"), "%s",
                  tr_service_connect_error());
    }
    TC_OK(try_connect(svc, "e1", &tcalc_gateway, &gw));
    cr_assert(tr_gateway_is_local(gw));
    tr_gateway_release(gw);
    TC_OK(try_connect(svc, "local://e1", &tcalc_gateway, &gw));
    tr_gateway_release(gw);
    /* [::1] parses; nothing listens there for us, so it is unreachable or
     * refused, never a malformed address. */
    int rv = try_connect(svc, "troupe://[::1]:1/e1", &tcalc_gateway, &gw);
    cr_assert(rv == TR_EUNREACHABLE, "%s: %s", tr_errname(rv), tr_service_connect_error());
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* The bind address is configurable; a bad one fails create. */
Test(handshake, bind_address, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    cfg.bind_address = "127.0.0.1";
    tr_service *svc = NULL;
    TC_ERR(tr_service_create(&cfg, &svc), TR_EADDR);
    cr_assert_null(svc);
    cfg.bind_address = "[::1]:0";
    int rv = tr_service_create(&cfg, &svc);
    if (rv == 0) { /* IPv6 loopback present: the bound address reads back */
        char b[64];
        TC_OK(tr_service_listen_address(svc, b, sizeof b));
        cr_assert(!strncmp(b, "[::1]:", 6), "%s", b);
        tr_endpoint *ep = t_endpoint(svc, "six", true);
        tr_service *client = r_client(1, 0, 0);
        char a[128];
        snprintf(a, sizeof a, "troupe://%s/six", b);
        tr_gateway *gw;
        TC_OK(try_connect(client, a, &tcalc_gateway, &gw));
        tr_future *f;
        TC_OK(tcalc_add(gw, &(t_pair){3, 4}, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        cr_assert_eq(*tcalc_add_result(f), 7);
        tr_future_release(f);
        tr_gateway_release(gw);
        tr_service_destroy(client);
        tr_endpoint_release(ep);
        tr_service_destroy(svc);
    } else {
        cr_assert_eq(rv, TR_EIO);
    }
}
