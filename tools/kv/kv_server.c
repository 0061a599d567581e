/* kv: a shard, the server side of the kv gateway (kv.h).
 *
 * The shard's state is a chained hash table of items, each one block
 * holding its key and value. Every handler runs on the shard's main
 * thread (S9), one at a time, so nothing here locks; on_cleanup frees the
 * table when the shard terminates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

typedef struct kv_item {
    struct kv_item *next;
    uint64_t hash;
    uint32_t klen, vlen;
    char data[]; /* the key, its NUL, then the value */
} kv_item;

typedef struct kv_shard {
    kv_item **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first put */
    uint64_t count;
} kv_shard;

/* The bucket takes the hash's high bits: the router used the low ones. */
static size_t bucket_of(const kv_shard *s, uint64_t h) { return (size_t)(h >> 32) & (s->nbuckets - 1); }

static kv_item **find(kv_shard *s, const char *key, uint64_t h)
{
    if (!s->nbuckets)
        return NULL;
    kv_item **p = &s->buckets[bucket_of(s, h)];
    for (; *p; p = &(*p)->next)
        if ((*p)->hash == h && !strcmp((*p)->data, key))
            return p;
    return p; /* where it would go */
}

/* Doubles the table (from 0: 64 buckets). 0 or TR_ENOMEM. */
static int grow(kv_shard *s)
{
    size_t n = s->nbuckets ? 2 * s->nbuckets : 64;
    kv_item **b = calloc(n, sizeof *b);
    if (!b)
        return TR_ENOMEM;
    kv_shard t = {b, n, s->count};
    for (size_t i = 0; i < s->nbuckets; i++)
        for (kv_item *it = s->buckets[i], *next; it; it = next) {
            next = it->next;
            size_t j = bucket_of(&t, it->hash);
            it->next = b[j];
            b[j] = it;
        }
    free(s->buckets);
    *s = t;
    return 0;
}

static int on_put(tr_endpoint *self, void *state, const kv_entry *arg, tr_reply *reply)
{
    (void)self;
    kv_shard *s = state;
    if (!arg->key)
        return tr_reply_fail(reply, TR_EINVAL, "kv.put: a NULL key");
    if (s->count >= 2 * s->nbuckets && grow(s))
        return TR_ENOMEM;
    size_t klen = strlen(arg->key);
    kv_item *it = malloc(sizeof *it + klen + 1 + arg->value.len);
    if (!it)
        return TR_ENOMEM;
    uint64_t h = kv_hash(arg->key);
    it->hash = h;
    it->klen = (uint32_t)klen;
    it->vlen = arg->value.len;
    memcpy(it->data, arg->key, klen + 1);
    if (arg->value.len)
        memcpy(it->data + klen + 1, arg->value.data, arg->value.len);
    kv_item **p = find(s, arg->key, h);
    tr_bool replaced = *p != NULL;
    if (replaced) { /* the new item takes the old one's place */
        it->next = (*p)->next;
        free(*p);
    } else {
        it->next = NULL;
        s->count++;
    }
    *p = it;
    return kv_put_reply(reply, &replaced);
}

static int on_get(tr_endpoint *self, void *state, const tr_str *key, tr_reply *reply)
{
    (void)self;
    if (!*key)
        return tr_reply_fail(reply, TR_EINVAL, "kv.get: a NULL key");
    kv_item **p = find(state, *key, kv_hash(*key));
    kv_got got = {false, {NULL, 0}};
    if (p && *p)
        got = (kv_got){true, {(*p)->data + (*p)->klen + 1, (*p)->vlen}};
    return kv_get_reply(reply, &got); /* copies the value out */
}

static int on_del(tr_endpoint *self, void *state, const tr_str *key)
{
    (void)self;
    kv_shard *s = state;
    if (!*key)
        return TR_EINVAL; /* a tell has nobody to answer: logged and counted */
    kv_item **p = find(s, *key, kv_hash(*key));
    if (p && *p) {
        kv_item *gone = *p;
        *p = gone->next;
        free(gone);
        s->count--;
    }
    return 0;
}

static int on_size(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    tr_u64 n = ((kv_shard *)state)->count;
    return kv_size_reply(reply, &n);
}

static void on_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    kv_shard *s = state;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (kv_item *it = s->buckets[i], *next; it; it = next) {
            next = it->next;
            free(it);
        }
    free(s->buckets);
    memset(s, 0, sizeof *s);
}

static const kv_handlers shard_handlers = {
    .put = on_put, .get = on_get, .del = on_del, .size = on_size};

int kv_serve(tr_service *svc, unsigned n, tr_endpoint **eps)
{
    if (!svc || !eps || !n || n > KV_MAX_SHARDS)
        return TR_EINVAL;
    tr_gateway_impl impls[] = {kv_impl(&shard_handlers)};
    for (unsigned i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "kv-%u", i);
        tr_endpoint_opts o = {.id = id, .gateways = impls, .ngateways = 1,
                              .state_size = sizeof(kv_shard), .on_cleanup = on_cleanup};
        int rv = tr_endpoint_create(svc, &o, &eps[i]);
        if (!rv && (rv = tr_endpoint_start(eps[i])) != 0)
            tr_endpoint_release(eps[i]);
        if (rv) {
            for (unsigned j = 0; j < i; j++) { /* undo: none stays */
                tr_endpoint_terminate(eps[j]);
                tr_endpoint_release(eps[j]);
            }
            return rv;
        }
    }
    return 0;
}
