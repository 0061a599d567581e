/* The endpoint lifecycle: S1-S6 and S8 (S7 is in shutdown_test.c). */
#include <pthread.h>

#include "rpc_common.h"

/* ---- hooks that record where and how often they ran ------------------------ */

typedef struct life_state {
    t_state calc; /* first: the tcalc handlers use it */
    int starts, stops, cleanups;
    bool start_on_main, stop_on_main;
    int start_result;
    tr_future *stop_future; /* on_stop hands this out if set */
} life_state;

static int life_start(tr_endpoint *self, void *state)
{
    life_state *s = state;
    s->starts++;
    s->start_on_main = tr_endpoint_in_main_thread(self);
    return s->start_result;
}

static int life_stop(tr_endpoint *self, void *state, tr_future **out)
{
    life_state *s = state;
    s->stops++;
    s->stop_on_main = tr_endpoint_in_main_thread(self);
    if (s->stop_future) {
        tr_future_retain(s->stop_future);
        *out = s->stop_future;
    }
    return 0;
}

static _Atomic int g_cleanups;
static void life_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    ((life_state *)state)->cleanups++;
    atomic_fetch_add(&g_cleanups, 1);
}

static tr_endpoint *life_endpoint(tr_service *svc, const char *id, int start_result)
{
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {.id = id,
                          .gateways = impls,
                          .ngateways = 1,
                          .state_size = sizeof(life_state),
                          .on_start = life_start,
                          .on_stop = life_stop,
                          .on_cleanup = life_cleanup};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(svc, &o, &ep));
    ((life_state *)tr_endpoint_state(ep))->start_result = start_result;
    return ep;
}

/* S1, S2: a created endpoint is registered (connect works) but processes
 * no call: an ask fails with TR_ENOTSTARTED naming the endpoint and the
 * method; a tell is dropped and counted. */
Test(lifecycle, s1_s2_created_but_not_started, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = life_endpoint(svc, "early", 0);
    tr_gateway *gw = t_connect(svc, "early"); /* S1: registered */
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ENOTSTARTED);
    cr_assert_str_eq(tr_future_error(f),
                     "endpoint early has not been started; discarding tcalc.add");
    tr_future_release(f);
    TC_OK(tcalc_note(gw, &(tr_i64){1}));
    /* Then it starts: what is sent after is processed. */
    TC_OK(tr_endpoint_start(ep));
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep); /* the counters are final now */
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.rejected[TR_REJECT_NOT_STARTED], 2); /* the ask and the tell */
    cr_assert_eq(st.processed, 1);
    life_state *s = tr_endpoint_state(ep);
    cr_assert_eq(s->calc.calls, 1);
    cr_assert_eq(s->calc.notes, 0);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S3: on_start runs on the main thread, once; starting twice is a no-op. */
