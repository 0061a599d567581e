/* The RPC layer's messages: how a tr_msg tag is laid out.
 *
 *   bits 28..31  kind (below); kinds stay under 0xF, so a tag never reaches
 *                TRI_MSG_TAG_SYSTEM (core's own control messages)
 *   bits 20..27  flags
 *   bits 16..19  index of the gateway in the endpoint's list
 *   bits  0..15  method index in that gateway
 *
 * Payloads start 8-aligned; each kind's layout is in the file that builds
 * it (gateway.c: tell/ask, async.c: run/call, future.c: continuations,
 * endpoint.c: lifecycle). A send time (F_STAMP, 8 bytes), when present,
 * comes first after the fixed fields; then fencing data: a 16-byte token
 * (F_TOKEN) or an 8-byte epoch (F_EPOCH). */
#ifndef TRI_RPC_MSG_H
#define TRI_RPC_MSG_H

#include <stdint.h>

enum tri_rpc_kind {
    TRI_RK_TELL = 1,
    TRI_RK_ASK,
    TRI_RK_RUN,       /* run_async / a due schedule_run_async */
    TRI_RK_CALL,      /* call_async */
    TRI_RK_CONT,      /* a continuation in its own message */
    TRI_RK_FUTURE,    /* a future carrying its first continuation */
    TRI_RK_START,
    TRI_RK_TERMINATE,
    TRI_RK_BATCH,     /* several tells in one message (below) */
};

/* A BATCH message's payload is a run of records, each a tell as its own
 * message would carry it: u32 size (of what follows the record header, a
 * multiple of 8), u32 tag (a TELL tag), then [fencing data][argument].
 * The endpoint runs them in order, one handler call each, in one turn.
 * The remote layer makes them from the tells that arrive together for one
 * endpoint, so a burst costs one mailbox push and one allocation. */
#define TRI_BATCH_RECORD_HDR 8u

enum tri_rpc_flag {
    TRI_RF_ENCODED = 1,  /* argument bytes are encoded (S22 force switch) */
    TRI_RF_TOKEN = 2,    /* a 128-bit fencing token follows */
    TRI_RF_EPOCH = 4,    /* an endpoint-local fencing epoch follows */
    TRI_RF_UNFENCED = 8, /* runs whatever the fencing token (S32) */
    TRI_RF_STAMP = 16,   /* the send time follows (rpc/metrics.h), before any
                            fencing data; on a BATCH, first in its payload */
};

#define TRI_RPC_MAX_GATEWAYS 16u
#define TRI_RPC_MAX_METHODS 65536u

static inline uint32_t tri_rpc_tag(unsigned kind, unsigned flags, unsigned gw, unsigned method)
{
    return (uint32_t)kind << 28 | (uint32_t)(flags & 0xFF) << 20 | (uint32_t)(gw & 0xF) << 16 |
           (method & 0xFFFF);
}
static inline unsigned tri_rpc_kind_of(uint32_t tag) { return tag >> 28; }
static inline unsigned tri_rpc_flags_of(uint32_t tag) { return (tag >> 20) & 0xFF; }
static inline unsigned tri_rpc_gw_of(uint32_t tag) { return (tag >> 16) & 0xF; }
static inline unsigned tri_rpc_method_of(uint32_t tag) { return tag & 0xFFFF; }

#endif
