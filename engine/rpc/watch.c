/* Death watch: registering, firing, delivering, cancelling (watch.h has
 * the state machine and why a target's list has a lock). */
#include "rpc/watch.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "rpc/endpoint_impl.h"
#include "rpc/future_impl.h"
#include "rpc/gateway_impl.h"
#include "rpc/registry.h"
#include "rpc/service_impl.h"
#include "rpc/wire.h"

/* ---- records ------------------------------------------------------------ */

static tr_watch *watch_new(tr_service *svc, tr_gateway *gw, uint32_t refs)
{
    tr_watch *w = tri_zalloc(sizeof *w);
    if (!w)
        return NULL;
    atomic_init(&w->refs, refs);
    atomic_init(&w->state, TRI_W_ARMED);
    w->svc = svc;
    if (gw)
        tr_gateway_retain(gw);
    w->gw = gw;
    /* relaxed: a statistic. */
    atomic_fetch_add_explicit(&svc->live_watches, 1, memory_order_relaxed);
    return w;
}

void tri_watch_unref(tr_watch *w)
{
    /* acq_rel: the last one sees every holder's writes (code, msg). */
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) != 1)
        return;
    tr_service *svc = w->svc;
    if (w->watcher)
        tri_endpoint_unref(w->watcher);
    tr_future_release(w->fut);
    if (w->tep)
        tri_endpoint_unref(w->tep);
    tr_gateway_release(w->gw);
    tri_free(w->msg, w->msg ? strlen(w->msg) + 1 : 0);
    tri_free(w, sizeof *w);
    /* relaxed: a statistic. */
    atomic_fetch_sub_explicit(&svc->live_watches, 1, memory_order_relaxed);
}

void tr_watch_release(tr_watch *w)
{
    if (w)
        tri_watch_unref(w);
}

uint64_t tr_service_live_watches(const tr_service *svc)
{
    /* relaxed: a statistic. */
    return atomic_load_explicit(&svc->live_watches, memory_order_relaxed);
}

/* acq_rel on success: the winner's later writes (code, msg) are ordered
 * after the read of whatever the loser published; acquire on failure. */
static bool transition(tr_watch *w, uint32_t from, uint32_t to)
{
    uint32_t e = from;
    return atomic_compare_exchange_strong_explicit(&w->state, &e, to, memory_order_acq_rel,
                                                   memory_order_acquire);
}

/* ---- delivery ------------------------------------------------------------- */

static void call_fn(tr_watch *w, tr_endpoint *self)
{
    if (!self) {
        w->fn(NULL, NULL, NULL, w->arg);
        return;
    }
    tr_down d = {w->code, w->msg ? w->msg : tr_strerror(w->code), tr_gateway_address(w->gw)};
    w->fn(self, self->state, &d, w->arg);
}

static void wlist_unlink(tr_endpoint *ep, tr_watch *w)
{
    if (!w->in_wlist)
        return;
    w->in_wlist = false;
    if (w->wprev)
        w->wprev->wnext = w->wnext;
    else
        ep->watching = w->wnext;
    if (w->wnext)
        w->wnext->wprev = w->wprev;
    w->wnext = w->wprev = NULL;
    tri_watch_unref(w); /* the watcher list's */
}

/* On the watcher's main thread (self), or dropped (self NULL). */
static int deliver_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    tr_watch *w = *(tr_watch **)arg;
    if (self)
        wlist_unlink(self, w);
    /* A cancel in between (tr_unwatch on the main thread) wins FIRED. */
    if (transition(w, TRI_W_FIRED, TRI_W_DONE))
        call_fn(w, self);
    tri_watch_unref(w); /* the delivery's */
    return 0;
}

/* The winner of ARMED -> FIRED: hand the notification over. */
static void deliver(tr_watch *w)
{
    if (w->raw) {
        transition(w, TRI_W_FIRED, TRI_W_DONE);
        w->raw(w->wire_ctx, w->wire_id, w->code, w->msg ? w->msg : tr_strerror(w->code));
        return;
    }
    if (!w->watcher) {
        transition(w, TRI_W_FIRED, TRI_W_DONE); /* nobody else moves a future watch */
        if (w->code == 0)
            tr_future_complete(w->fut, NULL, NULL);
        else
            tri_future_failf(w->fut, w->code, "%s", w->msg ? w->msg : tr_strerror(w->code));
        return;
    }
    /* relaxed: we hold a reference already. */
    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
    if (tr_endpoint_run_async_unfenced(w->watcher, deliver_body, &w, sizeof w))
        deliver_body(NULL, NULL, &w); /* the watcher is gone: the drop form */
}

