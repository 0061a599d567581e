/* Per-worker message pool: 32- and 64-byte blocks for small messages
 * (payloads up to 8 and 40 bytes). Two 32-byte messages share a cache line,
 * which halves the line transfers of a producer/consumer pair: fanin p=1
 * went from ~31 to ~40 M msgs/s median when the 32-byte class came in.
 *
 * A block remembers the pool that carved it (its origin mark, core/msg.h),
 * whose chunk it lives in until the service ends. The owning worker
 * allocates and frees on a plain free list. Another worker of the service
 * keeps up to TRI_POOL_ADOPT_MAX such blocks per class on its own free list
 * for its own sends (they are hot in its cache: a receiver helped on either
 * of two producers' workers would otherwise send every block back across
 * CPUs, fanin p=2 40% -> 84-92% of 209b864 in the VM's slow phases); past
 * that it collects blocks for each origin in a local batch and hands a full
 * batch over with one CAS onto the origin's `remote` stack; any other
 * thread pushes single blocks there. The owner takes the whole stack with
 * one exchange when its free list runs dry. Push-chain and take-all never
 * pop a single node, so the stack has no ABA problem.
 *
 *   operation            thread              may run concurrently with
 *   alloc, free (own)    owner worker        remote push
 *   free (foreign)       other worker/thread alloc, free, remote push
 *   destroy              any, after every worker stopped
 */
#ifndef TRI_CORE_MSGPOOL_H
#define TRI_CORE_MSGPOOL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

#define TRI_POOL_CLASSES 2
#define TRI_POOL_MAX_PAYLOAD (64u - sizeof(tr_msg))
#define TRI_POOL_RETURN_BATCH 32u

/* What TR_MSG_ALLOC_DEFAULT means: the allocator troupe-bench measured
 * faster (README, "Message allocation"). Sanitizer builds use malloc so that
 * ASan sees every message's lifetime. */
#if defined(TROUPE_WITH_JEMALLOC)
#define TRI_MSG_ALLOC_MEASURED_BEST TR_MSG_ALLOC_POOL
#else
#define TRI_MSG_ALLOC_MEASURED_BEST TR_MSG_ALLOC_MALLOC
#endif

typedef struct tri_msgpool tri_msgpool;

/* `pools` is the array of every worker's pool (index = worker index). */
tri_msgpool *tri_msgpool_create(unsigned index, unsigned nworkers, tri_msgpool **pools);
void tri_msgpool_destroy(tri_msgpool *p);

/* Owner only; payload <= TRI_POOL_MAX_PAYLOAD. NULL when out of memory. */
tr_msg *tri_msgpool_alloc(tri_msgpool *p, size_t payload);
/* `self` is the calling worker's pool, or NULL from a non-worker thread. */
void tri_msgpool_free(tri_msgpool *self, tr_msg *m);
/* Owner only: hands every pending return batch back to its origin. */
void tri_msgpool_flush(tri_msgpool *self);

#endif
