/* A latency histogram that keeps no samples: log-linear buckets, as HDR
 * histograms have them. Values below 8 ns get a bucket each; above, every
 * power of two is split into 8 buckets, so a bucket's upper bound is at
 * most 12.5% above any value in it. 304 buckets reach 2^40 ns (18 min);
 * larger values land in the last one (max still says how large).
 *
 * One writer (the endpoint's main thread) records with relaxed loads and
 * stores, never read-modify-write; any thread reads with relaxed loads.
 * Each word is exact when read; a snapshot as a whole is not atomic (a
 * quantile may lag the count by the samples recorded meanwhile). */
#ifndef TRI_RPC_HIST_H
#define TRI_RPC_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define TRI_HIST_SUB_BITS 3
#define TRI_HIST_SUB (1u << TRI_HIST_SUB_BITS)
#define TRI_HIST_BUCKETS (TRI_HIST_SUB + (40 - TRI_HIST_SUB_BITS) * TRI_HIST_SUB)

typedef struct tri_hist {
    _Atomic uint64_t count, sum, max;
    _Atomic uint64_t b[TRI_HIST_BUCKETS];
} tri_hist;

static inline unsigned tri_hist_index(uint64_t v)
{
    if (v < TRI_HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned i = TRI_HIST_SUB + (e - TRI_HIST_SUB_BITS) * TRI_HIST_SUB +
                 (unsigned)((v >> (e - TRI_HIST_SUB_BITS)) & (TRI_HIST_SUB - 1));
    return i < TRI_HIST_BUCKETS ? i : TRI_HIST_BUCKETS - 1;
}

/* The largest value bucket i holds. */
static inline uint64_t tri_hist_upper(unsigned i)
{
    if (i < TRI_HIST_SUB)
        return i;
    unsigned e = (i - TRI_HIST_SUB) / TRI_HIST_SUB + TRI_HIST_SUB_BITS;
    uint64_t m = (i - TRI_HIST_SUB) % TRI_HIST_SUB;
    return ((TRI_HIST_SUB + m + 1) << (e - TRI_HIST_SUB_BITS)) - 1;
}

static inline void tri_hist_bump(_Atomic uint64_t *c, uint64_t n)
{
    /* relaxed load and store: single writer (see the top). */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Records one value. The writer's thread only. */
static inline void tri_hist_record(tri_hist *h, uint64_t v)
{
    tri_hist_bump(&h->b[tri_hist_index(v)], 1);
    tri_hist_bump(&h->count, 1);
    tri_hist_bump(&h->sum, v);
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, v, memory_order_relaxed); /* single writer */
}

/* Count, sum, max and the p50/p90/p99 upper bounds (never above max).
 * Any thread. */
typedef struct tri_hist_summary {
    uint64_t count, sum, max, p50, p90, p99;
} tri_hist_summary;

void tri_hist_summarize(const tri_hist *h, tri_hist_summary *out);

#endif
