/* Savina's quicksort and apsp as plain actors.
 *
 * quicksort: an actor per partition; below the threshold a partition is
 * sorted sequentially (Savina's filter-based quicksort) and returned to
 * the parent, which joins left + equal + right. Arrays travel by pointer,
 * their ownership with the message.
 *
 * apsp: Floyd-Warshall on a 300-node graph in 50x50 blocks, one actor per
 * block; every iteration each block sends its block to the others of its
 * row and column. A block's data is shared read-only between the
 * receivers, reference-counted. */
#include "savina.h"

enum { T_SORT = 1, T_RESULT, T_INIT, T_BLOCK };

/* ---- quicksort */

typedef struct { int64_t *v; size_t n; } vec;

static vec filter(vec in, int64_t lo, int64_t hi) /* the items in [lo, hi] */
{
    vec out = {malloc((in.n ? in.n : 1) * sizeof *in.v), 0};
    if (!out.v)
        abort(); /* out of memory in a benchmark: nothing sensible to do */
    for (size_t i = 0; i < in.n; i++)
        if (in.v[i] >= lo && in.v[i] <= hi)
            out.v[out.n++] = in.v[i];
    return out;
}

static vec concat3(vec a, vec b, vec c) /* frees all three */
{
    vec out = {malloc((a.n + b.n + c.n + 1) * sizeof *a.v), 0};
    if (!out.v)
        abort();
    if (a.n) /* (memcpy from NULL is undefined even for 0 bytes) */
        memcpy(out.v, a.v, a.n * sizeof *a.v);
    if (b.n)
        memcpy(out.v + a.n, b.v, b.n * sizeof *b.v);
    if (c.n)
        memcpy(out.v + a.n + b.n, c.v, c.n * sizeof *c.v);
    out.n = a.n + b.n + c.n;
    free(a.v);
    free(b.v);
    free(c.v);
    return out;
}

static vec qsort_seq(vec d) /* Savina's sequential quicksort; frees d */
{
    if (d.n < 2)
        return d;
    int64_t p = d.v[d.n / 2];
    vec l = qsort_seq(filter(d, INT64_MIN, p - 1)), e = filter(d, p, p),
        r = qsort_seq(filter(d, p + 1, INT64_MAX));
    free(d.v);
    return concat3(l, e, r);
}

enum { LEFT, RIGHT, ROOT };
typedef struct { vec v; int pos; } q_msg;
typedef struct {
    sv_ctx *c;
    tr_actor *parent;
    int64_t threshold, n;
    int pos, frags;
    vec res;
    _Atomic int64_t *bad; /* root: misorders found, -1 until then */
} qs_st;

static void qs_stop(tr_actor *self, void *state)
{
    (void)self;
    qs_st *s = state;
    if (s->parent)
        tr_actor_release(s->parent);
    free(s->res.v);
}

static void qs_beh(tr_actor *self, void *state, tr_msg *m);

static void qs_done(tr_actor *self, qs_st *s)
{
    if (s->parent) {
        sv_tell(s->c, s->parent, T_RESULT, &(q_msg){s->res, s->pos}, sizeof(q_msg));
        s->res = (vec){NULL, 0};
    } else { /* the root checks, as Savina's does */
        int64_t bad = (int64_t)s->res.n != s->n;
        for (size_t i = 1; i < s->res.n; i++)
            bad += s->res.v[i] < s->res.v[i - 1];
        atomic_store_explicit(s->bad, bad, memory_order_relaxed); /* signal's release */
        bench_done_signal(&s->c->done);
    }
    tr_actor_stop(self);
}

static void qs_child(qs_st *s, tr_actor *self, vec part, int pos)
{
    tr_actor *x = sv_spawn_stop(s->c, qs_beh, qs_stop, sizeof(qs_st));
    if (!x) {
        free(part.v);
        return;
    }
    tr_actor_retain(self); /* the child's reference to us */
    *(qs_st *)tr_actor_state(x) = (qs_st){s->c, self, s->threshold, 0, pos, 0, {NULL, 0}, NULL};
    sv_tell(s->c, x, T_SORT, &(q_msg){part, pos}, sizeof(q_msg));
    tr_actor_release(x);
}

static void qs_beh(tr_actor *self, void *state, tr_msg *m)
{
    qs_st *s = state;
    q_msg x = *(q_msg *)tr_msg_data(m);
    uint32_t tag = m->tag;
    tr_msg_free(m);
    if (tag == T_SORT && (int64_t)x.v.n < s->threshold) {
        s->res = qsort_seq(x.v);
        qs_done(self, s);
    } else if (tag == T_SORT) {
        int64_t p = x.v.v[x.v.n / 2];
        qs_child(s, self, filter(x.v, INT64_MIN, p - 1), LEFT);
        qs_child(s, self, filter(x.v, p + 1, INT64_MAX), RIGHT);
        s->res = filter(x.v, p, p);
        free(x.v.v);
        s->frags = 1;
    } else {
        s->res = x.pos == LEFT ? concat3(x.v, s->res, (vec){NULL, 0})
                               : concat3(s->res, x.v, (vec){NULL, 0});
        if (++s->frags == 3)
            qs_done(self, s);
    }
}

