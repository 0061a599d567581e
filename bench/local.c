/* troupe-bench: the local actor workloads, through the public API only.
 *
 * Same semantics and parameters as ../shared/peers/go/bench/main.go and
 * ../shared/peers/caf/bench.cpp. Each workload times from just before the
 * first message to the moment the main thread sees completion (a futex word,
 * see bench_done), then checks its counts before it reports.
 *
 * Handles: main holds the handle tr_spawn returns for every long-lived actor
 * until teardown; actor states keep borrowed pointers to each other, valid
 * because of main's handles. Teardown releases the handles, then destroys
 * the service, which frees what is still alive. */
#include "bench.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ pingpong */

/* The one message goes ping -> pong -> ping ... carrying the round number;
 * whoever holds it owns it and passes it on (no allocation per hop). */
typedef struct pp_state {
    tr_actor *peer; /* borrowed */
    bench_done *done;
    int64_t n;
    int64_t received;
} pp_state;

static void ping_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    pp_state *s = state;
    if (m->tag == BENCH_TAG_GO) {
        *bench_payload(m) = 1;
    } else {
        s->received++;
        int64_t i = *bench_payload(m);
        if (i != s->received) {
            tr_msg_free(m);
            bench_done_fail(s->done, "ping got round %lld, expected %lld", (long long)i,
                            (long long)s->received);
            return;
        }
        if (i >= s->n) {
            tr_msg_free(m);
            bench_done_signal(s->done);
            return;
        }
        *bench_payload(m) = i + 1;
    }
    m->tag = BENCH_TAG_PING;
    bench_send(s->peer, m, s->done);
}

static void pong_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    pp_state *s = state;
    s->received++;
    m->tag = BENCH_TAG_PONG;
    bench_send(s->peer, m, s->done);
}

static const tr_actor_opts ping_opts = {.behavior = ping_behavior, .state_size = sizeof(pp_state)};
static const tr_actor_opts pong_opts = {.behavior = pong_behavior, .state_size = sizeof(pp_state)};

int bench_pingpong(const bench_run *r)
{
    int64_t n = bench_int(r, "n");
    tr_service *svc;
    if (bench_service_create(r, &svc))
        return BENCH_FAIL;
    bench_done done;
    bench_done_init(&done);
    tr_actor *a[2] = {bench_spawn_actor(r, svc, &ping_opts), bench_spawn_actor(r, svc, &pong_opts)};
    tr_msg *m = bench_msg(r, BENCH_TAG_GO);
    if (!a[0] || !a[1] || !m) {
        if (m)
            tr_msg_free(m);
        bench_teardown(svc, a, 2);
        return BENCH_FAIL;
    }
    pp_state *ping = tr_actor_state(a[0]), *pong = tr_actor_state(a[1]);
    *ping = (pp_state){.peer = a[1], .done = &done, .n = n};
    *pong = (pp_state){.peer = a[0], .done = &done, .n = n};

    int64_t t0 = bench_now_ns();
    bench_send(a[0], m, &done);
    int rv = bench_done_wait(&done, r, "the last pong");
    int64_t t1 = bench_now_ns();
    if (rv == BENCH_TIMEOUT)
        return rv;
    /* The states are quiet now: the waiter's acquire pairs with the last
     * turn's release, and each pong turn happened before the ping turn it fed. */
    if (rv == BENCH_OK && (ping->received != n || pong->received != n)) {
        bench_fail(r, "ping received %lld pongs, pong received %lld pings, expected %lld each",
                   (long long)ping->received, (long long)pong->received, (long long)n);
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "pingpong", n / bench_secs(t0, t1), "roundtrips/s", (t1 - t0) / (double)n,
                     bench_secs(t0, t1));
    bench_teardown(svc, a, 2);
    return rv;
}

/* ------------------------------------------------------------------ fanin */

/* Producer k sends m messages tagged k carrying 0..m-1; the receiver checks
 * per-producer FIFO order (the API promises it) and the total. */
typedef struct fan_recv {
    bench_done *done;
    int64_t total;
    int64_t count;
    uint32_t producers;
    int64_t next[]; /* next expected payload per producer */
} fan_recv;

