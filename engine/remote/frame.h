/* The frame codec: the byte layout of every frame (PROTOCOL.md beside this
 * file is the reference, kept in step with these constants).
 *
 * A frame is a 20-byte header and a body, little-endian:
 *
 *   offset  size  field
 *    0      4     length   bytes after this field (frame size = 4 + length)
 *    4      1     type     enum tri_frame_type
 *    5      1     flags    bit 0 TOKEN: the body starts with a 16-byte
 *                          fencing token (TELL, ASK); other bits are 0
 *    6      2     method   method index in the gateway (TELL, ASK), else 0
 *    8      4     target   the slot the receiver gave in RESOLVE_OK (TELL,
 *                          ASK), else 0
 *   12      8     corr     correlation id (ASK, RESOLVE, their answers,
 *                          PING/PONG), else 0
 *
 * Everything here is a pure function of its arguments: no I/O, no state,
 * callable from any thread (the fuzz tests call it directly). */
#ifndef TRI_REMOTE_FRAME_H
#define TRI_REMOTE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/bytes.h"
#include "troupe/gateway.h"

#define TRI_PROTOCOL_VERSION 2
#define TRI_FRAME_MAGIC 0x45505254u /* "TRPE" on the wire */
#define TRI_FRAME_HDR 20u
#define TRI_FRAME_TOKEN 16u         /* a fencing token in the body */
#define TRI_FRAME_HELLO_BODY 20u   /* version 2: + the incarnation */
#define TRI_FRAME_HELLO_BODY_V1 12u
/* Before the handshake only small frames are accepted (a HELLO is 40
 * bytes): a stranger cannot make us buffer much. */
#define TRI_FRAME_PREAUTH_MAX 256u
/* Identifiers in RESOLVE: an endpoint id or a gateway name. */
#define TRI_FRAME_NAME_MAX 256u
/* Credit (PROTOCOL.md "Credit"): what a client may send to one slot ahead
 * of CREDIT frames, in calls and in bytes of frames, whichever runs out
 * first; the server's windows are tr_service_config.credit_calls/bytes.
 * Calls bound a slow endpoint's backlog, bytes the memory whatever the
 * payload. A version-1 RESOLVE_OK (4 bytes) means no limit. */


enum tri_frame_type {
    TRI_F_HELLO = 1,   /* client -> server: magic, version, max frame size */
    TRI_F_HELLO_OK,    /* server -> client: the same, the server's */
    TRI_F_RESOLVE,     /* client -> server: endpoint id, gateway, fingerprint */
    TRI_F_RESOLVE_OK,  /* server -> client: the slot for TELL/ASK's target */
    TRI_F_TELL,        /* client -> server: [token] argument */
    TRI_F_ASK,         /* client -> server: [token] timeout_ms argument */
    TRI_F_REPLY_OK,    /* server -> client: the result (empty: no bytes) */
    TRI_F_REPLY_ERR,   /* server -> client: code, message (ASK or RESOLVE) */
    TRI_F_PING,        /* either way: answered with a PONG, same corr */
    TRI_F_PONG,
    TRI_F_CLOSE,       /* either way, then the sender closes: code, message */
    /* flow control (version 2; PROTOCOL.md "Credit") */
    TRI_F_CREDIT = 12, /* server -> client: target slot, u32 more calls it may send */
    /* death watch (version 2; PROTOCOL.md "Death watch") */
    TRI_F_WATCH = 16,  /* client -> server: u16 id length, id; corr: the watch */
    TRI_F_UNWATCH,     /* client -> server: corr of the WATCH; no body */
    TRI_F_DOWN,        /* server -> client: code, message (like REPLY_ERR); corr */
    TRI_F_TYPE_END_
};

#define TRI_FF_TOKEN 0x01u
#define TRI_FF_KNOWN 0x01u

typedef struct tri_frame_hdr {
    uint32_t length; /* after the length field */
    uint8_t type, flags;
    uint16_t method;
    uint32_t target;
    uint64_t corr;
} tri_frame_hdr;

