/* Stress (TSan): remote watches across link cuts that heal within the
 * grace period (service.h watch_grace_ns).
 *
 * Each round: a serving service with TARGETS endpoints, a calling service
 * reaching them through the test proxy (remote/proxy.h). Two threads make
 * remote watches (futures) on random targets and cancel about a third of
 * them, some at once, some later, while a cutter thread resets every
 * connection the proxy carries every few milliseconds and now and then
 * refuses the redials for a while (well within the grace). Then: watchers
 * joined, cutter stopped, an ask per target (the connection is back and
 * every held WATCH was sent again before it), the targets stopped. Checked:
 * no watch fired before the stop (a healed cut is not a notification);
 * every watch not cancelled completes exactly once, with code 0 (an orderly
 * stop); a cancelled one stays cancelled; no watch record is left on either
 * side. */
#define TC_PLAIN
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "remote/proxy.h"
#include "troupe/troupe.h"

enum { TARGETS = 6, THREADS = 2, WATCHES = 400 };

#define RG_METHODS(M) M(rg, ping, tr_u64, tr_u64, ASK)
TR_GATEWAY(rg, RG_METHODS)
TR_GATEWAY_DEFINE(rg, RG_METHODS)
static int on_ping(tr_endpoint *self, void *state, const tr_u64 *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return rg_ping_reply(reply, arg);
}
static const rg_handlers handlers = {.ping = on_ping};

static _Atomic uint64_t g_errors;
static uint64_t g_cuts, g_redials; /* main thread: cuts made, connections through the proxy */

static void fail_note(const char *what, long long v)
{
    if (atomic_fetch_add(&g_errors, 1) < 10)
        fprintf(stderr, "rwatch_grace: %s (%lld)\n", what, v);
}

/* An unwatch that came too late: say what the watch was told. */
static void fired_note(tr_future *f, int rv)
{
    if (atomic_fetch_add(&g_errors, 1) < 10)
        fprintf(stderr, "rwatch_grace: tr_unwatch before any notification (%d): the watch fired "
                "with %s: %s\n", rv, tr_errname(tr_future_code(f)),
                tr_future_error(f) ? tr_future_error(f) : "");
}

static void nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

typedef struct watcher {
    tr_gateway **gw;
    uint64_t seed;
    tr_future *f[WATCHES];
    bool cancelled[WATCHES];
} watcher;

static void *watch_main(void *arg)
{
    watcher *wc = arg;
    tc_rng rng;
    tc_rng_seed(&rng, wc->seed);
    tr_watch *later[WATCHES];
    int nlater = 0, later_idx[WATCHES];
    for (int i = 0; i < WATCHES; i++) {
        tr_watch *w = NULL;
        if (tr_gateway_watch(wc->gw[tc_rng_below(&rng, TARGETS)], &wc->f[i], &w)) {
            fail_note("tr_gateway_watch", i);
            wc->f[i] = NULL;
            continue;
        }
        uint64_t r = tc_rng_below(&rng, 6);
        if (r == 0) { /* at once */
            int rv = tr_unwatch(w);
            if (rv)
                fired_note(wc->f[i], rv);
            wc->cancelled[i] = true;
            tr_watch_release(w);
        } else if (r == 1) { /* later, maybe during a cut */
            later[nlater] = w;
            later_idx[nlater++] = i;
        } else {
            tr_watch_release(w);
        }
        if (i % 16 == 0)
            nap_us((long)tc_rng_below(&rng, 2000));
        if (nlater && tc_rng_below(&rng, 8) == 0) {
            nlater--;
            int rv = tr_unwatch(later[nlater]);
            if (rv)
                fired_note(wc->f[later_idx[nlater]], rv);
            wc->cancelled[later_idx[nlater]] = true;
            tr_watch_release(later[nlater]);
        }
    }
    while (nlater) { /* what is left: cancelled too */
        nlater--;
        int rv = tr_unwatch(later[nlater]);
        if (rv)
            fired_note(wc->f[later_idx[nlater]], rv);
        wc->cancelled[later_idx[nlater]] = true;
        tr_watch_release(later[nlater]);
    }
    return NULL;
}

typedef struct cutter {
    r_proxy *px;
    uint64_t seed;
    _Atomic int stop;
    unsigned cuts;
} cutter;

static void *cut_main(void *arg)
{
    cutter *ct = arg;
    tc_rng rng;
    tc_rng_seed(&rng, ct->seed);
    while (!atomic_load(&ct->stop)) {
        nap_us(2000 + (long)tc_rng_below(&rng, 8000));
        bool refuse = tc_rng_below(&rng, 4) == 0;
        if (refuse)
            r_proxy_refuse(ct->px, true);
        r_proxy_cut(ct->px);
        ct->cuts++;
        if (refuse) { /* redials reset for up to 60 ms: within the grace */
            nap_us(10000 + (long)tc_rng_below(&rng, 50000));
            r_proxy_refuse(ct->px, false);
        }
    }
    return NULL;
}

