/* The kv example (tools/kv) across processes: two troupe-kv servers, each
 * hosting two shards, started by PID on 127.0.0.1 (ports read from port
 * files) and stopped by PID; this process is the client, routing by key
 * hash over the four shards.
 *
 * The big test runs the self-checking mixed load (tools/kv/kv_load.h): 4
 * threads, 32 asks in flight each, >= 100,000 puts, gets, dels (tells, not
 * waited for) and sizes with keys and values of many sizes, empty and
 * 64-256 KiB ones included; every answer is checked against the thread's
 * model, which S21 makes exact (one thread's calls to one shard are handled
 * in order: a del then a get of that key finds nothing), then every key is
 * read back and every shard's size checked. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "kv.h"
#include "kv_load.h"
#include "remote_common.h"

typedef struct server {
    pid_t pid;
    uint16_t port;
    char host[32]; /* "127.0.0.1:<port>" */
    char port_file[128];
} server;

static server server_start(unsigned n)
{
    server s = {0};
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    TC_ASSERT(len > 0);
    self[len] = '\0';
    *strrchr(self, '/') = '\0';
    snprintf(path, sizeof path, "%s/troupe-kv", self);
    TC_ASSERT_MSG(access(path, X_OK) == 0, "%s is not there: build the troupe-kv target", path);
    snprintf(s.port_file, sizeof s.port_file, "/tmp/troupe-kv-test-%ld-%u.port", (long)getpid(), n);
    unlink(s.port_file);
    s.pid = fork();
    TC_ASSERT(s.pid >= 0);
    if (s.pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execl(path, path, "serve", "--listen", "127.0.0.1:0", "--port-file", s.port_file,
              "--idle-exit", "30", (char *)NULL);
        _exit(127);
    }
    uint64_t dl = tc_deadline_ms(10000);
    while (!s.port) {
        FILE *f = fopen(s.port_file, "r");
        unsigned p = 0;
        if (f) {
            if (fscanf(f, "%u", &p) != 1)
                p = 0;
            fclose(f);
        }
        s.port = (uint16_t)p;
        if (!s.port)
            TC_ASSERT_MSG(tc_poll(dl), "troupe-kv serve published no port within 10 s");
    }
    snprintf(s.host, sizeof s.host, "127.0.0.1:%u", (unsigned)s.port);
    return s;
}

/* SIGTERM, then a bounded wait: it must stop cleanly (status 0). */
static void server_stop(server *s)
{
    TC_ASSERT(kill(s->pid, SIGTERM) == 0);
    int status = -1;
    uint64_t dl = tc_deadline_ms(10000);
    while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
        if (!tc_poll(dl)) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            TC_FAIL("troupe-kv serve (pid %ld) did not stop within 10 s", (long)s->pid);
        }
    }
    unlink(s->port_file);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server status %d", status);
    s->pid = 0;
}

typedef struct world {
    server srv[2];
    tr_service *svc;
    kv_router *r;
} world;

/* A test's servers, in static storage: a failed assertion leaves the
 * test before world_close, and the fini then kills the servers still
 * running (by PID), so none outlives its test. */
static world the_world;

static void kill_servers(void)
{
    for (int i = 0; i < 2; i++)
        if (the_world.srv[i].pid > 0) {
            kill(the_world.srv[i].pid, SIGKILL);
            waitpid(the_world.srv[i].pid, NULL, 0);
            unlink(the_world.srv[i].port_file);
            the_world.srv[i].pid = 0;
        }
}

static world *world_open(void)
{
    world *w = &the_world;
    memset(w, 0, sizeof *w);
    w->srv[0] = server_start(0);
    w->srv[1] = server_start(1);
    w->svc = r_client(2, 0, 0);
    const char *hosts[2] = {w->srv[0].host, w->srv[1].host};
    int rv = kv_router_open(w->svc, hosts, 2, KV_SHARDS_PER_SERVER, &w->r);
    TC_ASSERT_MSG(rv == 0, "kv_router_open: %s: %s", tr_errname(rv), tr_service_connect_error());
    cr_assert_eq(kv_router_shards(w->r), 4);
    TC_EQ_U64(r_stats(w->svc).connections_opened, 2); /* one per server, two shards each */
    return w;
}

static void world_close(world *w)
{
    kv_router_close(w->r);
    tr_remote_stats st = r_stats(w->svc);
    TC_EQ_U64(st.connections_lost, 0);
    TC_EQ_U64(st.tells_dropped, 0);
    tr_service_destroy(w->svc);
    server_stop(&w->srv[0]);
    server_stop(&w->srv[1]);
    TC_ASSERT_NO_LEAKS();
}

