/* The scheduler through the public API: 2 workers, external and
 * worker-side senders.
 *
 * Checks the actor invariants of actor.h / DESIGN.md: a behaviour never
 * runs on two threads at once (a per-actor "running now" counter never
 * exceeds 1), every message is processed exactly once, messages from one
 * sender to one actor arrive in the order sent, and sends made from inside
 * behaviours (ping-pong, rings, fan-out) all arrive. Behaviours never call
 * Criterion asserts (they run on worker threads); they count errors into
 * atomics that the test thread asserts on. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

static tr_service *new_service(unsigned batch, tr_msg_alloc alloc)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = batch;
    cfg.msg_alloc = alloc;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    cr_assert_not_null(svc);
    cr_assert_eq(tr_service_workers(svc), 2);
    return svc;
}

/* Errors seen on worker or sender threads; asserted zero by the test. */
static _Atomic uint64_t g_errors;
static void note_error(void) { atomic_fetch_add(&g_errors, 1); }

/* Entering and leaving a behaviour: a second concurrent turn of the same
 * actor would push `running` to 2. */
typedef struct excl {
    _Atomic int running;
    _Atomic int max_running;
} excl;

static void excl_enter(excl *e)
{
    tc_atomic_max(&e->max_running, atomic_fetch_add(&e->running, 1) + 1);
}
static void excl_leave(excl *e) { atomic_fetch_sub(&e->running, 1); }

/* ---- external senders ------------------------------------------------- */

enum { SENDERS = 4, ACTORS = 3, PER_SENDER = 25000 };

typedef struct payload {
    uint32_t sender, seq;
} payload;

typedef struct counter_state {
    excl ex;
    int64_t last_seq[SENDERS]; /* set to -1 by the spawner */
    uint64_t processed;        /* plain: each turn sees the one before */
    uint64_t order_errors;
} counter_state;

static _Atomic uint64_t g_processed;
static _Atomic unsigned char g_seen[SENDERS][PER_SENDER];

static void counter_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    counter_state *st = state;
    excl_enter(&st->ex);
    payload *p = tr_msg_data(m);
    if (m->tag != 7 || m->size != sizeof *p || p->sender >= SENDERS || p->seq >= PER_SENDER) {
        note_error();
    } else {
        if ((int64_t)p->seq <= st->last_seq[p->sender])
            st->order_errors++;
        st->last_seq[p->sender] = p->seq;
        atomic_fetch_add_explicit(&g_seen[p->sender][p->seq], 1, memory_order_relaxed);
    }
    /* Yield now and then, so a wrongly scheduled second turn would get to
     * run while this one is still inside. */
    if ((++st->processed & 63) == 0)
        sched_yield();
    excl_leave(&st->ex);
    tr_msg_free(m);
    /* release: the test's acquire of the final count sees the state. */
    atomic_fetch_add_explicit(&g_processed, 1, memory_order_release);
}

typedef struct sender_arg {
    tr_actor **actors;
    uint32_t id;
    _Atomic int *start;
} sender_arg;

static void *external_sender(void *p)
{
    sender_arg *a = p;
    while (!atomic_load_explicit(a->start, memory_order_acquire))
        sched_yield();
    for (uint32_t j = 0; j < PER_SENDER; j++) {
        tr_msg *m = tr_msg_new(7, sizeof(payload));
        if (!m) {
            note_error();
            continue;
        }
        *(payload *)tr_msg_data(m) = (payload){a->id, j};
        if (tr_send(a->actors[(j + a->id) % ACTORS], m) != 0) {
            note_error();
            tr_msg_free(m);
        }
    }
    return NULL;
}

