/* troupe-bench: the RPC workloads, through gateways and futures.
 *
 *   ask_pingpong  an endpoint asks another n times, one ask at a time: each
 *                 round trip is an ask through a gateway, the handler's
 *                 reply, and the continuation on the asker's main thread
 *                 that issues the next ask (compare: pingpong)
 *   ask_fanin     p caller endpoints each make m asks to one endpoint,
 *                 keeping up to 64 outstanding each (compare: fanin)
 *   tell_fanin    p endpoints each send m tells through a gateway to one
 *                 endpoint in one turn, like fanin's producers (compare:
 *                 fanin, for the cost of a tell over a raw send)
 *
 * Every answer is checked (value and count); a mismatch fails the run. */
#include "bench.h"

bench_fn bench_ask_pingpong, bench_ask_fanin, bench_tell_fanin; /* main.c registers them */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BRPC_METHODS(M)                                                       \
    M(brpc, echo, tr_i64, tr_i64, ASK)                                        \
    M(brpc, note, tr_i64, tr_void, TELL)
TR_GATEWAY(brpc, BRPC_METHODS)
TR_GATEWAY_DEFINE(brpc, BRPC_METHODS)

/* ---- the serving endpoint ---------------------------------------------------- */

enum { MAX_PRODUCERS = 1024, WINDOW = 64 };

typedef struct server {
    bench_done *done;
    int64_t asks;   /* echo calls answered */
    int64_t tells;  /* notes received */
    int64_t expect; /* notes that end the run (tell_fanin) */
    uint32_t producers;
    int64_t next[MAX_PRODUCERS]; /* per-producer order of notes */
} server;

static int srv_echo(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self;
    ((server *)state)->asks++;
    return brpc_echo_reply(reply, arg);
}

/* A note carries the producer in its top 16 bits and its sequence below. */
static int srv_note(tr_endpoint *self, void *state, const tr_i64 *arg)
{
    (void)self;
    server *s = state;
    uint32_t k = (uint32_t)((uint64_t)*arg >> 48);
    int64_t seq = *arg & (((int64_t)1 << 48) - 1);
    if (k >= s->producers || seq != s->next[k]) {
        bench_done_fail(s->done, "note from producer %u: %lld, expected %lld", k, (long long)seq,
                        k < s->producers ? (long long)s->next[k] : -1LL);
        return TR_EINVAL;
    }
    s->next[k]++;
    if (++s->tells == s->expect)
        bench_done_signal(s->done);
    return 0;
}

static const brpc_handlers server_handlers = {.echo = srv_echo, .note = srv_note};

/* ---- the calling endpoints ----------------------------------------------------- */

typedef struct caller {
    tr_gateway *to;      /* brpc on the server */
    bench_done *done;
    _Atomic int64_t *finished; /* callers done (ask_fanin) */
    int64_t callers;
    int64_t m;           /* asks (or tells) to make */
    int64_t window;      /* asks outstanding at most */
    int64_t sent, answered;
    uint32_t index;
} caller;

static void on_answer(tr_endpoint *self, tr_future *f, void *arg);

/* The ask and its continuation in one call (brpc_echo_then): the idiomatic
 * endpoint-to-endpoint form; the continuation runs on this caller's main
 * thread. */
static int ask_next(caller *c)
{
    tr_i64 v = c->sent++;
    int rv = brpc_echo_then(c->to, &v, 0, on_answer, c);
    if (rv)
        bench_done_fail(c->done, "caller %u: ask %lld: %s", c->index, (long long)v,
                        tr_strerror(rv));
    return rv;
}

