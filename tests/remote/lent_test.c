/* Inbound asks whose large bytes are not copied out of the connection's
 * read buffer (TRI_WIRE_LEND_MIN and up: the buffer is lent to the ask's
 * future, base/loan.h, and the connection reads on into a fresh one).
 *
 * The client pipelines asks of many sizes on one connection, below, at and
 * above the threshold, up to a frame larger than the connection's kept read
 * buffer, each with bytes and a string derived from its sequence number. The
 * handler waits before it reads them, so that the connection has read (and,
 * were it reusing the lent buffer, overwritten) what came after, then checks
 * every byte and answers with how many were right. A buffer reused while
 * lent shows as a wrong count, or under ASan as a use after free. */
#include <stdio.h>
#include <time.h>

#include "remote_common.h"
#include "rpc/wire.h"

#define LBIG_FIELDS(F) F(tr_u64, seq) F(tr_bytes, data) F(tr_str, tag)
TR_STRUCT(lbig, LBIG_FIELDS)
TR_STRUCT_DEFINE(lbig, LBIG_FIELDS)

#define LENT_METHODS(M)                                                         \
    M(tlent, check, lbig, tr_u64, ASK)     /* a struct: bytes and a string */  \
    M(tlent, whole, tr_bytes, tr_u64, ASK) /* bare bytes, seq in the first 8 */
TR_GATEWAY(tlent, LENT_METHODS)
TR_GATEWAY_DEFINE(tlent, LENT_METHODS)

static uint8_t pattern(uint64_t seq, size_t i) { return (uint8_t)(seq * 131u + i * 7u + (i >> 9)); }

static void hold_on(void)
{
    struct timespec ts = {0, 2 * 1000 * 1000}; /* 2 ms: the connection reads on */
    nanosleep(&ts, NULL);
}

/* How many of b's bytes after `from` are right for seq. */
static uint64_t right_bytes(uint64_t seq, const tr_bytes *b, size_t from)
{
    const uint8_t *p = b->data;
    uint64_t ok = 0;
    for (size_t i = from; i < b->len; i++)
        ok += p[i] == pattern(seq, i);
    return ok;
}

static int l_check(tr_endpoint *self, void *state, const lbig *a, tr_reply *reply)
{
    (void)self, (void)state;
    hold_on();
    char want[32];
    snprintf(want, sizeof want, "tag-%llu", (unsigned long long)a->seq);
    tr_u64 n = right_bytes(a->seq, &a->data, 0);
    if (!a->tag || strcmp(a->tag, want) != 0)
        n = UINT64_MAX; /* the string after the lent bytes must be intact too */
    return tlent_check_reply(reply, &n);
}

static int l_whole(tr_endpoint *self, void *state, const tr_bytes *b, tr_reply *reply)
{
    (void)self, (void)state;
    hold_on();
    uint64_t seq = 0;
    if (b->len >= 8)
        memcpy(&seq, b->data, 8);
    tr_u64 n = right_bytes(seq, b, 8);
    return tlent_whole_reply(reply, &n);
}

static const tlent_handlers lent_handlers = {.check = l_check, .whole = l_whole};

/* Sizes around the threshold and the read buffer (128 KiB default, 1 MiB
 * kept for large frames, own size above half of that). */
static size_t size_of(unsigned i)
{
    static const size_t sizes[] = {0,
                                   1000,
                                   TRI_WIRE_LEND_MIN - 1,
                                   TRI_WIRE_LEND_MIN,
                                   300 * 1024,
                                   513 * 1024,
                                   1536 * 1024,
                                   64};
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static tr_bytes filled(uint64_t seq, size_t n, bool seq_first)
{
    uint8_t *p = malloc(n + 8);
    TC_ASSERT(p);
    for (size_t i = 0; i < n; i++)
        p[i] = pattern(seq, i);
    if (seq_first && n >= 8)
        memcpy(p, &seq, 8);
    return (tr_bytes){p, (uint32_t)n};
}

#define CALLS 48

Test(lent, large_ask_bytes_survive_later_reads, .timeout = 60)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_gateway_impl impls[] = {tlent_impl(&lent_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.id = "lent", .gateways = impls, .ngateways = 1},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    char a[128];
    tr_gateway *gw;
    TC_OK(tr_service_connect(client, r_addr(server, "lent", a, sizeof a), &tlent_gateway, &gw));

    tr_future *f[CALLS];
    tr_bytes sent[CALLS];
    char tags[CALLS][32];
    for (unsigned i = 0; i < CALLS; i++) { /* all in flight before any is answered */
        uint64_t seq = 1000 + i;
        bool bare = i % 3 == 2;
        sent[i] = filled(seq, bare && size_of(i) < 8 ? 8 : size_of(i), bare);
        if (bare) {
            TC_OK(tlent_whole(gw, &sent[i], 0, &f[i]));
        } else {
            snprintf(tags[i], sizeof tags[i], "tag-%llu", (unsigned long long)seq);
            lbig arg = {.seq = seq, .data = sent[i], .tag = tags[i]};
            TC_OK(tlent_check(gw, &arg, 0, &f[i]));
        }
    }
    for (unsigned i = 0; i < CALLS; i++) {
        TC_OK(tr_future_get(f[i], WAIT_NS));
        bool bare = i % 3 == 2;
        uint64_t want = bare ? sent[i].len - 8 : sent[i].len;
        uint64_t got = bare ? *tlent_whole_result(f[i]) : *tlent_check_result(f[i]);
        cr_assert_eq(got, want, "call %u (%u bytes, %s): %llu bytes right of %llu", i, sent[i].len,
                     bare ? "bare bytes" : "struct", (unsigned long long)got,
                     (unsigned long long)want);
        tr_future_release(f[i]);
        free((void *)sent[i].data);
    }
    tr_remote_stats ss = r_stats(server);
    TC_EQ_U64(ss.connections_lost, 0);
    TC_EQ_U64(ss.malformed, 0);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
}
