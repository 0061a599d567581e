/* Death watch across the network: DOWN with the code and message, a
 * target dead before the watch, unwatch, a watcher that goes first (the
 * serving side lets go), 10,000 watches, troupe-node killed (SIGKILL) and
 * stopped (SIGSTOP) as a second process by PID, a link cut through a
 * proxy that stays cut past the grace period, and a restarted node seen as
 * a new incarnation (TR_ERESTARTED). The grace period's other cases are
 * grace_test.c's. */
#include <pthread.h>

#include "common/watch_fixture.h"
#include "node_proc.h"
#include "proxy.h"

#define HB_INTERVAL_NS (100LL * 1000000)
#define HB_TIMEOUT_NS (500LL * 1000000)

/* Heartbeats at 100 / 500 ms; the grace period is the timeout's (the
 * default: watch_grace_ns 0). */
static tr_service *hb_client(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.heartbeat_interval_ns = HB_INTERVAL_NS;
    cfg.heartbeat_timeout_ns = HB_TIMEOUT_NS;
    cfg.lookup_timeout_ns = 2000LL * 1000000;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

static int fail_now(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_fail(self, TR_EIO, "disk %s is gone", "sdc");
    return 0;
}

/* A server with endpoint "calc", a client with heartbeats, a gateway
 * across the loopback. */
static wfix loop_fix(void)
{
    wfix f = {0};
    f.server = r_server(1, 0);
    f.client = hb_client();
    f.target = t_endpoint(f.server, "calc", true);
    f.gw = r_connect(f.client, f.server, "calc");
    return f;
}

Test(rwatch, down_carries_code_and_message, .timeout = 60)
{
    wfix fx = loop_fix();
    tr_service *server = fx.server;
    tr_gateway *gw = fx.gw;
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    /* the WATCH is registered on the server before anything ends */
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 1, 5000);
    tr_gateway *lgw = t_connect(server, "calc");
    TC_OK(tr_gateway_run_async(lgw, fail_now, NULL, 0));
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EIO);
    cr_assert(strstr(tr_future_error(f), "disk sdc is gone"), "%s", tr_future_error(f));
    /* dead before the watch: notified at once */
    tr_future *g = NULL;
    TC_OK(tr_gateway_watch(gw, &g, NULL));
    cr_assert_eq(tr_future_get(g, WAIT_NS), TR_EUNREACHABLE);
    cr_assert(strstr(tr_future_error(g), "no endpoint"), "%s", tr_future_error(g));
    tr_future_release(f);
    tr_future_release(g);
    tr_gateway_release(lgw);
    wf_close(&fx);
}

Test(rwatch, normal_termination_and_unwatch, .timeout = 60)
{
    wfix fx = loop_fix();
    tr_service *server = fx.server;
    tr_endpoint *ep = fx.target;
    tr_gateway *gw = fx.gw;
    tr_future *f = NULL, *g = NULL;
    tr_watch *w = NULL;
    TC_OK(tr_gateway_watch(gw, &f, &w));
    TC_OK(tr_gateway_watch(gw, &g, NULL));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 2, 5000);
    cr_assert_eq(tr_unwatch(w), 0);
    cr_assert_eq(tr_future_code(f), TR_ECANCELED);
    /* UNWATCH reached the server: its watch is gone */
    cr_assert_eq(wf_settle(server, 1), 1);
    t_terminate(ep);
    cr_assert_eq(tr_future_get(g, WAIT_NS), 0);
    cr_assert_eq(tr_future_code(f), TR_ECANCELED);
    tr_watch_release(w);
    tr_future_release(f);
    tr_future_release(g);
    wf_close(&fx);
}

/* ---- a watcher endpoint that goes first ---------------------------------- */

static _Atomic long dropped, fired;

static void on_down(tr_endpoint *self, void *state, const tr_down *d, void *arg)
{
    (void)state, (void)d, (void)arg;
    atomic_fetch_add(self ? &fired : &dropped, 1);
}

static int watch_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    tr_gateway *gw = *(tr_gateway **)arg;
    if (self)
        for (int i = 0; i < 50; i++)
            tr_endpoint_watch(self, gw, on_down, NULL, NULL);
    return 0;
}

