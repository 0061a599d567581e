/* Savina's concdict and concsll, with endpoints: workers ask a dictionary
 * (or a sorted list) endpoint, one request at a time, the next sent from
 * the continuation of the last (Savina: the answer message triggers the
 * next request). */
#include "rpc_common.h"

TR_GATEWAY_DEFINE(svgo, SVGO_METHODS)

#define KV_FIELDS(F) F(tr_i64, key) F(tr_i64, value)
TR_STRUCT(sv_kv, KV_FIELDS)
TR_STRUCT_DEFINE(sv_kv, KV_FIELDS)

#define DICT_METHODS(M)                                                       \
    M(sdict, write, sv_kv, tr_i64, ASK)                                       \
    M(sdict, read, tr_i64, tr_i64, ASK)                                       \
    M(sdict, add, tr_i64, tr_i64, ASK)                                        \
    M(sdict, has, tr_i64, tr_i64, ASK)                                        \
    M(sdict, size, tr_void, tr_i64, ASK)                                      \
    M(sdict, check, tr_void, sv_kv, ASK) /* {items, misorders}: the end's check */
TR_GATEWAY(sdict, DICT_METHODS)
TR_GATEWAY_DEFINE(sdict, DICT_METHODS)

enum { KEYS = 65536, WRITE_PCT = 10, SIZE_PCT = 1 }; /* keys: the generator's range */

/* ---- the dictionary: keys below 65536 (the generator's range) index a table */

typedef struct { int64_t *val; uint8_t *present; int64_t size; } dict_st;

static int d_write(tr_endpoint *self, void *state, const sv_kv *a, tr_reply *r)
{
    (void)self;
    dict_st *s = state;
    if (a->key < 0 || a->key >= KEYS)
        return tr_reply_fail(r, TR_EINVAL, "key %lld", (long long)a->key);
    s->size += !s->present[a->key];
    s->present[a->key] = 1;
    s->val[a->key] = a->value;
    return sdict_write_reply(r, &a->value);
}

static int d_read(tr_endpoint *self, void *state, const tr_i64 *key, tr_reply *r)
{
    (void)self;
    dict_st *s = state;
    tr_i64 v = *key >= 0 && *key < KEYS && s->present[*key] ? s->val[*key] : -1;
    return sdict_read_reply(r, &v);
}

static int d_check(tr_endpoint *self, void *state, const tr_void *a, tr_reply *r)
{
    (void)self, (void)a;
    return sdict_check_reply(r, &(sv_kv){((dict_st *)state)->size, 0});
}

static void dict_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    dict_st *s = state;
    free(s->val);
    free(s->present);
}

/* ---- the sorted list */

typedef struct node { int64_t v; struct node *next; } node;
typedef struct { node *head; } list_st;

static int l_add(tr_endpoint *self, void *state, const tr_i64 *v, tr_reply *r)
{
    (void)self;
    list_st *s = state;
    node *n = malloc(sizeof *n);
    if (!n)
        return tr_reply_fail(r, TR_ENOMEM, "list node");
    n->v = *v;
    node **at = &s->head; /* after every item <= v, as Savina's list inserts */
    while (*at && (*at)->v <= *v)
        at = &(*at)->next;
    n->next = *at;
    *at = n;
    return sdict_add_reply(r, v);
}

static int l_has(tr_endpoint *self, void *state, const tr_i64 *v, tr_reply *r)
{
    (void)self;
    tr_i64 found = 0;
    for (node *n = ((list_st *)state)->head; n && !found; n = n->next)
        found = n->v == *v;
    return sdict_has_reply(r, &found);
}

static int l_size(tr_endpoint *self, void *state, const tr_void *a, tr_reply *r)
{
    (void)self, (void)a;
    tr_i64 k = 0;
    for (node *n = ((list_st *)state)->head; n; n = n->next)
        k++;
    return sdict_size_reply(r, &k);
}