static tr_service *service(bool listen)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.listen = listen;
    cfg.heartbeat_interval_ns = 200LL * 1000000;
    /* Cuts here are resets, seen at once; a silence fires watches without
     * grace (peer.c), so a proxy thread starved for seconds under TSan must
     * not look like one. */
    cfg.heartbeat_timeout_ns = 10000LL * 1000000;
    cfg.watch_grace_ns = 10000LL * 1000000; /* far past any refusal, even under TSan */
    cfg.reconnect_backoff_max_ns = 50LL * 1000000;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

static int round_fn(tc_rng *rng, uint64_t *count)
{
    tr_service *server = service(true), *client = service(false);
    tr_endpoint *ep[TARGETS];
    for (int i = 0; i < TARGETS; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        tr_gateway_impl impls[] = {rg_impl(&handlers)};
        tr_endpoint_opts o = {.id = id, .gateways = impls, .ngateways = 1};
        TC_OK(tr_endpoint_create(server, &o, &ep[i]));
        TC_OK(tr_endpoint_start(ep[i]));
    }
    r_proxy px;
    r_proxy_start(&px, tr_service_port(server));
    tr_gateway *gw[TARGETS];
    for (int i = 0; i < TARGETS; i++) {
        char a[96];
        snprintf(a, sizeof a, "troupe://127.0.0.1:%u/t%d", (unsigned)px.port, i);
        TC_OK(tr_service_connect(client, a, &rg_gateway, &gw[i]));
    }
    cutter ct = {.px = &px, .seed = tc_rng_next(rng)};
    pthread_t cut;
    pthread_create(&cut, NULL, cut_main, &ct);
    watcher *wc = calloc(THREADS, sizeof *wc);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        wc[t].gw = gw;
        wc[t].seed = tc_rng_next(rng);
        pthread_create(&th[t], NULL, watch_main, &wc[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    atomic_store(&ct.stop, 1);
    pthread_join(cut, NULL);
    r_proxy_refuse(&px, false);
    /* Back, and every held WATCH sent again: an ask per target answers only
     * after the WATCHes ahead of it on the new connection. A call may still
     * hit the last cut or a redial's backoff (TR_EUNREACHABLE): try again. */
    for (int i = 0; i < TARGETS; i++) {
        int rv = -1;
        for (int k = 0; k < 200 && rv; k++) {
            tr_future *f = NULL;
            TC_OK(rg_ping(gw[i], &(tr_u64){(uint64_t)i}, 20LL * 1000000000, &f));
            rv = tr_future_get(f, 20LL * 1000000000);
            if (!rv && *rg_ping_result(f) != (uint64_t)i)
                fail_note("ping answer", (long long)*rg_ping_result(f));
            tr_future_release(f);
            if (rv == TR_EUNREACHABLE)
                nap_us(20000);
            else if (rv)
                fail_note("ping after the cuts", rv);
        }
        if (rv)
            fail_note("no connection after the cuts", rv);
    }
    for (int t = 0; t < THREADS; t++) /* nothing fired while cut and healed */
        for (int i = 0; i < WATCHES; i++)
            if (wc[t].f[i] && !wc[t].cancelled[i] && tr_future_done(wc[t].f[i]))
                fail_note("a watch fired before its target stopped", tr_future_code(wc[t].f[i]));
    for (int i = 0; i < TARGETS; i++) {
        tr_future *f = NULL;
        TC_OK(tr_endpoint_terminate(ep[i]));
        TC_OK(tr_endpoint_termination(ep[i], &f));
        TC_OK(tr_future_wait(f, 20LL * 1000000000));
        tr_future_release(f);
    }
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < WATCHES; i++) {
            tr_future *f = wc[t].f[i];
            if (!f)
                continue;
            int rv = tr_future_get(f, 20LL * 1000000000);
            int want = wc[t].cancelled[i] ? TR_ECANCELED : 0;
            if (rv != want) {
                fail_note(tr_future_error(f) ? tr_future_error(f) : "watch outcome", rv);
            }
            if (tr_future_fail(f, TR_EFAILED, "again") != TR_EBUSY)
                fail_note("a second completion", i);
            tr_future_release(f);
            (*count)++;
        }
    }
    free(wc);
    for (int i = 0; i < TARGETS; i++)
        tr_gateway_release(gw[i]);
    uint64_t dl = tc_deadline_ms(10000);
    while ((tr_service_live_watches(client) || tr_service_live_watches(server)) && tc_poll(dl)) {
    }
    if (tr_service_live_watches(client) || tr_service_live_watches(server))
        fail_note("watch records left", (long long)(tr_service_live_watches(client) +
                                                    tr_service_live_watches(server)));
    tr_service_destroy(client);
    g_cuts += ct.cuts;
    g_redials += atomic_load(&px.accepted);
    r_proxy_stop(&px);
    for (int i = 0; i < TARGETS; i++)
        tr_endpoint_release(ep[i]);
    tr_service_destroy(server);
    if (ct.cuts == 0)
        fail_note("no cut happened", 0);
    return atomic_load(&g_errors) != 0;
}

int main(int argc, char **argv)
{
    int rv = tc_stress_main(argc, argv, "rwatch_grace", "watches", round_fn);
    printf("rwatch_grace: %llu cuts, %llu connections through the proxy\n",
           (unsigned long long)g_cuts, (unsigned long long)g_redials);
    return rv;
}
