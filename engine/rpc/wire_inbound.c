/* Inbound calls from a transport (wire.h): endpoints looked up, tells
 * gathered and decoded into the messages their handlers read, asks made
 * into futures, answers carried back and encoded.
 *
 * Where a value's strings and bytes live (DESIGN invariant 8): a decoded
 * argument is written once, into the memory the handler reads — the tell's
 * message, the batch's record, the ask's future — with its pointers aimed
 * into that same block. Nothing is decoded into a staging buffer and
 * copied afterwards: a copy would carry pointers into memory the next
 * read reuses. The inbox points at the *encoded* bytes in the transport's
 * read buffer (which the transport keeps until it flushes) and decodes
 * each record once, in place, when the run is delivered. The one pointer
 * out of the block: an inbound ask's bytes of TRI_WIRE_LEND_MIN or more
 * stay in the read buffer, which is then lent (base/loan.h): the future
 * holds a reference, and the transport reads into a fresh buffer while
 * any is out, so those bytes are never reused under the handler. */
#include "rpc/wire.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/loan.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "rpc/codec.h"
#include "rpc/endpoint_impl.h"
#include "rpc/future_impl.h"
#include "rpc/metrics.h"
#include "rpc/msg.h"
#include "rpc/registry.h"
#include "rpc/service_impl.h"
#include "troupe/error.h"

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- endpoints --------------------------------------------------------------------- */

int tri_wire_resolve(tr_service *svc, const char *id, size_t id_len, const char *gw,
                     size_t gw_len, tri_wire_target *out, char *why, size_t why_len)
{
    if (tri_service_check_open(svc)) {
        snprintf(why, why_len, "the node is shutting down");
        return TR_ESTOPPED;
    }
    tr_endpoint *ep = tri_registry_lookup(svc->registry, id, id_len);
    if (!ep) {
        snprintf(why, why_len, "not registered");
        return TR_ENOENDPOINT;
    }
    for (unsigned i = 0; i < ep->nimpls; i++) {
        const tr_gateway_desc *d = ep->impls[i].desc;
        if (strlen(d->name) == gw_len && !memcmp(d->name, gw, gw_len)) {
            *out = (tri_wire_target){ep, i, d};
            return 0;
        }
    }
    snprintf(why, why_len, "endpoint %s does not implement gateway %.*s", ep->id, (int)gw_len,
             gw);
    tri_endpoint_unref(ep);
    return TR_EGATEWAY;
}

const char *tri_wire_endpoint_id(const tr_endpoint *ep) { return ep->id; }

void tri_wire_endpoint_release(tr_endpoint *ep) { tri_endpoint_unref(ep); }

bool tri_wire_endpoint_keeps_up(const tr_endpoint *ep, uint64_t slack)
{
    const tri_gate *g = tri_actor_gate(ep->actor);
    return !g || tri_gate_level(g) < g->low + slack;
}

bool tri_wire_endpoint_has_room(const tr_endpoint *ep, uint64_t slack)
{
    const tri_gate *g = tri_actor_gate(ep->actor);
    return !g || tri_gate_level(g) < g->high + slack;
}

void tri_wire_count_dropped(tr_endpoint *ep, uint64_t n)
{
    /* relaxed: a statistic, bumped by any sender (as gateway.c). */
    atomic_fetch_add_explicit(&ep->dropped_at_send, n, memory_order_relaxed);
}

/* ---- tells, gathered ------------------------------------------------------------------ */

#define RUN_BYTES (16u * 1024) /* a run's message payload, at most (unless one tell is larger) */
#define RUN_MAX 64u            /* tells per run: bounds one endpoint turn's work */

/* A gathered tell: where its encoded bytes are (the transport's buffer,
 * not copied: decoded once, at delivery) and what it decodes to. */
typedef struct gathered {
    const uint8_t *token; /* TRI_WIRE_TOKEN bytes, or NULL */
    const uint8_t *enc;
    uint32_t enc_len;
    uint32_t deep;        /* bytes it decodes to */
    uint32_t tag;         /* the TELL tag the record carries */
} gathered;

struct tri_wire_inbox {
    tr_endpoint *ep; /* the run's target (the caller's slot holds it) */
    const tr_method_desc *methods;
    unsigned impl;   /* the gateway's index in ep */
    uint32_t count;
    size_t payload;  /* bytes the delivered batch needs */
    gathered run[RUN_MAX];
};

tri_wire_inbox *tri_wire_inbox_new(void) { return tri_zalloc(sizeof(tri_wire_inbox)); }

