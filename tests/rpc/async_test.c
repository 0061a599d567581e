/* The main thread: S9-S13 (run_async, call_async, schedule_run_async,
 * tr_endpoint_assert_main_thread). */
#include <pthread.h>
#include <signal.h>

#undef NDEBUG /* S10's assertion is on in builds without NDEBUG */
#include "rpc/gateway_impl.h"
#include "rpc_common.h"

/* ---- S9: one at a time, each turn sees the previous one's effects ---------- */

typedef struct counter {
    t_state calc;        /* tcalc handlers use it too */
    int64_t bodies;      /* plain: only the main thread touches it */
    int64_t off_main;
} counter;

static int bump(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)arg;
    counter *c = state;
    t_enter(&c->calc);
    if (!tr_endpoint_in_main_thread(self))
        c->off_main++;
    c->bodies++;
    t_leave(&c->calc);
    return 0;
}

static int bump_call(tr_endpoint *self, void *state, void *arg, tr_reply *reply)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    bump(self, state, arg);
    tr_i64 n = ((counter *)state)->bodies;
    return tr_reply_value(reply, &tr_i64__type, &n);
}

typedef struct hammer_arg {
    tr_endpoint *ep;
    tr_gateway *gw;
    int n;
    _Atomic int errors;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *h = p;
    for (int i = 0; i < h->n; i++) {
        int rv;
        switch (i % 3) {
        case 0:
            rv = tr_endpoint_run_async(h->ep, bump, NULL, 0);
            break;
        case 1:
            rv = tr_gateway_run_async(h->gw, bump, NULL, 0);
            break;
        default: {
            tr_future *f;
            rv = tr_endpoint_call_async(h->ep, bump_call, NULL, 0, 0, &f);
            if (!rv)
                tr_future_release(f);
        }
        }
        if (rv)
            atomic_fetch_add(&h->errors, 1);
    }
    return NULL;
}

Test(async, s9_bodies_run_one_at_a_time, .timeout = 60)
{
    enum { THREADS = 3, EACH = 20000 };
    tr_service *svc = t_service(2, false);
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc,
                             &(tr_endpoint_opts){.id = "serial", .gateways = impls, .ngateways = 1,
                                                 .state_size = sizeof(counter)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = t_connect(svc, "serial");
    hammer_arg h = {ep, gw, EACH, 0};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, &h);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    /* A call_async queued last sees every body before it (FIFO from us). */
    tr_future *f;
    TC_OK(tr_endpoint_call_async(ep, bump_call, NULL, 0, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    counter *c = tr_endpoint_state(ep);
    cr_assert_eq(atomic_load(&h.errors), 0);
    cr_assert_eq(c->bodies, THREADS * EACH + 1);
    cr_assert_eq(c->off_main, 0);
    cr_assert_eq(atomic_load(&c->calc.max_running), 1);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S10 ----------------------------------------------------------------------- */

static tr_endpoint *g_assert_ep;

/* S10: from a thread that is not the endpoint's main thread, the assertion
 * aborts (the message, naming the endpoint, goes to stderr). */
Test(async, s10_assert_main_thread_aborts_elsewhere, .signal = SIGABRT, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    g_assert_ep = t_endpoint(svc, "picky", true);
    tr_endpoint_assert_main_thread(g_assert_ep);
}

static _Atomic int g_asserted;
static int assert_here(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)state, (void)arg;
    tr_endpoint_assert_main_thread(self);
    atomic_store(&g_asserted, 1);
    return 0;
}

Test(async, s10_assert_main_thread_passes_inside, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "picky", true);
    TC_OK(tr_endpoint_run_async(ep, assert_here, NULL, 0));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_asserted), 10000);
    cr_assert_not(tr_endpoint_in_main_thread(ep));
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S11: schedule_run_async runs no earlier than its delay ---------------------- */

typedef struct timed {
    int64_t scheduled_at;
    int64_t delay;
    _Atomic int64_t ran_at;
} timed;

static int note_time(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state;
    timed *t = *(timed **)arg;
    atomic_store(&t->ran_at, (int64_t)tc_now_ns());
    return 0;
}

Test(async, s11_schedule_no_earlier_than_delay, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "sched", true);
    tr_gateway *gw = t_connect(svc, "sched");
    static timed ts[20];
    for (int i = 0; i < 20; i++) {
        ts[i].delay = (i % 5) * 7 * 1000000 + 1; /* 1 ns .. 28 ms */
        ts[i].scheduled_at = (int64_t)tc_now_ns();
        timed *p = &ts[i];
        if (i % 2)
            TC_OK(tr_endpoint_schedule_run_async(ep, note_time, &p, sizeof p, ts[i].delay));
        else
            TC_OK(tr_gateway_schedule_run_async(gw, note_time, &p, sizeof p, ts[i].delay));
    }
    for (int i = 0; i < 20; i++) {
        TC_ASSERT_EVENTUALLY(atomic_load(&ts[i].ran_at) != 0, 10000);
        int64_t waited = atomic_load(&ts[i].ran_at) - ts[i].scheduled_at;
        cr_assert_geq(waited, ts[i].delay, "run %d after %lld ns, delay %lld", i,
                      (long long)waited, (long long)ts[i].delay);
    }
    TC_ERR(tr_endpoint_schedule_run_async(ep, note_time, NULL, 0, -1), TR_EINVAL);
    TC_ERR(tr_gateway_schedule_run_async(gw, note_time, NULL, 0, -5), TR_EINVAL);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* S11: a failure inside run_async is logged and counted: nobody to tell. */
