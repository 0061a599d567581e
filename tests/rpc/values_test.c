/* The value matrix in one process (common/values.h): every value kind
 * through every call kind (TELL, ASK, ask_then; the answers echo the
 * value, so replies carry every kind too), locally (deep copies, never
 * serialized, S22) and with the service's force_serialization switch
 * (every call encoded and decoded). Two endpoints each; handlers digest
 * every byte they are given and the caller checks the digests. */
#include "common/values_run.h"

#define PER_KIND 24 /* values of each kind: the specials and some random ones */

typedef struct world {
    tr_service *svc;
    tr_endpoint *ep[2];
    tv_target t[2];
    tv_set set;
} world;

static void world_open(world *w, bool forced, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.force_serialization = forced;
    TC_OK(tr_service_create(&cfg, &w->svc));
    const char *ids[2] = {"va", "vb"};
    for (int i = 0; i < 2; i++) {
        w->ep[i] = tv_endpoint(w->svc, ids[i]);
        TC_OK(tr_service_connect(w->svc, ids[i], &tv_gateway, &w->t[i].gw));
    }
    tv_set_make(&w->set, seed, PER_KIND);
}

/* Checks the S22 counter: forced, every call arrived encoded; else none. */
static void world_close(world *w, bool forced)
{
    for (int i = 0; i < 2; i++) {
        tr_endpoint_stats st;
        tr_endpoint_call_stats(w->ep[i], &st);
        uint64_t calls = w->t[i].want.tells + w->t[i].want.asks;
        if (forced)
            cr_assert_geq(st.decoded, calls, "endpoint %d: %llu decoded, %llu calls", i,
                          (unsigned long long)st.decoded, (unsigned long long)calls);
        else
            cr_assert_eq(st.decoded, 0, "endpoint %d: %llu calls decoded locally", i,
                         (unsigned long long)st.decoded);
        cr_assert_eq(st.handler_errors, 0);
        tr_gateway_release(w->t[i].gw);
        tr_endpoint_release(w->ep[i]);
    }
    tr_service_destroy(w->svc);
    tv_set_free(&w->set);
    TC_ASSERT_NO_LEAKS();
}

static void tells(bool forced)
{
    world w;
    world_open(&w, forced, 0x7e11 + forced);
    tv_tells_batched(w.t, 2, &w.set, 6);
    tv_tells_unbatched(w.t, 2, &w.set);
    tv_tells_grow(w.t, 2, &w.set, 100, 30, 5);
    world_close(&w, forced);
}

static void asks(bool forced)
{
    world w;
    world_open(&w, forced, 0xa5c + forced);
    tv_asks(w.t, 2, &w.set, 1);
    tv_asks(w.t, 2, &w.set, 32);
    tv_ask_thens(w.t, 2, &w.set);
    world_close(&w, forced);
}

Test(values, local_tells, .timeout = 60) { tells(false); }
Test(values, local_asks, .timeout = 60) { asks(false); }
Test(values, forced_tells, .timeout = 60) { tells(true); }
Test(values, forced_asks, .timeout = 60) { asks(true); }

/* The typed stubs a user writes, once per call kind, on the awkward
 * values: a NULL string and an empty byte string arrive as themselves. */
Test(values, typed_stubs, .timeout = 30)
{
    world w;
    world_open(&w, true, 1);
    tr_future *f;
    TC_OK(tv_ask_str(w.t[0].gw, &(tr_str){NULL}, TV_WAIT_NS, &f));
    TC_OK(tr_future_get(f, TV_WAIT_NS));
    cr_assert(tv_ask_str_result(f) && *tv_ask_str_result(f) == NULL);
    tr_future_release(f);
    TC_OK(tv_ask_bytes(w.t[0].gw, &(tr_bytes){NULL, 0}, TV_WAIT_NS, &f));
    TC_OK(tr_future_get(f, TV_WAIT_NS));
    cr_assert(tv_ask_bytes_result(f) && tv_ask_bytes_result(f)->len == 0);
    tr_future_release(f);
    tr_str empty = "";
    TC_OK(tv_tell_str(w.t[0].gw, &empty));
    w.t[0].want.tells++;
    uint64_t d = tv_digest_str(&empty);
    w.t[0].want.tell_sum += d;
    w.t[0].want.tell_chain = tv_chain(w.t[0].want.tell_chain, d);
    w.t[0].want.asks += 2;
    w.t[0].want.ask_sum += tv_digest_str(&(tr_str){NULL}) + tv_digest_bytes(&(tr_bytes){NULL, 0});
    tv_check(&w.t[0], "typed stubs");
    world_close(&w, true);
}