int sv_quicksort(sv_ctx *c)
{
    int64_t n = SV_P(c, 1000000, 100000), max = (int64_t)1 << 60, t = 2048, seed = 1024;
    sv_param(c, "n=%lld,m=%lld,t=%lld,s=%lld", (long long)n, (long long)max, (long long)t,
             (long long)seed);
    _Atomic int64_t bad = -1;
    vec d = {malloc((size_t)n * sizeof(int64_t)), (size_t)n};
    tr_actor *root = d.v ? sv_spawn_stop(c, qs_beh, qs_stop, sizeof(qs_st)) : NULL;
    if (!root) {
        free(d.v);
        return BENCH_FAIL;
    }
    sv_rand r = sv_rand_seed(seed);
    for (int64_t i = 0; i < n; i++)
        d.v[i] = sv_next_long(&r) % max;
    *(qs_st *)tr_actor_state(root) = (qs_st){c, NULL, t, n, ROOT, 0, {NULL, 0}, &bad};
    sv_tell(c, root, T_SORT, &(q_msg){d, ROOT}, sizeof(q_msg));
    int rv = sv_wait(c, "the sorted array at the root");
    int64_t nbad = atomic_load_explicit(&bad, memory_order_relaxed); /* after the wait's acquire */
    if (rv == BENCH_OK && nbad)
        rv = sv_fail(c, "the result has the wrong length or %lld items out of order",
                     (long long)nbad);
    tr_actor_release(root);
    return rv;
}

/* ---- apsp */

typedef struct blk { _Atomic int64_t refs; int64_t d[]; } blk;

static blk *blk_new(int64_t b)
{
    blk *x = malloc(sizeof *x + (size_t)(b * b) * sizeof(int64_t));
    if (x)
        atomic_init(&x->refs, 1);
    return x;
}
static void blk_put(blk *x)
{
    /* acq_rel: the last holder's free sees every reader's reads done. */
    if (x && atomic_fetch_sub_explicit(&x->refs, 1, memory_order_acq_rel) == 1)
        free(x);
}

typedef struct { int64_t k, src; blk *data; } b_msg;
typedef struct {
    sv_ctx *c;
    tr_actor **all;
    _Atomic int64_t *finished;
    int64_t id, b, nodes, dim, k, got[2];
    blk *cur;
    blk **from[2]; /* by iteration parity: each block's data, by block id */
} ap_st;

static void ap_stop(tr_actor *self, void *state)
{
    (void)self;
    ap_st *s = state;
    for (int p = 0; p < 2; p++) {
        for (int64_t i = 0; s->from[p] && i < s->dim * s->dim; i++)
            blk_put(s->from[p][i]);
        free(s->from[p]);
    }
    /* cur stays: the main thread reads it, then frees it */
}

static void ap_notify(ap_st *s)
{
    int64_t row = s->id / s->dim, col = s->id % s->dim;
    for (int64_t i = 0; i < s->dim * s->dim; i++) {
        if (i == s->id || (i / s->dim != row && i % s->dim != col))
            continue;
        /* relaxed: taken before the send, which publishes the block. */
        atomic_fetch_add_explicit(&s->cur->refs, 1, memory_order_relaxed);
        sv_tell(s->c, s->all[i], T_BLOCK, &(b_msg){s->k, s->id, s->cur}, sizeof(b_msg));
    }
}

static int64_t ap_at(ap_st *s, blk **nb, int64_t r, int64_t col)
{
    int64_t id = (r / s->b) * s->dim + col / s->b;
    blk *x = id == s->id ? s->cur : nb[id];
    return x->d[(r % s->b) * s->b + col % s->b];
}

static int par(int64_t k) { return (int)((k + 2) % 2); } /* k is -1 for the initial data */

/* Iteration k + 1 from every neighbour's data of iteration k (slot par(k)). */
static bool ap_step(ap_st *s)
{
    blk **nb = s->from[par(s->k)];
    blk *next = blk_new(s->b);
    if (!next)
        return false;
    int64_t k = s->k + 1, r0 = (s->id / s->dim) * s->b, c0 = (s->id % s->dim) * s->b;
    for (int64_t i = 0; i < s->b; i++)
        for (int64_t j = 0; j < s->b; j++) {
            int64_t via = ap_at(s, nb, r0 + i, k) + ap_at(s, nb, k, c0 + j);
            int64_t old = s->cur->d[i * s->b + j];
            next->d[i * s->b + j] = via < old ? via : old;
        }
    for (int64_t i = 0; i < s->dim * s->dim; i++) {
        blk_put(nb[i]);
        nb[i] = NULL;
    }
    s->got[par(s->k)] = 0;
    blk_put(s->cur);
    s->cur = next;
    s->k = k;
    return true;
}

