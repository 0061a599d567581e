/* The value matrix's gateway, values and digests (tests/rpc/values_test.c,
 * tests/remote/values_test.c; the drivers are in values_run.h).
 *
 * Every value kind a gateway can carry (each scalar, tr_str, tr_bytes, a
 * struct nesting them, a struct of structs) gets a TELL method and an ASK
 * method that answers with the same value. Handlers read every byte of the
 * argument and fold it into a 64-bit FNV-1a digest over canonical bytes
 * (integers little-endian at their width, floats by bit pattern, a str as
 * a presence byte, u32 length and its bytes, bytes as u32 length and bytes,
 * struct fields in order). The endpoint keeps, per call kind, a count, the
 * sum of the digests and, for tells, an order-sensitive chain (S21: one
 * sender's tells arrive in order); `totals` returns them. The caller computes
 * the same digests over what it sent and compares.
 *
 * Handlers never assert (they run on workers): a wrong byte shows up as a
 * wrong digest, a dangling pointer as an ASan report. Values are built from
 * a seeded PRNG, specials first (extremes, NaN bit patterns, NULL and empty,
 * 64 KiB and larger), so a failure replays. */
#ifndef TR_TESTS_COMMON_VALUES_H
#define TR_TESTS_COMMON_VALUES_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define TV_WAIT_NS (30LL * 1000 * 1000 * 1000) /* bound on any blocking wait */

/* ---- the types ------------------------------------------------------------------ */

#define TV_LEAF_FIELDS(F)                                                     \
    F(tr_bool, b) F(tr_i8, i8) F(tr_u16, u16) F(tr_str, s) F(tr_i32, i32)     \
    F(tr_f32, f32) F(tr_bytes, by) F(tr_u64, u64) F(tr_f64, f64) F(tr_u8, u8)  \
    F(tr_str, s2) F(tr_i16, i16) F(tr_u32, u32) F(tr_i64, i64)
TR_STRUCT(tv_leaf, TV_LEAF_FIELDS)
TR_STRUCT_DEFINE(tv_leaf, TV_LEAF_FIELDS)

#define TV_MID_FIELDS(F) F(tv_leaf, l) F(tr_str, tag) F(tr_bytes, blob)
TR_STRUCT(tv_mid, TV_MID_FIELDS)
TR_STRUCT_DEFINE(tv_mid, TV_MID_FIELDS)

/* A struct of structs: two leaves and a struct holding a third. */
#define TV_TREE_FIELDS(F) F(tv_leaf, a) F(tr_i64, n) F(tv_mid, m) F(tv_leaf, c) F(tr_bytes, tail)
TR_STRUCT(tv_tree, TV_TREE_FIELDS)
TR_STRUCT_DEFINE(tv_tree, TV_TREE_FIELDS)

#define TV_TOTAL_FIELDS(F)                                                    \
    F(tr_u64, tells) F(tr_u64, tell_sum) F(tr_u64, tell_chain) F(tr_u64, asks) F(tr_u64, ask_sum)
TR_STRUCT(tv_total, TV_TOTAL_FIELDS)
TR_STRUCT_DEFINE(tv_total, TV_TOTAL_FIELDS)

/* Every kind: X(M, name, C type). ("boolean": `bool` is a macro.) */
#define TV_KINDS(X, M)                                                        \
    X(M, boolean, tr_bool) X(M, i8, tr_i8) X(M, i16, tr_i16) X(M, i32, tr_i32) \
    X(M, i64, tr_i64) X(M, u8, tr_u8) X(M, u16, tr_u16) X(M, u32, tr_u32)      \
    X(M, u64, tr_u64) X(M, f32, tr_f32) X(M, f64, tr_f64) X(M, str, tr_str)    \
    X(M, bytes, tr_bytes) X(M, leaf, tv_leaf) X(M, tree, tv_tree)

#define TV_ENUM_(M, name, T) TVK_##name,
enum { TV_KINDS(TV_ENUM_, _) TVK_COUNT };

/* ---- the gateway: tell_<kind>, ask_<kind> (echo), totals --------------------------- */

#define TV_TELL_ROW_(M, name, T) M(tv, tell_##name, T, tr_void, TELL)
#define TV_ASK_ROW_(M, name, T) M(tv, ask_##name, T, T, ASK)
#define TV_METHODS(M)                                                         \
    TV_KINDS(TV_TELL_ROW_, M)                                                 \
    TV_KINDS(TV_ASK_ROW_, M)                                                  \
    M(tv, totals, tr_void, tv_total, ASK)
