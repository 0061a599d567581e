/* The client side of tests/netns/run.sh: runs in host a's namespace and
 * calls the troupe-nodes on hosts b and c over the namespaced network
 * (netem: delay, loss, reordering). Phases, each bounded:
 *
 *   1. window:   M echo asks to b with W in flight, every reply checked
 *                byte for byte against its own payload; the rate printed
 *                (20 ms RTT: one at a time would give at most 50/s)
 *   2. tells:    T sink tells to b, then count(T) must answer exactly T
 *                (nothing lost on a live connection, nothing twice)
 *   3. partition: run.sh's PARTITION command takes b's link down; asks to
 *                b must fail (S34: TR_EUNREACHABLE once the silent
 *                connection is given up, or TR_ETIMEDOUT) within their
 *                bound, while asks to c keep succeeding
 *   3b. backoff: pings every 50 ms while b is known down fail at once,
 *                naming the next connection attempt, whose wait grows
 *   4. heal:     HEAL brings it back; asks to b succeed again within 60 s
 *                (the next call reconnects), and the sink count on b is
 *                T plus at most the tells sent while partitioned: never
 *                more (nothing delivered twice)
 *
 *   netns_driver B_ADDR C_ADDR PARTITION_CMD HEAL_CMD [M [W]]
 * Exit 0 when every check held; 1 with the failed check named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tnode.h"
#include "troupe/troupe.h"

#define S (1000LL * 1000 * 1000)
#define FAIL(...) do { fprintf(stderr, "netns_driver: FAIL: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static tr_gateway *connect_node(tr_service *svc, const char *hostport)
{
    char addr[128];
    snprintf(addr, sizeof addr, "troupe://%s/" TNODE_ENDPOINT, hostport);
    tr_gateway *gw;
    for (int i = 0; i < 20; i++) { /* the node may still be starting */
        int rv = tr_service_connect(svc, addr, &tnode_gateway, &gw);
        if (rv == 0)
            return gw;
        fprintf(stderr, "netns_driver: connect %s: %s (%s); again\n", addr, tr_errname(rv),
                tr_service_connect_error());
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    FAIL("cannot connect to %s", addr);
}

/* One ping; its code (the value is checked when it answered). */
static int ping(tr_gateway *gw, int64_t v, int64_t timeout_ns)
{
    tr_future *f;
    int rv = tnode_ping(gw, &(tr_i64){v}, timeout_ns, &f);
    if (rv)
        return rv;
    rv = tr_future_wait(f, timeout_ns + 5 * S);
    if (rv == 0) {
        rv = tr_future_code(f);
        const tr_i64 *r = rv ? NULL : tnode_ping_result(f);
        if (!rv && (!r || *r != v))
            FAIL("ping %lld answered %lld", (long long)v, r ? (long long)*r : -1LL);
    }
    tr_future_release(f);
    return rv;
}

/* One ping to a peer that cannot answer: its code, the time it took, and
 * the wait its error announces ("the next connection attempt is in N ms",
 * peer.c's backoff), or -1 when it announces none. */
static int ping_down(tr_gateway *gw, double *took, long *next_ms)
{
    tr_future *f;
    double t0 = now_s();
    *next_ms = -1;
    int rv = tnode_ping(gw, &(tr_i64){1}, 8 * S, &f);
    if (rv)
        return rv;
    if (tr_future_wait(f, 13 * S))
        FAIL("a ping to partitioned b did not end within 13 s");
    rv = tr_future_code(f);
    const char *at = rv ? strstr(tr_future_error(f), "next connection attempt is in ") : NULL;
    if (at)
        *next_ms = atol(at + strlen("next connection attempt is in "));
    tr_future_release(f);
    *took = now_s() - t0;
    return rv;
}

