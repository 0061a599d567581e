/* troupe-bench: the remote workloads, two processes over loopback.
 *
 *   remote_pingpong    n sequential asks (tnode.ping) from this process's
 *                      main thread, each waited for, after 1000 warm-up
 *                      rounds: the round trip through both I/O threads and
 *                      the node's endpoint
 *   remote_throughput  m one-way tells (tnode.sink) with a `payload`-byte
 *                      argument, then one ask (tnode.count) that the node
 *                      answers once the m-th has arrived; rate = m / time
 *                      from the first tell to that answer
 *   remote_stream      `bytes` through one stream (troupe/stream.h) to the
 *                      node, which discards them (check=1: checks their
 *                      digest); rate = bytes / time from the open to the
 *                      close's answer. Then the same bytes over a raw TCP
 *                      connection between two threads of this process
 *                      (remote_stream.raw_tcp), and the node's peak RSS
 *                      above idle (remote_stream.node_rss); the stream's rate
 *                      as a percentage of the raw transfer's in the same run
 *                      (remote_stream.vs_raw)
 *
 * The other process is troupe-node, started here by PID (next to this
 * executable, listening on 127.0.0.1:0, its port read from a port file)
 * and stopped by PID afterwards; or, with peer=HOST:PORT, a node someone
 * else started (../shared/peers/run.sh does). Every answer is checked: the
 * ping values, the node's sink count and byte count. */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tnode.h"
#include "troupe/stream.h"

#define WARMUP 1000

typedef struct node {
    bench_proc proc;  /* pid 0: not ours (peer=) */
    char addr[96];    /* "troupe://host:port/node" */
} node;

static void node_stop(const bench_run *r, node *nd) { bench_proc_stop(r, &nd->proc); }

/* tls=none | DIR (DIR/ca.pem, DIR/cert.pem, DIR/key.pem: mutual TLS) |
 * psk:HEX: the same TLS for this side's service and troupe-node's. */
typedef struct tls_opts {
    char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    const char *psk; /* NULL: certificates or none */
    bool on;
} tls_opts;

static void tls_of(const bench_run *r, tls_opts *t)
{
    memset(t, 0, sizeof *t);
    const char *v = bench_str(r, "tls");
    if (!*v || !strcmp(v, "none"))
        return;
    t->on = true;
    if (!strncmp(v, "psk:", 4)) {
        t->psk = v + 4;
        return;
    }
    snprintf(t->ca, sizeof t->ca, "%s/ca.pem", v);
    snprintf(t->cert, sizeof t->cert, "%s/cert.pem", v);
    snprintf(t->key, sizeof t->key, "%s/key.pem", v);
}

/* Starts troupe-node (or takes peer=) and fills nd->addr. */
static int node_start(const bench_run *r, node *nd)
{
    memset(nd, 0, sizeof *nd);
    const char *peer = bench_str(r, "peer");
    if (strcmp(peer, "auto") != 0) {
        snprintf(nd->addr, sizeof nd->addr, "troupe://%s/%s", peer, TNODE_ENDPOINT);
        return BENCH_OK;
    }
    tls_opts t;
    tls_of(r, &t);
    const char *args[16] = {"--listen", "127.0.0.1:0", "--idle-exit", "30"};
    int n = 4;
    const char *spin = bench_str(r, "spin");
    if (*spin) { /* overload_remote: a slow sink */
        args[n++] = "--sink-spin-ns";
        args[n++] = spin;
    }
    if (t.psk) {
        args[n++] = "--tls-psk";
        args[n++] = t.psk;
    } else if (t.on) {
        args[n++] = "--tls-ca", args[n++] = t.ca;
        args[n++] = "--tls-cert", args[n++] = t.cert;
        args[n++] = "--tls-key", args[n++] = t.key;
    }
    if (bench_proc_start(r, &nd->proc, "troupe-node", "node", args))
        return BENCH_FAIL;
    snprintf(nd->addr, sizeof nd->addr, "troupe://127.0.0.1:%u/%s", nd->proc.port, TNODE_ENDPOINT);
    return BENCH_OK;
}