TR_GATEWAY(tv, TV_METHODS)
TR_GATEWAY_DEFINE(tv, TV_METHODS)

/* ---- digests ---------------------------------------------------------------------- */

#define TV_FNV_OFFSET 0xcbf29ce484222325ull
#define TV_FNV_PRIME 0x100000001b3ull

static inline uint64_t tv_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= TV_FNV_PRIME;
    }
    return h;
}

/* The low `bytes` bytes of v, little-endian. */
static inline uint64_t tv_le(uint64_t h, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++) {
        h ^= (uint8_t)(v >> (8 * i));
        h *= TV_FNV_PRIME;
    }
    return h;
}

static inline uint64_t tv_dig_tr_bool(uint64_t h, const tr_bool *v) { return tv_le(h, *v ? 1 : 0, 1); }
#define TV_DIG_INT_(T, U)                                                     \
    static inline uint64_t tv_dig_##T(uint64_t h, const T *v)                 \
    {                                                                         \
        return tv_le(h, (U)*v, sizeof(T));                                    \
    }
TV_DIG_INT_(tr_i8, uint8_t)
TV_DIG_INT_(tr_i16, uint16_t)
TV_DIG_INT_(tr_i32, uint32_t)
TV_DIG_INT_(tr_i64, uint64_t)
TV_DIG_INT_(tr_u8, uint8_t)
TV_DIG_INT_(tr_u16, uint16_t)
TV_DIG_INT_(tr_u32, uint32_t)
TV_DIG_INT_(tr_u64, uint64_t)
static inline uint64_t tv_dig_tr_f32(uint64_t h, const tr_f32 *v)
{
    uint32_t bits;
    memcpy(&bits, v, 4);
    return tv_le(h, bits, 4);
}
static inline uint64_t tv_dig_tr_f64(uint64_t h, const tr_f64 *v)
{
    uint64_t bits;
    memcpy(&bits, v, 8);
    return tv_le(h, bits, 8);
}
static inline uint64_t tv_dig_tr_str(uint64_t h, const tr_str *v)
{
    if (!*v)
        return tv_le(h, 0, 1);
    size_t n = strlen(*v);
    return tv_fnv(tv_le(tv_le(h, 1, 1), n, 4), *v, n);
}
static inline uint64_t tv_dig_tr_bytes(uint64_t h, const tr_bytes *v)
{
    h = tv_le(h, v->len, 4);
    return v->len ? tv_fnv(h, v->data, v->len) : h;
}
#define TV_DIG_FIELD_(T, f) h = tv_dig_##T(h, &v->f);
static inline uint64_t tv_dig_tv_leaf(uint64_t h, const tv_leaf *v)
{
    TV_LEAF_FIELDS(TV_DIG_FIELD_)
    return h;
}
static inline uint64_t tv_dig_tv_mid(uint64_t h, const tv_mid *v)
{
    TV_MID_FIELDS(TV_DIG_FIELD_)
    return h;
}
static inline uint64_t tv_dig_tv_tree(uint64_t h, const tv_tree *v)
{
    TV_TREE_FIELDS(TV_DIG_FIELD_)
    return h;
}

/* The digest of one call's value: the kind first, so a value delivered
 * to another method's handler does not match. */
