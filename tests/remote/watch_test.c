/* Death watch across the network: DOWN with the code and message, a
 * target dead before the watch, unwatch, a watcher that goes first (the
 * serving side lets go), 10,000 watches, troupe-node killed (SIGKILL) and
 * stopped (SIGSTOP) as a second process by PID, a link cut through a
 * proxy, and a restarted node seen as a new incarnation (TR_ERESTARTED). */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "proxy.h"
#include "remote_common.h"
#include "tnode.h"

#define HB_INTERVAL_NS (100LL * 1000000)
#define HB_TIMEOUT_NS (500LL * 1000000)

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

static uint64_t settle(tr_service *svc, uint64_t want)
{
    TC_WAIT_UNTIL(tr_service_live_watches(svc) == want, 5000);
    return tr_service_live_watches(svc);
}

Test(rwatch, down_carries_code_and_message, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_service *client = hb_client();
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
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
    cr_assert_eq(settle(client, 0), 0);
    cr_assert_eq(settle(server, 0), 0);
    tr_gateway_release(lgw);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

Test(rwatch, normal_termination_and_unwatch, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    tr_service *client = hb_client();
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    tr_future *f = NULL, *g = NULL;
    tr_watch *w = NULL;
    TC_OK(tr_gateway_watch(gw, &f, &w));
    TC_OK(tr_gateway_watch(gw, &g, NULL));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 2, 5000);
    cr_assert_eq(tr_unwatch(w), 0);
    cr_assert_eq(tr_future_code(f), TR_ECANCELED);
    /* UNWATCH reached the server: its watch is gone */
    cr_assert_eq(settle(server, 1), 1);
    t_terminate(ep);
    cr_assert_eq(tr_future_get(g, WAIT_NS), 0);
    cr_assert_eq(tr_future_code(f), TR_ECANCELED);
    tr_watch_release(w);
    tr_future_release(f);
    tr_future_release(g);
    cr_assert_eq(settle(client, 0), 0);
    cr_assert_eq(settle(server, 0), 0);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
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
    tr_service *server = r_server(1, 0);
    tr_service *client = hb_client();
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_endpoint *watcher = t_endpoint(client, "watcher", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    TC_OK(tr_endpoint_run_async(watcher, watch_body, &gw, sizeof gw));
    TC_ASSERT_EVENTUALLY(tr_service_live_watches(server) == 50, 5000);
    cr_assert_eq(tr_service_live_watches(server), 50);
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&dropped), 50);
    cr_assert_eq(settle(server, 0), 0); /* 50 UNWATCHes */
    cr_assert_eq(settle(client, 0), 0);
    t_terminate(ep);
    cr_assert_eq(atomic_load(&fired), 0);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_endpoint_release(watcher);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

Test(rwatch, ten_thousand_fire_once_each, .timeout = 120)
{
    enum { N = 10000 };
    tr_service *server = r_server(1, 0);
    tr_service *client = hb_client();
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
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
    cr_assert_eq(settle(client, 0), 0);
    cr_assert_eq(settle(server, 0), 0);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

/* ---- troupe-node as a second process ------------------------------------------ */

typedef struct node {
    pid_t pid;
    uint16_t port;
    char port_file[128];
} node;

/* The node a test started, ended by PID in the fixture's fini even when an
 * assertion stopped the test half-way (a stopped node would never exit). */
static pid_t started_pid;
static void end_started(void)
{
    if (started_pid > 0) {
        kill(started_pid, SIGCONT);
        kill(started_pid, SIGKILL);
        waitpid(started_pid, NULL, 0);
        started_pid = 0;
    }
}

static node node_start(uint16_t port)
{
    node nd = {0};
    char self[PATH_MAX], path[PATH_MAX + 16], listen[32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    TC_ASSERT(n > 0);
    self[n] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(path, sizeof path, "%s/troupe-node", self);
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    snprintf(nd.port_file, sizeof nd.port_file, "/tmp/troupe-watch-test-%ld.port", (long)getpid());
    unlink(nd.port_file);
    nd.pid = fork();
    TC_ASSERT(nd.pid >= 0);
    if (nd.pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(path, path, "--listen", listen, "--port-file", nd.port_file, "--idle-exit", "60",
              (char *)NULL);
        _exit(127);
    }
    started_pid = nd.pid;
    uint64_t dl = tc_deadline_ms(10000);
    while (!nd.port) {
        FILE *f = fopen(nd.port_file, "r");
        unsigned p = 0;
        if (f) {
            if (fscanf(f, "%u", &p) != 1)
                p = 0;
            fclose(f);
        }
        nd.port = (uint16_t)p;
        if (!nd.port)
            TC_ASSERT_MSG(tc_poll(dl), "troupe-node published no port within 10 s");
    }
    return nd;
}

/* Ends it by PID (SIGCONT first, in case it is stopped), reaps it. */
static void node_end(node *nd)
{
    if (nd->pid > 0) {
        kill(nd->pid, SIGCONT);
        kill(nd->pid, SIGKILL);
        waitpid(nd->pid, NULL, 0);
        if (started_pid == nd->pid)
            started_pid = 0;
        nd->pid = 0;
    }
    unlink(nd->port_file);
}

static tr_gateway *node_gw(tr_service *client, uint16_t port)
{
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/%s", (unsigned)port, TNODE_ENDPOINT);
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(client, a, &tnode_gateway, &gw);
    TC_ASSERT_MSG(rv == 0, "connect %s: %s: %s", a, tr_errname(rv), tr_service_connect_error());
    return gw;
}

static void ping_ok(tr_gateway *gw)
{
    tr_future *f = NULL;
    TC_OK(tnode_ping(gw, &(tr_i64){5}, WAIT_NS, &f));
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    cr_assert_eq(*tnode_ping_result(f), 5);
    tr_future_release(f);
}

static double ms_since(uint64_t t0) { return (double)(tc_now_ns() - t0) / 1e6; }

Test(rwatch, node_sigkill_fires_within_timeout, .timeout = 60, .fini = end_started)
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
    cr_assert_leq(ms, (HB_TIMEOUT_NS / 1e6) + 100, "%.1f ms", ms);
    tr_future_release(f);
    node_end(&nd);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    T_LEAK_CHECK();
}

Test(rwatch, node_sigstop_fires_within_timeout, .timeout = 60, .fini = end_started)
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

Test(rwatch, link_cut_fires, .timeout = 60)
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
    uint64_t t0 = tc_now_ns();
    r_proxy_cut(&px);
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    double ms = ms_since(t0);
    fprintf(stderr, "detection: link cut (proxy reset) %.1f ms (%s)\n", ms, tr_future_error(f));
    cr_assert_leq(ms, (HB_TIMEOUT_NS / 1e6) + 100, "%.1f ms", ms);
    /* the serving side let its watch go with the connection */
    cr_assert_eq(settle(server, 0), 0);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_service_destroy(client);
    r_proxy_stop(&px);
    tr_endpoint_release(ep);
    tr_service_destroy(server);
    T_LEAK_CHECK();
}

Test(rwatch, restarted_node_is_a_new_incarnation, .timeout = 60, .fini = end_started)
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
    /* the watch on the old incarnation fired */
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
    tr_future_release(f);
    nd = node_start(port); /* the same address */
    cr_assert_eq(nd.port, port);
    /* the old gateway does not talk to the fresh process */
    tr_future *a = NULL;
    TC_OK(tnode_ping(gw, &(tr_i64){1}, WAIT_NS, &a));
    cr_assert_eq(tr_future_get(a, WAIT_NS), TR_ERESTARTED, "%s", tr_future_error(a));
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
