/* Actor lifecycle and the public API's edges (troupe/actor.h):
 * tr_actor_stop / tr_actor_stop_async, on_stop and on_drop accounting,
 * live-actor counts, argument errors, tr_actor_current, state handling and
 * message sizes. Behaviours count into atomics; the test thread asserts. */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define WAIT_MS 5000 /* below every .timeout, so a stall reports what it waited for */

enum { TAG_WORK = 1, TAG_STOP, TAG_SHUTDOWN, TAG_CURRENT, TAG_GATE };

static _Atomic uint64_t g_processed, g_dropped, g_on_stop, g_errors;
static _Atomic uint64_t g_after_stop;  /* turns run after tr_actor_stop */
static _Atomic int g_shutdown_rv = 1;  /* 1: not called yet */
static _Atomic int g_current_ok = -1;  /* -1: not checked yet */
static pthread_t g_on_stop_thread;
static _Atomic int g_gate;             /* TAG_GATE turns wait for it */
static _Atomic int g_in_gate;

typedef struct life_state {
    bool stop_called;
    uint64_t processed;
} life_state;

static void life_behavior(tr_actor *self, void *state, tr_msg *m)
{
    life_state *st = state;
    if (st->stop_called)
        atomic_fetch_add(&g_after_stop, 1);
    if (state != tr_actor_state(self))
        atomic_fetch_add(&g_errors, 1);
    switch (m->tag) {
    case TAG_STOP:
        st->stop_called = true;
        tr_actor_stop(self);
        break;
    case TAG_SHUTDOWN:
        atomic_store(&g_shutdown_rv, tr_service_shutdown(tr_actor_service(self)));
        break;
    case TAG_CURRENT:
        atomic_store(&g_current_ok, tr_actor_current() == self);
        break;
    case TAG_GATE: {
        atomic_store(&g_in_gate, 1);
        uint64_t dl = tc_deadline_ms(WAIT_MS);
        while (!atomic_load(&g_gate) && tc_poll(dl)) {
        }
        break;
    }
    default:
        break;
    }
    st->processed++;
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_processed, 1, memory_order_release);
}

static void life_on_stop(tr_actor *self, void *state)
{
    if (state != tr_actor_state(self))
        atomic_fetch_add(&g_errors, 1);
    g_on_stop_thread = pthread_self();
    atomic_fetch_add_explicit(&g_on_stop, 1, memory_order_release);
}

static void life_on_drop(tr_actor *self, void *state, tr_msg *m)
{
    if (state != tr_actor_state(self) || m->tag != TAG_WORK)
        atomic_fetch_add(&g_errors, 1);
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_dropped, 1, memory_order_release);
}

static const tr_actor_opts life_opts = {
    .behavior = life_behavior,
    .on_stop = life_on_stop,
    .on_drop = life_on_drop,
    .state_size = sizeof(life_state),
};

