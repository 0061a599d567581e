/* Savina's pipelines and fork/join as plain actors: radixsort, sieve,
 * trapezoid, fib, nqueenk, recmatmul.
 *
 * Actors spawned by actors: a child that answers its parent holds a
 * reference to it (retained by the parent for the child, released in the
 * child's on_stop); the parent drops its reference to the child once it
 * has sent it its work (the child holds itself until it stops). */
#include <math.h>

#include "savina.h"

enum { T_VALUE = 1, T_EXIT, T_WORK, T_RESULT, T_DONE, T_STOP, T_START };

typedef struct { sv_ctx *c; tr_actor *parent; } child_st; /* every child's state begins so */

static void child_stop(tr_actor *self, void *state)
{
    (void)self;
    child_st *s = state;
    if (s->parent)
        tr_actor_release(s->parent);
}

/* Spawns a child of `self` whose state begins with child_st. */
static tr_actor *spawn_child(sv_ctx *c, tr_actor *self, tr_behavior *b, size_t size)
{
    tr_actor *a = sv_spawn_stop(c, b, child_stop, size);
    if (a) {
        child_st *s = tr_actor_state(a);
        s->c = c;
        if ((s->parent = self))
            tr_actor_retain(self);
    }
    return a;
}

/* ---- radixsort: a source, one sorter per bit (low to high), a validator */

typedef struct { sv_ctx *c; tr_actor *next; int64_t n, radix, seen, held; tr_msg **hold; } rsort_st;
typedef struct { sv_ctx *c; int64_t n, seen, bad, prev, sum; } rcheck_st;

static void rsort_beh(tr_actor *self, void *state, tr_msg *m)
{
    rsort_st *s = state;
    if (*bench_payload(m) & s->radix)
        s->hold[s->held++] = m; /* kept (it is ours) and sent after the zeros */
    else
        bench_send(s->next, m, &s->c->done);
    if (++s->seen == s->n) {
        for (int64_t i = 0; i < s->held; i++)
            bench_send(s->next, s->hold[i], &s->c->done);
        s->held = 0;
        tr_actor_stop(self);
    }
}

static void rsort_stop(tr_actor *self, void *state)
{
    (void)self;
    rsort_st *s = state;
    for (int64_t i = 0; i < s->held; i++)
        tr_msg_free(s->hold[i]);
    free(s->hold);
}

