/* Value types: the built-in descriptors, deep copies, the byte codec.
 *
 * A deep value is one block: the C value (t->size bytes) followed by the
 * bytes its strings and byte strings point to, in field order. Local calls
 * copy arguments and results this way (never serialized, S22); the byte
 * format of codec.h is for the force switch and for remote calls. */
#include "rpc/codec.h"

#include <string.h>

#include "base/alloc.h"
#include "troupe/error.h"

#define BUILTIN(tname, kind, ctype) const tr_type tname##__type = {#tname, kind, sizeof(ctype), NULL};
BUILTIN(tr_bool, TR_KIND_BOOL, tr_bool)
BUILTIN(tr_i8, TR_KIND_I8, tr_i8)
BUILTIN(tr_i16, TR_KIND_I16, tr_i16)
BUILTIN(tr_i32, TR_KIND_I32, tr_i32)
BUILTIN(tr_i64, TR_KIND_I64, tr_i64)
BUILTIN(tr_u8, TR_KIND_U8, tr_u8)
BUILTIN(tr_u16, TR_KIND_U16, tr_u16)
BUILTIN(tr_u32, TR_KIND_U32, tr_u32)
BUILTIN(tr_u64, TR_KIND_U64, tr_u64)
BUILTIN(tr_f32, TR_KIND_F32, tr_f32)
BUILTIN(tr_f64, TR_KIND_F64, tr_f64)
BUILTIN(tr_str, TR_KIND_STR, tr_str)
BUILTIN(tr_bytes, TR_KIND_BYTES, tr_bytes)
#undef BUILTIN
const tr_type tr_void__type = {"tr_void", TR_KIND_VOID, 0, NULL};

#define NULL_STR_LEN 0xFFFFFFFFu

/* ---- byte buffers ------------------------------------------------------ */

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

/* Little-endian regardless of the host: shifts, not memcpy. */
static int put_le(tr_buf *b, uint64_t v, unsigned width)
{
    int rv = tr_buf_reserve(b, width);
    if (rv)
        return rv;
    for (unsigned i = 0; i < width; i++)
        b->data[b->len++] = (uint8_t)(v >> (8 * i));
    return 0;
}

int tr_buf_put_u8(tr_buf *b, uint8_t v) { return put_le(b, v, 1); }
int tr_buf_put_u16(tr_buf *b, uint16_t v) { return put_le(b, v, 2); }
int tr_buf_put_u32(tr_buf *b, uint32_t v) { return put_le(b, v, 4); }
int tr_buf_put_u64(tr_buf *b, uint64_t v) { return put_le(b, v, 8); }

static int get_le(tr_reader *r, unsigned width, uint64_t *v)
{
    if ((size_t)(r->end - r->p) < width)
        return TR_EPROTO;
    uint64_t x = 0;
    for (unsigned i = 0; i < width; i++)
        x |= (uint64_t)r->p[i] << (8 * i);
    r->p += width;
    *v = x;
    return 0;
}

int tr_read_u8(tr_reader *r, uint8_t *v)
{
    uint64_t x = 0; /* stays 0 when the read fails */
    int rv = get_le(r, 1, &x);
    *v = (uint8_t)x;
    return rv;
}
int tr_read_u16(tr_reader *r, uint16_t *v)
{
    uint64_t x = 0; /* stays 0 when the read fails */
    int rv = get_le(r, 2, &x);
    *v = (uint16_t)x;
    return rv;
}
int tr_read_u32(tr_reader *r, uint32_t *v)
{
    uint64_t x = 0; /* stays 0 when the read fails */
    int rv = get_le(r, 4, &x);
    *v = (uint32_t)x;
    return rv;
}
int tr_read_u64(tr_reader *r, uint64_t *v) { return get_le(r, 8, v); }

int tr_read_bytes(tr_reader *r, size_t n, const uint8_t **p)
{
    if ((size_t)(r->end - r->p) < n)
        return TR_EPROTO;
    *p = r->p;
    r->p += n;
    return 0;
}

/* ---- deep copies ------------------------------------------------------- */

