/* libFuzzer target: a listening service fed untrusted bytes on a real
 * inbound connection, one end of a socketpair the service adopts
 * (remote/adopt.h: served exactly as an accepted TCP connection, with no
 * port, connect or accept per input). Bit 0 of the first byte puts a
 * valid HELLO and RESOLVE of tnode before the rest (so the fuzzer reaches
 * TELL, ASK, PING, CLOSE and the oversized-frame paths without having to
 * find the handshake first); the rest is sent as is, then our half is
 * shut and the answers are read until the server closes. Every 64 inputs
 * a well-formed client asks the same server over TCP on loopback: it must
 * still answer (S36: garbage closes only its own connection). */
#include "fuzz_net.h"
#include "remote/adopt.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static tr_service *server, *client;
static tr_gateway *good;

static void setup(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    cfg.max_frame_size = 4096; /* small: inputs reach the oversized paths */
    CHECK(tr_service_create(&cfg, &server) == 0);
    fz_node(server);
    uint16_t port = tr_service_port(server);
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    CHECK(tr_service_create(&cfg, &client) == 0);
    char addr[64];
    snprintf(addr, sizeof addr, "troupe://127.0.0.1:%u/" TNODE_ENDPOINT, (unsigned)port);
    CHECK(tr_service_connect(client, addr, &tnode_gateway, &good) == 0);
}

static void still_serving(uint64_t i)
{
    tr_i64 v = (tr_i64)i;
    tr_future *f;
    CHECK(tnode_ping(good, &v, 5LL * 1000 * 1000 * 1000, &f) == 0);
    CHECK(tr_future_wait(f, 10LL * 1000 * 1000 * 1000) == 0);
    const tr_i64 *r = tnode_ping_result(f);
    CHECK(r && *r == v);
    tr_future_release(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static uint64_t runs;
    if (!server)
        setup();
    if (n < 1)
        return 0;
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(tri_net_adopt(server, sv[1], "fuzz-socketpair") == 0);
    int fd = sv[0];
    if (d[0] & 1) {
        uint8_t pre[256];
        size_t k = fz_hello(pre, TRI_F_HELLO);
        k += fz_resolve(pre + k, 1);
        fz_write(fd, pre, k);
    }
    fz_write(fd, d + 1, n - 1);
    shutdown(fd, SHUT_WR);
    fz_drain(fd, 2000);
    close(fd);
    if (++runs % 64 == 0)
        still_serving(runs);
    return 0;
}