typedef struct fan_prod {
    tr_actor *recv; /* borrowed */
    bench_done *done;
    int64_t m;
    int64_t sent;
    uint32_t index;
} fan_prod;

static void fan_recv_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    fan_recv *s = state;
    uint32_t k = m->tag;
    int64_t v = *bench_payload(m);
    tr_msg_free(m);
    if (k >= s->producers || v != s->next[k]) {
        bench_done_fail(s->done, "receiver got tag %u value %lld, expected value %lld", k,
                        (long long)v, k < s->producers ? (long long)s->next[k] : -1LL);
        return;
    }
    s->next[k]++;
    if (++s->count == s->total)
        bench_done_signal(s->done);
}

static void fan_prod_behavior(tr_actor *self, void *state, tr_msg *go)
{
    (void)self;
    fan_prod *s = state;
    tr_msg_free(go);
    /* One turn sends all m: the producer is a loop, as in the peers. */
    for (int64_t i = 0; i < s->m; i++) {
        tr_msg *m = tr_msg_new(s->index, sizeof(int64_t));
        if (!m) {
            bench_done_fail(s->done, "producer %u: tr_msg_new: out of memory", s->index);
            return;
        }
        *bench_payload(m) = i;
        /* Counted before the send: the send publishes it, so main sees the
         * final count once the receiver has everything (the turn itself may
         * still be returning when main looks). */
        s->sent++;
        int rv = tr_send(s->recv, m);
        if (rv) {
            s->sent--;
            tr_msg_free(m);
            bench_done_fail(s->done, "producer %u: tr_send: %s", s->index, tr_strerror(rv));
            return;
        }
    }
}

static const tr_actor_opts prod_opts = {.behavior = fan_prod_behavior,
                                        .state_size = sizeof(fan_prod)};

int bench_fanin(const bench_run *r)
{
    int64_t p = bench_int(r, "p"), m = bench_int(r, "m");
    tr_service *svc;
    if (bench_service_create(r, &svc))
        return BENCH_FAIL;
    bench_done done;
    bench_done_init(&done);
    tr_actor *a[1025] = {0}; /* a[0] the receiver, then the producers (p <= 1024) */
    tr_msg *go[1024] = {0};
    size_t na = (size_t)p + 1;
    int rv = BENCH_OK;
    tr_actor_opts recv_opts = {
        .behavior = fan_recv_behavior,
        .state_size = sizeof(fan_recv) + (size_t)p * sizeof(int64_t),
    };
    a[0] = bench_spawn_actor(r, svc, &recv_opts);
    for (size_t i = 1; i < na && a[0]; i++) {
        a[i] = bench_spawn_actor(r, svc, &prod_opts);
        go[i - 1] = bench_msg(r, BENCH_TAG_GO);
        if (!a[i] || !go[i - 1])
            rv = BENCH_FAIL;
    }
    if (!a[0] || rv) {
        for (size_t i = 0; i < (size_t)p; i++)
            if (go[i])
                tr_msg_free(go[i]);
        bench_teardown(svc, a, na);
        return BENCH_FAIL;
    }
    fan_recv *recv = tr_actor_state(a[0]);
    recv->done = &done;
    recv->total = p * m;
    recv->producers = (uint32_t)p;
    for (size_t i = 1; i < na; i++)
        *(fan_prod *)tr_actor_state(a[i]) =
            (fan_prod){.recv = a[0], .done = &done, .m = m, .index = (uint32_t)(i - 1)};

    int64_t t0 = bench_now_ns();
    for (size_t i = 1; i < na; i++)
        bench_send(a[i], go[i - 1], &done);
    rv = bench_done_wait(&done, r, "the receiver's last message");
    int64_t t1 = bench_now_ns();
    if (rv == BENCH_TIMEOUT)
        return rv;
    int64_t sent = 0;
    for (size_t i = 1; i < na && rv == BENCH_OK; i++) {
        fan_prod *s = tr_actor_state(a[i]);
        sent += s->sent;
        if (s->sent != m || recv->next[i - 1] != m) {
            bench_fail(r, "producer %zu sent %lld, receiver saw %lld from it, expected %lld",
                       i - 1, (long long)s->sent, (long long)recv->next[i - 1], (long long)m);
            rv = BENCH_FAIL;
        }
    }
    if (rv == BENCH_OK && (recv->count != p * m || sent != p * m)) {
        bench_fail(r, "received %lld, sent %lld, expected %lld", (long long)recv->count,
                   (long long)sent, (long long)(p * m));
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "fanin", (double)(p * m) / bench_secs(t0, t1), "msgs/s",
                     (t1 - t0) / (double)(p * m), bench_secs(t0, t1));
    bench_teardown(svc, a, na);
    return rv;
}

