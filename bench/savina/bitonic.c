/* Savina's bitonicsort: a sorting network of actors (StreamIt's bitonic
 * sort). Every compare-exchange is an actor; splitters deal values round
 * robin, joiners collect them back in order; adapters tag values with the
 * position of the branch they come from. n values enter, sorted ones leave.
 *
 * The network is built by the main thread before the first value (CAF's
 * builds it as its actors start); the main thread keeps a reference to
 * every actor, so their pointers are safe to hold until the run is over. */
#include "savina.h"

enum { T_VALUE = 1, T_DATA, T_EXIT, T_START };

typedef struct { int64_t order, value; } bt_msg; /* T_VALUE ignores order */

typedef struct { sv_ctx *c; tr_actor **all; size_t n, cap; } net;

static tr_actor *net_add(net *w, tr_behavior *b, tr_on_stop *stop, size_t size)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        tr_actor **all = realloc(w->all, cap * sizeof *all);
        if (!all)
            return NULL;
        w->all = all;
        w->cap = cap;
    }
    tr_actor *a = sv_spawn_stop(w->c, b, stop, size);
    if (a)
        w->all[w->n++] = a;
    return a;
}

/* ---- relays: forward, changing the tag (and the order) on the way */

enum { RELAY, TO_DATA, TO_VALUE };
typedef struct { sv_ctx *c; tr_actor *next; int64_t order; int kind; } relay_st;

static void relay_beh(tr_actor *self, void *state, tr_msg *m)
{
    relay_st *s = state;
    if (m->tag == T_EXIT)
        tr_actor_stop(self);
    else if (s->kind == TO_DATA && m->tag == T_VALUE) {
        m->tag = T_DATA;
        ((bt_msg *)tr_msg_data(m))->order = s->order;
    } else if (s->kind == TO_VALUE) {
        m->tag = T_VALUE;
    }
    bench_send(s->next, m, &s->c->done);
}

static tr_actor *mk_relay(net *w, int kind, int64_t order, tr_actor *next)
{
    tr_actor *a = next ? net_add(w, relay_beh, NULL, sizeof(relay_st)) : NULL;
    if (a)
        *(relay_st *)tr_actor_state(a) = (relay_st){w->c, next, order, kind};
    return a;
}

/* ---- round-robin splitter: `length` values to each receiver in turn */

typedef struct { sv_ctx *c; tr_actor **to; int64_t n, length, idx, run; } split_st;

static void split_stop(tr_actor *self, void *state)
{
    (void)self;
    free(((split_st *)state)->to);
}

static void split_beh(tr_actor *self, void *state, tr_msg *m)
{
    split_st *s = state;
    if (m->tag == T_EXIT) {
        tr_msg_free(m);
        for (int64_t i = 0; i < s->n; i++)
            sv_tell(s->c, s->to[i], T_EXIT, NULL, 0);
        tr_actor_stop(self);
        return;
    }
    bench_send(s->to[s->idx], m, &s->c->done);
    if (++s->run == s->length) {
        s->idx = (s->idx + 1) % s->n;
        s->run = 0;
    }
}

static tr_actor *mk_split(net *w, int64_t length, tr_actor **to, int64_t n)
{
    tr_actor *a = to ? net_add(w, split_beh, split_stop, sizeof(split_st)) : NULL;
    if (a)
        *(split_st *)tr_actor_state(a) = (split_st){w->c, to, n, length, 0, 0};
    else
        free(to);
    return a;
}

/* ---- round-robin joiner: takes `length` values from each branch in turn */

typedef struct { int64_t *v; uint32_t head, len, cap; } jq;
typedef struct { sv_ctx *c; tr_actor *next; int64_t length, n, fwd, run, exits; jq *q; } join_st;

static void join_stop(tr_actor *self, void *state)
{
    (void)self;
    join_st *s = state;
    for (int64_t i = 0; s->q && i < s->n; i++)
        free(s->q[i].v);
    free(s->q);
}