static tr_service *new_service(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* Sends a message with `tag`; returns tr_send's result, freeing the
 * message when the send failed (the caller still owns it then). */
static int send_tag(tr_actor *a, uint32_t tag)
{
    tr_msg *m = tr_msg_new(tag, 16);
    cr_assert_not_null(m);
    int rv = tr_send(a, m);
    if (rv != 0)
        tr_msg_free(m);
    return rv;
}

Test(actor, stop_from_behaviour_drops_the_rest, .timeout = 30)
{
    /* 100 work messages, a stop, 100 more. The stop ends the actor after
     * its turn: the behaviour never runs again, what was accepted after the
     * stop goes to on_drop, later sends fail with TR_ESTOPPED. */
    tr_service *svc = new_service();
    tr_actor *a;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    cr_assert_eq(tr_actor_service(a), svc);
    for (int i = 0; i < 100; i++)
        TC_OK(send_tag(a, TAG_WORK));
    TC_OK(send_tag(a, TAG_STOP));
    uint64_t accepted_after = 0;
    for (int i = 0; i < 100; i++) {
        int rv = send_tag(a, TAG_WORK);
        cr_assert(rv == 0 || rv == TR_ESTOPPED, "send after stop: %s", tr_errname(rv));
        accepted_after += rv == 0;
    }
    cr_assert(tc_wait_u64(&g_on_stop, 1, WAIT_MS), "on_stop never ran");
    /* Stopped now: sends fail and the caller keeps the message. */
    for (int i = 0; i < 10; i++)
        TC_ERR(send_tag(a, TAG_WORK), TR_ESTOPPED);
    cr_assert_eq(tr_actor_stop_async(a), TR_ESTOPPED);

    tr_actor_release(a);
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, WAIT_MS);
    cr_assert_eq(atomic_load(&g_after_stop), 0, "behaviour ran after tr_actor_stop");
    cr_assert_eq(atomic_load(&g_processed), 101, "the 100 before and the stop itself");
    cr_assert_eq(atomic_load(&g_dropped), accepted_after, "sent == processed + dropped");
    cr_assert_eq(atomic_load(&g_on_stop), 1);
    cr_assert_eq(atomic_load(&g_errors), 0);
    tr_service_destroy(svc);
    cr_assert_eq(atomic_load(&g_on_stop), 1, "on_stop ran again at destroy");
    cr_assert_eq(atomic_load(&g_dropped), accepted_after);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, stop_from_behaviour_races_sends, .timeout = 30)
{
    /* The stop takes effect on a worker while this thread keeps sending:
     * whatever tr_send accepted is processed or dropped, exactly once. */
    tr_service *svc = new_service();
    for (int round = 0; round < 20; round++) {
        atomic_store(&g_processed, 0);
        atomic_store(&g_dropped, 0);
        atomic_store(&g_on_stop, 0);
        tr_actor *a;
        TC_OK(tr_spawn(svc, &life_opts, &a));
        uint64_t accepted = 0, rejected = 0;
        const int stop_at = 500 + round * 37;
        for (int i = 0; i < 2000; i++) {
            if (i == stop_at) {
                TC_OK(send_tag(a, TAG_STOP));
                accepted++;
            }
            int rv = send_tag(a, TAG_WORK);
            cr_assert(rv == 0 || rv == TR_ESTOPPED);
            if (rv == 0)
                accepted++;
            else
                rejected++;
            if (i % 256 == 0)
                sched_yield();
        }
        cr_assert(tc_wait_u64(&g_on_stop, 1, WAIT_MS));
        tr_actor_release(a);
        TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, WAIT_MS);
        cr_assert_eq(atomic_load(&g_processed) + atomic_load(&g_dropped), accepted,
                     "round %d: processed %llu + dropped %llu != accepted %llu", round,
                     (unsigned long long)atomic_load(&g_processed),
                     (unsigned long long)atomic_load(&g_dropped), (unsigned long long)accepted);
        cr_assert_eq(atomic_load(&g_processed), (uint64_t)stop_at + 1,
                     "round %d: the %d before the stop and the stop itself", round, stop_at);
        cr_assert_eq(atomic_load(&g_on_stop), 1);
        TC_LOG("round %d: %llu accepted, %llu rejected", round, (unsigned long long)accepted,
                    (unsigned long long)rejected);
    }
    cr_assert_eq(atomic_load(&g_after_stop), 0);
    cr_assert_eq(atomic_load(&g_errors), 0);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, stop_async_processes_earlier_messages, .timeout = 30)
{
    /* The stop is queued like a message: the 1000 sent before it are all
     * processed, none dropped. */
    tr_service *svc = new_service();
    tr_actor *a;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    for (int i = 0; i < 1000; i++)
        TC_OK(send_tag(a, TAG_WORK));
    TC_OK(tr_actor_stop_async(a));
    cr_assert(tc_wait_u64(&g_on_stop, 1, WAIT_MS), "on_stop never ran");
    cr_assert_eq(atomic_load(&g_processed), 1000);
    cr_assert_eq(atomic_load(&g_dropped), 0);
    TC_ERR(send_tag(a, TAG_WORK), TR_ESTOPPED);
    TC_ERR(tr_actor_stop_async(a), TR_ESTOPPED);
    tr_actor_release(a);
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, WAIT_MS);
    cr_assert_eq(atomic_load(&g_on_stop), 1);
    cr_assert_eq(atomic_load(&g_dropped), 0);
    cr_assert_eq(atomic_load(&g_errors), 0);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, stop_async_of_idle_actor, .timeout = 10)
{
    /* An actor that never got a message stops too (the stop schedules it). */
    tr_service *svc = new_service();
    tr_actor *a;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    TC_OK(tr_actor_stop_async(a));
    cr_assert(tc_wait_u64(&g_on_stop, 1, WAIT_MS));
    cr_assert_eq(atomic_load(&g_processed), 0, "the stop is not a user message");
    tr_actor_release(a);
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, WAIT_MS);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, live_count_follows_stop_and_release, .timeout = 20)
{
    tr_service *svc = new_service();
    cr_assert_eq(tr_service_live_actors(svc), 0);
    tr_actor *a, *b, *c;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    TC_OK(tr_spawn(svc, &life_opts, &b));
    TC_OK(tr_spawn(svc, &life_opts, &c));
    cr_assert_eq(tr_service_live_actors(svc), 3);

    /* Stopped but still referenced: not freed, still counted. */
    TC_OK(tr_actor_stop_async(a));
    cr_assert(tc_wait_u64(&g_on_stop, 1, WAIT_MS));
    tc_sleep_us(50000);
    cr_assert_eq(tr_service_live_actors(svc), 3, "freed while a reference is held");
    tr_actor_release(a);
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 2, WAIT_MS);

    /* Released but running: it holds itself alive until it stops. */
    tr_actor_retain(b); /* a second handle, given back at once */
    tr_actor_release(b);
    TC_OK(send_tag(b, TAG_WORK));
    TC_OK(tr_actor_stop_async(b));
    tr_actor_release(b);
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 1, WAIT_MS);
    cr_assert_eq(atomic_load(&g_on_stop), 2);
    cr_assert_eq(atomic_load(&g_processed), 1, "b processed its message before stopping");

    /* c is alive at destroy: on_stop runs there, on the destroying thread. */
    tr_actor_release(c);
    tc_sleep_us(20000);
    cr_assert_eq(tr_service_live_actors(svc), 1, "a running actor freed on release");
    tr_service_destroy(svc);
    cr_assert_eq(atomic_load(&g_on_stop), 3);
    cr_assert(pthread_equal(g_on_stop_thread, pthread_self()),
              "on_stop of an actor alive at destroy runs on the destroying thread");
    cr_assert_eq(atomic_load(&g_errors), 0);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, argument_errors, .timeout = 10)
{
    tr_service *svc = new_service();
    tr_actor *a = NULL;
    tr_msg *m = tr_msg_new(TAG_WORK, 8);
    cr_assert_not_null(m);
    TC_ERR(tr_send(NULL, m), TR_EINVAL);
    tr_msg_free(m); /* still ours after the failed send */

    tr_actor_opts none = {.state_size = 16};
    TC_ERR(tr_spawn(svc, &none, &a), TR_EINVAL);
    TC_ERR(tr_spawn(svc, NULL, &a), TR_EINVAL);
    TC_ERR(tr_spawn(svc, &life_opts, NULL), TR_EINVAL);
    TC_ERR(tr_spawn(NULL, &life_opts, &a), TR_EINVAL);
    cr_assert_null(a, "failed spawn wrote *out");
    cr_assert_eq(tr_service_live_actors(svc), 0, "failed spawn left an actor behind");

    TC_OK(tr_spawn(svc, &life_opts, &a));
    TC_ERR(tr_send(a, NULL), TR_EINVAL);
    tr_actor_release(a);
    tr_service_destroy(svc);
    cr_assert_eq(atomic_load(&g_processed), 0);
}

