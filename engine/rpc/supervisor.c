/* Supervisors (troupe/supervisor.h): an endpoint whose state is its child
 * table, all of it touched on its main thread only. It watches each child
 * (watch.c); a child's watch carries the child's index and start
 * generation, so a notification about an earlier incarnation of the child
 * is recognised and ignored. Restarts are delayed runs on the supervisor
 * itself (the backoff); a group restart (one_for_all, rest_for_one) first
 * terminates the group, counts the notifications of those it stopped, and
 * starts the group again in order when the last has come. */
#include "troupe/supervisor.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "rpc/endpoint_impl.h"
#include "rpc/service_impl.h"
#include "troupe/error.h"
#include "troupe/watch.h"

TR_STRUCT_DEFINE(tr_supervisor_counts, TR_SUPERVISOR_COUNTS_FIELDS)
TR_GATEWAY_DEFINE(tr_supervisor, TR_SUPERVISOR_METHODS)

typedef struct child {
    char *id;
    int (*create)(tr_service *svc, const char *id, void *arg, tr_endpoint **out);
    void *arg;
    tr_restart restart;
    tr_endpoint *ep;      /* running: our handle; NULL otherwise */
    uint32_t gen;         /* bumped at each start; the watch carries it */
    bool stopping;        /* we terminated it: its notification is expected */
    bool gone;            /* ended for good (temporary, or transient and normal) */
    unsigned level;       /* backoff doublings */
    int64_t last_restart_ns;
} child;

typedef struct sup {
    tr_strategy strategy;
    unsigned max_restarts;
    int64_t period_ns, backoff_ns, max_backoff_ns;
    size_t n;
    child *c;
    int64_t *stamps;      /* the last max_restarts restarts, a ring */
    unsigned nstamps, stamp_pos;
    uint64_t restarts;
    uint64_t running;
    bool group_pending;   /* start [restart_from, n) once `waiting` is 0 */
    size_t restart_from;
    unsigned waiting;
    bool shutting_down;
    tr_future *stop_fut;  /* our reference to on_stop's future */
} sup;

typedef struct restart_req {
    size_t from, to;      /* children [from, to) */
} restart_req;

static void *pack(size_t idx, uint32_t gen) { return (void *)((uintptr_t)gen << 8 | idx); }
static size_t unpack_idx(void *a) { return (uintptr_t)a & 0xFF; }
static uint32_t unpack_gen(void *a) { return (uint32_t)((uintptr_t)a >> 8); }

static void child_down(tr_endpoint *self, void *state, const tr_down *d, void *arg);

/* ---- intensity and backoff ------------------------------------------------ */

/* Records a restart now; false when it is one too many (R in T). */
static bool note_restart(sup *s)
{
    int64_t now = tri_now_ns();
    if (s->nstamps == s->max_restarts) {
        int64_t oldest = s->stamps[s->stamp_pos];
        if (now - oldest < s->period_ns)
            return false;
    } else {
        s->nstamps++;
    }
    s->stamps[s->stamp_pos] = now;
    s->stamp_pos = (s->stamp_pos + 1) % s->max_restarts;
    s->restarts++;
    return true;
}

static int64_t backoff_for(sup *s, child *c)
{
    if (s->backoff_ns < 0)
        return 0;
    int64_t now = tri_now_ns();
    if (c->last_restart_ns && now - c->last_restart_ns < s->period_ns) {
        if (c->level < 30)
            c->level++;
    } else {
        c->level = 0;
    }
    c->last_restart_ns = now;
    int64_t d = s->backoff_ns;
    for (unsigned i = 0; i < c->level && d < s->max_backoff_ns; i++)
        d *= 2;
    return d < s->max_backoff_ns ? d : s->max_backoff_ns;
}

/* ---- children ------------------------------------------------------------- */

static int start_child(tr_endpoint *self, sup *s, size_t i)
{
    child *c = &s->c[i];
    tr_endpoint *ep = NULL;
    int rv = c->create(self->svc, c->id, c->arg, &ep);
    if (rv == 0 && !ep)
        rv = TR_EINVAL;
    if (rv == 0 && strcmp(tr_endpoint_id(ep), c->id)) {
        TRI_ERROR(&self->svc->log, "supervisor", self->id, "supervisor %s: child %s was created as %s", self->id, c->id,
                  tr_endpoint_id(ep));
        tr_endpoint_terminate(ep);
        tr_endpoint_release(ep);
        rv = TR_EINVAL;
    }
    if (rv)
        return rv;
    tr_gateway *gw = NULL;
    if ((rv = tr_endpoint_start(ep)) == 0 &&
        (rv = tr_endpoint_gateway(ep, ep->impls[0].desc, &gw)) == 0) {
        c->gen++;
        rv = tr_endpoint_watch(self, gw, child_down, pack(i, c->gen), NULL);
        tr_gateway_release(gw);
    }
    if (rv) {
        tr_endpoint_terminate(ep);
        tr_endpoint_release(ep);
        return rv;
    }
    c->ep = ep;
    c->stopping = false;
    s->running++;
    return 0;
}