bool tri_watch_fire(tr_watch *w, int code, const char *msg)
{
    if (!transition(w, TRI_W_ARMED, TRI_W_FIRED))
        return false;
    w->code = code;
    w->msg = msg ? tri_strdup(msg) : NULL;
    deliver(w);
    return true;
}

/* ---- a local target's list ----------------------------------------------- */

void tri_watch_list_init(tri_watch_list *l)
{
    pthread_mutex_init(&l->lock, NULL);
    l->head = NULL;
    l->closed = false;
    l->code = 0;
    l->msg[0] = 0;
}

void tri_watch_list_destroy(tri_watch_list *l)
{
    pthread_mutex_destroy(&l->lock);
}

void tri_watch_list_close(tri_watch_list *l, int code, const char *msg)
{
    pthread_mutex_lock(&l->lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->lock);
        return;
    }
    l->closed = true;
    l->code = code;
    snprintf(l->msg, sizeof l->msg, "%s", msg ? msg : tr_strerror(code));
    tr_watch *w = l->head;
    l->head = NULL;
    pthread_mutex_unlock(&l->lock);
    /* The nodes are ours now: a cancel that finds the list closed does not
     * touch them. */
    while (w) {
        tr_watch *next = w->next;
        tri_watch_fire(w, code, msg);
        tri_watch_unref(w); /* the list's */
        w = next;
    }
}

/* Links w, or fires it at once when the target is gone. */
static void list_add(tri_watch_list *l, tr_watch *w)
{
    pthread_mutex_lock(&l->lock);
    if (!l->closed) {
        w->list = l;
        w->prev = NULL;
        w->next = l->head;
        if (l->head)
            l->head->prev = w;
        l->head = w;
        pthread_mutex_unlock(&l->lock);
        return;
    }
    int code = l->code;
    const char *msg = l->msg; /* terminal: never written again */
    pthread_mutex_unlock(&l->lock);
    tri_watch_fire(w, code, msg);
    tri_watch_unref(w); /* the list's: it never held it */
}

/* After a cancel won ARMED: take w off its source. */
static void source_remove(tr_watch *w)
{
    tri_watch_list *l = w->list;
    if (!l) { /* remote: the transport drops its reference when done */
        w->gw->tp->unwatch(w->gw, w);
        return;
    }
    bool unlinked = false;
    pthread_mutex_lock(&l->lock);
    if (!l->closed) {
        if (w->prev)
            w->prev->next = w->next;
        else
            l->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        unlinked = true;
    }
    pthread_mutex_unlock(&l->lock);
    if (unlinked)
        tri_watch_unref(w); /* the list's */
}

/* ---- registering ------------------------------------------------------------ */

static int watch_register(tr_watch *w)
{
    tr_gateway *gw = w->gw;
    if (gw->tp->local) {
        list_add(&gw->ep->watchers, w);
        return 0;
    }
    if (!gw->tp->watch)
        return TR_EINVAL;
    /* The transport takes the source reference, and fires or drops it. */
    return gw->tp->watch(gw, w);
}

int tr_endpoint_watch(tr_endpoint *self, tr_gateway *target, tr_watch_fn *fn, void *arg,
                      tr_watch **out)
{
    if (!self || !target || !fn || tri_endpoint_current() != self)
        return TR_EINVAL;
    int rv = tri_service_check_running(self->svc);
    if (rv)
        return rv;
    /* source, watcher list, and the handle */
    tr_watch *w = watch_new(self->svc, target, out ? 3 : 2);
    if (!w)
        return TR_ENOMEM;
    tri_endpoint_ref(self);
    w->watcher = self;
    w->fn = fn;
    w->arg = arg;
    w->in_wlist = true;
    w->wnext = self->watching;
    if (self->watching)
        self->watching->wprev = w;
    self->watching = w;
    rv = watch_register(w);
    if (rv) {
        w->in_wlist = true;
        wlist_unlink(self, w);
        transition(w, TRI_W_ARMED, TRI_W_CANCELLED);
        tri_watch_unref(w); /* the source's, never taken */
        if (out)
            tri_watch_unref(w);
        return rv;
    }
    if (out)
        *out = w;
    return 0;
}

