/* troupe-bench: command line, the workload table, reporting.
 *
 *   troupe-bench                          every local workload, default params
 *   troupe-bench WORKLOAD [key=value ...] one workload
 *   troupe-bench key=value ...            every local workload, common keys only
 *   troupe-bench --list | --help
 *
 * stdout carries only RESULT lines (../shared/bench/RESULTS.md), or with
 * format=json|csv one document of every run at the end; progress, failures
 * and a readable table go to stderr. Exit status: 0 when every run
 * checked out, 1 on a count mismatch, error or timeout, 2 on a usage error. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/futex.h"
#include "savina/savina.h"

/* The workload table: --list shows exactly what it holds, and a bare
 * troupe-bench runs the rows marked in_default_run, each of its sets. */
#define BIG ((int64_t)1 << 40) /* no practical limit */

bench_fn bench_ask_pingpong, bench_ask_fanin, bench_tell_fanin; /* rpc.c */
bench_fn bench_kv;                                                /* kv.c */
#define KV_LOAD_WINDOW_MAX_ 256 /* tools/kv/kv_load.h's KV_LOAD_MAX_WINDOW */

static const bench_workload workloads[] = {
    {"pingpong", "roundtrips/s", "two actors bounce one message n times",
     {{"n", NULL, 1, BIG}}, {"n=3000000"}, true, true, bench_pingpong},
    {"fanin", "msgs/s", "p producer actors each send m integers to one counting receiver",
     {{"p", NULL, 1, 1024}, {"m", NULL, 1, BIG}}, {"p=1,m=12000000", "p=2,m=6000000"}, true,
     true, bench_fanin},
    {"ring", "hops/s", "a token passes `hops` hops around a ring of actors",
     {{"actors", NULL, 1, 10000000}, {"hops", NULL, 1, BIG}}, {"actors=503,hops=5000000"}, true,
     true, bench_ring},
    {"spawn", "actors/s",
     "main spawns n actors, sends each one message; each reports to a sink and stops",
     {{"n", NULL, 1, BIG}, {"from", "main", 0, 0}}, {"n=100000,from=main", "n=1000000,from=main"},
     true, true, bench_spawn},
    {"spawn_mem", "bytes/actor", "VmRSS growth per live idle actor (n alive at once)",
     {{"n", NULL, 1, BIG}}, {"n=1000000"}, true, true, bench_spawn_mem},
    {"big", "msgs/s", "each actor pings k random others one at a time and awaits the pong",
     {{"actors", NULL, 2, 10000000}, {"k", NULL, 1, BIG}}, {"actors=1000,k=3000"}, true, true,
     bench_big},
    /* RPC through gateways (rpc.c); tell_fanin is fanin with tells, to price a tell. */
    {"ask_pingpong", "roundtrips/s", "like pingpong, each round trip an ask through a gateway",
     {{"n", NULL, 1, BIG}}, {"n=3000000"}, true, true, bench_ask_pingpong},
    {"ask_fanin", "msgs/s", "p callers each make m asks to one endpoint, 64 outstanding each",
     {{"p", NULL, 1, 1024}, {"m", NULL, 1, BIG}}, {"p=2,m=3000000"}, true, true, bench_ask_fanin},
    {"tell_fanin", "msgs/s", "like fanin, each message a tell through a gateway",
     {{"p", NULL, 1, 1024}, {"m", NULL, 1, BIG}}, {"p=1,m=12000000", "p=2,m=6000000"}, false,
     true, bench_tell_fanin},
    /* Not actor workloads: the mailbox queue candidates, without a service. */
    {"mpsc", "msgs/s",
     "mailbox queues head to head (engine Vyukov vs liburcu wfcq), p threads -> 1, m in all",
     {{"p", NULL, 1, 64}, {"m", NULL, 1, (int64_t)1 << 32}}, {"p=1,m=10000000", "p=2,m=10000000"},
     false, false, bench_mpsc},
    {"mpsc_pair", "pairs/s",
     "one thread pushes `burst` nodes and pops them: cost of an enqueue+dequeue pair",
     {{"n", NULL, 1, BIG}, {"burst", NULL, 1, 1 << 20}}, {"n=20000000,burst=256"}, false, false,
     bench_mpsc_pair},
    /* Remote (remote.c): two processes over loopback; each run starts
     * troupe-node by PID unless given peer=HOST:PORT of a running one. Not
     * in the default run: they start processes and take a few seconds. */
    {"remote_pingpong", "roundtrips/s",
     "sequential asks to troupe-node's ping over loopback (1000 warm-up rounds first); "
     "also remote_pingpong_p50/_p99 (ns)",
     {{"n", NULL, 1, BIG}, {"peer", NULL, 0, 0}, {"tls", NULL, 0, 0}}, {"n=10000,peer=auto,tls=none"}, false, true,
     bench_remote_pingpong},
    {"overload_local", "msgs/s",
     "main sends m 64-byte tells as fast as it can to an endpoint spending `spin` ns on each; "
     "reports the consumer's rate and the peak RSS above idle",
     {{"m", NULL, 1, BIG}, {"spin", NULL, 0, 1000000000}},
     {"m=5000000,spin=1000"}, false, true, bench_overload_local},
    {"overload_remote", "msgs/s",
     "as overload_local, to troupe-node's sink spinning `spin` ns (started by PID); peak RSS "
     "of both processes",
     {{"m", NULL, 1, BIG}, {"spin", NULL, 0, 1000000000}, {"peer", NULL, 0, 0}},
     {"m=5000000,spin=1000,peer=auto"}, false, true, bench_overload_remote},
    {"remote_throughput", "msgs/s",
     "m one-way tells with a payload to troupe-node's sink, which answers once after the m-th "
     "(warm=N: N tells and their answer first, off the clock, so TCP's window is open)",
     {{"m", NULL, 1, BIG}, {"payload", NULL, 0, 1 << 24}, {"warm", NULL, 0, BIG}, {"peer", NULL, 0, 0}, {"tls", NULL, 0, 0}},
     {"m=300000,payload=64,warm=0,peer=auto,tls=none", "m=5000000,payload=64,warm=0,peer=auto,tls=none"}, false, true,
     bench_remote_throughput},
    {"remote_stream", "GB/s",
     "`bytes` through one stream to troupe-node (check=1: digest checked; zc=1: "
     "tr_stream_write_zc, no copy on the sending side), then over raw TCP in this process; "
     "the node's peak RSS",
     {{"bytes", NULL, 1, (int64_t)1 << 40}, {"check", NULL, 0, 1}, {"zc", NULL, 0, 1},
      {"peer", NULL, 0, 0}, {"tls", NULL, 0, 0}},
     {"bytes=1073741824,check=0,zc=0,peer=auto,tls=none",
      "bytes=1073741824,check=0,zc=1,peer=auto,tls=none"}, false, true, bench_remote_stream},
    /* The kv example (kv.c, tools/kv): a self-checking mixed load of puts,
     * gets, dels and sizes over four shards, in this process or in two
     * troupe-kv servers over loopback; also reports kv_p50 and kv_p99. */
    {"kv", "ops/s",
     "t threads, each up to `window` asks in flight, mixed calls to 4 kv shards (local or 2 "
     "servers)",
     {{"where", "local|loopback", 0, 0}, {"window", NULL, 1, KV_LOAD_WINDOW_MAX_},
      {"ops", NULL, 1, BIG}, {"threads", NULL, 1, 64}},
     {"where=local,window=1,ops=200000,threads=4", "where=local,window=32,ops=200000,threads=4",
      "where=loopback,window=1,ops=200000,threads=4",
      "where=loopback,window=32,ops=200000,threads=4"},
     false, true, bench_kv},
    /* Savina (savina/): `savina` runs all 23, `savina.NAME` one; one RESULT
     * line per benchmark run, timed whole (service created and destroyed). */
    {"savina", "runs/s", "the Savina actor benchmarks (savina.NAME: one), size=short for a test",
     {{"bench", NULL, 0, 0}, {"size", "default|short", 0, 0}}, {"bench=all,size=default"}, false,
     true, bench_savina},
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])

