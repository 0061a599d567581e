/* The gateway that troupe-node serves (tools/troupe-node.c), for the
 * programs built with it that call a running node: troupe-bench's remote
 * workloads and the tests (CMakeLists.txt compiles tools/tnode.c into each).
 * It is not part of the library: another program declares the same
 * gateway itself (README, "Remote endpoints"):
 *
 *   echo   ASK   tr_bytes -> tr_bytes  the same bytes back
 *   ping   ASK   tr_i64   -> tr_i64    the same number back
 *   sink   TELL  tr_bytes              counted (messages and bytes), dropped
 *   count  ASK   tr_u64   -> tr_u64    answers, with the number of sink
 *                                      messages so far, once there are at
 *                                      least arg of them (0: at once)
 *   bytes  ASK   tr_void  -> tr_u64    bytes received through sink so far
 *
 * The node's endpoint id is TNODE_ENDPOINT: connect to
 * "troupe://<host:port>/node" with &tnode_gateway. The same endpoint takes
 * streams (troupe/stream.h, &tr_stream_gateway): a stream named
 * TNODE_STREAM_CHECK "<len>:<digest>" (tnode_digest of its bytes, in hex)
 * ends with TR_EPROTO unless every byte arrived as sent; any other stream
 * is counted and discarded. */
#ifndef TROUPE_TOOLS_TNODE_H
#define TROUPE_TOOLS_TNODE_H

#include "troupe/gateway.h"

#define TNODE_ENDPOINT "node"
#define TNODE_STREAM_CHECK "check:"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A digest of a byte sequence, however it is cut into pieces: 8-byte
 * little-endian words mixed in order (fast enough for a 1 GiB stream). */
typedef struct tnode_digest {
    uint64_t h, len;
    uint8_t tail[8];
    unsigned ntail;
} tnode_digest;

static inline void tnode_digest_word(tnode_digest *d, uint64_t w)
{
    d->h = (d->h ^ w) * 0x9E3779B97F4A7C15ull;
    d->h ^= d->h >> 29;
}

static inline void tnode_digest_add(tnode_digest *d, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    d->len += len;
    while (d->ntail && d->ntail < 8 && len) {
        d->tail[d->ntail++] = *p++, len--;
        if (d->ntail == 8) {
            uint64_t w;
            memcpy(&w, d->tail, 8);
            tnode_digest_word(d, w);
            d->ntail = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        tnode_digest_word(d, w);
    }
    if (len && d->ntail + len <= 8) { /* always: ntail is 0 here */
        memcpy(d->tail + d->ntail, p, len);
        d->ntail += (unsigned)len;
    }
}

static inline uint64_t tnode_digest_end(const tnode_digest *d)
{
    tnode_digest c = *d;
    uint64_t w = 0;
    memcpy(&w, c.tail, c.ntail);
    tnode_digest_word(&c, w ^ (c.len << 3));
    return c.h;
}

/** troupe-node's gateway `tnode`: echo (the bytes back), ping (the number
 * back), sink (tells, counted), count (answers once that many sink tells
 * have arrived), bytes (payload bytes sunk so far). */
#define TNODE_METHODS(M)                                                      \
    M(tnode, echo, tr_bytes, tr_bytes, ASK)                                   \
    M(tnode, ping, tr_i64, tr_i64, ASK)                                       \
    M(tnode, sink, tr_bytes, tr_void, TELL)                                   \
    M(tnode, count, tr_u64, tr_u64, ASK)                                      \
    M(tnode, bytes, tr_void, tr_u64, ASK)
TR_GATEWAY(tnode, TNODE_METHODS)

#ifdef __cplusplus
}
#endif

#endif