void tri_wire_inbox_free(tri_wire_inbox *in)
{
    if (in)
        tri_free(in, sizeof *in);
}

const tr_endpoint *tri_wire_inbox_target(const tri_wire_inbox *in)
{
    return in->count ? in->ep : NULL;
}

/* A record's payload in the message: [token][deep argument], padded. */
static size_t record_payload(const gathered *g)
{
    return align8((g->token ? TRI_WIRE_TOKEN : 0) + g->deep);
}

/* Decodes g into dst, which has record_payload(g) bytes. */
static void decode_record(const tri_wire_inbox *in, const gathered *g, uint8_t *dst)
{
    size_t fence = g->token ? TRI_WIRE_TOKEN : 0;
    if (fence)
        memcpy(dst, g->token, fence);
    if (g->deep)
        tri_decode_into(in->methods[tri_rpc_method_of(g->tag)].arg_type, g->enc, g->enc_len,
                        dst + fence, g->deep);
}

void tri_wire_inbox_flush(tri_wire_inbox *in, tri_wire_lost *lost)
{
    if (!in->count)
        return;
    uint32_t n = in->count;
    tr_endpoint *ep = in->ep;
    tr_msg *m;
    /* Sampled runs carry their delivery time: queue time (rpc/metrics.h). */
    unsigned stamp = tri_stamp_due() ? TRI_RF_STAMP : 0;
    size_t st = tri_stamp_bytes(stamp);
    if (n == 1) { /* a single tell goes as itself */
        const gathered *g = &in->run[0];
        uint32_t tag = tri_rpc_tag(TRI_RK_TELL, tri_rpc_flags_of(g->tag) | stamp,
                                   tri_rpc_gw_of(g->tag), tri_rpc_method_of(g->tag));
        m = tr_msg_new(tag, st + record_payload(g));
        if (m)
            decode_record(in, g, (uint8_t *)tr_msg_data(m) + st);
    } else {
        m = tr_msg_new(tri_rpc_tag(TRI_RK_BATCH, stamp, in->impl, 0), st + in->payload);
        if (m) {
            uint8_t *d = (uint8_t *)tr_msg_data(m) + st;
            for (uint32_t i = 0; i < n; i++) {
                const gathered *g = &in->run[i];
                uint32_t hdr[2] = {(uint32_t)record_payload(g), g->tag};
                memcpy(d, hdr, TRI_BATCH_RECORD_HDR);
                decode_record(in, g, d + TRI_BATCH_RECORD_HDR);
                d += TRI_BATCH_RECORD_HDR + hdr[0];
            }
        }
    }
    in->count = 0;
    in->payload = 0;
    if (m && st)
        tri_stamp_put(tr_msg_data(m));
    if (!m) {
        TRI_ERROR(tri_wire_logger(ep->svc), "remote", ep->id,
                  "out of memory receiving %u tells to %s; they are lost", n, ep->id);
        lost->no_memory += n;
        return;
    }
    /* Unchecked: the transport's credit bounds what it delivers; a run
     * counts as the tells it holds. */
    if (tri_send_unchecked(ep->actor, m, n)) { /* terminated (S16): counted like local drops */
        tr_msg_free(m);
        tri_wire_count_dropped(ep, n);
        lost->refused += n;
    }
}

int tri_wire_inbox_add(tri_wire_inbox *in, const tri_wire_target *t, unsigned method,
                       const uint8_t *token, const uint8_t *arg, size_t len, tri_wire_lost *lost)
{
    const tr_method_desc *md = &t->desc->methods[method];
    size_t deep;
    if (len > UINT32_MAX || tri_decode_size(md->arg_type, arg, len, &deep) || deep > UINT32_MAX)
        return TR_EPROTO;
    gathered g = {token, arg, (uint32_t)len, (uint32_t)deep,
                  tri_rpc_tag(TRI_RK_TELL, token ? TRI_RF_TOKEN : 0, t->impl, method)};
    size_t rec = TRI_BATCH_RECORD_HDR + record_payload(&g);
    if (in->count && (in->ep != t->ep || in->methods != t->desc->methods || in->impl != t->impl ||
                      in->payload + rec > RUN_BYTES))
        tri_wire_inbox_flush(in, lost);
    in->run[in->count] = g;
    in->payload += rec;
    in->ep = t->ep;
    in->methods = t->desc->methods;
    in->impl = t->impl;
    if (++in->count == RUN_MAX)
        tri_wire_inbox_flush(in, lost);
    return 0;
}

/* ---- asks ----------------------------------------------------------------------------- */