static void run_external_senders(unsigned batch, tr_msg_alloc alloc)
{
    tr_service *svc = new_service(batch, alloc);
    tr_actor *actors[ACTORS];
    tr_actor_opts opts = {.behavior = counter_behavior, .state_size = sizeof(counter_state)};
    for (int i = 0; i < ACTORS; i++) {
        TC_OK(tr_spawn(svc, &opts, &actors[i]));
        counter_state *st = tr_actor_state(actors[i]);
        for (int s = 0; s < SENDERS; s++)
            st->last_seq[s] = -1;
    }
    _Atomic int start = 0;
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (uint32_t s = 0; s < SENDERS; s++) {
        args[s] = (sender_arg){actors, s, &start};
        cr_assert_eq(pthread_create(&th[s], NULL, external_sender, &args[s]), 0);
    }
    atomic_store_explicit(&start, 1, memory_order_release);
    for (int s = 0; s < SENDERS; s++)
        pthread_join(th[s], NULL);

    const uint64_t total = (uint64_t)SENDERS * PER_SENDER;
    bool done = tc_wait_u64(&g_processed, total, WAIT_MS);
    cr_assert(done, "processed %llu of %llu messages",
              (unsigned long long)atomic_load(&g_processed), (unsigned long long)total);
    cr_assert_eq(atomic_load(&g_errors), 0, "send or payload errors");
    for (int i = 0; i < ACTORS; i++) {
        counter_state *st = tr_actor_state(actors[i]);
        cr_assert_eq(atomic_load(&st->ex.max_running), 1, "actor %d ran %d turns at once", i,
                     atomic_load(&st->ex.max_running));
        cr_assert_eq(st->order_errors, 0, "actor %d: per-sender order broken", i);
        /* Sender s sends seq j to actor (j + s) % ACTORS. */
        uint64_t want = 0;
        for (uint32_t s = 0; s < SENDERS; s++)
            for (uint32_t j = 0; j < PER_SENDER; j++)
                want += (j + s) % ACTORS == (uint32_t)i;
        cr_assert_eq(st->processed, want, "actor %d processed %llu, sent %llu", i,
                     (unsigned long long)st->processed, (unsigned long long)want);
    }
    for (int s = 0; s < SENDERS; s++)
        for (int j = 0; j < PER_SENDER; j++)
            cr_assert_eq(atomic_load(&g_seen[s][j]), 1, "sender %d seq %d processed %u times", s,
                         j, (unsigned)atomic_load(&g_seen[s][j]));
    /* Nothing more arrives later (no duplicate queued behind). */
    tc_sleep_us(20000);
    cr_assert_eq(atomic_load(&g_processed), total);
    tr_sched_stats stats;
    tr_service_sched_stats(svc, &stats);
    cr_assert_gt(stats.injected, 0, "external sends schedule through the inject queue");
    for (int i = 0; i < ACTORS; i++)
        tr_actor_release(actors[i]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(sched, external_senders_exactly_once_in_order, .timeout = 40)
{
    run_external_senders(0, TR_MSG_ALLOC_DEFAULT);
}

Test(sched, external_senders_batch1_pool, .timeout = 40)
{
    /* batch 1: every message ends a turn, the reschedule path runs always. */
    run_external_senders(1, TR_MSG_ALLOC_POOL);
}

Test(sched, external_senders_batch3_malloc, .timeout = 40)
{
    run_external_senders(3, TR_MSG_ALLOC_MALLOC);
}

/* ---- ping-pong: worker-side sends --------------------------------------- */

enum { ROUND_TRIPS = 100000 };

typedef struct pp_state {
    excl ex;
    tr_actor *peer;
    uint64_t received;
} pp_state;

static _Atomic uint64_t g_pp_done;

static void pp_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    pp_state *st = state;
    excl_enter(&st->ex);
    st->received++;
    uint64_t *hop = tr_msg_data(m);
    excl_leave(&st->ex);
    if (*hop == 2 * (uint64_t)ROUND_TRIPS) {
        tr_msg_free(m);
        atomic_store_explicit(&g_pp_done, 1, memory_order_release);
        return;
    }
    ++*hop;
    /* Passing the message on: troupe owns it on 0, we do on error. */
    if (tr_send(st->peer, m) != 0) {
        note_error();
        tr_msg_free(m);
    }
}

static void run_ping_pong(tr_msg_alloc alloc)
{
    tr_service *svc = new_service(0, alloc);
    tr_actor_opts opts = {.behavior = pp_behavior, .state_size = sizeof(pp_state)};
    tr_actor *a, *b;
    TC_OK(tr_spawn(svc, &opts, &a));
    TC_OK(tr_spawn(svc, &opts, &b));
    ((pp_state *)tr_actor_state(a))->peer = b;
    ((pp_state *)tr_actor_state(b))->peer = a;
    tr_msg *m = tr_msg_new(1, sizeof(uint64_t));
    *(uint64_t *)tr_msg_data(m) = 0;
    TC_OK(tr_send(a, m));
    bool done = tc_wait_u64(&g_pp_done, 1, WAIT_MS);
    pp_state *sa = tr_actor_state(a), *sb = tr_actor_state(b);
    cr_assert(done, "ping-pong stalled: a got %llu, b got %llu", (unsigned long long)sa->received,
              (unsigned long long)sb->received);
    cr_assert_eq(atomic_load(&g_errors), 0);
    /* Hops 0..2K: even ones at a, odd ones at b. */
    cr_assert_eq(sa->received, (uint64_t)ROUND_TRIPS + 1);
    cr_assert_eq(sb->received, (uint64_t)ROUND_TRIPS);
    cr_assert_eq(atomic_load(&sa->ex.max_running), 1);
    cr_assert_eq(atomic_load(&sb->ex.max_running), 1);
    tr_actor_release(a);
    tr_actor_release(b);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(sched, ping_pong_round_trips, .timeout = 40)
{
    run_ping_pong(TR_MSG_ALLOC_DEFAULT);
}

Test(sched, ping_pong_round_trips_pool, .timeout = 40)
{
    run_ping_pong(TR_MSG_ALLOC_POOL);
}

/* ---- a ring with several tokens: worker-side sends, stealing ------------- */

enum { RING = 8, TOKENS = 6, RING_HOPS = 20000 };

typedef struct ring_state {
    excl ex;
    tr_actor *next;
    uint64_t received;
} ring_state;

typedef struct token {
    uint32_t id;
    uint32_t hops;
} token;

static _Atomic uint64_t g_ring_finished;
static _Atomic uint64_t g_ring_handled;

static void ring_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    ring_state *st = state;
    excl_enter(&st->ex);
    st->received++;
    excl_leave(&st->ex);
    token *t = tr_msg_data(m);
    atomic_fetch_add_explicit(&g_ring_handled, 1, memory_order_relaxed);
    if (++t->hops > RING_HOPS) {
        tr_msg_free(m);
        atomic_fetch_add_explicit(&g_ring_finished, 1, memory_order_release);
        return;
    }
    if (tr_send(st->next, m) != 0) {
        note_error();
        tr_msg_free(m);
    }
}

Test(sched, ring_of_actors_many_tokens, .timeout = 40)
{
    tr_service *svc = new_service(0, TR_MSG_ALLOC_DEFAULT);
    tr_actor_opts opts = {.behavior = ring_behavior, .state_size = sizeof(ring_state)};
    tr_actor *ring[RING];
    for (int i = 0; i < RING; i++)
        TC_OK(tr_spawn(svc, &opts, &ring[i]));
    for (int i = 0; i < RING; i++)
        ((ring_state *)tr_actor_state(ring[i]))->next = ring[(i + 1) % RING];
    for (uint32_t t = 0; t < TOKENS; t++) {
        tr_msg *m = tr_msg_new(2, sizeof(token));
        *(token *)tr_msg_data(m) = (token){t, 0};
        TC_OK(tr_send(ring[(t * 3) % RING], m));
    }
    bool done = tc_wait_u64(&g_ring_finished, TOKENS, WAIT_MS);
    cr_assert(done, "%llu of %d tokens finished, %llu hops handled",
              (unsigned long long)atomic_load(&g_ring_finished), TOKENS,
              (unsigned long long)atomic_load(&g_ring_handled));
    cr_assert_eq(atomic_load(&g_errors), 0);
    /* Each token is handled RING_HOPS + 1 times (its last handler frees it). */
    cr_assert_eq(atomic_load(&g_ring_handled), (uint64_t)TOKENS * (RING_HOPS + 1));
    uint64_t sum = 0;
    for (int i = 0; i < RING; i++) {
        ring_state *st = tr_actor_state(ring[i]);
        cr_assert_eq(atomic_load(&st->ex.max_running), 1, "ring actor %d ran twice at once", i);
        sum += st->received;
    }
    cr_assert_eq(sum, (uint64_t)TOKENS * (RING_HOPS + 1));
    for (int i = 0; i < RING; i++)
        tr_actor_release(ring[i]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- fan-out from inside behaviours: per-sender order, worker side ------- */

enum { PRODUCERS = 3, FAN = 20000 };

typedef struct sink_state {
    excl ex;
    int64_t last[PRODUCERS];
    uint64_t received[PRODUCERS];
    uint64_t order_errors;
} sink_state;

typedef struct prod_state {
    tr_actor *sink;
    uint32_t id;
} prod_state;

static _Atomic uint64_t g_sink_total;

static void sink_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    sink_state *st = state;
    excl_enter(&st->ex);
    payload *p = tr_msg_data(m);
    if (p->sender >= PRODUCERS) {
        note_error();
    } else {
        if ((int64_t)p->seq <= st->last[p->sender])
            st->order_errors++;
        st->last[p->sender] = p->seq;
        st->received[p->sender]++;
    }
    excl_leave(&st->ex);
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_sink_total, 1, memory_order_release);
}

/* One "go" message makes the producer send FAN messages in one turn, and
 * in chunks across turns when the go message asks for it. */
static void prod_behavior(tr_actor *self, void *state, tr_msg *go)
{
    prod_state *st = state;
    uint32_t *from = tr_msg_data(go);
    uint32_t end = *from + FAN / 4;
    for (uint32_t j = *from; j < end; j++) {
        tr_msg *m = tr_msg_new(3, sizeof(payload));
        *(payload *)tr_msg_data(m) = (payload){st->id, j};
        if (tr_send(st->sink, m) != 0) {
            note_error();
            tr_msg_free(m);
        }
    }
    if (end < FAN) {
        *from = end; /* continue in a later turn: a self-send */
        if (tr_send(self, go) != 0) {
            note_error();
            tr_msg_free(go);
        }
    } else {
        tr_msg_free(go);
    }
}

Test(sched, fan_out_from_behaviours_in_order, .timeout = 40)
{
    tr_service *svc = new_service(0, TR_MSG_ALLOC_POOL);
    tr_actor *sink, *prod[PRODUCERS];
    tr_actor_opts sopts = {.behavior = sink_behavior, .state_size = sizeof(sink_state)};
    TC_OK(tr_spawn(svc, &sopts, &sink));
    sink_state *ss = tr_actor_state(sink);
    for (int i = 0; i < PRODUCERS; i++)
        ss->last[i] = -1;
    tr_actor_opts popts = {.behavior = prod_behavior, .state_size = sizeof(prod_state)};
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        TC_OK(tr_spawn(svc, &popts, &prod[i]));
        *(prod_state *)tr_actor_state(prod[i]) = (prod_state){sink, i};
    }
    for (int i = 0; i < PRODUCERS; i++) {
        tr_msg *go = tr_msg_new(4, sizeof(uint32_t));
        *(uint32_t *)tr_msg_data(go) = 0;
        TC_OK(tr_send(prod[i], go));
    }
    bool done = tc_wait_u64(&g_sink_total, (uint64_t)PRODUCERS * FAN, WAIT_MS);
    cr_assert(done, "sink got %llu of %d", (unsigned long long)atomic_load(&g_sink_total),
              PRODUCERS * FAN);
    cr_assert_eq(atomic_load(&g_errors), 0);
    cr_assert_eq(atomic_load(&ss->ex.max_running), 1);
    cr_assert_eq(ss->order_errors, 0, "worker-side per-sender order broken");
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(ss->received[i], FAN, "from producer %d: %llu", i,
                     (unsigned long long)ss->received[i]);
    tc_sleep_us(20000);
    cr_assert_eq(atomic_load(&g_sink_total), (uint64_t)PRODUCERS * FAN, "extra deliveries");
    tr_actor_release(sink);
    for (int i = 0; i < PRODUCERS; i++)
        tr_actor_release(prod[i]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- many actors, external and internal senders mixed -------------------- */

enum { MANY = 200, MANY_MSGS = 50 };

typedef struct relay_state {
    excl ex;
    tr_actor *next; /* NULL: the end of a chain */
    uint64_t received;
} relay_state;

static _Atomic uint64_t g_chain_end;

static void relay_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    relay_state *st = state;
    excl_enter(&st->ex);
    st->received++;
    excl_leave(&st->ex);
    if (!st->next) {
        tr_msg_free(m);
        atomic_fetch_add_explicit(&g_chain_end, 1, memory_order_release);
    } else if (tr_send(st->next, m) != 0) {
        note_error();
        tr_msg_free(m);
    }
}

Test(sched, many_actors_chains, .timeout = 40)
{
    /* 200 actors in 10 chains of 20; each chain head gets 50 messages from
     * the test thread; every message must reach its chain's end. More
     * runnable actors than a "next" slot holds, so deques and stealing
     * carry the load. */
    tr_service *svc = new_service(0, TR_MSG_ALLOC_DEFAULT);
    tr_actor *act[MANY];
    tr_actor_opts opts = {.behavior = relay_behavior, .state_size = sizeof(relay_state)};
    for (int i = 0; i < MANY; i++)
        TC_OK(tr_spawn(svc, &opts, &act[i]));
    cr_assert_eq(tr_service_live_actors(svc), MANY);
    for (int i = 0; i < MANY; i++)
        ((relay_state *)tr_actor_state(act[i]))->next = (i % 20 == 19) ? NULL : act[i + 1];
    for (int k = 0; k < MANY_MSGS; k++)
        for (int c = 0; c < MANY / 20; c++) {
            tr_msg *m = tr_msg_new(5, 8);
            TC_OK(tr_send(act[c * 20], m));
        }
    uint64_t want = (uint64_t)MANY_MSGS * (MANY / 20);
    cr_assert(tc_wait_u64(&g_chain_end, want, WAIT_MS), "%llu of %llu reached the end",
              (unsigned long long)atomic_load(&g_chain_end), (unsigned long long)want);
    cr_assert_eq(atomic_load(&g_errors), 0);
    for (int i = 0; i < MANY; i++) {
        relay_state *st = tr_actor_state(act[i]);
        cr_assert_eq(st->received, MANY_MSGS, "actor %d got %llu", i,
                     (unsigned long long)st->received);
        cr_assert_eq(atomic_load(&st->ex.max_running), 1);
    }
    for (int i = 0; i < MANY; i++)
        tr_actor_release(act[i]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- fairness: busy worker-local traffic must not starve injected work --- */

static _Atomic int g_bounce_stop;
static _Atomic uint64_t g_bounce_hops, g_tokens_left, g_bystander;

typedef struct bounce_state {
    tr_actor *peer;
} bounce_state;

static void bounce_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    bounce_state *st = state;
    atomic_fetch_add_explicit(&g_bounce_hops, 1, memory_order_relaxed);
    if (atomic_load_explicit(&g_bounce_stop, memory_order_relaxed) || tr_send(st->peer, m) != 0) {
        tr_msg_free(m);
        atomic_fetch_sub(&g_tokens_left, 1);
    }
}

static void bystander_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_bystander, 1, memory_order_release);
}

