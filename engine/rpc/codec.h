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

/* Bytes the encoding of `value` takes (0 for NULL or a tr_void). */
size_t tri_encoded_size(const tr_type *t, const void *value);

/* Writes the encoding of `value` at dst, which has tri_encoded_size bytes
 * of room; returns the end. The value must be tri_encodable. */
uint8_t *tri_encode_into(const tr_type *t, const void *value, uint8_t *dst);

/* False when a string is too long for the format (4 GiB - 1 bytes). */
bool tri_encodable(const tr_type *t, const void *value);

#endif