static int failing_body(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return TR_EIO;
}

Test(async, s11_run_async_failure_is_counted, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "oops", true);
    TC_OK(tr_endpoint_run_async(ep, failing_body, NULL, 0));
    t_terminate(ep);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.handler_errors, 1);
    cr_assert_eq(st.processed, 1);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S12: call_async ----------------------------------------------------------- */

static int add_args(tr_endpoint *self, void *state, void *arg, tr_reply *reply)
{
    (void)self, (void)state;
    int64_t *v = arg; /* a copy made at call time */
    tr_i64 sum = v[0] + v[1];
    return tr_reply_value(reply, &tr_i64__type, &sum);
}

static int refuse_body(tr_endpoint *self, void *state, void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    return tr_reply_fail(reply, TR_EBUSY, "come back later");
}

static tr_reply *g_parked;
static int never_answer(tr_endpoint *self, void *state, void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    g_parked = tr_reply_keep(reply); /* answered never; released by the test */
    return 0;
}

Test(async, s12_call_async_value_error_timeout, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "caller", true);
    tr_gateway *gw = t_connect(svc, "caller");
    int64_t args[2] = {20, 22};
    tr_future *f;
    TC_OK(tr_gateway_call_async(gw, add_args, args, sizeof args, 0, &f));
    args[0] = 0; /* copied already */
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*(const tr_i64 *)tr_future_value(f, &tr_i64__type), 42);
    tr_future_release(f);

    TC_OK(tr_endpoint_call_async(ep, refuse_body, NULL, 0, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EBUSY);
    cr_assert_str_eq(tr_future_error(f), "come back later");
    tr_future_release(f);

    TC_OK(tr_endpoint_call_async(ep, never_answer, NULL, 0, 30 * 1000000, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ETIMEDOUT);
    cr_assert(strstr(tr_future_error(f), "call_async"), "%s", tr_future_error(f));
    cr_assert(strstr(tr_future_error(f), "local://caller"), "%s", tr_future_error(f));
    cr_assert(tr_reply_done(g_parked)); /* the caller gave up */
    tr_reply_release(g_parked);
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S13: not on remote gateways ------------------------------------------------- */

/* A stand-in for the remote transport (the remote layer comes later): a
 * gateway whose transport is not local. */
static const char *fake_address(const tr_gateway *gw)
{
    (void)gw;
    return "troupe://10.0.0.1:7000/far";
}
static void fake_close(tr_gateway *gw) { (void)gw; }
static const tri_transport fake_remote = {.address = fake_address, .close = fake_close,
                                          .local = false};

Test(async, s13_local_only, .timeout = 30)
{
    tr_service *svc = t_service(1, false);
    tr_gateway gw = {.tp = &fake_remote, .svc = svc, .desc = &tcalc_gateway};
    atomic_init(&gw.refs, 1);
    tr_future *f = NULL;
    TC_ERR(tr_gateway_run_async(&gw, bump, NULL, 0), TR_ENOTLOCAL);
    TC_ERR(tr_gateway_schedule_run_async(&gw, bump, NULL, 0, 1000), TR_ENOTLOCAL);
    TC_ERR(tr_gateway_call_async(&gw, bump_call, NULL, 0, 0, &f), TR_ENOTLOCAL);
    cr_assert_null(f);
    cr_assert_not(tr_gateway_is_local(&gw));
    tr_service_destroy(svc);
}

/* ---- bodies that never run hear of it (self == NULL) ------------------------------ */

static _Atomic int g_ran, g_dropped;
static int tracked(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    int *owned = *(int **)arg; /* a resource the argument carries */
    if (self)
        atomic_fetch_add(&g_ran, 1);
    else
        atomic_fetch_add(&g_dropped, 1);
    free(owned); /* released either way: no leak */
    return 0;
}

static void post_tracked(tr_endpoint *ep, int64_t delay)
{
    int *owned = malloc(sizeof *owned);
    TC_OK(tr_endpoint_schedule_run_async(ep, tracked, &owned, sizeof owned, delay));
}

Test(async, dropped_bodies_release_their_argument, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    /* Before start: refused (S2), released. */
    tr_endpoint *ep = t_endpoint(svc, "unstarted", false);
    post_tracked(ep, 0);
    TC_ASSERT_EVENTUALLY(atomic_load(&g_dropped) == 1, 10000);
    /* Started: runs. */
    TC_OK(tr_endpoint_start(ep));
    post_tracked(ep, 0);
    TC_ASSERT_EVENTUALLY(atomic_load(&g_ran) == 1, 10000);
    /* Scheduled far out, then the service shuts down: dropped at close. */
    post_tracked(ep, 60LL * 1000 * 1000 * 1000);
    tr_endpoint *other = t_endpoint(svc, "other", true);
    post_tracked(other, 60LL * 1000 * 1000 * 1000);
    t_terminate(ep); /* its delayed run waits for its time (or shutdown) */
    cr_assert_eq(atomic_load(&g_dropped), 1);
    tr_endpoint_release(ep);
    tr_endpoint_release(other);
    TC_OK(tr_service_shutdown(svc));
    cr_assert_eq(atomic_load(&g_dropped), 3);
    cr_assert_eq(atomic_load(&g_ran), 1);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
