/** @file
 * troupe: the scheduler's tuning knobs and counters.
 *
 * These belong to the actor core (engine/core/), which runs actors on a
 * pool of worker threads; the service (troupe/service.h) passes them
 * through its configuration and reports the counters. */
#ifndef TROUPE_SCHED_H
#define TROUPE_SCHED_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How message memory is obtained (see README "Message allocation"). */
typedef enum tr_msg_alloc {
    TR_MSG_ALLOC_DEFAULT = 0, /**< the measured-faster of the two below */
    TR_MSG_ALLOC_MALLOC,      /**< jemalloc (libc malloc in sanitizer builds) */
    TR_MSG_ALLOC_POOL,        /**< per-worker free lists, returned in batches */
} tr_msg_alloc;

/** Messages an actor processes per turn before its worker moves on. */
#define TR_DEFAULT_BATCH 64

/** Mailbox flow control (README "Backpressure"): the default high-water
 * mark of every endpoint and remote target (its low-water mark is half of
 * it; plain actors opt in), and the value that turns the gate off for one.
 * 1024 keeps a mailbox of small calls near 150 KiB while a refill of 512
 * lasts the consumer longer than a wake-up (troupe-bench overload_local:
 * peak RSS < 1 MiB above idle); other values were not compared. */
#define TR_DEFAULT_MAILBOX_HIGH 1024u
/** As a high-water mark: no gate for that actor or endpoint. */
#define TR_MAILBOX_UNBOUNDED UINT32_MAX
/** How long a thread outside the workers blocks in a send to a mailbox
 * above its high-water mark before it gets TR_EAGAIN. */
#define TR_DEFAULT_SEND_TIMEOUT_NS (1000LL * 1000 * 1000)

/** Scheduler counters, for tests and tuning (racy snapshots, never torn). */
typedef struct tr_sched_stats {
    uint64_t parks;        /**< times a worker went to sleep */
    uint64_t wakes;        /**< wake-ups issued to parked workers */
    uint64_t steals;       /**< actors taken from another worker's deque */
    uint64_t injected;     /**< actors scheduled from non-worker threads */
} tr_sched_stats;

#ifdef __cplusplus
}
#endif

#endif
