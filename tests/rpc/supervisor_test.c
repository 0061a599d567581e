/* Supervisors: each strategy, restart policies, intensity exceeded, nested
 * escalation, a child restarted under load (each ask completes exactly
 * once), and S8 without a supervisor. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "rpc_common.h"

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Creations per child id, by name: "a", "b", "c", "leaf", "worker". */
static const char *names[] = {"a", "b", "c", "leaf", "worker", "mid"};
static _Atomic long created[6];

static int name_index(const char *id)
{
    for (int i = 0; i < 6; i++)
        if (!strcmp(names[i], id))
            return i;
    return -1;
}

static int make_child(tr_service *svc, const char *id, void *arg, tr_endpoint **out)
{
    (void)arg;
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {.id = id, .gateways = impls, .ngateways = 1,
                          .state_size = sizeof(t_state)};
    int rv = tr_endpoint_create(svc, &o, out);
    if (rv == 0 && name_index(id) >= 0)
        atomic_fetch_add(&created[name_index(id)], 1);
    return rv;
}

static long made(const char *id) { return atomic_load(&created[name_index(id)]); }

static bool wait_made(const char *id, long want)
{
    for (int i = 0; i < 10000 && made(id) < want; i++)
        nap_ms(1);
    return made(id) >= want;
}

static int fail_now(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_fail(self, TR_EIO, "crash %s", tr_endpoint_id(self));
    return 0;
}

static int stop_now(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_terminate(self);
    return 0;
}

/* Connects to `id`, retrying while it is being restarted (bounded). */
static tr_gateway *connect_retry(tr_service *svc, const char *id)
{
    tr_gateway *gw = NULL;
    for (int i = 0; i < 5000; i++) {
        if (tr_service_connect(svc, id, &tcalc_gateway, &gw) == 0)
            return gw;
        nap_ms(1);
    }
    cr_assert_fail("cannot connect to %s", id);
    return NULL;
}

/* Runs fn in the current incarnation of `id`, waits for its restart when
 * `restarted` says one comes. */
static void hit(tr_service *svc, const char *id, tr_run_fn *fn)
{
    tr_gateway *gw = NULL;
    /* a run_async before on_start would be dropped (S2): wait for an answer */
    for (int i = 0; i < 5000; i++) {
        gw = connect_retry(svc, id);
        tr_future *f = NULL;
        t_pair p = {1, 1};
        if (tcalc_add(gw, &p, WAIT_NS, &f) == 0 && t_outcome(f) == 0)
            break;
        tr_gateway_release(gw);
        gw = NULL;
        nap_ms(1);
    }
    cr_assert(gw, "%s never answered", id);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    TC_OK(tr_gateway_run_async(gw, fn, NULL, 0));
    cr_assert(tr_future_wait(f, WAIT_NS) == 0);
    tr_future_release(f);
    tr_gateway_release(gw);
}

