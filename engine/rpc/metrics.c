/* Endpoint metrics: recording on the main thread, reading anywhere
 * (rpc/metrics.h, troupe/metrics.h). */
#include "rpc/metrics.h"

#include <pthread.h>

#include "base/alloc.h"
#include "rpc/service_impl.h"

/* initial-exec: one TLS load, no __tls_get_addr on the send path. */
_Thread_local uint32_t tri_stamp_tick __attribute__((tls_model("initial-exec"))) = TR_METRICS_SAMPLE;

void tri_metrics_record(tr_endpoint *ep, tri_method_metrics *mm, int64_t stamp, int64_t t0,
                        int64_t t1)
{
    /* relaxed: only this thread stores it (the release below publishes). */
    tri_hist *h = atomic_load_explicit(&mm->hist, memory_order_relaxed);
    if (!h) {
        h = tri_zalloc(2 * sizeof *h);
        if (!h)
            return; /* no memory: this sample is lost, the counts are not */
        /* release: pairs with the readers' acquire (zeroed buckets). */
        atomic_store_explicit(&mm->hist, h, memory_order_release);
    }
    if (stamp && t0 >= stamp)
        tri_hist_record(&h[0], (uint64_t)(t0 - stamp));
    tri_hist_record(&h[1], t1 > t0 ? (uint64_t)(t1 - t0) : 0);
    uint64_t depth = tr_actor_mailbox_len(ep->actor);
    if (depth > atomic_load_explicit(&ep->mailbox_hwm, memory_order_relaxed))
        atomic_store_explicit(&ep->mailbox_hwm, depth, memory_order_relaxed); /* single writer */
}

void tri_metrics_free(tr_endpoint *ep)
{
    for (uint32_t i = 0; i < ep->nmm; i++) {
        /* acquire: pairs with tri_metrics_record's release (the writer is done). */
        tri_hist *h = atomic_exchange_explicit(&ep->mm[i].hist, NULL, memory_order_acquire);
        tri_free(h, 2 * sizeof *h);
    }
}

void tri_hist_summarize(const tri_hist *h, tri_hist_summary *out)
{
    memset(out, 0, sizeof *out);
    uint64_t b[TRI_HIST_BUCKETS], total = 0;
    for (unsigned i = 0; i < TRI_HIST_BUCKETS; i++) { /* relaxed: see hist.h */
        b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
        total += b[i];
    }
    out->count = total;
    out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
    out->max = atomic_load_explicit(&h->max, memory_order_relaxed);
    if (!total)
        return;
    static const unsigned per_mille[3] = {500, 900, 990};
    uint64_t *q[3] = {&out->p50, &out->p90, &out->p99};
    for (int k = 0; k < 3; k++) {
        /* the smallest bucket with at least ceil(q * total) samples at or below it */
        uint64_t rank = (total * per_mille[k] + 999) / 1000, seen = 0;
        unsigned i = 0;
        while (i < TRI_HIST_BUCKETS - 1 && (seen += b[i]) < rank)
            i++;
        uint64_t v = tri_hist_upper(i);
        *q[k] = v < out->max ? v : out->max;
    }
}

/* ---- public reads ----------------------------------------------------------------- */

size_t tr_endpoint_method_count(const tr_endpoint *ep) { return ep ? ep->nmm : 0; }

static void latency_of(const tri_hist *h, tr_latency *out)
{
    tri_hist_summary s;
    tri_hist_summarize(h, &s);
    *out = (tr_latency){s.count, s.sum, s.p50, s.p90, s.p99, s.max};
}

int tr_endpoint_method_metrics(const tr_endpoint *ep, size_t i, tr_method_metrics *out)
{
    if (!ep || !out || i >= ep->nmm)
        return TR_EINVAL;
    memset(out, 0, sizeof *out);
    unsigned gi = 0;
    while (gi + 1 < ep->nimpls && ep->mm_base[gi + 1] <= i)
        gi++;
    const tr_gateway_desc *d = ep->impls[gi].desc;
    out->gateway = d->name;
    out->method = d->methods[i - ep->mm_base[gi]].name;
    const tri_method_metrics *mm = &ep->mm[i];
    /* relaxed: single-writer counters (metrics.h). */
    out->calls = atomic_load_explicit(&mm->calls, memory_order_relaxed);
    out->errors = atomic_load_explicit(&mm->errors, memory_order_relaxed);
    /* acquire: pairs with tri_metrics_record's release (zeroed buckets). */
    const tri_hist *h = atomic_load_explicit(&mm->hist, memory_order_acquire);
    if (h) {
        latency_of(&h[0], &out->queue);
        latency_of(&h[1], &out->processing);
    }
    return 0;
}

uint64_t tr_endpoint_mailbox_hwm(const tr_endpoint *ep)
{
    return ep ? atomic_load_explicit(&ep->mailbox_hwm, memory_order_relaxed) : 0;
}

void tr_endpoint_description(const tr_endpoint *ep, tr_endpoint_info *out)
{
    static const char *const states[] = {"created", "started", "stopping", "terminated"};
    memset(out, 0, sizeof *out);
    if (!ep)
        return;
    out->id = ep->id;
    out->address = ep->address;
    /* relaxed: informational mirror of the main thread's state. */
    uint32_t l = atomic_load_explicit(&ep->life_seen, memory_order_relaxed);
    out->state = l < 4 ? states[l] : "?";
    out->fenced = ep->fenced;
    out->ngateways = ep->nimpls;
    for (unsigned i = 0; i < ep->nimpls && i < 16; i++)
        out->gateways[i] = ep->impls[i].desc->name;
}

int tr_service_foreach_endpoint(tr_service *svc, tr_endpoint_visit *fn, void *arg)
{
    if (!svc || !fn)
        return TR_EINVAL;
    int rv = 0;
    pthread_mutex_lock(&svc->endpoints_lock);
    for (tr_endpoint *ep = svc->endpoints; ep && !rv; ep = ep->all_next)
        rv = fn(ep, arg);
    pthread_mutex_unlock(&svc->endpoints_lock);
    return rv;
}