Test(actor, spawn_after_shutdown_fails, .timeout = 10)
{
    tr_service *svc = new_service();
    tr_actor *a = NULL;
    TC_OK(tr_service_shutdown(svc));
    TC_ERR(tr_spawn(svc, &life_opts, &a), TR_ESTOPPED);
    cr_assert_null(a);
    TC_OK(tr_service_shutdown(svc)); /* idempotent */
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, shutdown_from_behaviour_is_edeadlk, .timeout = 10)
{
    /* A worker cannot wait for itself to stop. The call must fail without
     * effect: the service keeps running. */
    tr_service *svc = new_service();
    tr_actor *a;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    TC_OK(send_tag(a, TAG_SHUTDOWN));
    cr_assert(tc_wait_u64(&g_processed, 1, WAIT_MS));
    TC_ERR(atomic_load(&g_shutdown_rv), TR_EDEADLK);
    TC_OK(send_tag(a, TAG_WORK));
    cr_assert(tc_wait_u64(&g_processed, 2, WAIT_MS), "service stopped by a failed shutdown");
    tr_actor *b;
    TC_OK(tr_spawn(svc, &life_opts, &b));
    tr_actor_release(b);
    tr_actor_release(a);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

static void *current_elsewhere(void *p)
{
    *(bool *)p = tr_actor_current() == NULL;
    return NULL;
}

Test(actor, current_actor, .timeout = 10)
{
    cr_assert_null(tr_actor_current(), "no actor before any service");
    tr_service *svc = new_service();
    tr_actor *a;
    TC_OK(tr_spawn(svc, &life_opts, &a));
    cr_assert_null(tr_actor_current());
    TC_OK(send_tag(a, TAG_CURRENT));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_current_ok) != -1, WAIT_MS);
    cr_assert_eq(atomic_load(&g_current_ok), 1, "tr_actor_current() != self inside a turn");
    cr_assert_null(tr_actor_current(), "still NULL on the test thread");
    bool null_elsewhere = false;
    pthread_t th;
    pthread_create(&th, NULL, current_elsewhere, &null_elsewhere);
    pthread_join(th, NULL);
    cr_assert(null_elsewhere, "NULL on a thread that is no worker");
    tr_actor_release(a);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- state: zeroed, spawner's writes visible, aligned -------------------- */

