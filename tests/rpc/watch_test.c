/* Death watch, local: futures and endpoint watchers, termination codes and
 * messages, dead before and after, unwatch, 10,000 watches, a watcher that
 * goes first (nothing leaks). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "common/watch_fixture.h"
#include "rpc_common.h"

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until *c reaches want. */
static bool wait_count(_Atomic long *c, long want)
{
    for (int i = 0; i < 20000 && atomic_load(c) < want; i++)
        nap_ms(1);
    return atomic_load(c) >= want;
}

/* One service: endpoint "target" (started), a watcher endpoint when
 * asked, a gateway to the target. */
static wfix local_fix(bool with_watcher)
{
    wfix f = {0};
    f.server = t_service(2, false);
    f.target = t_endpoint(f.server, "target", true);
    if (with_watcher)
        f.watcher = t_endpoint(f.server, "watcher", true);
    f.gw = t_connect(f.server, "target");
    return f;
}

static int fail_now(tr_endpoint *self, void *state, void *arg)
{
    (void)state, (void)arg;
    if (self)
        tr_endpoint_fail(self, TR_EIO, "disk %s is gone", "sdb");
    return 0;
}

Test(watch, future_normal_termination)
{
    wfix fx = local_fix(false);
    tr_endpoint *ep = fx.target;
    tr_gateway *gw = fx.gw;
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    cr_assert(!tr_future_done(f));
    t_terminate(ep);
    cr_assert_eq(tr_future_get(f, WAIT_NS), 0);
    tr_future_release(f);
    wf_close(&fx);
}

Test(watch, future_failure_carries_code_and_message)
{
    wfix fx = local_fix(false);
    tr_gateway *gw = fx.gw;
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    TC_OK(tr_gateway_run_async(gw, fail_now, NULL, 0));
    cr_assert_eq(tr_future_get(f, WAIT_NS), TR_EIO);
    cr_assert(strstr(tr_future_error(f), "disk sdb is gone"), "%s", tr_future_error(f));
    /* dead before the watch: notified at once, same code and message */
    tr_future *g = NULL;
    TC_OK(tr_gateway_watch(gw, &g, NULL));
    cr_assert(tr_future_done(g));
    cr_assert_eq(tr_future_code(g), TR_EIO);
    cr_assert(strstr(tr_future_error(g), "disk sdb is gone"));
    tr_future_release(f);
    tr_future_release(g);
    wf_close(&fx);
}

Test(watch, unwatch_future)
{
    wfix fx = local_fix(false);
    tr_endpoint *ep = fx.target;
    tr_gateway *gw = fx.gw;
    tr_future *f = NULL, *g = NULL;
    tr_watch *w = NULL, *v = NULL;
    TC_OK(tr_gateway_watch(gw, &f, &w));
    TC_OK(tr_gateway_watch(gw, &g, &v));
    cr_assert_eq(tr_unwatch(w), 0);
    cr_assert_eq(tr_future_code(f), TR_ECANCELED);
    cr_assert_eq(tr_unwatch(w), 0); /* again: still cancelled */
    t_terminate(ep);
    cr_assert_eq(tr_future_get(g, WAIT_NS), 0);
    cr_assert_eq(tr_unwatch(v), TR_EBUSY); /* delivered already */
    cr_assert_eq(tr_future_code(f), TR_ECANCELED); /* never fired after cancel */
    tr_watch_release(w);
    tr_watch_release(v);
    tr_future_release(f);
    tr_future_release(g);
    wf_close(&fx);
}

/* ---- endpoint watchers ---------------------------------------------------- */

typedef struct seen {
    _Atomic long fired, dropped, wrong_thread, bad;
    int code;
    char reason[200];
    char address[100];
} seen;

static void on_down(tr_endpoint *self, void *state, const tr_down *d, void *arg)
{
    seen *s = arg;
    (void)state;
    if (!self) {
        atomic_fetch_add(&s->dropped, 1);
        return;
    }
    if (!tr_endpoint_in_main_thread(self))
        atomic_fetch_add(&s->wrong_thread, 1);
    if (!d || !d->reason || !d->address)
        atomic_fetch_add(&s->bad, 1);
    s->code = d->code;
    snprintf(s->reason, sizeof s->reason, "%s", d->reason);
    snprintf(s->address, sizeof s->address, "%s", d->address);
    atomic_fetch_add(&s->fired, 1);
}

typedef struct watch_req {
    tr_gateway *gw;
    seen *s;
    int n;
    tr_watch **keep; /* NULL: no handles */
    _Atomic long *done;
} watch_req;

static int watch_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    watch_req *r = arg;
    if (self)
        for (int i = 0; i < r->n; i++)
            if (tr_endpoint_watch(self, r->gw, on_down, r->s, r->keep ? &r->keep[i] : NULL))
                atomic_fetch_add(&r->s->bad, 1);
    atomic_fetch_add(r->done, 1);
    return 0;
}

static void watch_from(tr_endpoint *watcher, tr_gateway *gw, seen *s, int n, tr_watch **keep)
{
    _Atomic long done = 0;
    watch_req r = {gw, s, n, keep, &done};
    TC_OK(tr_endpoint_run_async(watcher, watch_body, &r, sizeof r));
    cr_assert(wait_count(&done, 1));
}

