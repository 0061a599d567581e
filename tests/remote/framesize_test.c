/* The maximum frame size across processes: S24, S25, S26, S27 (and the
 * default and configuration of S23). */
#include "remote_common.h"

#define TBLOB_METHODS(M)                                                      \
    M(tblob, make, tr_u32, tr_bytes, ASK)   /* answers with arg bytes */      \
    M(tblob, put, tr_bytes, tr_u32, ASK)    /* answers with their length */   \
    M(tblob, drop, tr_bytes, tr_void, TELL) /* counts them */
TR_GATEWAY(tblob, TBLOB_METHODS)
TR_GATEWAY_DEFINE(tblob, TBLOB_METHODS)

typedef struct blob_state {
    uint64_t made, put, dropped;
} blob_state;

/* The bytes make answers with: byte i of n (so a reply read back whole
 * is checked, not only its length). */
static uint8_t made_byte(uint32_t n, uint32_t i) { return (uint8_t)(i * 7u + (i >> 10) + n); }

static int b_make(tr_endpoint *self, void *state, const tr_u32 *n, tr_reply *reply)
{
    (void)self;
    ((blob_state *)state)->made++;
    uint8_t *p = calloc(1, *n ? *n : 1);
    if (!p)
        return TR_ENOMEM;
    for (uint32_t i = 0; i < *n; i++)
        p[i] = made_byte(*n, i);
    tr_bytes b = {p, *n};
    int rv = tblob_make_reply(reply, &b);
    free(p);
    return rv;
}

static int b_put(tr_endpoint *self, void *state, const tr_bytes *b, tr_reply *reply)
{
    (void)self;
    ((blob_state *)state)->put++;
    tr_u32 n = b->len;
    return tblob_put_reply(reply, &n);
}

static int b_drop(tr_endpoint *self, void *state, const tr_bytes *b)
{
    (void)self, (void)b;
    ((blob_state *)state)->dropped++;
    return 0;
}

static const tblob_handlers blob_handlers = {.make = b_make, .put = b_put, .drop = b_drop};

typedef struct world {
    tr_service *server, *client;
    tr_endpoint *ep;
    tr_gateway *gw;
} world;

static world world_make(size_t server_max, size_t client_max)
{
    world w;
    w.server = r_server(1, server_max);
    w.client = r_client(1, client_max, 0);
    tr_gateway_impl impls[] = {tblob_impl(&blob_handlers)};
    TC_OK(tr_endpoint_create(w.server, &(tr_endpoint_opts){.id = "blob", .gateways = impls,
                                                           .ngateways = 1,
                                                           .state_size = sizeof(blob_state)},
                             &w.ep));
    TC_OK(tr_endpoint_start(w.ep));
    char a[128];
    TC_OK(tr_service_connect(w.client, r_addr(w.server, "blob", a, sizeof a), &tblob_gateway,
                             &w.gw));
    return w;
}

static void world_free(world *w)
{
    tr_gateway_release(w->gw);
    tr_endpoint_release(w->ep);
    tr_service_destroy(w->client);
    tr_service_destroy(w->server);
}

static tr_bytes bytes_of(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    TC_ASSERT(p);
    return (tr_bytes){p, (uint32_t)n};
}