/* ------------------------------------------------------------------ ring */

/* One token carrying the hops left; each actor forwards it to the next. */
typedef struct ring_state {
    tr_actor *next; /* borrowed */
    bench_done *done;
    int64_t seen;
} ring_state;

static void ring_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    ring_state *s = state;
    s->seen++;
    int64_t h = *bench_payload(m);
    if (h == 0) {
        tr_msg_free(m);
        bench_done_signal(s->done);
        return;
    }
    *bench_payload(m) = h - 1;
    bench_send(s->next, m, s->done);
}

static const tr_actor_opts ring_opts = {.behavior = ring_behavior,
                                        .state_size = sizeof(ring_state)};

int bench_ring(const bench_run *r)
{
    int64_t n = bench_int(r, "actors"), hops = bench_int(r, "hops");
    tr_service *svc;
    if (bench_service_create(r, &svc))
        return BENCH_FAIL;
    bench_done done;
    bench_done_init(&done);
    tr_actor **a = calloc((size_t)n, sizeof *a);
    tr_msg *token = bench_msg(r, BENCH_TAG_TOKEN);
    int rv = a && token ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++) {
        a[i] = bench_spawn_actor(r, svc, &ring_opts);
        if (!a[i])
            rv = BENCH_FAIL;
    }
    if (rv) {
        if (token)
            tr_msg_free(token);
        bench_teardown(svc, a, a ? (size_t)n : 0);
        free(a);
        return BENCH_FAIL;
    }
    for (int64_t i = 0; i < n; i++)
        *(ring_state *)tr_actor_state(a[i]) =
            (ring_state){.next = a[(i + 1) % n], .done = &done};
    *bench_payload(token) = hops;

    int64_t t0 = bench_now_ns();
    bench_send(a[0], token, &done);
    rv = bench_done_wait(&done, r, "the token's last hop");
    int64_t t1 = bench_now_ns();
    if (rv == BENCH_TIMEOUT)
        return rv;
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i++)
        seen += ((ring_state *)tr_actor_state(a[i]))->seen;
    if (rv == BENCH_OK && seen != hops + 1) {
        bench_fail(r, "the ring saw the token %lld times, expected %lld", (long long)seen,
                   (long long)(hops + 1));
        rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        bench_report(r, "ring", hops / bench_secs(t0, t1), "hops/s", (t1 - t0) / (double)hops,
                     bench_secs(t0, t1));
    bench_teardown(svc, a, (size_t)n);
    free(a);
    return rv;
}

/* ------------------------------------------------------------------ big */

/* Each actor pings a uniformly random other (xorshift32, seeded and drawn
 * exactly as the Go and CAF peers do) and waits for the pong before the
 * next ping; after k pongs it reports to a sink. A message is passed on by
 * whoever holds it: ping -> pong reply -> next ping -> ... -> report. */
typedef struct big_state {
    int64_t remaining;
    int64_t pings; /* received */
    int64_t pongs; /* received */
    uint32_t rng;
    uint32_t index;
} big_state;

typedef struct big_world {
    tr_actor **peers; /* borrowed, read-only while the workload runs */
    tr_actor *sink;
    bench_done *done;
    uint32_t n;
} big_world;

static big_world big; /* one workload runs at a time */

static void big_send_ping(big_state *s, tr_msg *m)
{
    uint32_t j = s->index;
    /* Bounded: xorshift32 never repeats within 2^32-1 draws and n >= 2, so
     * a run of 64 draws of our own index does not happen; (index+1)%n keeps
     * the loop finite regardless. */
    for (int tries = 0; tries < 64 && j == s->index; tries++) {
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 17;
        s->rng ^= s->rng << 5;
        j = s->rng % big.n;
    }
    if (j == s->index)
        j = (s->index + 1) % big.n;
    m->tag = BENCH_TAG_PING;
    *bench_payload(m) = s->index;
    bench_send(big.peers[j], m, big.done);
}

