/* Parking and waking idle workers, without lost wake-ups or a thundering
 * herd.
 *
 * A worker out of work spins for a while (counted in `spinners`), then
 * parks: it leaves `spinners`, joins `sleepers` (seq_cst RMW), issues a
 * seq_cst fence and looks for work once more before sleeping on the
 * `permits` futex (tri_park_sleep_begin, then tri_park_wait). Whoever makes
 * work stealable publishes it, then calls tri_park_notify: a seq_cst fence,
 * then a read of `sleepers` and `spinners`. The two fences order the two
 * sides: either the parker's last look sees the work, or the publisher sees
 * the sleeper and posts a permit. A publisher posts at most one permit and
 * only when no worker is spinning (a spinner will find the work), so one
 * piece of work wakes at most one worker. A woken worker spins first; if it
 * finds work and was the last spinner it wakes one more
 * (tri_park_spin_end), so parallelism ramps up one worker at a time.
 *
 * The state lives inside the scheduler (one per scheduler, never shared);
 * which work counts as "found" is the scheduler's business (core/sched.c). */
#ifndef TRI_CORE_PARK_H
#define TRI_CORE_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct tri_parking {
    _Atomic uint32_t permits;  /* the futex word: wake-ups not yet taken */
    _Atomic int32_t sleepers;  /* workers between sleep_begin and sleep_end */
    _Atomic int32_t spinners;  /* workers looking for work before parking */
    _Atomic uint64_t wakes;    /* wake-ups issued (a counter, relaxed) */
} tri_parking;

/* Posts one permit and wakes one sleeper. */
void tri_park_wake_one(tri_parking *p);

/* Call after making work stealable (a deque or inject push). */
static inline void tri_park_notify(tri_parking *p)
{
    atomic_thread_fence(memory_order_seq_cst); /* pairs with sleep_begin's fence */
    if (atomic_load_explicit(&p->sleepers, memory_order_relaxed) > 0 &&
        atomic_load_explicit(&p->spinners, memory_order_relaxed) == 0)
        tri_park_wake_one(p);
}

/* A worker starts looking for work. seq_cst: part of the protocol's total
 * order, with every other RMW on spinners and sleepers. */
static inline void tri_park_spin_begin(tri_parking *p)
{
    atomic_fetch_add_explicit(&p->spinners, 1, memory_order_seq_cst);
}

/* A spinner found work. True when it was the last spinner: then the caller
 * notifies if more work is visible (one more worker joins). */
static inline bool tri_park_spin_end(tri_parking *p)
{
    return atomic_fetch_sub_explicit(&p->spinners, 1, memory_order_seq_cst) == 1;
}

/* A spinner gives up: leaves spinners, joins sleepers, fences. The caller
 * then looks for work once more and calls tri_park_wait only if none. */
static inline void tri_park_sleep_begin(tri_parking *p)
{
    atomic_fetch_sub_explicit(&p->spinners, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst); /* pairs with notify's fence */
}

/* Blocks until a permit arrives (taking it) or *stopping is set. */
void tri_park_wait(tri_parking *p, _Atomic uint32_t *stopping);

/* Leaves sleepers. With spin, become a spinner first, so a publisher never
 * sees neither and wakes a second worker for the same work. */
static inline void tri_park_sleep_end(tri_parking *p, bool spin)
{
    if (spin)
        tri_park_spin_begin(p);
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_seq_cst);
}

/* After the stop flag is set: wakes every sleeper of `n` workers for good. */
void tri_park_wake_all(tri_parking *p, unsigned n);

#endif
