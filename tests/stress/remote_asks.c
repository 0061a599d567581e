/* Stress (TSan): remote asks between three services in one process.
 *
 * Two serving services, A and B, listen on loopback; each has NODES
 * endpoints implementing "rs". rs.hop(h) with h > 0 asks a node on the
 * other service for h - 1 through a remote gateway, from inside its
 * handler, keeps its reply and answers it from the continuation (which the
 * other service's answer brings back to this endpoint's main thread
 * through the I/O thread). So each hop crosses both I/O threads twice,
 * completes a future on one, posts a continuation to a worker.
 *
 * A third service C is the outside world: THREADS user threads call A's
 * and B's nodes through it (ask_then, OUTSTANDING at most each, a few with
 * deadlines short enough to race the answer, and bursts of ordered tells,
 * which the serving side hands to the endpoint in batches), and C
 * reaches A through a TCP proxy that cuts the connection once per round:
 * asks in flight then fail with TR_EUNREACHABLE and later ones reconnect.
 *
 * Checked: every outer ask completes exactly once (a counter per ask);
 * every answered one has the right value; the only failures are
 * TR_EUNREACHABLE (the cut) and TR_ETIMEDOUT (the short deadlines); every
 * PAD_EVERY-th ask carries 16-160 KiB of padding, passed along its hops
 * and checked byte by byte at each (written from the call's own copy by
 * the I/O thread, and from 128 KiB read by the handler in the receiving
 * connection's lent read buffer, racing the deadlines and the cut); tells
 * from one thread arrive in order; no endpoint runs two turns at once.
 * Plain memory in endpoint state, so TSan checks turns are ordered.
 * Prints its seed; exits non-zero on any failure. */
#define TC_PLAIN
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "remote/proxy.h"
#include "troupe/troupe.h"

enum { NODES = 3, THREADS = 2, ASKS = 1500, OUTSTANDING = 64, TELL_EVERY = 8, TELL_BURST = 24,
       MAX_HOPS = 3, PAD_EVERY = 8, PAD_MIN = 16 << 10, PAD_SPREAD = 144 << 10 };

#define HOPS_FIELDS(F) F(tr_u32, hops) F(tr_u32, tag) F(tr_bytes, pad)
TR_STRUCT(hops_arg, HOPS_FIELDS)
TR_STRUCT_DEFINE(hops_arg, HOPS_FIELDS)

#define RS_METHODS(M)                                                         \
    M(rs, hop, hops_arg, tr_u64, ASK)                                         \
    M(rs, note, tr_u64, tr_void, TELL)
TR_GATEWAY(rs, RS_METHODS)
TR_GATEWAY_DEFINE(rs, RS_METHODS)

static _Atomic uint64_t g_errors;

static void fail_note(const char *fmt, const char *what, long long v)
{
    if (atomic_fetch_add(&g_errors, 1) < 10) {
        fprintf(stderr, "remote_asks: ");
        fprintf(stderr, fmt, what, v);
        fputc('\n', stderr);
    }
}

/* ---- the serving nodes ----------------------------------------------------------- */

typedef struct node {
    tr_gateway *other[NODES]; /* remote gateways to the other service; set before start */
    uint32_t rng;
    uint64_t next_note[THREADS]; /* main thread */
    uint64_t hops, notes;
    _Atomic int running;
} node;

typedef struct pending_hop {
    tr_reply *reply;
    node *n;
} pending_hop;

static void enter(node *n)
{
    if (atomic_fetch_add(&n->running, 1) != 0)
        fail_note("%s %lld", "two turns at once", 0);
}
static void leave(node *n) { atomic_fetch_sub(&n->running, 1); }

static void hop_answered(tr_endpoint *self, tr_future *f, void *arg)
{
    pending_hop *ph = arg;
    if (self) {
        enter(ph->n);
        const tr_u64 *v = rs_hop_result(f);
        if (v) {
            tr_u64 r = *v + 1;
            rs_hop_reply(ph->reply, &r);
        } else {
            tr_reply_fail(ph->reply, tr_future_code(f), "inner hop: %s", tr_future_error(f));
        }
        leave(ph->n);
    }
    tr_reply_release(ph->reply); /* fails it if unanswered (self NULL: dropped) */
    free(ph);
}

