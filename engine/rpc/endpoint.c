/* Endpoints: creation, the lifecycle (S1-S6, S8), the behaviour that
 * routes messages, references and accessors.
 *
 * Lifecycle messages (START, TERMINATE) go through the mailbox like any
 * other (Flink's ControlMessages), so what a sender sent before them is
 * processed first. The actor's hooks finish the job: on_drop fails every
 * call that will never be processed with TR_EUNREACHABLE (S4), and on_stop
 * (after the last turn) completes the termination future. */
#include "rpc/endpoint_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "core/sched.h"
#include "rpc/fast_tell.h"
#include "rpc/future_impl.h"
#include "rpc/metrics.h"
#include "rpc/msg.h"
#include "rpc/registry.h"
#include "rpc/service_impl.h"


tr_endpoint *tri_endpoint_current(void)
{
    tr_actor *a = tri_current_actor();
    return (a && a->behavior == tri_ep_behavior) ? tri_endpoint_in(a->state) : NULL;
}

/* ---- references -------------------------------------------------------- */

void tri_endpoint_ref(tr_endpoint *ep)
{
    /* relaxed: taking a reference needs one already held (or the registry
     * argument of registry.h). */
    atomic_fetch_add_explicit(&ep->refs, 1, memory_order_relaxed);
}

static void endpoint_final(tr_endpoint *ep)
{
    tr_service *svc = ep->svc;
    pthread_mutex_lock(&svc->endpoints_lock);
    if (ep->all_prev)
        ep->all_prev->all_next = ep->all_next;
    else
        svc->endpoints = ep->all_next;
    if (ep->all_next)
        ep->all_next->all_prev = ep->all_prev;
    pthread_mutex_unlock(&svc->endpoints_lock);
    tri_metrics_free(ep); /* unlisted and unheld: nobody reads them now */
    tr_future_release(ep->termination);
    tri_watch_list_destroy(&ep->watchers);
    tr_actor_release(ep->actor); /* may free ep */
}

static void unref_n(tr_endpoint *ep, uint32_t n)
{
    if (tri_service_destroying(ep->svc))
        return;
    /* acq_rel: the last release sees every holder's writes. */
    if (atomic_fetch_sub_explicit(&ep->refs, n, memory_order_acq_rel) == n)
        endpoint_final(ep);
}

void tri_endpoint_unref(tr_endpoint *ep) { unref_n(ep, 1); }

void tr_endpoint_retain(tr_endpoint *ep)
{
    if (ep)
        tri_endpoint_ref(ep);
}

void tr_endpoint_release(tr_endpoint *ep)
{
    if (ep)
        tri_endpoint_unref(ep);
}

static void release_registry_ref(tri_deferred *d)
{
    tri_endpoint_unref((tr_endpoint *)((char *)d - offsetof(tr_endpoint, reg_release)));
}

/* ---- lifecycle, on the main thread --------------------------------------- */

/* Keeps the first failure: it is what the termination future reports. */
static void record_failure(tr_endpoint *ep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void record_failure(tr_endpoint *ep, int code, const char *fmt, ...)
{
    if (ep->fail_code)
        return;
    ep->fail_code = code < 0 ? code : TR_EFAILED;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ep->fail_msg = tri_strdup(buf);
}

/* No message is processed after this turn (S4); the id is free (S6). */
static void finish(tr_endpoint *ep)
{
    if (ep->life == TRI_EP_TERMINATED)
        return;
    tri_endpoint_set_life(ep, TRI_EP_TERMINATED);
    if (tri_registry_remove(ep->svc->registry, ep))
        tri_timers_defer(ep->svc->timers, &ep->reg_release);
    tr_actor_stop(ep->actor);
}

static void stop_done(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)arg;
    if (!self || self->life != TRI_EP_STOPPING)
        return; /* dropped: the endpoint is already gone */
    int code = tr_future_code(f);
    if (code < 0)
        record_failure(self, code, "the on_stop future of endpoint %s failed: %s", self->id,
                       tr_future_error(f));
    finish(self);
}

