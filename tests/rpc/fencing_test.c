/* Fencing: S31-S33. */
#include "rpc_common.h"

static const tr_fence_token T1 = {0x1111111111111111ull, 0x2222222222222222ull};
static const tr_fence_token T2 = {0x3333333333333333ull, 0x4444444444444444ull};

typedef struct fstate {
    t_state calc;
    int64_t runs;     /* run_async bodies that ran */
    int64_t unfenced; /* unfenced bodies that ran */
} fstate;

static int set_token(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    return tr_endpoint_set_fencing_token(self, (const tr_fence_token *)arg);
}

static tr_endpoint *fenced_endpoint(tr_service *svc, const char *id)
{
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc,
                             &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                 .state_size = sizeof(fstate), .fenced = true},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    return ep;
}

/* The token changes on the main thread: an unfenced run_async does it. */
static void change_token(tr_endpoint *ep, const tr_fence_token *t)
{
    static tr_fence_token slot;
    slot = *t;
    TC_OK(tr_endpoint_run_async_unfenced(ep, set_token, &slot, sizeof slot));
}

static int ask_add(tr_gateway *gw, const char **err_out, char *err, size_t len)
{
    tr_future *f;
    int rv = tcalc_add(gw, &(t_pair){1, 2}, 0, &f);
    if (rv)
        return rv;
    rv = tr_future_get(f, WAIT_NS);
    if (err && tr_future_error(f))
        snprintf(err, len, "%s", tr_future_error(f));
    if (err_out)
        *err_out = err;
    tr_future_release(f);
    return rv;
}

/* S31: only calls with the current token are processed; others fail with
 * TR_EFENCED naming both tokens, or saying none was given. */
Test(fencing, s31_only_the_current_token, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = fenced_endpoint(svc, "leader");
    tr_gateway *plain = t_connect(svc, "leader"), *g1, *g2;
    TC_OK(tr_service_connect_fenced(svc, "leader", &tcalc_gateway, &T1, &g1));
    TC_OK(tr_service_connect_fenced(svc, "leader", &tcalc_gateway, &T2, &g2));
    char err[512];
    /* No token set yet: everything is refused. */
    TC_ERR(ask_add(g1, NULL, err, sizeof err), TR_EFENCED);
    cr_assert(strstr(err, "none set yet"), "%s", err);
    change_token(ep, &T1);
    TC_OK(ask_add(g1, NULL, err, sizeof err));
    TC_ERR(ask_add(g2, NULL, err, sizeof err), TR_EFENCED);
    cr_assert(strstr(err, "33333333333333334444444444444444"), "%s", err); /* theirs */
    cr_assert(strstr(err, "11111111111111112222222222222222"), "%s", err); /* mine */
    TC_ERR(ask_add(plain, NULL, err, sizeof err), TR_EFENCED);
    cr_assert(strstr(err, "carries no fencing token"), "%s", err);
    /* A tell with the wrong token is counted, not processed. */
    TC_OK(tcalc_note(g2, &(tr_i64){1}));
    tr_gateway_release(plain);
    tr_gateway_release(g1);
    tr_gateway_release(g2);
    t_terminate(ep);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.rejected[TR_REJECT_FENCED], 4);
    cr_assert_eq(((fstate *)tr_endpoint_state(ep))->calc.notes, 0);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S32: a token changed mid-stream. One client streams asks with T1 while
 * the endpoint switches to T2 part-way: the asks before the switch succeed,
 * every one after fails with TR_EFENCED (the stream is ordered, S21), and
 * a client bound to T2 is served from then on. */
Test(fencing, s32_token_changed_mid_stream, .timeout = 30)
{
    enum { N = 2000, SWITCH_AT = 700 };
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = fenced_endpoint(svc, "epochs");
    tr_gateway *g1, *g2;
    TC_OK(tr_service_connect_fenced(svc, "epochs", &tcalc_gateway, &T1, &g1));
    TC_OK(tr_service_connect_fenced(svc, "epochs", &tcalc_gateway, &T2, &g2));
    change_token(ep, &T1);
    static tr_future *fs[N];
    for (int i = 0; i < N; i++) {
        if (i == SWITCH_AT)
            change_token(ep, &T2);
        TC_OK(tcalc_add(g1, &(t_pair){i, 0}, 0, &fs[i]));
    }
    int ok = 0, fenced = 0;
    for (int i = 0; i < N; i++) {
        int rv = tr_future_get(fs[i], WAIT_NS);
        if (i < SWITCH_AT) {
            cr_assert_eq(rv, 0, "ask %d before the switch: %s", i, tr_errname(rv));
            ok++;
        } else {
            cr_assert_eq(rv, TR_EFENCED, "ask %d after the switch: %s", i, tr_errname(rv));
            fenced++;
        }
        tr_future_release(fs[i]);
    }
    cr_assert_eq(ok, SWITCH_AT);
    cr_assert_eq(fenced, N - SWITCH_AT);
    TC_OK(ask_add(g2, NULL, NULL, 0));
    tr_gateway_release(g1);
    tr_gateway_release(g2);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S32: run_async bodies scheduled under the old token are discarded; an
 * explicitly unfenced one always runs. */
static int count_run(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)self, (void)arg;
    ((fstate *)state)->runs++;
    return 0;
}
static int count_unfenced(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)self, (void)arg;
    ((fstate *)state)->unfenced++;
    return 0;
}

