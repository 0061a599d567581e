/* Test helpers shared by the Criterion suites and the plain-main stress
 * programs: assert macros that name troupe error codes, bounded waits,
 * a clock and a seeded PRNG.
 *
 * Criterion tests include this as is. Stress programs (no Criterion under
 * TSan) define TC_PLAIN first: a failed check then prints and aborts, so the
 * program exits non-zero. Every wait here is bounded; a test never hangs on
 * a lost message, it fails at its deadline instead. */
#ifndef TR_TESTS_COMMON_CHECK_H
#define TR_TESTS_COMMON_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "troupe/error.h"

#ifdef TC_PLAIN
#define TC_FAIL(...)                                                          \
    do {                                                                      \
        fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__);         \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        abort();                                                              \
    } while (0)
#else
#include <criterion/criterion.h>
#define TC_FAIL(...) cr_assert_fail(__VA_ARGS__)
#endif

/* Leaks. Under ASan a Criterion test only fails on a leak it checks for
 * itself (DEPS.md 5): TC_ASSERT_NO_LEAKS() after the service is destroyed.
 * The exit-time check is turned off in Criterion executables: it would only
 * judge Criterion 2.4.1's own runner, which leaks 48 bytes when it runs
 * tests in parallel (CRITERION_JOBS=2) and so fails the whole executable.
 * Stress programs (TC_PLAIN) keep the exit-time check. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define TC_ASSERT_NO_LEAKS()                                                  \
    TC_ASSERT_MSG(__lsan_do_recoverable_leak_check() == 0, "LeakSanitizer found leaks")
#ifndef TC_PLAIN
__attribute__((weak)) const char *__lsan_default_options(void) { return "leak_check_at_exit=0"; }
#endif
#else
#define TC_ASSERT_NO_LEAKS() ((void)0)
#endif

#define TC_ASSERT(cond)                                                       \
    do {                                                                      \
        if (!(cond))                                                          \
            TC_FAIL("%s", #cond);                                             \
    } while (0)

#define TC_ASSERT_MSG(cond, ...)                                              \
    do {                                                                      \
        if (!(cond))                                                          \
            TC_FAIL(__VA_ARGS__);                                             \
    } while (0)

/* `expr` must return 0; on failure the message names the code. */
#define TC_OK(expr)                                                           \
    do {                                                                      \
        int tc_rv_ = (expr);                                                  \
        if (tc_rv_ != 0)                                                      \
            TC_FAIL("%s returned %d %s (%s)", #expr, tc_rv_, tr_errname(tc_rv_), \
                    tr_strerror(tc_rv_));                                     \
    } while (0)

/* `expr` must return exactly `code`. */
#define TC_ERR(expr, code)                                                    \
    do {                                                                      \
        int tc_rv_ = (expr), tc_want_ = (code);                               \
        if (tc_rv_ != tc_want_)                                               \
            TC_FAIL("%s returned %d %s, expected %s (%s)", #expr, tc_rv_,      \
                    tr_errname(tc_rv_), tr_errname(tc_want_), tr_strerror(tc_want_)); \
    } while (0)

/* Equality of two unsigned counts, both printed on failure. */
#define TC_EQ_U64(a, b)                                                       \
    do {                                                                      \
        uint64_t tc_a_ = (uint64_t)(a), tc_b_ = (uint64_t)(b);                \
        if (tc_a_ != tc_b_)                                                   \
            TC_FAIL("%s == %s: %llu != %llu", #a, #b, (unsigned long long)tc_a_, \
                    (unsigned long long)tc_b_);                               \
    } while (0)

/* Informational lines, printed only with TC_VERBOSE set in the environment.
 * (Not cr_log_info: under ASan, Criterion 2.4.1's runner leaks a block per
 * logged test and LeakSanitizer then fails the whole executable.) */
