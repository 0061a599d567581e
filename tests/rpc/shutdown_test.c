/* Service shutdown (S7), two services side by side, the registry under
 * concurrent use. */
#include <pthread.h>

#include "rpc_common.h"

typedef struct sd_state {
    t_state calc;
    tr_future *stop_future;
    _Atomic int *stops;
} sd_state;

static int sd_stop(tr_endpoint *self, void *state, tr_future **out)
{
    (void)self;
    sd_state *s = state;
    atomic_fetch_add(s->stops, 1);
    if (s->stop_future) {
        tr_future_retain(s->stop_future);
        *out = s->stop_future;
    }
    return 0;
}

static tr_reply *g_kept;
static int keep_forever(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    g_kept = tr_reply_keep(reply);
    return 0;
}

static int noop(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return 0;
}

static void *complete_after(void *p)
{
    tc_sleep_us(50000);
    tr_future_complete(p, NULL, NULL);
    return NULL;
}

/* S7: shutdown terminates every endpoint (on_stop runs) and waits for them
 * (on_stop futures included), fails every pending future, then stops the
 * workers; later use fails with TR_ESTOPPED. */
Test(shutdown, s7_terminates_waits_fails_then_stops, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    static _Atomic int stops;
    tcalc_handlers h = t_handlers;
    h.later = keep_forever; /* a reply nobody will ever send */
    tr_gateway_impl impls[] = {tcalc_impl(&h)};
    tr_endpoint *eps[8];
    for (int i = 0; i < 8; i++) {
        char id[16];
        snprintf(id, sizeof id, "ep-%d", i);
        TC_OK(tr_endpoint_create(svc,
                                 &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                     .state_size = sizeof(sd_state),
                                                     .on_stop = sd_stop},
                                 &eps[i]));
        ((sd_state *)tr_endpoint_state(eps[i]))->stops = &stops;
        TC_OK(tr_endpoint_start(eps[i]));
    }
    /* One on_stop hands out a future that completes 50 ms later. */
    tr_future *slow;
    TC_OK(tr_future_new(&slow));
    ((sd_state *)tr_endpoint_state(eps[3]))->stop_future = slow;
    pthread_t t;
    pthread_create(&t, NULL, complete_after, slow);

    tr_gateway *gw = t_connect(svc, "ep-0");
    tr_future *pending;
    TC_OK(tcalc_later(gw, &(tr_i64){0}, 0, &pending)); /* 10 s deadline */
    tr_future *done_before;
    TC_OK(tcalc_add(gw, &(t_pair){1, 1}, 0, &done_before));
    TC_OK(tr_future_get(done_before, WAIT_NS));
    TC_ASSERT_EVENTUALLY(g_kept != NULL, 10000);

    uint64_t t0 = tc_now_ns();
    TC_OK(tr_service_shutdown(svc));
    uint64_t took = tc_now_ns() - t0;
    pthread_join(t, NULL);
    cr_assert_geq(took, 40 * 1000000ull, "did not wait for on_stop's future");
    cr_assert_lt(took, 5 * 1000000000ull);
    cr_assert_eq(atomic_load(&stops), 8);
    for (int i = 0; i < 8; i++) {
        tr_future *term;
        TC_OK(tr_endpoint_termination(eps[i], &term));
        cr_assert(tr_future_done(term));
        cr_assert_eq(tr_future_code(term), 0);
        tr_future_release(term);
    }
    /* The pending ask failed at shutdown, not at its 10 s deadline. */
    cr_assert(tr_future_done(pending));
    cr_assert_eq(tr_future_code(pending), TR_ESTOPPED);
    cr_assert(strstr(tr_future_error(pending), "shut down"), "%s", tr_future_error(pending));
    cr_assert_eq(tr_future_code(done_before), 0);
    /* Later use: TR_ESTOPPED. */
    tr_future *f = NULL;
    TC_ERR(tcalc_add(gw, &(t_pair){1, 1}, 0, &f), TR_ESTOPPED);
    TC_ERR(tcalc_note(gw, &(tr_i64){1}), TR_ESTOPPED);
    tr_gateway *gw2 = NULL;
    TC_ERR(tr_service_connect(svc, "ep-1", &tcalc_gateway, &gw2), TR_ESTOPPED);
    tr_endpoint *late = NULL;
    TC_ERR(tr_endpoint_create(svc, &(tr_endpoint_opts){.gateways = impls, .ngateways = 1}, &late),
           TR_ESTOPPED);
    TC_ERR(tr_endpoint_run_async(eps[1], noop, NULL, 0), TR_ESTOPPED);
    TC_OK(tr_service_shutdown(svc)); /* idempotent */
    tr_reply_release(g_kept);
    tr_future_release(pending);
    tr_future_release(done_before);
    tr_future_release(slow);
    tr_gateway_release(gw);
    for (int i = 0; i < 8; i++)
        tr_endpoint_release(eps[i]);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* Shutdown from one of the service's own workers would wait on itself. */
static _Atomic int g_from_worker = 1;
static int try_shutdown(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)state, (void)arg;
    atomic_store(&g_from_worker, tr_service_shutdown(tr_endpoint_service(self)));
    return 0;
}

Test(shutdown, s7_not_from_a_worker, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "inner", true);
    TC_OK(tr_endpoint_run_async(ep, try_shutdown, NULL, 0));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_from_worker) != 1, 10000);
    cr_assert_eq(atomic_load(&g_from_worker), TR_EDEADLK);
    tr_endpoint_release(ep);
    tr_service_destroy(svc); /* terminates the still-running endpoint */
    T_LEAK_CHECK();
}