static void big_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    big_state *s = state;
    switch (m->tag) {
    case BENCH_TAG_PING: {
        s->pings++;
        int64_t from = *bench_payload(m);
        m->tag = BENCH_TAG_PONG;
        *bench_payload(m) = s->index;
        bench_send(big.peers[from], m, big.done);
        break;
    }
    case BENCH_TAG_PONG:
        s->pongs++;
        if (--s->remaining == 0) {
            m->tag = BENCH_TAG_DONE;
            bench_send(big.sink, m, big.done);
        } else {
            big_send_ping(s, m);
        }
        break;
    case BENCH_TAG_GO:
        big_send_ping(s, m);
        break;
    default: {
        uint32_t tag = m->tag;
        tr_msg_free(m);
        bench_done_fail(big.done, "actor %u got tag %u", s->index, tag);
    }
    }
}

typedef struct count_state {
    int64_t n, count;
} count_state;

static void big_sink_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    count_state *s = state;
    tr_msg_free(m);
    if (++s->count == s->n)
        bench_done_signal(big.done);
}

static const tr_actor_opts big_opts = {.behavior = big_behavior, .state_size = sizeof(big_state)};
static const tr_actor_opts big_sink_opts = {.behavior = big_sink_behavior,
                                            .state_size = sizeof(count_state)};

int bench_big(const bench_run *r)
{
    int64_t n = bench_int(r, "actors"), k = bench_int(r, "k");
    tr_service *svc;
    if (bench_service_create(r, &svc))
        return BENCH_FAIL;
    bench_done done;
    bench_done_init(&done);
    /* a[0..n-1] the actors, a[n] the sink */
    tr_actor **a = calloc((size_t)n + 1, sizeof *a);
    tr_msg **go = calloc((size_t)n, sizeof *go);
    int rv = a && go ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++) {
        a[i] = bench_spawn_actor(r, svc, &big_opts);
        go[i] = bench_msg(r, BENCH_TAG_GO);
        if (!a[i] || !go[i])
            rv = BENCH_FAIL;
    }
    if (rv == BENCH_OK)
        a[n] = bench_spawn_actor(r, svc, &big_sink_opts);
    if (rv || !a[n]) {
        for (int64_t i = 0; go && i < n; i++)
            if (go[i])
                tr_msg_free(go[i]);
        bench_teardown(svc, a, a ? (size_t)n + 1 : 0);
        free(a);
        free(go);
        return BENCH_FAIL;
    }
    big = (big_world){.peers = a, .sink = a[n], .done = &done, .n = (uint32_t)n};
    for (int64_t i = 0; i < n; i++)
        *(big_state *)tr_actor_state(a[i]) = (big_state){
            .remaining = k,
            .rng = (uint32_t)(i + 1) * 2654435761u | 1u,
            .index = (uint32_t)i,
        };
    *(count_state *)tr_actor_state(a[n]) = (count_state){.n = n};

    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < n; i++)
        bench_send(a[i], go[i], &done);
    rv = bench_done_wait(&done, r, "the last actor's report");
    int64_t t1 = bench_now_ns();
    free(go);
    if (rv == BENCH_TIMEOUT)
        return rv;
    int64_t pings = 0, pongs = 0, left = 0;
    for (int64_t i = 0; i < n; i++) {
        big_state *s = tr_actor_state(a[i]);
        pings += s->pings;
        pongs += s->pongs;
        left += s->remaining;
    }
    if (rv == BENCH_OK && (pings != n * k || pongs != n * k || left != 0)) {
        bench_fail(r, "pings %lld, pongs %lld (expected %lld each), %lld still to send",
                   (long long)pings, (long long)pongs, (long long)(n * k), (long long)left);
        rv = BENCH_FAIL;
    }
    double msgs = 2.0 * (double)n * (double)k;
    if (rv == BENCH_OK)
        bench_report(r, "big", msgs / bench_secs(t0, t1), "msgs/s", (t1 - t0) / msgs,
                     bench_secs(t0, t1));
    bench_teardown(svc, a, (size_t)n + 1);
    free(a);
    return rv;
}
