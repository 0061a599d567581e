/* troupe-kv: the kv example (kv.h) as a program.
 *
 *   troupe-kv serve --listen HOST:PORT [--shards N (2)] [--workers N (1)]
 *                   [--port-file FILE] [--idle-exit SECONDS]
 *   troupe-kv client HOST:PORT [HOST:PORT ...] [--shards N (2)] [--threads N (4)]
 *                   [--window N (32)] [--ops N (100000)] [--keys N (2000)] [--large]
 *
 * serve hosts shards kv-0 .. kv-<N-1> until SIGINT or SIGTERM (or, with
 * --idle-exit, until no client has been connected for that long); it prints
 * its address, and writes its port to FILE (whole, renamed into place).
 * client runs the self-checking mixed load (kv_load.h) against the shards of
 * the servers given, prints what it did and exits 0 only if every answer was
 * right. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../serve_util.h"
#include "kv.h"
#include "kv_load.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: troupe-kv serve --listen HOST:PORT [--shards N] [--workers N]\n"
               "                       [--port-file FILE] [--idle-exit SECONDS]\n"
               "       troupe-kv client HOST:PORT [HOST:PORT ...] [--shards N] [--threads N]\n"
               "                       [--window N] [--ops N] [--keys N] [--large]\n");
}

static int serve(int argc, char **argv)
{
    const char *listen_at = NULL, *port_file = NULL;
    uint64_t shards = KV_SHARDS_PER_SERVER, workers = 1, idle_exit = 0;
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!strcmp(a, "--listen"))
            listen_at = v;
        else if (!strcmp(a, "--port-file"))
            port_file = v;
        else if (!strcmp(a, "--shards"))
            ok = tool_parse_u64(v, 1, KV_MAX_SHARDS, &shards);
        else if (!strcmp(a, "--workers"))
            ok = tool_parse_u64(v, 1, 1024, &workers);
        else if (!strcmp(a, "--idle-exit"))
            ok = tool_parse_u64(v, 1, 86400 * 365, &idle_exit);
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "troupe-kv serve: bad option '%s'%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    if (!listen_at) {
        fprintf(stderr, "troupe-kv serve: --listen HOST:PORT is required\n");
        return 2;
    }
    /* Signals are taken by sigtimedwait below; blocked before any thread
     * starts, so every thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.listen = true;
    cfg.bind_address = listen_at;
    cfg.workers = (unsigned)workers;
    tr_service *svc;
    int rv = tr_service_create(&cfg, &svc);
    if (rv) {
        fprintf(stderr, "troupe-kv serve: cannot listen on %s: %s\n", listen_at, tr_strerror(rv));
        return 1;
    }
    tr_endpoint *eps[KV_MAX_SHARDS];
    rv = kv_serve(svc, (unsigned)shards, eps);
    if (rv) {
        fprintf(stderr, "troupe-kv serve: cannot start the shards: %s\n", tr_strerror(rv));
        tr_service_destroy(svc);
        return 1;
    }
    char bound[80];
    tr_service_listen_address(svc, bound, sizeof bound);
    printf("troupe-kv: serving %u shards on %s (pid %ld)\n", (unsigned)shards, bound,
           (long)getpid());
    fflush(stdout);
    if (port_file && tool_write_port_file(port_file, tr_service_port(svc))) {
        fprintf(stderr, "troupe-kv serve: cannot write %s: %s\n", port_file, strerror(errno));
        rv = 1;
    }
    double idle = 0;
    while (!rv) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        int sig = idle_exit ? sigtimedwait(&sigs, NULL, &tick) : sigwaitinfo(&sigs, NULL);
        if (sig > 0)
            break;
        if (!idle_exit)
            continue;
        tr_remote_stats st;
        tr_service_remote_stats(svc, &st);
        idle = st.inbound_open ? 0 : idle + 0.1;
        if (idle >= (double)idle_exit)
            break;
    }
    for (uint64_t i = 0; i < shards; i++)
        tr_endpoint_release(eps[i]);
    tr_service_destroy(svc); /* terminates the shards; on_cleanup frees their tables */
    return rv;
}

static int client(int argc, char **argv)
{
    const char *servers[KV_MAX_SHARDS];
    size_t nservers = 0;
    uint64_t shards = KV_SHARDS_PER_SERVER, threads = 4, window = 32, ops = 100000, keys = 2000;
    bool large = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (a[0] != '-') {
            if (nservers == KV_MAX_SHARDS) {
                fprintf(stderr, "troupe-kv client: too many servers\n");
                return 2;
            }
            servers[nservers++] = a;
            continue;
        }
        if (!strcmp(a, "--large")) {
            large = true;
            continue;
        }
        if (!strcmp(a, "--shards"))
            ok = tool_parse_u64(v, 1, KV_MAX_SHARDS, &shards);
        else if (!strcmp(a, "--threads"))
            ok = tool_parse_u64(v, 1, KV_LOAD_MAX_THREADS, &threads);
        else if (!strcmp(a, "--window"))
            ok = tool_parse_u64(v, 1, KV_LOAD_MAX_WINDOW, &window);
        else if (!strcmp(a, "--ops"))
            ok = tool_parse_u64(v, 1, UINT64_MAX / 2, &ops);
        else if (!strcmp(a, "--keys"))
            ok = tool_parse_u64(v, 1, 1u << 24, &keys);
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "troupe-kv client: bad option '%s'%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!nservers || nservers * shards > KV_MAX_SHARDS) {
        fprintf(stderr, "troupe-kv client: give one to %u servers (HOST:PORT)\n",
                (unsigned)(KV_MAX_SHARDS / shards));
        return 2;
    }
    tr_service *svc;
    int rv = tr_service_create(NULL, &svc);
    if (rv) {
        fprintf(stderr, "troupe-kv client: %s\n", tr_strerror(rv));
        return 1;
    }
    kv_router *r;
    rv = kv_router_open(svc, servers, nservers, (unsigned)shards, &r);
    if (rv) {
        fprintf(stderr, "troupe-kv client: %s: %s\n", tr_strerror(rv), tr_service_connect_error());
        tr_service_destroy(svc);
        return 1;
    }
    kv_load_opts o = {.threads = (unsigned)threads, .window = (unsigned)window, .ops = ops,
                      .keys = (unsigned)keys, .large = large, .seed = (uint64_t)time(NULL)};
    kv_load_result res;
    rv = kv_load_run(r, &o, &res);
    kv_router_close(r);
    tr_service_destroy(svc);
    if (rv) {
        fprintf(stderr, "troupe-kv client: %s\n", tr_strerror(rv));
        return 1;
    }
    printf("troupe-kv: %llu calls (%llu put, %llu get, %llu del, %llu size) on %zu shards, "
           "%.0f calls/s; ask latency p50 %.1f us, p99 %.1f us; %llu wrong\n",
           (unsigned long long)res.ops, (unsigned long long)res.puts,
           (unsigned long long)res.gets, (unsigned long long)res.dels,
           (unsigned long long)res.sizes, nservers * (size_t)shards,
           (double)(o.ops) / res.seconds, res.p50_ns / 1e3, res.p99_ns / 1e3,
           (unsigned long long)res.errors);
    if (res.errors)
        fprintf(stderr, "troupe-kv client: first wrong answer: %s\n", res.first_error);
    return res.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "client"))
        return client(argc - 2, argv + 2);
    usage(argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr);
    return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
}
