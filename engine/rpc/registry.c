/* The endpoint registry on liburcu's lfht (see registry.h for the
 * ordering argument). */
#include "rpc/registry.h"

#include <string.h>

#include "base/alloc.h"
#include "base/tsan.h"
#include "rpc/endpoint_impl.h"
#include "rpc/rcu.h"
#include "troupe/error.h"

struct tri_registry {
    struct cds_lfht *ht;
};

typedef struct key {
    const char *id;
    size_t len;
} key;

/* FNV-1a, not ck_ht_hash: ck's MurmurHash64A is 1.5-2x faster on 16-byte ids
 * (148-195 M vs 93-97 M hashes/s, troupe-ckbench hash) but only through a
 * ck_ht; this runs once per create and lookup, never per call. */
uint64_t tri_registry_hash(const char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)id[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static tr_endpoint *entry_of(struct cds_lfht_node *n)
{
    return (tr_endpoint *)((char *)n - offsetof(tr_endpoint, reg_node));
}

static int match(struct cds_lfht_node *n, const void *k)
{
    const key *want = k;
    tr_endpoint *ep = entry_of(n);
    /* TSan cannot see lfht's publication (inline-asm atomics): the adder's
     * release is annotated in tri_registry_add. */
    TRI_HB_ACQUIRE(ep);
    return ep->id_len == want->len && memcmp(ep->id, want->id, want->len) == 0;
}

int tri_registry_create(tri_registry **out)
{
    tri_registry *r = tri_zalloc(sizeof *r);
    if (!r)
        return TR_ENOMEM;
    r->ht = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
    if (!r->ht) {
        tri_free(r, sizeof *r);
        return TR_ENOMEM;
    }
    *out = r;
    return 0;
}

void tri_registry_destroy(tri_registry *r)
{
    if (!r)
        return;
    /* Not from a read-side critical section, nor a call_rcu thread. */
    cds_lfht_destroy(r->ht, NULL);
    tri_free(r, sizeof *r);
}

int tri_registry_add(tri_registry *r, tr_endpoint *ep)
{
    tri_rcu_ensure_registered();
    key k = {ep->id, ep->id_len};
    cds_lfht_node_init(&ep->reg_node);
    TRI_HB_RELEASE(ep);
    rcu_read_lock();
    struct cds_lfht_node *got = cds_lfht_add_unique(r->ht, ep->id_hash, match, &k, &ep->reg_node);
    rcu_read_unlock();
    return got == &ep->reg_node ? 0 : TR_EEXISTS;
}

bool tri_registry_remove(tri_registry *r, tr_endpoint *ep)
{
    tri_rcu_ensure_registered();
    rcu_read_lock();
    int rv = cds_lfht_del(r->ht, &ep->reg_node);
    rcu_read_unlock();
    return rv == 0;
}

tr_endpoint *tri_registry_lookup(tri_registry *r, const char *id, size_t len)
{
    tri_rcu_ensure_registered();
    key k = {id, len};
    struct cds_lfht_iter it;
    rcu_read_lock();
    cds_lfht_lookup(r->ht, tri_registry_hash(id, len), match, &k, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    tr_endpoint *ep = NULL;
    if (n) {
        ep = entry_of(n);
        /* Safe inside the critical section: the entry's own reference is
         * released only after a grace period (registry.h). */
        tri_endpoint_ref(ep);
    }
    rcu_read_unlock();
    return ep;
}

int tri_registry_snapshot(tri_registry *r, tr_endpoint ***out, size_t *n)
{
    tri_rcu_ensure_registered();
    size_t cap = 16, len = 0;
    tr_endpoint **v = tri_alloc(cap * sizeof *v);
    if (!v)
        return TR_ENOMEM;
    int rv = 0;
    struct cds_lfht_iter it;
    struct cds_lfht_node *node;
    rcu_read_lock();
    cds_lfht_for_each(r->ht, &it, node) {
        if (len == cap) {
            tr_endpoint **nv = tri_realloc(v, cap * sizeof *v, 2 * cap * sizeof *v);
            if (!nv) {
                rv = TR_ENOMEM;
                break;
            }
            v = nv;
            cap *= 2;
        }
        tr_endpoint *ep = entry_of(node);
        TRI_HB_ACQUIRE(ep);
        tri_endpoint_ref(ep);
        v[len++] = ep;
    }
    rcu_read_unlock();
    if (rv) {
        for (size_t i = 0; i < len; i++)
            tri_endpoint_unref(v[i]);
        tri_free(v, cap * sizeof *v);
        return rv;
    }
    /* An exact-size copy, so the caller frees with the count it knows. */
    tr_endpoint **exact = tri_alloc((len ? len : 1) * sizeof *exact);
    if (!exact) {
        for (size_t i = 0; i < len; i++)
            tri_endpoint_unref(v[i]);
        tri_free(v, cap * sizeof *v);
        return TR_ENOMEM;
    }
    memcpy(exact, v, len * sizeof *v);
    tri_free(v, cap * sizeof *v);
    *out = exact;
    *n = len;
    return 0;
}
