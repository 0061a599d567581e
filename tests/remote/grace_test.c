/* The reconnect grace period of remote watches (service.h watch_grace_ns,
 * PROTOCOL.md "Death watch"), with a second process started and ended by
 * PID: a forked child serving "calc" (node_proc.h; it reports its watch
 * records and fails its endpoint on command) or troupe-node, and, where a
 * connection must be cut without killing anybody, the test proxy
 * (proxy.h) between client and node, which resets every connection it
 * carries and, while refusing, every redial.
 *
 *  - cut and healed within the grace, same incarnation: no notification,
 *    the watches are armed again on the node (once each), and the
 *    endpoint's failure later arrives once with its code and message;
 *  - the endpoint gone while the link was cut: reported on reconnect;
 *  - a connection cut young is redialled only after the backoff's floor;
 *  - node killed and restarted within the grace: TR_ERESTARTED, once;
 *  - node gone for longer: TR_EUNREACHABLE, once, at the grace's end;
 *  - unwatch during the grace: not re-sent, nothing left on either side;
 *    a watch made during it: held, then sent;
 *  - shutdown during the grace: TR_ESTOPPED, once;
 *  - no grace (negative): a lost connection fires at once;
 *  - the defaults' detection time of a cut that does not heal. */
#include <pthread.h>

#include "common/watch_fixture.h"
#include "node_proc.h"
#include "proxy.h"

#define MS (1000LL * 1000)

static tr_service *grace_client(int64_t grace_ns)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.heartbeat_interval_ns = 100 * MS;
    cfg.heartbeat_timeout_ns = 500 * MS;
    cfg.watch_grace_ns = grace_ns;
    cfg.lookup_timeout_ns = 2000 * MS;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

static tr_gateway *calc_via(tr_service *client, uint16_t port)
{
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/calc", (unsigned)port);
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, a, &tcalc_gateway, &gw);
    TC_ASSERT_MSG(rv == 0, "connect %s: %s: %s", a, tr_errname(rv), tr_service_connect_error());
    return gw;
}

/* One test's hosts: a forked node behind a proxy that can cut and heal,
 * and a client service with the given grace calling it. Fork first: the
 * child starts from a process with no troupe threads (node_proc.h). */
typedef struct rig {
    node nd;
    r_proxy px;
    tr_service *client;
    tr_gateway *gw;
} rig;

static void rig_up(rig *g, int64_t grace_ns)
{
    g->nd = child_start();
    r_proxy_start(&g->px, g->nd.port);
    g->client = grace_client(grace_ns);
    g->gw = calc_via(g->client, g->px.port);
}

static void rig_down(rig *g)
{
    tr_gateway_release(g->gw);
    tr_service_destroy(g->client);
    r_proxy_stop(&g->px);
    node_end(&g->nd);
}

static void add_ok(tr_gateway *gw, int64_t a, int64_t b)
{
    tr_future *f = NULL;
    TC_OK(tcalc_add(gw, &(t_pair){a, b}, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0, "%s", tr_future_error(f));
    cr_assert_eq(*tcalc_add_result(f), a + b);
    tr_future_release(f);
}

static double ms_since(uint64_t t0) { return (double)(tc_now_ns() - t0) / 1e6; }

/* Waits (bounded) until the proxy has accepted more than `n`. */
static void wait_accepted(r_proxy *px, unsigned n)
{
    TC_ASSERT_EVENTUALLY(atomic_load(&px->accepted) > n, 10000);
}

/* Lets the proxy take connections again and waits (bounded) until the
 * client has dialled through it. */
static void heal(rig *g)
{
    unsigned accepted = atomic_load(&g->px.accepted);
    r_proxy_refuse(&g->px, false);
    wait_accepted(&g->px, accepted);
}

/* Every future in f[0..n) completed exactly once with `code` (a second
 * completion is refused), its message holding `needle`; released. */
static void all_once(tr_future **f, int n, int code, const char *needle)
{
    for (int i = 0; i < n; i++) {
        cr_assert_eq(tr_future_get(f[i], WAIT_NS), code, "watch %d: %s: %s", i,
                     tr_errname(tr_future_code(f[i])), tr_future_error(f[i]));
        if (needle)
            cr_assert(strstr(tr_future_error(f[i]), needle), "%s", tr_future_error(f[i]));
        cr_assert_eq(tr_future_fail(f[i], TR_EFAILED, "again"), TR_EBUSY);
        tr_future_release(f[i]);
    }
}

/* ---- endpoint watchers ----------------------------------------------------------------- */

typedef struct seen {
    _Atomic long fired, dropped;
    _Atomic int code;
    int n;
    tr_gateway *gw;
    _Atomic long done;
} seen;

static void on_down(tr_endpoint *self, void *state, const tr_down *d, void *arg)
{
    seen *s = arg;
    (void)state;
    if (!self) {
        atomic_fetch_add(&s->dropped, 1);
        return;
    }
    atomic_store(&s->code, d->code);
    atomic_fetch_add(&s->fired, 1);
}

static int watch_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    seen *s = *(seen **)arg;
    if (self)
        for (int i = 0; i < s->n; i++)
            TC_OK(tr_endpoint_watch(self, s->gw, on_down, s, NULL));
    atomic_fetch_add(&s->done, 1);
    return 0;
}