/* On the caller's main thread: check the answer, keep the window full. */
static void on_answer(tr_endpoint *self, tr_future *f, void *arg)
{
    caller *c = arg;
    const tr_i64 *v = brpc_echo_result(f);
    /* Answers to one caller come back in the order asked (one server). */
    if (!self || !v || *v != c->answered) {
        bench_done_fail(c->done, "caller %u: answer %lld: %s (expected %lld)", c->index,
                        v ? (long long)*v : -1LL,
                        self ? (v ? "wrong value" : tr_future_error(f)) : "dropped",
                        (long long)c->answered);
        return;
    }
    if (++c->answered == c->m) {
        if (atomic_fetch_add(c->finished, 1) + 1 == c->callers)
            bench_done_signal(c->done);
        return;
    }
    if (c->sent < c->m)
        ask_next(c); /* one answered, one more: the window stays full */
}

static int start_asking(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)self, (void)arg;
    caller *c = *(caller **)state;
    int64_t first = c->m < c->window ? c->m : c->window;
    for (int64_t i = 0; i < first; i++)
        if (ask_next(c))
            break;
    return 0;
}

static int start_telling(tr_endpoint *self, void *state, void *arg)
{
    if (!self)
        return 0; /* dropped, never run: nothing to release */
    (void)self, (void)arg;
    caller *c = *(caller **)state;
    /* One turn sends all m, as fanin's producers do. */
    for (int64_t i = 0; i < c->m; i++) {
        tr_i64 v = (int64_t)((uint64_t)c->index << 48) | i;
        c->sent++;
        int rv = brpc_note(c->to, &v);
        if (rv) {
            c->sent--;
            bench_done_fail(c->done, "producer %u: tell: %s", c->index, tr_strerror(rv));
            return rv;
        }
    }
    return 0;
}

/* ---- set-up shared by the workloads ---------------------------------------------- */

typedef struct world {
    tr_service *svc;
    tr_endpoint *server;
    tr_endpoint *callers[MAX_PRODUCERS];
    caller *cs;
    size_t ncallers;
    bench_done done;
    _Atomic int64_t finished;
} world;

static void world_free(world *w)
{
    for (size_t i = 0; i < w->ncallers; i++) {
        if (w->cs && w->cs[i].to)
            tr_gateway_release(w->cs[i].to);
        if (w->callers[i])
            tr_endpoint_release(w->callers[i]);
    }
    if (w->server)
        tr_endpoint_release(w->server);
    tr_service_destroy(w->svc);
    free(w->cs);
}

