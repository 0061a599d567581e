/* Fuzz-style: random and mutated frames, on many connections, to a
 * listening service, while a well-formed client keeps calling it. The
 * service must go on serving that client throughout, never crash (the
 * ASan build runs this too) and close only the connections that sent
 * garbage (S36). Seeded: TC_VERBOSE=1 prints the seed; TR_FUZZ_SEED
 * replays one. */
#include "remote/frame.h"
#include "rpc/codec.h"
#include "remote_common.h"

/* A valid stream: HELLO, RESOLVE of tcalc on "calc", then a few calls to
 * slot 0 (the first slot the server gives a connection). */
static size_t valid_stream(uint8_t *p, tc_rng *rng)
{
    size_t n = r_hello(p, 1, TR_PROTOCOL_VERSION);
    const char *id = "calc", *gw = "tcalc";
    size_t body = 2 + 4 + 2 + 5 + 8 + 2;
    n += r_put_hdr(p + n, 3, 0, 0, 0, 0x8000000000000001ull, body);
    p[n++] = 4, p[n++] = 0;
    memcpy(p + n, id, 4), n += 4;
    p[n++] = 5, p[n++] = 0;
    memcpy(p + n, gw, 5), n += 5;
    uint64_t fp = tri_gateway_fingerprint(&tcalc_gateway);
    for (int i = 0; i < 8; i++)
        p[n++] = (uint8_t)(fp >> (8 * i));
    p[n++] = (uint8_t)tcalc_gateway.nmethods, p[n++] = 0;
    int calls = 1 + (int)tc_rng_below(rng, 4);
    for (int c = 0; c < calls; c++) {
        if (tc_rng_below(rng, 2)) { /* ASK add: timeout, then two i64 */
            n += r_put_hdr(p + n, 6, 0, tcalc__add, 0, 100 + (uint64_t)c, 4 + 16);
            uint32_t ms = 1000;
            memcpy(p + n, &ms, 4), n += 4;
            int64_t a = (int64_t)tc_rng_next(rng), b = 1;
            memcpy(p + n, &a, 8), n += 8;
            memcpy(p + n, &b, 8), n += 8;
        } else { /* TELL note */
            n += r_put_hdr(p + n, 5, 0, tcalc__note, 0, 0, 8);
            int64_t v = (int64_t)tc_rng_below(rng, 1000);
            memcpy(p + n, &v, 8), n += 8;
        }
    }
    return n;
}

/* Damages a stream in one of several ways; returns its new length. */
static size_t mutate(uint8_t *p, size_t n, size_t cap, tc_rng *rng)
{
    switch (tc_rng_below(rng, 6)) {
    case 0: /* flip a few bytes */
        for (int k = 0, flips = 1 + (int)tc_rng_below(rng, 4); k < flips; k++)
            p[tc_rng_below(rng, n)] ^= (uint8_t)(1 + tc_rng_below(rng, 255));
        return n;
    case 1: /* truncate */
        return 1 + (size_t)tc_rng_below(rng, n);
    case 2: { /* a lying length in some frame header after HELLO */
        size_t at = R_HELLO_LEN + (size_t)tc_rng_below(rng, n > R_HELLO_LEN + 4 ? n - R_HELLO_LEN - 4 : 1);
        uint32_t len = (uint32_t)tc_rng_next(rng);
        memcpy(p + at, &len, 4);
        return n;
    }
    case 3: /* random garbage appended */
        for (size_t k = 0, more = (size_t)tc_rng_below(rng, 64); k < more && n < cap; k++)
            p[n++] = (uint8_t)tc_rng_next(rng);
        return n;
    case 4: /* an unknown type or flag in the second frame */
        p[R_HELLO_LEN + 4 + (tc_rng_below(rng, 2))] = (uint8_t)tc_rng_next(rng);
        return n;
    default: /* a random byte anywhere, and a duplicated tail */
        p[tc_rng_below(rng, n)] = (uint8_t)tc_rng_next(rng);
        if (n * 2 <= cap) {
            memcpy(p + n, p + n / 2, n - n / 2);
            n += n - n / 2;
        }
        return n;
    }
}

/* Reads whatever comes for a moment, then closes (either side first). */
static void drain_and_close(int fd)
{
    char buf[4096];
    uint64_t dl = tc_deadline_ms(20);
    for (;;) {
        uint64_t now = tc_now_ns();
        if (now >= dl)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)((dl - now) / 1000000) + 1) <= 0)
            continue;
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0)
            break;
    }
    close(fd);
}

/* Handlers that take any values (fuzzed arguments overflow t_add's and
 * t_note's signed sums, which UBSan rightly reports). */
static int safe_add(tr_endpoint *self, void *state, const t_pair *arg, tr_reply *reply)
{
    (void)self, (void)state;
    tr_i64 r = (int64_t)((uint64_t)arg->a + (uint64_t)arg->b);
    return tcalc_add_reply(reply, &r);
}

static int safe_note(tr_endpoint *self, void *state, const tr_i64 *arg)
{
    (void)self;
    t_state *s = state;
    s->total = (int64_t)((uint64_t)s->total + (uint64_t)*arg);
    s->notes++;
    return 0;
}