int tr_gateway_watch(tr_gateway *target, tr_future **fut, tr_watch **out)
{
    if (!target || !fut)
        return TR_EINVAL;
    int rv = tri_service_check_running(target->svc);
    if (rv)
        return rv;
    tr_future *f = tri_future_new(&tr_void__type, 2, 0); /* the caller's, the watch's */
    if (!f)
        return TR_ENOMEM;
    tr_watch *w = watch_new(target->svc, target, out ? 2 : 1);
    if (!w) {
        tri_future_unref(f, 2);
        return TR_ENOMEM;
    }
    w->fut = f;
    if (out) /* before the source can see it: the fire may come at once */
        *out = w;
    rv = watch_register(w);
    if (rv) {
        transition(w, TRI_W_ARMED, TRI_W_CANCELLED);
        tri_watch_unref(w);
        if (out)
            tri_watch_unref(w);
        tri_future_unref(f, 1);
        return rv;
    }
    *fut = f;
    return 0;
}

int tr_unwatch(tr_watch *w)
{
    if (!w)
        return TR_EINVAL;
    if (w->watcher && tri_endpoint_current() != w->watcher)
        return TR_EINVAL;
    if (transition(w, TRI_W_ARMED, TRI_W_CANCELLED)) {
        source_remove(w);
        if (w->watcher)
            wlist_unlink(w->watcher, w);
        else
            tr_future_fail(w->fut, TR_ECANCELED, "the watch on %s was cancelled",
                           tr_gateway_address(w->gw));
        return 0;
    }
    /* An endpoint's notification on its way: suppress it. */
    if (w->watcher && transition(w, TRI_W_FIRED, TRI_W_CANCELLED)) {
        wlist_unlink(w->watcher, w);
        return 0;
    }
    /* acquire: pairs with the transitions' acq_rel. */
    return atomic_load_explicit(&w->state, memory_order_acquire) == TRI_W_CANCELLED ? 0
                                                                                   : TR_EBUSY;
}

/* ---- a watcher that terminates ----------------------------------------------- */

void tri_watch_drop_watcher(tr_endpoint *ep, bool destroying)
{
    while (ep->watching) {
        tr_watch *w = ep->watching;
        if (transition(w, TRI_W_ARMED, TRI_W_CANCELLED)) {
            /* Still armed means a local target's hook has not closed its
             * list: it is alive. A remote one during destroy: the network
             * layer is gone (its stop fired every remote watch first). */
            if (w->list || !destroying)
                source_remove(w);
            call_fn(w, NULL);
        }
        /* FIRED: the delivery in flight will be dropped and call fn. */
        wlist_unlink(ep, w);
    }
}

/* ---- for transports (wire.h) ------------------------------------------------- */

tr_watch *tri_wire_watch_local(tr_service *svc, const char *id, size_t len,
                               void (*fn)(void *ctx, uint64_t wid, int code, const char *msg),
                               void *ctx, uint64_t wid)
{
    tr_watch *w = watch_new(svc, NULL, 2); /* the source's, the transport's */
    if (!w)
        return NULL;
    w->raw = fn;
    w->wire_ctx = ctx;
    w->wire_id = wid;
    tr_endpoint *ep = tri_registry_lookup(svc->registry, id, len);
    if (!ep) {
        char why[TR_ENDPOINT_ID_MAX + 64];
        snprintf(why, sizeof why, "no endpoint \"%.*s\" (terminated, or never was)", (int)len,
                 id);
        tri_watch_fire(w, TR_EUNREACHABLE, why);
        tri_watch_unref(w); /* the source's: there is none */
        return w;
    }
    w->tep = ep;
    list_add(&ep->watchers, w);
    return w;
}

bool tri_wire_watch_cancel(tr_watch *w)
{
    if (!transition(w, TRI_W_ARMED, TRI_W_CANCELLED))
        return false;
    source_remove(w);
    return true;
}

bool tri_wire_watch_fire(tr_watch *w, int code, const char *msg)
{
    return tri_watch_fire(w, code, msg);
}

void tri_wire_watch_unref(tr_watch *w) { tri_watch_unref(w); }

void tri_wire_watch_set(tr_watch *w, uint64_t id, void *ctx)
{
    w->wire_id = id;
    w->wire_ctx = ctx;
}
uint64_t tri_wire_watch_id(const tr_watch *w) { return w->wire_id; }
void *tri_wire_watch_ctx(const tr_watch *w) { return w->wire_ctx; }
