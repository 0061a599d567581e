/** @file
 * troupe: value types and their byte codec.
 *
 * Every argument and result that crosses a gateway has a type descriptor
 * (tr_type). Built-in scalar, string and byte-string types come with the
 * library; structs are declared once with TR_STRUCT, which yields the C
 * struct and (with TR_STRUCT_DEFINE in one .c file) its descriptor:
 *
 *     #define POINT_FIELDS(F) F(tr_i64, x) F(tr_i64, y) F(tr_str, label)
 *     TR_STRUCT(point, POINT_FIELDS)         // header: typedef + descriptor
 *     TR_STRUCT_DEFINE(point, POINT_FIELDS)  // one .c file
 *
 * Locally a value is copied "deep" into one block (strings and bytes placed
 * after the struct, pointers fixed up); it is never serialized unless the
 * service forces it (S22). The byte format, used by the force switch and
 * by remote calls, is little-endian: integers and floats at their width,
 * bool one byte (0 or 1), str and bytes a u32 length then the bytes (a NULL
 * str is length 0xFFFFFFFF), struct fields in declaration order. A value
 * with zero bytes is "empty" (S19): a NULL value or a tr_void.
 *
 * Everything here is thread-safe: descriptors are constant. */
#ifndef TROUPE_CODEC_H
#define TROUPE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/buf.h"
#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a type descriptor describes: its C type and its byte format. */
typedef enum tr_kind {
    TR_KIND_VOID,  /**< no value (tr_void): zero bytes */
    TR_KIND_BOOL,  /**< tr_bool: one byte, 0 or 1 */
    TR_KIND_I8,    /**< tr_i8 */
    TR_KIND_I16,   /**< tr_i16, little-endian */
    TR_KIND_I32,   /**< tr_i32, little-endian */
    TR_KIND_I64,   /**< tr_i64, little-endian */
    TR_KIND_U8,    /**< tr_u8 */
    TR_KIND_U16,   /**< tr_u16, little-endian */
    TR_KIND_U32,   /**< tr_u32, little-endian */
    TR_KIND_U64,   /**< tr_u64, little-endian */
    TR_KIND_F32,   /**< tr_f32, IEEE 754 little-endian */
    TR_KIND_F64,   /**< tr_f64, IEEE 754 little-endian */
    TR_KIND_STR,   /**< const char *, NUL-terminated, may be NULL */
    TR_KIND_BYTES, /**< tr_bytes: pointer + length */
    TR_KIND_STRUCT, /**< a struct declared with TR_STRUCT: its fields in order */
} tr_kind;

struct tr_type;

/** One field of a struct type (TR_STRUCT_DEFINE makes them). */
typedef struct tr_field {
    const char *name;           /**< the field's name in the C struct */
    size_t offset;              /**< offsetof the field */
    const struct tr_type *type; /**< the field's type */
} tr_field;

/** A type descriptor. Compare types by address. A struct's fields come
 * from a function so that TR_STRUCT_DEFINE can name offsets with a
 * block-scope typedef (an X-macro row does not know its struct). */
typedef struct tr_type {
    const char *name;                             /**< "i64", "str", a struct's name */
    tr_kind kind;                                 /**< how values are laid out and encoded */
    size_t size;                                  /**< sizeof the C type (0: void) */
    const tr_field *(*fields)(size_t *nfields);   /**< structs; NULL otherwise */
} tr_type;

/** @name Built-in types
 * Each with its descriptor `<name>__type` (e.g. tr_i64__type). @{ */
/** No value: a method without argument or result (encodes to zero bytes). */
typedef struct tr_void { char unused_; } tr_void;
/** A boolean (one byte on the wire). */
typedef bool tr_bool;
typedef int8_t tr_i8;
typedef int16_t tr_i16;
typedef int32_t tr_i32;
typedef int64_t tr_i64;
typedef uint8_t tr_u8;
typedef uint16_t tr_u16;
typedef uint32_t tr_u32;
typedef uint64_t tr_u64;
typedef float tr_f32;
typedef double tr_f64;
typedef const char *tr_str;
/** A byte string: `len` bytes at `data` (which the value owns when decoded
 * or deep-copied). */
typedef struct tr_bytes {
    const void *data; /**< the bytes (NULL when len is 0) */
    uint32_t len;     /**< how many */
} tr_bytes;
/** @} */

/** @name Descriptors of the built-in types
 * One per built-in type, named after it. @{ */
/** The descriptor of tr_void. */
TR_API extern const tr_type tr_void__type;
TR_API extern const tr_type tr_bool__type, tr_i8__type, tr_i16__type, tr_i32__type,
    tr_i64__type, tr_u8__type, tr_u16__type, tr_u32__type, tr_u64__type, tr_f32__type,
    tr_f64__type, tr_str__type, tr_bytes__type;
/** @} */

/* ---- declaring structs ------------------------------------------------- */

#define TR_STRUCT_FIELD_(type, name) type name;
#define TR_STRUCT_DESC_(type, name) {#name, offsetof(tr_struct_self_, name), &type##__type},

/** In a header: the struct `name` with FIELDS(F) = F(type, field) ..., and
 * the declaration of its descriptor `name##__type`. */
#define TR_STRUCT(name, FIELDS)                                               \
    typedef struct name {                                                     \
        FIELDS(TR_STRUCT_FIELD_)                                              \
    } name;                                                                   \
    extern const tr_type name##__type;

/** In exactly one .c file: the descriptor. */
#define TR_STRUCT_DEFINE(name, FIELDS)                                        \
    static const tr_field *name##__fields(size_t *n)                         \
    {                                                                         \
        typedef name tr_struct_self_;                                         \
        static const tr_field f[] = {FIELDS(TR_STRUCT_DESC_)};                \
        *n = sizeof f / sizeof f[0];                                          \
        return f;                                                             \
    }                                                                         \
    const tr_type name##__type = {#name, TR_KIND_STRUCT, sizeof(name), name##__fields};

/* ---- the value codec --------------------------------------------------- */

/** Appends the encoding of `value` (of type `t`; NULL: empty) to `out`.
 * 0, TR_EINVAL (a string or byte string longer than 4 GiB - 2), TR_ENOMEM.
 * On error `out` may hold a partial encoding; its length is restored. */
TR_API int tr_encode(const tr_type *t, const void *value, tr_buf *out);

/** Decodes `len` bytes into a new deep value. On 0, *out is NULL when the
 * bytes were empty, else a block of *out_size bytes the caller owns (free it
 * with tr_value_free). Errors: TR_EPROTO (truncated, trailing bytes, a bool
 * other than 0/1), TR_ENOMEM. */
TR_API int tr_decode(const tr_type *t, const void *data, size_t len, void **out, size_t *out_size);

/** Bytes a deep copy of `value` takes (struct plus strings and bytes). */
TR_API size_t tr_value_deep_size(const tr_type *t, const void *value);
/** A deep copy of `value` in one new block (free with tr_value_free); NULL
 * when out of memory. */
TR_API void *tr_value_clone(const tr_type *t, const void *value, size_t *out_size);
/** Frees a block from tr_decode or tr_value_clone (`size` as returned). */
TR_API void tr_value_free(void *value, size_t size);

/** Field-by-field equality (strings and bytes by content). */
TR_API bool tr_value_equal(const tr_type *t, const void *a, const void *b);

#ifdef __cplusplus
}
#endif

#endif
