/* run_async, call_async and schedule_run_async (S11-S13): code posted to
 * an endpoint's main thread, now or after a delay.
 *
 * The body's argument is copied into the message (`arg_size` bytes), so
 * the caller keeps nothing alive. A delayed run waits on the service timer
 * with its message already built; when due, the timer thread sends it. */
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "rpc/future_impl.h"
#include "rpc/gateway_impl.h"
#include "rpc/msg.h"
#include "troupe/error.h"
#include "rpc/service_impl.h"
#include "rpc/timer.h"

/* The fencing data a posted body carries. */
typedef struct fence_src {
    unsigned flags;
    size_t len;
    uint8_t data[16];
} fence_src;

static void fence_of_gateway(const tr_gateway *gw, fence_src *fs)
{
    fs->flags = gw->fence;
    fs->len = tri_gateway_put_fence(gw, fs->data);
}

static void fence_of_endpoint(tr_endpoint *ep, bool unfenced, fence_src *fs)
{
    fs->flags = 0;
    fs->len = 0;
    if (unfenced) {
        fs->flags = TRI_RF_UNFENCED;
    } else if (ep->fenced) {
        /* acquire: pairs with the token change's release (fencing.c): a
         * body scheduled after the change carries the new epoch (S32). */
        uint64_t e = atomic_load_explicit(&ep->fence_epoch, memory_order_acquire);
        fs->flags = TRI_RF_EPOCH;
        fs->len = sizeof e;
        memcpy(fs->data, &e, sizeof e);
    }
}

/* [fn][future if any][fencing data][arg bytes] (dispatch.c reads it). */
static tr_msg *build(unsigned kind, const fence_src *fs, void (*fn)(void), tr_future *f,
                     const void *arg, size_t size)
{
    size_t pre = 8 + (f ? 8 : 0);
    tr_msg *m = tr_msg_new(tri_rpc_tag(kind, fs->flags, 0, 0), pre + fs->len + size);
    if (!m)
        return NULL;
    uint8_t *p = tr_msg_data(m);
    memcpy(p, &fn, sizeof fn);
    if (f)
        memcpy(p + 8, &f, sizeof f);
    memcpy(p + pre, fs->data, fs->len);
    if (size)
        memcpy(p + pre + fs->len, arg, size);
    return m;
}

/* ---- delayed runs -------------------------------------------------------------- */

typedef struct delayed {
    tri_timer timer;
    tr_msg *m;
    tr_endpoint *ep; /* a reference */
} delayed;

static void delayed_fire(tri_timer *t)
{
    delayed *d = (delayed *)((char *)t - offsetof(delayed, timer));
    tr_service *svc = d->ep->svc;
    /* At shutdown (or if the endpoint is gone) the run is dropped; its body
     * hears of it with self == NULL. */
    if (tri_timers_closing(svc->timers) || tri_endpoint_post(d->ep, d->m)) {
        tri_dispatch_release_run(d->m);
        tr_msg_free(d->m);
    }
    tri_endpoint_unref(d->ep);
    tri_free(d, sizeof *d);
}

static int post_run(tr_endpoint *ep, const fence_src *fs, tr_run_fn *fn, const void *arg,
                    size_t size, int64_t delay_ns)
{
    if (!fn || (size && !arg) || delay_ns < 0 || size > UINT32_MAX / 2)
        return TR_EINVAL; /* S11: a negative delay */
    int rv = tri_service_check_running(ep->svc);
    if (rv)
        return rv;
    tr_msg *m = build(TRI_RK_RUN, fs, (void (*)(void))fn, NULL, arg, size);
    if (!m)
        return TR_ENOMEM;
    if (delay_ns == 0) {
        rv = tri_endpoint_post(ep, m);
        if (rv)
            tr_msg_free(m);
        return rv;
    }
    delayed *d = tri_alloc(sizeof *d);
    if (!d) {
        tr_msg_free(m);
        return TR_ENOMEM;
    }
    tri_timer_init(&d->timer, delayed_fire);
    d->m = m;
    d->ep = ep;
    tri_endpoint_ref(ep);
    int64_t now = tri_now_ns();
    rv = tri_timers_arm(ep->svc->timers, &d->timer,
                        delay_ns > INT64_MAX - now ? INT64_MAX : now + delay_ns);
    if (rv) {
        tri_endpoint_unref(ep);
        tr_msg_free(m);
        tri_free(d, sizeof *d);
    }
    return rv;
}