Test(sched, injected_work_not_starved_by_busy_pairs, .timeout = 60)
{
    /* Two pairs bounce tokens endlessly, each pair keeping one worker busy
     * with worker-side sends. Messages sent from outside to other actors at
     * the same moment must still be processed promptly: an actor with
     * messages is never left waiting indefinitely (DESIGN.md invariant 5).
     * The bystanders enter the inject queue together with the bouncers, so
     * some are moved to a worker's deque behind them. Fresh service per
     * round: the bad interleaving needs a particular start-up order. */
    enum { ROUNDS = 30, BYSTANDERS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        tr_service *svc = new_service(0, TR_MSG_ALLOC_DEFAULT);
        atomic_store(&g_bounce_stop, 0);
        atomic_store(&g_bystander, 0);
        tr_actor_opts bopts = {.behavior = bounce_behavior, .state_size = sizeof(bounce_state)};
        tr_actor *p[4], *y[BYSTANDERS];
        for (int i = 0; i < 4; i++)
            TC_OK(tr_spawn(svc, &bopts, &p[i]));
        for (int i = 0; i < 4; i++)
            ((bounce_state *)tr_actor_state(p[i]))->peer = p[i ^ 1];
        tr_actor_opts yopts = {.behavior = bystander_behavior};
        for (int i = 0; i < BYSTANDERS; i++)
            TC_OK(tr_spawn(svc, &yopts, &y[i]));
        for (int i = 0; i < 32; i++) {
            atomic_fetch_add(&g_tokens_left, 1);
            TC_OK(tr_send(p[(i & 1) + 2 * ((i >> 1) & 1)], tr_msg_new(1, 8)));
            if (i % 8 == 7)
                TC_OK(tr_send(y[i / 8], tr_msg_new(2, 8)));
        }
        bool ran = tc_wait_u64(&g_bystander, BYSTANDERS, 2000);
        cr_assert(ran, "round %d: only %llu of %d externally sent messages processed after "
                  "2 s beside busy ping-pong pairs (%llu hops meanwhile)", round,
                  (unsigned long long)atomic_load(&g_bystander), BYSTANDERS,
                  (unsigned long long)atomic_load(&g_bounce_hops));
        atomic_store(&g_bounce_stop, 1);
        TC_ASSERT_EVENTUALLY(atomic_load(&g_tokens_left) == 0, WAIT_MS);
        for (int i = 0; i < 4; i++)
            tr_actor_release(p[i]);
        for (int i = 0; i < BYSTANDERS; i++)
            tr_actor_release(y[i]);
        tr_service_destroy(svc);
    }
    TC_ASSERT_NO_LEAKS();
}