static void begin_stop(tr_endpoint *ep)
{
    tri_endpoint_set_life(ep, TRI_EP_STOPPING);
    tr_future *f = NULL;
    int rv = ep->on_stop ? ep->on_stop(ep, ep->state, &f) : 0;
    if (rv < 0) {
        record_failure(ep, rv, "on_stop of endpoint %s failed: %s", ep->id, tr_strerror(rv));
        tr_future_release(f);
        finish(ep);
        return;
    }
    if (!f) {
        finish(ep);
        return;
    }
    /* Keep serving until it completes (S4); the continuation runs here. */
    ep->stop_future = f;
    rv = tr_future_then(f, stop_done, NULL);
    if (rv) {
        record_failure(ep, rv, "endpoint %s could not wait for its on_stop future: %s", ep->id,
                       tr_strerror(rv));
        finish(ep);
    }
}

static void on_start_msg(tr_endpoint *ep)
{
    if (ep->life != TRI_EP_CREATED)
        return; /* started twice (S3), or already terminated */
    tri_endpoint_set_life(ep, TRI_EP_STARTED);
    int rv = ep->on_start ? ep->on_start(ep, ep->state) : 0;
    if (rv < 0) { /* S3: on_stop is skipped, the termination fails */
        record_failure(ep, rv, "on_start of endpoint %s failed: %s", ep->id, tr_strerror(rv));
        finish(ep);
    }
}

static void on_terminate_msg(tr_endpoint *ep)
{
    if (ep->life == TRI_EP_CREATED)
        finish(ep); /* S5: never started, no on_stop */
    else if (ep->life == TRI_EP_STARTED)
        begin_stop(ep);
}

void tri_ep_behavior(tr_actor *a, void *state, tr_msg *m)
{
    (void)a;
    tr_endpoint *ep = tri_endpoint_in(state);
    switch (tri_rpc_kind_of(m->tag)) {
    case TRI_RK_TELL:
        if (!tri_fast_tell(ep, m))
            tri_dispatch_call(ep, m);
        break;
    case TRI_RK_ASK:
        if (!tri_fast_ask(ep, m))
            tri_dispatch_call(ep, m);
        break;
    case TRI_RK_BATCH:
        tri_dispatch_batch(ep, m);
        break;
    case TRI_RK_RUN:
    case TRI_RK_CALL:
        tri_dispatch_run(ep, m);
        break;
    case TRI_RK_CONT:
    case TRI_RK_FUTURE:
        tri_count(&ep->processed);
        tri_actor_consumed(ep->actor, -1); /* sent with weight 0 (future.c) */
        tri_future_run_posted(ep, m);
        break;
    case TRI_RK_START:
        tr_msg_free(m);
        on_start_msg(ep);
        break;
    case TRI_RK_TERMINATE:
        tr_msg_free(m);
        on_terminate_msg(ep);
        break;
    default:
        TRI_ERROR(&ep->svc->log, "endpoint", ep->id,
                  "endpoint %s got a message with unknown tag %#x", ep->id, m->tag);
        tr_msg_free(m);
    }
}

/* ---- the actor's hooks --------------------------------------------------- */

static void ep_on_drop(tr_actor *a, void *state, tr_msg *m)
{
    tr_endpoint *ep = tri_endpoint_in(state);
    switch (tri_rpc_kind_of(m->tag)) {
    case TRI_RK_CONT:
    case TRI_RK_FUTURE:
        tri_actor_consumed(a, -1); /* sent with weight 0 (future.c) */
        tri_future_run_posted(NULL, m);
        break;
    case TRI_RK_TELL:
    case TRI_RK_ASK:
    case TRI_RK_RUN:
    case TRI_RK_CALL:
    case TRI_RK_BATCH:
        tri_dispatch_drop(ep, m, TR_EUNREACHABLE, "has terminated");
        break;
    default:
        tr_msg_free(m);
    }
}

/* After the last turn (normally on the main thread), or from
 * tr_service_destroy for an endpoint that never terminated. */