enum { BIG_STATE = 1000 };

typedef struct big_state {
    uint64_t magic; /* written by the spawner before the first send */
    unsigned char rest[BIG_STATE - 8];
} big_state;

static _Atomic int g_state_verdict = -1;

static void state_behavior(tr_actor *self, void *state, tr_msg *m)
{
    big_state *st = state;
    int ok = state == tr_actor_state(self) && st->magic == 0x7472757065ull &&
             (uintptr_t)state % _Alignof(max_align_t) == 0;
    for (size_t i = 0; i < sizeof st->rest; i++)
        ok &= st->rest[i] == 0;
    atomic_store_explicit(&g_state_verdict, ok, memory_order_release);
    tr_msg_free(m);
}

Test(actor, state_zeroed_and_initialised_by_spawner, .timeout = 10)
{
    tr_service *svc = new_service();
    tr_actor_opts opts = {.behavior = state_behavior, .state_size = sizeof(big_state)};
    /* Several actors so freed memory gets reused: it must be zeroed again. */
    for (int k = 0; k < 8; k++) {
        atomic_store(&g_state_verdict, -1);
        tr_actor *a;
        TC_OK(tr_spawn(svc, &opts, &a));
        big_state *st = tr_actor_state(a);
        cr_assert_not_null(st);
        for (size_t i = 0; i < sizeof st->rest; i++)
            cr_assert_eq(st->rest[i], 0, "state byte %zu not zeroed", i + 8);
        st->magic = 0x7472757065ull;
        TC_OK(send_tag(a, TAG_WORK));
        TC_ASSERT_EVENTUALLY(atomic_load(&g_state_verdict) != -1, WAIT_MS);
        cr_assert_eq(atomic_load(&g_state_verdict), 1,
                     "behaviour saw a state not zeroed, misaligned or without the spawner's write");
        memset(st->rest, 0xAB, sizeof st->rest); /* dirty it for the next spawn */
        TC_OK(tr_actor_stop_async(a));
        tr_actor_release(a);
        TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, WAIT_MS);
    }
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, mailbox_len, .timeout = 20)
{
    tr_service *svc = new_service();
    tr_actor *a;
    tr_actor_opts counted = life_opts;
    counted.count_mailbox = true; /* the length is kept only where asked */
    TC_OK(tr_spawn(svc, &counted, &a));
    cr_assert_eq(tr_actor_mailbox_len(a), 0);
    TC_OK(send_tag(a, TAG_GATE));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_in_gate), WAIT_MS);
    for (int i = 0; i < 10; i++)
        TC_OK(send_tag(a, TAG_WORK));
    cr_assert_eq(tr_actor_mailbox_len(a), 10, "10 queued behind a running turn");
    atomic_store(&g_gate, 1);
    cr_assert(tc_wait_u64(&g_processed, 11, WAIT_MS));
    TC_ASSERT_EVENTUALLY(tr_actor_mailbox_len(a) == 0, WAIT_MS);
    tr_actor_release(a);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- message sizes and allocators ---------------------------------------- */

