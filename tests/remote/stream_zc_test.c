/* tr_stream_write_zc: the caller's bytes are read where they are, and its
 * done callback says when they are no longer read.
 *
 * Each write lends its own heap buffer, and done poisons and frees it. The
 * receiver checks a digest taken before the stream started, so a read after
 * done shows as a wrong digest (or under ASan as a use after free), and
 * every done must run exactly once: when the stream completes, when the
 * receiver's process is killed mid-stream, and for a local stream (which
 * copies). */
#include "node_proc.h"
#include "stream_cut.h"
#include "troupe/stream.h"

typedef struct lent_buf {
    uint8_t *data;
    size_t len;
    _Atomic int calls; /* done's: must end at 1 */
} lent_buf;

static void lent_done(void *ctx)
{
    lent_buf *b = ctx;
    memset(b->data, 0x5a, b->len); /* troupe must not read it any more */
    free(b->data);
    b->data = NULL;
    /* release: the test reads calls, then b, after it sees 1. */
    atomic_fetch_add_explicit(&b->calls, 1, memory_order_release);
}

/* Sizes across the chunk (256 KiB), the splice threshold (16 KiB) and the
 * window (8 chunks): several writes are in flight at once. */
static size_t zc_size(unsigned i)
{
    static const size_t sizes[] = {1, 4093, 16384, TR_STREAM_CHUNK, TR_STREAM_CHUNK * 3 + 17,
                                   (size_t)1 << 20, 65536, 0};
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    tc_rng r;
    tc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tc_rng_next(&r);
}

#define WRITES 40

/* The buffers of WRITES writes, filled; their digest as a node's checked name. */
static void make_bufs(lent_buf *b, char *name, size_t name_len)
{
    tnode_digest d = {0};
    size_t total = 0;
    for (unsigned i = 0; i < WRITES; i++) {
        b[i].len = zc_size(i);
        b[i].data = malloc(b[i].len ? b[i].len : 1);
        TC_ASSERT(b[i].data);
        fill(b[i].data, b[i].len, 100 + i);
        atomic_init(&b[i].calls, 0);
        tnode_digest_add(&d, b[i].data, b[i].len);
        total += b[i].len;
    }
    snprintf(name, name_len, TNODE_STREAM_CHECK "%zu:%llx", total,
             (unsigned long long)tnode_digest_end(&d));
}

/* Every done ran once (bounded: the last ones come as the futures go). */
static void all_done_once(lent_buf *b, unsigned n)
{
    uint64_t dl = tc_deadline_ms(20000);
    for (unsigned i = 0; i < n; i++) {
        while (atomic_load_explicit(&b[i].calls, memory_order_acquire) == 0 && tc_poll(dl)) {
        }
        cr_assert_eq(atomic_load_explicit(&b[i].calls, memory_order_acquire), 1,
                     "write %u (%zu bytes): done ran %d times", i, b[i].len,
                     atomic_load(&b[i].calls));
        cr_assert_null(b[i].data);
    }
}

/* A troupe-node in another process, a client with a stream gateway to it,
 * and WRITES filled buffers with their digest as a checked name. */
typedef struct zc_world {
    node nd;
    tr_service *client;
    tr_gateway *gw;
    lent_buf b[WRITES];
    char name[96];
} zc_world;

static void zc_open(zc_world *w)
{
    w->nd = node_start(0);
    w->client = r_client(1, 0, 0);
    w->gw = node_gw_of(w->client, w->nd.port, &tr_stream_gateway);
    make_bufs(w->b, w->name, sizeof w->name);
}

static void zc_close(zc_world *w)
{
    tr_gateway_release(w->gw);
    tr_service_destroy(w->client);
    node_end(&w->nd); /* a second end (the node was killed) does nothing */
    TC_ASSERT_NO_LEAKS();
}

/* Every byte reaches troupe-node in another process although each buffer is
 * poisoned and freed in its done; each done runs once. */
Test(stream_zc, every_byte_then_freed, .timeout = 120)
{
    zc_world w;
    zc_open(&w);
    tr_stream *s;
    TC_OK(tr_stream_open(w.gw, w.name, 0, &s));
    for (unsigned i = 0; i < WRITES; i++) {
        int rv = tr_stream_write_zc(s, w.b[i].data, w.b[i].len, lent_done, &w.b[i]);
        TC_ASSERT_MSG(rv == 0, "write %u: %s", i, tr_errname(rv));
    }
    tr_future *f;
    TC_OK(tr_stream_close(s, &f));
    int rv = tr_future_get(f, WAIT_NS);
    cr_assert_eq(rv, 0, "the node's digest: %s", tr_future_error(f));
    tr_future_release(f);
    all_done_once(w.b, WRITES);
    cr_assert_eq(tr_stream_write_zc(NULL, "x", 1, lent_done, NULL), TR_EINVAL);
    zc_close(&w);
}

