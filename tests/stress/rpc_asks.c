/* Stress (TSan): asks crossing between endpoints on every worker.
 *
 * NODES endpoints implement "relay". relay.hop with hops > 0 asks a random
 * other node for hops - 1 (from inside its handler), keeps its own reply,
 * and answers it from the continuation, which runs on its main thread. So
 * every ask is a chain of asks hopping between endpoints and workers, with
 * futures completed on one worker and continuations posted to another.
 * External threads issue the outer asks (a few with deadlines short enough
 * to race the answer) and tells, keeping a bounded number outstanding.
 *
 * Checked: every outer ask completes exactly once; answered ones carry the
 * right value; asks without a short deadline all succeed; every inner ask's
 * continuation runs exactly once; no endpoint ever runs two turns at once;
 * tells all arrive. Meanwhile a thread creates and terminates endpoints
 * while looking others up by id (the RCU registry under churn). Endpoint
 * state is plain memory, so TSan checks that
 * consecutive turns are ordered. Prints its seed; pass one as argv[1] to
 * replay (thread interleavings still vary). Exits non-zero on any failure. */
#define TC_PLAIN
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { NODES = 6, THREADS = 3, ASKS = 2500, OUTSTANDING = 128, TELL_EVERY = 16, ROUNDS = 3 };

#define HOP_FIELDS(F) F(tr_u32, origin) F(tr_u32, seq) F(tr_u32, hops)
TR_STRUCT(hop_arg, HOP_FIELDS)
TR_STRUCT_DEFINE(hop_arg, HOP_FIELDS)

#define RELAY_METHODS(M)                                                      \
    M(relay, hop, hop_arg, tr_u64, ASK)                                       \
    M(relay, count, tr_u64, tr_void, TELL)
TR_GATEWAY(relay, RELAY_METHODS)
TR_GATEWAY_DEFINE(relay, RELAY_METHODS)

typedef struct node {
    tr_gateway *peers[NODES]; /* set before start */
    uint32_t rng;
    uint64_t handled, forwarded, continued, counted, errors; /* main thread */
    _Atomic int running, max_running;
} node;

static _Atomic uint64_t g_errors;
static _Atomic uint64_t g_forwarded, g_continued; /* inner asks, all rounds */

static void fail_note(const char *what)
{
    if (atomic_fetch_add(&g_errors, 1) < 10)
        fprintf(stderr, "rpc_asks: %s\n", what);
}

static void enter(node *n)
{
    int now = atomic_fetch_add(&n->running, 1) + 1;
    int m = atomic_load(&n->max_running);
    while (now > m && !atomic_compare_exchange_weak(&n->max_running, &m, now)) {
    }
}
static void leave(node *n) { atomic_fetch_sub(&n->running, 1); }

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static tr_u64 expect(uint32_t origin, uint32_t seq) { return (uint64_t)origin << 32 | seq; }

/* The inner ask came back: answer our own kept reply with its outcome. */
static void forward(tr_endpoint *self, tr_future *f, void *arg)
{
    tr_reply *kept = arg;
    if (self) {
        node *n = tr_endpoint_state(self);
        enter(n);
        n->continued++;
        atomic_fetch_add(&g_continued, 1);
        if (!tr_endpoint_in_main_thread(self))
            n->errors++;
        const tr_u64 *v = relay_hop_result(f);
        if (v)
            relay_hop_reply(kept, v);
        else
            tr_reply_fail(kept, tr_future_code(f), "via: %s", tr_future_error(f));
        leave(n);
    }
    tr_reply_release(kept); /* fails it if unanswered (self NULL) */
}

static int hop(tr_endpoint *self, void *state, const hop_arg *a, tr_reply *reply)
{
    node *n = state;
    enter(n);
    n->handled++;
    int rv = 0;
    if (a->hops == 0) {
        tr_u64 v = expect(a->origin, a->seq);
        rv = relay_hop_reply(reply, &v);
    } else {
        tr_gateway *to = n->peers[xorshift(&n->rng) % NODES];
        hop_arg next = {a->origin, a->seq, a->hops - 1};
        tr_future *f;
        rv = relay_hop(to, &next, 0, &f);
        if (rv == 0) {
            n->forwarded++;
            atomic_fetch_add(&g_forwarded, 1);
            tr_reply *kept = tr_reply_keep(reply);
            if (tr_future_then(f, forward, kept)) {
                n->errors++;
                tr_reply_release(kept);
            }
            tr_future_release(f);
        }
    }
    (void)self;
    leave(n);
    return rv;
}

