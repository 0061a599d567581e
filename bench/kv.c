/* troupe-bench: the kv example (tools/kv) under its self-checking mixed
 * load (tools/kv/kv_load.h): `threads` client threads, each with up to
 * `window` asks in flight (ask_then), puts, gets, dels (tells) and sizes
 * over four shards, values up to 32 KiB (1 in 5 empty). Every answer is
 * checked against the threads' models; a wrong one fails the run.
 *
 *   where=local     the shards are endpoints in this process (one service)
 *   where=loopback  two troupe-kv servers with two shards each, started
 *                   here by PID on 127.0.0.1 (ports from port files) and
 *                   stopped by PID afterwards
 *
 * Reports the calls per second of the mixed phase (first call to last
 * answer; the final read-back is not timed) as workload kv, and the asks'
 * latency, call to answer, as kv_p50 and kv_p99 (unit ns). */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kv.h"
#include "kv_load.h"

#define SERVERS 2

typedef struct server {
    bench_proc proc;
    char host[32];    /* "127.0.0.1:port" */
} server;

static void server_stop(const bench_run *r, server *s) { bench_proc_stop(r, &s->proc); }

/* troupe-kv serve beside this executable; its host:port in s->host. */
static int server_start(const bench_run *r, server *s, unsigned n)
{
    memset(s, 0, sizeof *s);
    char tag[16];
    snprintf(tag, sizeof tag, "kv%u", n);
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--idle-exit", "30", NULL};
    if (bench_proc_start(r, &s->proc, "troupe-kv", tag, args))
        return BENCH_FAIL;
    snprintf(s->host, sizeof s->host, "127.0.0.1:%u", s->proc.port);
    return BENCH_OK;
}

int bench_kv(const bench_run *r)
{
    bool local = !strcmp(bench_str(r, "where"), "local");
    server srv[SERVERS] = {0};
    tr_service *svc = NULL;
    tr_endpoint *eps[SERVERS * KV_SHARDS_PER_SERVER] = {NULL};
    kv_router *router = NULL;
    int rv = BENCH_OK;
    const char *hosts[SERVERS] = {NULL};
    for (unsigned i = 0; i < SERVERS && !local && !rv; i++) {
        rv = server_start(r, &srv[i], i);
        hosts[i] = srv[i].host;
    }
    if (!rv)
        rv = bench_service_create(r, &svc);
    if (!rv && local && (rv = kv_serve(svc, SERVERS * KV_SHARDS_PER_SERVER, eps)) != 0) {
        bench_fail(r, "kv_serve: %s", tr_strerror(rv));
        memset(eps, 0, sizeof eps);
        rv = BENCH_FAIL;
    }
    if (!rv) {
        /* Local: one "server" (this process) with all four shards. */
        int crv = local ? kv_router_open(svc, hosts, 1, SERVERS * KV_SHARDS_PER_SERVER, &router)
                        : kv_router_open(svc, hosts, SERVERS, KV_SHARDS_PER_SERVER, &router);
        if (crv) {
            bench_fail(r, "kv_router_open: %s: %s", tr_strerror(crv), tr_service_connect_error());
            rv = BENCH_FAIL;
        }
    }
    kv_load_opts o = {.threads = (unsigned)bench_int(r, "threads"),
                      .window = (unsigned)bench_int(r, "window"),
                      .ops = (uint64_t)bench_int(r, "ops"), .keys = 2000, .large = false,
                      .seed = 0x6b76 + (uint64_t)bench_now_ns(),
                      .timeout_ns = (int64_t)r->opts->timeout_s * 1000000000LL};
    kv_load_result res;
    if (!rv && (rv = kv_load_run(router, &o, &res)) != 0) {
        bench_fail(r, "kv_load_run: %s", tr_strerror(rv));
        rv = BENCH_FAIL;
    } else if (!rv && res.errors) {
        bench_fail(r, "%llu of %llu answers wrong; the first: %s", (unsigned long long)res.errors,
                   (unsigned long long)res.ops, res.first_error);
        rv = BENCH_FAIL;
    }
    if (!rv) {
        bench_note("kv: %llu put, %llu get (%llu found), %llu del, %llu size; %llu asks timed, "
                   "max %.0f us",
                   (unsigned long long)res.puts, (unsigned long long)res.gets,
                   (unsigned long long)res.found, (unsigned long long)res.dels,
                   (unsigned long long)res.sizes, (unsigned long long)res.asks,
                   res.max_ns / 1e3);
        bench_report(r, "kv", (double)o.ops / res.seconds, "ops/s", res.seconds * 1e9 / (double)o.ops,
                     res.seconds);
        bench_report(r, "kv_p50", (double)res.p50_ns, "ns", (double)res.p50_ns, res.seconds);
        bench_report(r, "kv_p99", (double)res.p99_ns, "ns", (double)res.p99_ns, res.seconds);
    }
    kv_router_close(router);
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++)
        if (eps[i])
            tr_endpoint_release(eps[i]);
    if (svc)
        tr_service_destroy(svc);
    for (unsigned i = 0; i < SERVERS; i++)
        server_stop(r, &srv[i]);
    return rv;
}
