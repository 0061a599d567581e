/* troupe-bench: the Savina actor benchmarks (Imam & Sarkar, AGERE! 2014).
 *
 * Each benchmark is a function that builds its actors (or endpoints) on the
 * service the driver made, starts them, waits for the end, checks its own
 * result (a count, a checksum, a sorted order, the known answer) and
 * releases its handles. The driver (savina.c) times the whole run, service
 * creation and destruction included, as CAF's Savina runner does (an
 * actor_system per iteration), and prints one RESULT line per run:
 * workload=savina.NAME, unit=runs/s, ns_per_op = the run's wall time.
 *
 * Parameters are Savina's defaults (as CAF's suite, woelke/savina, uses
 * them); size=short picks small ones so that the whole suite is a test. */
#ifndef TROUPE_BENCH_SAVINA_H
#define TROUPE_BENCH_SAVINA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct sv_ctx {
    const bench_run *r;  /* for bench_fail and the timeout */
    tr_service *svc;
    bench_done done;     /* the benchmark's end (or failure) */
    bool is_short;       /* size=short */
    char param[BENCH_PARAM_LEN]; /* the benchmark's parameters, set by it */
    int64_t check_ns;    /* time spent in checks CAF's suite does not make: not timed */
} sv_ctx;

/* Brackets a check of our own (a reference computation): its time is taken
 * out of the run's. */
#define SV_CHECK_BEGIN(c) int64_t sv_check_t0_ = bench_now_ns()
#define SV_CHECK_END(c) ((c)->check_ns += bench_now_ns() - sv_check_t0_)

/* Returns BENCH_OK, BENCH_FAIL or BENCH_TIMEOUT (actors may still run). */
typedef int sv_fn(sv_ctx *c);

typedef struct sv_bench {
    const char *name;
    sv_fn *run;
} sv_bench;

/* A default or a short parameter. */
#define SV_P(c, dflt, shrt) ((c)->is_short ? (shrt) : (dflt))

/* Records the benchmark's parameters for the RESULT line. */
void sv_param(sv_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fails the benchmark (a mismatch found after the wait). */
int sv_fail(sv_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Savina's pseudo-random generator, as CAF's suite has it: a 16-bit LCG. */
typedef struct sv_rand {
    int64_t v;
} sv_rand;
static inline sv_rand sv_rand_seed(int64_t seed) { return (sv_rand){seed}; }
static inline int64_t sv_next_long(sv_rand *r)
{
    r->v = ((r->v * 1309) + 13849) & 65535;
    return r->v;
}
static inline int sv_next_int(sv_rand *r, int excl_max) { return (int)(sv_next_long(r) % excl_max); }
static inline double sv_next_double(sv_rand *r) { return 1.0 / (double)(sv_next_long(r) + 1); }

/* Sends a message with a copy of `n` payload bytes; a failure ends the
 * benchmark. Any thread. */
static inline void sv_tell(sv_ctx *c, tr_actor *to, uint32_t tag, const void *p, size_t n)
{
    tr_msg *m = tr_msg_new(tag, n);
    if (!m) {
        bench_done_fail(&c->done, "tr_msg_new: out of memory");
        return;
    }
    if (n)
        memcpy(tr_msg_data(m), p, n);
    bench_send(to, m, &c->done);
}

/* Spawns an actor with `state_size` bytes of state; NULL after failing the
 * benchmark. Any thread. */
static inline tr_actor *sv_spawn(sv_ctx *c, tr_behavior *b, size_t state_size)
{
    tr_actor *a = NULL;
    int rv = tr_spawn(c->svc, &(tr_actor_opts){.behavior = b, .state_size = state_size}, &a);
    if (rv) {
        bench_done_fail(&c->done, "tr_spawn: %s", tr_strerror(rv));
        return NULL;
    }
    return a;
}

/* Spawns with an on_stop (for actors that hold references). */
static inline tr_actor *sv_spawn_stop(sv_ctx *c, tr_behavior *b, tr_on_stop *s, size_t size)
{
    tr_actor *a = NULL;
    int rv = tr_spawn(c->svc, &(tr_actor_opts){.behavior = b, .on_stop = s, .state_size = size},
                      &a);
    if (rv) {
        bench_done_fail(&c->done, "tr_spawn: %s", tr_strerror(rv));
        return NULL;
    }
    return a;
}

/* Releases n handles, NULLs skipped, and frees the array. */
static inline void sv_release_all(tr_actor **a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        if (a[i])
            tr_actor_release(a[i]);
    free(a);
}

/* Waits for the benchmark's end. */
static inline int sv_wait(sv_ctx *c, const char *what) { return bench_done_wait(&c->done, c->r, what); }

/* The benchmarks, by file. */
sv_fn sv_pingpong, sv_count, sv_fjthrput, sv_fjcreate, sv_threadring, sv_chameneos, sv_big;
sv_fn sv_concdict, sv_concsll, sv_banking, sv_logmap;
sv_fn sv_bndbuffer, sv_philosopher;
sv_fn sv_radixsort, sv_sieve, sv_trapezoid, sv_fib, sv_nqueenk, sv_recmatmul;
sv_fn sv_facloc, sv_quicksort, sv_apsp, sv_bitonicsort;

/* The driver, registered in main.c as workload "savina". */
bench_fn bench_savina;

#endif
