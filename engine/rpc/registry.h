/* The endpoint registry: id -> endpoint, one per service, on liburcu's
 * lock-free RCU hash table (lfht).
 *
 * Ordering and progress. Lookups are wait-free readers inside an RCU
 * read-side critical section; add (unique) and remove are lock-free. An
 * entry holds a reference to its endpoint's actor from add until a grace
 * period after remove (the release is deferred to the service timer
 * thread, rpc/timer.h), so a reader that found an entry may take its own
 * reference with a plain increment: the count cannot be zero before the
 * reader's critical section ends. Ids are unique while registered (S6);
 * an id is free again as soon as remove returns.
 *
 *   operation   threads   may run concurrently with
 *   add         any       add, remove, lookup, snapshot
 *   remove      any       add, remove, lookup, snapshot
 *   lookup      any       everything but destroy
 *   snapshot    any       everything but destroy
 *   destroy     one       nothing (the table must be empty)
 *
 * Every function registers the calling thread with RCU if needed. */
#ifndef TRI_RPC_REGISTRY_H
#define TRI_RPC_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/endpoint.h"

typedef struct tri_registry tri_registry;

int tri_registry_create(tri_registry **out);
void tri_registry_destroy(tri_registry *r);

/* FNV-1a of the id: the key's hash, kept in the endpoint. */
uint64_t tri_registry_hash(const char *id, size_t len);

/* Adds `ep` under its id. 0 or TR_EEXISTS. The caller gives the entry one
 * reference to ep on success. */
int tri_registry_add(tri_registry *r, tr_endpoint *ep);

/* Removes `ep` if registered; true when this call removed it (then the
 * caller defers the release of the entry's reference past a grace period). */
bool tri_registry_remove(tri_registry *r, tr_endpoint *ep);

/* The endpoint registered as `id`, with a reference the caller owns
 * (tr_endpoint_release), or NULL. */
tr_endpoint *tri_registry_lookup(tri_registry *r, const char *id, size_t len);

/* Every registered endpoint, each with a reference; *out is an array the
 * caller frees with tri_free(*out, (n ? n : 1) * sizeof **out). 0 or TR_ENOMEM. */
int tri_registry_snapshot(tri_registry *r, tr_endpoint ***out, size_t *n);

#endif