/* The client side: a service and a gateway to the node. */
typedef struct client {
    node nd;
    tr_service *svc;
    tr_gateway *gw;
} client;

static void client_free(const bench_run *r, client *c)
{
    if (c->gw)
        tr_gateway_release(c->gw);
    if (c->svc)
        tr_service_destroy(c->svc); /* closes the connection first */
    node_stop(r, &c->nd);
}

static int client_make(const bench_run *r, client *c)
{
    memset(c, 0, sizeof *c);
    if (node_start(r, &c->nd))
        return BENCH_FAIL;
    tls_opts t;
    tls_of(r, &t);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = r->opts->workers;
    cfg.batch = r->opts->batch;
    cfg.msg_alloc = r->opts->alloc;
    cfg.tls_psk = t.psk;
    if (t.on && !t.psk)
        cfg.tls_ca_file = t.ca, cfg.tls_cert_file = t.cert, cfg.tls_key_file = t.key;
    int crv = tr_service_create(&cfg, &c->svc);
    if (crv)
        bench_fail(r, "tr_service_create: %s", tr_strerror(crv));
    else if (t.on)
        bench_note("TLS 1.3 by %s", t.psk ? "pre-shared key" : "certificates");
    if (crv) {
        node_stop(r, &c->nd);
        return BENCH_FAIL;
    }
    int rv = tr_service_connect(c->svc, c->nd.addr, &tnode_gateway, &c->gw);
    if (rv) {
        bench_fail(r, "connect %s: %s: %s", c->nd.addr, tr_strerror(rv),
                   tr_service_connect_error());
        client_free(r, c);
        return BENCH_FAIL;
    }
    bench_note("connected to %s", c->nd.addr);
    return BENCH_OK;
}

/* Waits for an ask made with result rv (f: its future when rv is 0); the
 * answer's value in *out. */
static int wait_u64(const bench_run *r, int rv, tr_future *f, const char *what, uint64_t *out)
{
    if (rv) {
        bench_fail(r, "%s: %s", what, tr_strerror(rv));
        return BENCH_FAIL;
    }
    rv = tr_future_get(f, (int64_t)r->opts->timeout_s * 1000000000LL);
    const tr_u64 *v = tr_future_value(f, &tr_u64__type);
    if (rv || !v) {
        bench_fail(r, "%s: %s", what, rv ? tr_future_error(f) ? tr_future_error(f)
                                                             : tr_strerror(rv)
                                        : "no value");
        tr_future_release(f);
        return BENCH_FAIL;
    }
    *out = *v;
    tr_future_release(f);
    return BENCH_OK;
}

/* n sequential pings; each answer must be its own value back. With lat,
 * lat[k] is the k-th ping's round trip (call to answer) in ns. */