static const char *const alloc_names[] = {"default", "malloc", "pool"};

/* Keys that are not plain integers or choices. TEXT: any value without
 * spaces or commas (a host:port). HIDDEN: left out of `param`, since it
 * does not change what is measured (where the peer runs), so results line
 * up with the peers' rows. A suffix is a unit the integer may carry
 * ("payload=64B"); `param` always shows it. */
enum { KEY_TEXT = 1, KEY_HIDDEN = 2 };
static const struct key_trait {
    const char *name;
    unsigned flags;
    const char *suffix;
} key_traits[] = {
    {"peer", KEY_TEXT | KEY_HIDDEN, NULL},
    {"tls", KEY_TEXT, NULL}, /* none, DIR (ca.pem cert.pem key.pem), psk:HEX: remote.c */
    {"payload", 0, "B"},
    {"bench", KEY_TEXT | KEY_HIDDEN, NULL}, /* savina: which one (the name says it) */
};

static const struct key_trait *trait_of(const bench_key *k)
{
    for (size_t i = 0; i < sizeof key_traits / sizeof key_traits[0]; i++)
        if (!strcmp(key_traits[i].name, k->name))
            return &key_traits[i];
    return NULL;
}
static unsigned key_flags(const bench_key *k)
{
    const struct key_trait *t = trait_of(k);
    return t ? t->flags : 0;
}
static const char *key_suffix(const bench_key *k)
{
    const struct key_trait *t = trait_of(k);
    return t && t->suffix ? t->suffix : "";
}

