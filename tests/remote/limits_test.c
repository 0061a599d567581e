/* Limits against abuse (engine/remote/trust.h), each set small here:
 * connections per listener, the handshake deadline, asks in flight per
 * connection, bytes buffered for a client that does not read. Each hit
 * is counted in tr_remote_stats; the service goes on serving a
 * well-behaved client throughout. */
#include "remote/frame.h"
#include "remote_common.h"

TestSuite(limits, .timeout = 60);

/* RESOLVE of gateway gw on endpoint id (PROTOCOL.md "resolve"). */
static size_t r_resolve(uint8_t *p, uint64_t corr, const char *id, const char *gw,
                        const tr_gateway_desc *desc)
{
    tri_resolve r = {id, strlen(id), gw, strlen(gw), tri_gateway_fingerprint(desc),
                     (uint16_t)desc->nmethods};
    size_t body = tri_resolve_size(r.id_len, r.gateway_len);
    size_t n = r_put_hdr(p, TRI_F_RESOLVE, 0, 0, 0, corr, body);
    tri_resolve_put(p + n, &r);
    return n + body;
}

static tr_service *limited(tr_service_config *cfg)
{
    cfg->workers = 1;
    cfg->listen = true;
    tr_service *s = NULL;
    TC_OK(tr_service_create(cfg, &s));
    return s;
}

/* A well-behaved client's ask still answers. */
static void still_serves(tr_service *server)
{
    tr_service *cli = r_client(1, 0, 0);
    tr_gateway *gw = r_connect(cli, server, "calc");
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){20, 22}, WAIT_NS, &f));
    TC_OK(tr_future_wait(f, WAIT_NS));
    cr_assert_eq(tr_future_code(f), 0, "%s", tr_future_error(f));
    cr_assert_eq(*tcalc_add_result(f), 42);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_service_destroy(cli);
}

/* Reads one frame: its header into *h and its error body's code. */
static int read_close_code(int fd, tri_frame_hdr *h)
{
    uint8_t buf[600];
    if (r_read_n(fd, buf, TRI_FRAME_HDR, 5000) != TRI_FRAME_HDR)
        return 1;
    tri_frame_get_hdr(buf, h);
    size_t body = h->length - 16;
    if (body > sizeof buf - TRI_FRAME_HDR || r_read_n(fd, buf + TRI_FRAME_HDR, body, 5000) != body)
        return 1;
    int32_t code;
    const char *msg;
    size_t mlen;
    if (tri_error_get(buf + TRI_FRAME_HDR, body, &code, &msg, &mlen))
        return 1;
    cr_assert(memmem(msg, mlen, "max_connections", 15), "%.*s", (int)mlen, msg);
    return code;
}

Test(limits, connections_per_listener)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.max_connections = 2;
    tr_service *s = limited(&cfg);
    tr_endpoint *ep = t_endpoint(s, "calc", true);
    int a = r_dial(tr_service_port(s)), b = r_dial(tr_service_port(s));
    TC_ASSERT_EVENTUALLY(r_stats(s).inbound_open == 2, 5000);
    int c = r_dial(tr_service_port(s));
    tri_frame_hdr h;
    cr_assert_eq(read_close_code(c, &h), TR_EBUSY);
    cr_assert_eq(h.type, TRI_F_CLOSE);
    cr_assert(r_closed_by_peer(c, 5000));
    TC_ASSERT_EVENTUALLY(r_stats(s).refused_connections == 1, 5000);
    close(a), close(b), close(c);
    TC_ASSERT_EVENTUALLY(r_stats(s).inbound_open == 0, 5000);
    still_serves(s);
    tr_endpoint_release(ep);
    tr_service_destroy(s);
}