static int l_check(tr_endpoint *self, void *state, const tr_void *a, tr_reply *r)
{
    (void)self, (void)a;
    sv_kv k = {0, 0};
    for (node *n = ((list_st *)state)->head; n; n = n->next, k.key++)
        k.value += n->next && n->next->v < n->v;
    return sdict_check_reply(r, &k);
}

static void list_cleanup(tr_endpoint *self, void *state)
{
    (void)self;
    for (node *n = ((list_st *)state)->head, *next; n; n = next) {
        next = n->next;
        free(n);
    }
}

static const sdict_handlers dict_h = {.write = d_write, .read = d_read, .check = d_check};
static const sdict_handlers list_h = {.add = l_add, .has = l_has, .size = l_size,
                                      .check = l_check};

/* ---- the workers */

typedef struct {
    sv_ctx *c;
    tr_gateway *to;
    _Atomic int64_t *finished;
    int64_t workers, m, sent, bad;
    int64_t expect; /* a write's answer: the value written; -2: none to check */
    sv_rand rnd;
    bool list;      /* concsll's mix, else concdict's */
} worker_st;

static void on_answer(tr_endpoint *self, tr_future *f, void *arg);

static void next_request(worker_st *s)
{
    if (s->sent == s->m) {
        /* acq_rel: the last finisher sees every worker's counts. */
        if (atomic_fetch_add_explicit(s->finished, 1, memory_order_acq_rel) + 1 == s->workers)
            bench_done_signal(&s->c->done);
        return;
    }
    s->sent++;
    int pick = sv_next_int(&s->rnd, 100), rv;
    s->expect = -2;
    if (!s->list && pick < WRITE_PCT) {
        sv_kv kv = {sv_next_long(&s->rnd), sv_next_long(&s->rnd)};
        s->expect = kv.value;
        rv = sdict_write_then(s->to, &kv, 0, on_answer, s);
    } else if (!s->list) {
        tr_i64 k = sv_next_long(&s->rnd);
        rv = sdict_read_then(s->to, &k, 0, on_answer, s);
    } else if (pick < SIZE_PCT) {
        rv = sdict_size_then(s->to, &(tr_void){0}, 0, on_answer, s);
    } else if (pick < SIZE_PCT + WRITE_PCT) {
        tr_i64 v = sv_next_long(&s->rnd);
        s->expect = v;
        rv = sdict_add_then(s->to, &v, 0, on_answer, s);
    } else {
        tr_i64 v = sv_next_long(&s->rnd);
        rv = sdict_has_then(s->to, &v, 0, on_answer, s);
    }
    if (rv)
        bench_done_fail(&s->c->done, "ask: %s", tr_strerror(rv));
}

static void on_answer(tr_endpoint *self, tr_future *f, void *arg)
{
    worker_st *s = arg;
    const tr_i64 *v = tr_future_value(f, &tr_i64__type);
    if (!self || !v) {
        bench_done_fail(&s->c->done, "answer: %s", self ? tr_future_error(f) : "dropped");
        return;
    }
    s->bad += s->expect != -2 && *v != s->expect;
    next_request(s);
}

static int w_go(tr_endpoint *self, void *state, const tr_void *a)
{
    (void)self, (void)a;
    next_request(state);
    return 0;
}
static const svgo_handlers worker_h = {.go = w_go};

/* Replays the workers' generators: the writes they make. */
static void replay(int64_t workers, int64_t m, bool list, uint8_t *written, int64_t *writes)
{
    for (int64_t id = 0; id < workers; id++) {
        sv_rand r = sv_rand_seed(id + m + WRITE_PCT);
        for (int64_t i = 0; i < m; i++) {
            int pick = sv_next_int(&r, 100);
            if (!list && pick < WRITE_PCT) {
                written[sv_next_long(&r)] = 1;
                sv_next_long(&r);
            } else if (list && pick >= SIZE_PCT && pick < SIZE_PCT + WRITE_PCT) {
                sv_next_long(&r);
                (*writes)++;
            } else if (list ? pick >= SIZE_PCT : 1) {
                sv_next_long(&r);
            }
        }
    }
}

