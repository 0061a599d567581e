/* The idle cost of heartbeats: one client service watching one endpoint on
 * each of N server services (N peers, each its own listener and
 * connection), all idle; CPU time of the whole process (both sides) over
 * a window, from /proc/self/stat. Not built by CMake; compile by hand:
 *
 *   cc -O2 -Iinclude bench/idle/hb_idle.c build/release/libtroupe.a \
 *      $(pkg-config --libs liburcu liburcu-cds ck jemalloc) -lpthread -o /tmp/hb_idle
 *   /tmp/hb_idle PEERS SECONDS INTERVAL_MS TIMEOUT_MS [nowatch]
 *
 * Prints CPU ms over the window, and per peer per second. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#define IDLE_METHODS(M) M(idle, ping, tr_i64, tr_i64, ASK)
TR_GATEWAY(idle, IDLE_METHODS)
TR_GATEWAY_DEFINE(idle, IDLE_METHODS)
static int ping(tr_endpoint *self, void *state, const tr_i64 *x, tr_reply *r)
{
    (void)self, (void)state;
    return idle_ping_reply(r, x);
}
static const idle_handlers handlers = {.ping = ping};

static double cpu_ms(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[2048];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s PEERS SECONDS INTERVAL_MS TIMEOUT_MS [nowatch]\n", argv[0]);
        return 2;
    }
    int peers = atoi(argv[1]), secs = atoi(argv[2]);
    int64_t iv = atoll(argv[3]) * 1000000LL, to = atoll(argv[4]) * 1000000LL;
    int watch = !(argc > 5 && !strcmp(argv[5], "nowatch"));
    if (peers < 1 || peers > 200 || secs < 1 || secs > 120)
        return 2;
    tr_service **srv = calloc((size_t)peers, sizeof *srv);
    tr_gateway **gw = calloc((size_t)peers, sizeof *gw);
    tr_future **fut = calloc((size_t)peers, sizeof *fut);
    tr_service_config cc;
    tr_service_config_init(&cc);
    cc.workers = 1;
    cc.heartbeat_interval_ns = iv;
    cc.heartbeat_timeout_ns = to;
    tr_service *client;
    if (tr_service_create(&cc, &client))
        return 1;
    for (int i = 0; i < peers; i++) {
        tr_service_config sc;
        tr_service_config_init(&sc);
        sc.workers = 1;
        sc.listen = true;
        if (tr_service_create(&sc, &srv[i]))
            return 1;
        char addr[96], bound[64];
        tr_service_listen_address(srv[i], bound, sizeof bound);
        snprintf(addr, sizeof addr, "troupe://%s/idle", bound);
        tr_gateway_impl impls[] = {idle_impl(&handlers)};
        tr_endpoint_opts o = {.id = "idle", .gateways = impls, .ngateways = 1};
        tr_endpoint *ep;
        if (tr_endpoint_create(srv[i], &o, &ep) || tr_endpoint_start(ep))
            return 1;
        tr_endpoint_release(ep);
        if (tr_service_connect(client, addr, &idle_gateway, &gw[i])) {
            fprintf(stderr, "connect %s: %s\n", addr, tr_service_connect_error());
            return 1;
        }
        if (watch && tr_gateway_watch(gw[i], &fut[i], NULL))
            return 1;
        tr_future *f; /* the connection is up and the WATCH went out */
        idle_ping(gw[i], &(tr_i64){1}, 0, &f);
        tr_future_get(f, -1);
        tr_future_release(f);
    }
    nanosleep(&(struct timespec){1, 0}, NULL); /* settle */
    double c0 = cpu_ms();
    nanosleep(&(struct timespec){secs, 0}, NULL);
    double c1 = cpu_ms();
    int fired = 0;
    for (int i = 0; i < peers; i++)
        fired += watch && tr_future_done(fut[i]);
    printf("peers %d, %s, interval %lld ms, timeout %lld ms: %.0f ms CPU in %d s = %.3f ms "
           "CPU per peer per second (%d watches fired: should be 0)\n",
           peers, watch ? "watched" : "not watched", (long long)(iv / 1000000),
           (long long)(to / 1000000), c1 - c0, secs, (c1 - c0) / peers / secs, fired);
    for (int i = 0; i < peers; i++) {
        tr_future_release(fut[i]);
        tr_gateway_release(gw[i]);
    }
    tr_service_destroy(client);
    for (int i = 0; i < peers; i++)
        tr_service_destroy(srv[i]);
    free(srv), free(gw), free(fut);
    return 0;
}
