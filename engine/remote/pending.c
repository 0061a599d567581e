/* The pending-request table (pending.h). */
#include "remote/pending.h"

#include <string.h>

#include "base/alloc.h"
#include "rpc/wire.h"
#include "troupe/error.h"

#define FIRST_CAP 64u

void tri_pending_init(tri_pending *t) { memset(t, 0, sizeof *t); }

void tri_pending_destroy(tri_pending *t)
{
    tri_free(t->slots, (size_t)t->cap * sizeof *t->slots);
    memset(t, 0, sizeof *t);
}

static int grow(tri_pending *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : FIRST_CAP;
    if (cap <= t->cap)
        return TR_ENOMEM; /* 2^32 asks in flight */
    tri_pending_slot *s = tri_realloc(t->slots, (size_t)t->cap * sizeof *s, (size_t)cap * sizeof *s);
    if (!s)
        return TR_ENOMEM;
    /* The new slots join the free list in index order. */
    for (uint32_t i = t->cap; i < cap; i++) {
        s[i].f = NULL;
        s[i].gen = 1;
        s[i].next = i + 1 < cap ? i + 2 : t->free_head;
    }
    t->free_head = t->cap + 1;
    t->slots = s;
    t->cap = cap;
    return 0;
}

int tri_pending_add(tri_pending *t, tri_timer_wheel *wheel, tr_future *f, int64_t deadline_ns)
{
    if (!t->free_head && grow(t))
        return TR_ENOMEM;
    uint32_t i = t->free_head - 1;
    tri_pending_slot *s = &t->slots[i];
    t->free_head = s->next;
    s->f = f;
    s->next = 0;
    t->count++;
    tri_wire_set_route(f, (uint64_t)s->gen << 32 | (i + 1), 0);
    tri_wheel_arm(wheel, tri_wire_timer(f), deadline_ns);
    return 0;
}

static tri_pending_slot *slot_of(const tri_pending *t, uint64_t corr)
{
    uint32_t i = (uint32_t)corr;
    if (i == 0 || i > t->cap)
        return NULL;
    tri_pending_slot *s = &t->slots[i - 1];
    return s->f && s->gen == (uint32_t)(corr >> 32) ? s : NULL;
}

tr_future *tri_pending_get(const tri_pending *t, uint64_t corr)
{
    tri_pending_slot *s = slot_of(t, corr);
    return s ? s->f : NULL;
}

static void release(tri_pending *t, tri_pending_slot *s)
{
    s->f = NULL;
    s->gen++; /* a late reply to the old id finds nothing (S35) */
    if (!s->gen)
        s->gen = 1;
    s->next = t->free_head;
    t->free_head = (uint32_t)(s - t->slots) + 1;
    t->count--;
}

tr_future *tri_pending_take(tri_pending *t, tri_timer_wheel *wheel, uint64_t corr, bool *sent)
{
    tri_pending_slot *s = slot_of(t, corr);
    if (!s)
        return NULL;
    tr_future *f = s->f;
    if (sent)
        *sent = s->next != 0;
    tri_wheel_cancel(wheel, tri_wire_timer(f));
    release(t, s);
    return f;
}

void tri_pending_mark_sent(tri_pending *t, uint64_t corr)
{
    tri_pending_slot *s = slot_of(t, corr);
    if (s)
        s->next = 1;
}

void tri_pending_take_all(tri_pending *t, tri_timer_wheel *wheel,
                          void (*fn)(tr_future *f, bool sent, void *arg), void *arg)
{
    for (uint32_t i = 0; i < t->cap && t->count; i++) {
        tri_pending_slot *s = &t->slots[i];
        if (!s->f)
            continue;
        tr_future *f = s->f;
        bool sent = s->next != 0;
        tri_wheel_cancel(wheel, tri_wire_timer(f));
        release(t, s);
        fn(f, sent, arg);
    }
}
