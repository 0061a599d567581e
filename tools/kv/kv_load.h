/* kv: a mixed, self-checking load (kv_load.c), the client side of the
 * kv integration test, `troupe-bench kv` and `troupe-kv client`.
 *
 * `threads` threads share one router. Each owns a disjoint range of keys
 * (thread t's keys start "t<t>."; thread 0's first key is ""), keeps a
 * model of them (present or not, which version of which length), and
 * makes `ops / threads` random calls: put (an ASK: the answer says whether
 * it replaced a value), get (an ASK: found, and every byte of the value),
 * del (a TELL, not waited for) and size (an ASK to one shard). Up to
 * `window` asks per thread are in flight (ask_then; the continuation only
 * records). Every answer is checked against the model as it stood when
 * the call was made, which S21 makes exact: one thread's calls to one
 * shard are handled in the order made, tells and asks alike. A size is
 * bounded (this thread's keys on that shard exactly, the others' between
 * none and all). Then each thread gets every key it owns once more, and
 * with all threads done every shard's size must equal the models' sum.
 *
 * Values: 1 in 5 empty, most under 100 bytes, some up to 32 KiB and, with
 * `large`, 1 in 200 between 64 KiB and 256 KiB; bytes from a PRNG seeded
 * by key and version, so an answer is checked without storing values. */
#ifndef TROUPE_KV_LOAD_H
#define TROUPE_KV_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "kv.h"

#define KV_LOAD_MAX_THREADS 64
#define KV_LOAD_MAX_WINDOW 256

typedef struct kv_load_opts {
    unsigned threads;   /* 1..KV_LOAD_MAX_THREADS */
    unsigned window;    /* asks in flight per thread, 1..KV_LOAD_MAX_WINDOW */
    uint64_t ops;       /* mixed calls in all, split between the threads */
    unsigned keys;      /* keys per thread */
    bool large;         /* some values of 64-256 KiB */
    uint64_t seed;
    int64_t timeout_ns; /* each ask's deadline; 0: the service's default */
} kv_load_opts;

typedef struct kv_load_result {
    uint64_t ops;       /* calls made, the final gets included */
    uint64_t puts, gets, dels, sizes;
    uint64_t found;     /* gets that found their key */
    uint64_t errors;    /* answers that were not as the model said, or failed */
    char first_error[320];
    double seconds;     /* the mixed calls, from the first to the last answer */
    uint64_t asks;      /* asks timed (the mixed phase) */
    uint64_t p50_ns, p99_ns, max_ns; /* their latency: call to answer */
} kv_load_result;

/* Runs the load through `r` (whose shards should be empty: a size is
 * checked against this load's keys only). Returns 0 when it ran (check
 * out->errors), or TR_EINVAL / TR_ENOMEM / TR_EIO (a thread). */
int kv_load_run(const kv_router *r, const kv_load_opts *o, kv_load_result *out);

#endif
