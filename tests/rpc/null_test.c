/* NULL handled one way across the public API: retain(NULL) and
 * release(NULL) do nothing (as free(NULL)); a NULL gateway descriptor is
 * refused with TR_EINVAL by every call and connect that takes one, never
 * taken as "any gateway". Each call is also made with real arguments, so
 * a test that only survives NULL cannot pass by refusing everything. */
#include "rpc_common.h"

static void count_msg(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    atomic_fetch_add((_Atomic uint64_t *)state, *(uint64_t *)tr_msg_data(m));
    tr_msg_free(m);
}

Test(null, retain_and_release_of_null_do_nothing, .timeout = 30)
{
    tr_actor_retain(NULL);
    tr_actor_release(NULL);
    tr_future_retain(NULL);
    tr_future_release(NULL);
    tr_endpoint_retain(NULL);
    tr_endpoint_release(NULL);
    tr_gateway_retain(NULL);
    tr_gateway_release(NULL);
    tr_reply_release(NULL);
    cr_assert_null(tr_reply_keep(NULL));

    /* And on real handles, a retain is a reference the handle keeps. */
    tr_service *svc = t_service(2, false);
    tr_actor *a = NULL;
    TC_OK(tr_spawn(svc, &(tr_actor_opts){.behavior = count_msg, .state_size = sizeof(uint64_t)},
                   &a));
    tr_actor_retain(a);
    tr_actor_release(a);
    tr_msg *m = tr_msg_new(0, sizeof(uint64_t));
    cr_assert_not_null(m);
    *(uint64_t *)tr_msg_data(m) = 41;
    TC_OK(tr_send(a, m)); /* the actor outlives a retain/release pair */
    TC_ASSERT_EVENTUALLY(atomic_load((_Atomic uint64_t *)tr_actor_state(a)) == 41, 10000);
    tr_actor_release(a);

    tr_future *f = NULL;
    TC_OK(tr_future_new(&f));
    tr_future_retain(f);
    tr_future_release(f);
    TC_OK(tr_future_complete(f, &tr_i64__type, &(tr_i64){7}));
    cr_assert_eq(*(const tr_i64 *)tr_future_value(f, &tr_i64__type), 7);
    tr_future_release(f);
    tr_service_destroy(svc);
}

static void never(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self, (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

Test(null, calls_refuse_a_null_descriptor, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "calc", true);
    tr_gateway *gw = t_connect(svc, "calc");
    t_pair p = {.a = 40, .b = 2};
    tr_future *f = NULL;

    TC_ERR(tr_gateway_ask(gw, NULL, 0, &p, WAIT_NS, &f), TR_EINVAL);
    cr_assert_null(f, "no future on a refused ask");
    TC_ERR(tr_gateway_tell(gw, NULL, 2, &(tr_i64){5}), TR_EINVAL);
    _Atomic int ran = 0;
    TC_ERR(tr_gateway_ask_then(gw, NULL, 0, &p, WAIT_NS, never, (void *)&ran), TR_EINVAL);
    /* Another gateway's descriptor stays TR_EGATEWAY. */
    TC_ERR(tr_gateway_ask(gw, &tping_gateway, 0, &(tr_u64){1}, WAIT_NS, &f), TR_EGATEWAY);

    /* The same calls with the descriptor gw was connected with work. */
    TC_OK(tr_gateway_tell(gw, &tcalc_gateway, 2, &(tr_i64){5}));
    TC_OK(tr_gateway_ask(gw, &tcalc_gateway, 0, &p, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    cr_assert_eq(*tcalc_add_result(f), 42);
    tr_future_release(f);
    TC_OK(tcalc_total(gw, NULL, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    cr_assert_eq(*tcalc_total_result(f), 5, "the refused tell was not delivered");
    tr_future_release(f);

    /* Connects refuse it too, locally and by address. */
    tr_gateway *g2 = NULL;
    TC_ERR(tr_service_connect(svc, "calc", NULL, &g2), TR_EINVAL);
    TC_ERR(tr_service_connect(svc, "troupe://127.0.0.1:1/calc", NULL, &g2), TR_EINVAL);
    tr_fence_token tok;
    memset(&tok, 1, sizeof tok);
    TC_ERR(tr_service_connect_fenced(svc, "calc", NULL, &tok, &g2), TR_EINVAL);
    TC_ERR(tr_endpoint_gateway(ep, NULL, &g2), TR_EINVAL);
    cr_assert_null(g2);

    cr_assert_eq(atomic_load(&ran), 0, "a refused ask_then never runs its callback");
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}
