/* The actor's layout, shared by the run loop (actor.c) and the scheduler.
 *
 * 112 bytes of header, allocated 64-byte aligned, then the user's state, so
 * an idle actor with a small state costs one 128-byte block. The header is
 * two cache lines grouped by the threads that write them, so senders
 * exchanging the mailbox head do not slow the thread running the actor:
 *   line 0  senders: mailbox head and push count; read-mostly fields and
 *           the mute state (flow.h)
 *   line 1  the running turn: mailbox tail, stub, pop count; run-loop fields
 * A gated actor (a mailbox high-water mark) has its gate in the 64-byte
 * aligned slot just before the header, so senders find it at a fixed
 * offset and an ungated actor stays one 128-byte block.
 */
#ifndef TRI_CORE_ACTOR_IMPL_H
#define TRI_CORE_ACTOR_IMPL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/flow.h"
#include "core/mpsc.h"
#include "troupe/actor.h"

struct tri_sched;

/* tr_msg.tag values at or above this are troupe's own control messages. */
#define TRI_MSG_TAG_SYSTEM 0xFFFFFF00u
#define TRI_MSG_TAG_STOP (TRI_MSG_TAG_SYSTEM + 1)

struct tr_actor {
    /* line 0: written by senders (mailbox.head) or rarely */
    tri_mq_prod mb_prod;
    struct tri_sched *sched;
    _Atomic uint32_t refs;    /* handles + 1 while alive */
    _Atomic uint8_t stopped;  /* 1 once stopped: sends fail (release/acquire) */
    uint8_t count_mailbox;    /* senders count pushes; TRI_GATED: and a gate
                                 (core/flow.h) sits just before the actor */
    _Atomic uint16_t mute_state; /* flow.h: generation << 2 | OWED | MUTED */
    tr_on_stop *on_stop;
    tr_on_drop *on_drop;
    struct tr_actor *list_prev, *list_next; /* live list, under its shard lock */
    /* line 1: written by the thread running the actor */
    tri_mq_cons mb_cons;
    tr_behavior *behavior;
    tri_node snode;           /* link in the scheduler's inject queue */
    uint32_t state_size;
    uint16_t list_shard;
    uint8_t stop_requested;   /* set by tr_actor_stop during a turn */
    uint8_t stop_done;        /* the stop has been carried out */
    alignas(16) unsigned char state[];
};

#define TRI_ACTOR_ALIGN 64
_Static_assert(offsetof(struct tr_actor, mb_cons) == 64, "senders' fields fill line 0 alone");
_Static_assert(sizeof(struct tr_actor) <= 112, "an idle actor with 16 B of state fits 128 B");

#define TRI_GATED 2 /* count_mailbox: counted, and gated */
#define TRI_GATE_SLOT ((sizeof(tri_gate) + 63) & ~(size_t)63)

/* The mailbox's flow gate, or NULL (no high-water mark). */
static inline tri_gate *tri_actor_gate(const struct tr_actor *a)
{
    return a->count_mailbox == TRI_GATED ? (tri_gate *)((char *)a - TRI_GATE_SLOT) : NULL;
}

static inline struct tr_actor *tri_actor_from_snode(tri_node *n)
{
    return (struct tr_actor *)((char *)n - offsetof(struct tr_actor, snode));
}

enum tri_run_result {
    TRI_RUN_DONE, /* mailbox given up (marked empty), or the actor stopped */
    TRI_RUN_MORE, /* batch used up with messages left: schedule it again */
    TRI_RUN_BUSY, /* a sender is half-way through a push: come back soon */
};

/* Runs up to `batch` messages on the calling worker, which must be the only
 * one running `a` (the mailbox protocol guarantees it). After TRI_RUN_DONE
 * the caller must not touch `a`: it may have been freed. */
enum tri_run_result tri_actor_run(struct tr_actor *a, unsigned batch);

/* After the last reference: drops queued messages, runs on_stop if it has
 * not run, then hands the memory to tri_sched_bury. */
void tri_actor_destroy(struct tr_actor *a);
/* Drops queued messages (on_drop) and runs on_stop if it has not run. */
void tri_actor_teardown(struct tr_actor *a);
/* Frees the memory (the actor has left the live list). */
void tri_actor_free(struct tr_actor *a);

/* The scheduler the actor runs on. */
static inline struct tri_sched *tri_actor_sched(const struct tr_actor *a) { return a->sched; }

/* A send that neither blocks, mutes nor refuses, counted as `weight`
 * messages: for senders bounded by other means (the remote layer's
 * credit). Weight 0 leaves the mailbox's level alone (answers travelling
 * home; their consumer calls tri_actor_consumed(a, -1)). 0 or TR_ESTOPPED. */
int tri_send_unchecked(struct tr_actor *to, tr_msg *m, uint32_t weight);
/* On a's turn: `extra` more messages were consumed than popped (the rest
 * of a weighted message; -1 for one of weight 0). */
void tri_actor_consumed(struct tr_actor *a, int64_t extra);

/* Allocates and registers an actor on `s` (see tr_spawn). */
int tri_actor_spawn(struct tri_sched *s, const tr_actor_opts *opts, struct tr_actor **out);

#endif
