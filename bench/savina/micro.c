/* Savina's micro-benchmarks as plain actors: pingpong, count, fjthrput,
 * fjcreate, threadring, chameneos, big.
 *
 * Handles: the main thread keeps a reference to every actor it spawns
 * until the run is over, so actors may pass each other's pointers in
 * messages (Savina's "sender" fields). A message an actor forwards is
 * passed on with a new tag where the payload fits, as troupe allows. */
#include <math.h>

#include "savina.h"

enum { T_START = 1, T_PING, T_PONG, T_STOP, T_INCR, T_RETRIEVE, T_RESULT, T_WORK, T_EXIT,
       T_NEXT, T_MEET, T_CHANGE, T_COUNT };

typedef struct { tr_actor *from; } from_msg;

/* ---- pingpong: ping sends, pong answers, ping pings itself for the next */

typedef struct { sv_ctx *c; tr_actor *pong, *self; int64_t left; } ping_st;
typedef struct { sv_ctx *c; int64_t pings; } pong_st;

static void ping_beh(tr_actor *self, void *state, tr_msg *m)
{
    ping_st *s = state;
    if (m->tag == T_START || m->tag == T_NEXT) {
        tr_msg_free(m);
        s->left--;
        sv_tell(s->c, s->pong, T_PING, &(from_msg){self}, sizeof(from_msg));
    } else if (s->left > 0) { /* a pong */
        m->tag = T_NEXT;
        bench_send(self, m, &s->c->done);
    } else {
        tr_msg_free(m);
        sv_tell(s->c, s->pong, T_STOP, NULL, 0);
        tr_actor_stop(self);
    }
}

