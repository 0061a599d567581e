/* Savina's master/worker benchmarks as plain actors: nqueenk and
 * recmatmul. A master deals work out to w workers; workers send new work
 * (and results) back to the master and say when each piece is done. */
#include "savina.h"

enum { T_WORK = 1, T_RESULT, T_DONE, T_STOP };

/* ---- nqueenk */

enum { QMAX = 20 };
static const int64_t queens[QMAX] = {1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2680, 14200, 73712,
                                     365596, 2279184, 14772512, 95815104, 666090624,
                                     4968057848LL, 39029188884LL};

typedef struct { int priority, depth; int8_t board[QMAX]; } q_work;
typedef struct { sv_ctx *c; tr_actor *master; int size, threshold; } qworker_st;
typedef struct {
    sv_ctx *c;
    tr_actor **workers;
    int64_t nw, next, sent, completed, stopped, results, limit;
} qmaster_st;

/* Savina's check of a whole prefix: no two queens share a column or diagonal. */
static bool board_valid(int n, const int8_t *a)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int p = a[i], q = a[j];
            if (q == p || q == p - (j - i) || q == p + (j - i))
                return false;
        }
    return true;
}

static void q_seq(qworker_st *s, int8_t *a, int depth)
{
    if (depth == s->size) {
        sv_tell(s->c, s->master, T_RESULT, NULL, 0);
        return;
    }
    for (int i = 0; i < s->size; i++) {
        a[depth] = (int8_t)i;
        if (board_valid(depth + 1, a))
            q_seq(s, a, depth + 1);
    }
}

static void qworker_beh(tr_actor *self, void *state, tr_msg *m)
{
    qworker_st *s = state;
    if (m->tag == T_STOP) {
        bench_send(s->master, m, &s->c->done);
        tr_actor_stop(self);
        return;
    }
    q_work *w = tr_msg_data(m);
    if (w->depth == s->size) {
        sv_tell(s->c, s->master, T_RESULT, NULL, 0);
    } else if (w->depth >= s->threshold) {
        q_seq(s, w->board, w->depth);
    } else {
        for (int i = 0; i < s->size; i++) {
            q_work next = *w;
            next.priority = w->priority - 1;
            next.depth = w->depth + 1;
            next.board[w->depth] = (int8_t)i;
            if (board_valid(next.depth, next.board))
                sv_tell(s->c, s->master, T_WORK, &next, sizeof next);
        }
    }
    m->tag = T_DONE;
    bench_send(s->master, m, &s->c->done);
}

static void q_stop_all(qmaster_st *s)
{
    for (int64_t i = 0; i < s->nw; i++)
        sv_tell(s->c, s->workers[i], T_STOP, NULL, 0);
}

static void qmaster_beh(tr_actor *self, void *state, tr_msg *m)
{
    qmaster_st *s = state;
    switch (m->tag) {
    case T_WORK: /* round robin */
        s->sent++;
        bench_send(s->workers[s->next], m, &s->c->done);
        s->next = (s->next + 1) % s->nw;
        return;
    case T_RESULT:
        if (++s->results == s->limit)
            q_stop_all(s);
        break;
    case T_DONE:
        if (++s->completed == s->sent)
            q_stop_all(s);
        break;
    default: /* T_STOP, back from a worker */
        if (++s->stopped == s->nw) {
            bench_done_signal(&s->c->done);
            tr_actor_stop(self);
        }
    }
    tr_msg_free(m);
}

int sv_nqueenk(sv_ctx *c)
{
    int64_t nw = 20, size = SV_P(c, 12, 9), threshold = 4, limit = 1500000;
    sv_param(c, "n=%lld,w=%lld,t=%lld,s=%lld", (long long)size, (long long)nw,
             (long long)threshold, (long long)limit);
    tr_actor **a = calloc((size_t)nw + 1, sizeof *a); /* a[nw]: the master */
    int rv = a && (a[nw] = sv_spawn(c, qmaster_beh, sizeof(qmaster_st))) ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < nw && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, qworker_beh, sizeof(qworker_st))))
            rv = BENCH_FAIL;
        else
            *(qworker_st *)tr_actor_state(a[i]) = (qworker_st){c, a[nw], (int)size, (int)threshold};
    }
    if (rv == BENCH_OK) {
        *(qmaster_st *)tr_actor_state(a[nw]) =
            (qmaster_st){.c = c, .workers = a, .nw = nw, .limit = limit};
        sv_tell(c, a[nw], T_WORK, &(q_work){.priority = 10}, sizeof(q_work));
        rv = sv_wait(c, "the workers' stops");
    }
    if (rv == BENCH_OK) {
        qmaster_st *s = tr_actor_state(a[nw]);
        int64_t want = queens[size - 1] < limit ? queens[size - 1] : limit;
        if (s->results < want || s->results > queens[size - 1])
            rv = sv_fail(c, "%lld solutions, expected %lld", (long long)s->results,
                         (long long)want);
    }
    sv_release_all(a, a ? (size_t)nw + 1 : 0);
    return rv;
}

/* ---- recmatmul: C += A.B split in quarter blocks down to a threshold */

typedef struct { int priority, sr_a, sc_a, sr_b, sc_b, sr_c, sc_c, blocks, dim; } m_work;
/* Row-major with rows `ld` apart: ld = n + 8, since a column walk with a
 * power-of-two stride maps every item to the same cache sets (CAF's
 * vector-of-vectors has no such stride). */
