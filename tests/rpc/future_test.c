/* Futures: completed exactly once (invariant 4), continuations on the right
 * thread (S9), blocking waits, promises. */
#include <pthread.h>

#include "rpc_common.h"

/* ---- 10,000 asks with random timeouts, each completed exactly once ---------- */

enum { MANY = 10000 };

typedef struct slot {
    _Atomic int completions;
    int code;
    int64_t value;
} slot;

static slot g_slots[MANY];

static void record(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    slot *s = arg;
    s->code = tr_future_code(f);
    const tr_i64 *v = tcalc_later_result(f);
    s->value = v ? *v : -1;
    atomic_fetch_add(&s->completions, 1); /* seq_cst: publishes code/value */
}

/* Invariant 4: every ask completes exactly once: a value, an error, or a
 * timeout at its deadline. The handler answers after 0-19 ms (a kept reply,
 * answered from a scheduled run) and the asks' deadlines race it. */
Test(future, ten_thousand_asks_random_timeouts_exactly_once, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "racer", true);
    tr_gateway *gw = t_connect(svc, "racer");
    tc_rng rng;
    uint64_t seed = tc_now_ns();
    tc_rng_seed(&rng, seed);
    cr_log_info("seed %llu", (unsigned long long)seed);
    /* Thirds: answered at once with a generous deadline (must succeed);
     * answered after 10-19 ms with a 1-5 ms deadline (time out unless the
     * machine stalls); both random (a true race). */
    for (int i = 0; i < MANY; i++) {
        tr_i64 delay_ms;
        int64_t timeout;
        switch (i % 3) {
        case 0:
            delay_ms = 0, timeout = 5000 * 1000000LL;
            break;
        case 1:
            delay_ms = 10 + (tr_i64)tc_rng_below(&rng, 10);
            timeout = (int64_t)(1 + tc_rng_below(&rng, 5)) * 1000000;
            break;
        default:
            delay_ms = (tr_i64)tc_rng_below(&rng, 20);
            timeout = (int64_t)(1 + tc_rng_below(&rng, 20)) * 1000000;
        }
        tr_future *f;
        TC_OK(tcalc_later(gw, &delay_ms, timeout, &f));
        g_slots[i].value = -2;
        TC_OK(tr_future_then(f, record, &g_slots[i]));
        tr_future_release(f);
    }
    int ok = 0, timed_out = 0;
    uint64_t dl = tc_deadline_ms(30000);
    for (int i = 0; i < MANY; i++)
        while (atomic_load(&g_slots[i].completions) == 0 && tc_poll(dl)) {
        }
    /* Give a would-be second completion time to show up. */
    tc_sleep_us(50000);
    for (int i = 0; i < MANY; i++) {
        cr_assert_eq(atomic_load(&g_slots[i].completions), 1, "ask %d completed %d times (seed %llu)",
                     i, atomic_load(&g_slots[i].completions), (unsigned long long)seed);
        if (i % 3 == 0)
            cr_assert_eq(g_slots[i].code, 0, "ask %d: %s", i, tr_errname(g_slots[i].code));
        if (g_slots[i].code == 0) {
            ok++;
            cr_assert_geq(g_slots[i].value, 0);
        } else {
            cr_assert_eq(g_slots[i].code, TR_ETIMEDOUT, "ask %d: %s", i,
                         tr_errname(g_slots[i].code));
            timed_out++;
        }
    }
    cr_log_info("%d answered, %d timed out", ok, timed_out);
    cr_assert_gt(ok, 0);
    cr_assert_gt(timed_out, 0);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- continuations run on the registering endpoint's main thread ------------ */

/* "asker" endpoints each ask the "answer" endpoint from a run_async body and
 * register a continuation; it must run on the asker's main thread (self ==
 * the asker, tr_endpoint_in_main_thread), never concurrently with the
 * asker's other turns, and it chains the next ask until ROUNDS. */
#define DRIVE_METHODS(M) M(tdrive, go, tr_void, tr_void, TELL)
TR_GATEWAY(tdrive, DRIVE_METHODS)
TR_GATEWAY_DEFINE(tdrive, DRIVE_METHODS)

enum { ROUNDS = 2000, ASKERS = 4 };

typedef struct asker {
    tr_gateway *to;          /* tcalc on "answer" */
    tr_endpoint *me;
    int64_t rounds, wrong_thread, wrong_self, wrong_value;
    _Atomic int running, max_running;
    _Atomic int done;
} asker;