/* The node is killed (SIGKILL, by PID) with writes in flight: the writer
 * hears TR_EUNREACHABLE (at a write or at the close), and every write's
 * done still runs once. */
Test(stream_zc, cut_when_the_receiver_dies, .timeout = 120)
{
    zc_world w;
    zc_open(&w);
    tr_stream *s;
    TC_OK(tr_stream_open(w.gw, "doomed", 2LL * 1000 * 1000 * 1000, &s));
    unsigned lent = 0;
    int rv = 0;
    for (; lent < WRITES / 2 && !rv; lent++)
        rv = tr_stream_write_zc(s, w.b[lent].data, w.b[lent].len, lent_done, &w.b[lent]);
    TC_OK(rv);
    node_end(&w.nd); /* SIGKILL, by PID */
    uint64_t dl = tc_deadline_ms(20000);
    while (!rv && lent < WRITES && tc_poll(dl)) { /* a failed write still calls done */
        rv = tr_stream_write_zc(s, w.b[lent].data, w.b[lent].len, lent_done, &w.b[lent]);
        lent++;
    }
    rv = stream_end_after_cut(s, rv);
    cr_assert(rv == TR_EUNREACHABLE || rv == TR_ESTOPPED, "got %s", tr_errname(rv));
    all_done_once(w.b, lent);
    for (unsigned i = lent; i < WRITES; i++) /* never lent */
        free(w.b[i].data);
    zc_close(&w);
}

/* ---- a local stream copies: done runs once, the bytes arrive intact ------------------ */

typedef struct rx_state {
    tnode_digest digest;
    uint64_t bytes;
    _Atomic int ended;
} rx_state;

static int rx_event(tr_endpoint *self, void *state, const tr_stream_event *ev)
{
    (void)self;
    rx_state *s = state;
    if (ev->kind == TR_STREAM_DATA) {
        s->bytes += ev->len;
        tnode_digest_add(&s->digest, ev->data, ev->len);
    }
    if (ev->kind == TR_STREAM_END || ev->kind == TR_STREAM_ERROR)
        atomic_store(&s->ended, ev->kind == TR_STREAM_END ? 1 : 2);
    return 0;
}

static const tr_stream_receiver rx_plain = {.on_event = rx_event};

Test(stream_zc, local_copies_and_says_done, .timeout = 60)
{
    tr_service *svc = r_server(2, 0);
    tr_gateway_impl impls[] = {tr_stream_impl(&rx_plain)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "rx", .gateways = impls,
                                                      .ngateways = 1,
                                                      .state_size = sizeof(rx_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw;
    TC_OK(tr_service_connect(svc, "rx", &tr_stream_gateway, &gw));
    TC_ASSERT(tr_gateway_is_local(gw));
    lent_buf b[WRITES];
    char name[96];
    make_bufs(b, name, sizeof name);
    tnode_digest want = {0};
    size_t total = 0;
    for (unsigned i = 0; i < WRITES; i++) { /* make_bufs's digest, again: b is freed below */
        tnode_digest_add(&want, b[i].data, b[i].len);
        total += b[i].len;
    }
    tr_stream *s;
    TC_OK(tr_stream_open(gw, "local", 0, &s));
    for (unsigned i = 0; i < WRITES; i++) {
        TC_OK(tr_stream_write_zc(s, b[i].data, b[i].len, lent_done, &b[i]));
        /* copied: done has run before the write returned */
        cr_assert_eq(atomic_load_explicit(&b[i].calls, memory_order_acquire), 1);
    }
    tr_future *f;
    TC_OK(tr_stream_close(s, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    rx_state *st = tr_endpoint_state(ep);
    TC_ASSERT_EVENTUALLY(atomic_load(&st->ended) != 0, 10000);
    cr_assert_eq(atomic_load(&st->ended), 1);
    cr_assert_eq(st->bytes, total);
    cr_assert_eq(tnode_digest_end(&st->digest), tnode_digest_end(&want));
    all_done_once(b, WRITES);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
