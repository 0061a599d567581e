/* Streams past the frame limit (troupe/stream.h), remotely: every byte
 * through troupe-node in another process (its digest checked), a stream
 * larger than the frame limit, the receiver's events in order, its size
 * limit, a cancel, and streams cut by a lost connection on both sides. */
#include <pthread.h>

#include "node_proc.h"
#include "stream_cut.h"
#include "troupe/stream.h"

/* ---- the sending side against troupe-node ------------------------------------------------- */

static tr_gateway *stream_connect(tr_service *client, uint16_t port)
{
    return node_gw_of(client, port, &tr_stream_gateway);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    tc_rng r;
    tc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tc_rng_next(&r);
}

/* Writes `len` bytes in uneven pieces (1 byte, an odd size, a chunk and a
 * half...) under a checked name; the close's outcome. */
static int send_checked(tr_gateway *gw, const uint8_t *data, size_t len, bool lie)
{
    tnode_digest d = {0};
    tnode_digest_add(&d, data, len);
    char name[96];
    snprintf(name, sizeof name, TNODE_STREAM_CHECK "%zu:%llx", len,
             (unsigned long long)(tnode_digest_end(&d) ^ (lie ? 1 : 0)));
    tr_stream *s;
    TC_OK(tr_stream_open(gw, name, 0, &s));
    static const size_t pieces[] = {1, 7, 4093, TR_STREAM_CHUNK + TR_STREAM_CHUNK / 2, 65536, 3};
    for (size_t at = 0, i = 0; at < len; i++) {
        size_t n = pieces[i % 6];
        if (n > len - at)
            n = len - at;
        int rv = tr_stream_write(s, data + at, n);
        TC_ASSERT_MSG(rv == 0, "write at %zu: %s", at, tr_errname(rv));
        at += n;
    }
    cr_assert_eq(tr_stream_offset(s), len);
    tr_future *f;
    TC_OK(tr_stream_close(s, &f));
    int rv = tr_future_get(f, WAIT_NS);
    tr_future_release(f);
    return rv;
}

/* 12 MiB through a node whose frames hold at most 1 MiB: every byte
 * arrives in order (the node's digest); a wrong digest fails, so the
 * check can fail; an empty stream works too. */
Test(remote_stream, every_byte_past_the_frame_limit, .timeout = 120)
{
    node nd = node_start(0);
    tr_service *client = r_client(1, 1u << 20, 0);
    tr_gateway *gw = stream_connect(client, nd.port);
    size_t len = 12u << 20;
    uint8_t *data = malloc(len);
    fill(data, len, 42);
    TC_OK(send_checked(gw, data, len, false));
    TC_ERR(send_checked(gw, data, len / 3 + 5, true), TR_EPROTO);
    TC_OK(send_checked(gw, data, 0, false));
    TC_OK(send_checked(gw, data + 1, 1, false));
    free(data);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    node_end(&nd);
    TC_ASSERT_NO_LEAKS();
}

/* The node dies mid-stream (SIGKILL, by PID): the writer learns it at a
 * write or at the close, with TR_EUNREACHABLE, within bounded time. */
Test(remote_stream, cut_when_the_receiver_dies, .timeout = 120)
{
    node nd = node_start(0);
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *gw = stream_connect(client, nd.port);
    uint8_t buf[65536];
    fill(buf, sizeof buf, 7);
    tr_stream *s;
    TC_OK(tr_stream_open(gw, "doomed", 2LL * 1000 * 1000 * 1000, &s));
    for (int i = 0; i < 64; i++)
        TC_OK(tr_stream_write(s, buf, sizeof buf));
    node_end(&nd); /* SIGKILL, by PID */
    int rv = 0;
    uint64_t dl = tc_deadline_ms(20000);
    while (!rv && tc_poll(dl))
        rv = tr_stream_write(s, buf, sizeof buf);
    rv = stream_end_after_cut(s, rv);
    cr_assert(rv == TR_EUNREACHABLE || rv == TR_ESTOPPED, "got %s", tr_errname(rv));
    tr_gateway_release(gw);
    tr_service_destroy(client);
    TC_ASSERT_NO_LEAKS();
}

/* ---- the receiving side, in this process ------------------------------------------------- */

#define MAX_EVENTS 64
typedef struct rx_state {
    int kinds[MAX_EVENTS];
    int codes[MAX_EVENTS];
    unsigned nevents;
    uint64_t bytes, next_offset, bad_offsets;
    tnode_digest digest;
    _Atomic int ended; /* an END or ERROR was seen */
} rx_state;

static int rx_event(tr_endpoint *self, void *state, const tr_stream_event *ev)
{
    (void)self;
    rx_state *s = state;
    if (s->nevents < MAX_EVENTS) {
        s->kinds[s->nevents] = ev->kind;
        s->codes[s->nevents++] = ev->code;
    }
    if (ev->kind == TR_STREAM_DATA) {
        if (ev->offset != s->next_offset)
            s->bad_offsets++;
        s->next_offset = ev->offset + ev->len;
        s->bytes += ev->len;
        tnode_digest_add(&s->digest, ev->data, ev->len);
    }
    if (ev->kind == TR_STREAM_END || ev->kind == TR_STREAM_ERROR)
        atomic_store(&s->ended, 1);
    return 0;
}

static const tr_stream_receiver rx_plain = {.on_event = rx_event};
static const tr_stream_receiver rx_limited = {.on_event = rx_event, .max_bytes = 100000};

