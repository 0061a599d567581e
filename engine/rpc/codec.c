/* The value codec: a value's byte format (include/troupe/codec.h) and
 * decoding into a deep value (rpc/value.c's layout). */
#include "rpc/codec.h"

#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "troupe/error.h"

#define NULL_STR_LEN 0xFFFFFFFFu

/* ---- encoding ---------------------------------------------------------- */

static uint64_t scalar_bits(const tr_type *t, const void *v)
{
    switch (t->kind) {
    case TR_KIND_BOOL: return *(const bool *)v ? 1 : 0;
    case TR_KIND_I8: return (uint8_t) * (const int8_t *)v;
    case TR_KIND_U8: return *(const uint8_t *)v;
    case TR_KIND_I16: return (uint16_t) * (const int16_t *)v;
    case TR_KIND_U16: return *(const uint16_t *)v;
    case TR_KIND_I32: return (uint32_t) * (const int32_t *)v;
    case TR_KIND_U32: return *(const uint32_t *)v;
    case TR_KIND_I64: return (uint64_t) * (const int64_t *)v;
    case TR_KIND_U64: return *(const uint64_t *)v;
    case TR_KIND_F32: {
        uint32_t x;
        memcpy(&x, v, 4);
        return x;
    }
    case TR_KIND_F64: {
        uint64_t x;
        memcpy(&x, v, 8);
        return x;
    }
    default: return 0;
    }
}

/* Wire width of a scalar kind. */
static unsigned scalar_width(tr_kind k)
{
    switch (k) {
    case TR_KIND_BOOL: case TR_KIND_I8: case TR_KIND_U8: return 1;
    case TR_KIND_I16: case TR_KIND_U16: return 2;
    case TR_KIND_I32: case TR_KIND_U32: case TR_KIND_F32: return 4;
    case TR_KIND_I64: case TR_KIND_U64: case TR_KIND_F64: return 8;
    default: return 0;
    }
}

static int encode_value(const tr_type *t, const void *v, tr_buf *out)
{
    switch (t->kind) {
    case TR_KIND_VOID:
        return 0;
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        if (!s)
            return tr_buf_put_u32(out, NULL_STR_LEN);
        size_t n = strlen(s);
        if (n >= NULL_STR_LEN)
            return TR_EINVAL;
        int rv = tr_buf_put_u32(out, (uint32_t)n);
        return rv ? rv : tr_buf_append(out, s, n);
    }
    case TR_KIND_BYTES: {
        const tr_bytes *b = v;
        int rv = tr_buf_put_u32(out, b->len);
        return rv ? rv : tr_buf_append(out, b->data, b->len);
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++) {
            int rv = encode_value(f[i].type, (const char *)v + f[i].offset, out);
            if (rv)
                return rv;
        }
        return 0;
    }
    default:
        return tri_buf_put_le(out, scalar_bits(t, v), scalar_width(t->kind));
    }
}

int tr_encode(const tr_type *t, const void *value, tr_buf *out)
{
    if (!t || !out)
        return TR_EINVAL;
    if (!value)
        return 0;
    size_t mark = out->len;
    int rv = encode_value(t, value, out);
    if (rv)
        out->len = mark;
    return rv;
}

/* The same encoding, into room the caller sized with tri_encoded_size (the
 * remote layer writes frames straight into its output buffer). */
static size_t encoded_size(const tr_type *t, const void *v)
{
    switch (t->kind) {
    case TR_KIND_VOID:
        return 0;
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        return 4 + (s ? strlen(s) : 0);
    }
    case TR_KIND_BYTES:
        return 4 + (size_t)((const tr_bytes *)v)->len;
    case TR_KIND_STRUCT: {
        size_t n, sum = 0;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            sum += encoded_size(f[i].type, (const char *)v + f[i].offset);
        return sum;
    }
    default:
        return scalar_width(t->kind);
    }
}

size_t tri_encoded_size(const tr_type *t, const void *value)
{
    return value ? encoded_size(t, value) : 0;
}

static uint8_t *encode_at(const tr_type *t, const void *v, uint8_t *p)
{
    switch (t->kind) {
    case TR_KIND_VOID:
        return p;
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        if (!s)
            return tri_put_le(p, NULL_STR_LEN, 4);
        size_t n = strlen(s);
        p = tri_put_le(p, (uint32_t)n, 4);
        memcpy(p, s, n);
        return p + n;
    }
    case TR_KIND_BYTES: {
        const tr_bytes *b = v;
        p = tri_put_le(p, b->len, 4);
        if (b->len)
            memcpy(p, b->data, b->len);
        return p + b->len;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            p = encode_at(f[i].type, (const char *)v + f[i].offset, p);
        return p;
    }
    default:
        return tri_put_le(p, scalar_bits(t, v), scalar_width(t->kind));
    }
}