static int run(sv_ctx *c, bool list)
{
    int64_t nw = 20, m = list ? SV_P(c, 8000, 800) : SV_P(c, 10000, 1000);
    if (list)
        sv_param(c, "e=%lld,m=%lld,w=%d,s=%d", (long long)nw, (long long)m, WRITE_PCT, SIZE_PCT);
    else
        sv_param(c, "e=%lld,m=%lld,w=%d", (long long)nw, (long long)m, WRITE_PCT);
    _Atomic int64_t finished = 0;
    tr_endpoint **eps = calloc((size_t)nw + 1, sizeof *eps); /* eps[nw]: the store */
    tr_gateway **gws = calloc((size_t)nw + 1, sizeof *gws);  /* to the store, to each worker */
    void *st = NULL;
    int rv = eps && gws ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK &&
        !(eps[nw] = sv_ep(c, sdict_impl(list ? &list_h : &dict_h),
                          list ? sizeof(list_st) : sizeof(dict_st),
                          list ? list_cleanup : dict_cleanup, &st)))
        rv = BENCH_FAIL;
    if (rv == BENCH_OK && !list) {
        dict_st *d = st;
        d->val = calloc(KEYS, sizeof *d->val);
        d->present = calloc(KEYS, 1);
        if (!d->val || !d->present)
            rv = sv_fail(c, "out of memory");
    }
    if (rv == BENCH_OK && (sv_ep_start(c, eps[nw]) || !(gws[nw] = sv_connect(c, eps[nw], &sdict_gateway))))
        rv = BENCH_FAIL;
    for (int64_t i = 0; i < nw && rv == BENCH_OK; i++) {
        worker_st *w;
        if (!(eps[i] = sv_ep(c, svgo_impl(&worker_h), sizeof(worker_st), NULL, (void **)&w))) {
            rv = BENCH_FAIL;
            break;
        }
        *w = (worker_st){.c = c, .to = gws[nw], .finished = &finished, .workers = nw, .m = m,
                         .rnd = sv_rand_seed(i + m + WRITE_PCT), .list = list};
        if (sv_ep_start(c, eps[i]) || !(gws[i] = sv_connect(c, eps[i], &svgo_gateway)))
            rv = BENCH_FAIL;
        else if (svgo_go(gws[i], &(tr_void){0}))
            rv = sv_fail(c, "go: tell failed");
    }
    if (rv == BENCH_OK)
        rv = sv_wait(c, "the workers' last answers");
    sv_kv store = {-1, -1}; /* what the store says it holds */
    if (rv == BENCH_OK) {
        tr_future *f = NULL;
        const sv_kv *k;
        if (sdict_check(gws[nw], &(tr_void){0}, 0, &f) || tr_future_get(f, -1) ||
            !(k = sdict_check_result(f)))
            rv = sv_fail(c, "the store's check failed");
        else
            store = *k;
        if (f)
            tr_future_release(f);
    }
    if (rv == BENCH_OK)
        rv = sv_ep_stop_all(c, eps, (size_t)nw + 1);
    if (rv == BENCH_OK) {
        int64_t bad = 0, writes = 0, want = 0, got = 0;
        for (int64_t i = 0; i < nw; i++)
            bad += ((worker_st *)tr_endpoint_state(eps[i]))->bad;
        uint8_t *written = calloc(KEYS, 1);
        if (!written)
            return sv_fail(c, "out of memory");
        replay(nw, m, list, written, &writes);
        want = writes;
        for (int k = 0; !list && k < KEYS; k++)
            want += written[k];
        got = store.key;
        bad += store.value;
        free(written);
        if (bad || got != want)
            rv = sv_fail(c, "%lld items stored, expected %lld; %lld wrong answers or misorders",
                         (long long)got, (long long)want, (long long)bad);
    }
    sv_release_gws(gws, gws ? (size_t)nw + 1 : 0);
    sv_release_eps(eps, eps ? (size_t)nw + 1 : 0);
    return rv;
}

int sv_concdict(sv_ctx *c) { return run(c, false); }
int sv_concsll(sv_ctx *c) { return run(c, true); }