static uint64_t count(tr_gateway *gw, uint64_t target)
{
    tr_future *f;
    if (tnode_count(gw, &(tr_u64){target}, 20 * S, &f))
        FAIL("count could not be sent");
    if (tr_future_wait(f, 30 * S) || tr_future_code(f))
        FAIL("count(%llu) failed: %s", (unsigned long long)target, tr_future_error(f));
    uint64_t n = *tnode_count_result(f);
    tr_future_release(f);
    return n;
}

/* Phase 1: m echo asks, w in flight; each payload is its index. */
static void window(tr_gateway *gw, unsigned m, unsigned w)
{
    tr_future **fl = calloc(w, sizeof *fl);
    uint64_t *sent = calloc(w, sizeof *sent);
    if (!fl || !sent)
        FAIL("out of memory");
    double t0 = now_s();
    for (uint64_t i = 0; i < (uint64_t)m + w; i++) {
        unsigned k = (unsigned)(i % w);
        if (fl[k]) {
            if (tr_future_wait(fl[k], 60 * S) || tr_future_code(fl[k]))
                FAIL("echo %llu failed: %s", (unsigned long long)sent[k], tr_future_error(fl[k]));
            const tr_bytes *r = tnode_echo_result(fl[k]);
            uint64_t got;
            if (!r || r->len != sizeof got)
                FAIL("echo %llu: %u bytes back", (unsigned long long)sent[k], r ? r->len : 0);
            memcpy(&got, r->data, sizeof got);
            if (got != sent[k])
                FAIL("echo %llu came back as %llu", (unsigned long long)sent[k],
                     (unsigned long long)got);
            tr_future_release(fl[k]);
            fl[k] = NULL;
        }
        if (i < m) {
            sent[k] = i;
            tr_bytes b = {&sent[k], sizeof sent[k]};
            if (tnode_echo(gw, &b, 60 * S, &fl[k]))
                FAIL("echo %llu could not be sent", (unsigned long long)i);
        }
    }
    double dt = now_s() - t0;
    printf("netns_driver: window: %u echo asks, %u in flight, %.2f s: %.0f asks/s\n", m, w, dt,
           m / dt);
    if (m / dt < 4.0 * 50) /* 20 ms RTT: sequential asks would give <= 50/s */
        FAIL("only %.0f asks/s with %u in flight", m / dt, w);
    free(fl);
    free(sent);
}

