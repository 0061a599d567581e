/* Waking is one worker at a time (no thundering herd): with every worker of
 * a 4-worker service parked, one message wakes exactly one of them; a burst
 * of work wakes them one by one, each wake-up answered before the next. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include "common/check.h"
#include "troupe/troupe.h"

static _Atomic uint64_t g_done;

static void count(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    tr_msg_free(m);
    atomic_fetch_add(&g_done, 1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(wake, one_message_wakes_one_parked_worker, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 4;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_actor_opts o = {.behavior = count};
    tr_actor *a;
    TC_OK(tr_spawn(svc, &o, &a));
    for (uint64_t round = 1; round <= 5; round++) {
        sleep_ms(50); /* every worker spins 50 us, then parks */
        tr_sched_stats before, after;
        tr_service_sched_stats(svc, &before);
        TC_OK(tr_send(a, tr_msg_new(0, 0)));
        TC_ASSERT(tc_wait_u64(&g_done, round, 5000));
        sleep_ms(20);
        tr_service_sched_stats(svc, &after);
        cr_assert_eq(after.wakes - before.wakes, 1, "round %llu: %llu wakes for one message",
                     (unsigned long long)round,
                     (unsigned long long)(after.wakes - before.wakes));
    }
    tr_actor_release(a);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
