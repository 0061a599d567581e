/* Idle workers use no CPU (DESIGN.md "Threads": an idle worker steals,
 * then parks; it must use no CPU while there is no work).
 *
 * Measure: process CPU time (user + sys, getrusage) over 2 s of wall time
 * after a 200 ms warm-up must stay under 1% of one CPU (20 ms). Criterion
 * runs each test in its own process, so only this test's threads count. */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define IDLE_WINDOW_MS 2000
#define IDLE_BUDGET_NS (20ull * 1000 * 1000) /* 1% of one CPU over 2 s */

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u;
}

/* CPU the whole process burns during IDLE_WINDOW_MS of sleeping here. */
static uint64_t idle_cpu_ns(tr_service *svc, tr_sched_stats *before, tr_sched_stats *after)
{
    tc_sleep_us(200 * 1000); /* warm-up: spinning workers settle and park */
    tr_service_sched_stats(svc, before);
    uint64_t c0 = cpu_ns();
    uint64_t end = tc_deadline_ms(IDLE_WINDOW_MS);
    while (tc_now_ns() < end)
        tc_sleep_us(100 * 1000);
    uint64_t used = cpu_ns() - c0;
    tr_service_sched_stats(svc, after);
    return used;
}

static tr_service *new_service(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

Test(idle, measure_sees_cpu, .timeout = 10)
{
    /* The instrument itself: spinning must show up as CPU time (within a
     * generous wall-clock bound: other processes may share the cores). */
    uint64_t c0 = cpu_ns(), end = tc_deadline_ms(5000);
    while (cpu_ns() - c0 < 30ull * 1000 * 1000 && tc_now_ns() < end) {
    }
    cr_assert_geq(cpu_ns() - c0, 30ull * 1000 * 1000, "getrusage missed a busy loop");
}

Test(idle, fresh_service_uses_no_cpu, .timeout = 15)
{
    tr_service *svc = new_service();
    tr_sched_stats before, after;
    uint64_t used = idle_cpu_ns(svc, &before, &after);
    TC_LOG("idle CPU %.2f ms in %d ms; parks %llu -> %llu, wakes %llu -> %llu", used / 1e6,
                IDLE_WINDOW_MS, (unsigned long long)before.parks, (unsigned long long)after.parks,
                (unsigned long long)before.wakes, (unsigned long long)after.wakes);
    cr_assert_lt(used, IDLE_BUDGET_NS, "idle service used %.2f ms CPU in %d ms (budget %.0f ms)",
                 used / 1e6, IDLE_WINDOW_MS, IDLE_BUDGET_NS / 1e6);
    cr_assert_geq(before.parks, 1, "idle workers never parked");
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- idle again after a burst -------------------------------------------- */

enum { BURST_SENDERS = 2, BURST_PER = 20000, PP_HOPS = 40000 };

static _Atomic uint64_t g_done;
static tr_actor *g_peer[2];

static void burst_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)state;
    if (m->tag == 2) { /* ping-pong between the two actors */
        uint64_t *hop = tr_msg_data(m);
        if (++*hop < PP_HOPS && tr_send(g_peer[self == g_peer[0]], m) == 0)
            return;
    }
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_done, 1, memory_order_release);
}

static void *burst_sender(void *p)
{
    for (int i = 0; i < BURST_PER; i++) {
        tr_msg *m = tr_msg_new(1, 8);
        if (tr_send(g_peer[i & 1], m) != 0)
            tr_msg_free(m);
    }
    (void)p;
    return NULL;
}

Test(idle, idle_again_after_burst, .timeout = 30)
{
    tr_service *svc = new_service();
    tr_actor_opts opts = {.behavior = burst_behavior};
    TC_OK(tr_spawn(svc, &opts, &g_peer[0]));
    TC_OK(tr_spawn(svc, &opts, &g_peer[1]));
    tr_msg *m = tr_msg_new(2, sizeof(uint64_t));
    *(uint64_t *)tr_msg_data(m) = 0;
    TC_OK(tr_send(g_peer[0], m));
    pthread_t th[BURST_SENDERS];
    for (int i = 0; i < BURST_SENDERS; i++)
        pthread_create(&th[i], NULL, burst_sender, NULL);
    for (int i = 0; i < BURST_SENDERS; i++)
        pthread_join(th[i], NULL);
    uint64_t want = (uint64_t)BURST_SENDERS * BURST_PER + 1;
    cr_assert(tc_wait_u64(&g_done, want, 20000), "burst did not finish: %llu of %llu",
              (unsigned long long)atomic_load(&g_done), (unsigned long long)want);

    /* Actors still alive (idle, mailboxes marked empty), workers idle. */
    tr_sched_stats before, after;
    uint64_t used = idle_cpu_ns(svc, &before, &after);
    TC_LOG("idle CPU after burst %.2f ms; parks %llu -> %llu", used / 1e6,
                (unsigned long long)before.parks, (unsigned long long)after.parks);
    cr_assert_lt(used, IDLE_BUDGET_NS, "service used %.2f ms CPU in %d ms after the burst",
                 used / 1e6, IDLE_WINDOW_MS);
    cr_assert_eq(atomic_load(&g_done), want, "work appeared from nowhere");
    tr_actor_release(g_peer[0]);
    tr_actor_release(g_peer[1]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(idle, idle_after_stop_of_all_actors, .timeout = 15)
{
    /* Actors that stopped and were freed leave nothing runnable behind. */
    tr_service *svc = new_service();
    tr_actor_opts opts = {.behavior = burst_behavior};
    for (int i = 0; i < 50; i++) {
        tr_actor *a;
        TC_OK(tr_spawn(svc, &opts, &a));
        TC_OK(tr_send(a, tr_msg_new(1, 8)));
        TC_OK(tr_actor_stop_async(a));
        tr_actor_release(a);
    }
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(svc) == 0, 10000);
    cr_assert_eq(atomic_load(&g_done), 50);
    tr_sched_stats before, after;
    uint64_t used = idle_cpu_ns(svc, &before, &after);
    cr_assert_lt(used, IDLE_BUDGET_NS, "service used %.2f ms CPU in %d ms after actors stopped",
                 used / 1e6, IDLE_WINDOW_MS);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