Test(rwatch, watcher_dies_first_server_lets_go, .timeout = 60)
{
    atomic_store(&dropped, 0);
    atomic_store(&fired, 0);
    wfix fx = loop_fix();
    tr_service *server = fx.server;
    tr_endpoint *watcher = fx.watcher = t_endpoint(fx.client, "watcher", true);
    tr_gateway *gw = fx.gw;
    TC_OK(tr_endpoint_run_async(watcher, watch_body, &gw, sizeof gw));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 50, 5000);
    cr_assert_eq(tr_service_live_watches(server), 50);
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&dropped), 50);
    cr_assert_eq(wf_settle(server, 0), 0); /* 50 UNWATCHes */
    cr_assert_eq(wf_settle(fx.client, 0), 0);
    t_terminate(fx.target);
    cr_assert_eq(atomic_load(&fired), 0);
    wf_close(&fx);
}

Test(rwatch, ten_thousand_fire_once_each, .timeout = 120)
{
    enum { N = 10000 };
    wfix fx = loop_fix();
    tr_service *server = fx.server;
    tr_endpoint *ep = fx.target;
    tr_gateway *gw = fx.gw;
    tr_future **f = calloc(N, sizeof *f);
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == N, 20000);
    cr_assert_eq(tr_service_live_watches(server), N);
    t_terminate(ep);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_future_get(f[i], WAIT_NS), 0);
        /* once: a second completion is refused */
        cr_assert_eq(tr_future_fail(f[i], TR_EFAILED, "again"), TR_EBUSY);
        tr_future_release(f[i]);
    }
    free(f);
    wf_close(&fx);
}

/* ---- troupe-node as a second process ------------------------------------------ */

/* ---- troupe-node as a second process (node_proc.h) ---------------------------- */

static double ms_since(uint64_t t0) { return (double)(tc_now_ns() - t0) / 1e6; }

Test(rwatch, node_sigkill_fires_within_timeout, .timeout = 60, .fini = np_end_started)
{
    node nd = node_start(0);
    tr_service *client = hb_client();
    tr_gateway *gw = node_gw(client, nd.port);
    ping_ok(gw);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    ping_ok(gw); /* the WATCH went out before this answer came */
    uint64_t t0 = tc_now_ns();
    kill(nd.pid, SIGKILL);
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    double ms = ms_since(t0);
    fprintf(stderr, "detection: SIGKILL %.1f ms (%s)\n", ms, tr_future_error(f));
    /* the redials are refused: it fires at the end of the grace period
     * (the heartbeat timeout's), not before */
    cr_assert_leq(ms, (HB_TIMEOUT_NS / 1e6) + 100, "%.1f ms", ms);
    cr_assert_geq(ms, HB_TIMEOUT_NS / 1e6, "%.1f ms", ms);
    cr_assert(strstr(tr_future_error(f), "grace period"), "%s", tr_future_error(f));
    tr_future_release(f);
    node_end(&nd);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* kill(SIGSTOP) returns before the target has stopped: a node running on
 * the other CPU may still answer what is sent next (CI lost the pending
 * ask below to that once). Waits, bounded, for /proc to say it stopped. */
static void wait_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    uint64_t deadline = tc_deadline_ms(5000);
    for (;;) {
        char buf[512] = {0};
        FILE *fp = fopen(path, "r");
        size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
        if (fp)
            fclose(fp);
        const char *close_paren = n ? strrchr(buf, ')') : NULL;
        if (close_paren && (close_paren[2] == 'T' || close_paren[2] == 't'))
            return;
        cr_assert(tc_now_ns() < deadline, "node %d did not stop within 5 s", (int)pid);
        tc_sleep_us(200);
    }
}