static void ep_on_stop(tr_actor *a, void *state)
{
    tr_endpoint *ep = tri_endpoint_in(state);
    bool destroying = tri_current_actor() != a;
    if (ep->life != TRI_EP_TERMINATED) {
        record_failure(ep, TR_ESTOPPED, "the service was destroyed before endpoint %s terminated",
                       ep->id);
        tri_endpoint_set_life(ep, TRI_EP_TERMINATED);
    }
    if (ep->stop_future) {
        if (destroying) /* its continuation must not reach a freed actor */
            tr_future_fail(ep->stop_future, TR_ESTOPPED, "the service was destroyed");
        tr_future_release(ep->stop_future);
        ep->stop_future = NULL;
    }
    tri_streams_free(ep);
    /* Cleanup first: whoever waits on the termination finds it done. */
    if (ep->on_cleanup)
        ep->on_cleanup(ep, ep->state);
    /* Its own watches go with it, before anyone learns it terminated. */
    tri_watch_drop_watcher(ep, destroying);
    if (ep->fail_code)
        tri_future_failf(ep->termination, ep->fail_code, "%s",
                         ep->fail_msg ? ep->fail_msg : tr_strerror(ep->fail_code));
    else
        tr_future_complete(ep->termination, NULL, NULL);
    /* Watchers learn it after the termination future says it. */
    char down[300];
    if (ep->fail_code)
        snprintf(down, sizeof down, "%s", ep->fail_msg ? ep->fail_msg : tr_strerror(ep->fail_code));
    else
        snprintf(down, sizeof down, "endpoint %s terminated", ep->id);
    tri_watch_list_close(&ep->watchers, ep->fail_code, down);
    tri_free(ep->fail_msg, ep->fail_msg ? strlen(ep->fail_msg) + 1 : 0);
    ep->fail_msg = NULL;
    ep->stop_hook_ran = true; /* from here on own references are plain ones */
    if (ep->ref_cache) { /* the alive reference below still holds it */
        uint32_t n = ep->ref_cache;
        ep->ref_cache = 0;
        unref_n(ep, n);
    }
    if (destroying) {
        tr_future_release(ep->termination);
        ep->termination = NULL;
    }
    tri_endpoint_unref(ep); /* the "alive" reference */
}

/* ---- creation ------------------------------------------------------------ */

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

static int check_opts(const tr_endpoint_opts *o)
{
    if (!o->gateways || !o->ngateways || o->ngateways > TRI_RPC_MAX_GATEWAYS)
        return TR_EINVAL;
    for (size_t i = 0; i < o->ngateways; i++) {
        const tr_gateway_desc *d = o->gateways[i].desc;
        if (!d || !o->gateways[i].handlers || d->nmethods > TRI_RPC_MAX_METHODS ||
            (d->nmethods && !d->methods))
            return TR_EINVAL;
    }
    if (o->id && (!*o->id || strlen(o->id) > TR_ENDPOINT_ID_MAX))
        return TR_EINVAL;
    return 0;
}


