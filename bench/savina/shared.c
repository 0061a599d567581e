/* Savina's bndbuffer and philosopher, as plain actors: a manager between
 * producers and consumers with a bounded buffer; philosophers asking an
 * arbitrator for their forks. */
#include <math.h>

#include "savina.h"

enum { T_PRODUCE = 1, T_DATA, T_AVAILABLE, T_PEXIT, T_CEXIT, T_START, T_HUNGRY, T_DENIED,
       T_EAT, T_DONE, T_EXIT };

/* ---- bndbuffer */

static double process_item(double cur, int cost)
{
    double res = cur;
    sv_rand r = sv_rand_seed(cost);
    if (cost > 0) {
        for (int i = 0; i < cost; i++)
            for (int j = 0; j < 100; j++)
                res += log(fabs(sv_next_double(&r)) + 0.01);
    } else {
        res += log(fabs(sv_next_double(&r)) + 0.01);
    }
    return res;
}

typedef struct { double data; tr_actor *from; } item_msg;

enum { RING = 256 }; /* > buffer + producers + consumers at the defaults */
typedef struct { void *slot[RING]; double val[RING]; unsigned head, len; } ring;

static bool ring_push(ring *q, void *p, double v)
{
    if (q->len == RING)
        return false;
    unsigned i = (q->head + q->len++) % RING;
    q->slot[i] = p;
    q->val[i] = v;
    return true;
}
static void *ring_pop(ring *q, double *v)
{
    void *p = q->slot[q->head];
    if (v)
        *v = q->val[q->head];
    q->head = (q->head + 1) % RING;
    q->len--;
    return p;
}

typedef struct {
    sv_ctx *c;
    tr_actor **consumers;
    ring prods, cons, data;
    int64_t adjust, producers, nconsumers, terminated, overflow;
} manager_st;
typedef struct { sv_ctx *c; tr_actor *manager; double item; int64_t made, todo; } bprod_st;
typedef struct { sv_ctx *c; tr_actor *manager; double item; int64_t got; } bcons_st;

static void send_item(sv_ctx *c, tr_actor *to, double data, tr_actor *from)
{
    sv_tell(c, to, T_DATA, &(item_msg){data, from}, sizeof(item_msg));
}