static int count(tr_endpoint *self, void *state, const tr_u64 *v)
{
    (void)self, (void)v;
    node *n = state;
    enter(n);
    n->counted++;
    leave(n);
    return 0;
}

static const relay_handlers handlers = {.hop = hop, .count = count};

/* ---- the outer askers ----------------------------------------------------- */

typedef struct slot {
    _Atomic int completions;
    _Atomic int code;
    uint32_t origin, seq;
    bool short_deadline;
} slot;

typedef struct asker {
    tr_gateway *gws[NODES];
    uint32_t index, rng;
    slot *slots;
    uint64_t tells;
} asker;

static void outer_done(tr_endpoint *self, tr_future *f, void *arg)
{
    slot *s = arg;
    if (self)
        fail_note("an outside continuation ran with an endpoint");
    int code = tr_future_code(f);
    if (code == 0) {
        const tr_u64 *v = relay_hop_result(f);
        if (!v || *v != expect(s->origin, s->seq))
            fail_note("wrong value");
    }
    atomic_store(&s->code, code);
    atomic_fetch_add(&s->completions, 1);
}

static void *ask_loop(void *p)
{
    asker *a = p;
    uint32_t done = 0; /* every slot below it has completed */
    for (uint32_t i = 0; i < ASKS; i++) {
        uint64_t dl = tc_deadline_ms(60000);
        for (;;) { /* keep at most OUTSTANDING asks in flight */
            while (done < i && atomic_load(&a->slots[done].completions))
                done++;
            if (i - done < OUTSTANDING || !tc_poll(dl))
                break;
        }
        slot *s = &a->slots[i];
        s->origin = a->index;
        s->seq = i;
        s->short_deadline = xorshift(&a->rng) % 8 == 0;
        int64_t timeout = s->short_deadline ? (int64_t)(xorshift(&a->rng) % 3000) * 1000 + 1 : 0;
        hop_arg arg = {a->index, i, xorshift(&a->rng) % 5};
        tr_future *f;
        int rv = relay_hop(a->gws[xorshift(&a->rng) % NODES], &arg, timeout, &f);
        if (rv) {
            fail_note("relay_hop refused");
            atomic_fetch_add(&s->completions, 1);
            continue;
        }
        if (tr_future_then(f, outer_done, s))
            fail_note("then failed");
        tr_future_release(f);
        if (i % TELL_EVERY == 0) {
            if (relay_count(a->gws[i % NODES], &(tr_u64){i}))
                fail_note("tell refused");
            else
                a->tells++;
        }
    }
    return NULL;
}

/* ---- registry churn: endpoints come and go while others look them up ---- */

enum { CHURN = 300 };

typedef struct churner {
    tr_service *svc;
    uint32_t rng;
    _Atomic int stop;
    uint64_t made, lookups_hit, lookups_miss;
} churner;

static void retire(tr_endpoint *ep)
{
    tr_future *term;
    tr_endpoint_terminate(ep);
    tr_endpoint_termination(ep, &term);
    if (tr_future_get(term, 20LL * 1000 * 1000 * 1000))
        fail_note("temp termination failed");
    tr_future_release(term);
    tr_endpoint_release(ep);
}

/* Keeps the last 4 endpoints alive and looks up one of the last 8 ids, so
 * lookups hit live, terminating and gone endpoints. */