static void next_ask(asker *a);

static void on_sum(tr_endpoint *self, tr_future *f, void *arg)
{
    asker *a = arg;
    if (!self)
        return; /* dropped: the asker terminated (not in this test) */
    tc_atomic_max(&a->max_running, atomic_fetch_add(&a->running, 1) + 1);
    if (self != a->me)
        a->wrong_self++;
    if (!tr_endpoint_in_main_thread(a->me))
        a->wrong_thread++;
    const tr_i64 *v = tcalc_add_result(f);
    if (!v || *v != a->rounds + 1)
        a->wrong_value++;
    a->rounds++;
    atomic_fetch_sub(&a->running, 1);
    next_ask(a);
}

static void next_ask(asker *a)
{
    if (a->rounds >= ROUNDS) {
        atomic_store(&a->done, 1);
        return;
    }
    tr_future *f;
    if (tcalc_add(a->to, &(t_pair){a->rounds, 1}, 0, &f) == 0) {
        tr_future_then(f, on_sum, a);
        tr_future_release(f);
    } else {
        a->wrong_value++;
        atomic_store(&a->done, 1);
    }
}

static int drive_go(tr_endpoint *self, void *state, const tr_void *arg)
{
    (void)self, (void)arg;
    asker *a = *(asker **)state;
    tc_atomic_max(&a->max_running, atomic_fetch_add(&a->running, 1) + 1);
    atomic_fetch_sub(&a->running, 1);
    next_ask(a);
    return 0;
}
static const tdrive_handlers drive_handlers = {.go = drive_go};

static int poke(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)arg;
    asker *a = *(asker **)state;
    tc_atomic_max(&a->max_running, atomic_fetch_add(&a->running, 1) + 1);
    if (!tr_endpoint_in_main_thread(self))
        a->wrong_thread++;
    atomic_fetch_sub(&a->running, 1);
    return 0;
}

Test(future, continuations_run_on_the_registering_endpoint, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *answer = t_endpoint(svc, "answer", true);
    static asker as[ASKERS];
    tr_endpoint *eps[ASKERS];
    tr_gateway *drive[ASKERS];
    for (int i = 0; i < ASKERS; i++) {
        tr_gateway_impl impls[] = {tdrive_impl(&drive_handlers)};
        char id[16];
        snprintf(id, sizeof id, "asker-%d", i);
        TC_OK(tr_endpoint_create(svc,
                                 &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                     .state_size = sizeof(asker *)},
                                 &eps[i]));
        *(asker **)tr_endpoint_state(eps[i]) = &as[i];
        as[i].me = eps[i];
        as[i].to = t_connect(svc, "answer");
        TC_OK(tr_endpoint_start(eps[i]));
        TC_OK(tr_endpoint_gateway(eps[i], &tdrive_gateway, &drive[i]));
    }
    for (int i = 0; i < ASKERS; i++)
        TC_OK(tdrive_go(drive[i], NULL));
    /* Poke the askers while they run, so their own turns interleave with
     * their continuations. */
    for (int k = 0; k < 200; k++)
        for (int i = 0; i < ASKERS; i++)
            TC_OK(tr_endpoint_run_async(eps[i], poke, NULL, 0));
    for (int i = 0; i < ASKERS; i++)
        TC_ASSERT_EVENTUALLY(atomic_load(&as[i].done), 30000);
    for (int i = 0; i < ASKERS; i++) {
        tr_gateway_release(drive[i]);
        t_terminate(eps[i]);
        cr_assert_eq(as[i].rounds, ROUNDS);
        cr_assert_eq(as[i].wrong_self, 0);
        cr_assert_eq(as[i].wrong_thread, 0);
        cr_assert_eq(as[i].wrong_value, 0);
        cr_assert_eq(atomic_load(&as[i].max_running), 1);
        tr_gateway_release(as[i].to);
        tr_endpoint_release(eps[i]);
    }
    t_terminate(answer);
    tr_endpoint_release(answer);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* Registered outside any endpoint: runs on the completing thread (here a
 * worker, inside the answering handler) with self == NULL; registered on a
 * completed future: at once, on the calling thread. */
static _Atomic int g_outside_calls;
static pthread_t g_outside_thread;
static tr_endpoint *g_outside_self = (tr_endpoint *)1;

