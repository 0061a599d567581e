/* A lent buffer: bytes with a reference count in front, so that a reader on
 * another thread can keep pointing into them after their owner has moved
 * on. The connection's read buffer is one (remote/conn.c): an inbound ask's
 * large bytes are decoded as pointers into it, the ask's future holds a
 * reference (rpc/future.c), and the connection reads into a fresh buffer
 * while any is out, instead of copying every payload out of it.
 *
 *   operation        thread
 *   new, data        any
 *   take             a holder of a reference
 *   drop             a holder; the last frees
 *   shared           the owner: true while a reference other than its own is out */
#ifndef TRI_BASE_LOAN_H
#define TRI_BASE_LOAN_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"

typedef struct tri_loan {
    _Atomic uint32_t refs;
    size_t size; /* bytes after the header */
    /* NULL: the bytes are data[]; else they are the lender's, and done(ctx)
     * runs when the last reference goes (tri_loan_lend) */
    void (*done)(void *ctx);
    void *ctx;
    alignas(16) unsigned char data[];
} tri_loan;

/* `size` bytes with one reference (the caller's). NULL when out of memory. */
static inline tri_loan *tri_loan_new(size_t size)
{
    tri_loan *l = (tri_loan *)tri_alloc(sizeof *l + size);
    if (l) {
        atomic_init(&l->refs, 1);
        l->size = size;
        l->done = NULL;
        l->ctx = NULL;
    }
    return l;
}

/* A loan of someone else's bytes: no data[] of its own; done(ctx) says
 * when nobody reads them any more. One reference. NULL when out of memory. */
static inline tri_loan *tri_loan_lend(void (*done)(void *ctx), void *ctx)
{
    tri_loan *l = tri_loan_new(0);
    if (l) {
        l->done = done;
        l->ctx = ctx;
    }
    return l;
}

static inline uint8_t *tri_loan_data(tri_loan *l) { return l->data; }

static inline void tri_loan_take(tri_loan *l)
{
    /* relaxed: taking a reference needs one already held. */
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

static inline void tri_loan_drop(tri_loan *l)
{
    /* acq_rel: the release orders this holder's reads of the bytes before
     * the owner's reuse or the free (pairs with tri_loan_shared's acquire
     * and with the last dropper's acquire). */
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1) {
        if (l->done)
            l->done(l->ctx);
        tri_free(l, sizeof *l + l->size);
    }
}

/* The owner may write over or move the bytes only when this is false. */
static inline bool tri_loan_shared(tri_loan *l)
{
    /* acquire: pairs with tri_loan_drop's release: every borrower that let
     * go has finished reading before the owner writes. */
    return atomic_load_explicit(&l->refs, memory_order_acquire) != 1;
}

/* The owner, not shared: resizes in place of a fresh one. NULL when out of
 * memory (l untouched). */
static inline tri_loan *tri_loan_resize(tri_loan *l, size_t size)
{
    tri_loan *n = (tri_loan *)tri_realloc(l, sizeof *l + l->size, sizeof *n + size);
    if (n)
        n->size = size;
    return n;
}

#endif