static void ap_beh(tr_actor *self, void *state, tr_msg *m)
{
    ap_st *s = state;
    if (m->tag == T_INIT) {
        tr_msg_free(m);
        ap_notify(s);
        return;
    }
    b_msg x = *(b_msg *)tr_msg_data(m);
    tr_msg_free(m);
    /* A neighbour is at most one iteration ahead (it needs our data). */
    if (s->from[par(x.k)][x.src] || (x.k != s->k && x.k != s->k + 1)) {
        blk_put(x.data);
        bench_done_fail(&s->c->done, "apsp: block %lld at %lld got iteration %lld",
                        (long long)s->id, (long long)s->k, (long long)x.k);
        return;
    }
    s->from[par(x.k)][x.src] = x.data;
    s->got[par(x.k)]++;
    /* Early data may complete the next iteration at once: loop. */
    while (s->k < s->nodes - 1 && s->got[par(s->k)] == 2 * (s->dim - 1)) {
        if (!ap_step(s)) {
            bench_done_fail(&s->c->done, "apsp: out of memory");
            return;
        }
        if (s->k < s->nodes - 1)
            ap_notify(s); /* nobody needs the last iteration's data */
    }
    if (s->k == s->nodes - 1) {
        /* acq_rel: the last block to finish sees the others' results. */
        if (atomic_fetch_add_explicit(s->finished, 1, memory_order_acq_rel) + 1 == s->dim * s->dim)
            bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

int sv_apsp(sv_ctx *c)
{
    int64_t n = SV_P(c, 300, 100), b = SV_P(c, 50, 25), w = 100, dim = n / b;
    sv_param(c, "n=%lld,b=%lld,w=%lld", (long long)n, (long long)b, (long long)w);
    int64_t *g = malloc((size_t)(n * n) * sizeof *g);
    size_t na = (size_t)(dim * dim);
    tr_actor **a = calloc(na, sizeof *a);
    _Atomic int64_t finished = 0;
    int rv = g && a ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK) {
        sv_rand r = sv_rand_seed(n);
        for (int64_t i = 0; i < n; i++) {
            g[i * n + i] = 0;
            for (int64_t j = i + 1; j < n; j++)
                g[i * n + j] = g[j * n + i] = sv_next_int(&r, (int)w) + 1;
        }
    }
    for (size_t i = 0; i < na && rv == BENCH_OK; i++) {
        blk *cur = blk_new(b);
        blk **f0 = calloc(na, sizeof *f0), **f1 = calloc(na, sizeof *f1);
        if (!cur || !f0 || !f1 || !(a[i] = sv_spawn_stop(c, ap_beh, ap_stop, sizeof(ap_st)))) {
            free(cur), free(f0), free(f1);
            rv = BENCH_FAIL;
            break;
        }
        int64_t r0 = ((int64_t)i / dim) * b, c0 = ((int64_t)i % dim) * b;
        for (int64_t y = 0; y < b; y++)
            for (int64_t x = 0; x < b; x++)
                cur->d[y * b + x] = g[(r0 + y) * n + c0 + x];
        *(ap_st *)tr_actor_state(a[i]) =
            (ap_st){c, a, &finished, (int64_t)i, b, n, dim, -1, {0, 0}, cur, {f0, f1}};
    }
    for (size_t i = 0; i < na && rv == BENCH_OK; i++)
        sv_tell(c, a[i], T_INIT, NULL, 0);
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every block's last iteration");
    if (rv == BENCH_OK) {
        SV_CHECK_BEGIN(c); /* Floyd-Warshall, sequentially */
        for (int64_t k = 0; k < n; k++)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++)
                    if (g[i * n + k] + g[k * n + j] < g[i * n + j])
                        g[i * n + j] = g[i * n + k] + g[k * n + j];
        SV_CHECK_END(c);
        for (size_t i = 0; i < na && rv == BENCH_OK; i++) {
            ap_st *s = tr_actor_state(a[i]);
            int64_t r0 = ((int64_t)i / dim) * b, c0 = ((int64_t)i % dim) * b;
            for (int64_t y = 0; y < b * b && rv == BENCH_OK; y++)
                if (s->cur->d[y] != g[(r0 + y / b) * n + c0 + y % b])
                    rv = sv_fail(c, "block %zu: distance %lld, expected %lld", i,
                                 (long long)s->cur->d[y],
                                 (long long)g[(r0 + y / b) * n + c0 + y % b]);
        }
    }
    for (size_t i = 0; a && i < na; i++)
        if (a[i]) {
            blk_put(((ap_st *)tr_actor_state(a[i]))->cur); /* stopped, or never will run again */
            ((ap_st *)tr_actor_state(a[i]))->cur = NULL;
        }
    sv_release_all(a, a ? na : 0);
    free(g);
    return rv;
}
