/* The timing wheel (core/timer_wheel.h) and the service timer thread that
 * drives it: O(1) arm/cancel, never early, rounds, and no CPU when idle. */
#include <sys/resource.h>
#include <time.h>

#include "core/timer_wheel.h"
#include "rpc/service_impl.h"
#include "rpc/timer.h"
#include "rpc_common.h"

#define MS 1000000LL

typedef struct probe {
    tri_timer t;
    int fired;
} probe;

static void on_fire(tri_timer *t) { ((probe *)t)->fired++; }

static size_t expire_and_fire(tri_timer_wheel *w, int64_t now)
{
    tri_timer *list = NULL;
    size_t n = tri_wheel_expire(w, now, &list);
    while (list) {
        tri_timer *t = list;
        list = t->next;
        t->fire(t);
    }
    return n;
}

Test(wheel, never_early_and_in_order, .timeout = 10)
{
    tri_timer_wheel w;
    TC_OK(tri_wheel_init(&w, 64, MS, 0));
    probe p[10];
    for (int i = 0; i < 10; i++) {
        tri_timer_init(&p[i].t, on_fire);
        p[i].fired = 0;
        tri_wheel_arm(&w, &p[i].t, (i + 1) * MS + 1); /* just after a tick */
    }
    cr_assert_eq(tri_wheel_next_due(&w), 2 * MS);
    for (int64_t now = 0; now <= 12 * MS; now += MS / 2) {
        expire_and_fire(&w, now);
        for (int i = 0; i < 10; i++) {
            int64_t deadline = (i + 1) * MS + 1;
            if (now < deadline) /* never early */
                cr_assert_eq(p[i].fired, 0, "timer %d early at %lld", i, (long long)now);
            else if (now >= deadline + MS) /* at most a tick late */
                cr_assert_eq(p[i].fired, 1, "timer %d late at %lld", i, (long long)now);
            cr_assert_leq(p[i].fired, 1);
        }
    }
    cr_assert_eq(w.count, 0);
    cr_assert_eq(tri_wheel_next_due(&w), INT64_MAX);
    tri_wheel_destroy(&w);
}

Test(wheel, cancel_is_o1_and_exact, .timeout = 10)
{
    tri_timer_wheel w;
    TC_OK(tri_wheel_init(&w, 64, MS, 0));
    enum { N = 1000 };
    static probe p[N];
    for (int i = 0; i < N; i++) {
        tri_timer_init(&p[i].t, on_fire);
        p[i].fired = 0;
        tri_wheel_arm(&w, &p[i].t, (i % 7 + 1) * MS); /* many per slot */
    }
    for (int i = 0; i < N; i += 2)
        cr_assert(tri_wheel_cancel(&w, &p[i].t));
    cr_assert_not(tri_wheel_cancel(&w, &p[0].t)); /* twice: no */
    cr_assert_eq(w.count, N / 2);
    cr_assert_eq(expire_and_fire(&w, 10 * MS), N / 2);
    for (int i = 0; i < N; i++)
        cr_assert_eq(p[i].fired, i % 2, "timer %d", i);
    cr_assert_not(tri_wheel_cancel(&w, &p[1].t)); /* already collected */
    tri_wheel_destroy(&w);
}

/* Deadlines beyond one revolution wait their turn; a long jump in time
 * collects everything due, once. */
/* Armed later: no deadline until a settle, then settle-time + timeout;
 * cancel and drain see such a timer, settled or not. */
