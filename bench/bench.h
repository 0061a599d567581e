/* troupe-bench: what the workload files share with the driver (main.c).
 *
 * A workload is one row of the table in main.c: a name, its keys in `param`
 * order, its default parameter sets, and a run function. The driver parses
 * the command line into a bench_run (one parameter set, one repetition) and
 * calls the run function, which sets up, times, checks its own counts,
 * reports with bench_report() and tears down. The format of the result lines
 * is ../shared/bench/RESULTS.md's. */
#ifndef TROUPE_BENCH_H
#define TROUPE_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "troupe/troupe.h"

/* What a run function returns. TIMEOUT means actors may still be running:
 * the driver exits at once rather than tear a live service down. */
enum { BENCH_OK = 0, BENCH_FAIL = 1, BENCH_USAGE = 2, BENCH_TIMEOUT = 3 };

#define BENCH_MAX_KEYS 6
#define BENCH_MAX_SETS 4
#define BENCH_PARAM_LEN 160

/* The common keys, already validated. */
typedef struct bench_opts {
    unsigned workers;         /* resolved: the default is online CPUs */
    unsigned default_workers; /* online CPUs: other values go into `param` */
    unsigned batch;           /* 0: TR_DEFAULT_BATCH */
    tr_msg_alloc alloc;
    unsigned reps;
    unsigned timeout_s;       /* how long to wait for completion */
} bench_opts;

struct bench_workload;

/* One parameter set of one workload, for one repetition. */
typedef struct bench_run {
    const struct bench_workload *w;
    const bench_opts *opts;
    const char *val[BENCH_MAX_KEYS]; /* by key index, as given or defaulted */
    char param[BENCH_PARAM_LEN];     /* "p=1,m=12000000[,workers=N...]" */
} bench_run;

typedef int bench_fn(const bench_run *r);

typedef struct bench_key {
    const char *name;
    const char *choices; /* NULL: an integer in [min, max]; else "a|b": one of them */
    int64_t min, max;
} bench_key;

typedef struct bench_workload {
    const char *name;
    const char *unit;
    const char *what;                /* one line for --list */
    bench_key keys[BENCH_MAX_KEYS];  /* in `param` order */
    const char *sets[BENCH_MAX_SETS]; /* default parameter sets, in run order */
    bool in_default_run;             /* part of a bare `troupe-bench` */
    bool uses_service;               /* takes workers/alloc/batch */
    bench_fn *run;
} bench_workload;

/* ---- main.c */

/* Value of key `name` (which must be one of the workload's keys). */
int64_t bench_int(const bench_run *r, const char *name);
const char *bench_str(const bench_run *r, const char *name);

/* Prints the RESULT line (stdout, flushed) and records a row for the
 * table on stderr. `workload` may differ from r->w->name (mpsc_*). */
void bench_report(const bench_run *r, const char *workload, double rate, const char *unit,
                  double ns_per_op, double seconds);

