/* Per-worker message pool (see msgpool.h for the protocol). */
#include "core/msgpool.h"

#include <sys/mman.h>

#include "base/alloc.h"

/* Blocks are cut from 2 MiB chunks with a bump pointer, so memory is touched
 * only as it is used, and the chunks are offered to transparent huge pages:
 * a fanin whose receiver falls 12 M messages behind spent ~40% of its time
 * in 4 KiB page faults before. */
#define CHUNK_BYTES (2u << 20)

static const unsigned block_size[TRI_POOL_CLASSES] = {32, 64};

/* Other pools' blocks a worker keeps for its own sends, per class. */
#define TRI_POOL_ADOPT_MAX 4096u

typedef struct chunk {
    struct chunk *next;
    alignas(64) unsigned char bytes[];
} chunk;

typedef struct batch {
    tri_node *head, *tail;
    unsigned n;
} batch;

struct tri_msgpool {
    /* written by other threads */
    alignas(64) tri_node *_Atomic remote[TRI_POOL_CLASSES];
    /* owner only */
    alignas(64) tri_node *free[TRI_POOL_CLASSES];
    unsigned adopted[TRI_POOL_CLASSES]; /* other pools' blocks on free[] */
    unsigned char *bump, *bump_end; /* unused part of the newest chunk */
    chunk *chunks;
    unsigned index, nworkers;
    tri_msgpool **pools;
    batch returns[]; /* [origin index][class]: pending batch per origin */
};

/* The origin mark holds the pool's address with the block's class in bit 0 (the
 * pool is 64-byte aligned). */
static inline tri_msgpool *origin_pool(const tr_msg *m)
{
    return (tri_msgpool *)((uintptr_t)tri_msg_origin(m) & ~(uintptr_t)1);
}
static inline unsigned origin_class(const tr_msg *m) { return (unsigned)((uintptr_t)tri_msg_origin(m) & 1); }

static size_t pool_size(unsigned nworkers)
{
    return sizeof(tri_msgpool) + (size_t)nworkers * TRI_POOL_CLASSES * sizeof(batch);
}

tri_msgpool *tri_msgpool_create(unsigned index, unsigned nworkers, tri_msgpool **pools)
{
    tri_msgpool *p = tri_zalloc_aligned(pool_size(nworkers), 64);
    if (!p)
        return NULL;
    p->index = index;
    p->nworkers = nworkers;
    p->pools = pools;
    for (unsigned c = 0; c < TRI_POOL_CLASSES; c++)
        atomic_init(&p->remote[c], NULL);
    return p;
}

void tri_msgpool_destroy(tri_msgpool *p)
{
    if (!p)
        return;
    for (chunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        tri_free_aligned(c, CHUNK_BYTES, CHUNK_BYTES);
    }
    tri_free_aligned(p, pool_size(p->nworkers), 64);
}

/* Cuts a block of class `cls` from the bump region, opening a new chunk
 * when it is used up (the tail of the old one is abandoned: < 64 bytes). */
static tr_msg *bump_alloc(tri_msgpool *p, unsigned cls)
{
    unsigned size = block_size[cls];
    if ((size_t)(p->bump_end - p->bump) < size) {
        chunk *c = tri_alloc_aligned(CHUNK_BYTES, CHUNK_BYTES);
        if (!c)
            return NULL;
#ifdef MADV_HUGEPAGE
        madvise(c, CHUNK_BYTES, MADV_HUGEPAGE); /* a hint; failure is harmless */
#endif
        c->next = p->chunks;
        p->chunks = c;
        p->bump = c->bytes;
        p->bump_end = (unsigned char *)c + CHUNK_BYTES;
    }
    tr_msg *m = (tr_msg *)p->bump;
    p->bump += size;
    tri_msg_set_origin(m, (void *)((uintptr_t)p | cls));
    return m;
}

tr_msg *tri_msgpool_alloc(tri_msgpool *p, size_t payload)
{
    unsigned cls = payload + sizeof(tr_msg) > 32;
    tri_node *n = p->free[cls];
    if (!n) {
        /* acquire: pairs with the release CAS in push_remote, so the blocks'
         * links (and their last user's writes) are visible. */
        n = atomic_exchange_explicit(&p->remote[cls], NULL, memory_order_acquire);
        if (!n)
            return bump_alloc(p, cls);
    }
    tri_node *next = atomic_load_explicit(&n->next, memory_order_relaxed);
    p->free[cls] = next;
    if (origin_pool((tr_msg *)n) != p)
        p->adopted[cls]--;
    /* The list is blocks another CPU freed (a receiver helped elsewhere):
     * each pop's n->next was a cache miss in series. Fetch the next block
     * now, one allocation ahead (fanin p=2 x1.7, p=4 x1.2: bench/ab.sh). */
    __builtin_prefetch(next, 1);
    return (tr_msg *)n;
}

/* C11, not ck_stack: ck_stack_push_upmc compiles to the same lock cmpxchg
 * loop (troupe-ckbench stack: a tie), and TSan sees these atomics. */
static void push_remote(tri_msgpool *origin, unsigned cls, tri_node *head, tri_node *tail)
{
    tri_node *old = atomic_load_explicit(&origin->remote[cls], memory_order_relaxed);
    do {
        atomic_store_explicit(&tail->next, old, memory_order_relaxed);
        /* release: publishes the chain's links to the owner's acquire. */
    } while (!atomic_compare_exchange_weak_explicit(&origin->remote[cls], &old, head,
                                                    memory_order_release, memory_order_relaxed));
}

void tri_msgpool_free(tri_msgpool *self, tr_msg *m)
{
    tri_msgpool *origin = origin_pool(m);
    unsigned cls = origin_class(m);
    tri_node *n = tri_msg_link(m);
    if (origin == self) {
        atomic_store_explicit(&n->next, self->free[cls], memory_order_relaxed);
        self->free[cls] = n;
        return;
    }
    if (!self || origin->pools != self->pools) { /* not a worker of its service */
        push_remote(origin, cls, n, n);
        return;
    }
    if (self->adopted[cls] < TRI_POOL_ADOPT_MAX) {
        /* Kept here, hot in this CPU's cache, for this worker's next sends:
         * a receiver helped on either of two producers' workers otherwise
         * sends every block back across CPUs to be missed on again. */
        atomic_store_explicit(&n->next, self->free[cls], memory_order_relaxed);
        self->free[cls] = n;
        self->adopted[cls]++;
        return;
    }
    /* Append at the tail: the owner reuses blocks in the order it sent them. */
    batch *b = &self->returns[origin->index * TRI_POOL_CLASSES + cls];
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    if (b->tail)
        atomic_store_explicit(&b->tail->next, n, memory_order_relaxed);
    else
        b->head = n;
    b->tail = n;
    if (++b->n == TRI_POOL_RETURN_BATCH) {
        push_remote(origin, cls, b->head, b->tail);
        b->head = b->tail = NULL;
        b->n = 0;
    }
}

void tri_msgpool_flush(tri_msgpool *self)
{
    for (unsigned i = 0; i < self->nworkers; i++) {
        for (unsigned cls = 0; cls < TRI_POOL_CLASSES; cls++) {
            batch *b = &self->returns[i * TRI_POOL_CLASSES + cls];
            if (b->head)
                push_remote(self->pools[i], cls, b->head, b->tail);
            b->head = b->tail = NULL;
            b->n = 0;
        }
    }
}
