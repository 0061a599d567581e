/* The service's timer: deadlines of asks and call_asyncs, delayed runs, and
 * releases that must wait for an RCU grace period (registry removals).
 *
 * One hashed timing wheel (core/timer_wheel.h) per shard: one shard per
 * worker plus one for every other thread, each behind a small spin lock
 * held for a few dozen instructions. A worker arms on its own shard, so arms
 * rarely contend; cancel locks the shard the timer was armed on. One thread
 * per service collects what is due and fires it outside the locks, then
 * sleeps on a futex until the earliest deadline; with nothing armed and
 * nothing deferred it sleeps without a timeout (no CPU while idle).
 *
 *   operation               threads   may run concurrently with
 *   tri_timers_arm(_after)  any       everything below
 *   tri_timers_cancel       any       everything below
 *   tri_timers_defer        any       everything below
 *   tri_timers_close        one, once arm/cancel/defer (arms then fail)
 *   tri_timers_destroy      one       nothing (after close)
 *
 * A batch of deferred releases waits one RCU grace period on the timer
 * thread (synchronize_rcu, a few ms), delaying due timers by that much;
 * batches are rare (one per burst of endpoint terminations).
 *
 * Why a lock: every ask arms and almost every ask cancels, from whichever
 * thread answers it, so the wheel needs arbitrary-thread unlink in O(1).
 * Handing every arm and cancel to the timer thread instead costs that
 * thread a few cache misses per ask, which on two cores shows up as a third
 * busy thread; the per-shard lock keeps the work on the threads that
 * already have the future in cache. */
#ifndef TRI_RPC_TIMER_H
#define TRI_RPC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/sched.h"
#include "core/timer_wheel.h"

typedef struct tri_timers tri_timers;

/* Ticks of 2^20 ns (~1 ms: arming divides with a shift), 4096 slots a
 * wheel (~4.3 s a turn; longer deadlines wait a turn or more in place). A
 * fire callback tells shutdown from a deadline with tri_timers_closing. */
enum { TRI_TIMER_TICK_NS = 1 << 20, TRI_TIMER_SLOTS = 4096 };

/* Arming after (tri_timers_arm_after): the thread settles such a timer
 * within about TRI_TIMER_SETTLE_NS (4 ticks), so it fires at most that much
 * after arm time + timeout (plus the usual tick); it polls that often for
 * TRI_TIMER_POLL_PASSES passes after the last one that settled any. */
enum { TRI_TIMER_SETTLE_NS = 4 << 20, TRI_TIMER_POLL_PASSES = 8 };

/* A release to run after an RCU grace period, on the timer thread. */
typedef struct tri_deferred {
    struct tri_deferred *next;
    void (*fn)(struct tri_deferred *d);
} tri_deferred;

/* Starts the timer thread. `sched` tells which threads are this service's
 * workers (they get their own shard). 0, TR_ENOMEM or TR_EIO. */
int tri_timers_create(tri_sched *sched, unsigned workers, tri_timers **out);

/* Arms `t` (its fire set, not armed) for `deadline_ns` (tri_now_ns clock).
 * 0, or TR_ESTOPPED after close (t stays unarmed). */
int tri_timers_arm(tri_timers *ts, tri_timer *t, int64_t deadline_ns);

/* Arms `t` to fire timeout_ns (> 0) after now, reading no clock: the
 * timer thread gives it its deadline from its own clock when it next
 * passes, never early, at most about TRI_TIMER_SETTLE_NS late. Cancel as
 * any. 0, or TR_ESTOPPED after close. */
int tri_timers_arm_after(tri_timers *ts, tri_timer *t, int64_t timeout_ns);

/* now + timeout_ns on the timer's clock (saturating). */
int64_t tri_timers_deadline(const tri_timers *ts, int64_t timeout_ns);

/* Unarms `t`. True when it was armed: its fire will not run, and the
 * caller takes over what the armed timer stood for. False when it already
 * fired, is firing, or was never armed. */
bool tri_timers_cancel(tri_timers *ts, tri_timer *t);

/* Runs d->fn(d) on the timer thread after a grace period (or, after close,
 * in tri_timers_destroy). */
void tri_timers_defer(tri_timers *ts, tri_deferred *d);

/* True once close has begun: a fire callback is running for shutdown, not
 * for a deadline. */
bool tri_timers_closing(const tri_timers *ts);

/* Refuses new arms, fires every armed timer now (tri_timers_closing true),
 * and stops the thread after it ran what was deferred. Idempotent. */
void tri_timers_close(tri_timers *ts);

/* After close: runs what was deferred since (after a grace period). */
void tri_timers_run_deferred(tri_timers *ts);

/* Frees the timer (closing it first if needed). Deferred releases must have
 * been run; cancels on its timers are no longer allowed. */
void tri_timers_destroy(tri_timers *ts);

/* Wake-ups of the timer thread so far (for the idle test). */
uint64_t tri_timers_wakeups(const tri_timers *ts);

#endif
