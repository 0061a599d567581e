/* Per-worker message pool (see msgpool.h for the protocol). */
#include "core/msgpool.h"

#include "base/alloc.h"

#define CHUNK_BLOCKS 64u

typedef struct chunk {
    struct chunk *next;
    alignas(64) unsigned char blocks[CHUNK_BLOCKS][TRI_POOL_BLOCK];
} chunk;

typedef struct batch {
    tri_node *head, *tail;
    unsigned n;
} batch;

struct tri_msgpool {
    /* written by other threads */
    alignas(64) tri_node *_Atomic remote;
    /* owner only */
    alignas(64) tri_node *free;
    chunk *chunks;
    unsigned index, nworkers;
    tri_msgpool **pools;
    batch returns[]; /* one pending batch per origin pool */
};

static inline tri_node *link_of(tr_msg *m) { return &m->link_; }

tri_msgpool *tri_msgpool_create(unsigned index, unsigned nworkers, tri_msgpool **pools)
{
    size_t size = sizeof(tri_msgpool) + nworkers * sizeof(batch);
    tri_msgpool *p = tri_zalloc(size);
    if (!p)
        return NULL;
    p->index = index;
    p->nworkers = nworkers;
    p->pools = pools;
    atomic_init(&p->remote, NULL);
    return p;
}

void tri_msgpool_destroy(tri_msgpool *p)
{
    if (!p)
        return;
    for (chunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        tri_free(c, sizeof *c);
    }
    tri_free(p, sizeof(tri_msgpool) + p->nworkers * sizeof(batch));
}

/* Links `n` blocks of a fresh chunk onto the free list. */
static int refill_from_chunk(tri_msgpool *p)
{
    chunk *c = tri_alloc(sizeof *c);
    if (!c)
        return -1;
    c->next = p->chunks;
    p->chunks = c;
    tri_node *head = NULL;
    for (unsigned i = CHUNK_BLOCKS; i-- > 0;) {
        tr_msg *m = (tr_msg *)c->blocks[i];
        m->origin_ = p;
        atomic_store_explicit(&m->link_.next, head, memory_order_relaxed);
        head = link_of(m);
    }
    p->free = head;
    return 0;
}

tr_msg *tri_msgpool_alloc(tri_msgpool *p)
{
    tri_node *n = p->free;
    if (!n) {
        /* acquire: pairs with the release CAS in push_remote, so the blocks'
         * links (and their last user's writes) are visible. */
        n = atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire);
        if (!n && refill_from_chunk(p) != 0)
            return NULL;
        if (!n)
            n = p->free;
    }
    p->free = atomic_load_explicit(&n->next, memory_order_relaxed);
    return (tr_msg *)n;
}

static void push_remote(tri_msgpool *origin, tri_node *head, tri_node *tail)
{
    tri_node *old = atomic_load_explicit(&origin->remote, memory_order_relaxed);
    do {
        atomic_store_explicit(&tail->next, old, memory_order_relaxed);
        /* release: publishes the chain's links to the owner's acquire. */
    } while (!atomic_compare_exchange_weak_explicit(&origin->remote, &old, head,
                                                    memory_order_release, memory_order_relaxed));
}

void tri_msgpool_free(tri_msgpool *self, tr_msg *m)
{
    tri_msgpool *origin = m->origin_;
    tri_node *n = link_of(m);
    if (origin == self) {
        atomic_store_explicit(&n->next, self->free, memory_order_relaxed);
        self->free = n;
        return;
    }
    if (!self || origin->pools != self->pools) { /* not a worker of its service */
        push_remote(origin, n, n);
        return;
    }
    batch *b = &self->returns[origin->index];
    atomic_store_explicit(&n->next, b->head, memory_order_relaxed);
    if (!b->head)
        b->tail = n;
    b->head = n;
    if (++b->n == TRI_POOL_RETURN_BATCH) {
        push_remote(origin, b->head, b->tail);
        b->head = b->tail = NULL;
        b->n = 0;
    }
}

void tri_msgpool_flush(tri_msgpool *self)
{
    for (unsigned i = 0; i < self->nworkers; i++) {
        batch *b = &self->returns[i];
        if (b->head)
            push_remote(self->pools[i], b->head, b->tail);
        b->head = b->tail = NULL;
        b->n = 0;
    }
}
