/* Stress (TSan): death watches under churn.
 *
 * Each round, on a service with 2 workers: a churn thread creates targets
 * under fresh ids and terminates them (some fail) after a few
 * microseconds; two threads watch whatever target they can connect to
 * through futures and cancel some of those watches; watcher endpoints
 * watch targets from their main thread, unwatch some, and are themselves
 * terminated mid-way. Checked: every future watch completes exactly once
 * (termination, failure or cancel; a second completion is refused); for
 * endpoint watches, notified + dropped (watcher went first) + unwatched
 * equals made; no watch record is left once everything terminated. */
#define TC_PLAIN
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { ROUNDS = 3, TARGETS = 400, WATCHERS = 6, FUT_THREADS = 2, FUT_PER_THREAD = 600 };

#define CHURN_METHODS(M) M(churn, nop, tr_void, tr_void, TELL)
TR_GATEWAY(churn, CHURN_METHODS)
TR_GATEWAY_DEFINE(churn, CHURN_METHODS)
static int nop(tr_endpoint *self, void *state, const tr_void *arg)
{
    (void)self, (void)state, (void)arg;
    return 0;
}
static const churn_handlers handlers = {.nop = nop};

static _Atomic uint64_t g_errors;
static _Atomic uint64_t g_ep_made, g_ep_fired, g_ep_dropped, g_ep_unwatched;
static _Atomic uint64_t g_fut_made, g_fut_done;
static _Atomic uint32_t g_next_target; /* ids t<n> made so far */

static void fail_note(const char *what)
{
    fprintf(stderr, "watch_churn: %s\n", what);
    atomic_fetch_add(&g_errors, 1);
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static tr_gateway *connect_some(tr_service *svc, tc_rng *rng)
{
    uint32_t n = atomic_load(&g_next_target);
    if (!n)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "t%u", (unsigned)(n - 1 - tc_rng_below(rng, n < 8 ? n : 8)));
    tr_gateway *gw = NULL;
    return tr_service_connect(svc, id, &churn_gateway, &gw) == 0 ? gw : NULL;
}

static int fail_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_fail(self, TR_EIO, "churned");
    return 0;
}

/* ---- targets ------------------------------------------------------------------ */

typedef struct round_ctx {
    tr_service *svc;
    uint64_t seed;
    _Atomic int targets_done;
} round_ctx;

static void *churn_main(void *arg)
{
    round_ctx *rc = arg;
    tc_rng rng;
    tc_rng_seed(&rng, rc->seed);
    for (int i = 0; i < TARGETS; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%u", (unsigned)atomic_load(&g_next_target));
        tr_gateway_impl impls[] = {churn_impl(&handlers)};
        tr_endpoint_opts o = {.id = id, .gateways = impls, .ngateways = 1};
        tr_endpoint *ep = NULL;
        if (tr_endpoint_create(rc->svc, &o, &ep)) {
            fail_note("create");
            continue;
        }
        tr_endpoint_start(ep);
        atomic_fetch_add(&g_next_target, 1);
        nap_us((long)tc_rng_below(&rng, 2000));
        if (tc_rng_below(&rng, 3) == 0) {
            tr_gateway *gw = NULL;
            if (tr_endpoint_gateway(ep, &churn_gateway, &gw) == 0) {
                tr_gateway_run_async(gw, fail_body, NULL, 0);
                tr_gateway_release(gw);
            }
        }
        tr_endpoint_terminate(ep);
        tr_endpoint_release(ep);
    }
    atomic_store(&rc->targets_done, 1);
    return NULL;
}

/* ---- future watchers --------------------------------------------------------------- */

typedef struct fut_ctx {
    round_ctx *rc;
    uint64_t seed;
} fut_ctx;

