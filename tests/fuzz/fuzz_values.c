/* libFuzzer target: decoding every value type (rpc/codec.h) from
 * untrusted bytes. The first byte picks the type (every built-in kind and
 * structs nesting them); the rest is the encoding. Accepted bytes must
 * decode into exactly the size tri_decode_size gave and re-encode to the
 * same bytes (the format is canonical: bool 0/1, one NULL marker). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/codec.h"
#include "troupe/troupe.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

#define FZ_LEAF_FIELDS(F)                                                     \
    F(tr_bool, b) F(tr_i8, i8) F(tr_u16, u16) F(tr_str, s) F(tr_i32, i32)     \
    F(tr_f32, f32) F(tr_bytes, by) F(tr_u64, u64) F(tr_f64, f64) F(tr_u8, u8)  \
    F(tr_i16, i16) F(tr_u32, u32) F(tr_i64, i64)
TR_STRUCT(fz_leaf, FZ_LEAF_FIELDS)
TR_STRUCT_DEFINE(fz_leaf, FZ_LEAF_FIELDS)
#define FZ_TREE_FIELDS(F) F(fz_leaf, a) F(tr_str, tag) F(fz_leaf, c) F(tr_bytes, tail)
TR_STRUCT(fz_tree, FZ_TREE_FIELDS)
TR_STRUCT_DEFINE(fz_tree, FZ_TREE_FIELDS)
#define FZ_EMPTYISH_FIELDS(F) F(tr_void, v) F(tr_str, s)
TR_STRUCT(fz_emptyish, FZ_EMPTYISH_FIELDS)
TR_STRUCT_DEFINE(fz_emptyish, FZ_EMPTYISH_FIELDS)

static const tr_type *const types[] = {
    &tr_void__type, &tr_bool__type, &tr_i8__type,  &tr_i16__type, &tr_i32__type,
    &tr_i64__type,  &tr_u8__type,   &tr_u16__type, &tr_u32__type, &tr_u64__type,
    &tr_f32__type,  &tr_f64__type,  &tr_str__type, &tr_bytes__type, &fz_leaf__type,
    &fz_tree__type, &fz_emptyish__type,
};
#define NTYPES (sizeof types / sizeof types[0])

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1)
        return 0;
    const tr_type *t = types[d[0] % NTYPES];
    const uint8_t *p = d + 1;
    size_t len = n - 1;

    size_t size = 0;
    if (tri_decode_size(t, p, len, &size) != 0) {
        void *v = (void *)1;
        size_t vs;
        CHECK(tr_decode(t, p, len, &v, &vs) == TR_EPROTO); /* the public door agrees */
        return 0;
    }
    if (size == 0) { /* empty (S19): no bytes, or a void */
        CHECK(len == 0 || t->kind == TR_KIND_VOID);
        return 0;
    }
    CHECK(size >= t->size);
    void *v = malloc(size);
    CHECK(v);
    tri_decode_into(t, p, len, v, size);
    CHECK(tr_value_deep_size(t, v) <= size);
    CHECK(tri_encodable(t, v));
    CHECK(tri_encoded_size(t, v) == len);
    uint8_t *e = malloc(len);
    CHECK(e);
    CHECK(tri_encode_into(t, v, e) == e + len);
    CHECK(memcmp(e, p, len) == 0);
    size_t cs;
    void *c = tr_value_clone(t, v, &cs);
    CHECK(c && tr_value_equal(t, c, v) == tr_value_equal(t, v, v));
    tr_value_free(c, cs);
    free(e);
    free(v);
    return 0;
}