/* The padding's bytes for an ask's tag. */
static uint8_t pad_byte(uint32_t tag, uint32_t j) { return (uint8_t)(tag * 31u + j * 7u + (j >> 9)); }

static int on_hop(tr_endpoint *self, void *state, const hops_arg *arg, tr_reply *reply)
{
    (void)self;
    node *n = state;
    enter(n);
    n->hops++;
    int rv = 0;
    for (uint32_t j = 0; j < arg->pad.len; j++) {
        if (((const uint8_t *)arg->pad.data)[j] != pad_byte(arg->tag, j)) {
            leave(n);
            return tr_reply_fail(reply, TR_EINVAL, "padding byte %u of %u is wrong", j,
                                 arg->pad.len);
        }
    }
    if (arg->hops == 0) {
        tr_u64 r = arg->tag;
        rv = rs_hop_reply(reply, &r);
    } else {
        n->rng = n->rng * 1103515245u + 12345u;
        tr_gateway *to = n->other[(n->rng >> 16) % NODES];
        pending_hop *ph = malloc(sizeof *ph);
        if (!ph) {
            leave(n);
            return TR_ENOMEM;
        }
        ph->reply = tr_reply_keep(reply);
        ph->n = n;
        hops_arg next = {arg->hops - 1, arg->tag, arg->pad};
        rv = rs_hop_then(to, &next, 0, hop_answered, ph);
        if (rv) {
            tr_reply_release(ph->reply);
            free(ph);
        }
    }
    leave(n);
    return rv;
}

static int on_note(tr_endpoint *self, void *state, const tr_u64 *arg)
{
    (void)self;
    node *n = state;
    enter(n);
    uint32_t who = (uint32_t)(*arg >> 32), seq = (uint32_t)*arg;
    if (who < THREADS) {
        /* In order per sender; a cut may lose a run of tells (at most once). */
        if (seq < n->next_note[who])
            fail_note("%s %lld", "a tell arrived out of order or twice", (long long)seq);
        n->next_note[who] = seq + 1;
    }
    n->notes++;
    leave(n);
    return 0;
}

static const rs_handlers handlers = {.hop = on_hop, .note = on_note};

/* ---- the outside callers --------------------------------------------------------------- */

typedef struct caller {
    unsigned index;
    tr_gateway *to[2 * NODES]; /* A's nodes (through the proxy), then B's */
    _Atomic uint8_t *seen;     /* per ask: completions */
    _Atomic uint32_t inflight;
    _Atomic uint64_t ok, unreachable, timedout, wrong;
    uint32_t notes;            /* tells sent (to B's first node, never cut) */
    tc_rng rng;
} caller;

typedef struct ask_ctx {
    caller *c;
    uint32_t i, tag, hops;
    bool short_deadline;
} ask_ctx;

static void outer_done(tr_endpoint *self, tr_future *f, void *arg)
{
    (void)self;
    ask_ctx *a = arg;
    caller *c = a->c;
    if (atomic_fetch_add(&c->seen[a->i], 1) != 0)
        fail_note("%s %lld", "an ask completed twice", (long long)a->i);
    int code = tr_future_code(f);
    const tr_u64 *v = rs_hop_result(f);
    if (code == 0) {
        if (!v || *v != (uint64_t)a->tag + a->hops)
            atomic_fetch_add(&c->wrong, 1);
        else
            atomic_fetch_add(&c->ok, 1);
    } else if (code == TR_EUNREACHABLE) {
        atomic_fetch_add(&c->unreachable, 1);
    } else if (code == TR_ETIMEDOUT && a->short_deadline) {
        atomic_fetch_add(&c->timedout, 1);
    } else {
        fail_note("%s %lld", tr_future_error(f) ? tr_future_error(f) : "?", code);
    }
    free(a);
    atomic_fetch_sub(&c->inflight, 1);
}