static const tr_field *fields_of(const tr_type *t, size_t *n)
{
    *n = 0;
    return t->fields ? t->fields(n) : NULL;
}

/* Bytes the value's strings and byte strings take after its C part. */
static size_t var_size(const tr_type *t, const void *v)
{
    switch (t->kind) {
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        return s ? strlen(s) + 1 : 0;
    }
    case TR_KIND_BYTES:
        return ((const tr_bytes *)v)->len;
    case TR_KIND_STRUCT: {
        size_t n, sum = 0;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            sum += var_size(f[i].type, (const char *)v + f[i].offset);
        return sum;
    }
    default:
        return 0;
    }
}

bool tri_type_is_flat(const tr_type *t)
{
    switch (t->kind) {
    case TR_KIND_STR:
    case TR_KIND_BYTES:
        return false;
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            if (!tri_type_is_flat(f[i].type))
                return false;
        return true;
    }
    default:
        return true;
    }
}

size_t tr_value_deep_size(const tr_type *t, const void *value)
{
    if (!value || t->kind == TR_KIND_VOID)
        return 0;
    return t->size + var_size(t, value);
}

/* Copies the variable part of `src` to *cursor and points `dst` at it. */
static void copy_var(const tr_type *t, void *dst, const void *src, char **cursor)
{
    switch (t->kind) {
    case TR_KIND_STR: {
        const char *s = *(const char *const *)src;
        if (s) {
            size_t n = strlen(s) + 1;
            memcpy(*cursor, s, n);
            *(const char **)dst = *cursor;
            *cursor += n;
        }
        break;
    }
    case TR_KIND_BYTES: {
        const tr_bytes *b = src;
        tr_bytes *d = dst;
        if (b->len) {
            memcpy(*cursor, b->data, b->len);
            d->data = *cursor;
            *cursor += b->len;
        } else {
            d->data = NULL;
        }
        break;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            copy_var(f[i].type, (char *)dst + f[i].offset, (const char *)src + f[i].offset, cursor);
        break;
    }
    default:
        break;
    }
}

void tri_value_copy_into(const tr_type *t, const void *value, void *dst, size_t size)
{
    if (!size)
        return;
    memcpy(dst, value, t->size);
    if (!tri_type_is_flat(t)) {
        char *cursor = (char *)dst + t->size;
        copy_var(t, dst, value, &cursor);
    }
}

void *tr_value_clone(const tr_type *t, const void *value, size_t *out_size)
{
    size_t n = tr_value_deep_size(t, value);
    *out_size = n;
    if (!n)
        return NULL;
    void *p = tri_alloc(n);
    if (p)
        tri_value_copy_into(t, value, p, n);
    return p;
}

void tr_value_free(void *value, size_t size) { tri_free(value, size); }

bool tr_value_equal(const tr_type *t, const void *a, const void *b)
{
    if (!a || !b)
        return a == b;
    switch (t->kind) {
    case TR_KIND_VOID:
        return true;
    case TR_KIND_STR: {
        const char *x = *(const char *const *)a, *y = *(const char *const *)b;
        return (!x || !y) ? x == y : strcmp(x, y) == 0;
    }
    case TR_KIND_BYTES: {
        const tr_bytes *x = a, *y = b;
        return x->len == y->len && (!x->len || memcmp(x->data, y->data, x->len) == 0);
    }
    case TR_KIND_BOOL:
        return *(const bool *)a == *(const bool *)b;
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            if (!tr_value_equal(f[i].type, (const char *)a + f[i].offset,
                                (const char *)b + f[i].offset))
                return false;
        return true;
    }
    default: /* integers and floats: bit patterns (NaN equals itself) */
        return memcmp(a, b, t->size) == 0;
    }
}

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
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++) {
            int rv = encode_value(f[i].type, (const char *)v + f[i].offset, out);
            if (rv)
                return rv;
        }
        return 0;
    }
    default:
        return put_le(out, scalar_bits(t, v), scalar_width(t->kind));
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
        const tr_field *f = fields_of(t, &n);
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

