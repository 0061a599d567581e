/* The pending-request table: the remote asks a peer holds (sent, or waiting
 * in its backlog for a connection), by correlation id, each with its
 * deadline on the I/O thread's timing wheel.
 *
 * A slot array with a free list: the correlation id is the slot's
 * generation (high 32 bits) and its index + 1 (low 32 bits), so lookup,
 * insert and remove are O(1) and an id is never reused while a reply to
 * it could still arrive late (S35): the generation changes each time the
 * slot is freed. Slots never move: the array grows by doubling.
 *
 * The deadline is the timer rpc keeps in every ask for its transport
 * (tri_wire_timer), armed on the wheel the caller passes; whoever takes an
 * entry out cancels it.
 *
 * I/O thread only: no locks, no atomics. */
#ifndef TRI_REMOTE_PENDING_H
#define TRI_REMOTE_PENDING_H

#include <stdbool.h>
#include <stdint.h>

#include "core/timer_wheel.h"
#include "troupe/future.h"

typedef struct tri_pending_slot {
    tr_future *f;  /* NULL: free */
    uint32_t gen;
    uint32_t next; /* free list (index + 1; 0 ends it); in use: 1 once sent */
} tri_pending_slot;

typedef struct tri_pending {
    tri_pending_slot *slots;
    uint32_t cap, count;
    uint32_t free_head; /* index + 1; 0: none */
} tri_pending;

void tri_pending_init(tri_pending *t);
/* The table must be empty. */
void tri_pending_destroy(tri_pending *t);

/* Adds f, arms its timer (its fire already set) on `wheel` for deadline_ns
 * and makes the correlation id its route (tri_wire_route_corr). 0 or
 * TR_ENOMEM. */
int tri_pending_add(tri_pending *t, tri_timer_wheel *wheel, tr_future *f, int64_t deadline_ns);

/* The future waiting under `corr`, or NULL (never was, or gone: a late
 * reply). The entry stays. */
tr_future *tri_pending_get(const tri_pending *t, uint64_t corr);

/* Takes the entry out and unarms its deadline (whether it fired or not).
 * Returns the future (NULL when absent) and whether it had been sent. */
tr_future *tri_pending_take(tri_pending *t, tri_timer_wheel *wheel, uint64_t corr, bool *sent);

/* Records that the ask under `corr` is on the wire. */
void tri_pending_mark_sent(tri_pending *t, uint64_t corr);

/* Takes every entry out (unarming each) and calls fn for it. */
void tri_pending_take_all(tri_pending *t, tri_timer_wheel *wheel,
                          void (*fn)(tr_future *f, bool sent, void *arg), void *arg);

static inline uint32_t tri_pending_count(const tri_pending *t) { return t->count; }

#endif
