/* Sends that race an actor's stop reach on_drop promptly, while handles to
 * the actor are still held: the stopped actor's mailbox is marked again, so
 * a late send schedules one more drain (an RPC ask in it then fails with
 * TR_EUNREACHABLE at once, S16, instead of at its deadline). Every send
 * accepted by tr_send is processed or dropped exactly once. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define SENDERS 3
#define PER_SENDER 20000
#define STOP_AT 5000

static _Atomic uint64_t g_processed, g_dropped, g_accepted, g_on_stop;

static void behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)state;
    tr_msg_free(m);
    if (atomic_fetch_add(&g_processed, 1) + 1 == STOP_AT)
        tr_actor_stop(self);
}

static void on_drop(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    tr_msg_free(m);
    atomic_fetch_add(&g_dropped, 1);
}

static void on_stop(tr_actor *self, void *state)
{
    (void)self;
    (void)state;
    atomic_fetch_add(&g_on_stop, 1);
}

static void *sender(void *arg)
{
    tr_actor *a = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        tr_msg *m = tr_msg_new(1, sizeof(int));
        if (tr_send(a, m) == 0)
            atomic_fetch_add(&g_accepted, 1);
        else
            tr_msg_free(m); /* TR_ESTOPPED: still ours */
    }
    return NULL;
}

Test(stop_race, late_sends_are_dropped_while_handles_are_held, .timeout = 30)
{
    for (int round = 0; round < 20; round++) {
        atomic_store(&g_processed, 0);
        atomic_store(&g_dropped, 0);
        atomic_store(&g_accepted, 0);
        atomic_store(&g_on_stop, 0);
        tr_service_config cfg;
        tr_service_config_init(&cfg);
        cfg.workers = 2;
        tr_service *svc;
        TC_OK(tr_service_create(&cfg, &svc));
        tr_actor_opts o = {.behavior = behavior, .on_drop = on_drop, .on_stop = on_stop};
        tr_actor *a;
        TC_OK(tr_spawn(svc, &o, &a));
        pthread_t th[SENDERS];
        for (int i = 0; i < SENDERS; i++)
            TC_ASSERT(pthread_create(&th[i], NULL, sender, a) == 0);
        for (int i = 0; i < SENDERS; i++)
            pthread_join(th[i], NULL);
        /* The handle is still held: nothing may wait for the free. */
        TC_ASSERT_EVENTUALLY(atomic_load(&g_processed) + atomic_load(&g_dropped) ==
                                 atomic_load(&g_accepted),
                             5000);
        cr_assert_eq(atomic_load(&g_processed), STOP_AT, "round %d", round);
        cr_assert_eq(atomic_load(&g_on_stop), 1);
        tr_msg *late = tr_msg_new(1, 0);
        cr_assert_eq(tr_send(a, late), TR_ESTOPPED);
        tr_msg_free(late); /* a failed send leaves it with us */
        tr_actor_release(a);
        tr_service_destroy(svc);
        cr_assert_eq(atomic_load(&g_processed) + atomic_load(&g_dropped), atomic_load(&g_accepted));
    }
    TC_ASSERT_NO_LEAKS();
}

/* Deterministic: actor B's send to A is accepted before A stops (stopped
 * not yet set), but reaches A's mailbox only when B's handler returns, which
 * B delays until A's on_stop ran. The message must reach on_drop while every
 * handle is still held. */
static _Atomic int g_b_sent;

static void b_behavior(tr_actor *self, void *state, tr_msg *go)
{
    (void)self;
    tr_actor *a = *(tr_actor **)state;
    tr_msg_free(go);
    if (tr_send(a, tr_msg_new(1, 0)) == 0)
        atomic_fetch_add(&g_accepted, 1);
    atomic_store(&g_b_sent, 1);
    for (int i = 0; i < 2000 && !atomic_load(&g_on_stop); i++) { /* bounded: 2 s */
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

Test(stop_race, send_flushed_after_the_stop_is_dropped_at_once, .timeout = 30)
{
    atomic_store(&g_processed, 0);
    atomic_store(&g_dropped, 0);
    atomic_store(&g_accepted, 0);
    atomic_store(&g_on_stop, 0);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_actor_opts ao = {.behavior = behavior, .on_drop = on_drop, .on_stop = on_stop};
    tr_actor_opts bo = {.behavior = b_behavior, .state_size = sizeof(tr_actor *)};
    tr_actor *a, *b;
    TC_OK(tr_spawn(svc, &ao, &a));
    TC_OK(tr_spawn(svc, &bo, &b));
    *(tr_actor **)tr_actor_state(b) = a;
    TC_OK(tr_send(b, tr_msg_new(0, 0)));
    TC_ASSERT_EVENTUALLY(atomic_load(&g_b_sent), 5000);
    TC_OK(tr_actor_stop_async(a)); /* runs on the other worker: b holds one */
    TC_ASSERT_EVENTUALLY(atomic_load(&g_on_stop) == 1, 5000);
    cr_assert_eq(atomic_load(&g_accepted), 1);
    TC_ASSERT_EVENTUALLY(atomic_load(&g_dropped) == 1, 5000); /* handles held */
    cr_assert_eq(atomic_load(&g_processed), 0);
    tr_actor_release(a);
    tr_actor_release(b);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
