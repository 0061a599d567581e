/* Thin futex wrappers (private futexes: waiters and wakers share one
 * process). Used to park idle workers and the timer thread. Not ck_ec32:
 * its sleep path tied with the workers' permits (troupe-ckbench park), and
 * its timed waits overshoot (DEPS.md: a 20 ms wait took 128 ms). */
#ifndef TRI_BASE_FUTEX_H
#define TRI_BASE_FUTEX_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *addr == expected, until woken or `rel_timeout` (NULL: none)
 * passes. Spurious returns are possible: callers re-check their condition. */
static inline void tri_futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                                  const struct timespec *rel_timeout)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, rel_timeout, NULL, 0);
}

/* Wakes up to `n` threads sleeping on addr. */
static inline void tri_futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif
