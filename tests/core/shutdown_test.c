/* Shutdown and destroy with work in flight, and two services side by side.
 *
 * service.h: tr_service_destroy shuts down, drops and frees every queued
 * message (on_drop) and frees every actor still held (on_stop for those
 * alive). So for every message tr_send accepted, processed + dropped ==
 * accepted, each actor's on_stop runs exactly once, and under ASan nothing
 * leaks (TC_ASSERT_NO_LEAKS, common/check.h: LSan alone would not fail a
 * Criterion test). */
#include <pthread.h>
#include <sched.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define WAIT_MS 10000

enum { TAG_EXT = 1, TAG_TOKEN, TAG_GATE };

/* Per-kind accounting, all relaxed counters read after joins/destroy. */
static _Atomic uint64_t g_ext_processed, g_ext_dropped;
static _Atomic uint64_t g_tok_created, g_tok_ended, g_tok_dropped, g_tok_failed;
static _Atomic uint64_t g_on_stop, g_errors;
static _Atomic int g_gate_entered;

typedef struct node_state {
    tr_actor *peer;      /* bouncers: where tokens go next */
    uint32_t stops;      /* on_stop calls for this actor */
    uint32_t spin_ns;    /* work per external message */
} node_state;

static void node_behavior(tr_actor *self, void *state, tr_msg *m)
{
    node_state *st = state;
    switch (m->tag) {
    case TAG_TOKEN: {
        uint64_t *hops = tr_msg_data(m);
        if (++*hops >= 50000000u) { /* bounded, never reached in practice */
            tr_msg_free(m);
            atomic_fetch_add(&g_tok_ended, 1);
            return;
        }
        if (tr_send(st->peer, m) != 0) {
            tr_msg_free(m); /* still ours after a failed send */
            atomic_fetch_add(&g_tok_failed, 1);
        }
        return;
    }
    case TAG_GATE: {
        /* Hold the worker for up to 100 ms so the mailbox fills behind. */
        atomic_store(&g_gate_entered, 1);
        uint64_t end = tc_deadline_ms(100);
        while (tc_now_ns() < end)
            tc_sleep_us(1000);
        break;
    }
    case TAG_EXT: {
        uint64_t end = tc_now_ns() + st->spin_ns;
        while (tc_now_ns() < end) {
        }
        break;
    }
    default:
        atomic_fetch_add(&g_errors, 1);
    }
    tr_msg_free(m);
    atomic_fetch_add(&g_ext_processed, 1);
    (void)self;
}

static void node_on_drop(tr_actor *self, void *state, tr_msg *m)
{
    if (state != tr_actor_state(self))
        atomic_fetch_add(&g_errors, 1);
    if (m->tag == TAG_TOKEN)
        atomic_fetch_add(&g_tok_dropped, 1);
    else
        atomic_fetch_add(&g_ext_dropped, 1);
    tr_msg_free(m);
}

static void node_on_stop(tr_actor *self, void *state)
{
    node_state *st = state;
    if (state != tr_actor_state(self))
        atomic_fetch_add(&g_errors, 1);
    st->stops++;
    atomic_fetch_add(&g_on_stop, 1);
}

static const tr_actor_opts node_opts = {
    .behavior = node_behavior,
    .on_stop = node_on_stop,
    .on_drop = node_on_drop,
    .state_size = sizeof(node_state),
};

static tr_service *new_service(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

static tr_actor *spawn_node(tr_service *svc, uint32_t spin_ns)
{
    tr_actor *a;
    TC_OK(tr_spawn(svc, &node_opts, &a));
    ((node_state *)tr_actor_state(a))->spin_ns = spin_ns;
    return a;
}

/* A pair of actors bouncing `tokens` messages between them endlessly. */
static void spawn_bouncers(tr_service *svc, tr_actor **a, tr_actor **b, int tokens)
{
    *a = spawn_node(svc, 0);
    *b = spawn_node(svc, 0);
    ((node_state *)tr_actor_state(*a))->peer = *b;
    ((node_state *)tr_actor_state(*b))->peer = *a;
    for (int i = 0; i < tokens; i++) {
        tr_msg *m = tr_msg_new(TAG_TOKEN, sizeof(uint64_t));
        *(uint64_t *)tr_msg_data(m) = 0;
        atomic_fetch_add(&g_tok_created, 1);
        TC_OK(tr_send(i & 1 ? *b : *a, m));
    }
}

static uint64_t send_ext(tr_actor *a)
{
    tr_msg *m = tr_msg_new(TAG_EXT, 16);
    if (!m) {
        atomic_fetch_add(&g_errors, 1);
        return 0;
    }
    if (tr_send(a, m) == 0)
        return 1;
    tr_msg_free(m);
    return 0;
}

typedef struct ext_arg {
    tr_actor **targets;
    int ntargets;
    uint64_t max;          /* messages to send at most */
    _Atomic int *stop;     /* NULL: send all `max` */
    uint64_t accepted;     /* out */
    uint64_t rejected;     /* out */
} ext_arg;

static void *ext_sender(void *p)
{
    ext_arg *a = p;
    for (uint64_t i = 0; i < a->max; i++) {
        if (a->stop && atomic_load_explicit(a->stop, memory_order_relaxed))
            break;
        if (send_ext(a->targets[i % (uint64_t)a->ntargets]))
            a->accepted++;
        else
            a->rejected++;
    }
    return NULL;
}

static void check_conservation(uint64_t ext_accepted, const char *when)
{
    uint64_t proc = atomic_load(&g_ext_processed), drop = atomic_load(&g_ext_dropped);
    cr_assert_eq(proc + drop, ext_accepted,
                 "%s: processed %llu + dropped %llu != accepted %llu", when,
                 (unsigned long long)proc, (unsigned long long)drop,
                 (unsigned long long)ext_accepted);
    uint64_t created = atomic_load(&g_tok_created);
    uint64_t ended = atomic_load(&g_tok_ended) + atomic_load(&g_tok_dropped) +
                     atomic_load(&g_tok_failed);
    cr_assert_eq(ended, created,
                 "%s: tokens created %llu, ended %llu (dropped %llu, send failed %llu)", when,
                 (unsigned long long)created, (unsigned long long)ended,
                 (unsigned long long)atomic_load(&g_tok_dropped),
                 (unsigned long long)atomic_load(&g_tok_failed));
    cr_assert_eq(atomic_load(&g_errors), 0, "%s: errors", when);
}

Test(shutdown, destroy_with_messages_in_flight, .timeout = 30)
{
    tr_service *svc = new_service();
    enum { SLOW = 4, PAIRS = 2, TOKENS = 16, EXT = 2, EXT_PER = 30000 };
    tr_actor *slow[SLOW], *ba[PAIRS], *bb[PAIRS];

    /* A stopped actor whose handle is still held at destroy. */
    tr_actor *stopped = spawn_node(svc, 0);
    TC_OK(tr_actor_stop_async(stopped));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_on_stop) == 1, WAIT_MS);

    /* One actor held in a long turn, with a long mailbox behind it. Its
     * turn starts before the bouncers run, so it does not depend on the
     * scheduler's fairness (sched_test checks that separately); the same
     * goes for the stop above. */
    tr_actor *gated = spawn_node(svc, 0);
    tr_msg *g = tr_msg_new(TAG_GATE, 8);
    uint64_t accepted = 0;
    TC_OK(tr_send(gated, g));
    accepted++;
    TC_ASSERT_EVENTUALLY(atomic_load(&g_gate_entered), WAIT_MS);
    for (int i = 0; i < 5000; i++)
        accepted += send_ext(gated);

    for (int i = 0; i < SLOW; i++)
        slow[i] = spawn_node(svc, 2000);
    for (int i = 0; i < PAIRS; i++)
        spawn_bouncers(svc, &ba[i], &bb[i], TOKENS);

    pthread_t th[EXT];
    ext_arg args[EXT];
    for (int i = 0; i < EXT; i++) {
        args[i] = (ext_arg){.targets = slow, .ntargets = SLOW, .max = EXT_PER};
        cr_assert_eq(pthread_create(&th[i], NULL, ext_sender, &args[i]), 0);
    }
    for (int i = 0; i < EXT; i++) {
        pthread_join(th[i], NULL);
        accepted += args[i].accepted;
        cr_assert_eq(args[i].rejected, 0, "sends to running actors failed");
    }
    /* Give some handles back before destroy; destroy frees the rest. */
    tr_actor_release(slow[0]);
    tr_actor_release(slow[1]);
    tr_actor_release(ba[0]);
    uint64_t live = tr_service_live_actors(svc);
    cr_assert_eq(live, SLOW + 2 * PAIRS + 2, "released running actors stay alive");

    tr_service_destroy(svc);
    TC_LOG("processed %llu, dropped %llu, tokens dropped %llu",
                (unsigned long long)atomic_load(&g_ext_processed),
                (unsigned long long)atomic_load(&g_ext_dropped),
                (unsigned long long)atomic_load(&g_tok_dropped));
    check_conservation(accepted, "destroy");
    cr_assert_eq(atomic_load(&g_on_stop), live, "on_stop once per actor (%llu live)",
                 (unsigned long long)live);
    cr_assert_gt(atomic_load(&g_tok_dropped) + atomic_load(&g_tok_failed), 0,
                 "endless tokens were still in flight and must have been dropped");
    TC_ASSERT_NO_LEAKS();
}

Test(shutdown, shutdown_while_external_senders_run, .timeout = 30)
{
    /* Senders keep going through tr_service_shutdown: each send is either
     * accepted (then processed or dropped by destroy) or refused. */
    tr_service *svc = new_service();
    enum { N = 3, EXT = 4 };
    tr_actor *act[N];
    for (int i = 0; i < N; i++)
        act[i] = spawn_node(svc, 500);
    _Atomic int stop = 0;
    pthread_t th[EXT];
    ext_arg args[EXT];
    for (int i = 0; i < EXT; i++) {
        args[i] = (ext_arg){.targets = act, .ntargets = N, .max = 200000, .stop = &stop};
        cr_assert_eq(pthread_create(&th[i], NULL, ext_sender, &args[i]), 0);
    }
    tc_sleep_us(50000);
    TC_OK(tr_service_shutdown(svc));
    tc_sleep_us(20000);
    atomic_store(&stop, 1);
    uint64_t accepted = 0, rejected = 0;
    for (int i = 0; i < EXT; i++) {
        pthread_join(th[i], NULL);
        accepted += args[i].accepted;
        rejected += args[i].rejected;
    }
    /* The workers are gone; nothing is processed from here on. */
    uint64_t proc = atomic_load(&g_ext_processed);
    tc_sleep_us(20000);
    cr_assert_eq(atomic_load(&g_ext_processed), proc, "processing after shutdown returned");
    tr_actor *late = NULL;
    TC_ERR(tr_spawn(svc, &node_opts, &late), TR_ESTOPPED);
    tr_service_destroy(svc);
    TC_LOG("accepted %llu, rejected %llu", (unsigned long long)accepted,
                (unsigned long long)rejected);
    check_conservation(accepted, "shutdown");
    cr_assert_eq(atomic_load(&g_on_stop), N);
    TC_ASSERT_NO_LEAKS();
}

Test(shutdown, repeated_create_destroy_with_work, .timeout = 40)
{
    tc_rng rng;
    tc_rng_seed(&rng, 777);
    uint64_t accepted = 0, live_total = 0;
    for (int round = 0; round < 30; round++) {
        tr_service *svc = new_service();
        if (round % 5 == 0) { /* sometimes nothing at all */
            tr_service_destroy(svc);
            continue;
        }
        tr_actor *a, *b;
        spawn_bouncers(svc, &a, &b, 4);
        tr_actor *sink = spawn_node(svc, 100);
        for (int i = 0; i < 1000; i++)
            accepted += send_ext(sink);
        if (round & 1)
            tr_actor_release(sink);
        live_total += tr_service_live_actors(svc);
        tc_sleep_us((unsigned)tc_rng_below(&rng, 3000));
        tr_service_destroy(svc);
        check_conservation(accepted, "round");
        cr_assert_eq(atomic_load(&g_on_stop), live_total, "round %d", round);
    }
    TC_ASSERT_NO_LEAKS();
}

/* ---- two services share nothing ------------------------------------------ */

typedef struct svc_counter {
    tr_service *expect; /* the service this actor must belong to */
    uint64_t got;
} svc_counter;

static _Atomic uint64_t g_got[2];

static void svc_behavior(tr_actor *self, void *state, tr_msg *m)
{
    svc_counter *st = state;
    if (tr_actor_service(self) != st->expect || m->tag > 1)
        atomic_fetch_add(&g_errors, 1);
    else
        atomic_fetch_add_explicit(&g_got[m->tag], 1, memory_order_release);
    st->got++;
    tr_msg_free(m);
}

Test(shutdown, two_services_independent, .timeout = 30)
{
    tr_service *s[2] = {new_service(), new_service()};
    cr_assert_neq(s[0], s[1]);
    tr_actor_opts opts = {.behavior = svc_behavior, .state_size = sizeof(svc_counter)};
    tr_actor *a[2][3];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < (k ? 1 : 3); i++) {
            TC_OK(tr_spawn(s[k], &opts, &a[k][i]));
            ((svc_counter *)tr_actor_state(a[k][i]))->expect = s[k];
            cr_assert_eq(tr_actor_service(a[k][i]), s[k]);
        }
    cr_assert_eq(tr_service_live_actors(s[0]), 3, "live counts are per service");
    cr_assert_eq(tr_service_live_actors(s[1]), 1);

    for (int i = 0; i < 10000; i++) {
        for (int k = 0; k < 2; k++) {
            tr_msg *m = tr_msg_new((uint32_t)k, 8);
            TC_OK(tr_send(a[k][0], m));
        }
    }
    cr_assert(tc_wait_u64(&g_got[0], 10000, WAIT_MS));
    cr_assert(tc_wait_u64(&g_got[1], 10000, WAIT_MS));

    /* Shutting one down leaves the other running. */
    TC_OK(tr_service_shutdown(s[0]));
    tr_actor *x;
    TC_ERR(tr_spawn(s[0], &opts, &x), TR_ESTOPPED);
    TC_OK(tr_spawn(s[1], &opts, &x));
    ((svc_counter *)tr_actor_state(x))->expect = s[1];
    for (int i = 0; i < 1000; i++)
        TC_OK(tr_send(x, tr_msg_new(1, 8)));
    cr_assert(tc_wait_u64(&g_got[1], 11000, WAIT_MS), "second service stalled");
    cr_assert_eq(tr_service_live_actors(s[1]), 2);

    /* Destroying one leaves the other working. */
    tr_service_destroy(s[0]);
    for (int i = 0; i < 1000; i++)
        TC_OK(tr_send(a[1][0], tr_msg_new(1, 8)));
    cr_assert(tc_wait_u64(&g_got[1], 12000, WAIT_MS), "second service stalled after destroy");
    cr_assert_eq(atomic_load(&g_got[0]), 10000);
    cr_assert_eq(atomic_load(&g_errors), 0, "an actor saw the wrong service or message");
    tr_actor_release(x);
    tr_actor_release(a[1][0]);
    tr_service_destroy(s[1]);
    TC_ASSERT_NO_LEAKS();
}

Test(shutdown, destroy_idle_service, .timeout = 10)
{
    tr_service *svc = new_service();
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