static void *caller_main(void *arg)
{
    caller *c = arg;
    uint32_t notes = 0;
    for (uint32_t i = 0; i < ASKS; i++) {
        c->notes = notes;
        uint64_t dl = tc_deadline_ms(30000);
        while (atomic_load(&c->inflight) >= OUTSTANDING && tc_now_ns() < dl)
            tc_sleep_us(50);
        ask_ctx *a = malloc(sizeof *a);
        if (!a) {
            fail_note("%s %lld", "out of memory", 0);
            break;
        }
        a->c = c;
        a->i = i;
        a->tag = (uint32_t)tc_rng_next(&c->rng);
        a->hops = (uint32_t)tc_rng_below(&c->rng, MAX_HOPS + 1);
        a->short_deadline = tc_rng_below(&c->rng, 50) == 0;
        tr_gateway *to = c->to[tc_rng_below(&c->rng, 2 * NODES)];
        atomic_fetch_add(&c->inflight, 1);
        hops_arg h = {a->hops, a->tag, {NULL, 0}};
        uint8_t *pad = NULL;
        if (i % PAD_EVERY == 0 && (pad = malloc(PAD_MIN + PAD_SPREAD))) {
            h.pad.len = PAD_MIN + (uint32_t)tc_rng_below(&c->rng, PAD_SPREAD);
            for (uint32_t j = 0; j < h.pad.len; j++)
                pad[j] = pad_byte(a->tag, j);
            h.pad.data = pad;
        }
        int rv = rs_hop_then(to, &h, a->short_deadline ? 1000000 : 0, outer_done, a);
        free(pad); /* the ask holds its own copy */
        if (rv) {
            fail_note("%s %lld", "ask refused", rv);
            atomic_fetch_sub(&c->inflight, 1);
            free(a);
        }
        if (i % TELL_EVERY == 0) {
            /* A burst: the server hands runs of them over as one batch. */
            for (int k = 0; k < TELL_BURST; k++) {
                tr_u64 v = (uint64_t)c->index << 32 | notes++;
                if (rs_note(c->to[NODES], &v)) /* B's first node: never cut */
                    fail_note("%s %lld", "tell refused", 0);
            }
        }
    }
    c->notes = notes;
    return NULL;
}

/* ---- a round ------------------------------------------------------------------------------- */

static tr_service *make_service(bool listen)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.listen = listen;
    tr_service *svc = NULL;
    if (tr_service_create(&cfg, &svc))
        return NULL;
    return svc;
}

static int connect_node(tr_service *from, uint16_t port, unsigned k, tr_gateway **out)
{
    char a[96];
    snprintf(a, sizeof a, "troupe://127.0.0.1:%u/n%u", (unsigned)port, k);
    int rv = tr_service_connect(from, a, &rs_gateway, out);
    if (rv)
        fprintf(stderr, "remote_asks: connect %s: %s\n", a, tr_service_connect_error());
    return rv;
}

