/* What the RPC tests share: a test gateway ("tcalc"), an endpoint that
 * implements it with a counter state, and service helpers.
 *
 * Each tests/rpc/<name>_test.c is its own executable and includes this once, so
 * the gateway's definition lives here. Handlers never assert (they run on
 * workers); they count into the state, which the test thread reads after a
 * future or a termination told it the endpoint is quiet. */
#ifndef TR_TESTS_RPC_COMMON_H
#define TR_TESTS_RPC_COMMON_H

#include <stdatomic.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* Criterion does not fail a test for a leak (DEPS.md): ask LSan now. */
#define T_LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)")
#else
#define T_LEAK_CHECK() ((void)0)
#endif

#define WAIT_NS (20LL * 1000 * 1000 * 1000) /* bound on any blocking wait */

#define T_PAIR_FIELDS(F) F(tr_i64, a) F(tr_i64, b)
TR_STRUCT(t_pair, T_PAIR_FIELDS)
TR_STRUCT_DEFINE(t_pair, T_PAIR_FIELDS)

#define TCALC_METHODS(M)                                                      \
    M(tcalc, add, t_pair, tr_i64, ASK)      /* a + b, at once */              \
    M(tcalc, echo, tr_str, tr_str, ASK)     /* the string back */             \
    M(tcalc, note, tr_i64, tr_void, TELL)   /* adds to the total */           \
    M(tcalc, fail, tr_i32, tr_void, ASK)    /* fails with that code */        \
    M(tcalc, later, tr_i64, tr_i64, ASK)    /* answers after arg ms */        \
    M(tcalc, empty, tr_void, tr_i64, ASK)   /* an empty answer (S19) */       \
    M(tcalc, total, tr_void, tr_i64, ASK)   /* the sum of notes */            \
    M(tcalc, unhandled, tr_void, tr_void, ASK) /* no handler (S18) */
TR_GATEWAY(tcalc, TCALC_METHODS)
TR_GATEWAY_DEFINE(tcalc, TCALC_METHODS)

/* A second gateway, for "implements several" and TR_EGATEWAY (S20). */
#define TPING_METHODS(M) M(tping, ping, tr_u64, tr_u64, ASK)
TR_GATEWAY(tping, TPING_METHODS)
TR_GATEWAY_DEFINE(tping, TPING_METHODS)

typedef struct t_state {
    int64_t total;
    int64_t notes;
    int64_t calls;
    int64_t last_note;
    int64_t order_errors;
    _Atomic int running;     /* > 1 would mean two turns at once (S9) */
    _Atomic int max_running;
    _Atomic int starts, stops, cleanups;
} t_state;

static inline void t_enter(t_state *s)
{
    tc_atomic_max(&s->max_running, atomic_fetch_add(&s->running, 1) + 1);
}
static inline void t_leave(t_state *s) { atomic_fetch_sub(&s->running, 1); }

static int t_add(tr_endpoint *self, void *state, const t_pair *arg, tr_reply *reply)
{
    (void)self;
    t_state *s = state;
    t_enter(s);
    s->calls++;
    tr_i64 r = arg->a + arg->b;
    int rv = tcalc_add_reply(reply, &r);
    t_leave(s);
    return rv;
}

static int t_echo(tr_endpoint *self, void *state, const tr_str *arg, tr_reply *reply)
{
    (void)self;
    ((t_state *)state)->calls++;
    return tcalc_echo_reply(reply, arg);
}

static int t_note(tr_endpoint *self, void *state, const tr_i64 *arg)
{
    (void)self;
    t_state *s = state;
    t_enter(s);
    if (*arg != s->last_note + 1) /* S21: one sender's notes come in order */
        s->order_errors++;
    s->last_note = *arg;
    s->total += *arg;
    s->notes++;
    t_leave(s);
    return 0;
}

/* A note handler that fails every third note (TR_EINVAL), still checking
 * the order: for the tests of a tell's books (handler errors). */
static inline int t_note_failing(tr_endpoint *self, void *state, const tr_i64 *arg)
{
    (void)self;
    t_state *s = state;
    if (*arg != s->last_note + 1)
        s->order_errors++;
    s->last_note = *arg;
    return *arg % 3 == 0 ? TR_EINVAL : 0;
}

static int t_fail(tr_endpoint *self, void *state, const tr_i32 *arg, tr_reply *reply)
{
    (void)state;
    return tr_reply_fail(reply, *arg, "endpoint %s refuses: code %d", tr_endpoint_id(self), *arg);
}

typedef struct t_later_arg {
    tr_reply *reply;
    int64_t value;
} t_later_arg;

static int t_later_body(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    t_later_arg *l = arg;
    tr_i64 v = l->value;
    if (self) /* else dropped: releasing the reply fails the ask now */
        tcalc_later_reply(l->reply, &v); /* TR_EBUSY if the asker timed out */
    tr_reply_release(l->reply);
    return 0;
}

/* Keeps the reply and answers from a later turn (a scheduled run). */
static int t_later(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)state;
    t_later_arg l = {tr_reply_keep(reply), *arg};
    int rv = tr_endpoint_schedule_run_async(self, t_later_body, &l, sizeof l, *arg * 1000000);
    if (rv)
        tr_reply_release(l.reply);
    return rv;
}

static int t_empty(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)state, (void)arg;
    return tcalc_empty_reply(reply, NULL);
}

static int t_total(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    tr_i64 t = ((t_state *)state)->total;
    return tcalc_total_reply(reply, &t);
}

static const tcalc_handlers t_handlers = {
    .add = t_add,
    .echo = t_echo,
    .note = t_note,
    .fail = t_fail,
    .later = t_later,
    .empty = t_empty,
    .total = t_total,
    /* .unhandled left NULL on purpose (S18) */
};

static int t_ping(tr_endpoint *self, void *state, const tr_u64 *arg, tr_reply *reply)
{
    (void)self, (void)state;
    tr_u64 v = *arg + 1;
    return tping_ping_reply(reply, &v);
}
static const tping_handlers t_ping_handlers = {.ping = t_ping};

static inline tr_service *t_service(unsigned workers, bool force_serialization)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = workers;
    cfg.force_serialization = force_serialization;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* A started tcalc endpoint (with t_state) named `id` (NULL: generated). */
static inline tr_endpoint *t_endpoint(tr_service *svc, const char *id, bool start)
{
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint_opts o = {
        .id = id, .gateways = impls, .ngateways = 1, .state_size = sizeof(t_state)};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(svc, &o, &ep));
    if (start)
        TC_OK(tr_endpoint_start(ep));
    return ep;
}

static inline tr_gateway *t_connect(tr_service *svc, const char *id)
{
    tr_gateway *gw = NULL;
    TC_OK(tr_service_connect(svc, id, &tcalc_gateway, &gw));
    return gw;
}

/* Terminates and waits; the endpoint's state is quiet afterwards. */
static inline void t_terminate(tr_endpoint *ep)
{
    tr_future *f = NULL;
    TC_OK(tr_endpoint_terminate(ep));
    TC_OK(tr_endpoint_termination(ep, &f));
    TC_OK(tr_future_wait(f, WAIT_NS));
    tr_future_release(f);
}

/* An ask's outcome, waiting for it; the future is released. */
static inline int t_outcome(tr_future *f)
{
    int rv = tr_future_get(f, WAIT_NS);
    tr_future_release(f);
    return rv;
}

#endif
