/* kv: the client side's router (kv.h): one gateway per shard, a key's
 * shard by its hash. Gateways are thread-safe, so one router serves every
 * thread of the client. */
#include <stdio.h>
#include <stdlib.h>

#include "kv.h"

struct kv_router {
    size_t n;
    tr_gateway *shards[];
};

int kv_router_open(tr_service *svc, const char *const *servers, size_t nservers,
                   unsigned per_server, kv_router **out)
{
    if (!svc || !servers || !out || !nservers || !per_server ||
        nservers * per_server > KV_MAX_SHARDS)
        return TR_EINVAL;
    size_t n = nservers * per_server;
    kv_router *r = calloc(1, sizeof *r + n * sizeof r->shards[0]);
    if (!r)
        return TR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *host = servers[i / per_server];
        char addr[320];
        if (host)
            snprintf(addr, sizeof addr, "troupe://%s/kv-%zu", host, i % per_server);
        else
            snprintf(addr, sizeof addr, "kv-%zu", i % per_server);
        int rv = tr_service_connect(svc, addr, &kv_gateway, &r->shards[i]);
        if (rv) {
            r->n = i;
            kv_router_close(r);
            return rv;
        }
    }
    r->n = n;
    *out = r;
    return 0;
}

void kv_router_close(kv_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        tr_gateway_release(r->shards[i]);
    free(r);
}

size_t kv_router_shards(const kv_router *r) { return r->n; }
size_t kv_shard_of(const kv_router *r, const char *key) { return (size_t)(kv_hash(key) % r->n); }
tr_gateway *kv_router_shard(const kv_router *r, size_t shard) { return r->shards[shard]; }
