/* overload_local: a producer faster than its consumer, in one process.
 *
 * The main thread (outside the workers) sends m tells of 64 bytes, as fast
 * as it can, to an endpoint that spends about `spin` ns on each and checks
 * they arrive in order. With backpressure the main thread blocks while the
 * mailbox is above its high-water mark, so memory stays flat; the result
 * is the rate at the consumer and the peak RSS above idle. */
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tnode.h"


typedef struct sink_state {
    int64_t spin_ns;
    uint64_t next, out_of_order;
    _Atomic uint64_t done;
} sink_state;

static int ov_sink(tr_endpoint *self, void *state, const tr_bytes *arg)
{
    (void)self;
    sink_state *s = state;
    uint64_t seq = 0;
    if (arg && arg->len >= 8)
        memcpy(&seq, arg->data, 8);
    if (seq != s->next)
        s->out_of_order++;
    s->next = seq + 1;
    int64_t until = bench_now_ns() + s->spin_ns;
    while (bench_now_ns() < until) {
    }
    /* release: main reads out_of_order after it sees the count. */
    atomic_store_explicit(&s->done, atomic_load_explicit(&s->done, memory_order_relaxed) + 1,
                          memory_order_release);
    return 0;
}

static const struct tnode_handlers ov_handlers = {.sink = ov_sink};

/* ---- shared with overload_remote (remote.c) -------------------------------------- */

uint64_t bench_rss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)(pid ? pid : getpid()));
    FILE *f = fopen(path, "r");
    unsigned long long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void *rss_main(void *arg)
{
    bench_rss *w = arg;
    for (unsigned i = 0; !atomic_load(&w->stop) && i < 3600u * 500; i++) {
        uint64_t a = bench_rss_bytes(0), b = w->other ? bench_rss_bytes(w->other) : 0;
        if (a > atomic_load(&w->self_max))
            atomic_store(&w->self_max, a);
        if (b > atomic_load(&w->other_max))
            atomic_store(&w->other_max, b);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    return NULL;
}

void bench_rss_start(bench_rss *w, pid_t other)
{
    w->other = other;
    w->self_idle = bench_rss_bytes(0);
    w->other_idle = other ? bench_rss_bytes(other) : 0;
    atomic_init(&w->stop, 0);
    atomic_init(&w->self_max, w->self_idle);
    atomic_init(&w->other_max, w->other_idle);
    pthread_create(&w->th, NULL, rss_main, w);
}

void bench_rss_stop(bench_rss *w, double *self_mib, double *other_mib)
{
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
    *self_mib = (double)(atomic_load(&w->self_max) - w->self_idle) / 1048576.0;
    *other_mib = (double)(atomic_load(&w->other_max) - w->other_idle) / 1048576.0;
}

int bench_flood_sink(const bench_run *r, tr_gateway *gw, int64_t m, uint64_t *waited)
{
    uint8_t buf[64] = {0};
    tr_bytes msg = {buf, sizeof buf};
    int rv = BENCH_OK;
    /* As fast as the client can: a full target blocks this thread (the send
     * timeout is the run's, so it never gives up early). */
    int64_t old = tr_thread_send_timeout((int64_t)r->opts->timeout_s * 1000000000LL);
    *waited = 0;
    for (int64_t i = 0; i < m && !rv;) {
        uint64_t seq = (uint64_t)i;
        memcpy(buf, &seq, 8);
        int trv = tnode_sink(gw, &msg);
        if (trv == TR_EAGAIN) {
            (*waited)++;
            continue;
        }
        if (trv) {
            bench_fail(r, "tell %lld: %s", (long long)i, tr_strerror(trv));
            rv = BENCH_FAIL;
        }
        i++;
    }
    tr_thread_send_timeout(old);
    return rv;
}

/* ---- overload_local ------------------------------------------------------------------ */

typedef struct done_arg {
    sink_state *s;
    uint64_t m;
} done_arg;

static bool all_done(void *arg)
{
    done_arg *d = arg;
    return atomic_load_explicit(&d->s->done, memory_order_acquire) >= d->m;
}

int bench_overload_local(const bench_run *r)
{
    int64_t m = bench_int(r, "m"), spin = bench_int(r, "spin");
    tr_service *svc;
    if (bench_service_create(r, &svc))
        return BENCH_FAIL;
    tr_gateway_impl impls[] = {tnode_impl(&ov_handlers)};
    tr_endpoint *ep = NULL;
    tr_gateway *gw = NULL;
    int rv = tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "sink", .gateways = impls,
                                                         .ngateways = 1,
                                                         .state_size = sizeof(sink_state)},
                                &ep);
    if (!rv) {
        ((sink_state *)tr_endpoint_state(ep))->spin_ns = spin;
        rv = tr_endpoint_start(ep);
    }
    if (!rv)
        rv = tr_service_connect(svc, "sink", &tnode_gateway, &gw);
    if (rv) {
        bench_fail(r, "setting up the sink: %s", tr_strerror(rv));
        if (ep)
            tr_endpoint_release(ep);
        tr_service_destroy(svc);
        return BENCH_FAIL;
    }
    sink_state *s = tr_endpoint_state(ep);
    bench_rss pk;
    bench_rss_start(&pk, 0);
    uint64_t waited_out = 0;
    int64_t t0 = bench_now_ns();
    rv = bench_flood_sink(r, gw, m, &waited_out);
    done_arg d = {s, (uint64_t)m};
    if (!rv && !bench_poll(all_done, &d, r)) {
        bench_fail(r, "the sink processed %llu of %lld",
                   (unsigned long long)atomic_load(&s->done), (long long)m);
        rv = BENCH_FAIL;
    }
    int64_t t1 = bench_now_ns();
    double mib, unused;
    bench_rss_stop(&pk, &mib, &unused);
    if (!rv && s->out_of_order) {
        bench_fail(r, "%llu tells arrived out of order", (unsigned long long)s->out_of_order);
        rv = BENCH_FAIL;
    }
    if (!rv) {
        double secs = bench_secs(t0, t1);
        bench_note("overload_local: in order; peak RSS %.1f MiB above idle; %llu sends waited "
                   "out; the sink's mailbox mark %u",
                   mib, (unsigned long long)waited_out, TR_DEFAULT_MAILBOX_HIGH);
        bench_report(r, "overload_local", (double)m / secs, "msgs/s", secs * 1e9 / (double)m, secs);
        bench_report(r, "overload_local.rss", mib, "MiB", 0, secs);
    }
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    return rv;
}
