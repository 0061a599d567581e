/* Stress (TSan): muting and blocking under churn (core/flow.h).
 *
 * Each round: a service with 2 workers; a consumer with a small random
 * high-water mark; P producer actors that send to it in turns (each turn a
 * burst, then a message to themselves to go on), and which the consumer
 * sends back to now and then (a cycle); OUTSIDE threads that send to the
 * consumer with random send timeouts (0, short, long). In some rounds the
 * consumer stops itself part-way, releasing whoever is muted or blocked on
 * it. Checked: every send that returned 0 is processed or dropped exactly
 * once, per-sender order at the consumer, TR_EAGAIN only from outside
 * threads, and the round ends in time (no sender left muted forever). */
#define TC_PLAIN
#include <pthread.h>
#include <stdlib.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { P = 3, OUTSIDE = 2, SENDERS = P + OUTSIDE, PER_SENDER = 3000, BURST = 16 };
enum { TAG_DATA = 1, TAG_GO, TAG_ECHO };

typedef struct data_msg {
    uint32_t from;
    uint64_t seq;
} data_msg;

typedef struct consumer_state {
    uint64_t next[SENDERS], order_errors, got, stop_at;
    tr_actor *producers[P];
    tc_rng rng;
} consumer_state;

typedef struct producer_state {
    tr_actor *to;
    uint32_t id;
    uint64_t sent, echoes;
} producer_state;

static _Atomic uint64_t g_accepted, g_seen, g_errors, g_producers_done;

static void consumer_behavior(tr_actor *self, void *state, tr_msg *m)
{
    consumer_state *c = state;
    if (m->tag == TAG_DATA) {
        data_msg *d = tr_msg_data(m);
        if (d->from >= SENDERS || d->seq != c->next[d->from])
            c->order_errors++;
        else
            c->next[d->from]++;
        c->got++;
        atomic_fetch_add_explicit(&g_seen, 1, memory_order_release);
        if (tc_rng_below(&c->rng, 64) == 0) { /* the cycle: back to a producer */
            tr_msg *e = tr_msg_new(TAG_ECHO, 0);
            if (e && tr_send(c->producers[tc_rng_below(&c->rng, P)], e))
                tr_msg_free(e);
        }
        if (c->stop_at && c->got == c->stop_at)
            tr_actor_stop(self);
    }
    tr_msg_free(m);
}

static void consumer_drop(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    (void)state;
    if (m->tag == TAG_DATA)
        atomic_fetch_add_explicit(&g_seen, 1, memory_order_release);
    tr_msg_free(m);
}

static void producer_behavior(tr_actor *self, void *state, tr_msg *m)
{
    producer_state *p = state;
    uint32_t tag = m->tag;
    tr_msg_free(m);
    if (tag == TAG_ECHO) {
        p->echoes++;
        return;
    }
    for (int i = 0; i < BURST && p->sent < PER_SENDER; i++) {
        tr_msg *d = tr_msg_new(TAG_DATA, sizeof(data_msg));
        *(data_msg *)tr_msg_data(d) = (data_msg){p->id, p->sent};
        int rv = tr_send(p->to, d);
        if (rv == 0) {
            p->sent++;
            atomic_fetch_add_explicit(&g_accepted, 1, memory_order_relaxed);
        } else {
            tr_msg_free(d);
            if (rv != TR_ESTOPPED) /* a turn is never blocked nor refused */
                atomic_fetch_add(&g_errors, 1);
            p->sent = PER_SENDER; /* stopped: give up */
        }
    }
    if (p->sent < PER_SENDER) {
        tr_msg *go = tr_msg_new(TAG_GO, 0);
        if (go && tr_send(self, go))
            tr_msg_free(go);
    } else {
        atomic_fetch_add_explicit(&g_producers_done, 1, memory_order_release);
    }
}

typedef struct outside_arg {
    tr_actor *to;
    uint32_t id;
    uint64_t seed;
} outside_arg;

