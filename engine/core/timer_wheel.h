/* A hashed timing wheel: arm and cancel in O(1), expiry in O(slots passed
 * + timers looked at).
 *
 * Time is cut into ticks of `tick_ns`; a timer due at tick T sits in slot
 * T % nslots, in a doubly linked list (next / pprev), so cancel unlinks it
 * without a search. A timer more than one revolution away waits in its slot
 * and is skipped (compared, not moved) until its revolution comes. A bitmap
 * of slots that may be non-empty lets expiry and next_due skip empty ones 64
 * at a time (cancel leaves a bit set; expiry clears it when it finds the
 * slot empty).
 * A timer never fires early: its tick is the deadline rounded up.
 *
 * A timer may also be armed *later* (tri_wheel_arm_later): it waits, with
 * only its timeout, on a separate list until the owner settles the wheel
 * (tri_wheel_settle), which gives it the deadline settle-time + timeout.
 * Arming so reads no clock (an ask's deadline: the clock read cost more
 * than the rest of the arm); the owner settles often enough that the
 * lateness is bounded, and a settle after the arm is never early.
 *
 * The wheel itself is not thread-safe: the caller provides exclusion (the
 * service timer holds a per-shard lock around every call, rpc/timer.c).
 *
 *   operation          cost                      needs
 *   arm, cancel        O(1)                      exclusion
 *   expire             O(ticks passed / 64 + n)  exclusion
 *   next_due           O(nslots / 64) worst      exclusion
 */
#ifndef TRI_CORE_TIMER_WHEEL_H
#define TRI_CORE_TIMER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tri_timer tri_timer;

/* What a timer does when it expires; called by whoever collected it. */
typedef void tri_timer_fire(tri_timer *t);

/* Embedded in the object that wants a deadline. Zero-initialise it (or use
 * tri_timer_init); `fire` and `shard` belong to the user of the wheel. */
struct tri_timer {
    tri_timer *next;
    tri_timer **pprev;   /* NULL while not in a wheel */
    uint64_t due_tick;   /* armed later: TRI_TIMER_LATER | timeout_ns */
    tri_timer_fire *fire;
    uint32_t shard;      /* free for the wheel's owner (rpc/timer.c) */
};

typedef struct tri_timer_wheel {
    tri_timer **slots;
    uint64_t *bitmap;    /* bit s set: slot s may be non-empty */
    uint32_t nslots;     /* a power of two, >= 64 */
    int64_t tick_ns;
    int tick_shift;      /* log2(tick_ns) when a power of two, else -1 */
    int64_t origin_ns;   /* time of tick 0 */
    uint64_t done_tick;  /* every timer due at or before it has been collected */
    uint64_t count;      /* timers armed now in slots */
    tri_timer *later;    /* armed later, not yet settled (a list) */
    uint64_t nlater;
} tri_timer_wheel;

#define TRI_TIMER_LATER (1ull << 63)

static inline void tri_timer_init(tri_timer *t, tri_timer_fire *fire)
{
    t->next = NULL;
    t->pprev = NULL;
    t->due_tick = 0;
    t->fire = fire;
    t->shard = 0;
}

static inline bool tri_timer_armed(const tri_timer *t) { return t->pprev != NULL; }

/* `nslots` is rounded up to a power of two (at least 64). A tick_ns that
 * is a power of two makes arming a shift instead of a division. Returns 0
 * or TR_ENOMEM. `now_ns` becomes tick 0. */
int tri_wheel_init(tri_timer_wheel *w, uint32_t nslots, int64_t tick_ns, int64_t now_ns);
void tri_wheel_destroy(tri_timer_wheel *w);

/* Arms `t` (not armed) to fire at the first tick at or after deadline_ns;
 * a deadline already past fires at the next expire. */
void tri_wheel_arm(tri_timer_wheel *w, tri_timer *t, int64_t deadline_ns);

/* Arms `t` (not armed) with a timeout (> 0) whose start is the next
 * tri_wheel_settle: no clock is read. Cancel and drain see it as armed.
 * Inline, as cancel: once per ask each. */
static inline void tri_wheel_arm_later(tri_timer_wheel *w, tri_timer *t, int64_t timeout_ns)
{
    t->due_tick = TRI_TIMER_LATER | (uint64_t)(timeout_ns > 0 ? timeout_ns : 0);
    t->next = w->later;
    if (t->next)
        t->next->pprev = &t->next;
    t->pprev = &w->later;
    w->later = t;
    w->nlater++;
}

/* Gives every timer armed later its deadline, now_ns + its timeout
 * (saturating), and moves it into its slot. now_ns must be read after
 * every such arm it settles (the caller's exclusion orders them), so none
 * fires early. Returns how many. */
size_t tri_wheel_settle(tri_timer_wheel *w, int64_t now_ns);

/* Unlinks `t` if armed. Returns true when it was armed (the caller now owns
 * whatever the wheel's reference stood for), false when it had already been
 * collected or never armed. */
static inline bool tri_wheel_cancel(tri_timer_wheel *w, tri_timer *t);

/* Unlinks an armed `t` (the wheel's own; the slot's bit stays set:
 * whoever next scans the slot clears it). */
static inline void tri_wheel_unlink_(tri_timer_wheel *w, tri_timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
    if (t->due_tick & TRI_TIMER_LATER)
        w->nlater--;
    else
        w->count--;
}

static inline bool tri_wheel_cancel(tri_timer_wheel *w, tri_timer *t)
{
    if (!t->pprev)
        return false;
    tri_wheel_unlink_(w, t);
    return true;
}

/* Collects every timer due at or before now_ns onto *out (linked by
 * `next`, unarmed); they have not been fired. Returns how many. */
size_t tri_wheel_expire(tri_timer_wheel *w, int64_t now_ns, tri_timer **out);

/* A time at or before the earliest armed deadline (the start of the first
 * non-empty slot's next tick), or INT64_MAX when nothing is armed. */
int64_t tri_wheel_next_due(const tri_timer_wheel *w);

/* Unlinks every armed timer (settled or not) onto *out (for shutdown). Returns how many. */
size_t tri_wheel_drain(tri_timer_wheel *w, tri_timer **out);

#endif
