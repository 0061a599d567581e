/* Flow gates: how a producer faster than its consumer is held back
 * without losing a message (DESIGN invariant 9).
 *
 * A gate guards something that fills up: an actor's mailbox, or a remote
 * target's queue of calls not yet on the wire. Its owner reports the level
 * through a function; the gate has a high mark, a low mark and an optional
 * hard capacity. A sender that finds the level above the high mark is
 * held back:
 *   - an actor in a turn is muted: it finishes its turn, then is not
 *     scheduled again until the level falls below the low mark (its
 *     messages wait in its mailbox, none refused, none lost);
 *   - any other thread blocks in the send until the level is below the
 *     high mark or its send timeout passes (then TR_EAGAIN, the caller
 *     keeps the message).
 * At the capacity (when set) a send fails with TR_EFULL instead.
 *
 * Deadlock freedom: a muted actor waits only for a gate whose owner runs.
 *   1. An actor above its own high mark is never muted (it is someone's
 *      consumer and must keep draining): muting checks it, and a send that
 *      takes a muted actor above its high mark unmutes it. Both sides use
 *      seq_cst (the sender's counting RMW, then its load of the mute state;
 *      the muter's CAS of the state, then its load of its own level), so
 *      at least one of them sees the other.
 *   2. A mute registers on the gate, then re-reads the level: a gate that
 *      drained meanwhile is released at once. The draining side fences
 *      (seq_cst) between lowering the level and looking for mutes.
 * So in a cycle of actors sending to each other, an actor can only be
 * muted on one that is not overloaded, which is not muted for long:
 * every chain of mutes ends at an actor that runs.
 *
 * The mute state is 16 bits per actor: generation << 2 | OWED | MUTED.
 * OWED: the actor has work and is owed a schedule by whoever unmutes it.
 * The generation tells a stale registration (the actor was unmuted by
 * rule 1 and may have muted elsewhere since) from the current one. */
#ifndef TRI_CORE_FLOW_H
#define TRI_CORE_FLOW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct tr_actor;
struct tri_mute;

#define TRI_MUTED 1u
#define TRI_MUTE_OWED 2u

/* The level of whatever the gate guards (an estimate is fine). */
typedef uint64_t tri_gate_level_fn(const void *owner);

typedef struct tri_gate {
    uint32_t high, low, capacity;  /* capacity 0: none */
    tri_gate_level_fn *level;
    const void *owner;
    _Atomic(struct tri_mute *) muted; /* registrations, a Treiber stack */
    /* Senders' fast path: while the owner's push count stays at or below
     * this, the level is below the high mark (the draining side stores its
     * consumed count + high - 1 after each turn; relaxed). */
    _Atomic uint64_t limit;
    _Atomic uint32_t seq;          /* futex word of blocked senders: bumped on release */
    _Atomic uint32_t sleepers;     /* blocked senders */
    /* statistics (relaxed) */
    _Atomic uint64_t mutes, blocks, refusals, timeouts;
} tri_gate;

/* low 0: high / 2. */
void tri_gate_init(tri_gate *g, uint32_t high, uint32_t low, uint32_t capacity,
                   tri_gate_level_fn *level, const void *owner);

static inline uint64_t tri_gate_level(const tri_gate *g) { return g->level(g->owner); }

/* What a sender should do about a gate at `level` (its own sends in a turn
 * not yet pushed included). */
enum tri_gate_verdict { TRI_GATE_PASS, TRI_GATE_OVER, TRI_GATE_FULL };
static inline enum tri_gate_verdict tri_gate_check(const tri_gate *g, uint64_t level)
{
    if (g->capacity && level >= g->capacity)
        return TRI_GATE_FULL;
    return level >= g->high ? TRI_GATE_OVER : TRI_GATE_PASS;
}

/* On a worker, in `self`'s turn: `self` sent past g's high mark. Mutes
 * `self` on g unless that could deadlock (rule 1), self is g's owner, or
 * self is muted already. True when self is muted now (its turn should end
 * after the current message). */
bool tri_gate_mute(tri_gate *g, struct tr_actor *self);

/* Outside a turn: waits until g's level is below its high mark, or until
 * deadline_ns (tri_now_ns clock). 0, or TR_EAGAIN. */
int tri_gate_wait(tri_gate *g, int64_t deadline_ns);

/* The draining side lowered the level to `level` having consumed
 * `consumed` in all: moves the senders' limit, and releases the gate if
 * the level is below the low mark and someone waits. `idle`: the owner is
 * about to stop draining (its mailbox goes empty), so it fences first and
 * cannot miss a registration (rule 2); between turns of a busy owner the
 * next turn looks again. */
void tri_gate_drained(tri_gate *g, uint64_t consumed, uint64_t level, bool idle);
/* As `level` for tri_gate_drained: read it only if someone waits (the
 * level function may touch lines the senders own). */
#define TRI_GATE_LEVEL_LAZY UINT64_MAX

/* Unmutes everyone muted on g and wakes every blocked sender, whatever
 * the level (the owner is going away, or the service stops). */
void tri_gate_release(tri_gate *g);

/* The sender side of rule 1: `to` was sent to and its level is `level`;
 * if it is muted and now above its own high mark, unmute it. */
void tri_gate_unmute_overloaded(struct tr_actor *to, const tri_gate *to_gate, uint64_t level);

/* A sender about to add one to g (a queue other than a mailbox, e.g. a
 * remote target's calls not yet on the wire): in a turn on a worker of
 * `sched`, mutes the sender when g is above its high mark and lets it go
 * on; elsewhere blocks up to the calling thread's send timeout
 * (tr_thread_send_timeout, else the scheduler's). 0, TR_EAGAIN, or
 * TR_EFULL at g's capacity. */
struct tri_sched;
int tri_gate_admit(tri_gate *g, struct tri_sched *sched);

/* The run loop's side: after a turn of a muted actor that has work left.
 * True when the actor is now owed its schedule by its unmuter (the caller
 * must not schedule it); false when it was unmuted meanwhile. */
bool tri_mute_defer(struct tr_actor *a);

#endif