static void pong_beh(tr_actor *self, void *state, tr_msg *m)
{
    pong_st *s = state;
    if (m->tag == T_PING) {
        s->pings++;
        tr_actor *to = ((from_msg *)tr_msg_data(m))->from;
        m->tag = T_PONG;
        bench_send(to, m, &s->c->done);
    } else {
        tr_msg_free(m);
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

int sv_pingpong(sv_ctx *c)
{
    int64_t n = SV_P(c, 40000, 4000);
    sv_param(c, "n=%lld", (long long)n);
    tr_actor *a[2] = {sv_spawn(c, pong_beh, sizeof(pong_st)), sv_spawn(c, ping_beh, sizeof(ping_st))};
    if (!a[0] || !a[1]) {
        for (int i = 0; i < 2; i++)
            if (a[i])
                tr_actor_release(a[i]);
        return BENCH_FAIL;
    }
    pong_st *po = tr_actor_state(a[0]);
    ping_st *pi = tr_actor_state(a[1]);
    *po = (pong_st){c, 0};
    *pi = (ping_st){c, a[0], a[1], n};
    sv_tell(c, a[1], T_START, NULL, 0);
    int rv = sv_wait(c, "the pong actor's stop");
    if (rv == BENCH_OK && po->pings != n)
        rv = sv_fail(c, "pong saw %lld pings, expected %lld", (long long)po->pings, (long long)n);
    for (int i = 0; i < 2; i++)
        tr_actor_release(a[i]);
    return rv;
}

/* ---- count: a producer sends n increments, then asks for the count */

typedef struct { sv_ctx *c; tr_actor *counter; int64_t n, result; } producer_st;
typedef struct { sv_ctx *c; int64_t count; } counter_st;

static void producer_beh(tr_actor *self, void *state, tr_msg *m)
{
    producer_st *s = state;
    if (m->tag == T_START) {
        tr_msg_free(m);
        for (int64_t i = 0; i < s->n; i++)
            sv_tell(s->c, s->counter, T_INCR, NULL, 0);
        sv_tell(s->c, s->counter, T_RETRIEVE, &(from_msg){self}, sizeof(from_msg));
    } else { /* T_RESULT */
        s->result = *bench_payload(m);
        tr_msg_free(m);
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

static void counter_beh(tr_actor *self, void *state, tr_msg *m)
{
    counter_st *s = state;
    if (m->tag == T_INCR) {
        s->count++;
        tr_msg_free(m);
    } else { /* T_RETRIEVE: answer in the same message */
        tr_actor *to = ((from_msg *)tr_msg_data(m))->from;
        m->tag = T_RESULT;
        *bench_payload(m) = s->count;
        bench_send(to, m, &s->c->done);
        tr_actor_stop(self);
    }
}

int sv_count(sv_ctx *c)
{
    int64_t n = SV_P(c, 1000000, 100000);
    sv_param(c, "n=%lld", (long long)n);
    tr_actor *a[2] = {sv_spawn(c, counter_beh, sizeof(counter_st)),
                      sv_spawn(c, producer_beh, sizeof(producer_st))};
    int rv = BENCH_FAIL;
    if (a[0] && a[1]) {
        producer_st *p = tr_actor_state(a[1]);
        *p = (producer_st){c, a[0], n, -1};
        *(counter_st *)tr_actor_state(a[0]) = (counter_st){c, 0};
        sv_tell(c, a[1], T_START, NULL, 0);
        rv = sv_wait(c, "the count");
        if (rv == BENCH_OK && p->result != n)
            rv = sv_fail(c, "counted %lld, expected %lld", (long long)p->result, (long long)n);
    }
    for (int i = 0; i < 2; i++)
        if (a[i])
            tr_actor_release(a[i]);
    return rv;
}

/* ---- fjthrput / fjcreate: messages that each cost a sine */

static int compute(double theta)
{
    double s = sin(theta);
    return s * s > 0; /* Savina throws on a non-positive result */
}

typedef struct { sv_ctx *c; _Atomic int64_t *finished; int64_t total, got, bad, actors; } thr_st;

static void thr_beh(tr_actor *self, void *state, tr_msg *m)
{
    thr_st *s = state;
    tr_msg_free(m);
    s->bad += !compute(37.2);
    if (++s->got == s->total) {
        /* acq_rel: the last finisher sees every other's counts. */
        if (atomic_fetch_add_explicit(s->finished, 1, memory_order_acq_rel) + 1 == s->actors)
            bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

int sv_fjthrput(sv_ctx *c)
{
    int64_t n = SV_P(c, 10000, 1000), na = 60;
    sv_param(c, "n=%lld,a=%lld", (long long)n, (long long)na);
    _Atomic int64_t finished = 0;
    tr_actor **a = calloc((size_t)na, sizeof *a);
    int rv = a ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < na && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, thr_beh, sizeof(thr_st))))
            rv = BENCH_FAIL;
        else
            *(thr_st *)tr_actor_state(a[i]) = (thr_st){c, &finished, n, 0, 0, na};
    }
    for (int64_t k = 0; k < n && rv == BENCH_OK; k++)
        for (int64_t i = 0; i < na; i++)
            sv_tell(c, a[i], T_WORK, NULL, 0);
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every actor's last message");
    for (int64_t i = 0; i < na && rv == BENCH_OK; i++) {
        thr_st *s = tr_actor_state(a[i]);
        if (s->got != n || s->bad)
            rv = sv_fail(c, "actor %lld got %lld messages (%lld bad), expected %lld",
                         (long long)i, (long long)s->got, (long long)s->bad, (long long)n);
    }
    sv_release_all(a, a ? (size_t)na : 0);
    return rv;
}

typedef struct { sv_ctx *c; _Atomic int64_t *finished, *bad; int64_t n; } fjc_st;

static void fjc_beh(tr_actor *self, void *state, tr_msg *m)
{
    fjc_st *s = state;
    tr_msg_free(m);
    if (!compute(37.2))
        atomic_fetch_add_explicit(s->bad, 1, memory_order_relaxed); /* read after the end */
    /* acq_rel: the last one sees the others' increments of `bad`. */
    if (atomic_fetch_add_explicit(s->finished, 1, memory_order_acq_rel) + 1 == s->n)
        bench_done_signal(&s->c->done);
    tr_actor_stop(self);
}

int sv_fjcreate(sv_ctx *c)
{
    int64_t n = SV_P(c, 40000, 4000);
    sv_param(c, "n=%lld", (long long)n);
    _Atomic int64_t finished = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        tr_actor *a = sv_spawn(c, fjc_beh, sizeof(fjc_st));
        if (!a)
            return BENCH_FAIL;
        *(fjc_st *)tr_actor_state(a) = (fjc_st){c, &finished, &bad, n};
        sv_tell(c, a, T_WORK, NULL, 0);
        tr_actor_release(a); /* it holds itself until it stops */
    }
    int rv = sv_wait(c, "the last actor");
    /* relaxed: after the wait (its acquire pairs with the last one's signal). */
    int64_t fin = atomic_load_explicit(&finished, memory_order_relaxed),
            nbad = atomic_load_explicit(&bad, memory_order_relaxed);
    if (rv == BENCH_OK && (fin != n || nbad))
        rv = sv_fail(c, "%lld actors finished (%lld bad), expected %lld", (long long)fin,
                     (long long)nbad, (long long)n);
    return rv;
}

/* ---- threadring: a token with a hop count goes round; then an exit wave */

typedef struct { sv_ctx *c; tr_actor *next; int64_t pings; } ring_st;

static void ring_beh(tr_actor *self, void *state, tr_msg *m)
{
    ring_st *s = state;
    int64_t *left = bench_payload(m);
    if (m->tag == T_PING) {
        s->pings++;
        if (*left > 0) {
            (*left)--;
        } else { /* the exit wave reaches every other actor once */
            m->tag = T_EXIT;
            *left = (int64_t)(uintptr_t)self; /* who started it */
            tr_actor_stop(self);
        }
        bench_send(s->next, m, &s->c->done);
        return;
    }
    /* T_EXIT: forward until it would come back to the one that started it */
    if ((tr_actor *)(uintptr_t)*left == s->next) {
        tr_msg_free(m);
        bench_done_signal(&s->c->done);
    } else {
        bench_send(s->next, m, &s->c->done);
    }
    tr_actor_stop(self);
}

int sv_threadring(sv_ctx *c)
{
    int64_t n = 100, r = SV_P(c, 100000, 10000);
    sv_param(c, "n=%lld,r=%lld", (long long)n, (long long)r);
    tr_actor **a = calloc((size_t)n, sizeof *a);
    int rv = a ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++)
        if (!(a[i] = sv_spawn(c, ring_beh, sizeof(ring_st))))
            rv = BENCH_FAIL;
    if (rv == BENCH_OK) {
        for (int64_t i = 0; i < n; i++)
            *(ring_st *)tr_actor_state(a[i]) = (ring_st){c, a[(i + 1) % n], 0};
        sv_tell(c, a[0], T_PING, &r, sizeof r);
        rv = sv_wait(c, "the exit wave");
    }
    int64_t pings = 0;
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++)
        pings += ((ring_st *)tr_actor_state(a[i]))->pings;
    if (rv == BENCH_OK && pings != r + 1)
        rv = sv_fail(c, "%lld hops, expected %lld", (long long)pings, (long long)(r + 1));
    sv_release_all(a, a ? (size_t)n : 0);
    return rv;
}

