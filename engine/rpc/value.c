/* Values: the built-in type descriptors, deep copies, equality.
 *
 * A deep value is one block: the C value (t->size bytes) followed by the
 * bytes its strings and byte strings point to, in field order. Local calls
 * copy arguments and results this way (never serialized, S22); the byte
 * format (rpc/codec.c) is for the force switch and for remote calls. */
#include "rpc/value.h"

#include <stdint.h>
#include <string.h>

#include "base/alloc.h"

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


/* Bytes the value's strings and byte strings take after its C part (byte
 * strings of lend_min or more are lent: none). */
static size_t var_size(const tr_type *t, const void *v, size_t lend_min)
{
    switch (t->kind) {
    case TR_KIND_STR: {
        const char *s = *(const char *const *)v;
        return s ? strlen(s) + 1 : 0;
    }
    case TR_KIND_BYTES: {
        size_t len = ((const tr_bytes *)v)->len;
        return len < lend_min ? len : 0;
    }
    case TR_KIND_STRUCT: {
        size_t n, sum = 0;
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            sum += var_size(f[i].type, (const char *)v + f[i].offset, lend_min);
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
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            if (!tri_type_is_flat(f[i].type))
                return false;
        return true;
    }
    default:
        return true;
    }
}

size_t tri_value_deep_size_lent(const tr_type *t, const void *value, size_t lend_min)
{
    if (!value || t->kind == TR_KIND_VOID)
        return 0;
    return t->size + var_size(t, value, lend_min);
}

size_t tr_value_deep_size(const tr_type *t, const void *value)
{
    return tri_value_deep_size_lent(t, value, SIZE_MAX);
}

/* Copies the variable part of `src` to *cursor and points `dst` at it
 * (byte strings of lend_min or more: dst keeps src's pointer). */
static void copy_var(const tr_type *t, void *dst, const void *src, char **cursor, size_t lend_min)
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
        if (b->len >= lend_min) {
            d->data = b->data;
        } else if (b->len) {
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
        const tr_field *f = tri_fields_of(t, &n);
        for (size_t i = 0; i < n; i++)
            copy_var(f[i].type, (char *)dst + f[i].offset, (const char *)src + f[i].offset, cursor,
                     lend_min);
        break;
    }
    default:
        break;
    }
}

void tri_value_copy_into_lent(const tr_type *t, const void *value, void *dst, size_t size,
                              size_t lend_min)
{
    if (!size)
        return;
    memcpy(dst, value, t->size);
    if (!tri_type_is_flat(t)) {
        char *cursor = (char *)dst + t->size;
        copy_var(t, dst, value, &cursor, lend_min);
    }
}

void tri_value_copy_into(const tr_type *t, const void *value, void *dst, size_t size)
{
    tri_value_copy_into_lent(t, value, dst, size, SIZE_MAX);
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
        const tr_field *f = tri_fields_of(t, &n);
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