static void watch_from(tr_endpoint *watcher, seen *s)
{
    seen *p = s;
    TC_OK(tr_endpoint_run_async(watcher, watch_body, &p, sizeof p));
    TC_ASSERT_EVENTUALLY(atomic_load(&s->done) == 1, 5000);
}

/* ---- a cut that heals ---------------------------------------------------------------- */

Test(grace, cut_healed_same_incarnation_rearms, .timeout = 60, .fini = np_end_started)
{
    enum { N = 100, E = 10 };
    const int64_t grace = 2000 * MS;
    node nd = child_start(); /* before any service of ours: see node_proc.h */
    r_proxy px;
    r_proxy_start(&px, nd.port);
    tr_service *client = grace_client(grace);
    tr_gateway *gw = calc_via(client, px.port);
    tr_endpoint *watcher = t_endpoint(client, "watcher", true);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    seen s = {.n = E, .gw = gw};
    watch_from(watcher, &s);
    cr_assert_eq(child_settle(&nd, N + E), N + E);
    /* a connection younger than the backoff's floor (50 ms) is redialled
     * only that long after it was made (rwatch.c): cut an older one */
    tc_sleep_us(100000);
    unsigned accepted = atomic_load(&px.accepted);
    uint64_t t0 = tc_now_ns();
    r_proxy_cut(&px);
    wait_accepted(&px, accepted); /* the peer redialled on its own: no call asked it to */
    double back = ms_since(t0);
    /* the node dropped the old connection's watches and has the re-sent
     * ones: N + E again, never twice that */
    cr_assert_eq(child_settle(&nd, N + E), N + E);
    add_ok(gw, 20, 22); /* the old gateway works: the same incarnation */
    /* past the end of the grace period: still nothing fired */
    tc_sleep_us((unsigned)((grace - (int64_t)(ms_since(t0) * 1e6)) / 1000) + 300000);
    for (int i = 0; i < N; i++)
        cr_assert(!tr_future_done(f[i]), "watch %d: %s", i, tr_future_error(f[i]));
    cr_assert_eq(atomic_load(&s.fired), 0);
    cr_assert_eq(child_live(&nd), N + E);
    fprintf(stderr, "grace: reconnected %.1f ms after the cut\n", back);
    /* the endpoint fails: one notification each, with its code */
    child_fail(&nd);
    all_once(f, N, TR_EIO, "disk sdc is gone");
    TC_ASSERT_EVENTUALLY(atomic_load(&s.fired) == E, 5000);
    cr_assert_eq(atomic_load(&s.code), TR_EIO);
    tc_sleep_us(50000);
    cr_assert_eq(atomic_load(&s.fired), E);
    cr_assert_eq(child_settle(&nd, 0), 0);
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&s.dropped), 0);
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_endpoint_release(watcher);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    node_end(&nd);
    T_LEAK_CHECK();
}

/* The endpoint fails while the link is cut: its DOWN is lost with the
 * connection, but the WATCH sent again on the new one finds no endpoint and
 * the node says so at once. Once each. */
Test(grace, target_died_during_grace_reported_on_reconnect, .timeout = 60,
     .fini = np_end_started)
{
    enum { N = 10 };
    rig g;
    rig_up(&g, 5000 * MS);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(g.gw, &f[i], NULL));
    cr_assert_eq(child_settle(&g.nd, N), N);
    r_proxy_refuse(&g.px, true);
    r_proxy_cut(&g.px);
    cr_assert_eq(child_settle(&g.nd, 0), 0);
    child_fail(&g.nd); /* nobody hears it: no watch on the node now */
    tc_sleep_us(100000);
    for (int i = 0; i < N; i++)
        cr_assert(!tr_future_done(f[i]));
    r_proxy_refuse(&g.px, false);
    all_once(f, N, TR_EUNREACHABLE, "no endpoint");
    cr_assert_eq(child_settle(&g.nd, 0), 0);
    cr_assert_eq(wf_settle(g.client, 0), 0);
    rig_down(&g);
    T_LEAK_CHECK();
}

