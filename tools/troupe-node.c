/* troupe-node: a service that listens and serves troupe-node's gateway
 * (tools/tnode.h: echo, ping, sink, count, bytes) as endpoint
 * "node". The remote benchmarks and tests start it as a second process and
 * stop it by PID.
 *
 *   troupe-node --listen 127.0.0.1:0 [--port-file FILE] [--idle-exit SECONDS]
 *               [--workers N (default 1)] [--max-frame-size BYTES (default 10 MiB)]
 *               [--metrics-listen HOST:PORT [--metrics-port-file FILE]] [--version]
 *
 * --metrics-listen serves GET /metrics over HTTP (libmicrohttpd): the
 * service's tr_service_metrics_write, the Prometheus text format.
 *               [--tls-ca FILE --tls-cert FILE --tls-key FILE | --tls-psk HEX
 *                [--tls-psk-identity ID]] [--allow-insecure]
 *
 * TLS as in tr_service_config (mutual by certificates, or a pre-shared
 * key). A non-loopback --listen needs TLS or --allow-insecure.
 *
 * It prints its bound address on stdout ("listening on 127.0.0.1:41234"),
 * writes the bound port to FILE when asked (written whole, then renamed
 * into place, so a reader never sees half of it), and runs until SIGINT or
 * SIGTERM, or, with --idle-exit, until no client has been connected for
 * that many seconds. It stops cleanly either way (exit status 0): the
 * service shuts down, its clients see the connection close. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve_util.h"
#include "tnode.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "troupe/troupe.h"

/* ---- the endpoint ------------------------------------------------------------------ */

#define MAX_WAITERS 64 /* count() asks waiting for the sink to reach them */

typedef struct node_state {
    uint64_t sunk, sunk_bytes;
    /* --sink-spin-ns: each sink spins this long and checks that the first
     * 8 bytes count up from 0 (troupe-bench overload_remote) */
    int64_t sink_spin_ns;
    uint64_t next_seq, out_of_order;
    struct {
        tr_reply *reply;
        uint64_t target;
    } waiters[MAX_WAITERS];
    unsigned nwaiters;
    /* streams (one checked at a time is enough for the tests and benches) */
    uint64_t streams, stream_bytes, check_id, check_len, check_digest;
    tnode_digest digest;
} node_state;

static int on_echo(tr_endpoint *self, void *state, const tr_bytes *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return tnode_echo_reply(reply, arg);
}

static int on_ping(tr_endpoint *self, void *state, const tr_i64 *arg, tr_reply *reply)
{
    (void)self, (void)state;
    return tnode_ping_reply(reply, arg);
}

/* Answers the count() asks whose target the sink has reached. */
static void wake_waiters(node_state *s)
{
    for (unsigned i = 0; i < s->nwaiters;) {
        if (s->waiters[i].target > s->sunk) {
            i++;
            continue;
        }
        tr_u64 n = s->sunk;
        tnode_count_reply(s->waiters[i].reply, &n); /* TR_EBUSY if it timed out: fine */
        tr_reply_release(s->waiters[i].reply);
        s->waiters[i] = s->waiters[--s->nwaiters];
    }
}

static int on_sink(tr_endpoint *self, void *state, const tr_bytes *arg)
{
    (void)self;
    node_state *s = state;
    if (s->sink_spin_ns) {
        uint64_t seq = 0;
        if (arg && arg->len >= 8)
            memcpy(&seq, arg->data, 8);
        if (seq != s->next_seq)
            s->out_of_order++;
        s->next_seq = seq + 1;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        do /* a busy handler, as a slow consumer is */
            clock_gettime(CLOCK_MONOTONIC, &b);
        while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) < s->sink_spin_ns);
    }
    s->sunk++;
    s->sunk_bytes += arg ? arg->len : 0;
    if (s->nwaiters)
        wake_waiters(s);
    return 0;
}