static int pings(const bench_run *r, tr_gateway *gw, int64_t from, int64_t n, int64_t *lat)
{
    int64_t timeout = (int64_t)r->opts->timeout_s * 1000000000LL;
    for (int64_t i = from; i < from + n; i++) {
        int64_t t0 = lat ? bench_now_ns() : 0;
        tr_future *f;
        int rv = tnode_ping(gw, &i, timeout, &f);
        if (rv) {
            bench_fail(r, "ping %lld: %s", (long long)i, tr_strerror(rv));
            return BENCH_FAIL;
        }
        rv = tr_future_get(f, timeout);
        const tr_i64 *v = tnode_ping_result(f);
        if (rv || !v || *v != i) {
            bench_fail(r, "ping %lld: %s", (long long)i,
                       rv ? tr_future_error(f) : v ? "wrong value" : "no value");
            tr_future_release(f);
            return BENCH_FAIL;
        }
        tr_future_release(f);
        if (lat)
            lat[i - from] = bench_now_ns() - t0;
    }
    return BENCH_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int bench_remote_pingpong(const bench_run *r)
{
    int64_t n = bench_int(r, "n");
    if (n < 1) {
        bench_fail(r, "n must be at least 1");
        return BENCH_FAIL;
    }
    int64_t *lat = malloc((size_t)n * sizeof *lat);
    if (!lat) {
        bench_fail(r, "out of memory");
        return BENCH_FAIL;
    }
    client c;
    if (client_make(r, &c)) {
        free(lat);
        return BENCH_FAIL;
    }
    int rv = pings(r, c.gw, 0, WARMUP, NULL);
    int64_t t0 = bench_now_ns();
    if (!rv)
        rv = pings(r, c.gw, WARMUP, n, lat);
    double secs = bench_secs(t0, bench_now_ns());
    if (!rv) {
        tr_remote_stats st;
        tr_service_remote_stats(c.svc, &st);
        bench_note("client: %llu frames out in %llu writes, %llu in in %llu reads",
                   (unsigned long long)st.frames_sent, (unsigned long long)st.writes,
                   (unsigned long long)st.frames_received, (unsigned long long)st.reads);
        bench_report(r, "remote_pingpong", (double)n / secs, "roundtrips/s",
                     secs * 1e9 / (double)n, secs);
        /* Latency beside the rate, as kv_p50/kv_p99: the rate alone hides
         * whether every round trip is slow or a few are very slow. */
        qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
        double p50 = (double)lat[(n - 1) / 2], p99 = (double)lat[(n - 1) * 99 / 100];
        bench_note("remote_pingpong: round trip p50 %.1f us, p99 %.1f us, max %.1f us", p50 / 1e3,
                   p99 / 1e3, (double)lat[n - 1] / 1e3);
        bench_report(r, "remote_pingpong_p50", p50, "ns", p50, secs);
        bench_report(r, "remote_pingpong_p99", p99, "ns", p99, secs);
    }
    client_free(r, &c);
    free(lat);
    return rv;
}

int bench_remote_throughput(const bench_run *r)
{
    int64_t m = bench_int(r, "m"), payload = bench_int(r, "payload"), warm = bench_int(r, "warm");
    client c;
    if (client_make(r, &c))
        return BENCH_FAIL;
    uint8_t *buf = calloc(1, payload ? (size_t)payload : 1);
    if (!buf) {
        bench_fail(r, "out of memory");
        client_free(r, &c);
        return BENCH_FAIL;
    }
    memset(buf, 'p', (size_t)payload);
    tr_bytes msg = {buf, (uint32_t)payload};
    int64_t timeout = (int64_t)r->opts->timeout_s * 1000000000LL;
    uint64_t base = 0, bytes0 = 0, count = 0, bytes1 = 0;
    tr_future *f = NULL;
    /* Where the node's counters stand (it may have served other runs). */
    int rv = tnode_count(c.gw, &(tr_u64){0}, timeout, &f);
    rv = wait_u64(r, rv, f, "count", &base);
    if (!rv && warm) { /* off the clock, until the node has them all: TCP's window is open */
        for (int64_t i = 0; i < warm && !rv; i++)
            rv = tnode_sink(c.gw, &msg);
        if (rv) {
            bench_fail(r, "warm-up tell: %s", tr_strerror(rv));
            rv = BENCH_FAIL;
        } else {
            rv = tnode_count(c.gw, &(tr_u64){base + (uint64_t)warm}, timeout, &f);
            rv = wait_u64(r, rv, f, "count after the warm-up", &base);
        }
    }
    if (!rv) {
        rv = tnode_bytes(c.gw, NULL, timeout, &f);
        rv = wait_u64(r, rv, f, "bytes", &bytes0);
    }
    int64_t t0 = bench_now_ns();
    for (int64_t i = 0; i < m && !rv; i++) {
        int trv = tnode_sink(c.gw, &msg);
        if (trv) {
            bench_fail(r, "tell %lld: %s", (long long)i, tr_strerror(trv));
            rv = BENCH_FAIL;
        }
    }
    double send_secs = bench_secs(t0, bench_now_ns());
    if (!rv) {
        rv = tnode_count(c.gw, &(tr_u64){base + (uint64_t)m}, timeout, &f);
        rv = wait_u64(r, rv, f, "count after the last tell", &count);
    }
    double secs = bench_secs(t0, bench_now_ns());
    if (!rv) {
        rv = tnode_bytes(c.gw, NULL, timeout, &f);
        rv = wait_u64(r, rv, f, "bytes", &bytes1);
    }
    if (!rv && (count != base + (uint64_t)m || bytes1 - bytes0 != (uint64_t)(m * payload))) {
        bench_fail(r, "the node counted %llu tells and %llu bytes, expected %lld and %lld",
                   (unsigned long long)(count - base), (unsigned long long)(bytes1 - bytes0),
                   (long long)m, (long long)(m * payload));
        rv = BENCH_FAIL;
    }
    if (!rv) {
        tr_remote_stats st;
        tr_service_remote_stats(c.svc, &st);
        bench_note("client: the tells took %.3f s to make; %llu frames in %llu writes (%.0f per "
                   "write), %llu bytes",
                   send_secs, (unsigned long long)st.frames_sent, (unsigned long long)st.writes,
                   st.writes ? (double)st.frames_sent / (double)st.writes : 0.0,
                   (unsigned long long)st.bytes_sent);
        bench_report(r, "remote_throughput", (double)m / secs, "msgs/s", secs * 1e9 / (double)m,
                     secs);
    }
    free(buf);
    client_free(r, &c);
    return rv;
}

/* ---- overload_remote ------------------------------------------------------------------ */

int bench_overload_remote(const bench_run *r)
{
    int64_t m = bench_int(r, "m");
    client c;
    if (client_make(r, &c))
        return BENCH_FAIL;
    int64_t timeout = (int64_t)r->opts->timeout_s * 1000000000LL;
    uint64_t base = 0, count = 0;
    tr_future *f = NULL;
    int rv = tnode_count(c.gw, &(tr_u64){0}, timeout, &f);
    rv = wait_u64(r, rv, f, "count", &base);
    if (!rv && base) {
        bench_fail(r, "overload_remote needs its own node (its sink checks the order from 0)");
        rv = BENCH_FAIL;
    }
    bench_rss w;
    bench_rss_start(&w, c.nd.proc.pid);
    uint64_t eagain = 0;
    int64_t t0 = bench_now_ns();
    if (!rv)
        rv = bench_flood_sink(r, c.gw, m, &eagain);
    if (!rv) {
        rv = tnode_count(c.gw, &(tr_u64){(uint64_t)m}, timeout, &f);
        rv = wait_u64(r, rv, f, "count after the last tell (fails if out of order)", &count);
    }
    double secs = bench_secs(t0, bench_now_ns());
    double cm, sm;
    bench_rss_stop(&w, &cm, &sm);
    if (!rv && count != (uint64_t)m) {
        bench_fail(r, "the node counted %llu tells, expected %lld", (unsigned long long)count,
                   (long long)m);
        rv = BENCH_FAIL;
    }
    if (!rv) {
        bench_note("overload_remote: in order; peak RSS above idle: client %.1f MiB, node %.1f "
                   "MiB%s; %llu sends waited out",
                   cm, c.nd.proc.pid ? sm : 0.0, c.nd.proc.pid ? "" : " (peer= given: not measured)",
                   (unsigned long long)eagain);
        bench_report(r, "overload_remote", (double)m / secs, "msgs/s", secs * 1e9 / (double)m, secs);
        bench_report(r, "overload_remote.client_rss", cm, "MiB", 0, secs);
        if (c.nd.proc.pid)
            bench_report(r, "overload_remote.node_rss", sm, "MiB", 0, secs);
    }
    client_free(r, &c);
    return rv;
}

/* ---- remote_stream ---------------------------------------------------------------------- */

#define STREAM_WRITE (4u << 20) /* bytes per tr_stream_write / write(2) */

static void stream_pattern(uint8_t *buf, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

/* tr_stream_write_zc's done: counts the writes that let go of buf. */
static void zc_done(void *ctx)
{
    /* release: pairs with the acquire wait below (buf unread after it). */
    atomic_fetch_add_explicit((_Atomic uint64_t *)ctx, 1, memory_order_release);
}

/* buf outlives the stream's reads of it: waits until every zero-copy
 * write's done has run (each runs once its chunks' futures are freed;
 * bounded by the stream's timeout). */
static void zc_wait(const bench_run *r, _Atomic uint64_t *released, uint64_t writes,
                    int64_t timeout_ns)
{
    for (int64_t until = bench_now_ns() + timeout_ns;
         atomic_load_explicit(released, memory_order_acquire) < writes;) {
        if (bench_now_ns() > until) {
            bench_fail(r, "tr_stream_write_zc: %llu of %llu writes never let go of the buffer",
                       (unsigned long long)(writes - atomic_load(released)),
                       (unsigned long long)writes);
            abort(); /* the buffer is still lent: freeing it would be worse */
        }
        sched_yield();
    }
}

/* The stream: `total` bytes of buf repeated (zc: lent, not copied); 0 or
 * BENCH_FAIL. */
static int stream_send(const bench_run *r, tr_gateway *gw, const uint8_t *buf, uint64_t total,
                       bool check, bool zc, double *secs)
{
    _Atomic uint64_t zc_released = 0;
    uint64_t zc_writes = 0;
    char name[96] = "discard";
    if (check) { /* the digest of what will be sent, before the clock starts */
        tnode_digest d = {0};
        for (uint64_t at = 0; at < total; at += STREAM_WRITE)
            tnode_digest_add(&d, buf, total - at < STREAM_WRITE ? (size_t)(total - at) : STREAM_WRITE);
        snprintf(name, sizeof name, TNODE_STREAM_CHECK "%llu:%llx", (unsigned long long)total,
                 (unsigned long long)tnode_digest_end(&d));
    }
    int64_t timeout = (int64_t)r->opts->timeout_s * 1000000000LL;
    int64_t t0 = bench_now_ns();
    tr_stream *s;
    int rv = tr_stream_open(gw, name, timeout, &s);
    if (rv) {
        bench_fail(r, "tr_stream_open: %s", tr_strerror(rv));
        return BENCH_FAIL;
    }
    for (uint64_t at = 0; at < total && !rv; at += STREAM_WRITE) {
        size_t n = total - at < STREAM_WRITE ? (size_t)(total - at) : STREAM_WRITE;
        if (zc) { /* buf never changes: every write may lend it at once */
            rv = tr_stream_write_zc(s, buf, n, zc_done, &zc_released);
            zc_writes += rv != TR_EINVAL;
        } else {
            rv = tr_stream_write(s, buf, n);
        }
    }
    if (rv) {
        const char *why;
        tr_stream_error(s, &why);
        bench_fail(r, "tr_stream_write at %llu: %s: %s", (unsigned long long)tr_stream_offset(s),
                   tr_strerror(rv), why);
        tr_stream_cancel(s, NULL);
        zc_wait(r, &zc_released, zc_writes, timeout);
        return BENCH_FAIL;
    }
    tr_future *f;
    rv = tr_stream_close(s, &f);
    if (!rv) {
        rv = tr_future_get(f, timeout);
        if (rv)
            bench_fail(r, "the stream's close: %s", tr_future_error(f));
        tr_future_release(f);
    } else {
        bench_fail(r, "tr_stream_close: %s", tr_strerror(rv));
    }
    *secs = bench_secs(t0, bench_now_ns());
    zc_wait(r, &zc_released, zc_writes, timeout);
    return rv ? BENCH_FAIL : BENCH_OK;
}

/* Raw TCP, the limit beside it: a reader thread drains a loopback
 * connection that the calling thread fills. */
typedef struct raw_reader {
    int lfd;
    uint64_t got;
    int err;
} raw_reader;

static void *raw_read(void *arg)
{
    raw_reader *rr = arg;
    int fd = accept(rr->lfd, NULL, NULL);
    if (fd < 0) {
        rr->err = errno;
        return NULL;
    }
    static uint8_t sink[1u << 20];
    for (;;) { /* bounded by the writer's total: it closes after it */
        ssize_t n = read(fd, sink, sizeof sink);
        if (n > 0)
            rr->got += (uint64_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    close(fd);
    return NULL;
}

static int raw_tcp(const bench_run *r, const uint8_t *buf, uint64_t total, double *secs)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    raw_reader rr = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
    if (rr.lfd < 0 || bind(rr.lfd, (struct sockaddr *)&sa, sizeof sa) || listen(rr.lfd, 1) ||
        getsockname(rr.lfd, (struct sockaddr *)&sa, &len)) {
        bench_fail(r, "raw TCP listener: %s", strerror(errno));
        if (rr.lfd >= 0)
            close(rr.lfd);
        return BENCH_FAIL;
    }
    pthread_t t;
    pthread_create(&t, NULL, raw_read, &rr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int64_t t0 = bench_now_ns();
    int rv = fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof sa) ? BENCH_OK : BENCH_FAIL;
    for (uint64_t at = 0; at < total && !rv;) {
        size_t want = total - at < STREAM_WRITE ? (size_t)(total - at) : STREAM_WRITE;
        ssize_t n = write(fd, buf, want);
        if (n > 0)
            at += (uint64_t)n;
        else if (errno != EINTR)
            rv = BENCH_FAIL;
    }
    if (fd >= 0)
        close(fd);
    pthread_join(t, NULL);
    *secs = bench_secs(t0, bench_now_ns());
    close(rr.lfd);
    if (rv || rr.got != total) {
        bench_fail(r, "raw TCP: %llu of %llu bytes arrived (%s)", (unsigned long long)rr.got,
                   (unsigned long long)total, rr.err ? strerror(rr.err) : "write failed");
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

int bench_remote_stream(const bench_run *r)
{
    uint64_t total = (uint64_t)bench_int(r, "bytes");
    bool check = bench_int(r, "check") != 0;
    client c;
    if (client_make(r, &c))
        return BENCH_FAIL;
    tr_gateway *sgw = NULL;
    uint8_t *buf = malloc(STREAM_WRITE);
    int rv = buf ? tr_service_connect(c.svc, c.nd.addr, &tr_stream_gateway, &sgw) : TR_ENOMEM;
    if (rv) {
        bench_fail(r, "connect %s (streams): %s", c.nd.addr, tr_strerror(rv));
        free(buf);
        client_free(r, &c);
        return BENCH_FAIL;
    }
    stream_pattern(buf, STREAM_WRITE);
    bench_rss pk;
    bench_rss_start(&pk, c.nd.proc.pid);
    double secs = 0, raw_secs = 0, self_mib = 0, node_mib = 0;
    rv = stream_send(r, sgw, buf, total, check, bench_int(r, "zc") != 0, &secs);
    bench_rss_stop(&pk, &self_mib, &node_mib);
    if (!rv)
        rv = raw_tcp(r, buf, total, &raw_secs);
    if (!rv) {
        double gbs = (double)total / secs / 1e9, raw = (double)total / raw_secs / 1e9;
        bench_note("stream %.3f GB/s, raw TCP %.3f GB/s: %.0f%%; peak RSS above idle: client "
                   "%.1f MiB, node %.1f MiB%s",
                   gbs, raw, 100 * gbs / raw, self_mib, node_mib, check ? "; digest checked" : "");
        bench_report(r, "remote_stream", gbs, "GB/s", secs * 1e9 / (double)total, secs);
        bench_report(r, "remote_stream.raw_tcp", raw, "GB/s", raw_secs * 1e9 / (double)total,
                     raw_secs);
        /* The ratio per run: raw TCP on 2 vCPUs swings 2x between runs
         * (where the scheduler puts its two threads), so the median of
         * this line is steadier than the ratio of the two medians. */
        bench_report(r, "remote_stream.vs_raw", 100 * gbs / raw, "%", 0, secs);
        bench_report(r, "remote_stream.node_rss", node_mib, "MiB", 0, secs);
        bench_report(r, "remote_stream.client_rss", self_mib, "MiB", 0, secs);
    }
    tr_gateway_release(sgw);
    free(buf);
    client_free(r, &c);
    return rv;
}
