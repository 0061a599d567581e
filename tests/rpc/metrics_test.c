/* Endpoint metrics (troupe/metrics.h): the histogram's quantiles against
 * known distributions, exact per-method call and error counts, sampled
 * queue and processing times that reflect what the handlers did, the
 * mailbox high-water mark, the reserved id prefix, and the Prometheus
 * text checked by promtool. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "rpc/hist.h"
#include "troupe/troupe.h"

/* ---- the histogram ------------------------------------------------------------------- */

static void near(uint64_t got, uint64_t want, const char *what)
{
    /* A quantile is a bucket's upper bound: at most 12.5% above, never below
     * the true rank's value by more than one bucket. */
    cr_assert(got >= want - want / 8 && got <= want + want / 8 + 1,
              "%s: got %llu, want %llu (+-12.5%%)", what, (unsigned long long)got,
              (unsigned long long)want);
}

Test(hist, buckets_bound_their_values)
{
    for (uint64_t v = 0; v < 100000; v += 1 + v / 50) {
        unsigned i = tri_hist_index(v);
        cr_assert(v <= tri_hist_upper(i), "v %llu above bucket %u's bound", (unsigned long long)v, i);
        cr_assert(i == 0 || v > tri_hist_upper(i - 1), "v %llu fits a lower bucket", (unsigned long long)v);
        cr_assert(tri_hist_upper(i) <= v + v / 8 + 1, "bucket %u too wide for %llu", i, (unsigned long long)v);
    }
    cr_assert_eq(tri_hist_index(UINT64_MAX), TRI_HIST_BUCKETS - 1);
}

Test(hist, quantiles_of_a_uniform_and_a_skewed_run)
{
    static tri_hist h; /* zeroed */
    for (uint64_t v = 1; v <= 10000; v++)
        tri_hist_record(&h, v);
    tri_hist_summary s;
    tri_hist_summarize(&h, &s);
    cr_assert_eq(s.count, 10000);
    cr_assert_eq(s.sum, 10000ull * 10001 / 2);
    cr_assert_eq(s.max, 10000);
    near(s.p50, 5000, "p50");
    near(s.p90, 9000, "p90");
    near(s.p99, 9900, "p99");

    static tri_hist k; /* 990 fast values, 10 slow ones: p99 is where the tail starts */
    for (int i = 0; i < 990; i++)
        tri_hist_record(&k, 100);
    for (int i = 0; i < 10; i++)
        tri_hist_record(&k, 1000000);
    tri_hist_summarize(&k, &s);
    near(s.p50, 100, "skewed p50");
    near(s.p90, 100, "skewed p90");
    near(s.p99, 100, "skewed p99 (990th of 1000 is still fast)");
    cr_assert_eq(s.max, 1000000);

    static tri_hist e;
    tri_hist_summarize(&e, &s);
    cr_assert(!s.count && !s.p50 && !s.p99 && !s.max);
}

/* ---- an endpoint ---------------------------------------------------------------------- */

#define MGW_METHODS(M)                                                        \
    M(mgw, add, tr_i64, tr_void, TELL)                                        \
    M(mgw, total, tr_void, tr_i64, ASK)                                       \
    M(mgw, slow, tr_u64, tr_u64, ASK)                                         \
    M(mgw, hold, tr_void, tr_void, ASK)                                       \
    M(mgw, unused, tr_str, tr_str, ASK)
TR_GATEWAY(mgw, MGW_METHODS)
TR_GATEWAY_DEFINE(mgw, MGW_METHODS)

typedef struct mstate {
    int64_t sum;
} mstate;

static _Atomic int release_hold;

static int on_add(tr_endpoint *self, void *state, const tr_i64 *v)
{
    (void)self;
    ((mstate *)state)->sum += *v;
    return *v < 0 ? TR_EINVAL : 0; /* negative: an error, counted */
}
static int on_total(tr_endpoint *self, void *state, const tr_void *none, tr_reply *r)
{
    (void)self, (void)none;
    return mgw_total_reply(r, &(tr_i64){((mstate *)state)->sum});
}
static int on_slow(tr_endpoint *self, void *state, const tr_u64 *us, tr_reply *r)
{
    (void)self, (void)state;
    uint64_t end = tc_now_ns() + *us * 1000;
    while (tc_now_ns() < end) /* busy: the processing time is this */
        ;
    return mgw_slow_reply(r, us);
}
static int on_hold(tr_endpoint *self, void *state, const tr_void *none, tr_reply *r)
{
    (void)self, (void)state, (void)none;
    uint64_t deadline = tc_deadline_ms(10000);
    while (!atomic_load(&release_hold) && tc_poll(deadline))
        tc_sleep_us(100);
    return mgw_hold_reply(r, NULL);
}
static const mgw_handlers mh = {.add = on_add, .total = on_total, .slow = on_slow, .hold = on_hold};

