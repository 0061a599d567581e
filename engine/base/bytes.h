/* Little-endian scalars at any address: the one byte-order helper that the
 * value codec, the byte buffers and the frame codec all use.
 *
 * On a little-endian host they are plain unaligned loads and stores
 * (memcpy, which compilers turn into one mov); elsewhere shifts. */
#ifndef TRI_BASE_BYTES_H
#define TRI_BASE_BYTES_H

#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define TRI_LE_(bits)                                                         \
    static inline void tri_put_u##bits(uint8_t *p, uint##bits##_t v) { memcpy(p, &v, sizeof v); } \
    static inline uint##bits##_t tri_get_u##bits(const uint8_t *p)            \
    {                                                                         \
        uint##bits##_t v;                                                     \
        memcpy(&v, p, sizeof v);                                              \
        return v;                                                             \
    }
#else
#define TRI_LE_(bits)                                                         \
    static inline void tri_put_u##bits(uint8_t *p, uint##bits##_t v)          \
    {                                                                         \
        for (unsigned i = 0; i < (bits) / 8; i++)                             \
            p[i] = (uint8_t)(v >> (8 * i));                                   \
    }                                                                         \
    static inline uint##bits##_t tri_get_u##bits(const uint8_t *p)            \
    {                                                                         \
        uint##bits##_t v = 0;                                                 \
        for (unsigned i = 0; i < (bits) / 8; i++)                             \
            v |= (uint##bits##_t)p[i] << (8 * i);                             \
        return v;                                                             \
    }
#endif
TRI_LE_(16)
TRI_LE_(32)
TRI_LE_(64)
#undef TRI_LE_

/* A scalar of `width` bytes (1, 2, 4 or 8; else nothing): stores the low
 * bytes of v at p and returns p + width. */
static inline uint8_t *tri_put_le(uint8_t *p, uint64_t v, unsigned width)
{
    switch (width) {
    case 1: p[0] = (uint8_t)v; break;
    case 2: tri_put_u16(p, (uint16_t)v); break;
    case 4: tri_put_u32(p, (uint32_t)v); break;
    case 8: tri_put_u64(p, v); break;
    default: return p;
    }
    return p + width;
}

/* The scalar of `width` bytes at p, zero-extended (0 for another width). */
static inline uint64_t tri_get_le(const uint8_t *p, unsigned width)
{
    switch (width) {
    case 1: return p[0];
    case 2: return tri_get_u16(p);
    case 4: return tri_get_u32(p);
    case 8: return tri_get_u64(p);
    default: return 0;
    }
}

#endif