static void manager_beh(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    manager_st *s = state;
    item_msg *x = tr_msg_data(m);
    uint32_t tag = m->tag;
    if (tag == T_DATA) {
        tr_actor *producer = x->from;
        if (!s->cons.len)
            s->overflow += !ring_push(&s->data, producer, x->data);
        else
            send_item(s->c, ring_pop(&s->cons, NULL), x->data, producer);
        if ((int64_t)s->data.len >= s->adjust)
            s->overflow += !ring_push(&s->prods, producer, 0);
        else
            sv_tell(s->c, producer, T_PRODUCE, NULL, 0);
    } else if (tag == T_AVAILABLE) {
        if (!s->data.len) {
            s->overflow += !ring_push(&s->cons, x->from, 0);
        } else {
            double v;
            tr_actor *producer = ring_pop(&s->data, &v);
            send_item(s->c, x->from, v, producer);
            if (s->prods.len)
                sv_tell(s->c, ring_pop(&s->prods, NULL), T_PRODUCE, NULL, 0);
        }
    } else { /* T_PEXIT */
        s->terminated++;
    }
    tr_msg_free(m);
    if (s->overflow) {
        bench_done_fail(&s->c->done, "bndbuffer: a queue overflowed");
    } else if (tag != T_DATA && s->terminated == s->producers &&
               (int64_t)s->cons.len == s->nconsumers) {
        for (int64_t i = 0; i < s->nconsumers; i++)
            sv_tell(s->c, s->consumers[i], T_CEXIT, NULL, 0);
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
}

static void bprod_beh(tr_actor *self, void *state, tr_msg *m)
{
    bprod_st *s = state;
    tr_msg_free(m);
    if (s->made == s->todo) {
        sv_tell(s->c, s->manager, T_PEXIT, NULL, 0);
        tr_actor_stop(self);
        return;
    }
    s->item = process_item(s->item, 25);
    send_item(s->c, s->manager, s->item, self);
    s->made++;
}

static void bcons_beh(tr_actor *self, void *state, tr_msg *m)
{
    bcons_st *s = state;
    if (m->tag == T_CEXIT) {
        tr_msg_free(m);
        tr_actor_stop(self);
        return;
    }
    s->item = process_item(s->item + ((item_msg *)tr_msg_data(m))->data, 25);
    s->got++;
    m->tag = T_AVAILABLE;
    *(item_msg *)tr_msg_data(m) = (item_msg){0, self};
    bench_send(s->manager, m, &s->c->done);
}

int sv_bndbuffer(sv_ctx *c)
{
    int64_t buf = 50, np = 40, nc = 40, items = SV_P(c, 1000, 100);
    sv_param(c, "b=%lld,p=%lld,c=%lld,x=25,y=25,i=%lld", (long long)buf, (long long)np,
             (long long)nc, (long long)items);
    size_t n = (size_t)(np + nc + 1); /* a[0]: manager, then producers, consumers */
    tr_actor **a = calloc(n, sizeof *a);
    int rv = a ? BENCH_OK : BENCH_FAIL;
    for (size_t i = 0; i < n && rv == BENCH_OK; i++)
        if (!(a[i] = sv_spawn(c, i == 0 ? manager_beh : i <= (size_t)np ? bprod_beh : bcons_beh,
                              i == 0 ? sizeof(manager_st) : sizeof(bprod_st) + sizeof(bcons_st))))
            rv = BENCH_FAIL;
    if (rv == BENCH_OK) {
        manager_st *ms = tr_actor_state(a[0]);
        ms->c = c;
        ms->consumers = a + 1 + np;
        ms->adjust = buf - np;
        ms->producers = np;
        ms->nconsumers = nc;
        for (int64_t i = 0; i < nc; i++) {
            *(bcons_st *)tr_actor_state(a[1 + np + i]) = (bcons_st){c, a[0], 0, 0};
            ring_push(&ms->cons, a[1 + np + i], 0);
        }
        for (int64_t i = 0; i < np; i++) {
            *(bprod_st *)tr_actor_state(a[1 + i]) = (bprod_st){c, a[0], 0, 0, items};
            sv_tell(c, a[1 + i], T_PRODUCE, NULL, 0);
        }
        rv = sv_wait(c, "the manager's end");
    }
    int64_t got = 0;
    for (int64_t i = 0; i < nc && rv == BENCH_OK; i++)
        got += ((bcons_st *)tr_actor_state(a[1 + np + i]))->got;
    if (rv == BENCH_OK && got != np * items)
        rv = sv_fail(c, "%lld items consumed, expected %lld", (long long)got,
                     (long long)(np * items));
    sv_release_all(a, a ? n : 0);
    return rv;
}

/* ---- philosopher */

typedef struct { int64_t id; tr_actor *from; } phil_msg;
typedef struct { sv_ctx *c; tr_actor *arb; int64_t id, rounds, done_rounds, local, *retries; } phil_st;
typedef struct { sv_ctx *c; int64_t n, exited, eats, bad; bool fork[64]; } arb_st;

static void phil_beh(tr_actor *self, void *state, tr_msg *m)
{
    phil_st *s = state;
    phil_msg *x = tr_msg_data(m);
    if (m->tag == T_EAT) {
        s->done_rounds++;
        tr_msg_free(m);
        sv_tell(s->c, s->arb, T_DONE, &(phil_msg){s->id, self}, sizeof(phil_msg));
        if (s->done_rounds < s->rounds) {
            sv_tell(s->c, self, T_START, &(phil_msg){s->id, self}, sizeof(phil_msg));
        } else {
            *s->retries = s->local; /* this philosopher's slot, read after the end */
            sv_tell(s->c, s->arb, T_EXIT, &(phil_msg){s->id, self}, sizeof(phil_msg));
            tr_actor_stop(self);
        }
        return;
    }
    s->local += m->tag == T_DENIED;
    m->tag = T_HUNGRY; /* T_START or T_DENIED: ask again */
    *x = (phil_msg){s->id, self};
    bench_send(s->arb, m, &s->c->done);
}

static void arb_beh(tr_actor *self, void *state, tr_msg *m)
{
    arb_st *s = state;
    phil_msg *x = tr_msg_data(m);
    int64_t l = x->id, r = (x->id + 1) % s->n;
    if (m->tag == T_HUNGRY) {
        tr_actor *to = x->from;
        if (s->fork[l] || s->fork[r]) {
            m->tag = T_DENIED;
        } else {
            s->fork[l] = s->fork[r] = true;
            s->eats++;
            m->tag = T_EAT;
        }
        bench_send(to, m, &s->c->done);
        return;
    }
    if (m->tag == T_DONE) {
        s->bad += !s->fork[l] || !s->fork[r];
        s->fork[l] = s->fork[r] = false;
    } else if (++s->exited == s->n) {
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
    tr_msg_free(m);
}

int sv_philosopher(sv_ctx *c)
{
    int64_t n = 20, rounds = SV_P(c, 10000, 1000);
    sv_param(c, "n=%lld,m=%lld", (long long)n, (long long)rounds);
    int64_t retries[20] = {0};
    tr_actor **a = calloc((size_t)n + 1, sizeof *a);
    int rv = a && (a[n] = sv_spawn(c, arb_beh, sizeof(arb_st))) ? BENCH_OK : BENCH_FAIL;
    if (rv == BENCH_OK)
        *(arb_st *)tr_actor_state(a[n]) = (arb_st){.c = c, .n = n};
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, phil_beh, sizeof(phil_st))))
            rv = BENCH_FAIL;
        else
            *(phil_st *)tr_actor_state(a[i]) = (phil_st){c, a[n], i, rounds, 0, 0, &retries[i]};
    }
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++)
        sv_tell(c, a[i], T_START, &(phil_msg){i, a[i]}, sizeof(phil_msg));
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every philosopher's exit");
    if (rv == BENCH_OK) {
        arb_st *s = tr_actor_state(a[n]);
        if (s->eats != n * rounds || s->bad)
            rv = sv_fail(c, "%lld meals (%lld with a fork not held), expected %lld",
                         (long long)s->eats, (long long)s->bad, (long long)(n * rounds));
        int64_t total = 0;
        for (int64_t i = 0; i < n; i++)
            total += retries[i];
        bench_note("philosopher: %lld retries", (long long)total);
    }
    sv_release_all(a, a ? (size_t)n + 1 : 0);
    return rv;
}