static inline uint8_t *put_le_at(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + width;
}

static uint8_t *encode_at(const tr_type *t, const void *v, uint8_t *p)
{
    switch (t->kind) {
    case TR_KIND_VOID:
        return p;
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        if (!s)
            return put_le_at(p, NULL_STR_LEN, 4);
        size_t n = strlen(s);
        p = put_le_at(p, (uint32_t)n, 4);
        memcpy(p, s, n);
        return p + n;
    }
    case TR_KIND_BYTES: {
        const tr_bytes *b = v;
        p = put_le_at(p, b->len, 4);
        if (b->len)
            memcpy(p, b->data, b->len);
        return p + b->len;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            p = encode_at(f[i].type, (const char *)v + f[i].offset, p);
        return p;
    }
    default:
        return put_le_at(p, scalar_bits(t, v), scalar_width(t->kind));
    }
}

uint8_t *tri_encode_into(const tr_type *t, const void *value, uint8_t *dst)
{
    return value ? encode_at(t, value, dst) : dst;
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
        const tr_field *f = fields_of(t, &n);
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

/* Pass 1: validates and adds the variable bytes the value will need. */
static int measure(const tr_type *t, tr_reader *r, size_t *var)
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
            *var += n;
        return rv;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++) {
            int rv = measure(f[i].type, r, var);
            if (rv)
                return rv;
        }
        return 0;
    }
    case TR_KIND_BOOL: {
        uint64_t x;
        int rv = get_le(r, 1, &x);
        return rv ? rv : (x > 1 ? TR_EPROTO : 0);
    }
    default: {
        uint64_t x;
        return get_le(r, scalar_width(t->kind), &x);
    }
    }
}

/* Pass 2: input already validated by measure. */
static void unpack(const tr_type *t, tr_reader *r, void *dst, char **cursor)
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
        b->data = n ? *cursor : NULL;
        if (n)
            memcpy(*cursor, p, n);
        *cursor += n;
        return;
    }
    case TR_KIND_STRUCT: {
        size_t n;
        const tr_field *f = fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            unpack(f[i].type, r, (char *)dst + f[i].offset, cursor);
        return;
    }
    default:
        (void)get_le(r, scalar_width(t->kind), &x);
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

int tri_decode_size(const tr_type *t, const void *data, size_t len, size_t *size)
{
    *size = 0;
    if (!len)
        return 0;
    if (t->kind == TR_KIND_VOID)
        return TR_EPROTO;
    if (t->kind == TR_KIND_BYTES) { /* the common remote payload, without a reader */
        if (len < 4)
            return TR_EPROTO;
        uint32_t n = (uint32_t)((const uint8_t *)data)[0] | (uint32_t)((const uint8_t *)data)[1] << 8 |
            (uint32_t)((const uint8_t *)data)[2] << 16 | (uint32_t)((const uint8_t *)data)[3] << 24;
        if (len - 4 != n)
            return TR_EPROTO;
        *size = sizeof(tr_bytes) + n;
        return 0;
    }
    tr_reader r = tr_reader_of(data, len);
    size_t var = 0;
    int rv = measure(t, &r, &var);
    if (rv)
        return rv;
    if (r.p != r.end)
        return TR_EPROTO; /* trailing bytes: the peer's type differs */
    *size = t->size + var;
    return 0;
}

void tri_decode_into(const tr_type *t, const void *data, size_t len, void *dst, size_t size)
{
    if (!size)
        return;
    if (t->kind == TR_KIND_BYTES) { /* validated by tri_decode_size */
        tr_bytes *b = dst;
        b->len = (uint32_t)(len - 4);
        b->data = b->len ? (uint8_t *)dst + sizeof *b : NULL;
        if (b->len)
            memcpy((uint8_t *)dst + sizeof *b, (const uint8_t *)data + 4, b->len);
        return;
    }
    memset(dst, 0, t->size);
    tr_reader r = tr_reader_of(data, len);
    char *cursor = (char *)dst + t->size;
    unpack(t, &r, dst, &cursor);
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