/* ---------------------------------------------------------------- reporting */

#define MAX_ROWS 256

typedef struct row {
    char workload[32];
    char param[BENCH_PARAM_LEN];
    char unit[16];
    double rate, ns_per_op, seconds;
} row;

static row rows[MAX_ROWS];
static unsigned nrows;

/* format=: RESULT lines as each run ends, or one document at the end. */
enum { FORMAT_RESULT, FORMAT_JSON, FORMAT_CSV };
static const char *const format_names[] = {"result", "json", "csv"};
static int format = FORMAT_RESULT;

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void bench_fail(const bench_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "troupe-bench: FAIL %s %s: ", r->w->name, r->param);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void bench_report(const bench_run *r, const char *workload, double rate, const char *unit,
                  double ns_per_op, double seconds)
{
    if (format == FORMAT_RESULT) {
        /* A slow rate (Savina's runs/s) keeps three decimals. */
        printf("RESULT impl=troupe workload=%s param=%s rate=%.*f unit=%s ns_per_op=%.1f\n",
               workload, r->param, rate < 1000 ? 3 : 0, rate, unit, ns_per_op);
        fflush(stdout);
    } else if (nrows == MAX_ROWS) {
        bench_note("more than %d runs: the %s document leaves this one out", MAX_ROWS,
                   format_names[format]);
    }
    if (nrows < MAX_ROWS) {
        row *x = &rows[nrows++];
        snprintf(x->workload, sizeof x->workload, "%s", workload);
        snprintf(x->param, sizeof x->param, "%s", r->param);
        snprintf(x->unit, sizeof x->unit, "%s", unit);
        x->rate = rate;
        x->ns_per_op = ns_per_op;
        x->seconds = seconds;
    }
    bench_note("%s %s: %.0f %s, %.1f ns/op, %.3f s", workload, r->param, rate, unit, ns_per_op,
               seconds);
}