static int create_with_id(tr_service *svc, const tr_endpoint_opts *o, const char *id,
                          tr_endpoint **out)
{
    size_t id_len = strlen(id);
    size_t addr_len = strlen(svc->addr_prefix) + id_len;
    size_t off_impls = align_up(sizeof(tr_endpoint), 16);
    size_t nmm = 0;
    for (size_t i = 0; i < o->ngateways; i++)
        nmm += o->gateways[i].desc->nmethods;
    /* The method counters (written by the main thread at every call) get
     * lines of their own: callers copy the id, which would follow them, into
     * every ask's label (ask_fanin ran at 0.66x main's with the line shared,
     * 1.05x with it apart, medians of 7 pairs in one noisy session). */
    size_t off_mm = align_up(off_impls + o->ngateways * sizeof(tr_gateway_impl), 64);
    size_t off_id = align_up(off_mm + nmm * sizeof(tri_method_metrics), 64);
    size_t off_addr = off_id + id_len + 1;
    size_t off_state = align_up(off_addr + addr_len + 1, 16);
    tr_actor_opts ao = {
        .behavior = tri_ep_behavior,
        .on_stop = ep_on_stop,
        .on_drop = ep_on_drop,
        .state_size = TRI_EP_ALIGN - 1 + off_state + o->state_size,
        .count_mailbox = true, /* the stats report the mailbox length */
        .mailbox_high = o->mailbox_high ? o->mailbox_high : svc->cfg.mailbox_high,
        .mailbox_low = o->mailbox_low,
        .mailbox_capacity = o->mailbox_capacity,
    };
    tr_future *term = tri_future_new(&tr_void__type, 1, 0);
    if (!term)
        return TR_ENOMEM;
    tr_actor *a;
    int rv = tr_spawn(svc, &ao, &a);
    if (rv) {
        tr_future_release(term);
        return rv;
    }
    char *base = (char *)tri_endpoint_in(tr_actor_state(a));
    tr_endpoint *ep = (tr_endpoint *)base;
    ep->actor = a; /* the spawn's handle: the endpoint's one reference */
    ep->svc = svc;
    memcpy(base + off_impls, o->gateways, o->ngateways * sizeof(tr_gateway_impl));
    ep->impls = (const tr_gateway_impl *)(base + off_impls);
    ep->nimpls = (uint32_t)o->ngateways;
    ep->mm = (tri_method_metrics *)(base + off_mm); /* zeroed with the state */
    ep->nmm = (uint32_t)nmm;
    for (size_t i = 0, at = 0; i < o->ngateways; at += o->gateways[i++].desc->nmethods)
        ep->mm_base[i] = (uint32_t)at;
    memcpy(base + off_id, id, id_len + 1);
    ep->id = base + off_id;
    ep->id_len = (uint32_t)id_len;
    snprintf(base + off_addr, addr_len + 1, "%s%s", svc->addr_prefix, id);
    ep->address = base + off_addr;
    ep->id_hash = tri_registry_hash(id, id_len);
    ep->state = base + off_state;
    ep->state_size = o->state_size;
    ep->on_start = o->on_start;
    ep->on_stop = o->on_stop;
    ep->on_cleanup = o->on_cleanup;
    ep->fenced = o->fenced;
    ep->termination = term;
    ep->reg_release.fn = release_registry_ref;
    tri_endpoint_set_life(ep, TRI_EP_CREATED);
    tri_watch_list_init(&ep->watchers);
    atomic_init(&ep->refs, 3); /* the caller's handle, the registry, alive */
    pthread_mutex_lock(&svc->endpoints_lock);
    ep->all_next = svc->endpoints;
    if (ep->all_next)
        ep->all_next->all_prev = ep;
    svc->endpoints = ep;
    pthread_mutex_unlock(&svc->endpoints_lock);

    rv = tri_registry_add(svc->registry, ep);
    if (rv) {
        /* Nobody has seen it: stop the actor; its hook drops "alive". */
        ep->on_cleanup = NULL;
        tri_endpoint_set_life(ep, TRI_EP_TERMINATED);
        atomic_store_explicit(&ep->refs, 2, memory_order_relaxed); /* no registry ref */
        if (tr_actor_stop_async(a) == 0)
            tri_endpoint_unref(ep); /* the caller's handle */
        return rv;
    }
    *out = ep;
    return 0;
}

/* The introspection endpoint (remote/introspect.c) may take a reserved id. */
int tri_endpoint_create_reserved(tr_service *svc, const tr_endpoint_opts *opts, tr_endpoint **out)
{
    int rv = check_opts(opts);
    if (!rv)
        rv = tri_service_check_open(svc);
    return rv ? rv : create_with_id(svc, opts, opts->id, out);
}

int tr_endpoint_create(tr_service *svc, const tr_endpoint_opts *opts, tr_endpoint **out)
{
    if (!svc || !opts || !out)
        return TR_EINVAL;
    int rv = check_opts(opts);
    if (rv)
        return rv;
    if (opts->id && opts->id[0] == TR_RESERVED_ID_PREFIX)
        return TR_EINVAL; /* troupe's own (metrics.h) */
    if ((rv = tri_service_check_open(svc)))
        return rv;
    if (opts->id)
        return create_with_id(svc, opts, opts->id, out);
    /* A generated id may collide with one a user chose: take the next. */
    for (int tries = 0; tries < 1000; tries++) {
        char id[32];
        /* relaxed: uniqueness comes from the atomic increment alone. */
        unsigned long long n = atomic_fetch_add_explicit(&svc->next_id, 1, memory_order_relaxed);
        snprintf(id, sizeof id, "endpoint-%llu", n);
        rv = create_with_id(svc, opts, id, out);
        if (rv != TR_EEXISTS)
            return rv;
    }
    return TR_EEXISTS;
}

