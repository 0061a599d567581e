/** @file
 * troupe: a growable byte buffer and a read cursor, little-endian.
 *
 * The value codec (troupe/codec.h) encodes into a tr_buf; a tr_reader
 * walks bytes someone else owns. Neither is thread-safe (one owner). */
#ifndef TROUPE_BUF_H
#define TROUPE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A growable byte buffer. Zero-initialise it or call tr_buf_init; free with
 * tr_buf_free. */
typedef struct tr_buf {
    uint8_t *data; /**< the bytes written so far (NULL before the first) */
    size_t len;    /**< bytes written */
    size_t cap;    /**< bytes allocated */
} tr_buf;

/** Makes `b` empty, allocating nothing. */
TR_API void tr_buf_init(tr_buf *b);
/** Frees what `b` holds; it is empty afterwards. */
TR_API void tr_buf_free(tr_buf *b);
/** Makes room for `extra` more bytes. 0 or TR_ENOMEM. */
TR_API int tr_buf_reserve(tr_buf *b, size_t extra);
/** Appends `n` bytes from `p`. 0 or TR_ENOMEM. */
TR_API int tr_buf_append(tr_buf *b, const void *p, size_t n);
/** @name Appending integers, little-endian
 * 0 or TR_ENOMEM. @{ */
/** Appends one byte. 0 or TR_ENOMEM. */
TR_API int tr_buf_put_u8(tr_buf *b, uint8_t v);
TR_API int tr_buf_put_u16(tr_buf *b, uint16_t v);
TR_API int tr_buf_put_u32(tr_buf *b, uint32_t v);
TR_API int tr_buf_put_u64(tr_buf *b, uint64_t v);
/** @} */

/** A read cursor over bytes someone else owns. */
typedef struct tr_reader {
    const uint8_t *p;   /**< the next byte to read */
    const uint8_t *end; /**< one past the last */
} tr_reader;

/** A reader over the `len` bytes at `data`. */
static inline tr_reader tr_reader_of(const void *data, size_t len)
{
    tr_reader r = {(const uint8_t *)data, (const uint8_t *)data + len};
    return r;
}
/** @name Reading integers, little-endian
 * 0, or TR_EPROTO when fewer bytes remain than asked for (then *v is 0
 * and the cursor stays). @{ */
/** Reads one byte into *v. 0, or TR_EPROTO when none remains. */
TR_API int tr_read_u8(tr_reader *r, uint8_t *v);
TR_API int tr_read_u16(tr_reader *r, uint16_t *v);
TR_API int tr_read_u32(tr_reader *r, uint32_t *v);
TR_API int tr_read_u64(tr_reader *r, uint64_t *v);
/** @} */
/** Points *p at the next n bytes and moves past them. 0, or TR_EPROTO
 * when fewer remain. */
TR_API int tr_read_bytes(tr_reader *r, size_t n, const uint8_t **p);

#ifdef __cplusplus
}
#endif

#endif
