/* Savina's banking and logmap, with endpoints and asks.
 *
 * banking: a teller asks n credits of random source accounts; each source
 * account, inside its credit handler, asks the destination for the debit
 * and answers the teller from that ask's continuation (CAF's
 * request(...).then variant, which its suite measures by default).
 *
 * logmap: a master tells each series worker "next term" t times, then asks
 * it for its term; a worker asks its rate computer for every term, one at
 * a time (Savina's request/await: no next ask before the answer). */
#include <math.h>

#include "rpc_common.h"

#define CREDIT_FIELDS(F) F(tr_f64, amount) F(tr_i64, dest)
TR_STRUCT(sv_credit, CREDIT_FIELDS)
TR_STRUCT_DEFINE(sv_credit, CREDIT_FIELDS)

#define ACCT_METHODS(M)                                                       \
    M(acct, credit, sv_credit, tr_void, ASK)                                  \
    M(acct, debit, tr_f64, tr_void, ASK)
TR_GATEWAY(acct, ACCT_METHODS)
TR_GATEWAY_DEFINE(acct, ACCT_METHODS)

/* ---- banking */

typedef struct {
    sv_ctx *c;
    tr_gateway **accounts;
    double balance, out, in; /* out/in: the amounts moved, to check */
    int64_t credits, debits;
} account_st;

static void debit_done(tr_endpoint *self, tr_future *f, void *arg)
{
    tr_reply *teller = arg;
    int code = tr_future_code(f);
    if (!self || code)
        tr_reply_fail(teller, code ? code : TR_EFAILED, "debit: %s",
                      self ? tr_future_error(f) : "dropped");
    else
        acct_credit_reply(teller, NULL);
    tr_reply_release(teller);
}

static int a_credit(tr_endpoint *self, void *state, const sv_credit *a, tr_reply *r)
{
    (void)self;
    account_st *s = state;
    s->balance -= a->amount;
    s->out += a->amount;
    s->credits++;
    tr_reply *keep = tr_reply_keep(r);
    int rv = acct_debit_then(s->accounts[a->dest], &a->amount, 0, debit_done, keep);
    if (rv) {
        tr_reply_fail(keep, rv, "debit ask");
        tr_reply_release(keep);
    }
    return 0;
}

static int a_debit(tr_endpoint *self, void *state, const tr_f64 *amount, tr_reply *r)
{
    (void)self;
    account_st *s = state;
    s->balance += *amount;
    s->in += *amount;
    s->debits++;
    return acct_debit_reply(r, NULL);
}
static const acct_handlers account_h = {.credit = a_credit, .debit = a_debit};

typedef struct {
    sv_ctx *c;
    tr_gateway **accounts;
    int64_t na, n, done, failed;
} teller_st;

static void credit_done(tr_endpoint *self, tr_future *f, void *arg)
{
    teller_st *s = arg;
    if (!self || tr_future_code(f)) {
        bench_done_fail(&s->c->done, "credit: %s", self ? tr_future_error(f) : "dropped");
        return;
    }
    if (++s->done == s->n)
        bench_done_signal(&s->c->done);
}

/* Savina's transaction generator: source, destination above it, amount. */
static void gen(sv_rand *r, int64_t na, int64_t *src, int64_t *dst, double *amount)
{
    *src = sv_next_int(r, (int)((na / 10) * 8));
    int64_t loop = sv_next_int(r, (int)(na - *src));
    *dst = *src + (loop ? loop : 1);
    *amount = sv_next_double(r) * 1000;
}

static int t_go(tr_endpoint *self, void *state, const tr_void *a)
{
    (void)self, (void)a;
    teller_st *s = state;
    sv_rand r = sv_rand_seed(123456);
    for (int64_t i = 0; i < s->n; i++) {
        sv_credit cr;
        int64_t src;
        gen(&r, s->na, &src, &cr.dest, &cr.amount);
        int rv = acct_credit_then(s->accounts[src], &cr, 0, credit_done, s);
        if (rv) {
            bench_done_fail(&s->c->done, "credit ask: %s", tr_strerror(rv));
            return rv;
        }
    }
    return 0;
}
static const svgo_handlers teller_h = {.go = t_go};

