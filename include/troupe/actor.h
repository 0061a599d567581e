/** @file
 * troupe: plain actors and messages.
 *
 * An actor is a behaviour function, its state and a lock-free MPSC mailbox.
 * Its behaviour runs on one worker thread at a time, one message after the
 * other; each turn sees the effects of the turn before (happens-before).
 * Messages from one sender to one actor are processed in the order sent.
 *
 * Actors run on a service's workers: tr_spawn, tr_actor_service and
 * tr_service_live_actors are declared with the service (troupe/service.h).
 *
 * Lifetime: an actor is reference-counted. tr_spawn returns one reference
 * owned by the caller; the actor also holds itself alive until it stops.
 * The memory is freed once it has stopped and every reference is released.
 * Sending needs a reference: hold one for as long as you send to it. */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An actor (opaque; reference-counted, see the top of this file). */
typedef struct tr_actor tr_actor;

/** A message: a header (24 bytes on 64-bit hosts) followed by `size`
 * payload bytes (tr_msg_data()), pointer-aligned. One allocation; the
 * mailbox links it intrusively, so a send allocates nothing beyond the
 * message itself. The header is inline so that reading a tag or the data
 * costs no call; `reserved_` is troupe's (never read or write it). */
typedef struct tr_msg {
    void *reserved_[2];           /**< troupe's: queue link, allocator mark */
    uint32_t tag;                 /**< free for the user: a message kind */
    uint32_t size;                /**< payload size in bytes */
} tr_msg;

/** The payload: the `size` bytes after the header. */
static inline void *tr_msg_data(tr_msg *m) { return (void *)(m + 1); }

/** Allocates a message with `size` payload bytes (uninitialised) and the
 * given tag, from the calling worker's pool or the allocator. Any thread.
 * Returns NULL when out of memory. The caller owns it until a send succeeds. */
TR_API tr_msg *tr_msg_new(uint32_t tag, size_t size);

/** Frees a message. Any thread. */
TR_API void tr_msg_free(tr_msg *m);

/** The behaviour: called once per message on the actor's current thread.
 * It owns `msg`: free it with tr_msg_free() or pass it on with tr_send(). */
typedef void tr_behavior(tr_actor *self, void *state, tr_msg *msg);

/** Called once, on the actor's thread, after its last turn (tr_actor_stop),
 * or on the destroying thread by tr_service_destroy for actors still alive.
 * Release what the state holds; the state memory itself is troupe's. */
typedef void tr_on_stop(tr_actor *self, void *state);

/** Called for each message that will never reach the behaviour (the actor
 * stopped, or the service shut down). It owns `msg`. NULL: tr_msg_free. */
typedef void tr_on_drop(tr_actor *self, void *state, tr_msg *msg);

/** How to spawn an actor (tr_spawn). */
typedef struct tr_actor_opts {
    tr_behavior *behavior;  /**< required */
    tr_on_stop *on_stop;    /**< optional */
    tr_on_drop *on_drop;    /**< optional */
    size_t state_size;      /**< bytes of state kept inside the actor, zeroed */
    bool count_mailbox;     /**< keep tr_actor_mailbox_len exact (one atomic
                               add per send; off: it reports 0, unless the
                               mailbox has a high-water mark, which counts) */
    /** Flow control (README "Backpressure"). */
    uint32_t mailbox_high;     /**< senders are held back while this many messages
                                    wait (0 or TR_MAILBOX_UNBOUNDED: never; plain actors
                                    opt in, endpoints get the service's mark) */
    uint32_t mailbox_low;      /**< they go again below it (0: half the high mark) */
    uint32_t mailbox_capacity; /**< sends beyond it fail with TR_EFULL (0: no hard limit) */
} tr_actor_opts;

/** The actor's inline state (max_align_t-aligned). */
TR_API void *tr_actor_state(tr_actor *a);

/** Takes / drops a reference. Any thread. NULL: nothing. */
TR_API void tr_actor_retain(tr_actor *a);
/** Drops a reference taken by tr_spawn or tr_actor_retain. Any thread. */
TR_API void tr_actor_release(tr_actor *a);

/** Sends `msg` to `to`. Any thread: a worker of this service (the woken actor
 * runs next on this worker) or any other thread (through the inject queue).
 * The caller must hold a reference to `to`.
 * On 0, troupe owns `msg`; on error the caller still owns it.
 * Backpressure: when `to` holds its high-water mark of messages, a sender
 * in a turn is muted after its turn (never refused), and any other thread
 * blocks until there is room or its send timeout passes.
 * Errors: TR_EINVAL (NULL), TR_ESTOPPED (the actor has stopped), TR_EAGAIN
 * (no room within the send timeout), TR_EFULL (at the hard capacity). */
TR_API int tr_send(tr_actor *to, tr_msg *msg);

/** As tr_send, but a thread outside the workers never blocks: TR_EAGAIN at
 * once when `to` is above its high-water mark. */
TR_API int tr_send_nowait(tr_actor *to, tr_msg *msg);

/** The calling thread's send timeout for sends outside a turn (tr_send,
 * gateway tells and asks): ns > 0 blocks at most that long, 0 never
 * blocks (TR_EAGAIN at once), TR_SEND_TIMEOUT_DEFAULT the service's
 * configured value. Returns the previous setting. */
#define TR_SEND_TIMEOUT_DEFAULT (-1LL)
/** Sets the calling thread's send timeout (see TR_SEND_TIMEOUT_DEFAULT);
 * returns the previous setting. */
TR_API int64_t tr_thread_send_timeout(int64_t ns);

/** Flow-control counters of an actor's mailbox (racy snapshots). */
typedef struct tr_flow_stats {
    uint32_t high;      /**< the high-water mark in force (0: no gate) */
    uint32_t low;       /**< the low-water mark in force */
    uint32_t capacity;  /**< the hard capacity in force (0: none) */
    uint64_t mutes;     /**< senders muted on it */
    uint64_t blocks;    /**< outside sends that had to wait */
    uint64_t timeouts;  /**< of those, given up with TR_EAGAIN */
    uint64_t refusals;  /**< sends refused at the capacity (TR_EFULL) */
} tr_flow_stats;
/** Fills *out with `a`'s flow-control counters. Any thread. */
TR_API void tr_actor_flow_stats(tr_actor *a, tr_flow_stats *out);

/** From inside `self`'s behaviour: stop after the current turn. Messages left
 * in the mailbox go to on_drop; later sends fail with TR_ESTOPPED. */
TR_API void tr_actor_stop(tr_actor *self);

/** From any thread: ask `a` to stop. The stop is queued like a message, so
 * what was sent before it is processed first. Errors: TR_ESTOPPED. */
TR_API int tr_actor_stop_async(tr_actor *a);

/** The actor whose behaviour is running on the calling thread, or NULL. */
TR_API tr_actor *tr_actor_current(void);

/** Messages waiting in the mailbox (approximate while others send); 0 unless
 * the actor was spawned with count_mailbox. */
TR_API uint64_t tr_actor_mailbox_len(tr_actor *a);

#ifdef __cplusplus
}
#endif

#endif
