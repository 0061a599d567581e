/* The value codec: the byte format (little-endian, variable-length data),
 * deep copies, and what a malformed input gets (S22's switch uses it; remote
 * calls will). */
#include "rpc_common.h"

#define INNER_FIELDS(F) F(tr_u16, port) F(tr_str, host)
TR_STRUCT(t_inner, INNER_FIELDS)
TR_STRUCT_DEFINE(t_inner, INNER_FIELDS)

#define ALL_FIELDS(F)                                                         \
    F(tr_bool, flag) F(tr_i8, i8) F(tr_i16, i16) F(tr_i32, i32) F(tr_i64, i64) \
    F(tr_u8, u8) F(tr_u16, u16) F(tr_u32, u32) F(tr_u64, u64) F(tr_f32, f32)  \
    F(tr_f64, f64) F(tr_str, name) F(tr_bytes, blob) F(t_inner, inner)
TR_STRUCT(t_all, ALL_FIELDS)
TR_STRUCT_DEFINE(t_all, ALL_FIELDS)

static t_all sample(void)
{
    static const uint8_t blob[] = {1, 2, 3, 0, 255};
    return (t_all){.flag = true, .i8 = -2, .i16 = -300, .i32 = -70000, .i64 = -5000000000LL,
                   .u8 = 250, .u16 = 60000, .u32 = 4000000000u, .u64 = 18000000000000000000ull,
                   .f32 = 1.5f, .f64 = -0.25, .name = "trö", .blob = {blob, sizeof blob},
                   .inner = {.port = 8080, .host = "example.org"}};
}

Test(codec, scalar_bytes_are_little_endian, .timeout = 10)
{
    tr_buf b = {0};
    TC_OK(tr_encode(&tr_u32__type, &(tr_u32){0x01020304}, &b));
    TC_OK(tr_encode(&tr_i16__type, &(tr_i16){-2}, &b));
    TC_OK(tr_encode(&tr_str__type, &(tr_str){"ab"}, &b));
    TC_OK(tr_encode(&tr_str__type, &(tr_str){NULL}, &b));
    const uint8_t want[] = {4, 3, 2, 1, 0xfe, 0xff, 2, 0, 0, 0, 'a', 'b', 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(b.len, sizeof want);
    cr_assert_arr_eq(b.data, want, sizeof want);
    tr_buf_free(&b);
}

Test(codec, struct_roundtrip, .timeout = 10)
{
    t_all v = sample();
    tr_buf b = {0};
    TC_OK(tr_encode(&t_all__type, &v, &b));
    /* 1+1+2+4+8 +1+2+4+8 +4+8 + (4+4) + (4+5) + (2 + 4+11) */
    cr_assert_eq(b.len, 1 + 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8 + 4 + 8 + 4 + 4 + 4 + 5 + 2 + 4 + 11);
    void *out;
    size_t size;
    TC_OK(tr_decode(&t_all__type, b.data, b.len, &out, &size));
    cr_assert_eq(size, tr_value_deep_size(&t_all__type, &v));
    cr_assert(tr_value_equal(&t_all__type, &v, out));
    t_all *d = out;
    cr_assert_str_eq(d->inner.host, "example.org");
    cr_assert_eq(d->blob.len, 5);
    /* Pointers land inside the decoded block. */
    cr_assert((char *)d->name > (char *)out && (char *)d->name < (char *)out + size);
    tr_value_free(out, size);
    tr_buf_free(&b);
}

Test(codec, deep_clone_is_independent, .timeout = 10)
{
    char name[8] = "abc";
    t_all v = sample();
    v.name = name;
    size_t size;
    t_all *c = tr_value_clone(&t_all__type, &v, &size);
    cr_assert_not_null(c);
    name[0] = 'X';
    cr_assert_str_eq(c->name, "abc");
    cr_assert(c->name != v.name);
    tr_value_free(c, size);
}

/* S19: empty values are zero bytes and decode to NULL. S22: this codec is
 * what the force switch (and later remote calls) puts on the wire. */
Test(codec, empty_values, .timeout = 10)
{
    tr_buf b = {0};
    TC_OK(tr_encode(&t_all__type, NULL, &b));
    TC_OK(tr_encode(&tr_void__type, &(tr_void){0}, &b));
    cr_assert_eq(b.len, 0);
    void *out = (void *)1;
    size_t size = 1;
    TC_OK(tr_decode(&tr_i64__type, NULL, 0, &out, &size));
    cr_assert_null(out);
    cr_assert_eq(size, 0);
    tr_buf_free(&b);
}

/* Malformed input is refused with TR_EPROTO: truncated at every length,
 * trailing bytes, a bool other than 0/1, a lying string length, a NUL in
 * a string. Nothing is allocated for refused input (LSan). */
Test(codec, malformed_input, .timeout = 10)
{
    t_all v = sample();
    tr_buf b = {0};
    TC_OK(tr_encode(&t_all__type, &v, &b));
    void *out;
    size_t size;
    for (size_t n = 1; n < b.len; n++)
        TC_ERR(tr_decode(&t_all__type, b.data, n, &out, &size), TR_EPROTO);
    TC_OK(tr_buf_put_u8(&b, 0));
    TC_ERR(tr_decode(&t_all__type, b.data, b.len, &out, &size), TR_EPROTO);
    TC_ERR(tr_decode(&tr_bool__type, (uint8_t[]){2}, 1, &out, &size), TR_EPROTO);
    TC_ERR(tr_decode(&tr_str__type, (uint8_t[]){9, 0, 0, 0, 'a'}, 5, &out, &size), TR_EPROTO);
    TC_ERR(tr_decode(&tr_str__type, (uint8_t[]){2, 0, 0, 0, 'a', 0}, 6, &out, &size), TR_EPROTO);
    TC_ERR(tr_decode(&tr_void__type, (uint8_t[]){0}, 1, &out, &size), TR_EPROTO);
    tr_buf_free(&b);
    T_LEAK_CHECK();
}

Test(codec, reader_bounds, .timeout = 10)
{
    uint8_t bytes[] = {1, 2, 3};
    tr_reader r = tr_reader_of(bytes, sizeof bytes);
    uint16_t v16;
    uint32_t v32;
    TC_OK(tr_read_u16(&r, &v16));
    cr_assert_eq(v16, 0x0201);
    TC_ERR(tr_read_u32(&r, &v32), TR_EPROTO);
    uint8_t v8;
    TC_OK(tr_read_u8(&r, &v8));
    cr_assert_eq(v8, 3);
}