/* Gives up: the children go (on_stop), the termination says why. */
static void give_up(tr_endpoint *self, const char *child_id, const char *why)
{
    sup *s = self->state;
    tr_endpoint_fail(self, TR_EFAILED,
                     "restart intensity exceeded (more than %u restarts in %lld ms); child %s: %s",
                     s->max_restarts, (long long)(s->period_ns / 1000000), child_id, why);
}

static void schedule(tr_endpoint *self, size_t from, size_t to, int64_t delay);

/* Starts what should run in [from, to) and is not running. */
static int restart_body(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0;
    sup *s = state;
    const restart_req *r = arg;
    TRI_DEBUG(&self->svc->log, "supervisor", self->id, "supervisor %s: restarting children %zu..%zu", self->id, r->from,
              r->to);
    if (s->shutting_down)
        return 0;
    for (size_t i = r->from; i < r->to; i++) {
        child *c = &s->c[i];
        if (c->ep || c->gone)
            continue;
        int rv = start_child(self, s, i);
        if (rv) {
            char why[160];
            snprintf(why, sizeof why, "its restart failed: %s", tr_strerror(rv));
            TRI_WARN(&self->svc->log, "supervisor", self->id, "supervisor %s: child %s: %s", self->id, c->id, why);
            if (!note_restart(s)) {
                give_up(self, c->id, why);
                return 0;
            }
            schedule(self, i, r->to, backoff_for(s, c));
            return 0;
        }
    }
    return 0;
}

static void schedule(tr_endpoint *self, size_t from, size_t to, int64_t delay)
{
    TRI_DEBUG(&self->svc->log, "supervisor", self->id, "supervisor %s: restart of %zu..%zu in %lld us", self->id, from, to,
              (long long)(delay / 1000));
    restart_req r = {from, to};
    int rv = tr_endpoint_schedule_run_async(self, restart_body, &r, sizeof r, delay);
    if (rv)
        tr_endpoint_fail(self, rv, "cannot schedule a restart: %s", tr_strerror(rv));
}

/* Terminates the running children of [from, n) but `except`, last first;
 * their notifications are counted in `waiting`. */
static void stop_group(sup *s, size_t from, size_t except)
{
    for (size_t i = s->n; i-- > from;) {
        child *c = &s->c[i];
        if (i == except || !c->ep || c->stopping)
            continue;
        c->stopping = true;
        s->waiting++;
        tr_endpoint_terminate(c->ep);
    }
}

static void child_down(tr_endpoint *self, void *state, const tr_down *d, void *arg)
{
    if (!self)
        return; /* the supervisor went first: nothing to release */
    sup *s = state;
    size_t i = unpack_idx(arg);
    if (i >= s->n)
        return;
    child *c = &s->c[i];
    if (unpack_gen(arg) != c->gen || !c->ep)
        return; /* about an earlier start of the child */
    tr_endpoint_release(c->ep);
    c->ep = NULL;
    s->running--;
    if (c->stopping) {
        c->stopping = false;
        if (--s->waiting)
            return;
        if (s->shutting_down) {
            tr_future_complete(s->stop_fut, NULL, NULL);
            tr_future_release(s->stop_fut);
            s->stop_fut = NULL;
        } else if (s->group_pending) {
            s->group_pending = false;
            schedule(self, s->restart_from, s->n, backoff_for(s, &s->c[s->restart_from]));
        }
        return;
    }
    if (s->shutting_down)
        return;
    bool again = c->restart == TR_PERMANENT || (c->restart == TR_TRANSIENT && d->code != 0);
    if (!again) {
        c->gone = true;
        return;
    }
    TRI_INFO(&self->svc->log, "supervisor", self->id, "supervisor %s: child %s ended (%s); restarting", self->id, c->id,
             d->reason);
    if (!note_restart(s)) {
        give_up(self, c->id, d->reason);
        return;
    }
    if (s->strategy == TR_ONE_FOR_ONE) {
        schedule(self, i, i + 1, backoff_for(s, c));
        return;
    }
    size_t from = s->strategy == TR_ONE_FOR_ALL ? 0 : i;
    if (s->group_pending && s->restart_from < from)
        from = s->restart_from; /* a wider group is already on its way */
    stop_group(s, from, i);
    s->restart_from = from;
    if (s->waiting) {
        s->group_pending = true;
        return;
    }
    s->group_pending = false;
    schedule(self, from, s->n, backoff_for(s, c));
}