uint8_t *tri_encode_into(const tr_type *t, const void *value, uint8_t *dst)
{
    return value ? encode_at(t, value, dst) : dst;
}

/* encode_at, but bytes of at least g->min go to g->splice in place of
 * being copied (the transport writes them from where they are). */
static uint8_t *gather_at(const tr_type *t, const void *v, uint8_t *p, const tri_gather *g)
{
    if (t->kind == TR_KIND_BYTES && ((const tr_bytes *)v)->len >= g->min) {
        const tr_bytes *b = v;
        p = tri_put_le(p, b->len, 4);
        return g->splice(g->ctx, p, b->data, b->len);
    }
    if (t->kind != TR_KIND_STRUCT)
        return encode_at(t, v, p);
    size_t n;
    const tr_field *f = tri_fields_of(t, &n);
    for (size_t i = 0; i < n; i++)
        p = gather_at(f[i].type, (const char *)v + f[i].offset, p, g);
    return p;
}

uint8_t *tri_encode_gather(const tr_type *t, const void *value, uint8_t *dst, const tri_gather *g)
{
    return value ? gather_at(t, value, dst, g) : dst;
}

bool tri_encodable(const tr_type *t, const void *value)
{
    if (!value)
        return true;
    switch (t->kind) {
    case TR_KIND_STR: {
        const char *s = *(const char *const *)value;
        return !s || strlen(s) < NULL_STR_LEN;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            if (!tri_encodable(f[i].type, (const char *)value + f[i].offset))
                return false;
        return true;
    }
    default:
        return true;
    }
}

/* ---- decoding ---------------------------------------------------------- */

/* Pass 1: validates and adds the variable bytes the value will need (bytes
 * of at least lend_min stay where they are: none of theirs). */
static int measure(const tr_type *t, tr_reader *r, size_t *var, size_t lend_min, size_t *lent)
{
    switch (t->kind) {
    case TR_KIND_VOID:
        return 0;
    case TR_KIND_STR: {
        uint32_t n;
        const uint8_t *p;
        int rv = tr_read_u32(r, &n);
        if (rv || n == NULL_STR_LEN)
            return rv;
        if ((rv = tr_read_bytes(r, n, &p)))
            return rv;
        if (memchr(p, 0, n))
            return TR_EPROTO; /* a C string cannot hold a NUL */
        *var += (size_t)n + 1;
        return 0;
    }
    case TR_KIND_BYTES: {
        uint32_t n;
        const uint8_t *p;
        int rv = tr_read_u32(r, &n);
        if (!rv)
            rv = tr_read_bytes(r, n, &p);
        if (!rv)
            *(n < lend_min ? var : lent) += n;
        return rv;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++) {
            int rv = measure(f[i].type, r, var, lend_min, lent);
            if (rv)
                return rv;
        }
        return 0;
    }
    case TR_KIND_BOOL: {
        uint64_t x;
        int rv = tri_read_le(r, 1, &x);
        return rv ? rv : (x > 1 ? TR_EPROTO : 0);
    }
    default: {
        uint64_t x;
        return tri_read_le(r, scalar_width(t->kind), &x);
    }
    }
}