/* A connection cut young (a peer that accepts and drops at once) is not
 * redialled in a loop: the redial waits until the backoff's floor (50 ms)
 * after the lost connection was made. */
Test(grace, young_connection_redial_waits_for_backoff_floor, .timeout = 60,
     .fini = np_end_started)
{
    node nd = child_start();
    r_proxy px;
    r_proxy_start(&px, nd.port);
    tr_service *client = grace_client(5000 * MS);
    uint64_t t0 = tc_now_ns(); /* before the connection is made */
    tr_gateway *gw = calc_via(client, px.port);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    cr_assert_eq(child_settle(&nd, 1), 1);
    unsigned accepted = atomic_load(&px.accepted);
    double cut_at = ms_since(t0);
    r_proxy_cut(&px);
    wait_accepted(&px, accepted);
    double ms = ms_since(t0);
    fprintf(stderr, "grace: cut %.1f ms after the connect, redialled at %.1f ms\n", cut_at, ms);
    cr_assert_geq(ms, 50, "%.1f ms", ms);
    cr_assert_eq(child_settle(&nd, 1), 1);
    cr_assert(!tr_future_done(f));
    child_fail(&nd);
    all_once(&f, 1, TR_EIO, "disk sdc is gone");
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    node_end(&nd);
    T_LEAK_CHECK();
}

/* ---- a restart within the grace --------------------------------------------------------- */

Test(grace, restart_within_grace_fires_restarted, .timeout = 60, .fini = np_end_started)
{
    enum { N = 20 };
    const int64_t grace = 5000 * MS;
    node nd = node_start(0);
    uint16_t port = nd.port;
    tr_service *client = grace_client(grace);
    tr_gateway *gw = node_gw(client, port);
    ping_ok(gw);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    ping_ok(gw); /* the WATCHes went out before this answer came */
    uint64_t t0 = tc_now_ns();
    node_end(&nd); /* SIGKILL, reaped */
    tc_sleep_us(100000);
    for (int i = 0; i < N; i++) /* held, not fired */
        cr_assert(!tr_future_done(f[i]), "watch %d: %s", i, tr_future_error(f[i]));
    nd = node_start(port); /* the same address, a new incarnation */
    cr_assert_eq(nd.port, port);
    all_once(f, N, TR_ERESTARTED, "restarted (a new incarnation)");
    double ms = ms_since(t0);
    fprintf(stderr, "grace: restart seen %.1f ms after the kill\n", ms);
    cr_assert_lt(ms, grace / 1e6, "%.1f ms", ms);
    cr_assert_eq(wf_settle(client, 0), 0);
    node_end(&nd);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* ---- gone for longer than the grace -------------------------------------------------- */

Test(grace, gone_past_grace_fires_unreachable_once, .timeout = 60, .fini = np_end_started)
{
    enum { N = 20, E = 10 };
    const int64_t grace = 800 * MS;
    node nd = node_start(0);
    tr_service *client = grace_client(grace);
    tr_gateway *gw = node_gw(client, nd.port);
    tr_endpoint *watcher = t_endpoint(client, "watcher", true);
    ping_ok(gw);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    seen s = {.n = E, .gw = gw};
    watch_from(watcher, &s);
    ping_ok(gw);
    uint64_t t0 = tc_now_ns();
    node_end(&nd);
    all_once(f, N, TR_EUNREACHABLE, "not re-established within the grace period of 800 ms");
    double ms = ms_since(t0);
    fprintf(stderr, "grace: node gone, watches fired %.1f ms after the kill\n", ms);
    cr_assert_geq(ms, grace / 1e6, "%.1f ms", ms);
    cr_assert_leq(ms, grace / 1e6 + 100, "%.1f ms", ms);
    TC_ASSERT_EVENTUALLY(atomic_load(&s.fired) == E, 5000);
    cr_assert_eq(atomic_load(&s.code), TR_EUNREACHABLE);
    tc_sleep_us(50000);
    cr_assert_eq(atomic_load(&s.fired), E);
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&s.dropped), 0);
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_endpoint_release(watcher);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

/* ---- unwatch and shutdown during the grace ------------------------------------------- */