static void *fut_main(void *arg)
{
    fut_ctx *fc = arg;
    tc_rng rng;
    tc_rng_seed(&rng, fc->seed);
    tr_future *f[FUT_PER_THREAD];
    int n = 0;
    for (int i = 0; i < FUT_PER_THREAD * 4 && n < FUT_PER_THREAD; i++) {
        tr_gateway *gw = connect_some(fc->rc->svc, &rng);
        if (!gw) {
            nap_us(50);
            continue;
        }
        tr_watch *w = NULL;
        if (tr_gateway_watch(gw, &f[n], &w)) {
            fail_note("tr_gateway_watch");
            tr_gateway_release(gw);
            continue;
        }
        atomic_fetch_add(&g_fut_made, 1);
        if (tc_rng_below(&rng, 4) == 0) {
            int rv = tr_unwatch(w);
            if (rv != 0 && rv != TR_EBUSY)
                fail_note("tr_unwatch of a future watch");
        }
        tr_watch_release(w);
        tr_gateway_release(gw);
        n++;
    }
    for (int i = 0; i < n; i++) {
        if (tr_future_wait(f[i], 30LL * 1000 * 1000 * 1000)) {
            fail_note("a future watch never completed");
            continue;
        }
        int code = tr_future_code(f[i]);
        if (code != 0 && code != TR_EIO && code != TR_ECANCELED)
            fail_note("a future watch with an unexpected code");
        if (tr_future_fail(f[i], TR_EFAILED, "again") != TR_EBUSY)
            fail_note("a future watch completed twice");
        atomic_fetch_add(&g_fut_done, 1);
        tr_future_release(f[i]);
    }
    return NULL;
}

/* ---- endpoint watchers ------------------------------------------------------------- */

enum { KEEP = 32 };
typedef struct watcher_state {
    tr_watch *keep[KEEP]; /* main thread */
    tc_rng rng;
} watcher_state;

static void on_down(tr_endpoint *self, void *state, const tr_down *d, void *arg)
{
    (void)state, (void)arg;
    if (!self) {
        atomic_fetch_add(&g_ep_dropped, 1);
        return;
    }
    if (!d || !d->reason || !tr_endpoint_in_main_thread(self))
        fail_note("a bad notification");
    atomic_fetch_add(&g_ep_fired, 1);
}

static int watch_some(tr_endpoint *self, void *state, void *arg)
{
    (void)arg;
    if (!self)
        return 0;
    watcher_state *ws = state;
    for (int k = 0; k < 4; k++) {
        tr_gateway *gw = connect_some(tr_endpoint_service(self), &ws->rng);
        if (!gw)
            return 0;
        unsigned slot = (unsigned)tc_rng_below(&ws->rng, KEEP);
        if (ws->keep[slot]) { /* unwatch the one kept there */
            int rv = tr_unwatch(ws->keep[slot]);
            if (rv == 0)
                atomic_fetch_add(&g_ep_unwatched, 1);
            else if (rv != TR_EBUSY)
                fail_note("tr_unwatch from the main thread");
            tr_watch_release(ws->keep[slot]);
            ws->keep[slot] = NULL;
        }
        bool keep = tc_rng_below(&ws->rng, 2);
        if (tr_endpoint_watch(self, gw, on_down, NULL, keep ? &ws->keep[slot] : NULL) == 0)
            atomic_fetch_add(&g_ep_made, 1);
        else
            fail_note("tr_endpoint_watch");
        tr_gateway_release(gw);
    }
    return 0;
}

static void watcher_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    watcher_state *ws = state;
    for (int i = 0; i < KEEP; i++)
        tr_watch_release(ws->keep[i]);
}

static tr_endpoint *watcher_new(tr_service *svc, uint64_t seed)
{
    tr_gateway_impl impls[] = {churn_impl(&handlers)};
    tr_endpoint_opts o = {.gateways = impls, .ngateways = 1, .state_size = sizeof(watcher_state),
                          .on_cleanup = watcher_cleanup};
    tr_endpoint *ep = NULL;
    if (tr_endpoint_create(svc, &o, &ep))
        return NULL;
    tc_rng_seed(&((watcher_state *)tr_endpoint_state(ep))->rng, seed);
    tr_endpoint_start(ep);
    return ep;
}