int sv_banking(sv_ctx *c)
{
    int64_t na = 1000, n = SV_P(c, 50000, 5000);
    sv_param(c, "a=%lld,n=%lld", (long long)na, (long long)n);
    double initial = ((1.7976931348623157e308 / (double)(na * n)) / 1000) * 1000;
    tr_endpoint **eps = calloc((size_t)na + 1, sizeof *eps); /* eps[na]: the teller */
    tr_gateway **gws = calloc((size_t)na + 1, sizeof *gws);
    int rv = eps && gws ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < na && rv == BENCH_OK; i++) {
        account_st *s;
        if (!(eps[i] = sv_ep(c, acct_impl(&account_h), sizeof *s, NULL, (void **)&s))) {
            rv = BENCH_FAIL;
            break;
        }
        *s = (account_st){.c = c, .accounts = gws, .balance = initial};
        if (sv_ep_start(c, eps[i]) || !(gws[i] = sv_connect(c, eps[i], &acct_gateway)))
            rv = BENCH_FAIL;
    }
    teller_st *t = NULL;
    if (rv == BENCH_OK && !(eps[na] = sv_ep(c, svgo_impl(&teller_h), sizeof *t, NULL, (void **)&t)))
        rv = BENCH_FAIL;
    if (rv == BENCH_OK) {
        *t = (teller_st){.c = c, .accounts = gws, .na = na, .n = n};
        if (sv_ep_start(c, eps[na]) || !(gws[na] = sv_connect(c, eps[na], &svgo_gateway)) ||
            svgo_go(gws[na], &(tr_void){0}))
            rv = sv_fail(c, "teller set-up failed");
    }
    if (rv == BENCH_OK)
        rv = sv_wait(c, "the last transaction");
    if (rv == BENCH_OK)
        rv = sv_ep_stop_all(c, eps, (size_t)na + 1);
    if (rv == BENCH_OK) {
        /* The teller's transactions again: what each account must have seen. */
        int64_t *want = calloc((size_t)na * 2, sizeof *want);
        double total = 0, out = 0, in = 0;
        sv_rand r = sv_rand_seed(123456);
        for (int64_t i = 0; want && i < n; i++) {
            int64_t src, dst;
            double amount;
            gen(&r, na, &src, &dst, &amount);
            want[2 * src]++;
            want[2 * dst + 1]++;
            total += amount;
        }
        for (int64_t i = 0; want && i < na && rv == BENCH_OK; i++) {
            account_st *s = tr_endpoint_state(eps[i]);
            out += s->out;
            in += s->in;
            if (s->credits != want[2 * i] || s->debits != want[2 * i + 1])
                rv = sv_fail(c, "account %lld: %lld credits, %lld debits; expected %lld, %lld",
                             (long long)i, (long long)s->credits, (long long)s->debits,
                             (long long)want[2 * i], (long long)want[2 * i + 1]);
        }
        /* Sums in another order: equal up to rounding. */
        if (rv == BENCH_OK && (!want || fabs(out - total) > 1e-9 * total ||
                               fabs(in - total) > 1e-9 * total))
            rv = sv_fail(c, "moved out %.6f, in %.6f, expected %.6f", out, in, total);
        free(want);
    }
    sv_release_gws(gws, gws ? (size_t)na + 1 : 0);
    sv_release_eps(eps, eps ? (size_t)na + 1 : 0);
    return rv;
}

/* ---- logmap */

#define LMC_METHODS(M) M(lmc, compute, tr_f64, tr_f64, ASK)
TR_GATEWAY(lmc, LMC_METHODS)
TR_GATEWAY_DEFINE(lmc, LMC_METHODS)

#define LMW_METHODS(M)                                                        \
    M(lmw, next, tr_void, tr_void, TELL)                                      \
    M(lmw, get, tr_void, tr_f64, ASK)
TR_GATEWAY(lmw, LMW_METHODS)
TR_GATEWAY_DEFINE(lmw, LMW_METHODS)

static const double START_RATE = 3.46, INCREMENT = 0.0025;

typedef struct { double rate; } computer_st;

static int c_compute(tr_endpoint *self, void *state, const tr_f64 *term, tr_reply *r)
{
    (void)self;
    double rate = ((computer_st *)state)->rate;
    tr_f64 next = rate * *term * (1 - *term);
    return lmc_compute_reply(r, &next);
}
static const lmc_handlers computer_h = {.compute = c_compute};

typedef struct {
    sv_ctx *c;
    tr_gateway *computer;
    double term;
    int64_t pending; /* next-term requests not yet asked */
    bool busy;       /* an ask is out */
    tr_reply *get;   /* a get waiting for the terms before it */
} series_st;

static void term_done(tr_endpoint *self, tr_future *f, void *arg);

static void ask_term(series_st *s)
{
    s->busy = true;
    int rv = lmc_compute_then(s->computer, &s->term, 0, term_done, s);
    if (rv)
        bench_done_fail(&s->c->done, "compute ask: %s", tr_strerror(rv));
}

static void term_done(tr_endpoint *self, tr_future *f, void *arg)
{
    series_st *s = arg;
    const tr_f64 *v = lmc_compute_result(f);
    if (!self || !v) {
        bench_done_fail(&s->c->done, "compute: %s", self ? tr_future_error(f) : "dropped");
        return;
    }
    s->term = *v;
    s->busy = false;
    if (s->pending > 0) {
        s->pending--;
        ask_term(s);
    } else if (s->get) {
        lmw_get_reply(s->get, &s->term);
        tr_reply_release(s->get);
        s->get = NULL;
    }
}