Test(grace, unwatch_during_grace, .timeout = 60, .fini = np_end_started)
{
    rig g;
    rig_up(&g, 5000 * MS);
    tr_future *f1 = NULL, *f2 = NULL;
    tr_watch *w1 = NULL;
    TC_OK(tr_gateway_watch(g.gw, &f1, &w1));
    TC_OK(tr_gateway_watch(g.gw, &f2, NULL));
    cr_assert_eq(child_settle(&g.nd, 2), 2);
    r_proxy_refuse(&g.px, true);
    r_proxy_cut(&g.px);
    cr_assert_eq(child_settle(&g.nd, 0), 0); /* the node let the cut connection's go */
    cr_assert_eq(tr_unwatch(w1), 0);
    cr_assert_eq(tr_future_code(f1), TR_ECANCELED);
    tr_watch_release(w1);
    cr_assert_eq(wf_settle(g.client, 1), 1); /* w1's record went with its handle */
    cr_assert(!tr_future_done(f2));
    heal(&g);
    /* only the watch still held was sent again */
    cr_assert_eq(child_settle(&g.nd, 1), 1);
    tc_sleep_us(100000);
    cr_assert_eq(child_live(&g.nd), 1);
    child_fail(&g.nd);
    all_once(&f2, 1, TR_EIO, "disk sdc is gone");
    cr_assert_eq(tr_future_code(f1), TR_ECANCELED);
    cr_assert_eq(child_settle(&g.nd, 0), 0);
    tr_future_release(f1);
    cr_assert_eq(wf_settle(g.client, 0), 0);
    rig_down(&g);
    T_LEAK_CHECK();
}

/* A watch made while the peer is down within the grace joins the held
 * ones (it does not fail at once for want of a connection) and is sent on
 * the reconnect. */
Test(grace, watch_made_during_grace_is_sent_on_reconnect, .timeout = 60,
     .fini = np_end_started)
{
    rig g;
    rig_up(&g, 5000 * MS);
    tr_future *f1 = NULL, *f2 = NULL;
    TC_OK(tr_gateway_watch(g.gw, &f1, NULL));
    cr_assert_eq(child_settle(&g.nd, 1), 1);
    r_proxy_refuse(&g.px, true);
    r_proxy_cut(&g.px);
    TC_ASSERT_EVENTUALLY(atomic_load(&g.px.refused) >= 2, 5000); /* a redial backed off */
    TC_OK(tr_gateway_watch(g.gw, &f2, NULL));
    tc_sleep_us(100000);
    cr_assert(!tr_future_done(f1));
    cr_assert(!tr_future_done(f2), "%s", tr_future_error(f2));
    heal(&g);
    cr_assert_eq(child_settle(&g.nd, 2), 2);
    child_fail(&g.nd);
    tr_future *both[] = {f1, f2};
    all_once(both, 2, TR_EIO, "disk sdc is gone");
    cr_assert_eq(child_settle(&g.nd, 0), 0);
    cr_assert_eq(wf_settle(g.client, 0), 0);
    rig_down(&g);
    T_LEAK_CHECK();
}

/* A watch made while the peer is known down and no grace is running (the
 * link went when nothing was watched, and a redial was refused) starts a
 * grace of its own: it does not fail at once, and it is sent once the
 * link heals. */
Test(grace, watch_made_while_down_without_grace_waits, .timeout = 60, .fini = np_end_started)
{
    rig g;
    rig_up(&g, 5000 * MS);
    add_ok(g.gw, 2, 3);
    r_proxy_refuse(&g.px, true);
    r_proxy_cut(&g.px);
    tr_future *f = NULL;
    int rv = -1; /* until a call finds the peer refused (known down) */
    for (int i = 0; i < 100 && rv != TR_EUNREACHABLE; i++) {
        TC_OK(tcalc_add(g.gw, &(t_pair){1, 1}, WAIT_NS, &f));
        rv = tr_future_get(f, WAIT_NS);
        tr_future_release(f);
    }
    cr_assert_eq(rv, TR_EUNREACHABLE);
    cr_assert_geq(atomic_load(&g.px.refused), 1);
    tr_future *w = NULL;
    TC_OK(tr_gateway_watch(g.gw, &w, NULL));
    tc_sleep_us(100000);
    cr_assert(!tr_future_done(w), "the watch fired while the peer was briefly down: %s",
              tr_future_error(w));
    heal(&g);
    cr_assert_eq(child_settle(&g.nd, 1), 1);
    child_fail(&g.nd);
    all_once(&w, 1, TR_EIO, "disk sdc is gone");
    cr_assert_eq(wf_settle(g.client, 0), 0);
    rig_down(&g);
    T_LEAK_CHECK();
}

/* Every held watch unwatched, then the service destroyed while the peer is
 * still down: the grace timer went with the last watch; nothing leaks. */
