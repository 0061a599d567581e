/* troupe-bench savina: the registry and the driver.
 *
 *   troupe-bench savina [size=short] [reps=N]    every benchmark, in Savina's order
 *   troupe-bench savina.NAME [size=short] ...    one
 *
 * One run = create the service, the benchmark's whole life, destroy the
 * service; its wall time is ns_per_op and 1/time is the rate (runs/s). */
#include "savina.h"

#include <stdarg.h>

static const sv_bench benches[] = {
    {"pingpong", sv_pingpong},       {"count", sv_count},
    {"fjthrput", sv_fjthrput},       {"fjcreate", sv_fjcreate},
    {"threadring", sv_threadring},   {"chameneos", sv_chameneos},
    {"big", sv_big},                 {"concdict", sv_concdict},
    {"concsll", sv_concsll},         {"bndbuffer", sv_bndbuffer},
    {"philosopher", sv_philosopher}, {"logmap", sv_logmap},
    {"banking", sv_banking},         {"radixsort", sv_radixsort},
    {"sieve", sv_sieve},             {"facloc", sv_facloc},
    {"trapezoid", sv_trapezoid},     {"recmatmul", sv_recmatmul},
    {"quicksort", sv_quicksort},     {"apsp", sv_apsp},
    {"nqueenk", sv_nqueenk},         {"fib", sv_fib},
    {"bitonicsort", sv_bitonicsort},
};
#define NBENCHES (sizeof benches / sizeof benches[0])

void sv_param(sv_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->param, sizeof c->param, fmt, ap);
    va_end(ap);
}

int sv_fail(sv_ctx *c, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "troupe-bench: FAIL savina.%s %s: %s\n", bench_str(c->r, "bench"), c->param,
            text);
    return BENCH_FAIL;
}

/* One timed run of one benchmark. */
static int run_one(const bench_run *r, const sv_bench *b, bool is_short)
{
    bench_run rr = *r; /* the RESULT line's param is the benchmark's own */
    const char *vals[BENCH_MAX_KEYS];
    memcpy(vals, r->val, sizeof vals);
    vals[0] = b->name;
    memcpy(rr.val, vals, sizeof vals);
    sv_ctx c = {.r = &rr, .is_short = is_short};
    bench_done_init(&c.done);
    int64_t t0 = bench_now_ns();
    if (bench_service_create(&rr, &c.svc))
        return BENCH_FAIL;
    int rv = b->run(&c);
    if (rv == BENCH_TIMEOUT)
        return rv; /* actors may still run: the caller exits */
    int64_t t_note = bench_now_ns();
    bench_sched_note(c.svc); /* where the work ran (stderr); not timed */
    c.check_ns += bench_now_ns() - t_note;
    tr_service_destroy(c.svc);
    int64_t t1 = bench_now_ns() - c.check_ns;
    if (rv != BENCH_OK)
        return rv;
    /* param: the benchmark's own, then what main.c appended after size=. */
    const char *tail = strchr(r->param, ',');
    char name[48];
    snprintf(name, sizeof name, "savina.%s", b->name);
    snprintf(rr.param, sizeof rr.param, "%s%s", c.param, tail ? tail : "");
    double secs = bench_secs(t0, t1);
    bench_report(&rr, name, 1.0 / secs, "runs/s", secs * 1e9, secs);
    return BENCH_OK;
}

int bench_savina(const bench_run *r)
{
    const char *which = bench_str(r, "bench");
    bool is_short = !strcmp(bench_str(r, "size"), "short");
    bool all = !strcmp(which, "all");
    int rv = BENCH_OK, matched = 0;
    for (size_t i = 0; i < NBENCHES; i++) {
        if (!all && strcmp(which, benches[i].name))
            continue;
        matched++;
        int x = run_one(r, &benches[i], is_short);
        if (x == BENCH_TIMEOUT)
            return x;
        if (x != BENCH_OK)
            rv = x;
    }
    if (!matched) {
        fprintf(stderr, "troupe-bench: no Savina benchmark '%s'; they are:", which);
        for (size_t i = 0; i < NBENCHES; i++)
            fprintf(stderr, " %s", benches[i].name);
        fputc('\n', stderr);
        return BENCH_USAGE;
    }
    return rv;
}
