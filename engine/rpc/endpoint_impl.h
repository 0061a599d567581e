/* The endpoint's layout, shared by the files of engine/rpc/.
 *
 * An endpoint lives in the state of its actor (one allocation): this struct, the
 * copied gateway list, the id and address strings, then the user's state.
 * It counts its own references (`refs`) and holds one actor reference for
 * all of them, released when the last goes; so the termination future and
 * other leftovers are released exactly when nobody can ask for them.
 *
 * Fields are grouped by who writes them:
 *   immutable after tr_endpoint_create  (read by any thread)
 *   any thread (atomics)                terminate/start flags, epoch, drops
 *   the main thread only                lifecycle, token, counters
 * The main thread's counters are single-writer: a relaxed load and store,
 * read by anyone with a relaxed load (never torn). */
#ifndef TRI_RPC_ENDPOINT_IMPL_H
#define TRI_RPC_ENDPOINT_IMPL_H

#include <stdalign.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc/msg.h"
#include "rpc/rcu.h"
#include "rpc/timer.h"
#include "rpc/watch.h"
#include "troupe/actor.h"
#include "troupe/endpoint.h"

enum tri_ep_life { TRI_EP_CREATED, TRI_EP_STARTED, TRI_EP_STOPPING, TRI_EP_TERMINATED };

struct tr_endpoint {
    /* immutable */
    tr_actor *actor;
    tr_service *svc;
    const tr_gateway_impl *impls; /* inline copy */
    uint32_t nimpls;
    uint32_t id_len;
    const char *id;               /* inline */
    const char *address;          /* inline, "local://<id>" */
    uint64_t id_hash;
    void *state;                  /* inline, 16-aligned */
    size_t state_size;
    int (*on_start)(tr_endpoint *self, void *state);
    int (*on_stop)(tr_endpoint *self, void *state, tr_future **out);
    void (*on_cleanup)(tr_endpoint *self, void *state);
    bool fenced;
    tr_future *termination;       /* completed by the actor's on_stop hook */
    struct tri_method_metrics *mm; /* inline, one per method of every gateway */
    uint32_t nmm;
    uint32_t mm_base[TRI_RPC_MAX_GATEWAYS]; /* gateway i's first method in mm */

    /* the registry's link, and the deferred release of its reference */
    struct cds_lfht_node reg_node;
    tri_deferred reg_release;

    /* the service's list of endpoints (under svc->endpoints_lock) */
    tr_endpoint *all_next, *all_prev;

    /* any thread */
    alignas(64) _Atomic uint32_t refs; /* handles, gateways, registry,
                                          continuations, and one "alive"
                                          reference dropped by the actor's
                                          on_stop hook; together they hold
                                          one actor reference */
    _Atomic uint32_t start_sent, terminate_sent;
    _Atomic uint64_t fence_epoch;     /* main thread stores (release) */
    _Atomic uint64_t dropped_at_send; /* senders that found it terminated */
    _Atomic uint32_t life_seen;       /* `life` for other threads (relaxed) */
    tri_watch_list watchers;          /* who watches it (watch.h; own lock) */

    /* the main thread (then the drop path, after the last turn) */
    alignas(64) uint8_t life;
    bool has_token;
    bool stop_hook_ran;   /* the actor's on_stop hook ran */
    tr_fence_token token;
    tr_future *stop_future;
    int fail_code;
    char *fail_msg;
    tr_watch *watching;   /* the watches it holds (watch.h) */
    uint32_t ref_cache;   /* references taken in bulk for its continuations
                             (tri_endpoint_ref_own); released by on_stop */
    struct tri_stream_table *streams; /* streams open to it (stream.c); NULL: none yet */
    _Atomic uint64_t processed, dropped, handler_errors, decoded;
    _Atomic uint64_t rejected[TR_REJECT_COUNT_];
    _Atomic uint64_t mailbox_hwm;
};

_Static_assert(offsetof(struct tr_endpoint, refs) % 64 == 0, "senders' fields start a line");
_Static_assert(offsetof(struct tr_endpoint, life) % 64 == 0, "main-thread fields start a line");

/* Single-writer counter bump (see the top). */
static inline void tri_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Takes back a tri_count (a call that had no handler after all). */
static inline void tri_uncount(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - 1,
                          memory_order_relaxed);
}

/* Sets the lifecycle state (main thread), mirrored for listings. */
static inline void tri_endpoint_set_life(tr_endpoint *ep, enum tri_ep_life l)
{
    ep->life = (uint8_t)l;
    /* relaxed: informational (introspection), nothing is published by it. */
    atomic_store_explicit(&ep->life_seen, l, memory_order_relaxed);
}

