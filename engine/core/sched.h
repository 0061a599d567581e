/* The work-stealing scheduler: N workers, each with a Chase–Lev deque and a
 * one-slot "next" for the actor it just woke; a global inject queue for
 * actors made runnable by non-worker threads; idle workers spin briefly,
 * then park on a futex. Waking work wakes at most one parked worker, and
 * none while another worker is already searching (no thundering herd).
 *
 * An actor is in at most one run queue at a time: it enters one only when a
 * push finds its mailbox marked empty (core/mpsc.h), or when its own turn
 * ends with work left. */
#ifndef TRI_CORE_SCHED_H
#define TRI_CORE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "troupe/sched.h"

struct tr_actor;
typedef struct tri_sched tri_sched;
typedef struct tri_worker tri_worker;

typedef struct tri_sched_config {
    unsigned workers;       /* 0: online CPUs */
    unsigned batch;         /* 0: TR_DEFAULT_BATCH */
    uint32_t mailbox_high;  /* actors' default high-water mark (0: TR_DEFAULT_MAILBOX_HIGH,
                               TR_MAILBOX_UNBOUNDED: none) */
    int64_t send_timeout_ns; /* outside senders block this long (0: TR_DEFAULT_SEND_TIMEOUT_NS;
                                negative: never block) */
    tr_msg_alloc msg_alloc;
    void *owner;            /* opaque to core (the service), tri_sched_owner */
    /* Called on each worker thread after it starts / before it exits (for
     * example to register with RCU). May be NULL. */
    void (*thread_start)(void *owner);
    void (*thread_stop)(void *owner);
} tri_sched_config;

int tri_sched_create(const tri_sched_config *cfg, tri_sched **out);
/* Stops and joins the workers; actors still queued stay queued. Any
 * non-worker thread; idempotent. */
void tri_sched_stop(tri_sched *s);
/* After stop: drops every queued message, frees every actor still alive. */
void tri_sched_destroy(tri_sched *s);
bool tri_sched_stopped(const tri_sched *s);
unsigned tri_sched_workers(const tri_sched *s);
void *tri_sched_owner(const tri_sched *s);
void tri_sched_stats(const tri_sched *s, tr_sched_stats *out);

/* Makes a runnable actor run: on the calling worker's next slot if the
 * caller is a worker of `s`, else through the inject queue. */
void tri_sched_schedule(tri_sched *s, struct tr_actor *a);

/* How long a send from outside may block on a full mailbox, and the
 * default high-water mark of new actors. */
int64_t tri_sched_send_timeout(const tri_sched *s);
uint32_t tri_sched_mailbox_high(const tri_sched *s);

/* The worker running on this thread, or NULL. */
tri_worker *tri_worker_current(void);
tri_sched *tri_worker_sched(tri_worker *w);
/* The actor whose turn is running on this thread, or NULL. */
struct tr_actor *tri_current_actor(void);

/* Live-actor bookkeeping, so shutdown frees what users never released. */
void tri_sched_track(tri_sched *s, struct tr_actor *a);
void tri_sched_untrack(tri_sched *s, struct tr_actor *a);
uint64_t tri_sched_live(const tri_sched *s);

#endif