static int round_run(tc_rng *rng, uint64_t *count)
{
    tr_service *svc[2] = {make_service(true), make_service(true)};
    tr_service *outside = make_service(false);
    TC_ASSERT(svc[0] && svc[1] && outside);
    r_proxy proxy;
    r_proxy_start(&proxy, tr_service_port(svc[0]));
    tr_endpoint *eps[2][NODES];
    tr_gateway_impl impls[] = {rs_impl(&handlers)};
    for (int s = 0; s < 2; s++) {
        for (unsigned k = 0; k < NODES; k++) {
            char id[16];
            snprintf(id, sizeof id, "n%u", k);
            TC_OK(tr_endpoint_create(svc[s], &(tr_endpoint_opts){.id = id, .gateways = impls,
                                                                 .ngateways = 1,
                                                                 .state_size = sizeof(node)},
                                     &eps[s][k]));
        }
    }
    for (int s = 0; s < 2; s++) {
        for (unsigned k = 0; k < NODES; k++) {
            node *n = tr_endpoint_state(eps[s][k]);
            n->rng = (uint32_t)tc_rng_next(rng) | 1;
            for (unsigned j = 0; j < NODES; j++)
                TC_OK(connect_node(svc[s], tr_service_port(svc[1 - s]), j, &n->other[j]));
            TC_OK(tr_endpoint_start(eps[s][k]));
        }
    }
    caller cs[THREADS];
    pthread_t th[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        caller *c = &cs[t];
        memset(c, 0, sizeof *c);
        c->index = t;
        c->seen = calloc(ASKS, 1);
        tc_rng_seed(&c->rng, tc_rng_next(rng));
        for (unsigned k = 0; k < NODES; k++) {
            TC_OK(connect_node(outside, proxy.port, k, &c->to[k]));
            TC_OK(connect_node(outside, tr_service_port(svc[1]), k, &c->to[NODES + k]));
        }
    }
    for (unsigned t = 0; t < THREADS; t++)
        TC_ASSERT(pthread_create(&th[t], NULL, caller_main, &cs[t]) == 0);
    tc_sleep_us((unsigned)(2000 + tc_rng_below(rng, 20000)));
    r_proxy_cut(&proxy);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    uint64_t dl = tc_deadline_ms(60000);
    for (unsigned t = 0; t < THREADS; t++)
        while (atomic_load(&cs[t].inflight) && tc_poll(dl)) {
        }
    /* A last ask after each caller's tells, on the same gateway: answered
     * only once the endpoint has run every tell before it. */
    for (unsigned t = 0; t < THREADS; t++) {
        tr_future *f;
        TC_OK(rs_hop(cs[t].to[NODES], &(hops_arg){0, 1, {NULL, 0}}, 0, &f));
        TC_OK(tr_future_get(f, 30000000000LL));
        tr_future_release(f);
    }
    int failed = atomic_load(&g_errors) != 0;
    for (unsigned t = 0; t < THREADS; t++) {
        caller *c = &cs[t];
        uint64_t never = 0;
        for (unsigned i = 0; i < ASKS; i++)
            never += atomic_load(&c->seen[i]) == 0;
        uint64_t sum = c->ok + c->unreachable + c->timedout;
        if (never || c->wrong || sum != ASKS || atomic_load(&c->inflight)) {
            fprintf(stderr,
                    "remote_asks: caller %u: %llu never completed, %llu wrong, %llu+%llu+%llu "
                    "of %d\n",
                    t, (unsigned long long)never, (unsigned long long)c->wrong,
                    (unsigned long long)c->ok, (unsigned long long)c->unreachable,
                    (unsigned long long)c->timedout, ASKS);
            failed = 1;
        }
        *count += c->ok;
        for (unsigned k = 0; k < 2 * NODES; k++)
            tr_gateway_release(c->to[k]);
        free(c->seen);
    }
    uint64_t notes_sent = 0, notes_received = 0;
    for (unsigned t = 0; t < THREADS; t++)
        notes_sent += cs[t].notes;
    tr_service_destroy(outside); /* closes its connections after what it sent */
    for (int s = 0; s < 2; s++)
        for (unsigned k = 0; k < NODES; k++)
            TC_OK(tr_endpoint_terminate(eps[s][k]));
    for (int s = 0; s < 2; s++) {
        for (unsigned k = 0; k < NODES; k++) {
            tr_future *term;
            TC_OK(tr_endpoint_termination(eps[s][k], &term));
            TC_OK(tr_future_wait(term, 30000000000LL));
            tr_future_release(term);
            node *n = tr_endpoint_state(eps[s][k]); /* quiet now */
            if (s == 1 && k == 0)
                notes_received = n->notes;
            for (unsigned j = 0; j < NODES; j++)
                tr_gateway_release(n->other[j]);
            tr_endpoint_release(eps[s][k]);
        }
    }
    tr_service_destroy(svc[0]);
    tr_service_destroy(svc[1]);
    r_proxy_stop(&proxy);
    if (notes_received != notes_sent) {
        fprintf(stderr, "remote_asks: %llu tells sent, %llu arrived\n",
                (unsigned long long)notes_sent, (unsigned long long)notes_received);
        failed = 1;
    }
    return failed;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "remote_asks", "asks answered", round_run);
}