/* The endpoint inside an actor's state: the state is only 16-aligned, so it
 * starts at the first 64-byte boundary (the groups above are cache lines). */
#define TRI_EP_ALIGN 64
static inline tr_endpoint *tri_endpoint_in(void *actor_state)
{
    uintptr_t p = (uintptr_t)actor_state;
    return (tr_endpoint *)((p + TRI_EP_ALIGN - 1) & ~(uintptr_t)(TRI_EP_ALIGN - 1));
}

/* The endpoint whose turn runs on this thread, or NULL. */
tr_endpoint *tri_endpoint_current(void);

/* The endpoints' behaviour (endpoint.c): an actor running it is an
 * endpoint's. */
void tri_ep_behavior(tr_actor *a, void *state, tr_msg *m);

/* Takes / drops a reference. Dropping does nothing while the service is
 * being destroyed (its actors are freed wholesale then). Any thread. */
void tri_endpoint_ref(tr_endpoint *ep);
void tri_endpoint_unref(tr_endpoint *ep);

/* The same for a reference a continuation of ep's own holds: main thread
 * only (ep is tri_endpoint_current()). They come from and go back to
 * ep->ref_cache, refilled TRI_EP_REF_BULK at a time, so an ask's round trip does
 * no read-modify-write on ep->refs; the cache's references are real ones
 * (any thread may drop a continuation's with tri_endpoint_unref) and go
 * with the actor's on_stop hook. */
enum { TRI_EP_REF_BULK = 64 };

static inline void tri_endpoint_ref_own(tr_endpoint *ep)
{
    if (__builtin_expect(!ep->ref_cache, 0)) {
        if (ep->stop_hook_ran) { /* e.g. an ask from on_cleanup: no cache now */
            tri_endpoint_ref(ep);
            return;
        }
        /* relaxed: as tri_endpoint_ref (we hold the alive reference). */
        atomic_fetch_add_explicit(&ep->refs, TRI_EP_REF_BULK, memory_order_relaxed);
        ep->ref_cache = TRI_EP_REF_BULK;
    }
    ep->ref_cache--;
}

static inline void tri_endpoint_unref_own(tr_endpoint *ep)
{
    if (ep->ref_cache < 2 * TRI_EP_REF_BULK && !ep->stop_hook_ran)
        ep->ref_cache++;
    else
        tri_endpoint_unref(ep);
}

/* Fencing (fencing.c). Checks the fencing data at `p` (described by the
 * message flags) against the endpoint's token; 0 or TR_EFENCED with a
 * message in buf. Main thread. */
int tri_fence_check(tr_endpoint *ep, unsigned flags, const void *p, char *buf, size_t len);
/* Bytes of fencing data a message with these flags carries (msg.h). */
static inline size_t tri_fence_bytes(unsigned flags)
{
    return (flags & TRI_RF_TOKEN)   ? sizeof(tr_fence_token)
           : (flags & TRI_RF_EPOCH) ? sizeof(uint64_t)
                                    : 0;
}
/* "0123...:89ab..." (33 bytes with the NUL). */
void tri_fence_format(const tr_fence_token *t, char out[33]);

/* Message handling (dispatch.c, async.c), on the main thread. */
void tri_dispatch_call(tr_endpoint *ep, tr_msg *m);
void tri_dispatch_batch(tr_endpoint *ep, tr_msg *m);
void tri_dispatch_run(tr_endpoint *ep, tr_msg *m);
/* A message the endpoint will never process (on_drop): fail its future. */
void tri_dispatch_drop(tr_endpoint *ep, tr_msg *m, int code, const char *why);
/* A delayed run that will never be posted (shutdown, or its endpoint gone):
 * lets its body release its argument; the caller frees the message. */
void tri_dispatch_release_run(tr_msg *m);
/* Counts a refusal. */
void tri_endpoint_reject(tr_endpoint *ep, tr_reject_reason r);

/* tr_endpoint_create for troupe's own endpoints: the id (required) may
 * start with TR_RESERVED_ID_PREFIX. */
int tri_endpoint_create_reserved(tr_service *svc, const tr_endpoint_opts *opts, tr_endpoint **out);

/* Posts a run/call message built by async.c: the local transport. */
int tri_endpoint_post(tr_endpoint *ep, tr_msg *m);

/* Frees the endpoint's stream table (stream.c), with no events: it is
 * being cleaned up. */
void tri_streams_free(tr_endpoint *ep);

#endif
