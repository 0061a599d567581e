/* The value matrix's drivers: each sends every value of a tv_set through
 * one call kind, in one pattern, to one or more endpoints (values.h), and
 * checks what came back: each ASK's answer against the digest of what was
 * sent, and at the end each endpoint's totals (count, digest sum, and for
 * tells the order chain) against what the caller sent it.
 *
 *   tv_tells_batched    every value, back to back, switching endpoint
 *                       every 8 tells, `rounds` times: tells batch on the
 *                       wire and in the server's buffers
 *   tv_tells_unbatched  one tell, then an ask for the totals (S21: it is
 *                       answered after the tell was handled), and so on
 *   tv_tells_grow       bursts of small tells each followed by a large one
 *                       (over 16 KiB): a receive buffer grows mid-batch
 *   tv_asks             asks with up to `window` in flight, reaped oldest
 *                       first (window 1: one at a time)
 *   tv_ask_thens        every value as an ask_then, all in flight at once;
 *                       the continuation digests the answer
 *
 * Every wait is bounded (TV_WAIT_NS). */
#ifndef TR_TESTS_COMMON_VALUES_RUN_H
#define TR_TESTS_COMMON_VALUES_RUN_H

#include "common/values.h"

/* An endpoint under test: its gateway and what it should have seen. */
typedef struct tv_target {
    tr_gateway *gw;
    tv_total want;
} tv_target;

static inline void tv_tell(tv_target *t, const tv_value *v)
{
    int rv = tr_gateway_tell(t->gw, &tv_gateway, v->k->tell, &v->v);
    TC_ASSERT_MSG(rv == 0, "tell_%s: %s", v->k->name, tr_errname(rv));
    t->want.tells++;
    t->want.tell_sum += v->digest;
    t->want.tell_chain = tv_chain(t->want.tell_chain, v->digest);
}

/* Asks the endpoint for its totals and compares them with t->want. */
static inline void tv_check(const tv_target *t, const char *what)
{
    tr_future *f = NULL;
    TC_OK(tv_totals(t->gw, NULL, TV_WAIT_NS, &f));
    int rv = tr_future_get(f, TV_WAIT_NS);
    TC_ASSERT_MSG(rv == 0, "%s: totals of %s: %s (%s)", what, tr_gateway_address(t->gw),
                  tr_errname(rv), tr_future_error(f) ? tr_future_error(f) : "");
    const tv_total *got = tv_totals_result(f);
    TC_ASSERT_MSG(got, "%s: totals of %s: no value", what, tr_gateway_address(t->gw));
    tv_total g = *got;
    tr_future_release(f);
    TC_ASSERT_MSG(g.tells == t->want.tells && g.asks == t->want.asks,
                  "%s: %s handled %llu tells and %llu asks, %llu and %llu were sent", what,
                  tr_gateway_address(t->gw), (unsigned long long)g.tells,
                  (unsigned long long)g.asks, (unsigned long long)t->want.tells,
                  (unsigned long long)t->want.asks);
    TC_ASSERT_MSG(g.tell_sum == t->want.tell_sum,
                  "%s: %s: the digests of the %llu tells it handled sum to %016llx, what was "
                  "sent to %016llx (handlers read other bytes than were sent)",
                  what, tr_gateway_address(t->gw), (unsigned long long)g.tells,
                  (unsigned long long)g.tell_sum, (unsigned long long)t->want.tell_sum);
    TC_ASSERT_MSG(g.tell_chain == t->want.tell_chain,
                  "%s: %s: the tells' digests match as a sum but not in order (S21)", what,
                  tr_gateway_address(t->gw));
    TC_ASSERT_MSG(g.ask_sum == t->want.ask_sum,
                  "%s: %s: the digests of the %llu ask arguments it handled sum to %016llx, "
                  "what was sent to %016llx",
                  what, tr_gateway_address(t->gw), (unsigned long long)g.asks,
                  (unsigned long long)g.ask_sum, (unsigned long long)t->want.ask_sum);
}

static inline void tv_check_all(const tv_target *ts, size_t nt, const char *what)
{
    for (size_t i = 0; i < nt; i++)
        tv_check(&ts[i], what);
}

/* ---- tells ------------------------------------------------------------------------------ */

static inline void tv_tells_batched(tv_target *ts, size_t nt, const tv_set *s, unsigned rounds)
{
    for (unsigned round = 0; round < rounds; round++)
        for (size_t j = 0; j < s->n; j++)
            tv_tell(&ts[(j / 8 + round) % nt], &s->vals[j]);
    tv_check_all(ts, nt, "batched tells");
}

static inline void tv_tells_unbatched(tv_target *ts, size_t nt, const tv_set *s)
{
    for (size_t j = 0; j < s->n; j++) {
        tv_target *t = &ts[j % nt];
        tv_tell(t, &s->vals[j]);
        char what[64];
        snprintf(what, sizeof what, "unbatched tell_%s #%zu", s->vals[j].k->name, j);
        tv_check(t, what);
    }
}

/* `reps` bursts of `small` small tells then one large one, all back to
 * back, to one endpoint per burst (round robin). */