/* The frame size on the wire for a body of `body` bytes. */
static inline size_t tri_frame_size(size_t body) { return TRI_FRAME_HDR + body; }


/* Writes the header of a frame with `body` bytes at p (TRI_FRAME_HDR). */
static inline void tri_frame_put_hdr(uint8_t *p, uint8_t type, uint8_t flags, uint16_t method,
                                     uint32_t target, uint64_t corr, size_t body)
{
    tri_put_u32(p, (uint32_t)(TRI_FRAME_HDR - 4 + body));
    p[4] = type;
    p[5] = flags;
    tri_put_u16(p + 6, method);
    tri_put_u32(p + 8, target);
    tri_put_u64(p + 12, corr);
}

/* Reads the header at p (TRI_FRAME_HDR bytes available). */
static inline void tri_frame_get_hdr(const uint8_t *p, tri_frame_hdr *h)
{
    h->length = tri_get_u32(p);
    h->type = p[4];
    h->flags = p[5];
    h->method = tri_get_u16(p + 6);
    h->target = tri_get_u32(p + 8);
    h->corr = tri_get_u64(p + 12);
}

/* The declared length alone (4 bytes at p): enough to decide whether the
 * frame may be buffered. */
static inline uint32_t tri_frame_peek_length(const uint8_t *p) { return tri_get_u32(p); }

/* Structural checks that need only the header: NULL when it may be a
 * frame, else why not (a sentence for the log). */
const char *tri_frame_check_hdr(const tri_frame_hdr *h);


/* ---- bodies ------------------------------------------------------------- */

/* HELLO and HELLO_OK: magic u32, version u16, reserved u16 (0), the
 * sender's max frame size u32; version 2 adds the sender's incarnation
 * u64. A 12-byte body parses (incarnation 0) so that a version-1 peer is
 * told about the version, not about a malformed frame. */
typedef struct tri_hello {
    uint32_t magic;
    uint16_t version;
    uint32_t max_frame;
    uint64_t incarnation;
} tri_hello;
void tri_hello_put(uint8_t *p, uint16_t version, uint32_t max_frame, uint64_t incarnation);
/* 0, or TR_EPROTO (wrong size, magic or reserved bits). */
int tri_hello_get(const uint8_t *p, size_t len, tri_hello *out);

/* RESOLVE: u16 id length, id, u16 gateway name length, name, u64
 * fingerprint of the gateway's declaration, u16 its method count. */
typedef struct tri_resolve {
    const char *id;      /* into the frame, not NUL-terminated */
    size_t id_len;
    const char *gateway; /* likewise */
    size_t gateway_len;
    uint64_t fingerprint;
    uint16_t nmethods;
} tri_resolve;
size_t tri_resolve_size(size_t id_len, size_t gateway_len);
void tri_resolve_put(uint8_t *p, const tri_resolve *r);
/* 0, or TR_EPROTO (truncated, trailing bytes, an empty or overlong name). */
int tri_resolve_get(const uint8_t *p, size_t len, tri_resolve *out);

/* REPLY_ERR and CLOSE: i32 code (a negative TR_E* value; a CLOSE may say
 * 0: an orderly goodbye), u32 message length, the message (UTF-8, no NUL). */
size_t tri_error_size(size_t msg_len);
void tri_error_put(uint8_t *p, int32_t code, const char *msg, size_t msg_len);
/* 0, or TR_EPROTO (truncated, trailing bytes, a positive code). *msg
 * points into the frame. */
int tri_error_get(const uint8_t *p, size_t len, int32_t *code, const char **msg, size_t *msg_len);

/* A 64-bit fingerprint of a gateway declaration: its name, and each
 * method's name, kind, argument and result type (structs field by field).
 * Two processes agree on it exactly when their declarations agree. */
uint64_t tri_gateway_fingerprint(const tr_gateway_desc *desc);

/* "HELLO", "ASK", ... or "unknown". */
const char *tri_frame_type_name(unsigned type);

#endif
