/* engine/remote/PROTOCOL.md against the code: the examples in it are the
 * bytes the code sends and accepts, its fingerprint example is the one the
 * code computes, its error table is tr_error's. If this fails, one of the
 * two changed without the other. */
#include <pthread.h>

#include "remote/frame.h"
#include "remote_common.h"
#include "tnode.h"

/* PROTOCOL.md, "Examples". */
static const uint8_t doc_hello[40] = {0x24, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x54, 0x52, 0x50, 0x45,
                                      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x00,
                                      0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01};
static const uint8_t doc_ask[32] = {0x1c, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                    0x00, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00,
                                    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t doc_reply[28] = {0x18, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00};

Test(protocol, fingerprint_and_codes, .timeout = 10)
{
    cr_assert_eq(tri_gateway_fingerprint(&tnode_gateway), 0x2085690ca8fe672full);
    cr_assert_eq(TR_PROTOCOL_VERSION, TRI_PROTOCOL_VERSION);
    static const struct {
        int code;
        int wire;
    } table[] = {{TR_EINVAL, -999},      {TR_ENOMEM, -998},     {TR_ESTOPPED, -997},
                 {TR_ENOTSTARTED, -996}, {TR_EUNREACHABLE, -995}, {TR_ETIMEDOUT, -994},
                 {TR_EEXISTS, -993},     {TR_ENOMETHOD, -992},  {TR_EGATEWAY, -991},
                 {TR_EFENCED, -990},     {TR_EFRAMESIZE, -989}, {TR_ENOTLOCAL, -988},
                 {TR_EVERSION, -987},    {TR_ENOENDPOINT, -986}, {TR_EDEADLK, -985},
                 {TR_ECANCELED, -984},   {TR_EPROTO, -983},     {TR_EIO, -982},
                 {TR_EAGAIN, -981},      {TR_EBUSY, -980},      {TR_EADDR, -979},
                 {TR_EFAILED, -978},     {TR_EFULL, -977},      {TR_EADDRINUSE, -976},
                 {TR_ERESTARTED, -975}, {TR_EAUTH, -974}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        cr_assert_eq(table[i].code, table[i].wire, "%s", tr_errname(table[i].code));
}

/* A fake server: takes the client's HELLO and RESOLVE, answers, then takes
 * one ASK and answers it with the document's REPLY_OK (its corr patched). */
typedef struct fake {
    int lfd;
    uint8_t hello[R_HELLO_LEN], ask[32];
    size_t got_hello, got_ask;
} fake;

static void *fake_main(void *arg)
{
    fake *fk = arg;
    int fd = accept(fk->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    fk->got_hello = r_read_n(fd, fk->hello, R_HELLO_LEN, 5000);
    uint8_t b[600];
    r_write_all(fd, b, r_hello(b, 2, TR_PROTOCOL_VERSION));
    uint8_t h[20];
    if (r_read_n(fd, h, 20, 5000) == 20) { /* RESOLVE */
        uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8;
        r_read_n(fd, b, len - 16, 5000);
        uint64_t corr;
        memcpy(&corr, h + 12, 8);
        size_t n = r_put_hdr(b, 4, 0, 0, 0, corr, 4);
        memset(b + n, 0, 4); /* slot 0 */
        r_write_all(fd, b, n + 4);
        fk->got_ask = r_read_n(fd, fk->ask, 32, 5000);
        uint8_t reply[28];
        memcpy(reply, doc_reply, sizeof reply);
        memcpy(reply + 12, fk->ask + 12, 8); /* the client's correlation id */
        r_write_all(fd, reply, sizeof reply);
    }
    r_closed_by_peer(fd, 5000);
    close(fd);
    return NULL;
}

/* What the client sends is the document's HELLO and ASK (but for the
 * correlation id, the client's choice), and the document's REPLY_OK
 * answers it. */
Test(protocol, client_bytes_match_the_document, .timeout = 30)
{
    uint16_t port;
    fake fk = {.lfd = r_listen(&port)};
    pthread_t t;
    pthread_create(&t, NULL, fake_main, &fk);
    tr_service *client = r_client(1, 0, 0);
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/node", (unsigned)port);
    tr_gateway *gw;
    TC_OK(tr_service_connect(client, a, &tnode_gateway, &gw));
    tr_future *f;
    TC_OK(tnode_ping(gw, &(tr_i64){7}, 1000 * 1000000LL, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tnode_ping_result(f), 7);
    tr_future_release(f);
    cr_assert_eq(fk.got_hello, R_HELLO_LEN);
    /* all but the incarnation, which is random */
    cr_assert(!memcmp(fk.hello, doc_hello, 32), "HELLO differs from PROTOCOL.md");
    uint64_t inc = 0;
    for (int i = 0; i < 8; i++)
        inc |= (uint64_t)fk.hello[32 + i] << (8 * i);
    cr_assert_eq(inc, tr_service_incarnation(client), "HELLO carries the incarnation");
    cr_assert_eq(fk.got_ask, 32);
    cr_assert(!memcmp(fk.ask, doc_ask, 12), "ASK header differs from PROTOCOL.md");
    /* The body: the time left in ms (the document's 1000 when sent at
     * once; less by however long the RESOLVE before it took), then the
     * argument. */
    uint32_t left_ms = (uint32_t)fk.ask[20] | (uint32_t)fk.ask[21] << 8 |
                       (uint32_t)fk.ask[22] << 16 | (uint32_t)fk.ask[23] << 24;
    cr_assert(left_ms <= 1000 && left_ms >= 500, "ASK's time left: %u ms of 1000", left_ms);
    cr_assert(!memcmp(fk.ask + 24, doc_ask + 24, 8), "ASK argument differs from PROTOCOL.md");
    tr_gateway_release(gw);
    tr_service_destroy(client);
    pthread_join(t, NULL);
    close(fk.lfd);
}

/* The other way: the document's frames, sent by hand, get the document's
 * answers from a service. */
static int ping_back(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return tnode_ping_reply(reply, arg);
}

Test(protocol, server_answers_the_document, .timeout = 30)
{
    tr_service *server = r_server(1, 0);
    static const tnode_handlers h = {.ping = ping_back};
    tr_gateway_impl impls[] = {tnode_impl(&h)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.id = "node", .gateways = impls,
                                                         .ngateways = 1},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    int fd = r_dial(tr_service_port(server));
    r_write_all(fd, doc_hello, sizeof doc_hello);
    uint8_t b[64];
    cr_assert_eq(r_read_n(fd, b, R_HELLO_LEN, 5000), R_HELLO_LEN);
    cr_assert_eq(b[4], 2); /* HELLO_OK */
    cr_assert(!memcmp(b + 20, "TRPE\x02\x00\x00\x00", 8));
    uint64_t inc = 0;
    for (int i = 0; i < 8; i++)
        inc |= (uint64_t)b[32 + i] << (8 * i);
    cr_assert_eq(inc, tr_service_incarnation(server));
    /* RESOLVE tnode on "node", as PROTOCOL.md lays it out. */
    size_t n = r_put_hdr(b, 3, 0, 0, 0, 99, 2 + 4 + 2 + 5 + 8 + 2);
    memcpy(b + n, "\x04\x00node\x05\x00tnode", 13);
    n += 13;
    uint64_t fp = 0x2085690ca8fe672full;
    memcpy(b + n, &fp, 8);
    n += 8;
    b[n++] = 5, b[n++] = 0;
    r_write_all(fd, b, n);
    cr_assert_eq(r_read_n(fd, b, 32, 5000), 32); /* version 2: slot and initial credit */
    cr_assert_eq(b[4], 4); /* RESOLVE_OK */
    cr_assert_eq(b[12], 99);
    cr_assert_eq(b[20] | b[21] | b[22] | b[23], 0, "the first slot is 0");
    cr_assert_eq(b[24] | b[25] << 8 | b[26] << 16 | b[27] << 24, 32768, "the initial credit: calls");
    cr_assert_eq(b[28] | b[29] << 8 | b[30] << 16 | b[31] << 24, 4 << 20, "the initial credit: bytes");
    r_write_all(fd, doc_ask, sizeof doc_ask);
    cr_assert_eq(r_read_n(fd, b, 28, 5000), 28);
    cr_assert(!memcmp(b, doc_reply, 28), "REPLY_OK differs from PROTOCOL.md");
    close(fd);
    tr_endpoint_release(ep);
    tr_service_destroy(server);
}

/* PING is answered with a PONG carrying the same correlation id. */
Test(protocol, ping_pong, .timeout = 30)
{
    tr_service *server = r_server(1, 0);
    int fd = r_dial(tr_service_port(server));
    r_write_all(fd, doc_hello, sizeof doc_hello);
    uint8_t b[64];
    cr_assert_eq(r_read_n(fd, b, R_HELLO_LEN, 5000), R_HELLO_LEN);
    size_t n = r_put_hdr(b, 9, 0, 0, 0, 0x1122334455667788ull, 0);
    r_write_all(fd, b, n);
    cr_assert_eq(r_read_n(fd, b, 20, 5000), 20);
    cr_assert_eq(b[4], 10); /* PONG */
    uint64_t corr;
    memcpy(&corr, b + 12, 8);
    cr_assert_eq(corr, 0x1122334455667788ull);
    close(fd);
    tr_service_destroy(server);
}