/* Pass 2: input already validated by measure (with the same lend_min). */
static void unpack(const tr_type *t, tr_reader *r, void *dst, char **cursor, size_t lend_min)
{
    uint64_t x = 0;
    switch (t->kind) {
    case TR_KIND_VOID:
        return;
    case TR_KIND_STR: {
        uint32_t n;
        const uint8_t *p;
        (void)tr_read_u32(r, &n);
        if (n == NULL_STR_LEN) {
            *(const char **)dst = NULL;
            return;
        }
        (void)tr_read_bytes(r, n, &p);
        memcpy(*cursor, p, n);
        (*cursor)[n] = '\0';
        *(const char **)dst = *cursor;
        *cursor += (size_t)n + 1;
        return;
    }
    case TR_KIND_BYTES: {
        uint32_t n;
        const uint8_t *p;
        (void)tr_read_u32(r, &n);
        (void)tr_read_bytes(r, n, &p);
        tr_bytes *b = dst;
        b->len = n;
        if (n >= lend_min) { /* lent: points into the input */
            b->data = p;
            return;
        }
        b->data = n ? *cursor : NULL;
        if (n)
            memcpy(*cursor, p, n);
        *cursor += n;
        return;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            unpack(f[i].type, r, (char *)dst + f[i].offset, cursor, lend_min);
        return;
    }
    default:
        (void)tri_read_le(r, scalar_width(t->kind), &x);
        break;
    }
    switch (t->kind) {
    case TR_KIND_BOOL: *(bool *)dst = x != 0; break;
    case TR_KIND_I8: *(int8_t *)dst = (int8_t)(uint8_t)x; break;
    case TR_KIND_U8: *(uint8_t *)dst = (uint8_t)x; break;
    case TR_KIND_I16: *(int16_t *)dst = (int16_t)(uint16_t)x; break;
    case TR_KIND_U16: *(uint16_t *)dst = (uint16_t)x; break;
    case TR_KIND_I32: *(int32_t *)dst = (int32_t)(uint32_t)x; break;
    case TR_KIND_U32: *(uint32_t *)dst = (uint32_t)x; break;
    case TR_KIND_I64: *(int64_t *)dst = (int64_t)x; break;
    case TR_KIND_U64: *(uint64_t *)dst = x; break;
    case TR_KIND_F32: {
        uint32_t y = (uint32_t)x;
        memcpy(dst, &y, 4);
        break;
    }
    case TR_KIND_F64: memcpy(dst, &x, 8); break;
    default: break;
    }
}

int tri_decode_size_lent(const tr_type *t, const void *data, size_t len, size_t lend_min,
                         size_t *size, size_t *lent)
{
    *size = *lent = 0;
    if (!len)
        return 0;
    if (t->kind == TR_KIND_VOID)
        return TR_EPROTO;
    if (t->kind == TR_KIND_BYTES) { /* the common remote payload, without a reader */
        if (len < 4)
            return TR_EPROTO;
        uint32_t n = tri_get_u32(data);
        if (len - 4 != n)
            return TR_EPROTO;
        *size = sizeof(tr_bytes) + (n < lend_min ? n : 0);
        *lent = n < lend_min ? 0 : n;
        return 0;
    }
    tr_reader r = tr_reader_of(data, len);
    size_t var = 0;
    int rv = measure(t, &r, &var, lend_min, lent);
    if (rv)
        return rv;
    if (r.p != r.end)
        return TR_EPROTO; /* trailing bytes: the peer's type differs */
    *size = t->size + var;
    return 0;
}

int tri_decode_size(const tr_type *t, const void *data, size_t len, size_t *size)
{
    size_t lent;
    return tri_decode_size_lent(t, data, len, SIZE_MAX, size, &lent);
}

void tri_decode_into_lent(const tr_type *t, const void *data, size_t len, void *dst, size_t size,
                          size_t lend_min)
{
    if (!size)
        return;
    if (t->kind == TR_KIND_BYTES) { /* validated by tri_decode_size */
        tr_bytes *b = dst;
        b->len = (uint32_t)(len - 4);
        if (b->len >= lend_min) {
            b->data = (const uint8_t *)data + 4;
            return;
        }
        b->data = b->len ? (uint8_t *)dst + sizeof *b : NULL;
        if (b->len)
            memcpy((uint8_t *)dst + sizeof *b, (const uint8_t *)data + 4, b->len);
        return;
    }
    memset(dst, 0, t->size);
    tr_reader r = tr_reader_of(data, len);
    char *cursor = (char *)dst + t->size;
    unpack(t, &r, dst, &cursor, lend_min);
}

void tri_decode_into(const tr_type *t, const void *data, size_t len, void *dst, size_t size)
{
    tri_decode_into_lent(t, data, len, dst, size, SIZE_MAX);
}

int tr_decode(const tr_type *t, const void *data, size_t len, void **out, size_t *out_size)
{
    if (!t || !out || !out_size || (len && !data))
        return TR_EINVAL;
    *out = NULL;
    *out_size = 0;
    size_t size;
    int rv = tri_decode_size(t, data, len, &size);
    if (rv || !size)
        return rv;
    void *p = tri_alloc(size);
    if (!p)
        return TR_ENOMEM;
    tri_decode_into(t, data, len, p, size);
    *out = p;
    *out_size = size;
    return 0;
}