Test(lifecycle, s3_start_once_on_main_thread, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = life_endpoint(svc, "starter", 0);
    TC_OK(tr_endpoint_start(ep));
    TC_OK(tr_endpoint_start(ep));
    t_terminate(ep);
    life_state *s = tr_endpoint_state(ep);
    cr_assert_eq(s->starts, 1);
    cr_assert(s->start_on_main);
    cr_assert_eq(s->stops, 1);
    cr_assert(s->stop_on_main);
    cr_assert_eq(s->cleanups, 1);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S3: if on_start fails, the endpoint terminates (on_stop skipped) and the
 * termination future fails with that error. */
Test(lifecycle, s3_failed_start_terminates, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = life_endpoint(svc, "doomed", TR_EIO);
    TC_OK(tr_endpoint_start(ep));
    tr_future *term;
    TC_OK(tr_endpoint_termination(ep, &term));
    TC_ERR(tr_future_get(term, WAIT_NS), TR_EIO);
    cr_assert(strstr(tr_future_error(term), "on_start of endpoint doomed failed"), "%s",
              tr_future_error(term));
    tr_future_release(term);
    life_state *s = tr_endpoint_state(ep);
    cr_assert_eq(s->stops, 0);
    cr_assert_eq(s->cleanups, 1);
    /* It is gone: its id is free and calls are unreachable. */
    tr_gateway *gw = NULL;
    TC_ERR(tr_service_connect(svc, "doomed", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S4: on_stop may return a future; until it completes the endpoint still
 * processes messages; then calls fail with TR_EUNREACHABLE and the
 * termination future completes with on_stop's result. */
static void stop_with_future(bool fail)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = life_endpoint(svc, "graceful", 0);
    life_state *s = tr_endpoint_state(ep);
    TC_OK(tr_future_new(&s->stop_future)); /* before start: no turn runs yet */
    tr_future *stopf = s->stop_future;
    tr_future_retain(stopf);
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = t_connect(svc, "graceful");
    TC_OK(tr_endpoint_terminate(ep));
    tr_future *term;
    TC_OK(tr_endpoint_termination(ep, &term));
    /* Still serving while on_stop's future is pending. */
    for (int i = 0; i < 10; i++) {
        tr_future *f;
        TC_OK(tcalc_add(gw, &(t_pair){i, 1}, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        cr_assert_eq(*tcalc_add_result(f), i + 1);
        tr_future_release(f);
    }
    cr_assert_not(tr_future_done(term));
    if (fail)
        TC_OK(tr_future_fail(stopf, TR_EIO, "flush failed"));
    else
        TC_OK(tr_future_complete(stopf, NULL, NULL));
    int rv = tr_future_get(term, WAIT_NS);
    if (fail) {
        cr_assert_eq(rv, TR_EIO);
        cr_assert(strstr(tr_future_error(term), "flush failed"), "%s", tr_future_error(term));
    } else {
        cr_assert_eq(rv, 0);
    }
    tr_future *f = NULL;
    TC_ERR(tcalc_add(gw, &(t_pair){1, 1}, 0, &f), TR_EUNREACHABLE);
    cr_assert_eq(s->stops, 1);
    cr_assert_eq(s->calc.calls, 10);
    tr_future_release(term);
    tr_future_release(stopf);
    tr_future_release(s->stop_future);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

Test(lifecycle, s4_on_stop_future_keeps_serving, .timeout = 30) { stop_with_future(false); }
Test(lifecycle, s4_on_stop_future_failure, .timeout = 30) { stop_with_future(true); }

/* ---- S4 with 1,000 queued asks ----------------------------------------------- */

#define GATE_METHODS(M) M(tgate, hold, tr_void, tr_void, ASK)
TR_GATEWAY(tgate, GATE_METHODS)
TR_GATEWAY_DEFINE(tgate, GATE_METHODS)

static _Atomic int g_gate_open, g_gate_entered;

/* Holds the main thread until the test opens the gate (bounded). */
static int gate_hold(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    atomic_store(&g_gate_entered, 1);
    uint64_t dl = tc_deadline_ms(10000);
    while (!atomic_load(&g_gate_open) && tc_now_ns() < dl)
        tc_sleep_us(100);
    return tgate_hold_reply(reply, NULL);
}
static const tgate_handlers gate_handlers = {.hold = gate_hold};

static _Atomic int g_completions;
static void count_completion(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self, (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
    atomic_fetch_add(&g_completions, 1);
}

Test(lifecycle, s4_terminate_with_1000_queued_asks, .timeout = 30)
{
    enum { N = 1000 };
    tr_service *svc = t_service(2, false);
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers), tgate_impl(&gate_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc,
                             &(tr_endpoint_opts){.id = "busy", .gateways = impls, .ngateways = 2,
                                                 .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gate;
    TC_OK(tr_service_connect(svc, "busy", &tgate_gateway, &gate));
    tr_gateway *gw = t_connect(svc, "busy");
    tr_future *held;
    TC_OK(tgate_hold(gate, NULL, 0, &held));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_gate_entered), 10000);
    /* The main thread is busy: the terminate and 1,000 asks queue up. */
    TC_OK(tr_endpoint_terminate(ep));
    static tr_future *fs[N];
    static _Atomic int once[N];
    for (int i = 0; i < N; i++) {
        TC_OK(tcalc_add(gw, &(t_pair){i, i}, 0, &fs[i]));
        TC_OK(tr_future_then(fs[i], count_completion, &once[i]));
    }
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_geq(st.mailbox_len, N + 1); /* the terminate and the asks */
    atomic_store(&g_gate_open, 1);
    TC_OK(tr_future_get(held, WAIT_NS));
    tr_future_release(held);
    for (int i = 0; i < N; i++) {
        TC_ERR(tr_future_get(fs[i], WAIT_NS), TR_EUNREACHABLE);
        cr_assert(strstr(tr_future_error(fs[i]), "endpoint busy has terminated"), "%s",
                  tr_future_error(fs[i]));
        tr_future_release(fs[i]);
    }
    TC_ASSERT_EVENTUALLY(atomic_load(&g_completions) == N, 10000);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&once[i]), 1, "ask %d completed %d times", i,
                     atomic_load(&once[i]));
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.dropped, N);
    cr_assert_eq(((t_state *)tr_endpoint_state(ep))->calls, 0);
    tr_gateway_release(gw);
    tr_gateway_release(gate);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S5: terminating an endpoint that never started skips on_stop (cleanup
 * still runs: the state is released either way). */
Test(lifecycle, s5_never_started_skips_on_stop, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = life_endpoint(svc, "unborn", 0);
    t_terminate(ep);
    life_state *s = tr_endpoint_state(ep);
    cr_assert_eq(s->starts, 0);
    cr_assert_eq(s->stops, 0);
    cr_assert_eq(s->cleanups, 1);
    /* A start after termination is refused. */
    TC_ERR(tr_endpoint_start(ep), TR_EUNREACHABLE);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S6: ids are unique while the endpoint lives, free again after. */
Test(lifecycle, s6_ids_unique_then_reusable, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *a = t_endpoint(svc, "solo", true), *b = NULL;
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {.id = "solo", .gateways = impls, .ngateways = 1};
    TC_ERR(tr_endpoint_create(svc, &o, &b), TR_EEXISTS);
    cr_assert_null(b);
    t_terminate(a);
    TC_OK(tr_endpoint_create(svc, &o, &b));
    cr_assert_str_eq(tr_endpoint_id(b), "solo");
    /* Generated ids are distinct. */
    o.id = NULL;
    tr_endpoint *g1, *g2;
    TC_OK(tr_endpoint_create(svc, &o, &g1));
    TC_OK(tr_endpoint_create(svc, &o, &g2));
    cr_assert_str_neq(tr_endpoint_id(g1), tr_endpoint_id(g2));
    t_terminate(b);
    t_terminate(g1);
    t_terminate(g2);
    tr_endpoint_release(a);
    tr_endpoint_release(b);
    tr_endpoint_release(g1);
    tr_endpoint_release(g2);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S6 under contention: threads race to create and terminate one id; at any
 * time at most one holds it, and every attempt either wins or sees
 * TR_EEXISTS. */
typedef struct race_arg {
    tr_service *svc;
    _Atomic int *holders, *max_holders, *wins;
} race_arg;

static void *race(void *p)
{
    race_arg *ra = p;
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {.id = "contested", .gateways = impls, .ngateways = 1};
    for (int i = 0; i < 200; i++) {
        tr_endpoint *ep = NULL;
        int rv = tr_endpoint_create(ra->svc, &o, &ep);
        if (rv == TR_EEXISTS)
            continue;
        if (rv) {
            atomic_store(ra->max_holders, 100); /* fail the test */
            break;
        }
        tc_atomic_max(ra->max_holders, atomic_fetch_add(ra->holders, 1) + 1);
        atomic_fetch_add(ra->wins, 1);
        atomic_fetch_sub(ra->holders, 1);
        tr_future *term;
        tr_endpoint_terminate(ep);
        tr_endpoint_termination(ep, &term);
        tr_future_wait(term, WAIT_NS);
        tr_future_release(term);
        tr_endpoint_release(ep);
    }
    return NULL;
}

Test(lifecycle, s6_contended_id, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    _Atomic int holders = 0, max_holders = 0, wins = 0;
    race_arg ra = {svc, &holders, &max_holders, &wins};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, race, &ra);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&max_holders), 1);
    cr_assert_gt(atomic_load(&wins), 0);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S8: a failing endpoint takes down only itself ------------------------------ */

#define TBOOM_METHODS(M) M(tboom, explode, tr_void, tr_void, TELL)
TR_GATEWAY(tboom, TBOOM_METHODS)
TR_GATEWAY_DEFINE(tboom, TBOOM_METHODS)

static int boom(tr_endpoint *self, void *state, const tr_void *arg)
{
    (void)state, (void)arg;
    return tr_endpoint_fail(self, TR_EIO, "disk on fire");
}
static const tboom_handlers boom_handlers = {.explode = boom};

Test(lifecycle, s8_failure_is_contained, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *sibling = t_endpoint(svc, "sibling", true);
    tr_gateway_impl impls[] = {tboom_impl(&boom_handlers)};
    tr_endpoint *bad;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "bad", .gateways = impls, .ngateways = 1},
                             &bad));
    TC_OK(tr_endpoint_start(bad));
    tr_gateway *bgw;
    TC_OK(tr_service_connect(svc, "bad", &tboom_gateway, &bgw));
    TC_OK(tboom_explode(bgw, NULL));
    tr_future *term;
    TC_OK(tr_endpoint_termination(bad, &term));
    TC_ERR(tr_future_get(term, WAIT_NS), TR_EIO);
    cr_assert(strstr(tr_future_error(term), "disk on fire"), "%s", tr_future_error(term));
    tr_future_release(term);
    /* The sibling and the service carry on. */
    tr_gateway *gw = t_connect(svc, "sibling");
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){2, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 4);
    tr_future_release(f);
    tr_endpoint *fresh = t_endpoint(svc, "fresh", true);
    t_terminate(fresh);
    tr_gateway_release(gw);
    tr_gateway_release(bgw);
    t_terminate(sibling);
    tr_endpoint_release(sibling);
    tr_endpoint_release(bad);
    tr_endpoint_release(fresh);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