/* "troupe-bench: FAIL <workload> <param>: <text>" on stderr. */
void bench_fail(const bench_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A progress line ("# ...") on stderr. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A service configured from the common keys; prints why on failure. */
int bench_service_create(const bench_run *r, tr_service **out);
/* Its scheduler counters as a "#" line (where the work ran). */
void bench_sched_note(const tr_service *svc);

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- completion: how actor-land tells the main thread it has finished */

enum { BENCH_RUNNING = 0, BENCH_DONE = 1, BENCH_FAILED = 2 };

/* One futex word: the main thread sleeps on it (no CPU taken from the
 * workers), the finishing actor stores and wakes. */
typedef struct bench_done {
    _Atomic uint32_t state;
} bench_done;

void bench_done_init(bench_done *d);
/* Any thread, once: the workload has finished. release: everything the
 * signalling actor saw happens-before the waiter's return. */
void bench_done_signal(bench_done *d);
/* Any thread: the workload cannot finish; the first text is kept. */
void bench_done_fail(bench_done *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Main thread: sleeps until signalled or opts->timeout_s has passed.
 * Returns BENCH_OK, BENCH_FAIL (the failure text is printed) or
 * BENCH_TIMEOUT. */
int bench_done_wait(bench_done *d, const bench_run *r, const char *what);
/* Main thread: polls `cond(arg)` every millisecond until it is true or the
 * timeout passes (for after-the-fact checks such as "all actors freed").
 * Returns true when it became true. */
bool bench_poll(bool (*cond)(void *arg), void *arg, const bench_run *r);

/* ---- helpers for the actor workloads (public API only) */

enum { BENCH_TAG_GO = 1, BENCH_TAG_PING, BENCH_TAG_PONG, BENCH_TAG_TOKEN, BENCH_TAG_DONE };

/* Sends, or frees `m` and fails the workload: for use inside behaviours. */
static inline void bench_send(tr_actor *to, tr_msg *m, bench_done *done)
{
    int rv = tr_send(to, m);
    if (rv) {
        tr_msg_free(m);
        bench_done_fail(done, "tr_send: %s", tr_strerror(rv));
    }
}

/* Main thread: an actor, or NULL after reporting why. */
static inline tr_actor *bench_spawn_actor(const bench_run *r, tr_service *svc,
                                          const tr_actor_opts *opts)
{
    tr_actor *a = NULL;
    int rv = tr_spawn(svc, opts, &a);
    if (rv) {
        bench_fail(r, "tr_spawn: %s", tr_strerror(rv));
        return NULL;
    }
    return a;
}

/* Main thread: a message with an int64 payload, or NULL after reporting. */
static inline tr_msg *bench_msg(const bench_run *r, uint32_t tag)
{
    tr_msg *m = tr_msg_new(tag, sizeof(int64_t));
    if (!m)
        bench_fail(r, "tr_msg_new: out of memory");
    return m;
}

static inline int64_t *bench_payload(tr_msg *m) { return (int64_t *)tr_msg_data(m); }

/* Releases `n` handles (NULLs skipped), then destroys the service (which
 * frees the actors still alive; handles are invalid after it). */
static inline void bench_teardown(tr_service *svc, tr_actor **handles, size_t n)
{
    bench_sched_note(svc);
    for (size_t i = 0; i < n; i++)
        if (handles[i])
            tr_actor_release(handles[i]);
    tr_service_destroy(svc);
}

static inline double bench_secs(int64_t t0, int64_t t1) { return (double)(t1 - t0) / 1e9; }

/* ---- workloads (local.c, spawn.c, queues.c) */

bench_fn bench_pingpong, bench_fanin, bench_ring, bench_spawn, bench_spawn_mem, bench_big;
bench_fn bench_mpsc, bench_mpsc_pair;

/* ---- remote workloads (remote.c): two processes over loopback */

bench_fn bench_remote_pingpong, bench_remote_throughput, bench_remote_stream, bench_overload_remote, bench_overload_local;

/* overload.c, for both overload workloads: peak resident memory of this
 * process and of one other (0: none) above their idle, sampled every 2 ms
 * between start and stop; and the flood of sequence-numbered 64-byte tells
 * to a tnode sink (blocking at a full target; *waited: sends retried). */
typedef struct bench_rss {
    pid_t other;
    uint64_t self_idle, other_idle;
    _Atomic int stop;
    _Atomic uint64_t self_max, other_max;
    pthread_t th;
} bench_rss;
/* A server program beside troupe-bench (proc.c): started by PID with
 * args (NULL-terminated; "--port-file FILE" is added), its port read
 * from the file; stopped by PID. */
typedef struct bench_proc {
    pid_t pid;      /* 0: none (not started, or stopped) */
    unsigned port;
    char name[32];
    char port_file[128];
} bench_proc;
int bench_proc_start(const bench_run *r, bench_proc *p, const char *prog, const char *tag,
                     const char *const *args);
void bench_proc_stop(const bench_run *r, bench_proc *p);

uint64_t bench_rss_bytes(pid_t pid);
void bench_rss_start(bench_rss *w, pid_t other);
void bench_rss_stop(bench_rss *w, double *self_mib, double *other_mib);
int bench_flood_sink(const bench_run *r, tr_gateway *gw, int64_t m, uint64_t *waited);

#endif