static int post_call(tr_endpoint *ep, const fence_src *fs, tr_call_fn *fn, const void *arg,
                     size_t size, int64_t timeout_ns, tr_future **out)
{
    if (!fn || !out || (size && !arg) || timeout_ns < 0 || size > UINT32_MAX / 2)
        return TR_EINVAL;
    int rv = tri_service_check_running(ep->svc);
    if (rv)
        return rv;
    /* References: the caller's, the message's, the armed timer's. */
    tr_future *f = tri_future_new(NULL, 3, 0);
    if (!f)
        return TR_ENOMEM;
    tr_msg *m = build(TRI_RK_CALL, fs, (void (*)(void))fn, f, arg, size);
    if (!m) {
        tri_future_unref(f, 3);
        return TR_ENOMEM;
    }
    rv = tri_future_arm(f, ep->svc, timeout_ns ? timeout_ns : ep->svc->cfg.ask_timeout_ns,
                        "endpoint", "call_async", ep->id, ep->id_len);
    if (rv) {
        tr_msg_free(m);
        tri_future_unref(f, 3);
        return rv;
    }
    rv = tri_endpoint_post(ep, m);
    if (rv) {
        tr_msg_free(m);
        tri_future_unref(f, tri_timers_cancel(ep->svc->timers, &f->timer) ? 3 : 2);
        return rv;
    }
    *out = f;
    return 0;
}

/* ---- through a gateway ------------------------------------------------------------- */

int tr_gateway_run_async(tr_gateway *gw, tr_run_fn *fn, const void *arg, size_t arg_size)
{
    return tr_gateway_schedule_run_async(gw, fn, arg, arg_size, 0);
}

int tr_gateway_schedule_run_async(tr_gateway *gw, tr_run_fn *fn, const void *arg, size_t arg_size,
                                  int64_t delay_ns)
{
    if (!gw)
        return TR_EINVAL;
    if (!gw->tp->local)
        return TR_ENOTLOCAL; /* S13 */
    fence_src fs;
    fence_of_gateway(gw, &fs);
    return post_run(gw->ep, &fs, fn, arg, arg_size, delay_ns);
}

int tr_gateway_call_async(tr_gateway *gw, tr_call_fn *fn, const void *arg, size_t arg_size,
                          int64_t timeout_ns, tr_future **out)
{
    if (!gw)
        return TR_EINVAL;
    if (!gw->tp->local)
        return TR_ENOTLOCAL; /* S13 */
    fence_src fs;
    fence_of_gateway(gw, &fs);
    return post_call(gw->ep, &fs, fn, arg, arg_size, timeout_ns, out);
}

/* ---- on the endpoint itself ------------------------------------------------------------ */

int tr_endpoint_run_async(tr_endpoint *ep, tr_run_fn *fn, const void *arg, size_t arg_size)
{
    return tr_endpoint_schedule_run_async(ep, fn, arg, arg_size, 0);
}

int tr_endpoint_run_async_unfenced(tr_endpoint *ep, tr_run_fn *fn, const void *arg,
                                   size_t arg_size)
{
    if (!ep)
        return TR_EINVAL;
    fence_src fs;
    fence_of_endpoint(ep, true, &fs);
    return post_run(ep, &fs, fn, arg, arg_size, 0);
}

int tr_endpoint_schedule_run_async(tr_endpoint *ep, tr_run_fn *fn, const void *arg,
                                   size_t arg_size, int64_t delay_ns)
{
    if (!ep)
        return TR_EINVAL;
    fence_src fs;
    fence_of_endpoint(ep, false, &fs);
    return post_run(ep, &fs, fn, arg, arg_size, delay_ns);
}

int tr_endpoint_call_async(tr_endpoint *ep, tr_call_fn *fn, const void *arg, size_t arg_size,
                           int64_t timeout_ns, tr_future **out)
{
    if (!ep)
        return TR_EINVAL;
    fence_src fs;
    fence_of_endpoint(ep, false, &fs);
    return post_call(ep, &fs, fn, arg, arg_size, timeout_ns, out);
}