int main(int argc, char **argv)
{
    if (argc < 5)
        FAIL("usage: netns_driver B_ADDR C_ADDR PARTITION_CMD HEAL_CMD [M [W]]");
    unsigned m = argc > 5 ? (unsigned)atoi(argv[5]) : 20000;
    unsigned w = argc > 6 ? (unsigned)atoi(argv[6]) : 500;
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.lookup_timeout_ns = 3 * S;
    tr_service *svc;
    if (tr_service_create(&cfg, &svc))
        FAIL("cannot create the service");
    tr_gateway *b = connect_node(svc, argv[1]), *c = connect_node(svc, argv[2]);
    uint64_t base = count(b, 0);

    window(b, m, w);

    const uint64_t T = 5000;
    uint8_t payload[100];
    for (uint64_t i = 0; i < T; i++) {
        memset(payload, (int)(i & 0xff), sizeof payload);
        if (tnode_sink(b, &(tr_bytes){payload, sizeof payload}))
            FAIL("sink %llu could not be sent", (unsigned long long)i);
    }
    uint64_t n = count(b, base + T);
    if (n != base + T)
        FAIL("b counted %llu tells, %llu were sent", (unsigned long long)(n - base),
             (unsigned long long)T);
    printf("netns_driver: tells: %llu sent, %llu counted at b\n", (unsigned long long)T,
           (unsigned long long)(n - base));

    /* 3: partition b. */
    if (system(argv[3]) != 0)
        FAIL("partition command failed: %s", argv[3]);
    double t0 = now_s();
    uint64_t during = 0;
    int failed = 0, codes[2] = {0, 0};
    for (int i = 0; i < 5; i++) {
        tnode_sink(b, &(tr_bytes){payload, sizeof payload}) == 0 ? during++ : 0;
        double a0 = now_s();
        int rv = ping(b, 1000 + i, 8 * S);
        double took = now_s() - a0;
        if (rv == 0)
            FAIL("a ping to partitioned b answered");
        if (rv != TR_EUNREACHABLE && rv != TR_ETIMEDOUT)
            FAIL("a ping to partitioned b failed with %s", tr_errname(rv));
        if (took > 13.5)
            FAIL("a ping to partitioned b took %.1f s to fail", took);
        /* The first rides the connection that went silent: S34 declares it
         * lost after the heartbeat timeout (5 s), TR_EUNREACHABLE, before the
         * ping's own 8 s. */
        if (i == 0 && (rv != TR_EUNREACHABLE || took > 7.0))
            FAIL("the first ping to partitioned b failed with %s after %.1f s; S34 wants "
                 "TR_EUNREACHABLE within the 5 s heartbeat timeout", tr_errname(rv), took);
        if (i == 0)
            printf("netns_driver: partition: the silent connection was declared lost after "
                   "%.1f s (TR_EUNREACHABLE)\n", took);
        codes[rv == TR_EUNREACHABLE]++;
        failed++;
        if (ping(c, 2000 + i, 5 * S) != 0)
            FAIL("c did not answer while b was partitioned");
        if (now_s() - t0 > 40)
            break;
    }
    printf("netns_driver: partition: %d pings to b failed (%d TR_EUNREACHABLE, %d TR_ETIMEDOUT) "
           "in %.1f s; c answered throughout\n", failed, codes[1], codes[0], now_s() - t0);

    /* 3b: reconnects back off. Pings every 50 ms for up to 12 s: while b
     * is known down they fail at once, naming the next attempt; the
     * attempts' waits double (50 ms, 100, 200, ... up to 5 s). */
    long first_wait = -1, longest_wait = -1;
    int fast = 0, attempts = 0;
    t0 = now_s();
    for (int i = 0; i < 240 && now_s() - t0 < 12; i++) {
        double took;
        long next_ms;
        int rv = ping_down(b, &took, &next_ms);
        if (rv == 0)
            FAIL("a ping to partitioned b answered");
        attempts++;
        if (next_ms >= 0) {
            if (took > 0.5)
                FAIL("a ping to b, known down, took %.2f s to fail", took);
            fast++;
            if (first_wait < 0)
                first_wait = next_ms;
            if (next_ms > longest_wait)
                longest_wait = next_ms;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (fast == 0 || longest_wait < 200)
        FAIL("no backoff seen: %d of %d pings failed at once, longest announced wait %ld ms",
             fast, attempts, longest_wait);
    printf("netns_driver: backoff: %d of %d pings to b failed at once (b known down); announced "
           "waits up to %ld ms (the first %ld ms)\n", fast, attempts, longest_wait, first_wait);

    /* 4: heal. */
    if (system(argv[4]) != 0)
        FAIL("heal command failed: %s", argv[4]);
    t0 = now_s();
    int rv = -1;
    while (now_s() - t0 < 60 && (rv = ping(b, 3000, 3 * S)) != 0)
        ;
    if (rv != 0)
        FAIL("b did not answer within 60 s of the heal: %s", tr_errname(rv));
    printf("netns_driver: heal: b answered again %.1f s after the link came back\n", now_s() - t0);
    n = count(b, 0) - base;
    if (n < T || n > T + during)
        FAIL("b counted %llu tells; %llu sent before the partition, %llu during it",
             (unsigned long long)n, (unsigned long long)T, (unsigned long long)during);
    printf("netns_driver: b counted %llu tells (%llu before the partition + %llu of %llu sent "
           "during it): none twice\n", (unsigned long long)n, (unsigned long long)T,
           (unsigned long long)(n - T), (unsigned long long)during);
    window(b, m / 4, w); /* the healed connection carries a full window again */
    tr_gateway_release(b);
    tr_gateway_release(c);
    tr_service_destroy(svc);
    printf("netns_driver: PASS\n");
    return 0;
}
