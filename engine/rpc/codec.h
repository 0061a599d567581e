/* The value codec as the rest of the engine uses it (the public half is
 * include/troupe/codec.h); deep copies are in rpc/value.h. */
#ifndef TRI_RPC_CODEC_H
#define TRI_RPC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/value.h"
#include "troupe/codec.h"

/* Validates `len` encoded bytes and gives the deep size they decode to
 * (0: empty). 0 or TR_EPROTO. */
int tri_decode_size(const tr_type *t, const void *data, size_t len, size_t *size);

/* Decodes bytes validated by tri_decode_size into `dst` (`size` bytes). */
void tri_decode_into(const tr_type *t, const void *data, size_t len, void *dst, size_t size);

/* The same, but every bytes value of at least `lend_min` bytes is not
 * copied: its tr_bytes points into `data`, which must then outlive the
 * decoded value (a lent read buffer, base/loan.h); *lent says how many
 * bytes were so left (0: the value does not point into data). SIZE_MAX:
 * copy all, as the two above. */
int tri_decode_size_lent(const tr_type *t, const void *data, size_t len, size_t lend_min,
                         size_t *size, size_t *lent);
void tri_decode_into_lent(const tr_type *t, const void *data, size_t len, void *dst, size_t size,
                          size_t lend_min);

/* Bytes the encoding of `value` takes (0 for NULL or a tr_void). */
size_t tri_encoded_size(const tr_type *t, const void *value);

/* Writes the encoding of `value` at dst, which has tri_encoded_size bytes
 * of room; returns the end. The value must be tri_encodable. */
uint8_t *tri_encode_into(const tr_type *t, const void *value, uint8_t *dst);

/* Where a gathering encoder leaves large bytes: splice gets each run of
 * at least `min` bytes after its length is written at `at`, and returns
 * where encoding goes on (at, when it keeps a reference to the bytes;
 * at + len, when it copied them there). */
typedef struct tri_gather {
    size_t min;
    uint8_t *(*splice)(void *ctx, uint8_t *at, const uint8_t *data, size_t len);
    void *ctx;
} tri_gather;
/* tri_encode_into with g's splices; returns the end of what it wrote. */
uint8_t *tri_encode_gather(const tr_type *t, const void *value, uint8_t *dst, const tri_gather *g);

/* False when a string is too long for the format (4 GiB - 1 bytes). */
bool tri_encodable(const tr_type *t, const void *value);

#endif