static bool jq_push(jq *q, int64_t v)
{
    if (q->len == q->cap) { /* grow, unwrapping the ring */
        uint32_t cap = q->cap ? q->cap * 2 : 4;
        int64_t *nv = malloc(cap * sizeof *nv);
        if (!nv)
            return false;
        for (uint32_t i = 0; i < q->len; i++)
            nv[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = nv;
        q->head = 0;
        q->cap = cap;
    }
    q->v[(q->head + q->len++) % q->cap] = v;
    return true;
}

static void join_beh(tr_actor *self, void *state, tr_msg *m)
{
    join_st *s = state;
    if (m->tag == T_EXIT) {
        if (++s->exits == s->n) {
            bench_send(s->next, m, &s->c->done);
            tr_actor_stop(self);
        } else {
            tr_msg_free(m);
        }
        return;
    }
    bt_msg *x = tr_msg_data(m);
    if (x->order < 0 || x->order >= s->n || !jq_push(&s->q[x->order], x->value)) {
        tr_msg_free(m);
        bench_done_fail(&s->c->done, "bitonicsort: joiner: bad branch or out of memory");
        return;
    }
    tr_msg_free(m);
    for (jq *q = &s->q[s->fwd]; q->len; q = &s->q[s->fwd]) {
        int64_t v = q->v[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        sv_tell(s->c, s->next, T_VALUE, &(bt_msg){0, v}, sizeof(bt_msg));
        if (++s->run == s->length) {
            s->fwd = (s->fwd + 1) % s->n;
            s->run = 0;
        }
    }
}

static tr_actor *mk_join(net *w, int64_t length, int64_t n, tr_actor *next)
{
    jq *q = next ? calloc((size_t)n, sizeof *q) : NULL;
    tr_actor *a = q ? net_add(w, join_beh, join_stop, sizeof(join_st)) : NULL;
    if (a)
        *(join_st *)tr_actor_state(a) = (join_st){w->c, next, length, n, 0, 0, 0, q};
    else
        free(q);
    return a;
}

/* ---- compare-exchange: two values in, in order (up or down) out */

typedef struct { sv_ctx *c; tr_actor *next; int64_t order, k1; bool up, have; } ce_st;

static void ce_beh(tr_actor *self, void *state, tr_msg *m)
{
    ce_st *s = state;
    if (m->tag == T_EXIT) {
        bench_send(s->next, m, &s->c->done);
        tr_actor_stop(self);
        return;
    }
    int64_t k2 = ((bt_msg *)tr_msg_data(m))->value;
    tr_msg_free(m);
    if (!s->have) {
        s->have = true;
        s->k1 = k2;
        return;
    }
    s->have = false;
    int64_t lo = s->k1 <= k2 ? s->k1 : k2, hi = s->k1 <= k2 ? k2 : s->k1;
    sv_tell(s->c, s->next, T_DATA, &(bt_msg){s->order, s->up ? lo : hi}, sizeof(bt_msg));
    sv_tell(s->c, s->next, T_DATA, &(bt_msg){s->order, s->up ? hi : lo}, sizeof(bt_msg));
}

static tr_actor *mk_ce(net *w, int64_t order, bool up, tr_actor *next)
{
    tr_actor *a = next ? net_add(w, ce_beh, NULL, sizeof(ce_st)) : NULL;
    if (a)
        *(ce_st *)tr_actor_state(a) = (ce_st){w->c, next, order, 0, up, false};
    return a;
}

/* ---- the composite stages (each one relay in front of its parts) */

/* A bitonic sequence of `length` into two halves, every item of the first
 * <= every item of the second (up). */
static tr_actor *mk_partition(net *w, int64_t order, int64_t length, bool up, tr_actor *next)
{
    int64_t half = length / 2;
    tr_actor *j = mk_join(w, 1, half, mk_relay(w, TO_DATA, order, next));
    tr_actor **ce = j ? calloc((size_t)half, sizeof *ce) : NULL;
    for (int64_t i = 0; ce && i < half; i++)
        if (!(ce[i] = mk_ce(w, i, up, j))) {
            free(ce);
            ce = NULL;
        }
    return mk_relay(w, RELAY, 0, mk_split(w, 1, ce, half));
}

/* The branches of one step: partitions (or, at length 2, compare-exchanges)
 * whose direction alternates every `dc` branches (dc 0: always `up`). */
static tr_actor **mk_branches(net *w, int64_t length, int64_t nsp, int64_t dc, bool up,
                              tr_actor *j)
{
    tr_actor **b = j ? calloc((size_t)nsp, sizeof *b) : NULL;
    for (int64_t i = 0; b && i < nsp; i++) {
        bool dir = dc ? (i / dc) % 2 == 0 : up;
        b[i] = length > 2 ? mk_partition(w, i, length, dir, j) : mk_ce(w, i, dir, j);
        if (!b[i]) {
            free(b);
            b = NULL;
        }
    }
    return b;
}

static tr_actor *mk_step(net *w, int64_t length, int64_t nsp, int64_t dc, tr_actor *next)
{
    tr_actor *j = mk_join(w, length, nsp, mk_relay(w, TO_VALUE, 0, next));
    return mk_relay(w, RELAY, 0, mk_split(w, length, mk_branches(w, length, nsp, dc, true, j), nsp));
}

static tr_actor *mk_last_step(net *w, int64_t length, int64_t nsp, bool up, tr_actor *next)
{
    tr_actor *j = mk_join(w, length, nsp, next);
    return mk_relay(w, RELAY, 0, mk_split(w, length, mk_branches(w, length, nsp, 0, up, j), nsp));
}

static tr_actor *mk_merge(net *w, int64_t p, int64_t n, tr_actor *next)
{
    tr_actor *at = next;
    for (int64_t i = p / 2; i >= 1 && at; i /= 2)
        at = mk_step(w, p / i, (n / p) * i, i, at);
    return mk_relay(w, RELAY, 0, at);
}

static tr_actor *mk_last_merge(net *w, int64_t n, bool up, tr_actor *next)
{
    tr_actor *at = next;
    for (int64_t i = n / 2; i >= 1 && at; i /= 2)
        at = mk_last_step(w, n / i, i, up, at);
    return mk_relay(w, RELAY, 0, at);
}

static tr_actor *mk_kernel(net *w, int64_t n, bool up, tr_actor *next)
{
    tr_actor *at = mk_last_merge(w, n, up, next);
    for (int64_t i = n / 2; i >= 2 && at; i /= 2)
        at = mk_merge(w, i, n, at);
    return mk_relay(w, RELAY, 0, at);
}

/* ---- source and validation */

typedef struct { sv_ctx *c; tr_actor *to; int64_t n, max, seed; } bsrc_st;
typedef struct { sv_ctx *c; int64_t n, seen, bad, prev, sum; } bval_st;

static void bsrc_beh(tr_actor *self, void *state, tr_msg *m)
{
    bsrc_st *s = state;
    tr_msg_free(m);
    sv_rand r = sv_rand_seed(s->seed);
    for (int64_t i = 0; i < s->n; i++)
        sv_tell(s->c, s->to, T_VALUE, &(bt_msg){0, llabs(sv_next_long(&r)) % s->max},
                sizeof(bt_msg));
    sv_tell(s->c, s->to, T_EXIT, NULL, 0);
    tr_actor_stop(self);
}

static void bval_beh(tr_actor *self, void *state, tr_msg *m)
{
    bval_st *s = state;
    if (m->tag == T_EXIT) {
        tr_msg_free(m);
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
        return;
    }
    int64_t v = ((bt_msg *)tr_msg_data(m))->value;
    tr_msg_free(m);
    s->bad += v < s->prev;
    s->prev = v;
    s->sum += v;
    s->seen++;
}

int sv_bitonicsort(sv_ctx *c)
{
    int64_t n = SV_P(c, 4096, 1024), max = (int64_t)1 << 60, seed = 2048;
    sv_param(c, "n=%lld,m=%lld,s=%lld", (long long)n, (long long)max, (long long)seed);
    net w = {.c = c};
    tr_actor *val = net_add(&w, bval_beh, NULL, sizeof(bval_st));
    if (val)
        *(bval_st *)tr_actor_state(val) = (bval_st){.c = c, .n = n};
    tr_actor *kernel = mk_kernel(&w, n, true, mk_relay(&w, TO_VALUE, 0, val));
    tr_actor *src = kernel ? net_add(&w, bsrc_beh, NULL, sizeof(bsrc_st)) : NULL;
    int rv = src ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK) {
        *(bsrc_st *)tr_actor_state(src) = (bsrc_st){c, kernel, n, max, seed};
        bench_note("bitonicsort: %zu actors", w.n);
        sv_tell(c, src, T_START, NULL, 0);
        rv = sv_wait(c, "the exit at the validator");
    } else {
        sv_fail(c, "building the network failed");
    }
    if (rv == BENCH_OK) {
        int64_t sum = 0;
        sv_rand r = sv_rand_seed(seed);
        for (int64_t i = 0; i < n; i++)
            sum += llabs(sv_next_long(&r)) % max;
        bval_st *s = tr_actor_state(val);
        if (s->seen != n || s->bad || s->sum != sum)
            rv = sv_fail(c, "%lld values (%lld out of order), sum %lld; expected %lld, sum %lld",
                         (long long)s->seen, (long long)s->bad, (long long)s->sum, (long long)n,
                         (long long)sum);
    }
    sv_release_all(w.all, w.n);
    return rv;
}