static int on_count(tr_endpoint *self, void *state, const tr_u64 *arg, tr_reply *reply)
{
    (void)self;
    node_state *s = state;
    if (s->out_of_order)
        return tr_reply_fail(reply, TR_EFAILED, "%llu sink tells arrived out of order",
                             (unsigned long long)s->out_of_order);
    uint64_t target = arg ? *arg : 0;
    if (target <= s->sunk) {
        tr_u64 n = s->sunk;
        return tnode_count_reply(reply, &n);
    }
    if (s->nwaiters == MAX_WAITERS)
        return tr_reply_fail(reply, TR_EBUSY, "%d count() asks wait already", MAX_WAITERS);
    s->waiters[s->nwaiters].reply = tr_reply_keep(reply);
    s->waiters[s->nwaiters++].target = target;
    return 0;
}

static int on_bytes(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    tr_u64 n = ((node_state *)state)->sunk_bytes;
    return tnode_bytes_reply(reply, &n);
}

static void on_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    node_state *s = state;
    for (unsigned i = 0; i < s->nwaiters; i++)
        tr_reply_release(s->waiters[i].reply); /* fails them: the node stops */
    s->nwaiters = 0;
}

static int on_stream(tr_endpoint *self, void *state, const tr_stream_event *ev)
{
    (void)self;
    node_state *s = state;
    size_t pre = strlen(TNODE_STREAM_CHECK);
    switch (ev->kind) {
    case TR_STREAM_OPEN:
        s->streams++;
        if (!strncmp(ev->name, TNODE_STREAM_CHECK, pre)) {
            unsigned long long len, dg;
            if (sscanf(ev->name + pre, "%llu:%llx", &len, &dg) != 2)
                return TR_EINVAL;
            s->check_id = ev->stream, s->check_len = len, s->check_digest = dg;
            s->digest = (tnode_digest){0};
        }
        return 0;
    case TR_STREAM_DATA:
        s->stream_bytes += ev->len;
        if (ev->stream == s->check_id)
            tnode_digest_add(&s->digest, ev->data, ev->len);
        return 0;
    case TR_STREAM_END:
        if (ev->stream != s->check_id)
            return 0;
        s->check_id = 0;
        return s->digest.len == s->check_len && tnode_digest_end(&s->digest) == s->check_digest
                   ? 0
                   : TR_EPROTO;
    case TR_STREAM_ERROR:
        if (ev->stream == s->check_id)
            s->check_id = 0;
        return 0;
    }
    return 0;
}

static const tr_stream_receiver stream_receiver = {.on_event = on_stream};

static const tnode_handlers handlers = {
    .echo = on_echo, .ping = on_ping, .sink = on_sink, .count = on_count, .bytes = on_bytes};


/* ---- /metrics over HTTP ------------------------------------------------------------------ */

static enum MHD_Result http_answer(struct MHD_Connection *conn, unsigned status, const char *type,
                                   const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* One request (libmicrohttpd's thread): the metrics, read-only. */
static enum MHD_Result serve_http(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **req)
{
    (void)version, (void)upload, (void)upload_len, (void)req;
    static const char text[] = "text/plain; charset=utf-8";
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return http_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
    if (strcmp(url, "/metrics"))
        return http_answer(conn, MHD_HTTP_NOT_FOUND, text, "not found; the metrics are at /metrics\n", 39);
    tr_buf b;
    tr_buf_init(&b);
    int rv = tr_service_metrics_write(cls, &b);
    enum MHD_Result ok =
        rv ? http_answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, tr_strerror(rv), strlen(tr_strerror(rv)))
           : http_answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    tr_buf_free(&b);
    return ok;
}

/* Starts the HTTP server on host:port (IPv4); NULL with a message on stderr. */
static struct MHD_Daemon *metrics_start(tr_service *svc, const char *hostport, unsigned *port)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    uint64_t p;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - hostport) >= sizeof host || !tool_parse_u64(colon + 1, 0, 65535, &p)) {
        fprintf(stderr, "troupe-node: --metrics-listen needs HOST:PORT, not %s\n", hostport);
        return NULL;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "troupe-node: --metrics-listen: %s is not an IPv4 address\n", host);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)p);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)p, NULL, NULL, serve_http, svc,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "troupe-node: cannot serve metrics on %s\n", hostport);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : (unsigned)p;
    return d;
}