Test(wheel, arm_later_starts_at_settle, .timeout = 10)
{
    tri_timer_wheel w;
    TC_OK(tri_wheel_init(&w, 64, MS, 0));
    probe p[4];
    for (int i = 0; i < 4; i++) {
        tri_timer_init(&p[i].t, on_fire);
        p[i].fired = 0;
        tri_wheel_arm_later(&w, &p[i].t, (i + 1) * 3 * MS);
    }
    cr_assert_eq(w.nlater, 4);
    cr_assert_eq(w.count, 0);
    cr_assert_eq(tri_wheel_next_due(&w), INT64_MAX); /* nothing has a deadline yet */
    cr_assert_eq(expire_and_fire(&w, 100 * MS), 0);  /* unsettled: never due */
    cr_assert(tri_wheel_cancel(&w, &p[3].t));         /* cancelled before settling */
    cr_assert_not(tri_wheel_cancel(&w, &p[3].t));
    cr_assert_eq(w.nlater, 3);
    cr_assert_eq(tri_wheel_settle(&w, 100 * MS), 3);  /* deadlines 103, 106, 109 ms */
    cr_assert_eq(w.nlater, 0);
    cr_assert_eq(w.count, 3);
    cr_assert(tri_wheel_cancel(&w, &p[1].t));         /* cancelled after settling */
    for (int64_t now = 100 * MS; now <= 112 * MS; now += MS / 2) {
        expire_and_fire(&w, now);
        cr_assert_eq(p[0].fired, now >= 103 * MS, "at %lld", (long long)now);
        cr_assert_eq(p[2].fired, now >= 109 * MS, "at %lld", (long long)now);
    }
    cr_assert_eq(p[1].fired + p[3].fired, 0);
    /* drain takes unsettled ones too */
    tri_timer_init(&p[3].t, on_fire);
    tri_wheel_arm_later(&w, &p[3].t, MS);
    tri_timer *all = NULL;
    cr_assert_eq(tri_wheel_drain(&w, &all), 1);
    cr_assert_eq(all, &p[3].t);
    cr_assert_eq(w.nlater + w.count, 0);
    tri_wheel_destroy(&w);
}