static tr_service *svc;
static tr_endpoint *ep;
static tr_gateway *gw;

static void start(const char *id)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.log_level = TR_LOG_ERROR; /* the failing tells would warn */
    TC_OK(tr_service_create(&cfg, &svc));
    tr_gateway_impl impl = mgw_impl(&mh);
    tr_endpoint_opts o = {.id = id, .gateways = &impl, .ngateways = 1, .state_size = sizeof(mstate)};
    TC_OK(tr_endpoint_create(svc, &o, &ep));
    TC_OK(tr_endpoint_start(ep));
    TC_OK(tr_service_connect(svc, id, &mgw_gateway, &gw));
}

static void stop(void)
{
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS(); /* the histograms went with their endpoint */
}

static void ask_ok(int rv, tr_future *f)
{
    TC_OK(rv);
    TC_OK(tr_future_get(f, 10000000000LL));
    tr_future_release(f);
}

static tr_method_metrics method(const char *name)
{
    tr_method_metrics m;
    size_t n = tr_endpoint_method_count(ep);
    for (size_t i = 0; i < n; i++) {
        TC_OK(tr_endpoint_method_metrics(ep, i, &m));
        if (!strcmp(m.method, name))
            return m;
    }
    cr_assert_fail("no method %s", name);
    return m;
}

Test(metrics, exact_counts_and_sampled_latencies, .timeout = 60)
{
    start("m");
    cr_assert_eq(tr_endpoint_method_count(ep), 5);
    for (int i = 0; i < 1000; i++)
        TC_OK(mgw_add(gw, &(tr_i64){i % 10 == 9 ? -1 : 1}));
    tr_future *f;
    for (int i = 0; i < 300; i++) {
        int rv = mgw_total(gw, NULL, 0, &f);
        ask_ok(rv, f);
    }
    for (int i = 0; i < 200; i++) {
        TC_OK(mgw_slow(gw, &(tr_u64){200}, 0, &f));
        TC_OK(tr_future_get(f, 10000000000LL));
        cr_assert_eq(*mgw_slow_result(f), 200);
        tr_future_release(f);
    }
    /* An error is counted when its handler returns, just after the
     * answer left: the last may lag the caller's wake-up a little. */
    TC_ASSERT_EVENTUALLY(method("slow").calls == 200 && method("add").errors == 100, 5000);
    tr_method_metrics add = method("add"), total = method("total"), slow = method("slow"),
                      unused = method("unused");
    cr_assert_str_eq(add.gateway, "mgw");
    cr_assert_eq(add.calls, 1000);
    cr_assert_eq(add.errors, 100, "a tell returning an error is counted: %llu",
                 (unsigned long long)add.errors);
    cr_assert_eq(total.calls, 300);
    cr_assert_eq(total.errors, 0);
    cr_assert_eq(slow.calls, 200);
    cr_assert_eq(unused.calls, 0);
    cr_assert_eq(unused.processing.count, 0);
    /* Sampling: 1 in TR_METRICS_SAMPLE handlers timed, plus every stamped call;
     * 1 in TR_METRICS_SAMPLE calls of this thread stamped. */
    uint64_t timed = add.processing.count + total.processing.count + slow.processing.count;
    cr_assert(timed >= 1500 / TR_METRICS_SAMPLE && timed <= 2 * 1500 / TR_METRICS_SAMPLE + 2,
              "timed %llu of 1500", (unsigned long long)timed);
    uint64_t stamped = add.queue.count + total.queue.count + slow.queue.count;
    cr_assert(stamped >= 1500 / TR_METRICS_SAMPLE - 1 && stamped <= 1500 / TR_METRICS_SAMPLE + 1,
              "stamped %llu of 1500", (unsigned long long)stamped);
    cr_assert(slow.processing.count >= 1, "slow was timed");
    /* slow busy-waits 200 us: every percentile says so, within a bucket */
    cr_assert(slow.processing.p50_ns >= 200000 - 200000 / 8, "slow p50 %llu ns",
              (unsigned long long)slow.processing.p50_ns);
    cr_assert(slow.processing.max_ns >= 200000 && slow.processing.sum_ns >= 200000 * slow.processing.count);
    cr_assert(add.processing.count == 0 || add.processing.p99_ns < 200000,
              "a tell adding one number takes less than the slow handler");
    cr_assert(slow.processing.p50_ns <= slow.processing.p90_ns &&
              slow.processing.p90_ns <= slow.processing.p99_ns &&
              slow.processing.p99_ns <= slow.processing.max_ns);
    stop();
}