static int s_next(tr_endpoint *self, void *state, const tr_void *a)
{
    (void)self, (void)a;
    series_st *s = state;
    if (s->busy)
        s->pending++;
    else
        ask_term(s);
    return 0;
}

static int s_get(tr_endpoint *self, void *state, const tr_void *a, tr_reply *r)
{
    (void)self, (void)a;
    series_st *s = state;
    if (!s->busy)
        return lmw_get_reply(r, &s->term);
    s->get = tr_reply_keep(r);
    return 0;
}
static const lmw_handlers series_h = {.next = s_next, .get = s_get};

typedef struct {
    sv_ctx *c;
    tr_gateway **series;
    int64_t ns, terms, received;
    double *result;
} master_st;

static void got_term(tr_endpoint *self, tr_future *f, void *arg)
{
    master_st *s = self ? tr_endpoint_state(self) : NULL;
    const tr_f64 *v = lmw_get_result(f);
    if (!s || !v) {
        /* self NULL: the master is gone; nothing to record */
        return;
    }
    s->result[(uintptr_t)arg] = *v;
    if (++s->received == s->ns)
        bench_done_signal(&s->c->done);
}

static int m_go(tr_endpoint *self, void *state, const tr_void *a)
{
    (void)self, (void)a;
    master_st *s = state;
    for (int64_t t = 0; t < s->terms; t++)
        for (int64_t i = 0; i < s->ns; i++)
            if (lmw_next(s->series[i], &(tr_void){0})) {
                bench_done_fail(&s->c->done, "next: tell failed");
                return TR_EFAILED;
            }
    for (int64_t i = 0; i < s->ns; i++)
        if (lmw_get_then(s->series[i], &(tr_void){0}, 0, got_term, (void *)(uintptr_t)i)) {
            bench_done_fail(&s->c->done, "get: ask failed");
            return TR_EFAILED;
        }
    return 0;
}
static const svgo_handlers master_h = {.go = m_go};

int sv_logmap(sv_ctx *c)
{
    int64_t terms = SV_P(c, 25000, 2500), ns = 10;
    sv_param(c, "t=%lld,s=%lld,r=%.2f", (long long)terms, (long long)ns, START_RATE);
    size_t n = (size_t)ns * 2 + 1; /* computers, series, master */
    tr_endpoint **eps = calloc(n, sizeof *eps);
    tr_gateway **gws = calloc(n, sizeof *gws);
    double *result = calloc((size_t)ns, sizeof *result);
    int rv = eps && gws && result ? BENCH_OK : BENCH_FAIL;
    for (int64_t i = 0; i < ns && rv == BENCH_OK; i++) {
        computer_st *cs;
        series_st *ss;
        if (!(eps[i] = sv_ep(c, lmc_impl(&computer_h), sizeof *cs, NULL, (void **)&cs)) ||
            (cs->rate = START_RATE + (double)i * INCREMENT, sv_ep_start(c, eps[i])) ||
            !(gws[i] = sv_connect(c, eps[i], &lmc_gateway)) ||
            !(eps[ns + i] = sv_ep(c, lmw_impl(&series_h), sizeof *ss, NULL, (void **)&ss)) ||
            (*ss = (series_st){.c = c, .computer = gws[i], .term = (double)i * INCREMENT},
             sv_ep_start(c, eps[ns + i])) ||
            !(gws[ns + i] = sv_connect(c, eps[ns + i], &lmw_gateway)))
            rv = BENCH_FAIL;
    }
    master_st *m = NULL;
    if (rv == BENCH_OK &&
        (!(eps[n - 1] = sv_ep(c, svgo_impl(&master_h), sizeof *m, NULL, (void **)&m)) ||
         (*m = (master_st){c, gws + ns, ns, terms, 0, result}, sv_ep_start(c, eps[n - 1])) ||
         !(gws[n - 1] = sv_connect(c, eps[n - 1], &svgo_gateway)) ||
         svgo_go(gws[n - 1], &(tr_void){0})))
        rv = sv_fail(c, "set-up failed");
    if (rv == BENCH_OK)
        rv = sv_wait(c, "every series' last term");
    if (rv == BENCH_OK)
        rv = sv_ep_stop_all(c, eps, n);
    for (int64_t i = 0; i < ns && rv == BENCH_OK; i++) {
        /* The same operations in the same order: the same bits. */
        double term = (double)i * INCREMENT, rate = START_RATE + (double)i * INCREMENT;
        for (int64_t t = 0; t < terms; t++)
            term = rate * term * (1 - term);
        if (result[i] != term)
            rv = sv_fail(c, "series %lld ended at %.17g, expected %.17g", (long long)i,
                         result[i], term);
    }
    sv_release_gws(gws, gws ? n : 0);
    sv_release_eps(eps, eps ? n : 0);
    free(result);
    return rv;
}
