/* tr_buf and tr_reader (include/troupe/buf.h). */
#include "base/buf.h"

#include <string.h>

#include "base/alloc.h"
#include "troupe/error.h"

void tr_buf_init(tr_buf *b) { b->data = NULL, b->len = b->cap = 0; }

void tr_buf_free(tr_buf *b)
{
    tri_free(b->data, b->cap);
    tr_buf_init(b);
}

int tr_buf_reserve(tr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return TR_ENOMEM;
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = tri_realloc(b->data, b->cap, cap);
    if (!p)
        return TR_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int tr_buf_append(tr_buf *b, const void *p, size_t n)
{
    if (!n)
        return 0;
    int rv = tr_buf_reserve(b, n);
    if (rv)
        return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int tr_buf_put_u8(tr_buf *b, uint8_t v) { return tri_buf_put_le(b, v, 1); }
int tr_buf_put_u16(tr_buf *b, uint16_t v) { return tri_buf_put_le(b, v, 2); }
int tr_buf_put_u32(tr_buf *b, uint32_t v) { return tri_buf_put_le(b, v, 4); }
int tr_buf_put_u64(tr_buf *b, uint64_t v) { return tri_buf_put_le(b, v, 8); }

int tr_read_u8(tr_reader *r, uint8_t *v)
{
    uint64_t x;
    int rv = tri_read_le(r, 1, &x);
    *v = (uint8_t)x;
    return rv;
}

int tr_read_u16(tr_reader *r, uint16_t *v)
{
    uint64_t x;
    int rv = tri_read_le(r, 2, &x);
    *v = (uint16_t)x;
    return rv;
}

int tr_read_u32(tr_reader *r, uint32_t *v)
{
    uint64_t x;
    int rv = tri_read_le(r, 4, &x);
    *v = (uint32_t)x;
    return rv;
}

int tr_read_u64(tr_reader *r, uint64_t *v) { return tri_read_le(r, 8, v); }

int tr_read_bytes(tr_reader *r, size_t n, const uint8_t **p)
{
    const uint8_t *q = tri_read_take(r, n);
    if (!q)
        return TR_EPROTO;
    *p = q;
    return 0;
}
