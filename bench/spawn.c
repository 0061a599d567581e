/* troupe-bench: spawn (fork-join create from the main thread) and spawn_mem
 * (resident memory per live idle actor), through the public API only.
 *
 * As in the peers, a child waits for one message, reports to a sink actor
 * and stops. The child forwards the message it received to the sink (it owns
 * it; no second allocation), then calls tr_actor_stop. Main releases its
 * handle right after the send, so each child is freed once it has stopped. */
#include "bench.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef TROUPE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

/* The child's state is just the sink: what a user would keep. The stop
 * counter lives outside so it does not inflate spawn_mem's figure. */
typedef struct child_state {
    tr_actor *sink; /* borrowed: main holds the sink's handle */
} child_state;

typedef struct sink_state {
    bench_done *done;
    int64_t n;
    int64_t count;
} sink_state;

/* One workload runs at a time; on_stop has no other way to reach it. */
static _Atomic int64_t children_stopped;
static bench_done *children_done;

static void child_behavior(tr_actor *self, void *state, tr_msg *m)
{
    child_state *s = state;
    m->tag = BENCH_TAG_DONE;
    bench_send(s->sink, m, children_done);
    tr_actor_stop(self);
}

static void child_on_stop(tr_actor *self, void *state)
{
    (void)self;
    (void)state;
    /* relaxed: main reads it after the sink's signal and polls until exact. */
    atomic_fetch_add_explicit(&children_stopped, 1, memory_order_relaxed);
}

static void sink_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    sink_state *s = state;
    tr_msg_free(m);
    if (++s->count == s->n)
        bench_done_signal(s->done);
    else if (s->count > s->n)
        bench_done_fail(s->done, "sink got %lld reports, expected %lld", (long long)s->count,
                        (long long)s->n);
}

static const tr_actor_opts child_opts = {
    .behavior = child_behavior,
    .on_stop = child_on_stop,
    .state_size = sizeof(child_state),
};

static const tr_actor_opts sink_opts = {.behavior = sink_behavior,
                                        .state_size = sizeof(sink_state)};

static bool all_stopped(void *arg)
{
    return atomic_load_explicit(&children_stopped, memory_order_relaxed) >= *(int64_t *)arg;
}

static bool only_sink_left(void *arg) { return tr_service_live_actors(arg) <= 1; }

/* Main thread: a service with a sink expecting n reports. */
static int setup(const bench_run *r, int64_t n, bench_done *done, tr_service **svc,
                 tr_actor **sink)
{
    if (bench_service_create(r, svc))
        return BENCH_FAIL;
    bench_done_init(done);
    children_done = done;
    atomic_store_explicit(&children_stopped, 0, memory_order_relaxed);
    *sink = bench_spawn_actor(r, *svc, &sink_opts);
    if (!*sink) {
        tr_service_destroy(*svc);
        return BENCH_FAIL;
    }
    *(sink_state *)tr_actor_state(*sink) = (sink_state){.done = done, .n = n};
    return BENCH_OK;
}

/* Main thread: spawns one child; NULL after reporting. */
static tr_actor *spawn_child(const bench_run *r, tr_service *svc, tr_actor *sink)
{
    tr_actor *c = bench_spawn_actor(r, svc, &child_opts);
    if (c)
        ((child_state *)tr_actor_state(c))->sink = sink;
    return c;
}