typedef struct { int64_t n, ld; double *a, *b, *c; } mats;
typedef struct { sv_ctx *c; tr_actor *master; const mats *m; int threshold; } mworker_st;
typedef struct { sv_ctx *c; tr_actor **workers; int64_t nw, sent, completed, stopped; } mmaster_st;

static void mworker_beh(tr_actor *self, void *state, tr_msg *msg)
{
    mworker_st *s = state;
    if (msg->tag == T_STOP) {
        bench_send(s->master, msg, &s->c->done);
        tr_actor_stop(self);
        return;
    }
    m_work w = *(m_work *)tr_msg_data(msg);
    if (w.blocks > s->threshold) {
        int h = w.dim / 2, nb = w.blocks / 4;
        /* the eight products of quarter blocks (Savina's order) */
        static const int q[8][6] = {{0, 0, 0, 0, 0, 0}, {0, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 0, 1},
                                    {0, 1, 1, 1, 0, 1}, {1, 0, 0, 0, 1, 0}, {1, 1, 1, 0, 1, 0},
                                    {1, 0, 0, 1, 1, 1}, {1, 1, 1, 1, 1, 1}};
        for (int i = 0; i < 8; i++) {
            m_work x = {w.priority + 1, w.sr_a + q[i][0] * h, w.sc_a + q[i][1] * h,
                        w.sr_b + q[i][2] * h, w.sc_b + q[i][3] * h, w.sr_c + q[i][4] * h,
                        w.sc_c + q[i][5] * h, nb, h};
            sv_tell(s->c, s->master, T_WORK, &x, sizeof x);
        }
    } else {
        const mats *m = s->m;
        int64_t n = m->ld;
        for (int i = w.sr_c; i < w.sr_c + w.dim; i++)
            for (int j = w.sc_c; j < w.sc_c + w.dim; j++) {
                double acc = m->c[i * n + j];
                for (int k = 0; k < w.dim; k++)
                    acc += m->a[i * n + w.sc_a + k] * m->b[(w.sr_b + k) * n + j];
                m->c[i * n + j] = acc;
            }
    }
    msg->tag = T_DONE;
    bench_send(s->master, msg, &s->c->done);
}

static void mmaster_beh(tr_actor *self, void *state, tr_msg *msg)
{
    mmaster_st *s = state;
    if (msg->tag == T_WORK) {
        /* one C block always goes to the same worker: its updates never race */
        m_work *w = tr_msg_data(msg);
        s->sent++;
        bench_send(s->workers[(w->sr_c + w->sc_c) % s->nw], msg, &s->c->done);
        return;
    }
    if (msg->tag == T_DONE && ++s->completed == s->sent)
        for (int64_t i = 0; i < s->nw; i++)
            sv_tell(s->c, s->workers[i], T_STOP, NULL, 0);
    if (msg->tag == T_STOP && ++s->stopped == s->nw) {
        bench_done_signal(&s->c->done);
        tr_actor_stop(self);
    }
    tr_msg_free(msg);
}

int sv_recmatmul(sv_ctx *c)
{
    int64_t nw = 20, n = SV_P(c, 1024, 256), threshold = SV_P(c, 16384, 1024);
    sv_param(c, "n=%lld,t=%lld,w=%lld", (long long)n, (long long)threshold, (long long)nw);
    int64_t ld = n + 8;
    mats m = {n, ld, malloc((size_t)(n * ld) * sizeof(double)),
              malloc((size_t)(n * ld) * sizeof(double)), calloc((size_t)(n * ld), sizeof(double))};
    tr_actor **a = calloc((size_t)nw + 1, sizeof *a);
    int rv = m.a && m.b && m.c && a ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++)
        for (int64_t j = 0; j < n; j++) {
            m.a[i * ld + j] = (double)i;
            m.b[i * ld + j] = (double)j;
        }
    if (rv == BENCH_OK && !(a[nw] = sv_spawn(c, mmaster_beh, sizeof(mmaster_st))))
        rv = BENCH_FAIL;
    for (int64_t i = 0; i < nw && rv == BENCH_OK; i++) {
        if (!(a[i] = sv_spawn(c, mworker_beh, sizeof(mworker_st))))
            rv = BENCH_FAIL;
        else
            *(mworker_st *)tr_actor_state(a[i]) = (mworker_st){c, a[nw], &m, (int)threshold};
    }
    if (rv == BENCH_OK) {
        *(mmaster_st *)tr_actor_state(a[nw]) = (mmaster_st){.c = c, .workers = a, .nw = nw};
        m_work root = {0, 0, 0, 0, 0, 0, 0, (int)(n * n), (int)n};
        sv_tell(c, a[nw], T_WORK, &root, sizeof root);
        rv = sv_wait(c, "the workers' stops");
    }
    for (int64_t i = 0; i < n && rv == BENCH_OK; i++) /* CAF's suite checks too: timed */
        for (int64_t j = 0; j < n; j++)
            if (m.c[i * ld + j] != (double)n * (double)i * (double)j) {
                rv = sv_fail(c, "C[%lld][%lld] = %.0f, expected %.0f", (long long)i,
                             (long long)j, m.c[i * ld + j], (double)n * (double)i * (double)j);
                i = n;
                break;
            }
    sv_release_all(a, a ? (size_t)nw + 1 : 0);
    free(m.a);
    free(m.b);
    free(m.c);
    return rv;
}