/* ---- the endpoint ------------------------------------------------------------- */

static int sup_start(tr_endpoint *self, void *state)
{
    sup *s = state;
    for (size_t i = 0; i < s->n; i++) {
        int rv = start_child(self, s, i);
        if (rv) {
            TRI_ERROR(&self->svc->log, "supervisor", self->id, "supervisor %s: child %s did not start: %s", self->id,
                      s->c[i].id, tr_strerror(rv));
            for (size_t j = i; j-- > 0;) /* on_stop is skipped (S3): stop them here */
                if (s->c[j].ep)
                    tr_endpoint_terminate(s->c[j].ep);
            return rv;
        }
    }
    return 0;
}

static int sup_stop(tr_endpoint *self, void *state, tr_future **out)
{
    (void)self;
    sup *s = state;
    s->shutting_down = true;
    s->group_pending = false;
    stop_group(s, 0, SIZE_MAX);
    /* children already stopping for a group restart are counted there */
    if (!s->waiting)
        return 0;
    if (tr_future_new(&s->stop_fut))
        return TR_ENOMEM; /* the children still stop; we do not wait */
    tr_future_retain(s->stop_fut);
    *out = s->stop_fut;
    return 0;
}

static void sup_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    sup *s = state;
    for (size_t i = 0; i < s->n; i++) {
        if (s->c[i].ep)
            tr_endpoint_release(s->c[i].ep);
        if (s->c[i].id)
            tri_free(s->c[i].id, strlen(s->c[i].id) + 1);
    }
    if (s->c)
        tri_free(s->c, (s->n ? s->n : 1) * sizeof *s->c);
    if (s->stamps)
        tri_free(s->stamps, s->max_restarts * sizeof *s->stamps);
    if (s->stop_fut) {
        tr_future_fail(s->stop_fut, TR_ESTOPPED, "the supervisor went first");
        tr_future_release(s->stop_fut);
    }
}

static int sup_query(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    sup *s = state;
    tr_supervisor_counts k = {s->restarts, s->running};
    return tr_supervisor_query_reply(reply, &k);
}

static const tr_supervisor_handlers sup_handlers = {.query = sup_query};

int tr_supervisor_create(tr_service *svc, const tr_supervisor_opts *o, tr_endpoint **out)
{
    if (!svc || !o || !out || o->nchildren > TR_SUPERVISOR_CHILDREN_MAX ||
        (o->nchildren && !o->children) || o->strategy > TR_REST_FOR_ONE)
        return TR_EINVAL;
    for (size_t i = 0; i < o->nchildren; i++)
        if (!o->children[i].id || !o->children[i].create ||
            o->children[i].restart > TR_TEMPORARY)
            return TR_EINVAL;
    tr_gateway_impl impls[] = {tr_supervisor_impl(&sup_handlers)};
    tr_endpoint_opts eo = {
        .id = o->id,
        .gateways = impls,
        .ngateways = 1,
        .state_size = sizeof(sup),
        .on_start = sup_start,
        .on_stop = sup_stop,
        .on_cleanup = sup_cleanup,
    };
    tr_endpoint *ep = NULL;
    int rv = tr_endpoint_create(svc, &eo, &ep);
    if (rv)
        return rv;
    sup *s = tr_endpoint_state(ep);
    s->strategy = o->strategy;
    s->max_restarts = o->max_restarts ? o->max_restarts : 3;
    s->period_ns = o->period_ns > 0 ? o->period_ns : 5000LL * 1000 * 1000;
    s->backoff_ns = o->backoff_ns ? o->backoff_ns : 10LL * 1000 * 1000;
    s->max_backoff_ns = o->max_backoff_ns > 0 ? o->max_backoff_ns : 1000LL * 1000 * 1000;
    s->stamps = tri_zalloc(s->max_restarts * sizeof *s->stamps);
    s->c = tri_zalloc((o->nchildren ? o->nchildren : 1) * sizeof *s->c);
    bool ok = s->stamps && s->c;
    if (s->c)
        s->n = o->nchildren; /* cleanup frees (n ? n : 1) entries */
    for (size_t i = 0; ok && i < s->n; i++) {
        child *c = &s->c[i];
        c->id = tri_strdup(o->children[i].id);
        c->create = o->children[i].create;
        c->arg = o->children[i].arg;
        c->restart = o->children[i].restart;
        ok = c->id != NULL;
    }
    if (!ok) {
        tr_endpoint_terminate(ep); /* cleanup frees what was made */
        tr_endpoint_release(ep);
        return TR_ENOMEM;
    }
    if ((rv = tr_endpoint_start(ep))) {
        tr_endpoint_terminate(ep);
        tr_endpoint_release(ep);
        return rv;
    }
    *out = ep;
    return 0;
}
