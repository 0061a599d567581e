/* The value matrix over loopback (common/values.h): a server service with
 * two endpoints, a client service whose gateways to both share one
 * connection. Every value kind through every call kind (TELL, ASK with
 * one and 32 in flight, ask_then; answers echo the value), and tells in
 * every pattern the wire and the server's buffers see: back to back (they
 * batch), one at a time, and bursts of small tells ending in a large one
 * (the receive buffer grows, or is given back, mid-stream). Handlers digest
 * every byte; a handler that reads bytes the connection has since reused
 * shows up as a wrong digest, or under ASan as a use after free. */
#include "common/values_run.h"
#include "remote_common.h"

#define PER_KIND 32

typedef struct world {
    tr_service *server, *client;
    tr_endpoint *ep[2];
    tv_target t[2];
    tv_set set;
} world;

static void world_open(world *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->server = r_server(1, 0);
    w->client = r_client(1, 0, 0);
    const char *ids[2] = {"va", "vb"};
    for (int i = 0; i < 2; i++) {
        w->ep[i] = tv_endpoint(w->server, ids[i]);
        char a[128];
        int rv = tr_service_connect(w->client, r_addr(w->server, ids[i], a, sizeof a), &tv_gateway,
                                    &w->t[i].gw);
        TC_ASSERT_MSG(rv == 0, "connect %s: %s: %s", a, tr_errname(rv),
                      tr_service_connect_error());
    }
    /* One connection carries both endpoints' calls. */
    TC_EQ_U64(r_stats(w->client).connections_opened, 1);
    tv_set_make(&w->set, seed, PER_KIND);
}

static void world_close(world *w)
{
    tr_remote_stats cs = r_stats(w->client), ss = r_stats(w->server);
    TC_EQ_U64(cs.connections_opened, 1);
    TC_EQ_U64(cs.connections_lost + ss.connections_lost, 0);
    TC_EQ_U64(ss.malformed + cs.malformed, 0);
    TC_EQ_U64(ss.tells_dropped, 0);
    for (int i = 0; i < 2; i++) {
        tr_endpoint_stats st;
        tr_endpoint_call_stats(w->ep[i], &st);
        cr_assert_eq(st.handler_errors, 0);
        for (int r = 0; r < TR_REJECT_COUNT_; r++)
            cr_assert_eq(st.rejected[r], 0, "endpoint %d: %llu rejected (%s)", i,
                         (unsigned long long)st.rejected[r],
                         tr_reject_reason_name((tr_reject_reason)r));
        tr_gateway_release(w->t[i].gw);
        tr_endpoint_release(w->ep[i]);
    }
    tr_service_destroy(w->client);
    tr_service_destroy(w->server);
    tv_set_free(&w->set);
    TC_ASSERT_NO_LEAKS();
}

Test(values_remote, tells_batched, .timeout = 60)
{
    world w;
    world_open(&w, 0xba7c);
    tv_tells_batched(w.t, 2, &w.set, 10);
    /* They did batch: fewer writes than frames on the client. */
    tr_remote_stats cs = r_stats(w.client);
    cr_assert_lt(cs.writes, cs.frames_sent, "%llu writes for %llu frames",
                 (unsigned long long)cs.writes, (unsigned long long)cs.frames_sent);
    world_close(&w);
}

Test(values_remote, tells_unbatched, .timeout = 60)
{
    world w;
    world_open(&w, 0x1a7);
    tv_tells_unbatched(w.t, 2, &w.set);
    world_close(&w);
}

Test(values_remote, tells_growing_buffers, .timeout = 60)
{
    world w;
    world_open(&w, 0x6a0);
    tv_tells_grow(w.t, 2, &w.set, 200, 40, 11);
    world_close(&w);
}

/* Tells and asks to the same endpoints interleaved: each ask's turn comes
 * between tells, so the tells' batches are cut short. */
Test(values_remote, tells_between_asks, .timeout = 60)
{
    world w;
    world_open(&w, 0x7a5);
    for (size_t j = 0; j < w.set.n; j++) {
        const tv_value *v = &w.set.vals[j];
        tv_target *t = &w.t[j % 2];
        tv_tell(t, v);
        tv_tell(t, v);
        tr_future *f;
        TC_OK(tr_gateway_ask(t->gw, &tv_gateway, v->k->ask, &v->v, TV_WAIT_NS, &f));
        tv_reap(t, v, j, f);
    }
    tv_check_all(w.t, 2, "tells between asks");
    world_close(&w);
}

Test(values_remote, asks, .timeout = 60)
{
    world w;
    world_open(&w, 0xa5c5);
    tv_asks(w.t, 2, &w.set, 1);
    tv_asks(w.t, 2, &w.set, 32);
    world_close(&w);
}

Test(values_remote, ask_then, .timeout = 60)
{
    world w;
    world_open(&w, 0x7e4);
    tv_ask_thens(w.t, 2, &w.set);
    world_close(&w);
}