static void *churn_loop(void *p)
{
    churner *c = p;
    tr_endpoint *live[4] = {0};
    for (int i = 0; i < CHURN; i++) {
        char id[32], other[32];
        snprintf(id, sizeof id, "temp-%d", i);
        int back = (int)(xorshift(&c->rng) % 8);
        snprintf(other, sizeof other, "temp-%d", i - back > 0 ? i - back : 0);
        tr_gateway_impl impls[] = {relay_impl(&handlers)};
        tr_endpoint *ep;
        if (tr_endpoint_create(c->svc,
                               &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                   .state_size = sizeof(node)},
                               &ep)) {
            fail_note("temp create failed");
            continue;
        }
        ((node *)tr_endpoint_state(ep))->rng = 1;
        tr_endpoint_start(ep); /* it answers hop 0 only: its peers stay NULL */
        c->made++;
        if (live[i % 4])
            retire(live[i % 4]);
        live[i % 4] = ep;
        tr_gateway *gw;
        if (tr_service_connect(c->svc, other, &relay_gateway, &gw) == 0) {
            c->lookups_hit++;
            tr_future *f;
            if (relay_hop(gw, &(hop_arg){9, (uint32_t)i, 0}, 0, &f) == 0) {
                int rv = tr_future_get(f, 20LL * 1000 * 1000 * 1000);
                if (rv != 0 && rv != TR_EUNREACHABLE)
                    fail_note("temp ask failed");
                tr_future_release(f);
            } /* else TR_EUNREACHABLE: it terminated in between */
            tr_gateway_release(gw);
        } else {
            c->lookups_miss++;
        }
    }
    for (int k = 0; k < 4; k++)
        if (live[k])
            retire(live[k]);
    return NULL;
}