/* ---- control from any thread --------------------------------------------- */

static int send_control(tr_endpoint *ep, unsigned kind)
{
    tr_msg *m = tr_msg_new(tri_rpc_tag(kind, 0, 0, 0), 0);
    if (!m)
        return TR_ENOMEM;
    int rv = tri_send_unchecked(ep->actor, m, 1); /* lifecycle is never held back */
    if (rv) {
        tr_msg_free(m);
        return tri_service_check_running(ep->svc) ? TR_ESTOPPED : TR_EUNREACHABLE;
    }
    return 0;
}

int tr_endpoint_start(tr_endpoint *ep)
{
    if (!ep)
        return TR_EINVAL;
    /* acq_rel: one START ever; ordering comes from the mailbox. */
    if (atomic_exchange_explicit(&ep->start_sent, 1, memory_order_acq_rel))
        return 0;
    int rv = send_control(ep, TRI_RK_START);
    if (rv == TR_ENOMEM) /* release: undo our claim; pairs with the exchange */
        atomic_store_explicit(&ep->start_sent, 0, memory_order_release);
    return rv;
}

int tr_endpoint_terminate(tr_endpoint *ep)
{
    if (!ep)
        return TR_EINVAL;
    /* acq_rel: one TERMINATE ever; ordering comes from the mailbox. */
    if (atomic_exchange_explicit(&ep->terminate_sent, 1, memory_order_acq_rel))
        return 0;
    int rv = send_control(ep, TRI_RK_TERMINATE);
    if (rv == TR_ENOMEM) { /* release: undo our claim; pairs with the exchange */
        atomic_store_explicit(&ep->terminate_sent, 0, memory_order_release);
        return rv;
    }
    return 0; /* already terminated (or stopping with the service): done */
}

int tr_endpoint_termination(tr_endpoint *ep, tr_future **out)
{
    if (!ep || !out)
        return TR_EINVAL;
    tr_future_retain(ep->termination);
    *out = ep->termination;
    return 0;
}

int tr_endpoint_fail(tr_endpoint *self, int code, const char *fmt, ...)
{
    if (!self || tri_endpoint_current() != self)
        return TR_EINVAL;
    if (!self->fail_code) {
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt ? fmt : "failed", ap);
        va_end(ap);
        record_failure(self, code, "endpoint %s failed: %s", self->id, buf);
    }
    tr_endpoint_terminate(self);
    return code;
}

/* ---- accessors ------------------------------------------------------------ */

const char *tr_endpoint_id(const tr_endpoint *ep) { return ep->id; }
const char *tr_endpoint_address(const tr_endpoint *ep) { return ep->address; }
void *tr_endpoint_state(tr_endpoint *ep) { return ep->state; }
tr_service *tr_endpoint_service(const tr_endpoint *ep) { return ep->svc; }

bool tr_endpoint_in_main_thread(const tr_endpoint *ep)
{
    return ep && tri_current_actor() == ep->actor;
}

void tr_endpoint_assert_main_thread_at(const tr_endpoint *ep, const char *file, int line)
{
    if (tr_endpoint_in_main_thread(ep))
        return;
    /* Straight to stderr: this must be seen whatever TROUPE_LOG says. */
    fprintf(stderr,
            "troupe: %s:%d: code of endpoint %s ran outside its main thread (on %s); "
            "post it with run_async, or answer from a continuation registered inside the "
            "endpoint\n",
            file, line, ep ? ep->id : "(null)",
            tri_current_actor() ? "another actor's turn" : "a non-worker or idle thread");
    abort();
}