/* Main thread: sends the child its one message and drops the handle. */
static int start_child(const bench_run *r, tr_actor *c)
{
    tr_msg *m = tr_msg_new(BENCH_TAG_GO, 0);
    int rv = m ? tr_send(c, m) : TR_ENOMEM;
    tr_actor_release(c);
    if (rv) {
        if (m)
            tr_msg_free(m);
        bench_fail(r, "sending to a child: %s", tr_strerror(rv));
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

/* After the sink has all n: every child stopped, and freed (only the sink
 * is left alive). Not timed. */
static int check_children(const bench_run *r, tr_service *svc, tr_actor *sink, int64_t n)
{
    sink_state *s = tr_actor_state(sink);
    if (s->count != n) {
        bench_fail(r, "sink got %lld reports, expected %lld", (long long)s->count, (long long)n);
        return BENCH_FAIL;
    }
    if (!bench_poll(all_stopped, &n, r)) {
        bench_fail(r, "%lld of %lld children ran on_stop",
                   (long long)atomic_load(&children_stopped), (long long)n);
        return BENCH_FAIL;
    }
    if (!bench_poll(only_sink_left, svc, r)) {
        bench_fail(r, "%llu actors still live after all children stopped, expected 1 (the sink)",
                   (unsigned long long)tr_service_live_actors(svc));
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

int bench_spawn(const bench_run *r)
{
    int64_t n = bench_int(r, "n");
    /* from=main is the only spawner so far ("from" takes only "main"). */
    tr_service *svc;
    tr_actor *sink;
    bench_done done;
    if (setup(r, n, &done, &svc, &sink))
        return BENCH_FAIL;

    int rv = BENCH_OK;
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++) {
        tr_actor *c = spawn_child(r, svc, sink);
        rv = c ? start_child(r, c) : BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        rv = bench_done_wait(&done, r, "the sink's last report");
    int64_t t1 = bench_now_ns();
    if (rv == BENCH_TIMEOUT)
        return rv;
    if (rv == BENCH_OK)
        rv = check_children(r, svc, sink, n);
    if (rv == BENCH_OK)
        bench_report(r, "spawn", n / bench_secs(t0, t1), "actors/s", (t1 - t0) / (double)n,
                     bench_secs(t0, t1));
    bench_teardown(svc, &sink, 1);
    return rv;
}

/* Hands freed memory back to the OS, so that `before` is not inflated by
 * what earlier workloads of this process left cached in the allocator (the
 * new actors would reuse it and their growth would read low). */
static void trim_heap(void)
{
#ifdef TROUPE_WITH_JEMALLOC
    char cmd[64];
    snprintf(cmd, sizeof cmd, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(cmd, NULL, NULL, NULL, 0);
#endif
    malloc_trim(0);
}

/* VmRSS in kB, -1 if unreadable. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    for (int i = 0; f && i < 1000 && fgets(line, sizeof line, f); i++)
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

int bench_spawn_mem(const bench_run *r)
{
    int64_t n = bench_int(r, "n");
    tr_service *svc;
    tr_actor *sink;
    bench_done done;
    if (setup(r, n, &done, &svc, &sink))
        return BENCH_FAIL;

    /* As in the peers, the handle array is allocated after `before`: a user
     * needs the handles to reach the actors (8 of the bytes per actor). */
    trim_heap();
    long before = rss_kb();
    int64_t t0 = bench_now_ns();
    tr_actor **kids = malloc((size_t)n * sizeof *kids);
    int rv = kids ? BENCH_OK : BENCH_FAIL;
    int64_t spawned = 0;
    for (; spawned < n && rv == BENCH_OK; spawned++) {
        kids[spawned] = spawn_child(r, svc, sink);
        if (!kids[spawned])
            rv = BENCH_FAIL;
    }
    int64_t t1 = bench_now_ns();
    long after = rss_kb();
    uint64_t live = tr_service_live_actors(svc);

    /* Release them: each gets its message, reports to the sink and stops. */
    for (int64_t i = 0; i < spawned; i++)
        if (kids[i] && start_child(r, kids[i]))
            rv = BENCH_FAIL;
    free(kids);
    if (rv) {
        bench_teardown(svc, &sink, 1);
        return rv;
    }
    rv = bench_done_wait(&done, r, "the sink's last report");
    int64_t t2 = bench_now_ns();
    if (rv == BENCH_TIMEOUT)
        return rv;
    if (rv == BENCH_OK && live != (uint64_t)n + 1) {
        bench_fail(r, "%llu actors live with all children spawned, expected %lld",
                   (unsigned long long)live, (long long)(n + 1));
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        rv = check_children(r, svc, sink, n);
    if (rv == BENCH_OK && (before < 0 || after < 0)) {
        bench_fail(r, "cannot read VmRSS from /proc/self/status");
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK) {
        bench_note("troupe spawn_mem: rss before=%ld kB, with %lld live actors=%ld kB, "
                   "spawn phase %.3f s, total %.3f s",
                   before, (long long)n, after, bench_secs(t0, t1), bench_secs(t0, t2));
        bench_report(r, "spawn_mem", (double)(after - before) * 1024.0 / (double)n,
                     "bytes/actor", 0, bench_secs(t0, t1));
    }
    bench_teardown(svc, &sink, 1);
    return rv;
}
