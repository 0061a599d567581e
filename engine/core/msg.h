/* The message header behind tr_msg's reserved bytes (troupe/actor.h keeps
 * them opaque, so the public header names no internals and stays valid
 * C++): reserved_[0] is the intrusive link the mailbox and other queues
 * chain messages by; reserved_[1] is the allocator's mark (msgpool.c: the
 * pool that carved the block, NULL for a plain allocation). */
#ifndef TRI_CORE_MSG_H
#define TRI_CORE_MSG_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>

#include "troupe/actor.h"

/* The intrusive queue link (core/mpsc.h). */
typedef struct tri_node {
    struct tri_node *_Atomic next;
} tri_node;

_Static_assert(sizeof(tri_node) == sizeof(void *) && alignof(tri_node) <= alignof(void *),
               "the link fits tr_msg.reserved_[0]");
_Static_assert(offsetof(tr_msg, reserved_) == 0, "a message is queued by its own address");

static inline tri_node *tri_msg_link(tr_msg *m) { return (tri_node *)(void *)&m->reserved_[0]; }
static inline tr_msg *tri_msg_of_link(tri_node *n) { return (tr_msg *)(void *)n; }

/* Lists that one thread owns at a time (caches, backlogs): relaxed, the
 * hand-over between owners orders them. */
static inline tr_msg *tri_msg_next(tr_msg *m)
{
    return tri_msg_of_link(atomic_load_explicit(&tri_msg_link(m)->next, memory_order_relaxed));
}
static inline void tri_msg_set_next(tr_msg *m, tr_msg *next)
{
    atomic_store_explicit(&tri_msg_link(m)->next, next ? tri_msg_link(next) : NULL,
                          memory_order_relaxed);
}

static inline void *tri_msg_origin(const tr_msg *m) { return m->reserved_[1]; }
static inline void tri_msg_set_origin(tr_msg *m, void *origin) { m->reserved_[1] = origin; }

#endif