static tr_supervisor_counts query(tr_service *svc, const char *sup_id)
{
    tr_gateway *gw = NULL;
    TC_OK(tr_service_connect(svc, sup_id, &tr_supervisor_gateway, &gw));
    tr_future *f = NULL;
    TC_OK(tr_supervisor_query(gw, NULL, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    tr_supervisor_counts k = *tr_supervisor_query_result(f);
    tr_future_release(f);
    tr_gateway_release(gw);
    return k;
}

static tr_endpoint *sup3(tr_service *svc, const char *id, tr_strategy st, tr_restart r,
                         unsigned max_restarts)
{
    tr_child_spec kids[] = {
        {"a", make_child, NULL, r}, {"b", make_child, NULL, r}, {"c", make_child, NULL, r}};
    tr_supervisor_opts o = {.id = id, .strategy = st, .children = kids, .nchildren = 3,
                            .max_restarts = max_restarts, .period_ns = 5000LL * 1000 * 1000,
                            .backoff_ns = 1000000};
    tr_endpoint *sup = NULL;
    TC_OK(tr_supervisor_create(svc, &o, &sup));
    cr_assert(wait_made("a", 1) && wait_made("b", 1) && wait_made("c", 1));
    return sup;
}

static void reset_counts(void)
{
    for (int i = 0; i < 6; i++)
        atomic_store(&created[i], 0);
}

static void finish(tr_service *svc, tr_endpoint *sup)
{
    t_terminate(sup);
    /* terminating the supervisor terminated its children, last first */
    tr_gateway *gw = NULL;
    cr_assert_eq(tr_service_connect(svc, "a", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    tr_endpoint_release(sup);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

Test(supervisor, one_for_one)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *sup = sup3(svc, "sup", TR_ONE_FOR_ONE, TR_PERMANENT, 3);
    hit(svc, "b", fail_now);
    cr_assert(wait_made("b", 2));
    nap_ms(30);
    cr_assert_eq(made("a"), 1);
    cr_assert_eq(made("b"), 2);
    cr_assert_eq(made("c"), 1);
    tr_supervisor_counts k = query(svc, "sup");
    cr_assert_eq(k.restarts, 1);
    cr_assert_eq(k.running, 3);
    /* the restarted child answers under the same id */
    tr_gateway *gw = connect_retry(svc, "b");
    tr_future *f = NULL;
    t_pair p = {40, 2};
    TC_OK(tcalc_add(gw, &p, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    cr_assert_eq(*tcalc_add_result(f), 42);
    tr_future_release(f);
    tr_gateway_release(gw);
    finish(svc, sup);
}

Test(supervisor, one_for_all)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *sup = sup3(svc, "sup", TR_ONE_FOR_ALL, TR_PERMANENT, 3);
    hit(svc, "b", fail_now);
    cr_assert(wait_made("a", 2) && wait_made("b", 2) && wait_made("c", 2));
    nap_ms(30);
    cr_assert_eq(made("a") + made("b") + made("c"), 6);
    tr_supervisor_counts k = query(svc, "sup");
    cr_assert_eq(k.restarts, 1);
    cr_assert_eq(k.running, 3);
    finish(svc, sup);
}

Test(supervisor, rest_for_one)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *sup = sup3(svc, "sup", TR_REST_FOR_ONE, TR_PERMANENT, 3);
    hit(svc, "b", fail_now);
    cr_assert(wait_made("b", 2) && wait_made("c", 2));
    nap_ms(30);
    cr_assert_eq(made("a"), 1);
    cr_assert_eq(made("b"), 2);
    cr_assert_eq(made("c"), 2);
    cr_assert_eq(query(svc, "sup").running, 3);
    finish(svc, sup);
}

Test(supervisor, restart_policies)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_child_spec kids[] = {{"a", make_child, NULL, TR_PERMANENT},
                            {"b", make_child, NULL, TR_TRANSIENT},
                            {"c", make_child, NULL, TR_TEMPORARY}};
    tr_supervisor_opts o = {.id = "sup", .children = kids, .nchildren = 3, .backoff_ns = -1};
    tr_endpoint *sup = NULL;
    TC_OK(tr_supervisor_create(svc, &o, &sup));
    cr_assert(wait_made("c", 1));
    hit(svc, "a", stop_now); /* permanent: even an orderly stop restarts */
    cr_assert(wait_made("a", 2));
    hit(svc, "b", stop_now); /* transient, normal: stays down */
    hit(svc, "c", fail_now); /* temporary: stays down even after a crash */
    nap_ms(50);
    cr_assert_eq(made("b"), 1);
    cr_assert_eq(made("c"), 1);
    tr_supervisor_counts k = query(svc, "sup");
    cr_assert_eq(k.running, 1);
    cr_assert_eq(k.restarts, 1);
    finish(svc, sup);
}

Test(supervisor, transient_crash_restarts)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *sup = sup3(svc, "sup", TR_ONE_FOR_ONE, TR_TRANSIENT, 3);
    hit(svc, "a", fail_now);
    cr_assert(wait_made("a", 2));
    finish(svc, sup);
}

Test(supervisor, intensity_exceeded_fails_the_supervisor)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *sup = sup3(svc, "sup", TR_ONE_FOR_ONE, TR_PERMANENT, 2);
    tr_gateway *sgw = NULL;
    TC_OK(tr_service_connect(svc, "sup", &tr_supervisor_gateway, &sgw));
    tr_future *down = NULL;
    TC_OK(tr_gateway_watch(sgw, &down, NULL));
    hit(svc, "a", fail_now);
    cr_assert(wait_made("a", 2));
    hit(svc, "a", fail_now);
    cr_assert(wait_made("a", 3));
    hit(svc, "a", fail_now); /* the third within the period: too many */
    cr_assert_eq(tr_future_get(down, WAIT_NS), TR_EFAILED);
    cr_assert(strstr(tr_future_error(down), "restart intensity exceeded"), "%s",
              tr_future_error(down));
    cr_assert(strstr(tr_future_error(down), "crash a"), "%s", tr_future_error(down));
    tr_future *term = NULL;
    TC_OK(tr_endpoint_termination(sup, &term));
    cr_assert_eq(tr_future_get(term, WAIT_NS), TR_EFAILED);
    tr_future_release(term);
    tr_future_release(down);
    /* its children went with it */
    tr_gateway *gw = NULL;
    cr_assert_eq(tr_service_connect(svc, "b", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    cr_assert_eq(tr_service_connect(svc, "c", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    cr_assert_eq(made("a"), 3);
    tr_gateway_release(sgw);
    tr_endpoint_release(sup);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- nesting ------------------------------------------------------------------ */

static int make_mid(tr_service *svc, const char *id, void *arg, tr_endpoint **out)
{
    (void)arg;
    tr_child_spec kids[] = {{"leaf", make_child, NULL, TR_PERMANENT}};
    tr_supervisor_opts o = {.id = id, .children = kids, .nchildren = 1, .max_restarts = 1,
                            .period_ns = 5000LL * 1000 * 1000, .backoff_ns = 1000000};
    int rv = tr_supervisor_create(svc, &o, out);
    if (rv == 0)
        atomic_fetch_add(&created[name_index("mid")], 1);
    return rv;
}

Test(supervisor, nested_escalation)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_child_spec kids[] = {{"mid", make_mid, NULL, TR_PERMANENT}};
    tr_supervisor_opts o = {.id = "top", .children = kids, .nchildren = 1, .max_restarts = 1,
                            .period_ns = 5000LL * 1000 * 1000, .backoff_ns = 1000000};
    tr_endpoint *top = NULL;
    TC_OK(tr_supervisor_create(svc, &o, &top));
    cr_assert(wait_made("leaf", 1));
    hit(svc, "leaf", fail_now); /* mid restarts it (its one allowed) */
    cr_assert(wait_made("leaf", 2));
    hit(svc, "leaf", fail_now); /* mid gives up; top restarts mid, mid its leaf */
    cr_assert(wait_made("mid", 2));
    cr_assert(wait_made("leaf", 3));
    cr_assert_eq(query(svc, "top").restarts, 1);
    hit(svc, "leaf", fail_now); /* the new mid restarts it */
    cr_assert(wait_made("leaf", 4));
    hit(svc, "leaf", fail_now); /* mid gives up again: top's second restart, too many */
    tr_future *term = NULL;
    TC_OK(tr_endpoint_termination(top, &term));
    cr_assert_eq(tr_future_get(term, WAIT_NS), TR_EFAILED);
    cr_assert(strstr(tr_future_error(term), "child mid"), "%s", tr_future_error(term));
    tr_future_release(term);
    cr_assert_eq(made("mid"), 2);
    tr_gateway *gw = NULL;
    cr_assert_eq(tr_service_connect(svc, "leaf", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    tr_endpoint_release(top);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- S8 ------------------------------------------------------------------------ */

Test(supervisor, without_one_a_failure_takes_down_only_the_failed)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_endpoint *a = t_endpoint(svc, "a", true);
    tr_endpoint *b = t_endpoint(svc, "b", true);
    hit(svc, "a", fail_now);
    nap_ms(30);
    tr_gateway *gw = NULL;
    cr_assert_eq(tr_service_connect(svc, "a", &tcalc_gateway, &gw), TR_ENOENDPOINT);
    gw = t_connect(svc, "b");
    tr_future *f = NULL;
    t_pair p = {1, 2};
    TC_OK(tcalc_add(gw, &p, WAIT_NS, &f));
    cr_assert_eq(t_outcome(f), 0);
    tr_gateway_release(gw);
    tr_endpoint_release(a);
    tr_endpoint_release(b);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- restarted under load -------------------------------------------------------- */

typedef struct caller {
    tr_service *svc;
    _Atomic int *stop;
    long issued, completed, ok, failed, twice;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    tr_gateway *gw = NULL;
    for (long n = 0; n < 2000000 && !atomic_load(c->stop); n++) {
        if (!gw && tr_service_connect(c->svc, "worker", &tcalc_gateway, &gw)) {
            nap_ms(1);
            continue;
        }
        tr_future *f = NULL;
        t_pair p = {n, 1};
        int rv = tcalc_add(gw, &p, WAIT_NS, &f);
        if (rv) { /* terminated: reconnect to the restarted one */
            tr_gateway_release(gw);
            gw = NULL;
            continue;
        }
        c->issued++;
        rv = tr_future_get(f, WAIT_NS);
        if (tr_future_done(f))
            c->completed++;
        if (rv == 0) {
            if (*tcalc_add_result(f) == n + 1)
                c->ok++;
        } else {
            c->failed++;
            tr_gateway_release(gw);
            gw = NULL;
        }
        /* a second completion would be refused: the outcome never changes */
        if (tr_future_fail(f, TR_EFAILED, "again") != TR_EBUSY)
            c->twice++;
        tr_future_release(f);
    }
    tr_gateway_release(gw);
    return NULL;
}

Test(supervisor, child_restarted_under_load)
{
    reset_counts();
    tr_service *svc = t_service(2, false);
    tr_child_spec kids[] = {{"worker", make_child, NULL, TR_PERMANENT}};
    tr_supervisor_opts o = {.id = "sup", .children = kids, .nchildren = 1, .max_restarts = 100,
                            .backoff_ns = 1000000};
    tr_endpoint *sup = NULL;
    TC_OK(tr_supervisor_create(svc, &o, &sup));
    cr_assert(wait_made("worker", 1));
    _Atomic int stop = 0;
    caller cs[3] = {{svc, &stop, 0, 0, 0, 0, 0}, {svc, &stop, 0, 0, 0, 0, 0},
                    {svc, &stop, 0, 0, 0, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, caller_main, &cs[i]), 0);
    for (int k = 0; k < 5; k++) {
        nap_ms(30);
        hit(svc, "worker", fail_now);
        cr_assert(wait_made("worker", k + 2));
    }
    nap_ms(30);
    atomic_store(&stop, 1);
    long ok = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(cs[i].issued, cs[i].completed);
        cr_assert_eq(cs[i].ok + cs[i].failed, cs[i].issued);
        cr_assert_eq(cs[i].twice, 0);
        ok += cs[i].ok;
    }
    cr_assert_gt(ok, 0);
    cr_assert_eq(made("worker"), 6);
    t_terminate(sup);
    tr_endpoint_release(sup);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