/* Runs on the main thread: schedules bodies, then changes the token in the
 * same turn; they come up in later turns, under the new token. */
static int schedule_then_switch(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)state, (void)arg;
    for (int i = 0; i < 10; i++) {
        tr_endpoint_run_async(self, count_run, NULL, 0);
        tr_endpoint_run_async_unfenced(self, count_unfenced, NULL, 0);
    }
    tr_endpoint_schedule_run_async(self, count_run, NULL, 0, 5 * 1000000);
    return tr_endpoint_set_fencing_token(self, &T2);
}

Test(fencing, s32_old_token_run_async_discarded, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = fenced_endpoint(svc, "runs");
    change_token(ep, &T1);
    TC_OK(tr_endpoint_run_async_unfenced(ep, schedule_then_switch, NULL, 0));
    tc_sleep_us(30000); /* past the scheduled one's 5 ms */
    /* Scheduled after the switch (from here): carries the new epoch. */
    TC_OK(tr_endpoint_run_async(ep, count_run, NULL, 0));
    tr_gateway *g2;
    TC_OK(tr_service_connect_fenced(svc, "runs", &tcalc_gateway, &T2, &g2));
    TC_OK(ask_add(g2, NULL, NULL, 0)); /* a barrier: everything before ran */
    tr_gateway_release(g2);
    t_terminate(ep);
    fstate *s = tr_endpoint_state(ep);
    cr_assert_eq(s->runs, 1, "runs %lld", (long long)s->runs);
    cr_assert_eq(s->unfenced, 10);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.rejected[TR_REJECT_FENCED], 11);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* The token changes only on the main thread, and only on fenced endpoints. */
Test(fencing, s32_token_changes_on_main_thread_only, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = fenced_endpoint(svc, "strict");
    TC_ERR(tr_endpoint_set_fencing_token(ep, &T1), TR_EINVAL);
    tr_fence_token out;
    TC_ERR(tr_endpoint_fencing_token(ep, &out), TR_EINVAL);
    tr_endpoint *open = t_endpoint(svc, "open", true);
    t_terminate(ep);
    t_terminate(open);
    tr_endpoint_release(ep);
    tr_endpoint_release(open);
    tr_service_destroy(svc);
}

/* S33: the client binds the token at connect; every call through that
 * gateway carries it (tells, asks, run_async, call_async), and the self
 * gateway carries the endpoint's current token. */
static int answer_one(tr_endpoint *self, void *state, void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    return tr_reply_value(reply, &tr_i64__type, &(tr_i64){1});
}

Test(fencing, s33_gateway_carries_its_token, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = fenced_endpoint(svc, "bound");
    change_token(ep, &T1);
    tr_gateway *g1, *g2, *self;
    TC_OK(tr_service_connect_fenced(svc, "bound", &tcalc_gateway, &T1, &g1));
    TC_OK(tr_service_connect_fenced(svc, "bound", &tcalc_gateway, &T2, &g2));
    TC_OK(tr_endpoint_gateway(ep, &tcalc_gateway, &self));
    for (int64_t i = 1; i <= 5; i++) {
        TC_OK(tcalc_note(g1, &i));
        TC_OK(tcalc_note(g2, &i)); /* refused */
    }
    TC_OK(tr_gateway_run_async(g1, count_run, NULL, 0));
    TC_OK(tr_gateway_run_async(g2, count_run, NULL, 0)); /* discarded */
    tr_future *f;
    TC_OK(tr_gateway_call_async(g1, answer_one, NULL, 0, 0, &f));
    cr_assert_eq(t_outcome(f), 0);
    TC_OK(tr_gateway_call_async(g2, answer_one, NULL, 0, 0, &f));
    cr_assert_eq(t_outcome(f), TR_EFENCED);
    TC_OK(ask_add(self, NULL, NULL, 0)); /* the self gateway: current token */
    tr_gateway_release(g1);
    tr_gateway_release(g2);
    tr_gateway_release(self);
    t_terminate(ep);
    fstate *s = tr_endpoint_state(ep);
    cr_assert_eq(s->calc.notes, 5);
    cr_assert_eq(s->calc.order_errors, 0);
    cr_assert_eq(s->runs, 1);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