static _Atomic uint64_t g_msgs_ok, g_msgs_bad;

static void pattern_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    unsigned char *d = tr_msg_data(m);
    bool ok = (uintptr_t)d % 8 == 0;
    for (uint32_t i = 0; i < m->size; i++)
        ok &= d[i] == (unsigned char)(m->tag + i);
    atomic_fetch_add(ok ? &g_msgs_ok : &g_msgs_bad, 1);
    tr_msg_free(m);
}

static void run_sizes(tr_msg_alloc alloc)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.msg_alloc = alloc;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_actor *a;
    tr_actor_opts opts = {.behavior = pattern_behavior};
    TC_OK(tr_spawn(svc, &opts, &a));
    static const size_t sizes[] = {0, 1, 7, 8, 39, 40, 41, 64, 100, 4096, 65536, 1 << 20};
    const size_t n = sizeof sizes / sizeof sizes[0];
    enum { REPS = 20 };
    for (int rep = 0; rep < REPS; rep++)
        for (size_t k = 0; k < n; k++) {
            uint32_t tag = (uint32_t)(rep * 31 + k);
            tr_msg *m = tr_msg_new(tag, sizes[k]);
            cr_assert_not_null(m, "tr_msg_new(%zu)", sizes[k]);
            cr_assert_eq(m->tag, tag);
            cr_assert_eq(m->size, sizes[k]);
            unsigned char *d = tr_msg_data(m);
            for (size_t i = 0; i < sizes[k]; i++)
                d[i] = (unsigned char)(tag + i);
            TC_OK(tr_send(a, m));
        }
    cr_assert(tc_wait_u64(&g_msgs_ok, REPS * n, WAIT_MS), "ok %llu bad %llu",
              (unsigned long long)atomic_load(&g_msgs_ok),
              (unsigned long long)atomic_load(&g_msgs_bad));
    cr_assert_eq(atomic_load(&g_msgs_bad), 0);
    /* Allocated and freed outside any worker too. */
    for (size_t k = 0; k < n; k++)
        tr_msg_free(tr_msg_new(1, sizes[k]));
    tr_actor_release(a);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(actor, message_sizes_default_alloc, .timeout = 20)
{
    run_sizes(TR_MSG_ALLOC_DEFAULT);
}

Test(actor, message_sizes_pool_alloc, .timeout = 20)
{
    run_sizes(TR_MSG_ALLOC_POOL);
}

Test(actor, message_sizes_malloc_alloc, .timeout = 20)
{
    run_sizes(TR_MSG_ALLOC_MALLOC);
}
