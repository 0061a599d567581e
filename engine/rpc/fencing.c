/* Fencing (S31-S33): 128-bit tokens checked on the main thread.
 *
 * A call through a fenced gateway carries the token bound at connect
 * (S33). Code the endpoint schedules on itself (run_async, the self
 * gateway) carries the endpoint's fencing epoch instead: a counter the main
 * thread bumps whenever the token changes, so a body scheduled under an old
 * token is discarded when it comes up (S32) without copying 16 bytes per
 * message. An unfenced run_async carries neither and always runs. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rpc/endpoint_impl.h"
#include "rpc/msg.h"
#include "troupe/error.h"

void tri_fence_format(const tr_fence_token *t, char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, t->hi, t->lo);
}

static void current(const tr_endpoint *ep, char out[40])
{
    if (ep->has_token)
        tri_fence_format(&ep->token, out);
    else
        snprintf(out, 40, "(none set yet)");
}

int tri_fence_check(tr_endpoint *ep, unsigned flags, const void *p, char *buf, size_t len)
{
    char have[40], mine[40];
    if (flags & TRI_RF_TOKEN) {
        tr_fence_token t;
        memcpy(&t, p, sizeof t);
        if (ep->has_token && t.hi == ep->token.hi && t.lo == ep->token.lo)
            return 0;
        tri_fence_format(&t, have);
        current(ep, mine);
        snprintf(buf, len,
                 "fencing token mismatch at endpoint %s: the call carries %s, the endpoint's "
                 "token is %s (the caller is bound to another leadership epoch; reconnect "
                 "with the current token)",
                 ep->id, have, mine);
        return TR_EFENCED;
    }
    if (flags & TRI_RF_EPOCH) {
        uint64_t e;
        memcpy(&e, p, sizeof e);
        /* relaxed: only the main thread (us) writes it. */
        if (e == atomic_load_explicit(&ep->fence_epoch, memory_order_relaxed))
            return 0;
        current(ep, mine);
        snprintf(buf, len,
                 "scheduled on endpoint %s under an earlier fencing token (now %s): discarded",
                 ep->id, mine);
        return TR_EFENCED;
    }
    current(ep, mine);
    snprintf(buf, len,
             "endpoint %s is fenced (token %s) and the call carries no fencing token; connect "
             "with tr_service_connect_fenced",
             ep->id, mine);
    return TR_EFENCED;
}

int tr_endpoint_set_fencing_token(tr_endpoint *self, const tr_fence_token *token)
{
    if (!self || !token || !self->fenced || tri_endpoint_current() != self)
        return TR_EINVAL;
    if (self->has_token && self->token.hi == token->hi && self->token.lo == token->lo)
        return 0;
    self->token = *token;
    self->has_token = true;
    /* release: a scheduler that reads the new epoch (acquire) schedules
     * under the new token. Only this thread writes it. */
    atomic_store_explicit(&self->fence_epoch,
                          atomic_load_explicit(&self->fence_epoch, memory_order_relaxed) + 1,
                          memory_order_release);
    return 0;
}

int tr_endpoint_fencing_token(const tr_endpoint *self, tr_fence_token *out)
{
    if (!self || !out || tri_endpoint_current() != self)
        return TR_EINVAL;
    if (!self->has_token)
        return TR_EFENCED;
    *out = self->token;
    return 0;
}