static tr_endpoint *fuzz_endpoint(tr_service *svc)
{
    static tcalc_handlers h;
    h = t_handlers;
    h.add = safe_add;
    h.note = safe_note;
    tr_gateway_impl impls[] = {tcalc_impl(&h)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "calc", .gateways = impls,
                                                      .ngateways = 1, .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    return ep;
}

static void good_call(tr_gateway *gw, int64_t i)
{
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){i, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), i + 2);
    tr_future_release(f);
}

Test(fuzz, random_and_mutated_frames, .timeout = 120)
{
    const char *env = getenv("TR_FUZZ_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : tc_now_ns();
    TC_LOG("fuzz seed %llu (TR_FUZZ_SEED=%llu replays it)", (unsigned long long)seed,
           (unsigned long long)seed);
    tc_rng rng;
    tc_rng_seed(&rng, seed);
    tr_service *server = r_server(2, 64 * 1024), *client = r_client(1, 0, 0);
    tr_endpoint *ep = fuzz_endpoint(server);
    tr_gateway *gw = r_connect(client, server, "calc");
    uint16_t port = tr_service_port(server);
    enum { ROUNDS = 400 };
    uint64_t stop_at = tc_deadline_ms(20000);
    int rounds = 0;
    for (; rounds < ROUNDS && tc_now_ns() < stop_at; rounds++) {
        uint8_t buf[1024];
        size_t n;
        switch (tc_rng_below(&rng, 4)) {
        case 0: /* noise from the first byte */
            n = 1 + (size_t)tc_rng_below(&rng, 512);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)tc_rng_next(&rng);
            break;
        case 1: /* a good HELLO, then noise */
            n = r_hello(buf, 1, TR_PROTOCOL_VERSION);
            for (size_t i = 0, more = 1 + (size_t)tc_rng_below(&rng, 256); i < more; i++)
                buf[n++] = (uint8_t)tc_rng_next(&rng);
            break;
        default: /* a valid conversation, damaged */
            n = valid_stream(buf, &rng);
            if (tc_rng_below(&rng, 8)) /* one in eight stays valid */
                n = mutate(buf, n, sizeof buf, &rng);
            break;
        }
        int fd = r_dial(port);
        r_write_all(fd, buf, n);
        drain_and_close(fd);
        if (rounds % 10 == 0)
            good_call(gw, rounds); /* the well-formed client is served throughout */
    }
    TC_LOG("%d rounds", rounds);
    good_call(gw, -1);
    /* It still takes new clients. */
    tr_service *late = r_client(1, 0, 0);
    tr_gateway *gw2 = r_connect(late, server, "calc");
    good_call(gw2, 42);
    tr_remote_stats ss = r_stats(server);
    TC_LOG("malformed %llu, accepted %llu, last error: %s", (unsigned long long)ss.malformed,
           (unsigned long long)ss.connections_accepted, ss.last_error);
    cr_assert_gt(ss.malformed, (uint64_t)rounds / 4, "most garbage is caught as malformed");
    cr_assert_eq(r_stats(client).connections_opened, 1, "the good client never lost its connection");
    TC_ASSERT_EVENTUALLY(r_stats(server).inbound_open == 2, 10000); /* the two good ones */
    tr_gateway_release(gw2);
    tr_service_destroy(late);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

/* The frame codec on its own: no header or body parser reads past what it
 * was given, whatever the bytes (the ASan build checks the bounds). */
Test(fuzz, codec_bounds, .timeout = 60)
{
    tc_rng rng;
    tc_rng_seed(&rng, tc_now_ns());
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)tc_rng_below(&rng, 64);
        uint8_t *p = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)tc_rng_next(&rng);
        if (n >= 2 && tc_rng_below(&rng, 2))
            p[0] = (uint8_t)tc_rng_below(&rng, 8), p[1] = 0; /* plausible name lengths */
        tri_hello h;
        tri_resolve r;
        int32_t code;
        const char *msg;
        size_t mlen;
        (void)tri_hello_get(p, n, &h);
        if (tri_resolve_get(p, n, &r) == 0)
            cr_assert(r.id + r.id_len <= (const char *)p + n);
        if (tri_error_get(p, n, &code, &msg, &mlen) == 0)
            cr_assert(msg + mlen <= (const char *)p + n);
        if (n >= TRI_FRAME_HDR) {
            tri_frame_hdr fh;
            tri_frame_get_hdr(p, &fh);
            (void)tri_frame_check_hdr(&fh);
        }
        size_t size;
        if (tri_decode_size(&t_pair__type, p, n, &size) == 0 && size) {
            void *v = malloc(size);
            tri_decode_into(&t_pair__type, p, n, v, size);
            free(v);
        }
        if (tri_decode_size(&tr_str__type, p, n, &size) == 0 && size) {
            void *v = malloc(size);
            tri_decode_into(&tr_str__type, p, n, v, size);
            free(v);
        }
        if (tri_decode_size(&tr_bytes__type, p, n, &size) == 0 && size) {
            void *v = malloc(size);
            tri_decode_into(&tr_bytes__type, p, n, v, size);
            free(v);
        }
        free(p);
    }
}
