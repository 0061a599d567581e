/* remote/adopt.h: a connected socket handed to a service is served as an
 * inbound connection (what fuzz_server relies on): the handshake answers,
 * garbage closes it alone (S36) and is counted, and a service with no
 * network layer refuses it and closes it. */
#include "remote/adopt.h"
#include "remote/frame.h"
#include "remote_common.h"

/* One end of a socketpair adopted by svc; the other end, ours. */
static int adopted(tr_service *svc)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(tri_net_adopt(svc, sv[1], "adopt-test"), 0);
    return sv[0];
}

static void handshake(int fd)
{
    uint8_t hello[R_HELLO_LEN], back[R_HELLO_LEN];
    r_write_all(fd, hello, r_hello(hello, TRI_F_HELLO, TRI_PROTOCOL_VERSION));
    cr_assert_eq(r_read_n(fd, back, sizeof back, 5000), sizeof back, "no HELLO_OK came back");
    cr_assert_eq(back[4], TRI_F_HELLO_OK, "frame type %u, not HELLO_OK", back[4]);
    cr_assert_eq(memcmp(back + 20, "TRPE", 4), 0, "no magic in the HELLO_OK");
    cr_assert_eq(back[24] | back[25] << 8, TRI_PROTOCOL_VERSION);
}

Test(adopt, served_as_inbound, .timeout = 30)
{
    tr_service *svc = r_server(1, 0);
    int a = adopted(svc), b = adopted(svc);
    handshake(a);
    /* A frame of a type nobody defined: a's connection closes, b's not. */
    uint8_t bad[20];
    r_write_all(a, bad, r_put_hdr(bad, 0xee, 0, 0, 0, 0, 0));
    cr_assert(r_closed_by_peer(a, 5000), "the garbage frame did not close its connection");
    handshake(b);
    uint8_t ping[20], pong[20];
    r_write_all(b, ping, r_put_hdr(ping, TRI_F_PING, 0, 0, 0, 42, 0));
    cr_assert_eq(r_read_n(b, pong, sizeof pong, 5000), sizeof pong, "no PONG");
    cr_assert_eq(pong[4], TRI_F_PONG);
    cr_assert_eq(pong[12], 42, "the PONG has another corr");
    tr_remote_stats st = r_stats(svc);
    cr_assert_geq(st.malformed, 1, "the garbage frame was not counted");
    close(a);
    close(b);
    tr_service_destroy(svc);
}

Test(adopt, refused_without_network, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc)); /* not listening, never connected: no I/O thread */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(tri_net_adopt(svc, sv[1], "adopt-test"), TR_ESTOPPED);
    cr_assert(r_closed_by_peer(sv[0], 1000), "a refused socket was not closed");
    close(sv[0]);
    tr_service_destroy(svc);
}