static void outside_cb(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)f, (void)arg;
    g_outside_self = self;
    g_outside_thread = pthread_self();
    atomic_fetch_add(&g_outside_calls, 1);
}

Test(future, continuations_outside_endpoints, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "slow", true);
    tr_gateway *gw = t_connect(svc, "slow");
    tr_future *f;
    TC_OK(tcalc_later(gw, &(tr_i64){30}, 0, &f));
    TC_OK(tr_future_then(f, outside_cb, NULL));
    TC_OK(tr_future_get(f, WAIT_NS));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_outside_calls) == 1, 10000);
    cr_assert_null(g_outside_self);
    cr_assert(!pthread_equal(g_outside_thread, pthread_self()));
    /* Already complete: runs now, here. */
    TC_OK(tr_future_then(f, outside_cb, NULL));
    cr_assert_eq(atomic_load(&g_outside_calls), 2);
    cr_assert(pthread_equal(g_outside_thread, pthread_self()));
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- blocking waits ------------------------------------------------------------ */

#define TWAIT_METHODS(M) M(twait, block, tr_void, tr_i32, ASK)
TR_GATEWAY(twait, TWAIT_METHODS)
TR_GATEWAY_DEFINE(twait, TWAIT_METHODS)

/* A handler that tries to block on a future: TR_EDEADLK, not a deadlock. */
static int wait_block(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)state, (void)arg;
    tr_future *p;
    tr_future_new(&p);
    tr_i32 rv = tr_future_wait(p, 1000000000);
    tr_endpoint_assert_main_thread(self); /* S10: passes here */
    tr_future_release(p);
    return twait_block_reply(reply, &rv);
}
static const twait_handlers wait_handlers = {.block = wait_block};

