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

uint64_t bench_rss_bytes(pid_t pid); /* remote.c */

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

typedef struct peak {
    _Atomic int stop;
    _Atomic uint64_t max;
} peak;

static void *peak_main(void *arg)
{
    peak *p = arg;
    for (unsigned i = 0; !atomic_load(&p->stop) && i < 3600u * 500; i++) {
        uint64_t v = bench_rss_bytes(0);
        if (v > atomic_load(&p->max))
            atomic_store(&p->max, v);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    return NULL;
}

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
    uint8_t buf[64] = {0};
    tr_bytes msg = {buf, sizeof buf};
    peak pk;
    uint64_t idle = bench_rss_bytes(0);
    atomic_init(&pk.stop, 0);
    atomic_init(&pk.max, idle);
    pthread_t th;
    pthread_create(&th, NULL, peak_main, &pk);
    int64_t old = tr_thread_send_timeout((int64_t)r->opts->timeout_s * 1000000000LL);
    uint64_t waited_out = 0;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < m && !rv;) {
        uint64_t seq = (uint64_t)i;
        memcpy(buf, &seq, 8);
        int trv = tnode_sink(gw, &msg);
        if (trv == TR_EAGAIN) {
            waited_out++;
            continue;
        }
        if (trv) {
            bench_fail(r, "tell %lld: %s", (long long)i, tr_strerror(trv));
            rv = BENCH_FAIL;
        }
        i++;
    }
    tr_thread_send_timeout(old);
    done_arg d = {s, (uint64_t)m};
    if (!rv && !bench_poll(all_done, &d, r)) {
        bench_fail(r, "the sink processed %llu of %lld",
                   (unsigned long long)atomic_load(&s->done), (long long)m);
        rv = BENCH_FAIL;
    }
    int64_t t1 = bench_now_ns();
    atomic_store(&pk.stop, 1);
    pthread_join(th, NULL);
    if (!rv && s->out_of_order) {
        bench_fail(r, "%llu tells arrived out of order", (unsigned long long)s->out_of_order);
        rv = BENCH_FAIL;
    }
    if (!rv) {
        double secs = bench_secs(t0, t1);
        double mib = (double)(atomic_load(&pk.max) - idle) / 1048576.0;
        tr_flow_stats fs = {0};
        bench_note("overload_local: in order; peak RSS %.1f MiB above idle; %llu sends waited "
                   "out; the sink's mailbox mark %u",
                   mib, (unsigned long long)waited_out, TR_DEFAULT_MAILBOX_HIGH);
        (void)fs;
        bench_report(r, "overload_local", (double)m / secs, "msgs/s", secs * 1e9 / (double)m, secs);
        bench_report(r, "overload_local.rss", mib, "MiB", 0, secs);
    }
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    return rv;
}
