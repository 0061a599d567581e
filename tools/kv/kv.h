/* kv: a sharded key-value store on troupe, written as the example a
 * service developer would copy (README "Build a service").
 *
 * The gateway, declared once:
 *
 *   put   ASK   kv_entry {key, value} -> tr_bool  true when it replaced a value
 *   get   ASK   tr_str key  -> kv_got {found, value}
 *   del   TELL  tr_str key              removed if there (no answer)
 *   size  ASK   tr_void     -> tr_u64   keys held by this shard
 *
 * A shard is an endpoint ("kv-0", "kv-1", ...) holding a hash table in its
 * state; its handlers run one at a time on its main thread, so the table
 * needs no lock. A server process hosts a few shards (kv_serve); a client
 * routes each key by its hash to one shard of one server (kv_router). Calls
 * from one thread to one shard are handled in the order made (S21), so a
 * del followed by a get of the same key from the same thread finds it gone,
 * with no need to wait for the del.
 *
 * A NULL key is refused (put and get fail with TR_EINVAL; a del of it is a
 * handler error, logged and counted). Keys and values are copied into the
 * shard; a get's answer is a copy the caller reads from its future. */
#ifndef TROUPE_KV_H
#define TROUPE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/troupe.h"

#define KV_ENTRY_FIELDS(F) F(tr_str, key) F(tr_bytes, value)
TR_STRUCT(kv_entry, KV_ENTRY_FIELDS)

#define KV_GOT_FIELDS(F) F(tr_bool, found) F(tr_bytes, value)
TR_STRUCT(kv_got, KV_GOT_FIELDS)

#define KV_METHODS(M)                                                         \
    M(kv, put, kv_entry, tr_bool, ASK)                                        \
    M(kv, get, tr_str, kv_got, ASK)                                           \
    M(kv, del, tr_str, tr_void, TELL)                                         \
    M(kv, size, tr_void, tr_u64, ASK)
TR_GATEWAY(kv, KV_METHODS)

#define KV_SHARDS_PER_SERVER 2 /* what troupe-kv serve hosts by default */
#define KV_MAX_SHARDS 64

/* The 64-bit FNV-1a hash of a key; the router takes it modulo the number
 * of shards. */
uint64_t kv_hash(const char *key);

/* ---- the server side (kv_server.c) ----------------------------------------------- */

/* Creates and starts shards "kv-0" .. "kv-<n-1>" on svc; their handles in
 * eps[0..n-1] (the caller releases them). 0 or a TR_E* code (then none is
 * left running). */
int kv_serve(tr_service *svc, unsigned n, tr_endpoint **eps);

/* ---- the client side (kv_router.c) ------------------------------------------------ */

typedef struct kv_router kv_router;

/* Connects to `per_server` shards on each of `nservers` servers, in
 * order: servers[i] is "host:port", or NULL for shards in svc's own
 * process. On 0, *out is a router the caller frees with kv_router_close
 * (before tr_service_destroy). Errors as tr_service_connect (what failed:
 * tr_service_connect_error()), TR_EINVAL, TR_ENOMEM. */
int kv_router_open(tr_service *svc, const char *const *servers, size_t nservers,
                   unsigned per_server, kv_router **out);
void kv_router_close(kv_router *r);

size_t kv_router_shards(const kv_router *r);
/* The shard a key lives on, and its gateway (valid while the router is). */
size_t kv_shard_of(const kv_router *r, const char *key);
tr_gateway *kv_router_shard(const kv_router *r, size_t shard);
static inline tr_gateway *kv_route(const kv_router *r, const char *key)
{
    return kv_router_shard(r, kv_shard_of(r, key));
}

#endif