static tr_endpoint *rx_endpoint(tr_service *svc, const char *id, const tr_stream_receiver *r)
{
    tr_gateway_impl impls[] = {tr_stream_impl(r)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                      .state_size = sizeof(rx_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    return ep;
}

static tr_gateway *rx_connect(tr_service *client, tr_service *server, const char *id)
{
    char a[128];
    tr_gateway *gw = NULL;
    TC_OK(tr_service_connect(client, r_addr(server, id, a, sizeof a), &tr_stream_gateway, &gw));
    return gw;
}

static rx_state *rx(tr_endpoint *ep) { return tr_endpoint_state(ep); }

/* OPEN, DATA..., END in order, every byte, offsets contiguous. */
Test(remote_stream, events_in_order_with_every_byte, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_service *client = r_client(1, 0, 0);
    tr_endpoint *ep = rx_endpoint(server, "rx", &rx_plain);
    tr_gateway *gw = rx_connect(client, server, "rx");
    size_t len = 3 * TR_STREAM_CHUNK + 17;
    uint8_t *data = malloc(len);
    fill(data, len, 3);
    tr_stream *s;
    TC_OK(tr_stream_open(gw, "three and a bit", 0, &s));
    TC_OK(tr_stream_write(s, data, len));
    tr_future *f;
    TC_OK(tr_stream_close(s, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    rx_state *st = rx(ep);
    cr_assert_eq(st->kinds[0], TR_STREAM_OPEN);
    cr_assert_eq(st->nevents, 1 + 4 + 1, "OPEN, four chunks, END: %u events", st->nevents);
    for (unsigned i = 1; i < 5; i++)
        cr_assert_eq(st->kinds[i], TR_STREAM_DATA);
    cr_assert_eq(st->kinds[5], TR_STREAM_END);
    cr_assert_eq(st->bytes, len);
    cr_assert_eq(st->bad_offsets, 0);
    tnode_digest d = {0};
    tnode_digest_add(&d, data, len);
    cr_assert_eq(tnode_digest_end(&st->digest), tnode_digest_end(&d), "the bytes differ");
    free(data);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

/* Past max_bytes: the receiver sees ERROR TR_EFULL, the writer gets TR_EFULL. */
Test(remote_stream, receiver_limit, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_service *client = r_client(1, 0, 0);
    tr_endpoint *ep = rx_endpoint(server, "rx", &rx_limited);
    tr_gateway *gw = rx_connect(client, server, "rx");
    uint8_t buf[40000];
    fill(buf, sizeof buf, 5);
    tr_stream *s;
    TC_OK(tr_stream_open(gw, NULL, 0, &s));
    int rv = 0;
    for (int i = 0; i < 100 && !rv; i++)
        rv = tr_stream_write(s, buf, sizeof buf);
    tr_future *f;
    if (!rv) { /* the failure may come back only at the close */
        TC_OK(tr_stream_close(s, &f));
        rv = tr_future_get(f, WAIT_NS);
        tr_future_release(f);
    } else {
        tr_stream_cancel(s, NULL);
    }
    cr_assert_eq(rv, TR_EFULL, "got %s", tr_errname(rv));
    TC_WAIT_UNTIL(atomic_load(&rx(ep)->ended), 5000);
    rx_state *st = rx(ep);
    cr_assert_eq(st->kinds[st->nevents - 1], TR_STREAM_ERROR);
    cr_assert_eq(st->codes[st->nevents - 1], TR_EFULL);
    cr_assert_leq(st->bytes, 100000);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

/* A cancel reaches the handler as ERROR TR_ECANCELED; the client's
 * service going away mid-stream (its connection lost) as TR_EUNREACHABLE. */
Test(remote_stream, cancelled_and_cut_by_the_sender, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_endpoint *a = rx_endpoint(server, "a", &rx_plain);
    tr_endpoint *b = rx_endpoint(server, "b", &rx_plain);
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *ga = rx_connect(client, server, "a");
    tr_gateway *gb = rx_connect(client, server, "b");
    uint8_t buf[1000];
    fill(buf, sizeof buf, 9);
    tr_stream *sa, *sb;
    TC_OK(tr_stream_open(ga, "to cancel", 0, &sa));
    TC_OK(tr_stream_open(gb, "to cut", 0, &sb));
    TC_OK(tr_stream_write(sa, buf, sizeof buf));
    TC_OK(tr_stream_write(sb, buf, sizeof buf));
    tr_stream_cancel(sa, "changed my mind");
    TC_WAIT_UNTIL(atomic_load(&rx(a)->ended), 5000);
    cr_assert_eq(rx(a)->codes[rx(a)->nevents - 1], TR_ECANCELED);
    /* sb's chunk is answered: the server has it; then the client goes. */
    TC_WAIT_UNTIL(rx(b)->bytes == sizeof buf, 5000);
    TC_OK(tr_service_shutdown(client)); /* its connection closes, sb still open */
    TC_WAIT_UNTIL(atomic_load(&rx(b)->ended), 5000);
    int last = rx(b)->codes[rx(b)->nevents - 1];
    cr_assert_eq(last, TR_EUNREACHABLE, "got %s", tr_errname(last));
    tr_stream_cancel(sb, NULL); /* the service is stopped: frees it, sends nothing */
    tr_gateway_release(ga);
    tr_gateway_release(gb);
    tr_service_destroy(client);
    tr_endpoint_release(a);
    tr_endpoint_release(b);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}