#define TV_TOP_DIG_(M, name, T)                                               \
    static inline uint64_t tv_digest_##name(const T *v)                       \
    {                                                                         \
        uint64_t h = tv_le(TV_FNV_OFFSET, TVK_##name, 1);                     \
        return v ? tv_dig_##T(h, v) : tv_le(h, 0xEE, 1);                      \
    }
TV_KINDS(TV_TOP_DIG_, _)

static inline uint64_t tv_chain(uint64_t chain, uint64_t d) { return (chain ^ d) * TV_FNV_PRIME + 1; }

/* ---- the endpoint ------------------------------------------------------------------- */

/* Its state is a tv_total. */
static inline void tv_on_tell(void *state, uint64_t d)
{
    tv_total *t = state;
    t->tells++;
    t->tell_sum += d;
    t->tell_chain = tv_chain(t->tell_chain, d);
}

#define TV_HANDLERS_(M, name, T)                                              \
    static int tvh_tell_##name(tr_endpoint *self, void *state, const T *arg)  \
    {                                                                         \
        (void)self;                                                           \
        tv_on_tell(state, tv_digest_##name(arg));                             \
        return 0;                                                             \
    }                                                                         \
    static int tvh_ask_##name(tr_endpoint *self, void *state, const T *arg, tr_reply *reply) \
    {                                                                         \
        (void)self;                                                           \
        tv_total *t = state;                                                  \
        t->asks++;                                                            \
        t->ask_sum += tv_digest_##name(arg);                                  \
        return tr_reply_value(reply, &T##__type, arg);                        \
    }
TV_KINDS(TV_HANDLERS_, _)

static int tvh_totals(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    return tv_totals_reply(reply, state);
}

#define TV_HANDLER_SLOTS_(M, name, T) .tell_##name = tvh_tell_##name, .ask_##name = tvh_ask_##name,
static const tv_handlers tv_handlers_impl = {TV_KINDS(TV_HANDLER_SLOTS_, _).totals = tvh_totals};

/* A started endpoint `id` on svc. */
static inline tr_endpoint *tv_endpoint(tr_service *svc, const char *id)
{
    tr_gateway_impl impls[] = {tv_impl(&tv_handlers_impl)};
    tr_endpoint_opts o = {
        .id = id, .gateways = impls, .ngateways = 1, .state_size = sizeof(tv_total)};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(svc, &o, &ep));
    TC_OK(tr_endpoint_start(ep));
    return ep;
}

/* ---- values ---------------------------------------------------------------------------- */

/* Owns every string and byte block of a test's values. */
typedef struct tv_arena {
    void **blocks;
    size_t n, cap;
} tv_arena;

static inline void *tv_alloc(tv_arena *a, size_t n)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->blocks = realloc(a->blocks, a->cap * sizeof *a->blocks);
        TC_ASSERT(a->blocks);
    }
    void *p = malloc(n ? n : 1);
    TC_ASSERT(p);
    return a->blocks[a->n++] = p;
}

static inline void tv_arena_free(tv_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
    memset(a, 0, sizeof *a);
}