/* ---- the program ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: troupe-node --listen HOST:PORT [--port-file FILE] [--idle-exit SECONDS]\n"
               "                   [--workers N (default 1)] [--max-frame-size BYTES]\n"
               "                   [--tls-ca FILE --tls-cert FILE --tls-key FILE | --tls-psk HEX\n"
               "                    [--tls-psk-identity ID]] [--allow-insecure]\n"
               "Serves endpoint \"" TNODE_ENDPOINT "\" (gateway tnode: echo, ping, sink, count, "
               "bytes)\non HOST:PORT (port 0: any free port) until SIGINT or SIGTERM.\n"
               "  --metrics-listen HOST:PORT  serve GET /metrics (Prometheus text) over HTTP\n"
               "  --sink-spin-ns N            each sink() spins N ns and checks its order (benchmarks)\n"
               "  --metrics-port-file FILE    write the metrics port there (for port 0)\n"
               "  --version                   print the version and exit\n");
}


static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL, *port_file = NULL, *metrics_at = NULL, *metrics_port_file = NULL;
    /* One worker by default: the node has one endpoint, which runs on one
     * thread at a time anyway, and a second worker only adds wake-ups
     * (remote_pingpong: median 31-34 k round trips/s with one, 21 k and
     * bimodal down to 7 k with two, on this 2-CPU VM). */
    uint64_t idle_exit = 0, workers = 1, max_frame = 0, sink_spin_ns = 0;
    const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL, *tls_psk = NULL,
               *tls_psk_id = NULL;
    bool allow_insecure = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("troupe-node %s (protocol %d)\n", tr_version_string(), TR_PROTOCOL_VERSION);
            return 0;
        }
        if (!strcmp(a, "--allow-insecure")) {
            allow_insecure = true;
            continue;
        }
        bool ok = v != NULL;
        if (!strcmp(a, "--tls-ca"))
            tls_ca = v;
        else if (!strcmp(a, "--tls-cert"))
            tls_cert = v;
        else if (!strcmp(a, "--tls-key"))
            tls_key = v;
        else if (!strcmp(a, "--tls-psk"))
            tls_psk = v;
        else if (!strcmp(a, "--tls-psk-identity"))
            tls_psk_id = v;
        else if (!strcmp(a, "--listen"))
            listen_at = v;
        else if (!strcmp(a, "--port-file"))
            port_file = v;
        else if (!strcmp(a, "--metrics-listen"))
            metrics_at = v;
        else if (!strcmp(a, "--metrics-port-file"))
            metrics_port_file = v;
        else if (!strcmp(a, "--idle-exit"))
            ok = ok && tool_parse_u64(v, 1, 86400 * 365, &idle_exit);
        else if (!strcmp(a, "--workers"))
            ok = ok && tool_parse_u64(v, 1, 1024, &workers);
        else if (!strcmp(a, "--sink-spin-ns"))
            ok = ok && tool_parse_u64(v, 0, 1000000000, &sink_spin_ns);
        else if (!strcmp(a, "--max-frame-size"))
            ok = ok && tool_parse_u64(v, 64, UINT32_MAX, &max_frame);
        else {
            fprintf(stderr, "troupe-node: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "troupe-node: %s needs a valid value%s%s\n", a, v ? ", not " : "",
                    v ? v : "");
            return 2;
        }
        i++;
    }
    if (!listen_at) {
        fprintf(stderr, "troupe-node: --listen HOST:PORT is required\n");
        usage(stderr);
        return 2;
    }

    /* Signals are taken by sigtimedwait below; blocked before any thread
     * starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.listen = true;
    cfg.bind_address = listen_at;
    cfg.workers = (unsigned)workers;
    if (max_frame)
        cfg.max_frame_size = (size_t)max_frame;
    cfg.tls_ca_file = tls_ca;
    cfg.tls_cert_file = tls_cert;
    cfg.tls_key_file = tls_key;
    cfg.tls_psk = tls_psk;
    cfg.tls_psk_identity = tls_psk_id;
    cfg.allow_insecure = allow_insecure;
    tr_service *svc;
    int rv = tr_service_create(&cfg, &svc);
    if (rv) {
        fprintf(stderr, "troupe-node: %s (%s)\n", tr_service_create_error(), tr_errname(rv));
        return 1;
    }
    tr_gateway_impl impls[] = {tnode_impl(&handlers), tr_stream_impl(&stream_receiver)};
    tr_endpoint *ep;
    rv = tr_endpoint_create(svc,
                            &(tr_endpoint_opts){.id = TNODE_ENDPOINT, .gateways = impls,
                                                .ngateways = 2, .state_size = sizeof(node_state),
                                                .on_cleanup = on_cleanup},
                            &ep);
    if (!rv) {
        ((node_state *)tr_endpoint_state(ep))->sink_spin_ns = (int64_t)sink_spin_ns;
        rv = tr_endpoint_start(ep);
    }
    if (rv) {
        fprintf(stderr, "troupe-node: cannot start the node endpoint: %s\n", tr_strerror(rv));
        tr_service_destroy(svc);
        return 1;
    }
    char bound[80];
    tr_service_listen_address(svc, bound, sizeof bound);
    printf("troupe-node: listening on %s (endpoint %s, pid %ld)\n", bound, tr_endpoint_address(ep),
           (long)getpid());
    fflush(stdout);
    if (port_file && tool_write_port_file(port_file, tr_service_port(svc))) {
        fprintf(stderr, "troupe-node: cannot write %s: %s\n", port_file, strerror(errno));
        tr_endpoint_release(ep);
        tr_service_destroy(svc);
        return 1;
    }

    struct MHD_Daemon *http = NULL;
    if (metrics_at) {
        unsigned mport;
        http = metrics_start(svc, metrics_at, &mport);
        if (!http || (metrics_port_file && tool_write_port_file(metrics_port_file, mport))) {
            if (http)
                fprintf(stderr, "troupe-node: cannot write %s: %s\n", metrics_port_file, strerror(errno));
            if (http)
                MHD_stop_daemon(http);
            tr_endpoint_release(ep);
            tr_service_destroy(svc);
            return 1;
        }
        printf("troupe-node: metrics on http://%.*s:%u/metrics\n",
               (int)(strrchr(metrics_at, ':') - metrics_at), metrics_at, mport);
        fflush(stdout);
    }

    const char *why = "a signal";
    double idle_since = now_s();
    for (;;) {
        /* Without --idle-exit nothing needs checking: wait for a signal
         * only (no wake-ups while idle). */
        struct timespec tick = {0, 100 * 1000 * 1000};
        int sig = idle_exit ? sigtimedwait(&sigs, NULL, &tick) : sigwaitinfo(&sigs, NULL);
        if (sig > 0) {
            why = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
            break;
        }
        if (!idle_exit)
            continue;
        tr_remote_stats st;
        tr_service_remote_stats(svc, &st);
        double now = now_s();
        if (st.inbound_open)
            idle_since = now;
        else if (now - idle_since >= (double)idle_exit) {
            why = "idle";
            break;
        }
    }
    if (http)
        MHD_stop_daemon(http); /* before the service its requests read */
    tr_remote_stats st;
    tr_service_remote_stats(svc, &st);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    fprintf(stderr,
            "troupe-node: stopped (%s); %llu frames in, %llu out, %llu connections served\n", why,
            (unsigned long long)st.frames_received, (unsigned long long)st.frames_sent,
            (unsigned long long)st.connections_accepted);
    return 0;
}