#define TC_LOG(...)                                                           \
    do {                                                                      \
        if (getenv("TC_VERBOSE")) {                                           \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static inline uint64_t tc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void tc_sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline uint64_t tc_deadline_ms(unsigned ms) { return tc_now_ns() + (uint64_t)ms * 1000000u; }

/* One polling step of a bounded wait: sleeps 100 us, false once past the
 * deadline. Sleeping (not spinning) leaves the 2 cores to the workers. */
static inline bool tc_poll(uint64_t deadline)
{
    if (tc_now_ns() >= deadline)
        return false;
    tc_sleep_us(100);
    return true;
}

/* Waits until `cond` holds or `timeout_ms` pass; `cond` is re-evaluated. */
#define TC_WAIT_UNTIL(cond, timeout_ms)                                       \
    do {                                                                      \
        uint64_t tc_dl_ = tc_deadline_ms(timeout_ms);                         \
        while (!(cond) && tc_poll(tc_dl_)) {                                  \
        }                                                                     \
    } while (0)

/* Waits, then fails the test if `cond` still does not hold. */
#define TC_ASSERT_EVENTUALLY(cond, timeout_ms)                                \
    do {                                                                      \
        TC_WAIT_UNTIL(cond, timeout_ms);                                      \
        if (!(cond))                                                          \
            TC_FAIL("not within %u ms: %s", (unsigned)(timeout_ms), #cond);   \
    } while (0)

/* Waits until *v >= target (acquire, so what the incrementers wrote before
 * is visible afterwards). True if reached in time. */
static inline bool tc_wait_u64(_Atomic uint64_t *v, uint64_t target, unsigned timeout_ms)
{
    uint64_t dl = tc_deadline_ms(timeout_ms);
    while (atomic_load_explicit(v, memory_order_acquire) < target)
        if (!tc_poll(dl))
            return atomic_load_explicit(v, memory_order_acquire) >= target;
    return true;
}

/* Records `v` into *max if larger (max of concurrent observations). */
static inline void tc_atomic_max(_Atomic int *max, int v)
{
    int cur = atomic_load_explicit(max, memory_order_relaxed);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(max, &cur, v, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* xorshift64*: a tiny seeded PRNG, so a failing stress run can be replayed. */
typedef struct tc_rng {
    uint64_t s;
} tc_rng;

static inline void tc_rng_seed(tc_rng *r, uint64_t seed) { r->s = seed ? seed : 0x9E3779B97F4A7C15u; }

static inline uint64_t tc_rng_next(tc_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Du;
}

/* Uniform-ish in [0, n). */
static inline uint64_t tc_rng_below(tc_rng *r, uint64_t n) { return n ? tc_rng_next(r) % n : 0; }

#ifdef TC_PLAIN
#include <unistd.h>

/* Stress programs: `prog [seed] [seconds]`. Prints the seed first so a
 * failing run can be replayed with the same arguments. */
static inline void tc_stress_args(int argc, char **argv, uint64_t *seed, double *seconds)
{
    *seed = argc > 1 ? strtoull(argv[1], NULL, 0)
                     : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    *seconds = argc > 2 ? atof(argv[2]) : 2.0;
    if (*seconds <= 0)
        *seconds = 2.0;
    printf("%s: seed %llu, %.1f s (replay: %s %llu %.1f)\n", argv[0], (unsigned long long)*seed,
           *seconds, argv[0], (unsigned long long)*seed, *seconds);
    fflush(stdout);
}

/* A stress program's main: rounds of `round` (which adds what it moved to
 * *count and returns non-zero on a failed check) until the time is up,
 * stopping at the first failure. Returns the exit status. */
static inline int tc_stress_main(int argc, char **argv, const char *name, const char *unit,
                                 int (*round)(tc_rng *rng, uint64_t *count))
{
    uint64_t seed, count = 0;
    double seconds;
    tc_stress_args(argc, argv, &seed, &seconds);
    tc_rng rng;
    tc_rng_seed(&rng, seed);
    uint64_t end = tc_now_ns() + (uint64_t)(seconds * 1e9);
    unsigned rounds = 0;
    do {
        if (round(&rng, &count)) {
            printf("%s: FAIL in round %u (seed %llu)\n", name, rounds, (unsigned long long)seed);
            return 1;
        }
        rounds++;
    } while (tc_now_ns() < end && rounds < 100000);
    printf("%s: OK %u rounds, %llu %s\n", name, rounds, (unsigned long long)count, unit);
    return 0;
}
#endif

#endif