/* ---- a round --------------------------------------------------------------------------- */

static int run_round(uint64_t seed)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc = NULL;
    if (tr_service_create(&cfg, &svc)) {
        fail_note("service");
        return 1;
    }
    atomic_store(&g_next_target, 0);
    round_ctx rc = {svc, seed, 0};
    fut_ctx fc[FUT_THREADS];
    pthread_t churn, fut[FUT_THREADS];
    pthread_create(&churn, NULL, churn_main, &rc);
    for (int i = 0; i < FUT_THREADS; i++) {
        fc[i] = (fut_ctx){&rc, seed * 31 + (uint64_t)i};
        pthread_create(&fut[i], NULL, fut_main, &fc[i]);
    }
    tc_rng rng;
    tc_rng_seed(&rng, seed ^ 0xabcdef);
    tr_endpoint *w[WATCHERS] = {0};
    for (int i = 0; i < WATCHERS; i++)
        w[i] = watcher_new(svc, seed + 100 + (uint64_t)i);
    for (int it = 0; it < 20000 && !atomic_load(&rc.targets_done); it++) {
        unsigned i = (unsigned)tc_rng_below(&rng, WATCHERS);
        if (w[i])
            tr_endpoint_run_async(w[i], watch_some, NULL, 0);
        if (tc_rng_below(&rng, 50) == 0 && w[i]) { /* a watcher goes first */
            tr_endpoint_terminate(w[i]);
            tr_endpoint_release(w[i]);
            w[i] = watcher_new(svc, tc_rng_next(&rng));
        }
        nap_us(100);
    }
    pthread_join(churn, NULL);
    for (int i = 0; i < FUT_THREADS; i++)
        pthread_join(fut[i], NULL);
    for (int i = 0; i < WATCHERS; i++)
        if (w[i]) {
            tr_future *t = NULL;
            tr_endpoint_terminate(w[i]);
            tr_endpoint_termination(w[i], &t);
            tr_future_wait(t, 30LL * 1000 * 1000 * 1000);
            tr_future_release(t);
            tr_endpoint_release(w[i]);
        }
    /* every target terminated (the churn thread terminated each) */
    for (int i = 0; i < 5000 && tr_service_live_watches(svc); i++)
        nap_us(1000);
    if (tr_service_live_watches(svc))
        fail_note("watch records left after everything terminated");
    tr_service_destroy(svc);
    uint64_t made = atomic_load(&g_ep_made), seen = atomic_load(&g_ep_fired) +
                                                    atomic_load(&g_ep_dropped) +
                                                    atomic_load(&g_ep_unwatched);
    if (made != seen) {
        fprintf(stderr, "watch_churn: endpoint watches made %" PRIu64 ", accounted %" PRIu64 "\n",
                made, seen);
        atomic_fetch_add(&g_errors, 1);
    }
    if (atomic_load(&g_fut_made) != atomic_load(&g_fut_done))
        fail_note("future watches made != completed");
    return atomic_load(&g_errors) != 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : tc_now_ns();
    printf("watch_churn: seed %" PRIu64 "\n", seed);
    fflush(stdout);
    for (int r = 0; r < ROUNDS; r++)
        if (run_round(seed + (uint64_t)r))
            break;
    printf("watch_churn: %s (%" PRIu64 " errors; endpoint watches %" PRIu64 " = %" PRIu64
           " notified + %" PRIu64 " dropped + %" PRIu64 " unwatched; future watches %" PRIu64
           ")\n",
           atomic_load(&g_errors) ? "FAILED" : "ok", atomic_load(&g_errors),
           atomic_load(&g_ep_made), atomic_load(&g_ep_fired), atomic_load(&g_ep_dropped),
           atomic_load(&g_ep_unwatched), atomic_load(&g_fut_made));
    return atomic_load(&g_errors) ? 1 : 0;
}