Test(limits, handshake_deadline)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.handshake_timeout_ns = 200LL * 1000 * 1000;
    tr_service *s = limited(&cfg);
    tr_endpoint *ep = t_endpoint(s, "calc", true);
    int silent = r_dial(tr_service_port(s));
    uint64_t t0 = tc_now_ns();
    cr_assert(r_closed_by_peer(silent, 5000), "a silent client was not closed");
    cr_assert_geq(tc_now_ns() - t0, 150ull * 1000 * 1000, "closed before its deadline");
    cr_assert_eq(r_stats(s).handshake_timeouts, 1);
    close(silent);
    still_serves(s);
    tr_endpoint_release(ep);
    tr_service_destroy(s);
}

Test(limits, inbound_asks_per_connection)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.max_inbound_asks = 2;
    tr_service *s = limited(&cfg);
    tr_endpoint *ep = t_endpoint(s, "calc", true);
    tr_service *cli = r_client(1, 0, 0);
    tr_gateway *gw = r_connect(cli, s, "calc");
    tr_future *f[6];
    for (int i = 0; i < 6; i++) /* later: answers after 300 ms; two fit */
        TC_OK(tcalc_later(gw, &(tr_i64){300}, WAIT_NS, &f[i]));
    int ok = 0, busy = 0;
    for (int i = 0; i < 6; i++) {
        TC_OK(tr_future_wait(f[i], WAIT_NS));
        int code = tr_future_code(f[i]);
        if (code == 0) {
            cr_assert_eq(*tcalc_later_result(f[i]), 300);
            ok++;
        } else {
            cr_assert_eq(code, TR_EBUSY, "%s", tr_errname(code));
            cr_assert(strstr(tr_future_error(f[i]), "max_inbound_asks"), "%s",
                      tr_future_error(f[i]));
            busy++;
        }
        tr_future_release(f[i]);
    }
    cr_assert_eq(ok, 2);
    cr_assert_eq(busy, 4);
    cr_assert_eq(r_stats(s).asks_refused, 4);
    /* Answered: room again on the same connection. */
    TC_OK(tcalc_later(gw, &(tr_i64){1}, WAIT_NS, &f[0]));
    TC_OK(tr_future_wait(f[0], WAIT_NS));
    cr_assert_eq(tr_future_code(f[0]), 0);
    tr_future_release(f[0]);
    tr_gateway_release(gw);
    tr_service_destroy(cli);
    tr_endpoint_release(ep);
    tr_service_destroy(s);
}

Test(limits, bytes_buffered_for_a_client_that_does_not_read)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.max_conn_buffer = 256 * 1024;
    tr_service *s = limited(&cfg);
    tr_endpoint *ep = t_endpoint(s, "calc", true);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096; /* our receive window stays small: the answers pile up there */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(tr_service_port(s))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static uint8_t p[1 << 16];
    size_t n = r_hello(p, 1, TR_PROTOCOL_VERSION);
    n += r_resolve(p + n, 0x8000000000000001ull, "calc", "tcalc", &tcalc_gateway);
    r_write_all(fd, p, n);
    uint8_t hello_ok[32];
    cr_assert_eq(r_read_n(fd, hello_ok, sizeof hello_ok, 5000), sizeof hello_ok);
    /* echo asks of 16 KiB strings, never reading an answer */
    char s16[16384];
    memset(s16, 'x', sizeof s16);
    size_t body = 4 + 4 + sizeof s16;
    for (uint64_t i = 0; i < 400 && r_stats(s).buffer_overflows == 0; i++) {
        size_t k = r_put_hdr(p, TRI_F_ASK, 0, tcalc__echo, 0, 100 + i, body);
        uint32_t ms = 10000, len = sizeof s16;
        memcpy(p + k, &ms, 4), memcpy(p + k + 4, &len, 4), memcpy(p + k + 8, s16, sizeof s16);
        r_write_all(fd, p, k + body);
    }
    TC_ASSERT_EVENTUALLY(r_stats(s).buffer_overflows == 1, 10000);
    close(fd);
    still_serves(s);
    tr_endpoint_release(ep);
    tr_service_destroy(s);
}