static void human(char *buf, size_t len, double v)
{
    if (v >= 1e6)
        snprintf(buf, len, "%.2f M", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, len, "%.1f k", v / 1e3);
    else if (v >= 100)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.3g", v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One line per (workload, param): the median rate with min-max over its
 * repetitions, and the median ns/op. */
static void print_table(void)
{
    if (!nrows)
        return;
    int pw = 5, ww = 8; /* column widths: the longest param and workload */
    for (unsigned i = 0; i < nrows; i++) {
        int pl = (int)strlen(rows[i].param), wl = (int)strlen(rows[i].workload);
        pw = pl > pw ? pl : pw;
        ww = wl > ww ? wl : ww;
    }
    fprintf(stderr, "\n%-*s  %-*s  %10s  %-21s  %-12s  %9s  %4s\n", ww, "workload", pw, "param",
            "median", "(min - max)", "unit", "ns/op", "runs");
    bool done[MAX_ROWS] = {false};
    for (unsigned i = 0; i < nrows; i++) {
        if (done[i])
            continue;
        double rates[MAX_ROWS], nss[MAX_ROWS];
        unsigned n = 0;
        for (unsigned j = i; j < nrows; j++) {
            if (done[j] || strcmp(rows[j].workload, rows[i].workload) ||
                strcmp(rows[j].param, rows[i].param))
                continue;
            done[j] = true;
            rates[n] = rows[j].rate;
            nss[n++] = rows[j].ns_per_op;
        }
        qsort(rates, n, sizeof rates[0], cmp_double);
        qsort(nss, n, sizeof nss[0], cmp_double);
        char med[32], lo[32], hi[32], range[72];
        human(med, sizeof med, rates[n / 2]);
        human(lo, sizeof lo, rates[0]);
        human(hi, sizeof hi, rates[n - 1]);
        snprintf(range, sizeof range, "(%s - %s)", lo, hi);
        fprintf(stderr, "%-*s  %-*s  %10s  %-21s  %-12s  %9.1f  %4u\n", ww, rows[i].workload, pw,
                rows[i].param, med, n > 1 ? range : "", rows[i].unit, nss[n / 2], n);
    }
}

/* Every run so far as one JSON or CSV document on stdout (the same fields
 * as a RESULT line, plus the run's seconds). Names and params hold no
 * quotes or backslashes (parse_arg refuses them), so no escaping. */
static void print_document(void)
{
    if (format == FORMAT_JSON) {
        printf("{\"impl\": \"troupe\", \"version\": \"%s\", \"results\": [", tr_version_string());
        for (unsigned i = 0; i < nrows; i++)
            printf("%s\n  {\"workload\": \"%s\", \"param\": \"%s\", \"rate\": %.0f, "
                   "\"unit\": \"%s\", \"ns_per_op\": %.1f, \"seconds\": %.6f}",
                   i ? "," : "", rows[i].workload, rows[i].param, rows[i].rate, rows[i].unit,
                   rows[i].ns_per_op, rows[i].seconds);
        printf("\n]}\n");
    } else if (format == FORMAT_CSV) {
        printf("impl,workload,param,rate,unit,ns_per_op,seconds\n");
        for (unsigned i = 0; i < nrows; i++) /* param has commas: quoted */
            printf("troupe,%s,\"%s\",%.0f,%s,%.1f,%.6f\n", rows[i].workload, rows[i].param,
                   rows[i].rate, rows[i].unit, rows[i].ns_per_op, rows[i].seconds);
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- completion */

static char fail_text[256];
static atomic_flag fail_taken = ATOMIC_FLAG_INIT;

void bench_done_init(bench_done *d)
{
    atomic_store_explicit(&d->state, BENCH_RUNNING, memory_order_relaxed);
}

void bench_done_signal(bench_done *d)
{
    /* release: pairs with the acquire load in bench_done_wait. */
    atomic_store_explicit(&d->state, BENCH_DONE, memory_order_release);
    tri_futex_wake(&d->state, 1);
}

void bench_done_fail(bench_done *d, const char *fmt, ...)
{
    if (!atomic_flag_test_and_set_explicit(&fail_taken, memory_order_relaxed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_text, sizeof fail_text, fmt, ap);
        va_end(ap);
    }
    /* release: publishes fail_text to the waiter. */
    atomic_store_explicit(&d->state, BENCH_FAILED, memory_order_release);
    tri_futex_wake(&d->state, 1);
}

int bench_done_wait(bench_done *d, const bench_run *r, const char *what)
{
    int64_t start = bench_now_ns();
    int64_t deadline = start + (int64_t)r->opts->timeout_s * 1000000000LL;
    int64_t next_note = start + 10000000000LL;
    /* Bounded by the deadline; each sleep is at most 100 ms. */
    for (;;) {
        /* acquire: pairs with the release store of the signalling actor. */
        uint32_t s = atomic_load_explicit(&d->state, memory_order_acquire);
        if (s == BENCH_DONE)
            return BENCH_OK;
        if (s == BENCH_FAILED) {
            bench_fail(r, "%s", fail_text);
            atomic_flag_clear(&fail_taken);
            return BENCH_FAIL;
        }
        int64_t now = bench_now_ns();
        if (now >= deadline) {
            bench_fail(r, "timed out after %u s waiting for %s", r->opts->timeout_s, what);
            return BENCH_TIMEOUT;
        }
        if (now >= next_note) {
            bench_note("... still waiting for %s (%.0f s)", what, (now - start) / 1e9);
            next_note += 10000000000LL;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        tri_futex_wait(&d->state, BENCH_RUNNING, &ts);
    }
}

bool bench_poll(bool (*cond)(void *arg), void *arg, const bench_run *r)
{
    int64_t deadline = bench_now_ns() + (int64_t)r->opts->timeout_s * 1000000000LL;
    while (!cond(arg)) {
        if (bench_now_ns() >= deadline)
            return false;
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

int bench_service_create(const bench_run *r, tr_service **out)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = r->opts->workers;
    cfg.batch = r->opts->batch;
    cfg.msg_alloc = r->opts->alloc;
    int rv = tr_service_create(&cfg, out);
    if (rv) {
        bench_fail(r, "tr_service_create: %s", tr_strerror(rv));
        return BENCH_FAIL;
    }
    return BENCH_OK;
}

void bench_sched_note(const tr_service *svc)
{
    tr_sched_stats st;
    tr_service_sched_stats(svc, &st);
    bench_note("sched: parks=%llu wakes=%llu steals=%llu injected=%llu",
               (unsigned long long)st.parks, (unsigned long long)st.wakes,
               (unsigned long long)st.steals, (unsigned long long)st.injected);
}

/* ---------------------------------------------------------------- parameters */

static int key_index(const bench_workload *w, const char *name, size_t len)
{
    for (int i = 0; i < BENCH_MAX_KEYS && w->keys[i].name; i++)
        if (strlen(w->keys[i].name) == len && !strncmp(w->keys[i].name, name, len))
            return i;
    return -1;
}

int64_t bench_int(const bench_run *r, const char *name)
{
    int i = key_index(r->w, name, strlen(name));
    return i < 0 ? 0 : strtoll(r->val[i], NULL, 10);
}

const char *bench_str(const bench_run *r, const char *name)
{
    int i = key_index(r->w, name, strlen(name));
    return i < 0 ? "" : r->val[i];
}

/* A decimal integer in [min, max], nothing else. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The integer part of v: without the key's unit suffix, if it has one. */
static void strip_suffix(const bench_key *k, const char *v, char *buf, size_t len)
{
    size_t n = strlen(v), sl = strlen(key_suffix(k));
    if (sl && n > sl && !strcmp(v + n - sl, key_suffix(k)))
        n -= sl;
    snprintf(buf, len, "%.*s", (int)n, v);
}

static bool valid_value(const bench_key *k, const char *v)
{
    if (key_flags(k) & KEY_TEXT)
        return *v && !strpbrk(v, ", \t");
    if (!k->choices) {
        int64_t x;
        char num[48];
        strip_suffix(k, v, num, sizeof num);
        return parse_int(num, k->min, k->max, &x);
    }
    size_t len = strlen(v);
    for (const char *c = k->choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && !strncmp(c, v, n))
            return true;
        c += n + (bar ? 1 : 0);
    }
    return false;
}

/* The value of key `ki` in a "a=1,b=2" set, copied into buf; false if absent. */
static bool set_value(const char *set, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    for (const char *p = set; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n > klen && p[klen] == '=' && !strncmp(p, key, klen)) {
            snprintf(buf, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
            return true;
        }
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

typedef struct overrides {
    const char *val[BENCH_MAX_KEYS]; /* NULL: not given */
    unsigned count;
} overrides;

/* Parses one key=value into the common options or the workload's keys
 * (w NULL: common keys only). Returns false after printing why. */
static bool parse_arg(const char *arg, const bench_workload *w, bench_opts *o, overrides *ov)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "troupe-bench: expected key=value, got '%s'\n", arg);
        return false;
    }
    size_t klen = (size_t)(eq - arg);
    const char *v = eq + 1;
    int64_t x;
#define KEY_IS(s) (klen == strlen(s) && !strncmp(arg, s, klen))
    bool service_key = KEY_IS("workers") || KEY_IS("alloc") || KEY_IS("batch");
    if (service_key && w && !w->uses_service) {
        fprintf(stderr, "troupe-bench: %.*s does not apply to %s (it runs no service)\n",
                (int)klen, arg, w->name);
        return false;
    }
    if (KEY_IS("workers")) {
        if (!parse_int(v, 1, 1024, &x))
            goto bad;
        o->workers = (unsigned)x;
    } else if (KEY_IS("batch")) {
        if (!parse_int(v, 1, 1 << 20, &x))
            goto bad;
        o->batch = (unsigned)x;
    } else if (KEY_IS("reps")) {
        if (!parse_int(v, 1, 1000, &x))
            goto bad;
        o->reps = (unsigned)x;
    } else if (KEY_IS("timeout")) {
        if (!parse_int(v, 1, 86400, &x))
            goto bad;
        o->timeout_s = (unsigned)x;
    } else if (KEY_IS("format")) {
        unsigned i = 0;
        while (i < 3 && strcmp(v, format_names[i]))
            i++;
        if (i == 3)
            goto bad;
        format = (int)i;
    } else if (KEY_IS("alloc")) {
        unsigned i = 0;
        while (i < 3 && strcmp(v, alloc_names[i]))
            i++;
        if (i == 3)
            goto bad;
        o->alloc = (tr_msg_alloc)i;
    } else {
        int ki = w ? key_index(w, arg, klen) : -1;
        if (ki < 0) {
            fprintf(stderr, "troupe-bench: unknown key '%.*s'%s%s (see --list)\n", (int)klen,
                    arg, w ? " for workload " : "", w ? w->name : " without a workload");
            return false;
        }
        if (!valid_value(&w->keys[ki], v)) {
            const bench_key *k = &w->keys[ki];
            if (key_flags(k) & KEY_TEXT)
                fprintf(stderr, "troupe-bench: bad value in '%s' (no spaces or commas, e.g. "
                        "peer=127.0.0.1:4711)\n", arg);
            else if (k->choices)
                fprintf(stderr, "troupe-bench: bad value in '%s' (one of: %s)\n", arg,
                        k->choices);
            else
                fprintf(stderr, "troupe-bench: bad value in '%s' (an integer, %lld to %lld)\n",
                        arg, (long long)k->min, (long long)k->max);
            return false;
        }
        if (ov->val[ki]) {
            fprintf(stderr, "troupe-bench: key '%s' given twice\n", w->keys[ki].name);
            return false;
        }
        ov->val[ki] = v;
        ov->count++;
    }
    return true;
#undef KEY_IS
bad:
    fprintf(stderr, "troupe-bench: bad value in '%s' (see --help)\n", arg);
    return false;
}

/* Builds r->param: the workload's keys in order, then non-default common
 * options (RESULTS.md: a non-default workers value adds ",workers=N"). */
static void build_param(bench_run *r)
{
    const bench_workload *w = r->w;
    const bench_opts *o = r->opts;
    size_t len = 0, cap = sizeof r->param;
    r->param[0] = '\0';
    for (int i = 0; i < BENCH_MAX_KEYS && w->keys[i].name && len < cap; i++)
        if (!(key_flags(&w->keys[i]) & KEY_HIDDEN))
            len += (size_t)snprintf(r->param + len, cap - len, "%s%s=%s%s", len ? "," : "",
                                    w->keys[i].name, r->val[i], key_suffix(&w->keys[i]));
    if (!w->uses_service)
        return;
    if (o->workers != o->default_workers && len < cap)
        len += (size_t)snprintf(r->param + len, cap - len, ",workers=%u", o->workers);
    if (o->alloc != TR_MSG_ALLOC_DEFAULT && len < cap)
        len += (size_t)snprintf(r->param + len, cap - len, ",alloc=%s", alloc_names[o->alloc]);
    if (o->batch && o->batch != TR_DEFAULT_BATCH && len < cap)
        snprintf(r->param + len, cap - len, ",batch=%u", o->batch);
}

static int failures;

/* Runs one parameter set `reps` times: `set` gives the defaults, `ov` what
 * the command line overrides. */
static void run_set(const bench_workload *w, const char *set, const overrides *ov,
                    const bench_opts *o)
{
    char buf[BENCH_MAX_KEYS][48];
    bench_run r = {.w = w, .opts = o};
    for (int i = 0; i < BENCH_MAX_KEYS && w->keys[i].name; i++) {
        if (ov && ov->val[i])
            r.val[i] = ov->val[i];
        else if (set_value(set, w->keys[i].name, buf[i], sizeof buf[i]))
            r.val[i] = buf[i];
        else
            r.val[i] = "0"; /* table error: every set names every key */
        if (!w->keys[i].choices && !(key_flags(&w->keys[i]) & KEY_TEXT)) {
            /* canonical form in `param`: "p=07" -> "p=7", "payload=64B" -> 64 */
            char num[48];
            strip_suffix(&w->keys[i], r.val[i], num, sizeof num);
            long long v = strtoll(num, NULL, 10);
            snprintf(buf[i], sizeof buf[i], "%lld", v);
            r.val[i] = buf[i];
        }
    }
    build_param(&r);
    for (unsigned rep = 0; rep < o->reps; rep++) {
        bench_note("%s %s (rep %u/%u)", w->name, r.param, rep + 1, o->reps);
        int rv = w->run(&r);
        if (rv == BENCH_TIMEOUT) {
            /* Actors may still run: tearing the service down could hang. */
            print_table();
            print_document();
            fprintf(stderr, "troupe-bench: giving up after a timeout\n");
            fflush(NULL);
            _exit(1);
        }
        if (rv != BENCH_OK)
            failures++;
    }
}

/* With overrides, the base set is the default set agreeing with most of
 * them (so `fanin p=2` gets m=6000000), the first one on a tie. */
static void run_workload(const bench_workload *w, const overrides *ov, const bench_opts *o)
{
    if (!ov || !ov->count) {
        for (int s = 0; s < BENCH_MAX_SETS && w->sets[s]; s++)
            run_set(w, w->sets[s], NULL, o);
        return;
    }
    int best = 0, best_hits = -1;
    for (int s = 0; s < BENCH_MAX_SETS && w->sets[s]; s++) {
        int hits = 0;
        char buf[48];
        for (int i = 0; i < BENCH_MAX_KEYS && w->keys[i].name; i++)
            if (ov->val[i] && set_value(w->sets[s], w->keys[i].name, buf, sizeof buf) &&
                !strcmp(buf, ov->val[i]))
                hits++;
        if (hits > best_hits) {
            best = s;
            best_hits = hits;
        }
    }
    run_set(w, w->sets[best], ov, o);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: troupe-bench                          every local workload, defaults\n"
            "       troupe-bench WORKLOAD [key=value ...] one workload\n"
            "       troupe-bench key=value ...            every local workload, common keys\n"
            "       troupe-bench --list                   workloads and their defaults\n"
            "       troupe-bench savina[.NAME] [size=short] the Savina benchmarks (all, or one)\n"
            "\n"
            "common keys:\n"
            "  workers=N   worker threads (default: online CPUs)\n"
            "  alloc=X     message allocator: default, malloc or pool\n"
            "  batch=N     messages per actor turn (default %d)\n"
            "  reps=N      repeat each run N times, one RESULT line each (default 1;\n"
            "              5 in the default run, whose table gives median and min-max)\n"
            "  timeout=S   give up (exit 1) when a run has not finished after S s (default 120)\n"
            "  format=F    stdout: result (RESULT lines, the default), or json or csv:\n"
            "              one document with every run, written at the end\n"
            "  tls=T       remote workloads: none (default), a directory with ca.pem cert.pem\n"
            "              key.pem (mutual TLS), or psk:HEX (TLS with a pre-shared key)\n"
            "  peer=H:P    remote workloads: call the troupe-node at H:P (default auto: start\n"
            "              one beside troupe-bench, by PID, and stop it afterwards)\n"
            "\n"
            "stdout: RESULT impl=troupe workload=W param=P rate=R unit=U ns_per_op=X\n"
            "        (format=json|csv: fields workload, param, rate, unit, ns_per_op, seconds)\n"
            "stderr: progress and a table. Exit: 0 ok, 1 failed check or timeout, 2 usage.\n",
            TR_DEFAULT_BATCH);
}

static void list(void)
{
    for (size_t i = 0; i < NWORKLOADS; i++) {
        const bench_workload *w = &workloads[i];
        printf("%-10s %-13s", w->name, w->unit);
        for (int s = 0; s < BENCH_MAX_SETS && w->sets[s]; s++)
            printf("%s%s", s ? " | " : " ", w->sets[s]);
        printf("%s\n           %s\n", w->in_default_run ? "" : "  (not in the default run)",
               w->what);
    }
}

int main(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bench_opts o = {
        .workers = cpus > 0 ? (unsigned)cpus : 1,
        .default_workers = cpus > 0 ? (unsigned)cpus : 1,
        .reps = 0, /* unset: 1 for one workload, 5 for the default run */
        .timeout_s = 120,
    };
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--list")) {
        list();
        return 0;
    }
    if (argc > 1 && argv[1][0] == '-') {
        fprintf(stderr, "troupe-bench: unknown option '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }

    const bench_workload *w = NULL;
    int first = 1;
    char savina_one[64] = "";
    if (argc > 1 && !strchr(argv[1], '=')) {
        const char *name = argv[1];
        if (!strncmp(name, "savina.", 7)) { /* savina.NAME: workload savina, bench=NAME */
            snprintf(savina_one, sizeof savina_one, "bench=%s", name + 7);
            name = "savina";
        }
        for (size_t i = 0; i < NWORKLOADS && !w; i++)
            if (!strcmp(name, workloads[i].name))
                w = &workloads[i];
        if (!w) {
            fprintf(stderr, "troupe-bench: unknown workload '%s' (see --list)\n", argv[1]);
            return 2;
        }
        first = 2;
    }
    overrides ov = {0};
    if (savina_one[0] && !parse_arg(savina_one, w, &o, &ov))
        return 2;
    for (int i = first; i < argc; i++)
        if (!parse_arg(argv[i], w, &o, &ov))
            return 2;

    if (!o.reps)
        o.reps = w ? 1 : 5; /* the default run gives medians, like the peers' */
    bench_note("troupe-bench: workers=%u (online CPUs %ld), alloc=%s, batch=%u, reps=%u",
               o.workers, cpus, alloc_names[o.alloc], o.batch ? o.batch : TR_DEFAULT_BATCH,
               o.reps);
    if (w) {
        run_workload(w, &ov, &o);
    } else {
        for (size_t i = 0; i < NWORKLOADS; i++)
            if (workloads[i].in_default_run)
                run_workload(&workloads[i], NULL, &o);
    }
    print_table();
    print_document();
    if (failures) {
        fprintf(stderr, "troupe-bench: %d run(s) FAILED their checks\n", failures);
        return 1;
    }
    return 0;
}
