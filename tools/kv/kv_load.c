/* kv: the mixed, self-checking load (kv_load.h). */
#include "kv_load.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_PUT, OP_GET, OP_DEL, OP_SIZE };
static const char *const op_names[] = {"put", "get", "del", "size"};

#define MAX_VALUE (256u * 1024)
#define REAP_SLACK_NS (30LL * 1000 * 1000 * 1000) /* beyond an ask's deadline */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*, seeded per thread and per value. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}
static uint64_t rng_below(uint64_t *s, uint64_t n) { return rng_next(s) % n; }
static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t h = (a ^ (b + 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull;
    return (h ^ (h >> 33)) | 1;
}

typedef struct key_model {
    uint32_t ver, len;
    bool present;
} key_model;

struct worker;

/* One ask in flight. Its continuation fills t1 and f and links it into
 * the worker's done list; everything else is the worker thread's. */
typedef struct slot {
    struct worker *w;
    int next_done;
    uint8_t op;
    bool timed, present;
    uint32_t key, ver, len, shard;
    uint64_t mine;
    int64_t t0, t1;
    tr_future *f;
} slot;

typedef struct worker {
    const kv_router *r;
    const kv_load_opts *o;
    unsigned id;
    pthread_t thread;
    char **keys;
    uint32_t *kshard;
    key_model *model;
    uint64_t *mine; /* per shard: this thread's keys present there */
    uint8_t *scratch;
    uint64_t rng;
    slot slots[KV_LOAD_MAX_WINDOW];
    int free_list[KV_LOAD_MAX_WINDOW];
    unsigned nfree;
    pthread_mutex_t mu; /* guards done_head and waiting (continuations take it) */
    pthread_cond_t cv;
    int done_head;
    bool waiting;
    bool stuck; /* an answer never came: its slot may still be written */
    uint64_t *lat;
    size_t nlat;
    kv_load_result res;
    int64_t t_start, t_end;
} worker;

static void fail(worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(worker *w, const char *fmt, ...)
{
    if (!w->res.errors++) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(w->res.first_error, sizeof w->res.first_error, "thread %u: ", w->id);
        vsnprintf(w->res.first_error + n, sizeof w->res.first_error - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static void fill(uint8_t *p, uint32_t len, uint64_t seed)
{
    uint64_t s = seed;
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
}

static uint64_t value_seed(const worker *w, uint32_t key, uint32_t ver)
{
    return mix(mix(w->o->seed, w->id), ((uint64_t)key << 32) | ver);
}

static uint32_t pick_len(worker *w)
{
    uint64_t k = rng_below(&w->rng, 1000);
    if (k < 200)
        return 0;
    if (k < 800)
        return 1 + (uint32_t)rng_below(&w->rng, 100);
    if (k < 950)
        return 100 + (uint32_t)rng_below(&w->rng, 3900);
    if (k < 995 || !w->o->large)
        return 4000 + (uint32_t)rng_below(&w->rng, 28768);
    return 65536 + (uint32_t)rng_below(&w->rng, MAX_VALUE - 65536 + 1);
}

/* The answer's continuation, on whichever thread completed it. */
static void on_answer(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    slot *s = arg;
    worker *w = s->w;
    s->t1 = now_ns();
    tr_future_retain(f);
    s->f = f;
    pthread_mutex_lock(&w->mu);
    s->next_done = w->done_head;
    w->done_head = (int)(s - w->slots);
    if (w->waiting)
        pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void check(worker *w, slot *s)
{
    const char *key = w->keys[s->key];
    if (s->timed && s->t1 >= s->t0)
        w->lat[w->nlat++] = (uint64_t)(s->t1 - s->t0);
    int code = tr_future_code(s->f);
    if (code) {
        fail(w, "%s \"%.40s\": %s (%s)", op_names[s->op], key, tr_errname(code),
             tr_future_error(s->f) ? tr_future_error(s->f) : "");
        return;
    }
    if (s->op == OP_PUT) {
        const tr_bool *replaced = kv_put_result(s->f);
        if (!replaced || *replaced != s->present)
            fail(w, "put \"%.40s\": replaced=%d, expected %d", key, replaced ? *replaced : -1,
                 s->present);
    } else if (s->op == OP_GET) {
        const kv_got *g = kv_get_result(s->f);
        if (!g) {
            fail(w, "get \"%.40s\": no value", key);
            return;
        }
        if (g->found != s->present) {
            fail(w, "get \"%.40s\": found=%d, expected %d%s", key, g->found, s->present,
                 s->present ? "" : " (it was deleted, or never put)");
            return;
        }
        w->res.found += g->found;
        if (!g->found)
            return;
        fill(w->scratch, s->len, value_seed(w, s->key, s->ver));
        if (g->value.len != s->len || (s->len && memcmp(g->value.data, w->scratch, s->len)))
            fail(w, "get \"%.40s\": %u bytes not those put (version %u, %u bytes)", key,
                 g->value.len, s->ver, s->len);
    } else {
        const tr_u64 *n = kv_size_result(s->f);
        uint64_t others = (uint64_t)(w->o->threads - 1) * w->o->keys;
        if (!n || *n < s->mine || *n > s->mine + others)
            fail(w, "size of shard %u: %lld, expected %llu to %llu", s->shard,
                 n ? (long long)*n : -1LL, (unsigned long long)s->mine,
                 (unsigned long long)(s->mine + others));
    }
}

/* Checks every answer that has come; with `block`, waits for one first. */
static void reap(worker *w, bool block)
{
    int64_t timeout = w->o->timeout_ns ? w->o->timeout_ns : TR_DEFAULT_ASK_TIMEOUT_NS;
    int64_t dl = now_ns() + timeout + REAP_SLACK_NS;
    struct timespec ts = {(time_t)(dl / 1000000000LL), (long)(dl % 1000000000LL)};
    pthread_mutex_lock(&w->mu);
    while (block && w->done_head < 0) {
        w->waiting = true;
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT && w->done_head < 0) {
            w->stuck = true; /* the deadline should have answered it long ago */
            break;
        }
    }
    w->waiting = false;
    int head = w->done_head;
    w->done_head = -1;
    pthread_mutex_unlock(&w->mu);
    if (block && head < 0)
        fail(w, "no answer within %lld ms of an ask's deadline",
             (long long)(REAP_SLACK_NS / 1000000));
    while (head >= 0) {
        slot *s = &w->slots[head];
        head = s->next_done;
        check(w, s);
        tr_future_release(s->f);
        s->f = NULL;
        w->free_list[w->nfree++] = (int)(s - w->slots);
    }
}

static unsigned inflight(const worker *w) { return w->o->window - w->nfree; }

/* Makes one call and updates the model as the shard will see it. */
static void issue(worker *w, uint8_t op, uint32_t key, bool timed)
{
    key_model *m = &w->model[key];
    tr_gateway *gw = kv_router_shard(w->r, w->kshard[key]);
    tr_str k = w->keys[key];
    if (op == OP_DEL) {
        int rv = kv_del(gw, &k);
        if (rv) {
            fail(w, "del \"%.40s\": %s", k, tr_errname(rv));
            return;
        }
        w->res.dels++;
        if (m->present)
            w->mine[w->kshard[key]]--;
        m->present = false;
        return;
    }
    while (!w->nfree && !w->stuck)
        reap(w, true);
    if (w->stuck)
        return;
    slot *s = &w->slots[w->free_list[--w->nfree]];
    s->op = op;
    s->timed = timed;
    s->key = key;
    s->present = m->present;
    s->ver = m->ver;
    s->len = m->len;
    int64_t timeout = w->o->timeout_ns;
    int rv;
    s->t0 = now_ns();
    if (op == OP_PUT) {
        uint32_t len = pick_len(w), ver = m->ver + 1;
        fill(w->scratch, len, value_seed(w, key, ver));
        kv_entry e = {k, {w->scratch, len}};
        rv = kv_put_then(gw, &e, timeout, on_answer, s);
        if (!rv) {
            if (!m->present)
                w->mine[w->kshard[key]]++;
            *m = (key_model){ver, len, true};
            w->res.puts++;
        }
    } else if (op == OP_GET) {
        rv = kv_get_then(gw, &k, timeout, on_answer, s);
        w->res.gets += !rv;
    } else {
        s->shard = (uint32_t)rng_below(&w->rng, kv_router_shards(w->r));
        s->mine = w->mine[s->shard];
        rv = kv_size_then(kv_router_shard(w->r, s->shard), NULL, timeout, on_answer, s);
        w->res.sizes += !rv;
    }
    if (rv) {
        fail(w, "%s \"%.40s\": %s", op_names[op], k, tr_errname(rv));
        w->free_list[w->nfree++] = (int)(s - w->slots);
    }
}

static void drain(worker *w)
{
    while (inflight(w) && !w->stuck)
        reap(w, true);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    uint64_t n = w->o->ops / w->o->threads + (w->id < w->o->ops % w->o->threads);
    w->t_start = now_ns();
    for (uint64_t i = 0; i < n && !w->stuck; i++) {
        uint64_t k = rng_below(&w->rng, 100);
        uint8_t op = k < 35 ? OP_PUT : k < 80 ? OP_GET : k < 95 ? OP_DEL : OP_SIZE;
        issue(w, op, (uint32_t)rng_below(&w->rng, w->o->keys), true);
    }
    drain(w);
    w->t_end = now_ns();
    /* Every key once more: what the model says, deleted ones absent. */
    for (uint32_t key = 0; key < w->o->keys && !w->stuck; key++)
        issue(w, OP_GET, key, false);
    drain(w);
    return NULL;
}

static int worker_init(worker *w, const kv_router *r, const kv_load_opts *o, unsigned id)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->o = o;
    w->id = id;
    w->rng = mix(o->seed, 1000 + id);
    w->done_head = -1;
    for (unsigned i = 0; i < o->window; i++) {
        w->slots[i].w = w;
        w->free_list[w->nfree++] = (int)i;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    w->keys = calloc(o->keys, sizeof *w->keys);
    w->kshard = calloc(o->keys, sizeof *w->kshard);
    w->model = calloc(o->keys, sizeof *w->model);
    w->mine = calloc(kv_router_shards(r), sizeof *w->mine);
    w->scratch = malloc(MAX_VALUE);
    w->lat = calloc(o->ops / o->threads + 1, sizeof *w->lat);
    if (!w->keys || !w->kshard || !w->model || !w->mine || !w->scratch || !w->lat)
        return TR_ENOMEM;
    for (uint32_t i = 0; i < o->keys; i++) {
        /* Mostly short keys, one in 16 of 100-300 bytes; thread 0 owns "". */
        uint64_t h = mix(id, i);
        size_t pad = h % 16 == 0 ? 100 + (h >> 8) % 201 : (h >> 8) % 9;
        char *k = malloc(32 + pad);
        if (!k)
            return TR_ENOMEM;
        int n = id == 0 && i == 0 ? 0 : snprintf(k, 32, "t%u.%u.", id, i);
        if (n == 0)
            pad = 0;
        for (size_t j = 0; j < pad; j++)
            k[n + j] = (char)('a' + (h + j) % 26);
        k[n + pad] = '\0';
        w->keys[i] = k;
        w->kshard[i] = (uint32_t)kv_shard_of(r, k);
    }
    return 0;
}

static void worker_free(worker *w)
{
    for (uint32_t i = 0; w->keys && i < w->o->keys; i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->kshard);
    free(w->model);
    free(w->mine);
    free(w->scratch);
    free(w->lat);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* With every thread done: each shard's size against the models. */
static void check_sizes(const kv_router *r, const kv_load_opts *o, worker *ws,
                        kv_load_result *out)
{
    for (size_t sh = 0; sh < kv_router_shards(r); sh++) {
        uint64_t want = 0;
        for (unsigned t = 0; t < o->threads; t++)
            want += ws[t].mine[sh];
        tr_future *f;
        int rv = kv_size(kv_router_shard(r, sh), NULL, o->timeout_ns, &f);
        if (!rv) {
            rv = tr_future_get(f, REAP_SLACK_NS);
            const tr_u64 *n = kv_size_result(f);
            if (!rv && (!n || *n != want) && !out->errors++)
                snprintf(out->first_error, sizeof out->first_error,
                         "at the end, shard %zu holds %lld keys, the models say %llu", sh,
                         n ? (long long)*n : -1LL, (unsigned long long)want);
            tr_future_release(f);
        }
        if (rv && !out->errors++)
            snprintf(out->first_error, sizeof out->first_error, "final size of shard %zu: %s",
                     sh, tr_errname(rv));
        out->ops++;
        out->sizes++;
    }
}

int kv_load_run(const kv_router *r, const kv_load_opts *o, kv_load_result *out)
{
    memset(out, 0, sizeof *out);
    if (!r || !o || !o->threads || o->threads > KV_LOAD_MAX_THREADS || !o->window ||
        o->window > KV_LOAD_MAX_WINDOW || !o->keys || o->keys > (1u << 24) || !o->ops)
        return TR_EINVAL;
    worker *ws = calloc(o->threads, sizeof *ws);
    if (!ws)
        return TR_ENOMEM;
    int rv = 0;
    unsigned started = 0;
    for (unsigned t = 0; t < o->threads && !rv; t++)
        if ((rv = worker_init(&ws[t], r, o, t)) != 0)
            worker_free(&ws[t]);
        else
            started = t + 1;
    unsigned created = 0;
    for (unsigned t = 0; t < started && !rv; t++)
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]))
            rv = TR_EIO; /* the threads already running still finish below */
        else
            created++;
    bool stuck = false;
    for (unsigned t = 0; t < created; t++) {
        pthread_join(ws[t].thread, NULL);
        stuck |= ws[t].stuck;
    }
    size_t nlat = 0;
    int64_t t0 = INT64_MAX, t1 = 0;
    for (unsigned t = 0; t < started && !rv; t++) {
        const kv_load_result *x = &ws[t].res;
        out->ops += x->puts + x->gets + x->dels + x->sizes;
        out->puts += x->puts;
        out->gets += x->gets;
        out->dels += x->dels;
        out->sizes += x->sizes;
        out->found += x->found;
        if (x->errors && !out->errors)
            memcpy(out->first_error, x->first_error, sizeof out->first_error);
        out->errors += x->errors;
        nlat += ws[t].nlat;
        t0 = ws[t].t_start < t0 ? ws[t].t_start : t0;
        t1 = ws[t].t_end > t1 ? ws[t].t_end : t1;
    }
    if (!rv && !stuck) {
        check_sizes(r, o, ws, out);
        out->seconds = (double)(t1 - t0) / 1e9;
        uint64_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
        if (all) {
            size_t k = 0;
            for (unsigned t = 0; t < started; t++)
                for (size_t i = 0; i < ws[t].nlat; i++)
                    all[k++] = ws[t].lat[i];
            qsort(all, nlat, sizeof *all, cmp_u64);
            out->asks = nlat;
            if (nlat) {
                out->p50_ns = all[nlat / 2];
                out->p99_ns = all[nlat * 99 / 100];
                out->max_ns = all[nlat - 1];
            }
            free(all);
        }
    }
    /* A stuck worker's slot may still be written by a late continuation:
     * its memory is left alone (the run failed anyway). */
    for (unsigned t = 0; t < started && !stuck; t++)
        worker_free(&ws[t]);
    if (!stuck)
        free(ws);
    return rv;
}
