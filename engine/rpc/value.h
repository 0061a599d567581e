/* Deep values as the rest of engine/rpc/ uses them (the public half is
 * include/troupe/codec.h). */
#ifndef TRI_RPC_VALUE_H
#define TRI_RPC_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "troupe/codec.h"

/* A struct's fields (none for other kinds). */
static inline const tr_field *tri_fields_of(const tr_type *t, size_t *n)
{
    *n = 0;
    return t->fields ? t->fields(n) : NULL;
}

/* True when the type has no strings or byte strings (a copy is a memcpy). */
bool tri_type_is_flat(const tr_type *t);

/* Deep-copies `value` into `dst`, which holds `size` =
 * tr_value_deep_size(t, value) bytes (nothing when size is 0). */
void tri_value_copy_into(const tr_type *t, const void *value, void *dst, size_t size);

/* The same, but byte strings of `lend_min` bytes or more are not copied:
 * the copy points at the caller's bytes (which must outlive it: a stream's
 * zero-copy write, base/loan.h). The size to give is this deep size. */
size_t tri_value_deep_size_lent(const tr_type *t, const void *value, size_t lend_min);
void tri_value_copy_into_lent(const tr_type *t, const void *value, void *dst, size_t size,
                              size_t lend_min);

#endif