/* One round trip that must work: the connection still serves. */
static void still_serving(world *w)
{
    tr_future *f;
    TC_OK(tblob_put(w->gw, &(tr_bytes){"abc", 3}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tblob_put_result(f), 3);
    tr_future_release(f);
}

#define LIMIT (64u * 1024)
/* Frame of put(n): header 20 + timeout 4 + bytes length 4 + n. */
#define PUT_FRAME(n) (20u + 4u + 4u + (n))

/* S24: a request over the caller's limit fails at once with
 * TR_EFRAMESIZE naming method, size and limit; nothing is sent; the
 * counter and the latest size say so (S27). A frame of exactly the limit
 * goes. */
Test(framesize, s24_request_too_large, .timeout = 30)
{
    world w = world_make(0, LIMIT);
    tr_bytes exact = bytes_of(LIMIT - 28), over = bytes_of(LIMIT - 27);
    tr_future *f;
    TC_OK(tblob_put(w.gw, &exact, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tblob_put_result(f), LIMIT - 28);
    tr_future_release(f);
    tr_remote_stats before = r_stats(w.client);
    cr_assert_eq(before.last_request_size, LIMIT);

    TC_OK(tblob_put(w.gw, &over, 0, &f));
    cr_assert(tr_future_done(f), "S24: it fails at once, not later");
    TC_ERR(tr_future_code(f), TR_EFRAMESIZE);
    char want[128];
    snprintf(want, sizeof want, "%u bytes, exceeds the maximum frame size %u", LIMIT + 1, LIMIT);
    cr_assert(strstr(tr_future_error(f), "tblob.put") && strstr(tr_future_error(f), want), "%s",
              tr_future_error(f));
    tr_future_release(f);

    /* A tell: the error code at once, counted and logged. */
    tr_bytes big = bytes_of(LIMIT);
    TC_ERR(tblob_drop(w.gw, &big), TR_EFRAMESIZE);
    still_serving(&w);
    tr_remote_stats after = r_stats(w.client);
    cr_assert_eq(after.oversized_requests, 2);
    cr_assert_eq(after.frames_sent - before.frames_sent, 1, "only still_serving's ask left");
    blob_state *s = tr_endpoint_state(w.ep);
    cr_assert_eq(s->put, 2);
    cr_assert_eq(s->dropped, 0);
    free((void *)exact.data);
    free((void *)over.data);
    free((void *)big.data);
    world_free(&w);
    T_LEAK_CHECK();
}

/* S25: a result over the replier's limit is not sent; the caller gets
 * TR_EFRAMESIZE ("result of <method> is N bytes, exceeds the maximum frame
 * size M"); counted (S27). */
Test(framesize, s25_reply_too_large, .timeout = 30)
{
    world w = world_make(LIMIT, 0);
    tr_future *f;
    TC_OK(tblob_make(w.gw, &(tr_u32){100000}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFRAMESIZE);
    char want[160];
    snprintf(want, sizeof want,
             "result of tblob.make is %u bytes, exceeds the maximum frame size %u",
             20u + 4u + 100000u, LIMIT);
    cr_assert(strstr(tr_future_error(f), want), "%s", tr_future_error(f));
    tr_future_release(f);
    tr_remote_stats ss = r_stats(w.server);
    cr_assert_eq(ss.oversized_replies, 1);
    cr_assert_eq(ss.last_reply_size, 20u + 4u + 100000u);
    cr_assert_leq(ss.largest_sent, LIMIT);
    still_serving(&w);
    /* Just under: sent. */
    TC_OK(tblob_make(w.gw, &(tr_u32){LIMIT - 24}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(tblob_make_result(f)->len, LIMIT - 24);
    tr_future_release(f);
    cr_assert_eq(r_stats(w.server).largest_sent, LIMIT);
    world_free(&w);
    T_LEAK_CHECK();
}

/* S26: a frame declaring more than the receiver's limit is never buffered:
 * skipped as it arrives, the asker told at once, the connection goes on. */
Test(framesize, s26_incoming_too_large_request, .timeout = 30)
{
    world w = world_make(LIMIT, 0); /* the client allows 10 MiB */
    tr_bytes big = bytes_of(200000);
    tr_future *f;
    TC_OK(tblob_put(w.gw, &big, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFRAMESIZE);
    cr_assert(strstr(tr_future_error(f), "exceeds the maximum frame size 65536"), "%s",
              tr_future_error(f));
    tr_future_release(f);
    TC_OK(tblob_drop(w.gw, &big)); /* a tell: skipped and counted */
    still_serving(&w);
    tr_remote_stats ss = r_stats(w.server), cs = r_stats(w.client);
    cr_assert_eq(ss.oversized_incoming, 2);
    cr_assert_leq(ss.largest_received, LIMIT, "invariant 6: nothing larger was buffered");
    cr_assert_eq(ss.malformed, 0);
    cr_assert_eq(cs.connections_opened, 1, "the same connection served on");
    blob_state *s = tr_endpoint_state(w.ep);
    cr_assert_eq(s->put, 1);
    cr_assert_eq(s->dropped, 0);
    free((void *)big.data);
    world_free(&w);
    T_LEAK_CHECK();
}

/* S26 the other way: an answer above the asker's own limit. */
Test(framesize, s26_incoming_too_large_reply, .timeout = 30)
{
    world w = world_make(0, LIMIT); /* the server allows 10 MiB */
    tr_future *f;
    TC_OK(tblob_make(w.gw, &(tr_u32){300000}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFRAMESIZE);
    cr_assert(strstr(tr_future_error(f), "tblob.make") &&
                  strstr(tr_future_error(f), "300024 bytes"),
              "%s", tr_future_error(f));
    tr_future_release(f);
    still_serving(&w);
    tr_remote_stats cs = r_stats(w.client);
    cr_assert_eq(cs.oversized_incoming, 1);
    cr_assert_eq(cs.last_received_size, 20u + 4u); /* the latest: still_serving's u32 reply */
    cr_assert_leq(cs.largest_received, LIMIT);
    cr_assert_eq(cs.connections_opened, 1);
    world_free(&w);
}

/* S23, S27: the default is 10 MiB; a 9 MiB round trip works with it. */
Test(framesize, default_limit_carries_megabytes, .timeout = 60)
{
    world w = world_make(0, 0);
    tr_service_config cfg;
    tr_service_effective_config(w.client, &cfg);
    cr_assert_eq(cfg.max_frame_size, (size_t)10 << 20);
    tr_bytes big = bytes_of(9u << 20);
    ((uint8_t *)big.data)[12345] = 7;
    tr_future *f;
    TC_OK(tblob_put(w.gw, &big, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tblob_put_result(f), 9u << 20);
    tr_future_release(f);
    TC_OK(tblob_make(w.gw, &(tr_u32){9u << 20}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    const tr_bytes *made = tblob_make_result(f);
    cr_assert_eq(made->len, 9u << 20);
    for (uint32_t i = 0; i < made->len; i++)
        if (((const uint8_t *)made->data)[i] != made_byte(made->len, i))
            cr_assert_fail("byte %u of the 9 MiB answer differs", i);
    tr_future_release(f);
    tr_remote_stats cs = r_stats(w.client);
    cr_assert_eq(cs.largest_sent, PUT_FRAME(9u << 20));
    cr_assert_eq(cs.largest_received, 24u + (9u << 20));
    free((void *)big.data);
    world_free(&w);
}

/* The buffers of a service's connections in one direction (metrics.h). */
static uint64_t buffers(tr_service *svc, bool outbound)
{
    tr_conn_metrics cm[8];
    size_t n = tr_service_connections(svc, cm, 8);
    uint64_t sum = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        if (cm[i].outbound == outbound)
            sum += cm[i].buffer_bytes;
    return sum;
}

/* A frame of a few hundred KiB grows the receiving connection's read
 * buffer to 1 MiB, kept while such frames come (a stream's chunks), and
 * given back once none has come for a second: on both sides, with the
 * payload read back whole. */
Test(framesize, large_frames_buffer_then_give_back, .timeout = 60)
{
    world w = world_make(0, 0);
    uint64_t idle_in = buffers(w.server, false), idle_out = buffers(w.client, true);
    enum { N = 300 * 1024 };
    tr_bytes big = bytes_of(N);
    tr_future *f;
    for (int i = 0; i < 3; i++) {
        TC_OK(tblob_put(w.gw, &big, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        cr_assert_eq(*tblob_put_result(f), N);
        tr_future_release(f);
    }
    TC_OK(tblob_make(w.gw, &(tr_u32){N}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    const tr_bytes *got = tblob_make_result(f);
    cr_assert_eq(got->len, N);
    for (uint32_t i = 0; i < got->len; i++)
        if (((const uint8_t *)got->data)[i] != made_byte(N, i))
            cr_assert_fail("byte %u of the answer differs", i);
    tr_future_release(f);
    uint64_t big_in = buffers(w.server, false), big_out = buffers(w.client, true);
    cr_assert_geq(big_in, idle_in + 800 * 1024, "server read buffer %llu, idle %llu",
                  (unsigned long long)big_in, (unsigned long long)idle_in);
    cr_assert_geq(big_out, idle_out + 800 * 1024, "client read buffer %llu, idle %llu",
                  (unsigned long long)big_out, (unsigned long long)idle_out);
    TC_ASSERT_EVENTUALLY(buffers(w.server, false) <= big_in - 800 * 1024, 5000);
    TC_ASSERT_EVENTUALLY(buffers(w.client, true) <= big_out - 800 * 1024, 5000);
    free((void *)big.data);
    world_free(&w);
}