Test(watch, endpoint_watcher_on_main_thread)
{
    wfix fx = local_fix(true);
    tr_endpoint *watcher = fx.watcher;
    tr_gateway *gw = fx.gw;
    seen s = {0};
    watch_from(watcher, gw, &s, 1, NULL);
    nap_ms(20);
    cr_assert_eq(atomic_load(&s.fired), 0);
    TC_OK(tr_gateway_run_async(gw, fail_now, NULL, 0));
    cr_assert(wait_count(&s.fired, 1));
    nap_ms(20);
    cr_assert_eq(atomic_load(&s.fired), 1);
    cr_assert_eq(atomic_load(&s.wrong_thread), 0);
    cr_assert_eq(atomic_load(&s.bad), 0);
    cr_assert_eq(s.code, TR_EIO);
    cr_assert(strstr(s.reason, "disk sdb is gone"), "%s", s.reason);
    cr_assert_str_eq(s.address, "local://target");
    /* a gone target: notified (in a later turn) at once */
    watch_from(watcher, gw, &s, 1, NULL);
    cr_assert(wait_count(&s.fired, 2));
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&s.dropped), 0);
    wf_close(&fx);
}

typedef struct unwatch_req {
    tr_watch **w;
    int n;
    int rv[4];
    _Atomic long done;
} unwatch_req;

static int unwatch_body(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state;
    unwatch_req *r = *(unwatch_req **)arg;
    for (int i = 0; i < r->n; i++)
        r->rv[i] = tr_unwatch(r->w[i]);
    atomic_fetch_add(&r->done, 1);
    return 0;
}

Test(watch, endpoint_unwatch)
{
    wfix fx = local_fix(true);
    tr_endpoint *target = fx.target, *watcher = fx.watcher;
    tr_gateway *gw = fx.gw;
    seen s = {0};
    tr_watch *w[2] = {0};
    watch_from(watcher, gw, &s, 2, w);
    cr_assert_eq(tr_unwatch(w[0]), TR_EINVAL); /* off the watcher's main thread */
    unwatch_req *r = calloc(1, sizeof *r);
    r->w = w;
    r->n = 1;
    unwatch_req *p = r;
    TC_OK(tr_endpoint_run_async(watcher, unwatch_body, &p, sizeof p));
    cr_assert(wait_count(&r->done, 1));
    cr_assert_eq(r->rv[0], 0);
    t_terminate(target);
    cr_assert(wait_count(&s.fired, 1));
    nap_ms(20);
    cr_assert_eq(atomic_load(&s.fired), 1); /* only the one not unwatched */
    tr_watch_release(w[0]);
    tr_watch_release(w[1]);
    free(r);
    t_terminate(watcher);
    wf_close(&fx);
}

Test(watch, ten_thousand_fire_once_each)
{
    enum { N = 10000 };
    wfix fx = local_fix(true);
    tr_service *svc = fx.server;
    tr_endpoint *target = fx.target, *watcher = fx.watcher;
    tr_gateway *gw = fx.gw;
    seen s = {0};
    watch_from(watcher, gw, &s, N, NULL);
    tr_future **f = calloc(N, sizeof *f);
    for (int i = 0; i < N; i++)
        TC_OK(tr_gateway_watch(gw, &f[i], NULL));
    cr_assert_eq(tr_service_live_watches(svc), 2 * N);
    t_terminate(target);
    cr_assert(wait_count(&s.fired, N));
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tr_future_get(f[i], WAIT_NS), 0);
        tr_future_release(f[i]);
    }
    free(f);
    nap_ms(50);
    cr_assert_eq(atomic_load(&s.fired), N);
    cr_assert_eq(atomic_load(&s.dropped), 0);
    cr_assert_eq(atomic_load(&s.bad), 0);
    t_terminate(watcher);
    wf_close(&fx);
}

Test(watch, watcher_dies_first_leaks_nothing)
{
    wfix fx = local_fix(true);
    tr_service *svc = fx.server;
    tr_endpoint *target = fx.target, *watcher = fx.watcher;
    tr_gateway *gw = fx.gw;
    seen s = {0};
    watch_from(watcher, gw, &s, 100, NULL);
    cr_assert_eq(wf_settle(svc, 100), 100);
    t_terminate(watcher);
    cr_assert_eq(atomic_load(&s.dropped), 100); /* each fn once, self NULL */
    cr_assert_eq(wf_settle(svc, 0), 0);
    t_terminate(target);
    nap_ms(20);
    cr_assert_eq(atomic_load(&s.fired), 0);
    wf_close(&fx);
}

Test(watch, shutdown_with_watches_in_place)
{
    wfix fx = local_fix(true);
    tr_service *svc = fx.server;
    tr_endpoint *target = fx.target, *watcher = fx.watcher;
    tr_gateway *gw = fx.gw;
    seen s = {0};
    watch_from(watcher, gw, &s, 10, NULL);
    tr_future *f = NULL;
    TC_OK(tr_gateway_watch(gw, &f, NULL));
    tr_gateway_release(gw);
    tr_endpoint_release(target);
    tr_endpoint_release(watcher);
    tr_service_shutdown(svc);
    cr_assert(tr_future_done(f));
    /* each endpoint watch: notified, or dropped with its watcher */
    cr_assert_eq(atomic_load(&s.fired) + atomic_load(&s.dropped), 10);
    tr_future_release(f);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
