/* Scheduler internals shared by sched.c (workers, queues, parking) and
 * actor.c (sends, which schedule on the calling worker). */
#ifndef TRI_CORE_SCHED_IMPL_H
#define TRI_CORE_SCHED_IMPL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "core/deque.h"
#include "core/mpsc.h"
#include "core/msgpool.h"
#include "core/park.h"
#include "core/sched.h"

/* Consecutive turns a worker may take from its "next" slot before that
 * actor goes to the back of the line (the inject queue): a busy pair
 * bouncing through the slot must not starve the worker's deque. */
#define TRI_NEXT_SLOT_STREAK 64u

/* A long turn (a producer looping over sends) lends its thread every
 * TRI_HELP_EVERY sends to the actor waiting in its own worker's queue (or,
 * with none, to one it steals), for at most TRI_HELP_BUDGET messages: with
 * every worker inside such a turn nobody else would run the receiver, and
 * its backlog would grow without bound. The helped actor is taken out of a
 * queue as any runner takes it (the own slot or deque, or a steal), so it
 * runs on one thread at a time as always. Helping can take 4x the
 * sends that fed it: with one helper for two producers (fanin p=2) an
 * equal budget fell behind by a period's sends every period (fanin p=2
 * 8.8 M msgs/s, median of 5; 1024 and 256 gave 17 M, and p=1 rose from 21
 * to 31 M: a short backlog stays in cache). */
#define TRI_HELP_EVERY 1024u
#define TRI_HELP_BUDGET 4096u

/* Sends a turn may make before the actor it woke last stops being kept in
 * the "next" slot: a long turn (a producer looping over sends) must not
 * hide the actor it woke from idle workers. */
#define TRI_NEXT_SLOT_SENDS 64u

/* Sends a turn makes to one actor are linked here and pushed as one chain
 * (one exchange on the mailbox head) when the target changes, when this
 * many wait, or when the handler returns. Per-sender order is unchanged. */
#define TRI_OUTBOX_MAX 64u

typedef struct tri_outbox {
    struct tr_actor *to;
    tri_node *first, *last;
    unsigned n;
} tri_outbox;

/* Actors freed on a worker wait here and leave the live list in batches,
 * so the list's lock is not taken (and bounced) once per actor. */
#define TRI_GRAVE_SIZE 64u

struct tri_worker {
    tri_deque deque; /* own cache lines */
    /* owner only */
    alignas(64) struct tr_actor *next; /* runs before the deque; never stolen */
    struct tr_actor *current;          /* actor whose turn is running */
    uint32_t turn_sends;               /* sends made by the current turn */
    bool turn_muted;                   /* the current turn's actor got muted (flow.h) */
    tri_outbox outbox;
    uint32_t tick;
    uint32_t next_streak;              /* turns taken from `next` in a row */
    uint32_t rng;
    unsigned index;
    bool spinning;
    bool helping;                      /* inside a nested, helping turn */
    tri_sched *sched;
    tri_msgpool *pool;                 /* NULL unless msg_alloc is POOL */
    pthread_t thread;
    unsigned ngrave;
    struct tr_actor *grave[TRI_GRAVE_SIZE];
    /* counters: written by the owner (relaxed), read by anyone */
    _Atomic uint64_t parks, steals;
};

typedef struct live_shard {
    alignas(64) _Atomic uint32_t lock;
    struct tr_actor *head;
} live_shard;

struct tri_sched {
    unsigned nworkers, batch;
    uint32_t mailbox_high;      /* flow gate defaults for new actors (flow.h) */
    int64_t send_timeout_ns;    /* how long an outside sender blocks */
    tr_msg_alloc msg_alloc;
    void *owner;
    void (*thread_start)(void *owner);
    void (*thread_stop)(void *owner);
    tri_worker **workers;
    tri_msgpool **pools;
    bool started;
    /* inject queue: any thread pushes; a worker holding inject_lock pops */
    tri_mpsc inject;
    alignas(64) _Atomic uint32_t inject_lock;
    /* parking (core/park.h) and the stop flag, read by idle workers */
    alignas(64) tri_parking park;
    _Atomic uint32_t stopping;
    _Atomic uint64_t injected;
    /* live actors, one shard per worker plus one for other threads */
    alignas(64) _Atomic uint64_t live;
    live_shard *shards;
};

/* Counts a send of the current turn (see TRI_NEXT_SLOT_SENDS). */
void tri_sched_note_send(tri_worker *w);

/* Pushes what the outbox holds; schedules its target if that woke it. */
void tri_outbox_flush(tri_worker *w);

/* Frees a dead actor's memory now, or later in a batch when called on a
 * worker of its scheduler. */
void tri_sched_bury(tri_sched *s, struct tr_actor *a);

/* The calling thread's worker (initial-exec TLS: one instruction). */
extern _Thread_local tri_worker *tri_tls_worker __attribute__((tls_model("initial-exec")));

#endif