/* ---- chameneos: creatures meet in pairs at a mall, n meetings in all */

enum { RED, YELLOW, BLUE, FADED };

static int complement(int a, int b)
{
    if (a == FADED || b == FADED)
        return FADED;
    if (a == b)
        return a;
    return 3 - a - b; /* the third colour */
}

typedef struct { int color; tr_actor *from; int64_t count; } cham_msg;
typedef struct { sv_ctx *c; tr_actor *mall; int color; int64_t meetings; } cham_st;
typedef struct { sv_ctx *c; tr_actor *waiting; int64_t left, faded, sum, creatures; } mall_st;

static void cham_beh(tr_actor *self, void *state, tr_msg *m)
{
    cham_st *s = state;
    cham_msg *x = tr_msg_data(m);
    if (m->tag == T_MEET) { /* the mall paired us with x->from */
        s->color = complement(s->color, x->color);
        s->meetings++;
        sv_tell(s->c, x->from, T_CHANGE, &(cham_msg){s->color, self, 0}, sizeof(cham_msg));
    } else if (m->tag == T_CHANGE) {
        s->color = x->color;
        s->meetings++;
    } else if (m->tag == T_EXIT) {
        s->color = FADED;
        m->tag = T_COUNT;
        *x = (cham_msg){FADED, self, s->meetings};
        bench_send(s->mall, m, &s->c->done);
        tr_actor_stop(self);
        return;
    }
    /* T_START, T_MEET, T_CHANGE: back to the mall */
    m->tag = T_MEET;
    *x = (cham_msg){s->color, self, 0};
    bench_send(s->mall, m, &s->c->done);
}

static void mall_beh(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    mall_st *s = state;
    cham_msg *x = tr_msg_data(m);
    if (m->tag == T_COUNT) {
        s->sum += x->count;
        tr_msg_free(m);
        if (++s->faded == s->creatures)
            bench_done_signal(&s->c->done);
    } else if (s->left > 0) {
        if (!s->waiting) {
            s->waiting = x->from;
            tr_msg_free(m);
        } else {
            s->left--;
            tr_actor *w = s->waiting;
            s->waiting = NULL;
            bench_send(w, m, &s->c->done);
        }
    } else {
        tr_actor *to = x->from;
        m->tag = T_EXIT;
        bench_send(to, m, &s->c->done);
    }
}