static void rcheck_beh(tr_actor *self, void *state, tr_msg *m)
{
    rcheck_st *s = state;
    int64_t v = *bench_payload(m);
    tr_msg_free(m);
    s->bad += v < s->prev;
    s->prev = v;
    s->sum += v;
    if (++s->seen == s->n) {
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

/* Sources, as Savina's: an actor that sends everything in one turn. */
typedef struct { sv_ctx *c; tr_actor *to; int64_t n, max, seed; } source_st;

static void rsource_beh(tr_actor *self, void *state, tr_msg *m)
{
    source_st *s = state;
    tr_msg_free(m);
    sv_rand r = sv_rand_seed(s->seed);
    for (int64_t i = 0; i < s->n; i++) {
        int64_t v = llabs(sv_next_long(&r)) % s->max;
        sv_tell(s->c, s->to, T_VALUE, &v, sizeof v);
    }
    tr_actor_stop(self);
}

static void ssource_beh(tr_actor *self, void *state, tr_msg *m)
{
    source_st *s = state;
    tr_msg_free(m);
    for (int64_t v = 3; v < s->n; v += 2)
        sv_tell(s->c, s->to, T_VALUE, &v, sizeof v);
    sv_tell(s->c, s->to, T_EXIT, NULL, 0);
    tr_actor_stop(self);
}

static int start_source(sv_ctx *c, tr_behavior *b, tr_actor *to, int64_t n, int64_t max,
                        int64_t seed)
{
    tr_actor *src = sv_spawn(c, b, sizeof(source_st));
    if (!src)
        return BENCH_FAIL;
    *(source_st *)tr_actor_state(src) = (source_st){c, to, n, max, seed};
    sv_tell(c, src, T_START, NULL, 0);
    tr_actor_release(src); /* it holds itself until it stops */
    return BENCH_OK;
}

int sv_radixsort(sv_ctx *c)
{
    int64_t n = SV_P(c, 100000, 10000), max = (int64_t)1 << 60, seed = 2048;
    sv_param(c, "n=%lld,m=%lld,s=%lld", (long long)n, (long long)max, (long long)seed);
    tr_actor **a = calloc(64, sizeof *a);
    size_t na = 0;
    int rv = a && (a[na] = sv_spawn(c, rcheck_beh, sizeof(rcheck_st))) ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK)
        *(rcheck_st *)tr_actor_state(a[na++]) = (rcheck_st){.c = c, .n = n};
    for (int64_t radix = max / 2; radix > 0 && rv == BENCH_OK; radix /= 2) {
        tr_actor *x = sv_spawn_stop(c, rsort_beh, rsort_stop, sizeof(rsort_st));
        tr_msg **hold = calloc((size_t)n, sizeof *hold);
        if (!x || !hold) {
            free(hold);
            rv = BENCH_FAIL;
            if (x)
                tr_actor_release(x);
            break;
        }
        *(rsort_st *)tr_actor_state(x) = (rsort_st){c, a[na - 1], n, radix, 0, 0, hold};
        a[na++] = x;
    }
    int64_t sum = 0;
    if (rv == BENCH_OK) {
        sv_rand r = sv_rand_seed(seed); /* what the source sends, summed */
        for (int64_t i = 0; i < n; i++)
            sum += llabs(sv_next_long(&r)) % max;
        rv = start_source(c, rsource_beh, a[na - 1], n, max, seed);
    }
    if (rv == BENCH_OK)
        rv = sv_wait(c, "the last value at the validator");
    if (rv == BENCH_OK) {
        rcheck_st *s = tr_actor_state(a[0]);
        if (s->bad || s->sum != sum)
            rv = sv_fail(c, "%lld values out of order, sum %lld, expected %lld", (long long)s->bad,
                         (long long)s->sum, (long long)sum);
    }
    sv_release_all(a, na);
    return rv;
}

/* ---- sieve: a chain of filters, each holding up to m primes */

typedef struct { child_st h; tr_actor *next; int64_t id, cap, have, *primes; _Atomic int64_t *total; } filter_st;

static void filter_stop(tr_actor *self, void *state)
{
    filter_st *s = state;
    if (s->next)
        tr_actor_release(s->next);
    free(s->primes);
    child_stop(self, state);
}

static void filter_beh(tr_actor *self, void *state, tr_msg *m)
{
    filter_st *s = state;
    sv_ctx *c = s->h.c;
    if (m->tag == T_EXIT) {
        if (s->next) {
            bench_send(s->next, m, &c->done);
        } else {
            tr_msg_free(m);
            /* relaxed: the signal's release publishes it to the waiter. */
            atomic_store_explicit(s->total, (s->id - 1) * s->cap + s->have, memory_order_relaxed);
            bench_done_signal(&c->done);
        }
        tr_actor_stop(self);
        return;
    }
    int64_t v = *bench_payload(m);
    for (int64_t i = 0; i < s->have; i++)
        if (v % s->primes[i] == 0) {
            tr_msg_free(m);
            return;
        }
    if (s->next) {
        bench_send(s->next, m, &c->done);
    } else if (s->have < s->cap) {
        s->primes[s->have++] = v;
        tr_msg_free(m);
    } else {
        tr_msg_free(m);
        tr_actor *x = sv_spawn_stop(c, filter_beh, filter_stop, sizeof(filter_st));
        int64_t *p = malloc((size_t)s->cap * sizeof *p);
        if (!x || !p) {
            free(p);
            bench_done_fail(&c->done, "sieve: out of memory");
            if (x)
                tr_actor_release(x);
            return;
        }
        p[0] = v;
        *(filter_st *)tr_actor_state(x) = (filter_st){{c, NULL}, NULL, s->id + 1, s->cap, 1, p, s->total};
        s->next = x; /* our reference: released in our on_stop */
    }
}

int sv_sieve(sv_ctx *c)
{
    int64_t n = SV_P(c, 100000, 10000), cap = 1000;
    sv_param(c, "n=%lld,m=%lld", (long long)n, (long long)cap);
    _Atomic int64_t total = -1;
    tr_actor *f = sv_spawn_stop(c, filter_beh, filter_stop, sizeof(filter_st));
    int64_t *p = malloc((size_t)cap * sizeof *p);
    if (!f || !p) {
        free(p);
        if (f)
            tr_actor_release(f);
        return BENCH_FAIL;
    }
    p[0] = 2;
    *(filter_st *)tr_actor_state(f) = (filter_st){{c, NULL}, NULL, 1, cap, 1, p, &total};
    int rv = start_source(c, ssource_beh, f, n, 0, 0);
    if (rv == BENCH_OK)
        rv = sv_wait(c, "the last filter");
    if (rv == BENCH_OK) {
        SV_CHECK_BEGIN(c);
        char *comp = calloc((size_t)n, 1);
        int64_t want = 0;
        for (int64_t i = 2; comp && i < n; i++)
            if (!comp[i]) {
                want++;
                for (int64_t j = i * i; j < n; j += i)
                    comp[j] = 1;
            }
        free(comp);
        SV_CHECK_END(c);
        /* relaxed: after the wait's acquire. */
        int64_t got = atomic_load_explicit(&total, memory_order_relaxed);
        if (got != want)
            rv = sv_fail(c, "%lld primes, expected %lld", (long long)got, (long long)want);
    }
    tr_actor_release(f);
    return rv;
}

/* ---- trapezoid: a master splits [l, r] among w workers */

static double fx(double x)
{
    double a = sin(pow(x, 3) - 1), b = x + 1, d = sqrt(1 + exp(sqrt(2 * x)));
    return a / b * d;
}

static double trap(double l, double r, double h)
{
    int n = (int)((r - l) / h);
    double acc = 0;
    for (int i = 0; i < n; i++) {
        double lx = i * h + l, rx = lx + h;
        acc += 0.5 * (fx(lx) + fx(rx)) * h;
    }
    return acc;
}

typedef struct { double l, r, h; } trap_work;
typedef struct { sv_ctx *c; tr_actor *master; } tworker_st;
typedef struct { sv_ctx *c; int64_t w, got; double area, first; } tmaster_st;

static void tworker_beh(tr_actor *self, void *state, tr_msg *m)
{
    tworker_st *s = state;
    trap_work *x = tr_msg_data(m);
    double area = trap(x->l, x->r, x->h);
    m->tag = T_RESULT;
    *(double *)tr_msg_data(m) = area;
    bench_send(s->master, m, &s->c->done);
    tr_actor_stop(self);
}

static void tmaster_beh(tr_actor *self, void *state, tr_msg *m)
{
    tmaster_st *s = state;
    if (s->got == 0 && m->tag == T_RESULT)
        s->first = *(double *)tr_msg_data(m);
    s->area += *(double *)tr_msg_data(m);
    tr_msg_free(m);
    if (++s->got == s->w) {
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

int sv_trapezoid(sv_ctx *c)
{
    int64_t n = SV_P(c, 10000000, 1000000), w = 100;
    double l = 1, r = 5, h = (r - l) / (double)n;
    sv_param(c, "n=%lld,w=%lld,l=1,r=5", (long long)n, (long long)w);
    tr_actor **a = calloc((size_t)w + 1, sizeof *a);
    int rv = a && (a[w] = sv_spawn(c, tmaster_beh, sizeof(tmaster_st))) ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK)
        *(tmaster_st *)tr_actor_state(a[w]) = (tmaster_st){.c = c, .w = w};
    for (int64_t i = 0; i < w && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, tworker_beh, sizeof(tworker_st))))
            rv = BENCH_FAIL;
        else
            *(tworker_st *)tr_actor_state(a[i]) = (tworker_st){c, a[w]};
    }
    double range = (r - l) / (double)w;
    for (int64_t i = 0; i < w && rv == BENCH_OK; i++) { /* the master's split */
        double wl = range * (double)i + l;
        sv_tell(c, a[i], T_WORK, &(trap_work){wl, wl + range, h}, sizeof(trap_work));
    }
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every worker's area");
    if (rv == BENCH_OK) {
        /* Check: a coarse integral of our own (1/100 of the pieces). */
        SV_CHECK_BEGIN(c);
        double ref = trap(l, r, h * 100);
        SV_CHECK_END(c);
        tmaster_st *s = tr_actor_state(a[w]);
        if (!(fabs(s->area - ref) < 1e-3 * fabs(ref) + 1e-6))
            rv = sv_fail(c, "area %.12f, a coarse reference says %.12f", s->area, ref);
    }
    sv_release_all(a, a ? (size_t)w + 1 : 0);
    return rv;
}