static uint64_t size_of(tr_gateway *gw)
{
    tr_future *f;
    TC_OK(kv_size(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    uint64_t n = *kv_size_result(f);
    tr_future_release(f);
    return n;
}

/* The calls one by one, as a user makes them, on the edge cases: an empty
 * key and value, a large value, a replaced value, a del then a get (not
 * waiting for the del), a NULL key refused. */
Test(kv, calls_one_by_one, .timeout = 60, .fini = kill_servers)
{
    world *w = world_open();
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    struct {
        const char *key;
        tr_bytes v;
    } cases[] = {{"", {NULL, 0}}, {"a", {"x", 1}}, {"large", {big, sizeof big}},
                 {"empty value", {"", 0}}};
    tr_future *f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_gateway *gw = kv_route(w->r, cases[i].key);
        for (int round = 0; round < 2; round++) { /* the second put replaces */
            TC_OK(kv_put(gw, &(kv_entry){cases[i].key, cases[i].v}, 0, &f));
            TC_OK(tr_future_get(f, WAIT_NS));
            cr_assert_eq(*kv_put_result(f), round == 1, "put \"%s\" #%d", cases[i].key, round);
            tr_future_release(f);
        }
        TC_OK(kv_get(gw, &(tr_str){cases[i].key}, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        const kv_got *g = kv_get_result(f);
        cr_assert(g && g->found, "get \"%s\"", cases[i].key);
        cr_assert_eq(g->value.len, cases[i].v.len);
        cr_assert(!g->value.len || !memcmp(g->value.data, cases[i].v.data, g->value.len));
        tr_future_release(f);
        TC_OK(kv_del(gw, &(tr_str){cases[i].key})); /* a tell, not waited for ... */
        TC_OK(kv_get(gw, &(tr_str){cases[i].key}, 0, &f)); /* ... but handled before this */
        TC_OK(tr_future_get(f, WAIT_NS));
        cr_assert(kv_get_result(f) && !kv_get_result(f)->found, "\"%s\" after its del",
                  cases[i].key);
        tr_future_release(f);
    }
    uint64_t total = 0;
    for (size_t s = 0; s < kv_router_shards(w->r); s++)
        total += size_of(kv_router_shard(w->r, s));
    TC_EQ_U64(total, 0);
    TC_OK(kv_put(kv_router_shard(w->r, 0), &(kv_entry){NULL, {"v", 1}}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EINVAL);
    tr_future_release(f);
    world_close(w);
}

static void load(unsigned window, uint64_t ops, uint64_t seed)
{
    world *w = world_open();
    kv_load_opts o = {.threads = 4, .window = window, .ops = ops, .keys = 2000, .large = true,
                      .seed = seed, .timeout_ns = WAIT_NS};
    kv_load_result res;
    TC_OK(kv_load_run(w->r, &o, &res));
    TC_LOG("kv load, window %u: %llu calls (%llu put, %llu get, %llu found, %llu del, %llu "
           "size) in %.2f s, p50 %.0f us, p99 %.0f us",
           window, (unsigned long long)res.ops, (unsigned long long)res.puts,
           (unsigned long long)res.gets, (unsigned long long)res.found,
           (unsigned long long)res.dels, (unsigned long long)res.sizes, res.seconds,
           res.p50_ns / 1e3, res.p99_ns / 1e3);
    cr_assert_eq(res.errors, 0, "%llu of %llu answers wrong; the first: %s",
                 (unsigned long long)res.errors, (unsigned long long)res.ops, res.first_error);
    cr_assert_geq(res.ops, ops);
    /* The mix is what it says: every kind of call, found and missing keys. */
    cr_assert(res.puts > ops / 4 && res.gets > ops / 3 && res.dels > ops / 10 && res.sizes > ops / 40);
    cr_assert(res.found > res.gets / 10 && res.found < res.gets - res.gets / 10,
              "%llu of %llu gets found their key", (unsigned long long)res.found,
              (unsigned long long)res.gets);
    world_close(w);
}

Test(kv, mixed_load_window_32, .timeout = 120, .fini = kill_servers) { load(32, 100000, 0x6b76); }

/* One ask at a time per thread: nothing batches but the tells. */
Test(kv, mixed_load_window_1, .timeout = 60, .fini = kill_servers) { load(1, 10000, 0x6b77); }
