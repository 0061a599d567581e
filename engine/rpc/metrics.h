/* Per-method metrics of an endpoint (troupe/metrics.h), recorded on its
 * main thread by dispatch.c.
 *
 * Each endpoint has one tri_method_metrics per method of every gateway,
 * inline in its allocation. Counters are single-writer (the main thread:
 * relaxed load and store) and read by any thread with relaxed loads. The
 * two histograms are made at the method's first timed call and published
 * with a release store (readers load with acquire); they are freed when
 * the endpoint is (tri_metrics_free), after which nobody can read them. */
#ifndef TRI_RPC_METRICS_H
#define TRI_RPC_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/clock.h"
#include "rpc/endpoint_impl.h"
#include "rpc/hist.h"
#include "troupe/metrics.h"

typedef struct tri_method_metrics {
    _Atomic uint64_t calls, errors;
    tri_hist *_Atomic hist; /* [0] queue time, [1] processing time; or NULL */
} tri_method_metrics;

/* A call message's send time, when the sender stamped it (msg.h
 * TRI_RF_STAMP: 8 bytes, first after the kind's fixed fields). */
#define TRI_STAMP_BYTES 8u
static inline size_t tri_stamp_bytes(unsigned flags) { return flags & TRI_RF_STAMP ? TRI_STAMP_BYTES : 0; }

/* Whether this call should carry its send time: one in TR_METRICS_SAMPLE
 * per sending thread. The tick is per thread, not per service: it only
 * picks which calls are sampled, so sharing it changes no figure's
 * meaning. Any thread. */
extern _Thread_local uint32_t tri_stamp_tick __attribute__((tls_model("initial-exec")));

/* -DTRI_METRICS_OFF: a build for measuring what the metrics cost when
 * nobody reads them (it is this build's difference); it counts no calls
 * and times none, so those read 0. Never for use. */
#ifdef TRI_METRICS_OFF
#define TRI_METRICS_ON 0
#else
#define TRI_METRICS_ON 1
#endif

/* A countdown (one decrement and branch on the send path), reloaded at 0;
 * it starts at TR_METRICS_SAMPLE (metrics.c). */
static inline bool tri_stamp_due(void)
{
    if (!TRI_METRICS_ON || __builtin_expect(--tri_stamp_tick != 0, 1))
        return false;
    tri_stamp_tick = TR_METRICS_SAMPLE;
    return true;
}
static inline void tri_stamp_put(uint8_t *p)
{
    int64_t t = tri_now_ns();
    memcpy(p, &t, sizeof t);
}

/* The metrics of method `method` of gateway `gi`. */
static inline tri_method_metrics *tri_metrics_of(tr_endpoint *ep, unsigned gi, unsigned method)
{
    return &ep->mm[ep->mm_base[gi] + method];
}

/* Whether to time a handler: the method's n-th call (counting from 0)
 * when n is a multiple of TR_METRICS_SAMPLE (the first call included), or
 * a stamped call (`stamped`: it carries its send time). Main thread. */
static inline bool tri_metrics_timed(uint64_t n, unsigned stamped)
{
    return TRI_METRICS_ON && ((n & (TR_METRICS_SAMPLE - 1)) == 0 || stamped);
}

/* The method's call count before this call, and this call counted
 * (single writer: relaxed load and store). */
static inline uint64_t tri_metrics_count(tri_method_metrics *mm)
{
    if (!TRI_METRICS_ON)
        return 1;
    uint64_t n = atomic_load_explicit(&mm->calls, memory_order_relaxed);
    atomic_store_explicit(&mm->calls, n + 1, memory_order_relaxed);
    return n;
}

/* Records a timed handler: sent at `stamp` (0: unknown), started at t0,
 * ended at t1; looks at the mailbox depth. Main thread. */
void tri_metrics_record(tr_endpoint *ep, tri_method_metrics *mm, int64_t stamp, int64_t t0,
                        int64_t t1);

/* Frees the histograms (the endpoint is being freed). */
void tri_metrics_free(tr_endpoint *ep);

#endif