/* ---- fib: every call an actor with two children */

typedef struct { child_st h; int64_t result, answers; _Atomic int64_t *out; } fib_st;

static void fib_answer(tr_actor *self, fib_st *s, tr_msg *m)
{
    if (s->h.parent) {
        m->tag = T_RESULT;
        *bench_payload(m) = s->result;
        bench_send(s->h.parent, m, &s->h.c->done);
    } else {
        tr_msg_free(m);
        /* relaxed: published by the signal's release. */
        atomic_store_explicit(s->out, s->result, memory_order_relaxed);
        bench_done_signal(&s->h.c->done);
    }
    tr_actor_stop(self);
}

static void fib_beh(tr_actor *self, void *state, tr_msg *m)
{
    fib_st *s = state;
    int64_t v = *bench_payload(m);
    if (m->tag == T_WORK && v <= 2) {
        s->result = 1;
        fib_answer(self, s, m);
    } else if (m->tag == T_WORK) {
        tr_msg_free(m);
        for (int64_t k = 1; k <= 2; k++) {
            tr_actor *x = spawn_child(s->h.c, self, fib_beh, sizeof(fib_st));
            if (!x)
                return;
            int64_t arg = v - k;
            sv_tell(s->h.c, x, T_WORK, &arg, sizeof arg);
            tr_actor_release(x);
        }
    } else {
        s->result += v;
        if (++s->answers == 2)
            fib_answer(self, s, m);
        else
            tr_msg_free(m);
    }
}

int sv_fib(sv_ctx *c)
{
    int64_t n = SV_P(c, 25, 15);
    sv_param(c, "n=%lld", (long long)n);
    _Atomic int64_t out = -1;
    tr_actor *root = spawn_child(c, NULL, fib_beh, sizeof(fib_st));
    if (!root)
        return BENCH_FAIL;
    ((fib_st *)tr_actor_state(root))->out = &out;
    sv_tell(c, root, T_WORK, &n, sizeof n);
    int rv = sv_wait(c, "fib's answer");
    int64_t a = 0, b = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = a + b;
        a = b;
        b = t;
    }
    int64_t got = atomic_load_explicit(&out, memory_order_relaxed); /* after the wait's acquire */
    if (rv == BENCH_OK && got != a)
        rv = sv_fail(c, "fib(%lld) = %lld, expected %lld", (long long)n, (long long)got,
                     (long long)a);
    tr_actor_release(root);
    return rv;
}