static inline void tv_tells_grow(tv_target *ts, size_t nt, const tv_set *s, unsigned reps,
                                 unsigned small, uint64_t seed)
{
    size_t nlarge = 0, nsmall = 0;
    const tv_value **large = calloc(s->n, sizeof *large), **smalls = calloc(s->n, sizeof *smalls);
    TC_ASSERT(large && smalls);
    for (size_t j = 0; j < s->n; j++) {
        if (tv_is_large(&s->vals[j]))
            large[nlarge++] = &s->vals[j];
        else
            smalls[nsmall++] = &s->vals[j];
    }
    TC_ASSERT(nlarge && nsmall);
    tc_rng r;
    tc_rng_seed(&r, seed);
    for (unsigned rep = 0; rep < reps; rep++) {
        tv_target *t = &ts[rep % nt];
        for (unsigned i = 0; i < small; i++)
            tv_tell(t, smalls[tc_rng_below(&r, nsmall)]);
        tv_tell(t, large[rep % nlarge]);
    }
    free(large);
    free(smalls);
    tv_check_all(ts, nt, "bursts ending in a large tell");
}

/* ---- asks ------------------------------------------------------------------------------- */

#define TV_MAX_WINDOW 64

/* Waits for an ask of value v and checks the echoed value. */
static inline void tv_reap(tv_target *t, const tv_value *v, size_t j, tr_future *f)
{
    int rv = tr_future_get(f, TV_WAIT_NS);
    TC_ASSERT_MSG(rv == 0, "ask_%s #%zu: %s (%s)", v->k->name, j, tr_errname(rv),
                  tr_future_error(f) ? tr_future_error(f) : "");
    const void *got = tr_future_value(f, v->k->type);
    TC_ASSERT_MSG(got, "ask_%s #%zu: the answer has no value", v->k->name, j);
    uint64_t d = v->k->digest(got);
    TC_ASSERT_MSG(d == v->digest, "ask_%s #%zu: the answer's digest %016llx, the argument's %016llx",
                  v->k->name, j, (unsigned long long)d, (unsigned long long)v->digest);
    tr_future_release(f);
    t->want.asks++;
    t->want.ask_sum += v->digest;
}

static inline void tv_asks(tv_target *ts, size_t nt, const tv_set *s, unsigned window)
{
    TC_ASSERT(window >= 1 && window <= TV_MAX_WINDOW);
    struct {
        tr_future *f;
        size_t j;
    } ring[TV_MAX_WINDOW];
    size_t head = 0, inflight = 0; /* ring[head % window] is the oldest */
    for (size_t j = 0; j < s->n || inflight; j++) {
        if (inflight == window || (j >= s->n && inflight)) {
            size_t o = head++ % window, oj = ring[o].j;
            inflight--;
            tv_reap(&ts[oj % nt], &s->vals[oj], oj, ring[o].f);
        }
        if (j >= s->n)
            continue;
        const tv_value *v = &s->vals[j];
        size_t slot = (head + inflight++) % window;
        ring[slot].j = j;
        int rv = tr_gateway_ask(ts[j % nt].gw, &tv_gateway, v->k->ask, &v->v, TV_WAIT_NS,
                                &ring[slot].f);
        TC_ASSERT_MSG(rv == 0, "ask_%s #%zu: %s", v->k->name, j, tr_errname(rv));
    }
    tv_check_all(ts, nt, window == 1 ? "asks one at a time" : "asks in a window");
}

/* One ask_then's outcome, filled by its continuation. */
typedef struct tv_then_slot {
    const tv_value *v;
    _Atomic uint64_t *done;
    int code;
    bool has_value;
    uint64_t digest;
} tv_then_slot;

/* Runs on the thread that completes the future (a worker or the I/O
 * thread): no asserts here, only a record. */
static void tv_then_cb(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    tv_then_slot *s = arg;
    s->code = tr_future_code(f);
    const void *got = tr_future_value(f, s->v->k->type);
    s->has_value = got != NULL;
    s->digest = got ? s->v->k->digest(got) : 0;
    /* release: pairs with the acquire load in tv_ask_thens (the record). */
    atomic_fetch_add_explicit(s->done, 1, memory_order_release);
}

static inline void tv_ask_thens(tv_target *ts, size_t nt, const tv_set *s)
{
    _Atomic uint64_t done = 0;
    tv_then_slot *slots = calloc(s->n, sizeof *slots);
    TC_ASSERT(slots);
    for (size_t j = 0; j < s->n; j++) {
        slots[j].v = &s->vals[j];
        slots[j].done = &done;
        int rv = tr_gateway_ask_then(ts[j % nt].gw, &tv_gateway, s->vals[j].k->ask, &s->vals[j].v,
                                     TV_WAIT_NS, tv_then_cb, &slots[j]);
        TC_ASSERT_MSG(rv == 0, "ask_then %s #%zu: %s", s->vals[j].k->name, j, tr_errname(rv));
    }
    /* acquire: pairs with the continuations' release increments. */
    TC_ASSERT_EVENTUALLY(atomic_load_explicit(&done, memory_order_acquire) == s->n,
                         (unsigned)(TV_WAIT_NS / 1000000) + 1000);
    for (size_t j = 0; j < s->n; j++) {
        const tv_then_slot *sl = &slots[j];
        TC_ASSERT_MSG(sl->code == 0 && sl->has_value, "ask_then %s #%zu: %s%s", sl->v->k->name, j,
                      tr_errname(sl->code), sl->has_value ? "" : ", no value");
        TC_ASSERT_MSG(sl->digest == sl->v->digest,
                      "ask_then %s #%zu: the answer's digest %016llx, the argument's %016llx",
                      sl->v->k->name, j, (unsigned long long)sl->digest,
                      (unsigned long long)sl->v->digest);
        ts[j % nt].want.asks++;
        ts[j % nt].want.ask_sum += sl->v->digest;
    }
    free(slots);
    tv_check_all(ts, nt, "ask_then");
}

#endif