tr_future *tri_wire_ask_inbound(const tri_wire_target *t, unsigned method, const uint8_t *token,
                                const uint8_t *arg, size_t len, struct tri_loan *loan,
                                int64_t timeout_ns, tr_future_cb *answered, void *cb_arg,
                                int *err)
{
    const tr_method_desc *md = &t->desc->methods[method];
    size_t deep, lent, fence = token ? TRI_WIRE_TOKEN : 0;
    size_t lend_min = loan && len >= TRI_WIRE_LEND_MIN ? TRI_WIRE_LEND_MIN : SIZE_MAX;
    if (tri_decode_size_lent(md->arg_type, arg, len, lend_min, &deep, &lent)) {
        *err = TR_EPROTO;
        return NULL;
    }
    /* References: the message's, the continuation's, the transport's. */
    unsigned stamp = tri_stamp_due() ? TRI_RF_STAMP : 0;
    size_t st = tri_stamp_bytes(stamp);
    tr_future *f = tri_future_new(md->result_type, 3, st + fence + deep);
    if (!f) {
        *err = TR_ENOMEM;
        return NULL;
    }
    tri_future_msg(f)->tag =
        tri_rpc_tag(TRI_RK_ASK, (token ? TRI_RF_TOKEN : 0) | stamp, t->impl, method);
    if (st)
        tri_stamp_put(tri_future_extra(f));
    uint8_t *p = tri_future_extra(f) + st;
    if (fence)
        memcpy(p, token, fence);
    if (deep)
        tri_decode_into_lent(md->arg_type, arg, len, p + fence, deep, lend_min);
    if (lent) { /* its large bytes stay in the read buffer: the future keeps it */
        tri_loan_take(loan);
        f->loan = loan;
    }
    tr_endpoint *ep = t->ep;
    tri_future_label(f, t->desc->name, md->name, timeout_ns, ep->id, ep->id_len);
    tri_future_preset_then(f, answered, cb_arg, NULL);
    return f;
}

int tri_wire_ask_deliver(const tri_wire_target *t, tr_future *f)
{
    /* relaxed: the send publishes it (as local_ask). */
    atomic_store_explicit(&f->queued, 1, memory_order_relaxed);
    if (tri_send_unchecked(t->ep->actor, tri_future_msg(f), 1) == 0)
        return 0;
    /* relaxed: never queued, nobody else has seen it. */
    atomic_store_explicit(&f->queued, 0, memory_order_relaxed);
    tri_wire_count_dropped(t->ep, 1);
    tri_future_failf(f, TR_EUNREACHABLE, "endpoint %s has terminated; %s.%s was not processed",
                     t->ep->id, f->gw_name, f->method_name);
    tri_future_unref(f, 1); /* the message's */
    return TR_EUNREACHABLE;
}

/* ---- answers ------------------------------------------------------------------------- */

tr_msg *tri_wire_answer_msg(tr_future *f, uint32_t tag, uint32_t carrier_tag)
{
    /* acquire: pairs with the endpoint's release when it takes the ask out
     * of its mailbox (dispatch.c). Still there (its deadline beat it): the
     * message is in the mailbox's list, so a carrier goes instead. */
    if (atomic_load_explicit(&f->queued, memory_order_acquire)) {
        tr_msg *m = tr_msg_new(carrier_tag, sizeof(tr_future *));
        if (m)
            memcpy(tr_msg_data(m), &f, sizeof f);
        return m;
    }
    tr_msg *m = tri_future_msg(f);
    m->tag = tag;
    return m;
}

tr_future *tri_wire_answer_future(tr_msg *m, uint32_t carrier_tag)
{
    if (m->tag != carrier_tag)
        return tr_msg_data(m);
    tr_future *f;
    memcpy(&f, tr_msg_data(m), sizeof f);
    return f;
}

void tri_wire_answer_done(tr_msg *m, uint32_t carrier_tag)
{
    tr_future *f = tri_wire_answer_future(m, carrier_tag);
    if (m->tag == carrier_tag)
        tr_msg_free(m);
    tri_future_unref(f, 1);
}

size_t tri_wire_result_size(const tr_future *f)
{
    return f->vtype ? tri_encoded_size(f->vtype, f->value) : 0;
}

void tri_wire_result_encode(const tr_future *f, uint8_t *dst)
{
    if (f->vtype)
        tri_encode_into(f->vtype, f->value, dst);
}

uint8_t *tri_wire_result_encode_gather(const tr_future *f, uint8_t *dst, size_t min,
                                       tri_wire_splice_fn *splice, void *ctx)
{
    return f->vtype ? tri_wire_encode_gather(f->vtype, f->value, dst, min, splice, ctx) : dst;
}