Test(rwatch, node_sigstop_fires_within_timeout, .timeout = 60, .fini = np_end_started)
{
    node nd = node_start(0);
    tr_service *client = hb_client();
    tr_gateway *gw = node_gw(client, nd.port);
    ping_ok(gw);
    enum { N = 100 };
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    ping_ok(gw);
    uint64_t t0 = tc_now_ns();
    kill(nd.pid, SIGSTOP);
    wait_stopped(nd.pid);
    tr_future *ask = NULL;
    TC_OK(tnode_ping(gw, &(tr_i64){9}, WAIT_NS, &ask));
    for (int i = 0; i < N; i++)
        cr_assert_eq(tr_future_get(f[i], WAIT_NS), TR_EUNREACHABLE);
    double ms = ms_since(t0);
    fprintf(stderr, "detection: SIGSTOP %.1f ms (%s)\n", ms, tr_future_error(f[0]));
    cr_assert_leq(ms, (HB_TIMEOUT_NS / 1e6) + 100, "%.1f ms", ms);
    cr_assert(strstr(tr_future_error(f[0]), "not even a PONG"), "%s", tr_future_error(f[0]));
    /* the pending ask failed too, naming the reason */
    cr_assert_eq(tr_future_get(ask, WAIT_NS), TR_EUNREACHABLE);
    cr_assert(strstr(tr_future_error(ask), "not even a PONG"), "%s", tr_future_error(ask));
    tr_future_release(ask);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_future_fail(f[i], TR_EFAILED, "again"), TR_EBUSY);
        tr_future_release(f[i]);
    }
    node_end(&nd);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* A link cut that stays cut (the proxy resets every redial): the watch is
 * held for the grace period, then fires once; the serving side let its
 * watch go with the connection. (A cut that heals is grace_test.c's.) */
Test(rwatch, link_cut_past_grace_fires, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    r_proxy px;
    r_proxy_start(&px, tr_service_port(server));
    tr_service *client = hb_client();
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)px.port);
    tr_gateway *gw = NULL;
    TC_OK(tr_service_connect(client, a, &tcalc_gateway, &gw));
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 1, 5000);
    unsigned accepted = atomic_load(&px.accepted);
    r_proxy_refuse(&px, true);
    uint64_t t0 = tc_now_ns();
    r_proxy_cut(&px);
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    double ms = ms_since(t0);
    fprintf(stderr, "detection: link cut past the grace (proxy reset, redials reset) %.1f ms "
                    "(%s)\n", ms, tr_future_error(f));
    cr_assert_leq(ms, (HB_TIMEOUT_NS / 1e6) + 100, "%.1f ms", ms);
    cr_assert_geq(ms, HB_TIMEOUT_NS / 1e6, "%.1f ms", ms);
    cr_assert(strstr(tr_future_error(f), "not re-established within the grace period of 500 ms"),
              "%s", tr_future_error(f));
    cr_assert_eq(atomic_load(&px.accepted), accepted); /* none got through */
    cr_assert_eq(tr_future_fail(f, TR_EFAILED, "again"), TR_EBUSY);
    cr_assert_eq(wf_settle(server, 0), 0);
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    tr_endpoint_release(ep);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

Test(rwatch, restarted_node_is_a_new_incarnation, .timeout = 60, .fini = np_end_started)
{
    node nd = node_start(0);
    uint16_t port = nd.port;
    tr_service *client = hb_client();
    tr_gateway *gw = node_gw(client, port);
    ping_ok(gw);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    ping_ok(gw);
    node_end(&nd);
    /* not back within the grace period: the watch fired (a restart within
     * it is grace_test.c's) */
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    tr_future_release(f);
    nd = node_start(port); /* the same address */
    cr_assert_eq(nd.port, port);
    /* the old gateway does not talk to the fresh process; the refused
     * redials left a backoff, so the first calls may hear "is down" */
    tr_future *a = NULL;
    int rv = TR_EUNREACHABLE;
    for (int i = 0; i < 100 && rv == TR_EUNREACHABLE; i++) {
        if (i)
            tc_sleep_us(50000);
        TC_OK(tnode_ping(gw, &(tr_i64){1}, WAIT_NS, &a));
        rv = tr_future_get(a, WAIT_NS);
        if (rv == TR_EUNREACHABLE)
            cr_assert(strstr(tr_future_error(a), "is down"), "%s", tr_future_error(a));
        if (rv == TR_EUNREACHABLE)
            tr_future_release(a);
    }
    cr_assert_eq(rv, TR_ERESTARTED, "%s", tr_future_error(a));
    cr_assert(strstr(tr_future_error(a), "restarted"), "%s", tr_future_error(a));
    tr_future_release(a);
    TC_OK(tnode_ping(gw, &(tr_i64){1}, WAIT_NS, &a)); /* and keeps failing */
    cr_assert_eq(tr_future_get(a, WAIT_NS), TR_ERESTARTED);
    tr_future_release(a);
    /* reconnecting explicitly works */
    tr_gateway *gw2 = node_gw(client, port);
    ping_ok(gw2);
    tr_gateway_release(gw2);
    node_end(&nd);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}
