/* troupe: a growable byte buffer and a read cursor, little-endian.
 *
 * The value codec (troupe/codec.h) encodes into a tr_buf; a tr_reader
 * walks bytes someone else owns. Neither is thread-safe (one owner). */
#ifndef TROUPE_BUF_H
#define TROUPE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/export.h"

/* A growable byte buffer. Zero-initialise it or call tr_buf_init; free with
 * tr_buf_free. */
typedef struct tr_buf {
    uint8_t *data;
    size_t len, cap;
} tr_buf;

TR_API void tr_buf_init(tr_buf *b);
TR_API void tr_buf_free(tr_buf *b);
/* Makes room for `extra` more bytes. 0 or TR_ENOMEM. */
TR_API int tr_buf_reserve(tr_buf *b, size_t extra);
/* These append; 0 or TR_ENOMEM. Integers little-endian. */
TR_API int tr_buf_append(tr_buf *b, const void *p, size_t n);
TR_API int tr_buf_put_u8(tr_buf *b, uint8_t v);
TR_API int tr_buf_put_u16(tr_buf *b, uint16_t v);
TR_API int tr_buf_put_u32(tr_buf *b, uint32_t v);
TR_API int tr_buf_put_u64(tr_buf *b, uint64_t v);

/* A read cursor over bytes someone else owns. */
typedef struct tr_reader {
    const uint8_t *p, *end;
} tr_reader;

static inline tr_reader tr_reader_of(const void *data, size_t len)
{
    tr_reader r = {(const uint8_t *)data, (const uint8_t *)data + len};
    return r;
}
/* 0, or TR_EPROTO when fewer bytes remain than asked for (then *v is 0
 * and the cursor stays). Integers little-endian. */
TR_API int tr_read_u8(tr_reader *r, uint8_t *v);
TR_API int tr_read_u16(tr_reader *r, uint16_t *v);
TR_API int tr_read_u32(tr_reader *r, uint32_t *v);
TR_API int tr_read_u64(tr_reader *r, uint64_t *v);
/* Points *p at the next n bytes and moves past them. */
TR_API int tr_read_bytes(tr_reader *r, size_t n, const uint8_t **p);

#endif