static int run_round(uint64_t seed)
{
    tc_rng rng;
    tc_rng_seed(&rng, seed);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = (unsigned)(1 + tc_rng_below(&rng, 64));
    cfg.msg_alloc = tc_rng_below(&rng, 2) ? TR_MSG_ALLOC_POOL : TR_MSG_ALLOC_MALLOC;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));

    tr_endpoint *eps[NODES];
    node *nodes[NODES];
    for (int i = 0; i < NODES; i++) {
        char id[16];
        snprintf(id, sizeof id, "node-%d", i);
        tr_gateway_impl impls[] = {relay_impl(&handlers)};
        TC_OK(tr_endpoint_create(svc,
                                 &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                     .state_size = sizeof(node)},
                                 &eps[i]));
        nodes[i] = tr_endpoint_state(eps[i]);
        nodes[i]->rng = (uint32_t)tc_rng_next(&rng) | 1;
    }
    for (int i = 0; i < NODES; i++) {
        for (int j = 0; j < NODES; j++) {
            char id[16];
            snprintf(id, sizeof id, "node-%d", j);
            TC_OK(tr_service_connect(svc, id, &relay_gateway, &nodes[i]->peers[j]));
        }
        TC_OK(tr_endpoint_start(eps[i]));
    }

    churner ch = {.svc = svc, .rng = (uint32_t)tc_rng_next(&rng) | 1};
    pthread_t churn_thread;
    pthread_create(&churn_thread, NULL, churn_loop, &ch);

    static asker askers[THREADS];
    pthread_t t[THREADS];
    for (uint32_t k = 0; k < THREADS; k++) {
        askers[k] = (asker){.index = k, .rng = (uint32_t)tc_rng_next(&rng) | 1};
        askers[k].slots = calloc(ASKS, sizeof(slot));
        for (int j = 0; j < NODES; j++) {
            char id[16];
            snprintf(id, sizeof id, "node-%d", j);
            TC_OK(tr_service_connect(svc, id, &relay_gateway, &askers[k].gws[j]));
        }
        pthread_create(&t[k], NULL, ask_loop, &askers[k]);
    }
    for (uint32_t k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    pthread_join(churn_thread, NULL);

    /* Every outer ask completes, exactly once. */
    uint64_t ok = 0, timed_out = 0, tells = 0;
    uint64_t dl = tc_deadline_ms(60000);
    for (uint32_t k = 0; k < THREADS; k++)
        for (uint32_t i = 0; i < ASKS; i++)
            while (!atomic_load(&askers[k].slots[i].completions) && tc_poll(dl)) {
            }
    tc_sleep_us(20000); /* room for a wrong second completion to show */
    for (uint32_t k = 0; k < THREADS; k++) {
        tells += askers[k].tells;
        for (uint32_t i = 0; i < ASKS; i++) {
            slot *s = &askers[k].slots[i];
            int c = atomic_load(&s->completions);
            if (c != 1) {
                fprintf(stderr, "rpc_asks: ask %u/%u completed %d times\n", k, i, c);
                atomic_fetch_add(&g_errors, 1);
                continue;
            }
            int code = atomic_load(&s->code);
            if (code == 0)
                ok++;
            else if (code == TR_ETIMEDOUT && s->short_deadline)
                timed_out++;
            else {
                fprintf(stderr, "rpc_asks: ask %u/%u (%s deadline) failed: %s\n", k, i,
                        s->short_deadline ? "short" : "10 s", tr_errname(code));
                atomic_fetch_add(&g_errors, 1);
            }
        }
    }
    for (uint32_t k = 0; k < THREADS; k++)
        for (int j = 0; j < NODES; j++)
            tr_gateway_release(askers[k].gws[j]);

    /* Inner chains may still run after a timed-out outer ask: wait until
     * every forwarded ask's continuation has run (each is bounded by its
     * 10 s deadline, and answered long before). */
    uint64_t qdl = tc_deadline_ms(30000);
    while (atomic_load(&g_continued) != atomic_load(&g_forwarded) && tc_poll(qdl)) {
    }
    for (int i = 0; i < NODES; i++)
        for (int j = 0; j < NODES; j++)
            tr_gateway_release(nodes[i]->peers[j]);
    uint64_t handled = 0, forwarded = 0, continued = 0, counted = 0;
    for (int i = 0; i < NODES; i++) {
        tr_future *term;
        TC_OK(tr_endpoint_terminate(eps[i]));
        TC_OK(tr_endpoint_termination(eps[i], &term));
        TC_OK(tr_future_get(term, 20LL * 1000 * 1000 * 1000));
        tr_future_release(term);
    }
    for (int i = 0; i < NODES; i++) {
        node *n = nodes[i];
        handled += n->handled;
        forwarded += n->forwarded;
        continued += n->continued;
        counted += n->counted;
        if (n->errors || atomic_load(&n->max_running) != 1) {
            fprintf(stderr, "rpc_asks: node %d: %" PRIu64 " errors, max %d turns at once\n", i,
                    n->errors, atomic_load(&n->max_running));
            atomic_fetch_add(&g_errors, 1);
        }
    }
    printf("rpc_asks: round: batch=%u alloc=%s: %" PRIu64 " answered, %" PRIu64
           " timed out, %" PRIu64 " handled, %" PRIu64 " forwarded, %" PRIu64 " continued, %" PRIu64
           " tells; churn: %" PRIu64 " endpoints, %" PRIu64 "/%" PRIu64 " lookups hit\n",
           cfg.batch, cfg.msg_alloc == TR_MSG_ALLOC_POOL ? "pool" : "malloc", ok, timed_out,
           handled, forwarded, continued, counted, ch.made, ch.lookups_hit,
           ch.lookups_hit + ch.lookups_miss);
    if (counted != tells) {
        fprintf(stderr, "rpc_asks: %" PRIu64 " tells sent, %" PRIu64 " counted\n", tells, counted);
        atomic_fetch_add(&g_errors, 1);
    }
    if (continued != forwarded) {
        fprintf(stderr, "rpc_asks: %" PRIu64 " inner asks, %" PRIu64 " continuations\n",
                forwarded, continued);
        atomic_fetch_add(&g_errors, 1);
    }
    for (int i = 0; i < NODES; i++)
        tr_endpoint_release(eps[i]);
    for (uint32_t k = 0; k < THREADS; k++)
        free(askers[k].slots);
    tr_service_destroy(svc);
    return atomic_load(&g_errors) ? 1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : tc_now_ns();
    printf("rpc_asks: seed %" PRIu64 "\n", seed);
    fflush(stdout);
    for (int r = 0; r < ROUNDS; r++)
        if (run_round(seed + (uint64_t)r))
            break;
    uint64_t errors = atomic_load(&g_errors);
    printf("rpc_asks: %s (%" PRIu64 " errors)\n", errors ? "FAILED" : "ok", errors);
    return errors ? 1 : 0;
}