int sv_chameneos(sv_ctx *c)
{
    int64_t nc = 100, meetings = SV_P(c, 200000, 20000);
    sv_param(c, "c=%lld,m=%lld", (long long)nc, (long long)meetings);
    tr_actor **a = calloc((size_t)nc + 1, sizeof *a);
    int rv = a && (a[0] = sv_spawn(c, mall_beh, sizeof(mall_st))) ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK)
        *(mall_st *)tr_actor_state(a[0]) = (mall_st){c, NULL, meetings, 0, 0, nc};
    for (int64_t i = 1; i <= nc && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, cham_beh, sizeof(cham_st)))) {
            rv = BENCH_FAIL;
            break;
        }
        *(cham_st *)tr_actor_state(a[i]) = (cham_st){c, a[0], (int)((i - 1) % 3), 0};
        sv_tell(c, a[i], T_START, &(cham_msg){0}, sizeof(cham_msg));
    }
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every creature's count");
    if (rv == BENCH_OK) {
        mall_st *s = tr_actor_state(a[0]);
        if (s->sum != 2 * meetings)
            rv = sv_fail(c, "%lld meetings counted, expected %lld", (long long)s->sum,
                         (long long)(2 * meetings));
    }
    sv_release_all(a, a ? (size_t)nc + 1 : 0);
    return rv;
}

/* ---- big: each actor pings a random other and awaits the pong, n times */

typedef struct { sv_ctx *c; tr_actor **all, *sink; int64_t n, pings, bad; int id, expect, w;
                 uint32_t rnd; } big_st;
typedef struct { sv_ctx *c; tr_actor **all; int64_t exits, w; } sink_st;

static uint32_t minstd(uint32_t *x) /* C++'s default_random_engine, as CAF's big uses */
{
    *x = (uint32_t)(((uint64_t)*x * 16807u) % 2147483647u);
    return *x;
}

static void big_beh(tr_actor *self, void *state, tr_msg *m)
{
    big_st *s = state;
    int64_t *who = bench_payload(m);
    if (m->tag == T_PING) {
        tr_actor *to = s->all[*who];
        m->tag = T_PONG;
        *who = s->id;
        bench_send(to, m, &s->c->done);
    } else if (m->tag == T_PONG) {
        s->bad += *who != s->expect;
        if (s->pings == s->n) {
            m->tag = T_EXIT;
            bench_send(s->sink, m, &s->c->done);
        } else {
            s->expect = (int)(minstd(&s->rnd) % (uint32_t)s->w);
            s->pings++;
            m->tag = T_PING;
            *who = s->id;
            bench_send(s->all[s->expect], m, &s->c->done);
        }
    } else { /* T_EXIT */
        tr_msg_free(m);
        tr_actor_stop(self);
    }
}

static void sink_beh(tr_actor *self, void *state, tr_msg *m)
{
    sink_st *s = state;
    tr_msg_free(m);
    if (++s->exits == s->w) {
        for (int64_t i = 0; i < s->w; i++)
            sv_tell(s->c, s->all[i], T_EXIT, NULL, 0);
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

int sv_big(sv_ctx *c)
{
    int64_t n = SV_P(c, 20000, 2000), w = 120;
    sv_param(c, "n=%lld,w=%lld", (long long)n, (long long)w);
    tr_actor **a = calloc((size_t)w + 1, sizeof *a); /* a[w]: the sink */
    int rv = a && (a[w] = sv_spawn(c, sink_beh, sizeof(sink_st))) ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < w && rv == BENCH_OK; i++)
        if (!(a[i] = sv_spawn(c, big_beh, sizeof(big_st))))
            rv = BENCH_FAIL;
    if (rv == BENCH_OK) {
        *(sink_st *)tr_actor_state(a[w]) = (sink_st){c, a, 0, w};
        for (int64_t i = 0; i < w; i++)
            *(big_st *)tr_actor_state(a[i]) = (big_st){
                c, a, a[w], n, 0, 0, (int)i, -1, (int)w, i ? (uint32_t)i : 1u};
        for (int64_t i = 0; i < w; i++)
            sv_tell(c, a[i], T_PONG, &(int64_t){-1}, sizeof(int64_t));
        rv = sv_wait(c, "every actor's exit");
    }
    for (int64_t i = 0; i < w && rv == BENCH_OK; i++) {
        big_st *s = tr_actor_state(a[i]);
        if (s->pings != n || s->bad)
            rv = sv_fail(c, "actor %lld: %lld pings, %lld pongs from the wrong actor",
                         (long long)i, (long long)s->pings, (long long)s->bad);
    }
    sv_release_all(a, a ? (size_t)w + 1 : 0);
    return rv;
}