Test(future, wait_on_main_thread_is_edeadlk, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_gateway_impl impls[] = {twait_impl(&wait_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "w", .gateways = impls, .ngateways = 1},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw;
    TC_OK(tr_service_connect(svc, "w", &twait_gateway, &gw));
    tr_future *f;
    TC_OK(twait_block(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*twait_block_result(f), TR_EDEADLK);
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

static void *complete_later(void *p)
{
    tc_sleep_us(20000);
    tr_future_complete(p, &tr_i64__type, &(tr_i64){99});
    return NULL;
}

/* Outside threads block with a timeout; promises complete exactly once. */
Test(future, wait_timeout_and_promise, .timeout = 30)
{
    tr_future *p;
    TC_OK(tr_future_new(&p));
    cr_assert_not(tr_future_done(p));
    TC_ERR(tr_future_code(p), TR_EAGAIN);
    TC_ERR(tr_future_wait(p, 5 * 1000000), TR_ETIMEDOUT);
    cr_assert_not(tr_future_done(p));
    pthread_t t;
    pthread_create(&t, NULL, complete_later, p);
    TC_OK(tr_future_wait(p, -1)); /* no limit: woken by the completer */
    pthread_join(t, NULL);
    cr_assert_eq(*(const tr_i64 *)tr_future_value(p, &tr_i64__type), 99);
    cr_assert_null(tr_future_value(p, &tr_u64__type)); /* another type */
    TC_ERR(tr_future_complete(p, &tr_i64__type, &(tr_i64){1}), TR_EBUSY);
    TC_ERR(tr_future_fail(p, TR_EIO, "late"), TR_EBUSY);
    cr_assert_eq(*(const tr_i64 *)tr_future_value(p, &tr_i64__type), 99);
    tr_future_release(p);

    TC_OK(tr_future_new(&p));
    TC_OK(tr_future_fail(p, TR_EIO, "disk %d", 3));
    TC_ERR(tr_future_get(p, 0), TR_EIO);
    cr_assert_str_eq(tr_future_error(p), "disk 3");
    cr_assert_null(tr_future_value(p, NULL));
    tr_future_release(p);
    T_LEAK_CHECK();
}

/* A large result does not fit inline: stored on the heap, freed with the
 * future (LSan checks). */
Test(future, large_values, .timeout = 30)
{
    tr_future *p;
    TC_OK(tr_future_new(&p));
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    TC_OK(tr_future_complete(p, &tr_str__type, &(tr_str){big}));
    big[0] = 'b';
    const tr_str *v = tr_future_value(p, &tr_str__type);
    cr_assert_eq(strlen(*v), 999);
    cr_assert_eq((*v)[0], 'a');
    tr_future_release(p);
    T_LEAK_CHECK();
}

/* ---- ask_then: the continuation given with the ask ------------------------------ */

typedef struct then_probe {
    tr_endpoint *expect_self;
    _Atomic int calls;
    _Atomic int on_main; /* ran on expect_self's main thread */
    _Atomic int code;
    _Atomic int64_t value;
} then_probe;

static void then_cb(tr_endpoint *self, tr_future *f, void *arg)
{
    then_probe *p = arg;
    atomic_store(&p->on_main, self == p->expect_self &&
                                  (!self || tr_endpoint_in_main_thread(self)));
    const tr_i64 *v = tcalc_add_result(f);
    atomic_store(&p->value, v ? *v : -1);
    atomic_store(&p->code, tr_future_code(f));
    atomic_fetch_add(&p->calls, 1);
}

typedef struct then_req {
    tr_gateway *to;
    then_probe *probe;
    int64_t timeout;
    tr_i64 later_ms; /* < 0: tcalc.add, else tcalc.later */
} then_req;

/* From inside an endpoint: the continuation must come back to it. */
static int ask_then_inside(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)state;
    then_req *r = arg;
    r->probe->expect_self = self;
    if (r->later_ms < 0)
        return tcalc_add_then(r->to, &(t_pair){20, 22}, r->timeout, then_cb, r->probe);
    return tcalc_later_then(r->to, &r->later_ms, r->timeout, then_cb, r->probe);
}

static int hold_100ms(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)self, (void)state, (void)arg;
    tc_sleep_us(100000);
    return 0;
}

Test(future, ask_then_inside_and_outside, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *server = t_endpoint(svc, "server", true);
    tr_endpoint *me = t_endpoint(svc, "asker", true);
    tr_gateway *gw = t_connect(svc, "server");
    /* Outside any endpoint: self NULL, on the completing thread. */
    static then_probe out;
    TC_OK(tcalc_add_then(gw, &(t_pair){1, 2}, 0, then_cb, &out));
    TC_ASSERT_EVENTUALLY(atomic_load(&out.calls) == 1, 10000);
    cr_assert(atomic_load(&out.on_main));
    cr_assert_eq(atomic_load(&out.value), 3);
    /* Inside: on the asker's main thread, with the value. */
    static then_probe in;
    then_req r = {gw, &in, 0, -1};
    TC_OK(tr_endpoint_run_async(me, ask_then_inside, &r, sizeof r));
    TC_ASSERT_EVENTUALLY(atomic_load(&in.calls) == 1, 10000);
    cr_assert(atomic_load(&in.on_main));
    cr_assert_eq(atomic_load(&in.value), 42);
    /* Inside, timing out while the ask still waits in the callee's mailbox
     * (its main thread is held for 100 ms): the continuation travels in a
     * message of its own and still runs on the asker's main thread, once. */
    TC_OK(tr_endpoint_run_async(server, hold_100ms, NULL, 0));
    static then_probe late;
    then_req r2 = {gw, &late, 5 * 1000000, -1};
    TC_OK(tr_endpoint_run_async(me, ask_then_inside, &r2, sizeof r2));
    TC_ASSERT_EVENTUALLY(atomic_load(&late.calls) == 1, 10000);
    cr_assert_eq(atomic_load(&late.code), TR_ETIMEDOUT);
    cr_assert(atomic_load(&late.on_main));
    tc_sleep_us(200000); /* the late answer finds the ask settled */
    cr_assert_eq(atomic_load(&late.calls), 1);
    /* An ask_then that fails at once never runs its callback. */
    static then_probe never;
    t_terminate(server);
    TC_ERR(tcalc_add_then(gw, &(t_pair){1, 1}, 0, then_cb, &never), TR_EUNREACHABLE);
    TC_ERR(tcalc_add_then(gw, &(t_pair){1, 1}, 0, NULL, NULL), TR_EINVAL);
    tc_sleep_us(20000);
    cr_assert_eq(atomic_load(&never.calls), 0);
    tr_gateway_release(gw);
    t_terminate(me);
    tr_endpoint_release(server);
    tr_endpoint_release(me);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* ---- answers travelling home are not in the asker's mailbox level ---------- */

/* An answer is never held back, so it is not counted in the mailbox level
 * that high-water marks look at (future.c, send_posted): answers queued
 * behind a held turn leave the level at the 5 tells queued beside them,
 * and once all have run the level is exactly 0 again (the count and the
 * uncount of every answer agree). The asks are tcalc.later, answered 1 s
 * on, so that the asker is held by then; the answers come from the
 * server's own delayed turns, on the other worker. */
enum { HOME_ASKS = 300, HOME_TELLS = 5 };

typedef struct home_ctx {
    tr_gateway *to;
    _Atomic int answered, wrong, held, release;
} home_ctx;

static home_ctx g_home;

static void home_answer(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    const tr_i64 *v = tcalc_later_result(f);
    if (!v || *v != (int64_t)(intptr_t)arg)
        atomic_fetch_add(&g_home.wrong, 1);
    atomic_fetch_add(&g_home.answered, 1);
}

static int home_ask_all(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    tr_i64 ms = 1000;
    for (int i = 0; i < HOME_ASKS; i++)
        if (tcalc_later_then(g_home.to, &ms, WAIT_NS, home_answer, (void *)(intptr_t)ms))
            atomic_fetch_add(&g_home.wrong, 1);
    return 0;
}

/* Holds the asker's thread (bounded) until the test releases it. */
static int home_hold(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    atomic_store(&g_home.held, 1);
    uint64_t deadline = tc_deadline_ms(20000);
    while (!atomic_load(&g_home.release) && tc_now_ns() < deadline)
        sched_yield();
    return 0;
}

Test(future, answers_home_are_not_in_the_mailbox_level, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *server = t_endpoint(svc, "answer", true);
    tr_endpoint *home = t_endpoint(svc, "asker", true);
    g_home.to = t_connect(svc, "answer");
    tr_gateway *to_home = t_connect(svc, "asker");
    TC_OK(tr_endpoint_run_async(home, home_ask_all, NULL, 0));
    tr_endpoint_stats st;
    TC_ASSERT_EVENTUALLY((tr_endpoint_call_stats(server, &st), st.processed == HOME_ASKS), 20000);
    TC_OK(tr_endpoint_run_async(home, home_hold, NULL, 0));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_home.held), 20000);
    /* the asks, then each answer's delayed turn */
    TC_ASSERT_EVENTUALLY((tr_endpoint_call_stats(server, &st), st.processed == 2 * HOME_ASKS),
                         20000);
    for (int i = 1; i <= HOME_TELLS; i++)
        TC_OK(tcalc_note(to_home, &(tr_i64){i}));
    tc_sleep_us(50000); /* the last answer's push, after its turn was counted */
    tr_endpoint_call_stats(home, &st);
    cr_assert_eq(atomic_load(&g_home.answered), 0, "the answers wait behind the held turn");
    cr_assert_eq(st.mailbox_len, HOME_TELLS, "level %llu: the tells only, not the %d answers",
                 (unsigned long long)st.mailbox_len, HOME_ASKS);
    atomic_store(&g_home.release, 1);
    TC_ASSERT_EVENTUALLY(atomic_load(&g_home.answered) == HOME_ASKS, 20000);
    /* 2 runs, the answers' continuations, the tells */
    TC_ASSERT_EVENTUALLY((tr_endpoint_call_stats(home, &st),
                          st.processed == 2 + HOME_ASKS + HOME_TELLS), 20000);
    cr_assert_eq(st.mailbox_len, 0, "level %llu after everything ran",
                 (unsigned long long)st.mailbox_len);
    /* Held again with 5 tells queued: exactly 5. A level that drifted by
     * the answers (counted one way, not the other) reads 0 or 305 here. */
    atomic_store(&g_home.held, 0);
    atomic_store(&g_home.release, 0);
    TC_OK(tr_endpoint_run_async(home, home_hold, NULL, 0));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_home.held), 20000);
    for (int i = HOME_TELLS + 1; i <= 2 * HOME_TELLS; i++)
        TC_OK(tcalc_note(to_home, &(tr_i64){i}));
    tr_endpoint_call_stats(home, &st);
    cr_assert_eq(st.mailbox_len, HOME_TELLS, "level %llu with %d tells queued",
                 (unsigned long long)st.mailbox_len, HOME_TELLS);
    atomic_store(&g_home.release, 1);
    cr_assert_eq(atomic_load(&g_home.wrong), 0);
    tr_gateway_release(g_home.to);
    tr_gateway_release(to_home);
    t_terminate(home);
    cr_assert_eq(((t_state *)tr_endpoint_state(home))->notes, 2 * HOME_TELLS);
    t_terminate(server);
    tr_endpoint_release(home);
    tr_endpoint_release(server);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
