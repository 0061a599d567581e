/* The actor's layout, shared by the run loop (actor.c) and the scheduler.
 *
 * Three cache lines, grouped by the threads that write them, so senders
 * exchanging the mailbox head do not slow the thread running the actor:
 *   line 0  senders:      mailbox head, push count      (core/mpsc.h)
 *   line 1  running turn: mailbox tail, stub, pop count (core/mpsc.h)
 *   line 2  read-mostly:  behaviour, flags, references, links
 * The user's state follows inline, so an actor is one allocation. */
#ifndef TRI_CORE_ACTOR_IMPL_H
#define TRI_CORE_ACTOR_IMPL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mpsc.h"
#include "troupe/actor.h"

struct tri_sched;

/* tr_msg.tag values at or above this are troupe's own control messages. */
#define TRI_MSG_TAG_SYSTEM 0xFFFFFF00u
#define TRI_MSG_TAG_STOP (TRI_MSG_TAG_SYSTEM + 1)

struct tr_actor {
    tri_mpsc mailbox; /* lines 0 and 1 */
    alignas(64) struct tri_sched *sched;
    tr_behavior *behavior;
    tr_on_stop *on_stop;
    tr_on_drop *on_drop;
    _Atomic uint32_t stopped; /* 1 once stopped: sends fail (release/acquire) */
    _Atomic uint32_t refs;    /* handles + 1 while alive */
    tri_node snode;           /* link in the scheduler's inject queue */
    struct tr_actor *list_prev, *list_next; /* live list, under its shard lock */
    uint32_t state_size;
    uint16_t list_shard;
    uint8_t stop_requested;   /* set by tr_actor_stop during a turn */
    alignas(16) unsigned char state[];
};

static inline struct tr_actor *tri_actor_from_snode(tri_node *n)
{
    return (struct tr_actor *)((char *)n - offsetof(struct tr_actor, snode));
}

/* Runs up to `batch` messages. Returns true when the actor must be scheduled
 * again (more messages, or a producer half-way through a push); false when
 * it gave its mailbox up (marked empty) or stopped. Called by one worker. */
bool tri_actor_run(struct tr_actor *a, unsigned batch);

/* Frees the actor after its last reference: drops queued messages. */
void tri_actor_destroy(struct tr_actor *a);

/* Allocates and registers an actor on `s` (see tr_spawn). */
int tri_actor_spawn(struct tri_sched *s, const tr_actor_opts *opts, struct tr_actor **out);

#endif
