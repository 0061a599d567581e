/* The byte buffer and reader (public half: include/troupe/buf.h), as the
 * engine's codecs use them: inline, without a call per scalar. */
#ifndef TRI_BASE_BUF_H
#define TRI_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "troupe/buf.h"
#include "troupe/error.h"

/* The next n bytes (moving past them), or NULL when fewer remain. */
static inline const uint8_t *tri_read_take(tr_reader *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

/* Appends a scalar of `width` bytes (1, 2, 4, 8). 0 or TR_ENOMEM. */
static inline int tri_buf_put_le(tr_buf *b, uint64_t v, unsigned width)
{
    int rv = tr_buf_reserve(b, width);
    if (rv)
        return rv;
    tri_put_le(b->data + b->len, v, width);
    b->len += width;
    return 0;
}

/* Reads a scalar of `width` bytes: 0, or TR_EPROTO (too few left; then *v
 * is 0 and the cursor stays). */
static inline int tri_read_le(tr_reader *r, unsigned width, uint64_t *v)
{
    const uint8_t *p = tri_read_take(r, width);
    *v = p ? tri_get_le(p, width) : 0;
    return p ? 0 : TR_EPROTO;
}

#endif