static int world_make(const bench_run *r, world *w, size_t ncallers, int64_t m, int64_t tells)
{
    memset(w, 0, sizeof *w);
    bench_done_init(&w->done);
    if (bench_service_create(r, &w->svc))
        return BENCH_FAIL;
    w->ncallers = ncallers;
    w->cs = calloc(ncallers, sizeof *w->cs);
    tr_gateway_impl impls[] = {brpc_impl(&server_handlers)};
    int rv = tr_endpoint_create(w->svc,
                                &(tr_endpoint_opts){.id = "server", .gateways = impls,
                                                    .ngateways = 1, .state_size = sizeof(server)},
                                &w->server);
    if (rv || !w->cs) {
        bench_fail(r, "server endpoint: %s", tr_strerror(rv ? rv : TR_ENOMEM));
        world_free(w);
        return BENCH_FAIL;
    }
    server *s = tr_endpoint_state(w->server);
    s->done = &w->done;
    s->producers = (uint32_t)ncallers;
    s->expect = tells;
    rv = tr_endpoint_start(w->server);
    for (size_t i = 0; i < ncallers && !rv; i++) {
        caller *c = &w->cs[i];
        *c = (caller){.done = &w->done, .finished = &w->finished, .callers = (int64_t)ncallers,
                      .m = m, .window = WINDOW, .index = (uint32_t)i};
        rv = tr_service_connect(w->svc, "server", &brpc_gateway, &c->to);
        /* The callers implement brpc too (unused): an endpoint needs one. */
        if (!rv)
            rv = tr_endpoint_create(w->svc,
                                    &(tr_endpoint_opts){.gateways = impls, .ngateways = 1,
                                                        .state_size = sizeof(caller *)},
                                    &w->callers[i]);
        if (!rv) {
            *(caller **)tr_endpoint_state(w->callers[i]) = c;
            rv = tr_endpoint_start(w->callers[i]);
        }
    }
    if (rv) {
        bench_fail(r, "set-up: %s", tr_strerror(rv));
        world_free(w);
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

/* Starts every caller with `fn` on its main thread, waits, times. */
static int world_run(const bench_run *r, world *w, tr_run_fn *fn, const char *what, double *secs)
{
    int64_t t0 = bench_now_ns();
    for (size_t i = 0; i < w->ncallers; i++) {
        int rv = tr_endpoint_run_async(w->callers[i], fn, NULL, 0);
        if (rv) {
            bench_done_fail(&w->done, "run_async: %s", tr_strerror(rv));
            break;
        }
    }
    int rv = bench_done_wait(&w->done, r, what);
    *secs = bench_secs(t0, bench_now_ns());
    return rv;
}

/* ---- the workloads ------------------------------------------------------------------ */

int bench_ask_pingpong(const bench_run *r)
{
    int64_t n = bench_int(r, "n");
    world w;
    if (world_make(r, &w, 1, n, 0))
        return BENCH_FAIL;
    /* One outstanding ask: each answer's continuation asks the next. */
    w.cs[0].window = 1;
    double secs;
    int rv = world_run(r, &w, start_asking, "the last answer", &secs);
    if (rv == BENCH_TIMEOUT)
        return rv;
    server *s = tr_endpoint_state(w.server);
    if (rv == BENCH_OK && (w.cs[0].answered != n || s->asks != n)) {
        bench_fail(r, "%lld answers, server answered %lld, expected %lld",
                   (long long)w.cs[0].answered, (long long)s->asks, (long long)n);
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "ask_pingpong", (double)n / secs, "roundtrips/s", secs * 1e9 / (double)n,
                     secs);
    world_free(&w);
    return rv;
}

int bench_ask_fanin(const bench_run *r)
{
    int64_t p = bench_int(r, "p"), m = bench_int(r, "m");
    world w;
    if (world_make(r, &w, (size_t)p, m, 0))
        return BENCH_FAIL;
    double secs;
    int rv = world_run(r, &w, start_asking, "the last answer", &secs);
    if (rv == BENCH_TIMEOUT)
        return rv;
    server *s = tr_endpoint_state(w.server);
    int64_t answered = 0;
    for (size_t i = 0; i < w.ncallers; i++)
        answered += w.cs[i].answered;
    if (rv == BENCH_OK && (answered != p * m || s->asks != p * m)) {
        bench_fail(r, "%lld answers, server answered %lld, expected %lld", (long long)answered,
                   (long long)s->asks, (long long)(p * m));
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "ask_fanin", (double)(p * m) / secs, "msgs/s",
                     secs * 1e9 / (double)(p * m), secs);
    world_free(&w);
    return rv;
}

int bench_tell_fanin(const bench_run *r)
{
    int64_t p = bench_int(r, "p"), m = bench_int(r, "m");
    world w;
    if (world_make(r, &w, (size_t)p, m, p * m))
        return BENCH_FAIL;
    double secs;
    int rv = world_run(r, &w, start_telling, "the last tell", &secs);
    if (rv == BENCH_TIMEOUT)
        return rv;
    server *s = tr_endpoint_state(w.server);
    int64_t sent = 0;
    for (size_t i = 0; i < w.ncallers; i++)
        sent += w.cs[i].sent;
    if (rv == BENCH_OK && (s->tells != p * m || sent != p * m)) {
        bench_fail(r, "received %lld tells, sent %lld, expected %lld", (long long)s->tells,
                   (long long)sent, (long long)(p * m));
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "tell_fanin", (double)(p * m) / secs, "msgs/s",
                     secs * 1e9 / (double)(p * m), secs);
    world_free(&w);
    return rv;
}
