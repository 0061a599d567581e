/* The hashed timing wheel (see timer_wheel.h). */
#include "core/timer_wheel.h"

#include <string.h>

#include "base/alloc.h"
#include "troupe/error.h"

static uint32_t round_pow2(uint32_t n)
{
    uint32_t p = 64;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int tri_wheel_init(tri_timer_wheel *w, uint32_t nslots, int64_t tick_ns, int64_t now_ns)
{
    memset(w, 0, sizeof *w);
    w->nslots = round_pow2(nslots);
    w->tick_ns = tick_ns > 0 ? tick_ns : 1;
    w->tick_shift = (w->tick_ns & (w->tick_ns - 1)) ? -1 : __builtin_ctzll((uint64_t)w->tick_ns);
    w->origin_ns = now_ns;
    w->slots = tri_zalloc(w->nslots * sizeof *w->slots);
    w->bitmap = tri_zalloc(w->nslots / 64 * sizeof *w->bitmap);
    if (!w->slots || !w->bitmap) {
        tri_wheel_destroy(w);
        return TR_ENOMEM;
    }
    return 0;
}

void tri_wheel_destroy(tri_timer_wheel *w)
{
    tri_free(w->slots, w->nslots * sizeof *w->slots);
    tri_free(w->bitmap, w->nslots / 64 * sizeof *w->bitmap);
    w->slots = NULL;
    w->bitmap = NULL;
}

/* Plain words, not ck_bitmap (the wheel is never shared unlocked): its lock
 * or/and ran 7.2-7.4 M rounds/s against these 16.5 M (troupe-ckbench bitmap). */
static void set_bit(tri_timer_wheel *w, uint32_t s) { w->bitmap[s >> 6] |= 1ull << (s & 63); }
static void clear_bit(tri_timer_wheel *w, uint32_t s) { w->bitmap[s >> 6] &= ~(1ull << (s & 63)); }

void tri_wheel_arm(tri_timer_wheel *w, tri_timer *t, int64_t deadline_ns)
{
    int64_t rel = deadline_ns - w->origin_ns;
    /* Round up: a timer never fires before its deadline. */
    uint64_t up = (uint64_t)(rel + w->tick_ns - 1);
    uint64_t tick = rel <= 0 ? 0 : w->tick_shift >= 0 ? up >> w->tick_shift : up / (uint64_t)w->tick_ns;
    if (tick <= w->done_tick)
        tick = w->done_tick + 1;
    t->due_tick = tick;
    uint32_t s = (uint32_t)(tick & (w->nslots - 1));
    t->next = w->slots[s];
    if (t->next)
        t->next->pprev = &t->next;
    else
        set_bit(w, s);
    t->pprev = &w->slots[s];
    w->slots[s] = t;
    w->count++;
}

size_t tri_wheel_settle(tri_timer_wheel *w, int64_t now_ns)
{
    size_t n = 0;
    for (tri_timer *t = w->later, *next; t; t = next, n++) {
        next = t->next;
        int64_t timeout = (int64_t)(t->due_tick & ~TRI_TIMER_LATER);
        t->due_tick = 0;
        t->pprev = NULL; /* the whole list is taken below */
        tri_wheel_arm(w, t, timeout > INT64_MAX - now_ns ? INT64_MAX : now_ns + timeout);
    }
    w->later = NULL;
    w->nlater = 0;
    return n;
}

/* Moves the timers of slot `s` due at or before `tick` onto *out. */
static size_t collect_slot(tri_timer_wheel *w, uint32_t s, uint64_t tick, tri_timer **out)
{
    size_t n = 0;
    tri_timer *t = w->slots[s];
    while (t) {
        tri_timer *next = t->next;
        if (t->due_tick <= tick) {
            tri_wheel_unlink_(w, t);
            t->next = *out;
            *out = t;
            n++;
        }
        t = next;
    }
    if (!w->slots[s])
        clear_bit(w, s);
    return n;
}

size_t tri_wheel_expire(tri_timer_wheel *w, int64_t now_ns, tri_timer **out)
{
    if (now_ns < w->origin_ns)
        return 0;
    uint64_t now_tick = (uint64_t)((now_ns - w->origin_ns) / w->tick_ns);
    if (now_tick <= w->done_tick)
        return 0;
    size_t n = 0;
    if (w->count) {
        uint64_t span = now_tick - w->done_tick;
        uint32_t remaining = span >= w->nslots ? w->nslots : (uint32_t)span;
        uint32_t mask = w->nslots - 1;
        uint32_t pos = (uint32_t)((w->done_tick + 1) & mask);
        /* Visit the slots of the ticks passed, a bitmap word at a time. */
        while (remaining) {
            uint32_t bit = pos & 63;
            uint32_t take = 64 - bit < remaining ? 64 - bit : remaining;
            uint64_t bits = w->bitmap[pos >> 6] >> bit;
            if (take < 64)
                bits &= (1ull << take) - 1;
            while (bits) {
                uint32_t b = (uint32_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                n += collect_slot(w, pos + b, now_tick, out);
            }
            pos = (pos + take) & mask;
            remaining -= take;
        }
    }
    w->done_tick = now_tick;
    return n;
}

int64_t tri_wheel_next_due(const tri_timer_wheel *w)
{
    if (!w->count)
        return INT64_MAX;
    uint32_t mask = w->nslots - 1;
    uint32_t pos = (uint32_t)((w->done_tick + 1) & mask);
    for (uint32_t off = 0; off < w->nslots;) {
        uint32_t bit = pos & 63;
        uint64_t bits = w->bitmap[pos >> 6] >> bit;
        if (bits) {
            uint64_t tick = w->done_tick + 1 + off + (uint64_t)__builtin_ctzll(bits);
            return w->origin_ns + (int64_t)tick * w->tick_ns;
        }
        uint32_t take = 64 - bit;
        off += take;
        pos = (pos + take) & mask;
    }
    return INT64_MAX; /* unreachable while count > 0 */
}

size_t tri_wheel_drain(tri_timer_wheel *w, tri_timer **out)
{
    size_t n = 0;
    while (w->later) {
        tri_timer *t = w->later;
        tri_wheel_unlink_(w, t);
        t->next = *out;
        *out = t;
        n++;
    }
    for (uint32_t s = 0; s < w->nslots && w->count; s++)
        n += collect_slot(w, s, UINT64_MAX, out);
    return n;
}