static void *outside_main(void *arg)
{
    outside_arg *o = arg;
    tc_rng rng;
    tc_rng_seed(&rng, o->seed);
    uint64_t seq = 0;
    for (unsigned tries = 0; seq < PER_SENDER && tries < 50 * PER_SENDER; tries++) {
        static const int64_t timeouts[] = {0, 200000, 5000000000LL};
        tr_thread_send_timeout(timeouts[tc_rng_below(&rng, 3)]);
        tr_msg *d = tr_msg_new(TAG_DATA, sizeof(data_msg));
        *(data_msg *)tr_msg_data(d) = (data_msg){o->id, seq};
        int rv = tr_send(o->to, d);
        if (rv == 0) {
            seq++;
            atomic_fetch_add_explicit(&g_accepted, 1, memory_order_relaxed);
            continue;
        }
        tr_msg_free(d);
        if (rv == TR_ESTOPPED)
            break;
        if (rv != TR_EAGAIN)
            atomic_fetch_add(&g_errors, 1);
    }
    return NULL;
}

static int round_fn(tc_rng *rng, uint64_t *count)
{
    atomic_store(&g_accepted, 0);
    atomic_store(&g_seen, 0);
    atomic_store(&g_errors, 0);
    atomic_store(&g_producers_done, 0);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_actor *c, *prod[P];
    tr_actor_opts co = {.behavior = consumer_behavior, .on_drop = consumer_drop,
                        .state_size = sizeof(consumer_state),
                        .mailbox_high = 4 + (uint32_t)tc_rng_below(rng, 61)};
    TC_OK(tr_spawn(svc, &co, &c));
    consumer_state *cs = tr_actor_state(c);
    tc_rng_seed(&cs->rng, tc_rng_next(rng));
    bool stops = tc_rng_below(rng, 3) == 0;
    cs->stop_at = stops ? 1 + tc_rng_below(rng, SENDERS * PER_SENDER / 2) : 0;
    tr_actor_opts po = {.behavior = producer_behavior, .state_size = sizeof(producer_state),
                        .mailbox_high = 8 + (uint32_t)tc_rng_below(rng, 64)};
    for (int i = 0; i < P; i++) {
        TC_OK(tr_spawn(svc, &po, &prod[i]));
        producer_state *ps = tr_actor_state(prod[i]);
        ps->to = c;
        ps->id = (uint32_t)i;
        cs->producers[i] = prod[i];
    }
    pthread_t th[OUTSIDE];
    outside_arg oa[OUTSIDE];
    for (int i = 0; i < OUTSIDE; i++) {
        oa[i] = (outside_arg){c, (uint32_t)(P + i), tc_rng_next(rng)};
        TC_ASSERT(pthread_create(&th[i], NULL, outside_main, &oa[i]) == 0);
    }
    for (int i = 0; i < P; i++)
        TC_OK(tr_send(prod[i], tr_msg_new(TAG_GO, 0)));
    for (int i = 0; i < OUTSIDE; i++)
        pthread_join(th[i], NULL);
    TC_ASSERT_MSG(tc_wait_u64(&g_producers_done, P, 60000), "producers stuck (muted?)");
    uint64_t accepted = atomic_load(&g_accepted);
    TC_ASSERT_MSG(tc_wait_u64(&g_seen, accepted, 60000), "seen %llu of %llu accepted",
                  (unsigned long long)atomic_load(&g_seen), (unsigned long long)accepted);
    tr_service_shutdown(svc); /* quiesce before reading the consumer's plain fields */
    uint64_t order_errors = cs->order_errors;
    for (int i = 0; i < P; i++)
        tr_actor_release(prod[i]);
    tr_actor_release(c);
    tr_service_destroy(svc);
    TC_ASSERT_MSG(atomic_load(&g_seen) == accepted, "seen %llu != accepted %llu",
                  (unsigned long long)atomic_load(&g_seen), (unsigned long long)accepted);
    TC_ASSERT_MSG(order_errors == 0, "%llu out of order", (unsigned long long)order_errors);
    TC_ASSERT_MSG(atomic_load(&g_errors) == 0, "%llu unexpected send errors",
                  (unsigned long long)atomic_load(&g_errors));
    *count += accepted;
    return 0;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "flow_churn", "messages", round_fn);
}
