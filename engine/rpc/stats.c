/* Per-endpoint statistics: processed, dropped, rejected by reason, handler
 * errors, decoded arguments, mailbox length.
 *
 * The main thread's counters are single-writer (endpoint_impl.h): a relaxed
 * load and store, read here with relaxed loads. Drops found by senders
 * (the endpoint had terminated) are a separate counter bumped with an
 * atomic add by any thread. Each counter is exact; the snapshot as a whole
 * is not atomic. */
#include <string.h>

#include "rpc/endpoint_impl.h"

void tri_endpoint_reject(tr_endpoint *ep, tr_reject_reason r) { tri_count(&ep->rejected[r]); }

const char *tr_reject_reason_name(tr_reject_reason r)
{
    static const char *const names[] = {"not_started", "fenced", "no_method", "decode"};
    return (unsigned)r < TR_REJECT_COUNT_ ? names[r] : "?";
}

void tr_endpoint_call_stats(const tr_endpoint *ep, tr_endpoint_stats *out)
{
    memset(out, 0, sizeof *out);
    /* relaxed: counters are independent snapshots (never torn). */
    out->processed = atomic_load_explicit(&ep->processed, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&ep->dropped, memory_order_relaxed) +
                   atomic_load_explicit(&ep->dropped_at_send, memory_order_relaxed);
    for (int i = 0; i < TR_REJECT_COUNT_; i++)
        out->rejected[i] = atomic_load_explicit(&ep->rejected[i], memory_order_relaxed);
    out->handler_errors = atomic_load_explicit(&ep->handler_errors, memory_order_relaxed);
    out->decoded = atomic_load_explicit(&ep->decoded, memory_order_relaxed);
    out->mailbox_len = tr_actor_mailbox_len(ep->actor);
}