/* A string of n characters, none NUL, in the arena. */
static inline tr_str tv_make_str(tv_arena *a, tc_rng *r, size_t n)
{
    char *s = tv_alloc(a, n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(1 + tc_rng_below(r, 255));
    s[n] = '\0';
    return s;
}

static inline tr_bytes tv_make_bytes(tv_arena *a, tc_rng *r, size_t n)
{
    uint8_t *p = tv_alloc(a, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tc_rng_next(r);
    return (tr_bytes){p, (uint32_t)n};
}

/* A random length: mostly short, some near a kilobyte, a few up to 20 KiB
 * (the server's tell batches are 16 KiB). */
static inline size_t tv_rand_len(tc_rng *r)
{
    uint64_t k = tc_rng_below(r, 100);
    return k < 70 ? tc_rng_below(r, 40) : k < 95 ? tc_rng_below(r, 1200) : tc_rng_below(r, 20000);
}

/* Generators: value `i` of a kind (specials first, then random). */
#define TV_GEN_INT_(name, T, ...)                                             \
    static inline void tvg_##name(tv_arena *a, tc_rng *r, unsigned i, T *out) \
    {                                                                         \
        static const T sp[] = {__VA_ARGS__};                                  \
        (void)a;                                                              \
        *out = i < sizeof sp / sizeof sp[0] ? sp[i] : (T)tc_rng_next(r);      \
    }
TV_GEN_INT_(i8, tr_i8, 0, 1, -1, INT8_MIN, INT8_MAX, 0x55)
TV_GEN_INT_(i16, tr_i16, 0, 1, -1, INT16_MIN, INT16_MAX, 0x1234)
TV_GEN_INT_(i32, tr_i32, 0, 1, -1, INT32_MIN, INT32_MAX, 0x12345678)
TV_GEN_INT_(i64, tr_i64, 0, 1, -1, INT64_MIN, INT64_MAX, 0x0123456789abcdefLL)
TV_GEN_INT_(u8, tr_u8, 0, 1, UINT8_MAX, 0x80, 0x7f)
TV_GEN_INT_(u16, tr_u16, 0, 1, UINT16_MAX, 0x8000, 0x00ff)
TV_GEN_INT_(u32, tr_u32, 0, 1, UINT32_MAX, 0x80000000u, 0xfffffffeu)
TV_GEN_INT_(u64, tr_u64, 0, 1, UINT64_MAX, 0x8000000000000000ull, 0xfedcba9876543210ull)

static inline void tvg_boolean(tv_arena *a, tc_rng *r, unsigned i, tr_bool *out)
{
    (void)a;
    *out = i < 2 ? i == 1 : (tc_rng_next(r) & 1) != 0;
}

/* Floats by bit pattern: signed zeros, infinities, quiet and signalling
 * NaNs with payloads and sign, denormals, the extremes. */
static inline void tvg_f32(tv_arena *a, tc_rng *r, unsigned i, tr_f32 *out)
{
    static const uint32_t sp[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
                                  0xffc00001, 0x7f800001, 0x7fbfffff, 0xffa5a5a5, 0x00000001,
                                  0x007fffff, 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000};
    (void)a;
    uint32_t bits = i < sizeof sp / sizeof sp[0] ? sp[i] : (uint32_t)tc_rng_next(r);
    memcpy(out, &bits, 4);
}
static inline void tvg_f64(tv_arena *a, tc_rng *r, unsigned i, tr_f64 *out)
{
    static const uint64_t sp[] = {
        0x0000000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
        0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000001ull,
        0x7ff0000000000001ull, 0x7ff7ffffffffffffull, 0xfff5a5a5a5a5a5a5ull,
        0x0000000000000001ull, 0x000fffffffffffffull, 0x0010000000000000ull,
        0x7fefffffffffffffull, 0xffefffffffffffffull, 0x3ff0000000000000ull};
    (void)a;
    uint64_t bits = i < sizeof sp / sizeof sp[0] ? sp[i] : tc_rng_next(r);
    memcpy(out, &bits, 8);
}

/* NULL, empty, one character, all 255 non-NUL bytes, UTF-8, sizes around
 * the server's 16 KiB batch, 70,000 characters. */
static inline void tvg_str(tv_arena *a, tc_rng *r, unsigned i, tr_str *out)
{
    switch (i) {
    case 0: *out = NULL; return;
    case 1: *out = ""; return;
    case 2: *out = "x"; return;
    case 3: {
        char *s = tv_alloc(a, 256);
        for (int c = 1; c < 256; c++)
            s[c - 1] = (char)c;
        s[255] = '\0';
        *out = s;
        return;
    }
    case 4: *out = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e"; return;
    case 5: *out = tv_make_str(a, r, 16000); return;
    case 6: *out = tv_make_str(a, r, 16384); return;
    case 7: *out = tv_make_str(a, r, 70000); return;
    default: *out = tv_make_str(a, r, tv_rand_len(r)); return;
    }
}

/* Empty (NULL and not), one zero byte, all 256 values, 16 KiB, 64 KiB
 * and one either side, 200,000 bytes. */
static inline void tvg_bytes(tv_arena *a, tc_rng *r, unsigned i, tr_bytes *out)
{
    static const size_t sizes[] = {0, 0, 1, 256, 16384, 65535, 65536, 65537, 200000};
    if (i >= sizeof sizes / sizeof sizes[0]) {
        *out = tv_make_bytes(a, r, tv_rand_len(r));
        return;
    }
    *out = tv_make_bytes(a, r, sizes[i]);
    if (i == 0)
        out->data = NULL;
    if (i == 2)
        ((uint8_t *)out->data)[0] = 0;
    if (i == 3)
        for (int c = 0; c < 256; c++)
            ((uint8_t *)out->data)[c] = (uint8_t)c;
}

/* Value 0: every field zero, NULL or empty; 1: the extremes and a 64 KiB
 * byte string; then random fields (a quarter of them specials). */
static inline void tvg_leaf(tv_arena *a, tc_rng *r, unsigned i, tv_leaf *out)
{
    memset(out, 0, sizeof *out);
    if (i == 0)
        return;
    unsigned pick = i == 1 ? 3 : 0;
#define TV_PICK_(n) (pick ? pick : tc_rng_below(r, 4) ? 1000 : (unsigned)tc_rng_below(r, (n)))
    tvg_boolean(a, r, i == 1 ? 1 : 1000, &out->b);
    tvg_i8(a, r, TV_PICK_(6), &out->i8);
    tvg_u16(a, r, TV_PICK_(5), &out->u16);
    tvg_str(a, r, i == 1 ? 7 : TV_PICK_(5), &out->s);
    tvg_i32(a, r, TV_PICK_(6), &out->i32);
    tvg_f32(a, r, i == 1 ? 6 : TV_PICK_(15), &out->f32);
    tvg_bytes(a, r, i == 1 ? 6 : TV_PICK_(4), &out->by);
    tvg_u64(a, r, TV_PICK_(5), &out->u64);
    tvg_f64(a, r, i == 1 ? 5 : TV_PICK_(15), &out->f64);
    tvg_u8(a, r, TV_PICK_(5), &out->u8);
    tvg_str(a, r, i == 1 ? 0 : TV_PICK_(5), &out->s2);
    tvg_i16(a, r, TV_PICK_(6), &out->i16);
    tvg_u32(a, r, TV_PICK_(5), &out->u32);
    tvg_i64(a, r, TV_PICK_(6), &out->i64);
#undef TV_PICK_
}

static inline void tvg_tree(tv_arena *a, tc_rng *r, unsigned i, tv_tree *out)
{
    memset(out, 0, sizeof *out);
    if (i == 0)
        return;
    tvg_leaf(a, r, i == 1 ? 0 : 2 + i, &out->a);
    tvg_i64(a, r, i, &out->n);
    tvg_leaf(a, r, i == 2 ? 1 : 3 + i, &out->m.l);
    tvg_str(a, r, i == 1 ? 0 : 1000, &out->m.tag);
    tvg_bytes(a, r, i == 1 ? 1 : 1000, &out->m.blob);
    tvg_leaf(a, r, 4 + i, &out->c);
    tvg_bytes(a, r, i == 1 ? 8 : 1000, &out->tail);
}

/* ---- kinds, as data ------------------------------------------------------------------ */

typedef struct tv_kind {
    const char *name;
    const tr_type *type;
    size_t size;
    unsigned tell, ask; /* method indices */
    uint64_t (*digest)(const void *v);
    void (*gen)(tv_arena *a, tc_rng *r, unsigned i, void *out);
} tv_kind;

#define TV_KIND_FNS_(M, name, T)                                              \
    static uint64_t tvk_digest_##name(const void *v) { return tv_digest_##name((const T *)v); } \
    static void tvk_gen_##name(tv_arena *a, tc_rng *r, unsigned i, void *out) \
    {                                                                         \
        tvg_##name(a, r, i, (T *)out);                                        \
    }
TV_KINDS(TV_KIND_FNS_, _)
#define TV_KIND_ROW_(M, name, T)                                              \
    {#name, &T##__type, sizeof(T), tv__tell_##name, tv__ask_##name, tvk_digest_##name, tvk_gen_##name},
static const tv_kind tv_kinds[TVK_COUNT] = {TV_KINDS(TV_KIND_ROW_, _)};

/* One value of some kind, in a set the test owns. */
typedef struct tv_value {
    const tv_kind *k;
    uint64_t digest; /* of the value as sent */
    union {
        tr_bool b;
        tr_i64 i;
        tr_u64 u;
        tr_f64 f;
        tr_str s;
        tr_bytes by;
        tv_leaf leaf;
        tv_tree tree;
    } v;
} tv_value;

/* `per_kind` values of every kind, kind by kind (specials first). */
typedef struct tv_set {
    tv_arena arena;
    tv_value *vals;
    size_t n;
} tv_set;

static inline void tv_set_make(tv_set *s, uint64_t seed, unsigned per_kind)
{
    memset(s, 0, sizeof *s);
    tc_rng r;
    tc_rng_seed(&r, seed);
    s->n = (size_t)TVK_COUNT * per_kind;
    s->vals = calloc(s->n, sizeof *s->vals);
    TC_ASSERT(s->vals);
    for (unsigned k = 0; k < TVK_COUNT; k++)
        for (unsigned i = 0; i < per_kind; i++) {
            tv_value *v = &s->vals[k * per_kind + i];
            v->k = &tv_kinds[k];
            v->k->gen(&s->arena, &r, i, &v->v);
            v->digest = v->k->digest(&v->v);
        }
}

static inline void tv_set_free(tv_set *s)
{
    free(s->vals);
    tv_arena_free(&s->arena);
}

/* The values over 16 KiB (to force large records and buffer growth). */
static inline bool tv_is_large(const tv_value *v)
{
    switch (v->k - tv_kinds) {
    case TVK_str: return v->v.s && strlen(v->v.s) > 16384;
    case TVK_bytes: return v->v.by.len > 16384;
    case TVK_leaf: return v->v.leaf.by.len > 16384 || (v->v.leaf.s && strlen(v->v.leaf.s) > 16384);
    case TVK_tree: return v->v.tree.tail.len > 16384 || v->v.tree.m.l.by.len > 16384;
    default: return false;
    }
}

#endif