/* Destroy without an explicit shutdown, with handles still held and
 * messages in flight: everything is freed (ASan/LSan check), endpoints
 * terminated, the termination futures completed. */
Test(shutdown, s7_destroy_with_work_in_flight, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "busy", true);
    tr_gateway *gw = t_connect(svc, "busy");
    tr_future *term;
    TC_OK(tr_endpoint_termination(ep, &term));
    static tr_future *fs[500];
    for (int i = 0; i < 500; i++) {
        TC_OK(tcalc_note(gw, &(tr_i64){i + 1}));
        TC_OK(tcalc_later(gw, &(tr_i64){i % 3}, 0, &fs[i]));
    }
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    cr_assert(tr_future_done(term));
    tr_future_release(term);
    for (int i = 0; i < 500; i++) {
        cr_assert(tr_future_done(fs[i]), "ask %d pending after destroy", i);
        tr_future_release(fs[i]);
    }
    T_LEAK_CHECK();
}

/* Two services in one process share nothing: the same id in each, calls
 * reach the right one, one shuts down while the other serves. */
Test(shutdown, two_services_share_nothing, .timeout = 30)
{
    tr_service *a = t_service(1, false), *b = t_service(1, false);
    tr_endpoint *ea = t_endpoint(a, "same", true), *eb = t_endpoint(b, "same", true);
    tr_gateway *ga = t_connect(a, "same"), *gb = t_connect(b, "same");
    TC_OK(tcalc_note(ga, &(tr_i64){1}));
    TC_OK(tcalc_note(gb, &(tr_i64){1}));
    TC_OK(tcalc_note(gb, &(tr_i64){2}));
    tr_gateway_release(ga);
    tr_endpoint_release(ea);
    tr_service_destroy(a);
    tr_future *f;
    TC_OK(tcalc_total(gb, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_total_result(f), 3);
    tr_future_release(f);
    tr_gateway_release(gb);
    t_terminate(eb);
    tr_endpoint_release(eb);
    tr_service_destroy(b);
    T_LEAK_CHECK();
}

/* ---- the registry under concurrent use ------------------------------------------ */

typedef struct churn {
    tr_service *svc;
    int thread;
    _Atomic int *errors;
} churn;

/* Each thread creates, connects (by id, from its own and others' ids),
 * calls and terminates endpoints; user threads register with RCU on their
 * first lookup and unregister when they exit. */
static void *churner(void *p)
{
    churn *c = p;
    for (int i = 0; i < 100; i++) {
        char id[32], other[32];
        snprintf(id, sizeof id, "churn-%d-%d", c->thread, i);
        snprintf(other, sizeof other, "churn-%d-%d", (c->thread + 1) % 3, i);
        tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
        tr_endpoint *ep;
        if (tr_endpoint_create(c->svc,
                               &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                   .state_size = sizeof(t_state)},
                               &ep)) {
            atomic_fetch_add(c->errors, 1);
            continue;
        }
        tr_endpoint_start(ep);
        tr_gateway *gw;
        if (tr_service_connect(c->svc, id, &tcalc_gateway, &gw) == 0) {
            tr_future *f;
            if (tcalc_add(gw, &(t_pair){i, 1}, 0, &f) == 0) {
                if (tr_future_get(f, WAIT_NS) != 0 || *tcalc_add_result(f) != i + 1)
                    atomic_fetch_add(c->errors, 1);
                tr_future_release(f);
            }
            tr_gateway_release(gw);
        } else {
            atomic_fetch_add(c->errors, 1);
        }
        /* The neighbour's endpoint may or may not exist right now. */
        int rv = tr_service_connect(c->svc, other, &tcalc_gateway, &gw);
        if (rv == 0)
            tr_gateway_release(gw);
        else if (rv != TR_ENOENDPOINT)
            atomic_fetch_add(c->errors, 1);
        tr_future *term;
        tr_endpoint_terminate(ep);
        tr_endpoint_termination(ep, &term);
        if (tr_future_get(term, WAIT_NS) != 0)
            atomic_fetch_add(c->errors, 1);
        tr_future_release(term);
        tr_endpoint_release(ep);
    }
    return NULL;
}

Test(shutdown, registry_churn_from_user_threads, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    _Atomic int errors = 0;
    churn cs[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        cs[i] = (churn){svc, i, &errors};
        pthread_create(&t[i], NULL, churner, &cs[i]);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL); /* exiting threads unregister from RCU */
    cr_assert_eq(atomic_load(&errors), 0);
    tr_service_destroy(svc); /* a grace period with those threads gone */
    T_LEAK_CHECK();
}

/* Futures outlive their service: a kept reply answered after destroy is
 * refused (TR_EBUSY: the shutdown already failed it), nothing touches the
 * freed service. */
static tr_reply *g_late;
static int keep_it(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    g_late = tr_reply_keep(reply);
    return 0;
}

Test(shutdown, futures_outlive_the_service, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tcalc_handlers h = t_handlers;
    h.later = keep_it;
    tr_gateway_impl impls[] = {tcalc_impl(&h)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "k", .gateways = impls, .ngateways = 1,
                                                      .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = t_connect(svc, "k");
    tr_future *f;
    TC_OK(tcalc_later(gw, &(tr_i64){1}, 0, &f));
    TC_ASSERT_EVENTUALLY(g_late != NULL, 10000);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    TC_ERR(tcalc_later_reply(g_late, &(tr_i64){7}), TR_EBUSY);
    tr_reply_release(g_late);
    TC_ERR(tr_future_get(f, 0), TR_ESTOPPED);
    tr_future_release(f);
    T_LEAK_CHECK();
}
