/* Happens-before annotations for hand-offs ThreadSanitizer cannot see
 * (liburcu and ck use inline-asm atomics). No-ops outside TSan builds. */
#ifndef TRI_BASE_TSAN_H
#define TRI_BASE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define TRI_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRI_TSAN 1
#endif
#endif

#ifdef TRI_TSAN
#include <sanitizer/tsan_interface.h>
#define TRI_HB_RELEASE(p) __tsan_release((void *)(p))
#define TRI_HB_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define TRI_HB_RELEASE(p) ((void)0)
#define TRI_HB_ACQUIRE(p) ((void)0)
#endif

#endif
