/* Where tri_alloc gets its memory in jemalloc builds.
 *
 * jemalloc 5.3's mallocx has no fast path (it sets up its options on every
 * call, ~94 instructions); its malloc has one. Taking it saved 62 of 1029
 * instructions a remote tell from an outside thread (bench/cg_per_op.sh
 * build/release/troupe-bench remote_throughput m 100000 300000), where
 * every call message comes from jemalloc. But the plain name `malloc` may
 * bind to libc's (a program that links libtroupe.so and libc ahead of
 * jemalloc), and sdallocx on libc's memory is corruption; so the pointer is
 * the malloc of the very object that defines mallocx, found once at load,
 * and stays mallocx when that cannot be proven. Written only before any
 * troupe call (a constructor), read-only afterwards: nothing two services
 * share changes. */
#include "base/alloc.h"

#ifdef TROUPE_WITH_JEMALLOC
#include <dlfcn.h>

static void *mallocx_plain(size_t size) { return mallocx(size, 0); }

void *(*tri_jemalloc_malloc)(size_t size) = mallocx_plain;

__attribute__((constructor)) static void find_jemalloc_malloc(void)
{
    Dl_info jem, found;
    if (!dladdr((void *)mallocx, &jem) || !jem.dli_fname)
        return;
    void *h = dlopen(jem.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (!h)
        return;
    /* A handle's lookup starts at that object, then its dependencies. */
    void *m = dlsym(h, "malloc");
    if (m && dladdr(m, &found) && found.dli_fbase == jem.dli_fbase)
        tri_jemalloc_malloc = (void *(*)(size_t))m;
    dlclose(h);
}
#endif