Test(metrics, mailbox_high_water_and_queue_time, .timeout = 60)
{
    start("hw");
    atomic_store(&release_hold, 0);
    tr_future *held;
    TC_OK(mgw_hold(gw, NULL, 0, &held));
    /* The endpoint is busy in hold: 300 tells pile up behind it. */
    /* hold is running: a call counts as it starts */
    TC_ASSERT_EVENTUALLY(method("hold").calls == 1, 5000);
    for (int i = 0; i < 300; i++)
        TC_OK(mgw_add(gw, &(tr_i64){1}));
    tc_sleep_us(20000); /* they wait at least this long */
    atomic_store(&release_hold, 1);
    TC_OK(tr_future_get(held, 10000000000LL));
    tr_future_release(held);
    tr_future *f;
    TC_OK(mgw_total(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, 10000000000LL));
    cr_assert_eq(*mgw_total_result(f), 300);
    tr_future_release(f);
    TC_ASSERT_EVENTUALLY(method("total").calls == 1, 5000);
    uint64_t hwm = tr_endpoint_mailbox_hwm(ep);
    cr_assert(hwm >= 290 && hwm <= 301, /* the first tell is timed: it saw 299 behind it */
              "the first timed tell saw the pile: high water %llu", (unsigned long long)hwm);
    tr_method_metrics add = method("add");
    cr_assert(add.queue.count >= 300 / TR_METRICS_SAMPLE, "stamped tells: %llu",
              (unsigned long long)add.queue.count); /* 300 > 256: at least one */
    cr_assert(add.queue.max_ns >= 20000000, "a tell waited behind hold for 20 ms: max %llu ns",
              (unsigned long long)add.queue.max_ns);
    stop();
}

Test(metrics, reserved_ids_are_refused)
{
    TC_OK(tr_service_create(NULL, &svc));
    tr_gateway_impl impl = mgw_impl(&mh);
    tr_endpoint_opts o = {.id = "$mine", .gateways = &impl, .ngateways = 1};
    TC_ERR(tr_endpoint_create(svc, &o, &ep), TR_EINVAL);
    o.id = TR_INTROSPECT_ID;
    TC_ERR(tr_endpoint_create(svc, &o, &ep), TR_EINVAL);
    tr_service_destroy(svc);
}

/* ---- the Prometheus text --------------------------------------------------------------- */

static bool have_promtool(void) { return system("command -v promtool >/dev/null 2>&1") == 0; }

Test(metrics, prometheus_text_passes_promtool, .timeout = 60)
{
    start("we\"ird\\id\nx");
    for (int i = 0; i < 130; i++)
        TC_OK(mgw_add(gw, &(tr_i64){1}));
    tr_future *f;
    TC_OK(mgw_total(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, 10000000000LL));
    tr_future_release(f);
    TC_ASSERT_EVENTUALLY(method("total").calls == 1, 5000);
    tr_buf b;
    tr_buf_init(&b);
    TC_OK(tr_service_metrics_write(svc, &b));
    TC_OK(tr_buf_append(&b, "", 1));
    const char *text = (const char *)b.data;
    cr_assert(strstr(text, "# TYPE troupe_method_calls_total counter\n"));
    cr_assert(strstr(text, "troupe_method_calls_total{endpoint=\"we\\\"ird\\\\id\\nx\",gateway=\"mgw\","
                           "method=\"add\"} 130\n"),
              "labels escaped, count exact:\n%s", text);
    cr_assert(strstr(text, "troupe_method_processing_seconds_count{endpoint=\"we\\\"ird\\\\id\\nx\","
                           "gateway=\"mgw\",method=\"add\"} "));
    cr_assert(strstr(text, "quantile=\"0.99\""));
    cr_assert(strstr(text, "troupe_endpoint_mailbox_high_water{"));
    if (!have_promtool()) {
        tr_buf_free(&b);
        stop();
        cr_skip_test("promtool is not installed (Debian: prometheus)");
    }
    char path[] = "/tmp/troupe-metrics-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, b.data, b.len - 1), (ssize_t)(b.len - 1));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rv = system(cmd);
    unlink(path);
    cr_assert_eq(rv, 0, "promtool check metrics failed (its output is above)");
    tr_buf_free(&b);
    stop();
}
