/* The allocation seam: every byte troupe allocates goes through here.
 * jemalloc's sized free (sdallocx) in normal builds; libc malloc in
 * sanitizer builds (TROUPE_WITH_JEMALLOC off) so LeakSanitizer sees all. */
#ifndef TRI_BASE_ALLOC_H
#define TRI_BASE_ALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef TROUPE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
/* jemalloc's own malloc (alloc.c): unlike mallocx it has a fast path. */
extern void *(*tri_jemalloc_malloc)(size_t size);
static inline void *tri_alloc(size_t size) { return tri_jemalloc_malloc(size ? size : 1); }
static inline void *tri_zalloc(size_t size) { return mallocx(size ? size : 1, MALLOCX_ZERO); }
static inline void tri_free(void *p, size_t size)
{
    if (p)
        sdallocx(p, size ? size : 1, 0);
}
static inline void *tri_realloc(void *p, size_t old, size_t size)
{
    (void)old;
    return p ? rallocx(p, size ? size : 1, 0) : tri_alloc(size);
}
/* `align`-aligned (a power of two), zeroed or not; free with
 * tri_free_aligned. */
static inline void *tri_zalloc_aligned(size_t size, size_t align)
{
    return mallocx(size, MALLOCX_ALIGN(align) | MALLOCX_ZERO);
}
static inline void *tri_alloc_aligned(size_t size, size_t align)
{
    return mallocx(size, MALLOCX_ALIGN(align));
}
static inline void tri_free_aligned(void *p, size_t size, size_t align)
{
    if (p)
        sdallocx(p, size, MALLOCX_ALIGN(align));
}
#else
static inline void *tri_alloc(size_t size) { return malloc(size ? size : 1); }
static inline void *tri_zalloc_aligned(size_t size, size_t align)
{
    size_t rounded = (size + align - 1) & ~(align - 1);
    void *p = aligned_alloc(align, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}
static inline void *tri_alloc_aligned(size_t size, size_t align)
{
    return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}
static inline void tri_free_aligned(void *p, size_t size, size_t align)
{
    (void)size;
    (void)align;
    free(p);
}
static inline void *tri_zalloc(size_t size) { return calloc(1, size ? size : 1); }
static inline void tri_free(void *p, size_t size)
{
    (void)size;
    free(p);
}
static inline void *tri_realloc(void *p, size_t old, size_t size)
{
    (void)old;
    return realloc(p, size ? size : 1);
}
#endif

/* A copy of `s` from the seam, freed with tri_free(p, strlen(p) + 1). */
static inline char *tri_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = (char *)tri_alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

#endif