Test(wheel, rounds_and_jumps, .timeout = 10)
{
    tri_timer_wheel w;
    TC_OK(tri_wheel_init(&w, 64, MS, 0));
    probe near, far, farther;
    tri_timer_init(&near.t, on_fire);
    tri_timer_init(&far.t, on_fire);
    tri_timer_init(&farther.t, on_fire);
    near.fired = far.fired = farther.fired = 0;
    tri_wheel_arm(&w, &near.t, 5 * MS);
    tri_wheel_arm(&w, &far.t, (5 + 64) * MS);      /* same slot, next round */
    tri_wheel_arm(&w, &farther.t, (5 + 640) * MS); /* ten rounds on */
    expire_and_fire(&w, 5 * MS);
    cr_assert_eq(near.fired + far.fired + farther.fired, 1);
    expire_and_fire(&w, 68 * MS);
    cr_assert_eq(far.fired, 0);
    expire_and_fire(&w, 69 * MS);
    cr_assert_eq(far.fired, 1);
    cr_assert_eq(farther.fired, 0);
    expire_and_fire(&w, 10000 * MS); /* a jump past many revolutions */
    cr_assert_eq(farther.fired, 1);
    /* A deadline in the past fires at the next expiry. */
    probe past;
    tri_timer_init(&past.t, on_fire);
    past.fired = 0;
    tri_wheel_arm(&w, &past.t, 3 * MS);
    expire_and_fire(&w, 10000 * MS);
    cr_assert_eq(past.fired, 0);
    expire_and_fire(&w, 10001 * MS);
    cr_assert_eq(past.fired, 1);
    tri_wheel_destroy(&w);
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An idle service (workers parked, nothing armed) uses no CPU: below 1% over
 * a second, and the timer thread does not wake up. After a burst of asks
 * (every one arms and cancels a deadline) it goes back to sleep. */
Test(timer, idle_service_uses_no_cpu, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "idle", true);
    tr_gateway *gw = t_connect(svc, "idle");
    for (int i = 0; i < 2000; i++) {
        tr_future *f;
        TC_OK(tcalc_add(gw, &(t_pair){i, i}, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        tr_future_release(f);
    }
    tc_sleep_us(200000); /* settle: spinning workers park */
    uint64_t wakes0 = tri_timers_wakeups(svc->timers);
    int64_t c0 = cpu_ns(), t0 = (int64_t)tc_now_ns();
    tc_sleep_us(1000000);
    int64_t c1 = cpu_ns(), t1 = (int64_t)tc_now_ns();
    uint64_t wakes1 = tri_timers_wakeups(svc->timers);
    double share = (double)(c1 - c0) / (double)(t1 - t0);
    cr_log_info("idle: %.3f%% CPU, %llu timer wake-ups", share * 100,
                (unsigned long long)(wakes1 - wakes0));
    cr_assert_lt(share, 0.01, "idle CPU %.2f%%", share * 100);
    cr_assert_leq(wakes1 - wakes0, 1);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* Many deadlines at once on the service timer: each fires once, none
 * early, with all workers arming on their own shards. */
typedef struct due {
    tri_timer t;
    int64_t deadline;
    _Atomic int64_t fired_at;
    _Atomic int fires;
} due;

static void due_fire(tri_timer *t)
{
    due *d = (due *)t;
    atomic_store(&d->fired_at, (int64_t)tc_now_ns());
    atomic_fetch_add(&d->fires, 1);
}

Test(timer, service_timer_fires_each_once, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    enum { N = 3000 };
    static due ds[N];
    tc_rng rng;
    tc_rng_seed(&rng, 42);
    for (int i = 0; i < N; i++) {
        tri_timer_init(&ds[i].t, due_fire);
        ds[i].deadline = (int64_t)tc_now_ns() + (int64_t)tc_rng_below(&rng, 50) * MS;
        TC_OK(tri_timers_arm(svc->timers, &ds[i].t, ds[i].deadline));
    }
    for (int i = 0; i < N; i += 3) /* cancel a third */
        tri_timers_cancel(svc->timers, &ds[i].t);
    tc_sleep_us(100000);
    for (int i = 0; i < N; i++) {
        int fires = atomic_load(&ds[i].fires);
        if (i % 3 == 0) {
            cr_assert_leq(fires, 1); /* may have fired before the cancel */
        } else {
            cr_assert_eq(fires, 1, "timer %d fired %d times", i, fires);
            cr_assert_geq(atomic_load(&ds[i].fired_at), ds[i].deadline);
        }
    }
    tr_service_destroy(svc);
}

/* Armed after (an ask's deadline): each fires once, never before arm time +
 * timeout, and within the settle bound; the thread polls while they come
 * and sleeps again once they stop. */
Test(timer, arm_after_never_early_bounded_late, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    enum { N = 600 };
    static due ds[N];
    tc_rng rng;
    tc_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) {
        tri_timer_init(&ds[i].t, due_fire);
        int64_t timeout = (int64_t)(1 + tc_rng_below(&rng, 30)) * MS;
        ds[i].deadline = (int64_t)tc_now_ns() + timeout; /* read before the arm */
        TC_OK(tri_timers_arm_after(svc->timers, &ds[i].t, timeout));
        if (i % 100 == 99)
            tc_sleep_us(3000); /* some arms while the thread polls, some after */
    }
    for (int i = 0; i < N; i += 5) /* cancel a fifth, settled or not */
        tri_timers_cancel(svc->timers, &ds[i].t);
    tc_sleep_us(200000);
    int64_t worst = 0;
    for (int i = 0; i < N; i++) {
        int fires = atomic_load(&ds[i].fires);
        if (i % 5 == 0) {
            cr_assert_leq(fires, 1);
            continue;
        }
        cr_assert_eq(fires, 1, "timer %d fired %d times", i, fires);
        int64_t late = atomic_load(&ds[i].fired_at) - ds[i].deadline;
        cr_assert_geq(late, 0, "timer %d early by %lld ns", i, (long long)-late);
        if (late > worst)
            worst = late;
    }
    cr_log_info("arm_after: worst lateness %.2f ms", (double)worst / MS);
    /* settle bound + a tick + scheduling slack on a loaded machine */
    cr_assert_lt(worst, TRI_TIMER_SETTLE_NS + 2 * TRI_TIMER_TICK_NS + 100 * MS);
    /* quiet again: no polling without arms */
    uint64_t w0 = tri_timers_wakeups(svc->timers);
    tc_sleep_us(300000);
    cr_assert_leq(tri_timers_wakeups(svc->timers) - w0, 1);
    tr_service_destroy(svc);
}
