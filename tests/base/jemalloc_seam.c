/* base/alloc.c's promise, checked where it can break: a program that links
 * libtroupe.so but not jemalloc, so that the plain name `malloc` binds to
 * libc's and jemalloc only comes in as troupe's own dependency. A message
 * made by an outside thread (tr_msg_new from main: jemalloc, not the pool)
 * must then still come from jemalloc, or tri_free's sdallocx would be handed
 * libc memory. jemalloc's per-thread byte counter says which allocator
 * served it; mallctl is looked up in the loaded jemalloc, not linked, which
 * would put jemalloc ahead of libc and hide the case. Exit 0 when it holds. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

typedef int mallctl_fn(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static uint64_t thread_allocated(mallctl_fn *ctl)
{
    uint64_t n = 0;
    size_t len = sizeof n;
    return ctl("thread.allocated", &n, &len, NULL, 0) ? UINT64_MAX : n;
}

int main(void)
{
    void *h = dlopen("libjemalloc.so.2", RTLD_LAZY | RTLD_NOLOAD);
    mallctl_fn *ctl = h ? (mallctl_fn *)dlsym(h, "mallctl") : NULL;
    if (!ctl) {
        fprintf(stderr, "jemalloc_seam: libjemalloc.so.2 is not loaded with libtroupe.so\n");
        return 1;
    }
    Dl_info lib;
    if (dladdr((void *)malloc, &lib) && lib.dli_fname)
        printf("jemalloc_seam: this program's malloc is %s's\n", lib.dli_fname);
    const size_t size = 4000; /* past the pool's classes */
    uint64_t before = thread_allocated(ctl);
    tr_msg *m = tr_msg_new(7, size);
    uint64_t after = thread_allocated(ctl);
    if (!m || before == UINT64_MAX) {
        fprintf(stderr, "jemalloc_seam: tr_msg_new or mallctl failed\n");
        return 1;
    }
    memset(tr_msg_data(m), 0xa5, size);
    tr_msg_free(m);
    if (after - before < size) {
        fprintf(stderr, "jemalloc_seam: a %zu-byte message grew jemalloc's count by %llu: "
                        "tri_alloc is not jemalloc's\n", size, (unsigned long long)(after - before));
        return 1;
    }
    printf("jemalloc_seam: a %zu-byte message came from jemalloc (+%llu bytes)\n", size,
           (unsigned long long)(after - before));
    return 0;
}