Test(grace, unwatch_all_then_destroy_during_grace, .timeout = 60, .fini = np_end_started)
{
    enum { N = 5 };
    node nd = child_start();
    r_proxy px;
    r_proxy_start(&px, nd.port);
    tr_service *client = grace_client(5000 * MS);
    tr_gateway *gw = calc_via(client, px.port);
    tr_future *f[N];
    tr_watch *w[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], &w[i]));
    cr_assert_eq(child_settle(&nd, N), N);
    r_proxy_refuse(&px, true);
    r_proxy_cut(&px);
    tc_sleep_us(100000);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_unwatch(w[i]), 0);
        cr_assert_eq(tr_future_code(f[i]), TR_ECANCELED);
        tr_watch_release(w[i]);
        tr_future_release(f[i]);
    }
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    cr_assert_eq(child_settle(&nd, 0), 0);
    node_end(&nd);
    T_LEAK_CHECK();
}

Test(grace, shutdown_during_grace_fires_stopped, .timeout = 60, .fini = np_end_started)
{
    enum { N = 10 };
    node nd = child_start();
    r_proxy px;
    r_proxy_start(&px, nd.port);
    tr_service *client = grace_client(5000 * MS);
    tr_gateway *gw = calc_via(client, px.port);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    cr_assert_eq(child_settle(&nd, N), N);
    r_proxy_refuse(&px, true);
    r_proxy_cut(&px);
    tc_sleep_us(100000);
    for (int i = 0; i < N; i++)
        cr_assert(!tr_future_done(f[i]));
    tr_gateway_release(gw);
    tr_service_shutdown(client);
    all_once(f, N, TR_ESTOPPED, NULL);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    node_end(&nd);
    T_LEAK_CHECK();
}

/* watch_grace_ns < 0: no grace, a lost connection fires its watches at
 * once (even though the link would heal at once). */
Test(grace, negative_grace_fires_at_once, .timeout = 60, .fini = np_end_started)
{
    enum { N = 10 };
    rig g;
    rig_up(&g, -1);
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(g.gw, &f[i], NULL));
    cr_assert_eq(child_settle(&g.nd, N), N);
    uint64_t t0 = tc_now_ns();
    r_proxy_cut(&g.px);
    all_once(f, N, TR_EUNREACHABLE, "reset by peer");
    double ms = ms_since(t0);
    cr_assert_lt(ms, 100, "%.1f ms", ms);
    add_ok(g.gw, 1, 2); /* the gateway reconnects at the next call */
    cr_assert_eq(child_settle(&g.nd, 0), 0);
    cr_assert_eq(wf_settle(g.client, 0), 0);
    rig_down(&g);
    T_LEAK_CHECK();
}

/* ---- the defaults ---------------------------------------------------------------------- */

/* With tr_service_config_init's defaults (grace = heartbeat timeout, 5 s):
 * a cut that does not heal is reported once, at the grace's end. Prints
 * the detection time (README "Watching and supervising"). */
Test(grace, defaults_link_cut_past_grace, .timeout = 60, .fini = np_end_started)
{
    node nd = child_start();
    r_proxy px;
    r_proxy_start(&px, nd.port);
    tr_service *client = r_client(1, 0, 0);
    tr_gateway *gw = calc_via(client, px.port);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    cr_assert_eq(child_settle(&nd, 1), 1);
    r_proxy_refuse(&px, true);
    uint64_t t0 = tc_now_ns();
    r_proxy_cut(&px);
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    double ms = ms_since(t0);
    unsigned redials = atomic_load(&px.refused);
    fprintf(stderr, "detection: link cut past the grace, defaults %.1f ms, %u redials (%s)\n",
            ms, redials, tr_future_error(f));
    /* at once, then after 50, 100, ... 1600 ms of backoff (+ up to a
     * quarter of jitter): at 0, 50, 150, 350, 750, 1550, 3150 ms; the next
     * (3200 ms later) is past the 5 s */
    cr_assert_eq(redials, 7);
    double want = TR_DEFAULT_HEARTBEAT_TIMEOUT_NS / 1e6;
    cr_assert_geq(ms, want, "%.1f ms", ms);
    cr_assert_leq(ms, want + 100, "%.1f ms", ms);
    cr_assert(strstr(tr_future_error(f), "grace period of 5000 ms"), "%s", tr_future_error(f));
    all_once(&f, 1, TR_EUNREACHABLE, NULL);
    cr_assert_eq(wf_settle(client, 0), 0);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    node_end(&nd);
    T_LEAK_CHECK();
}
