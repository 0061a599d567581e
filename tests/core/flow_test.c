/* Backpressure on plain actors (core/flow.h, README "Backpressure"): an
 * outside thread blocked then timed out keeping its message, the
 * non-blocking form, the hard capacity, a producer muted by a slow consumer
 * with the mailbox bounded and every message delivered in order, and a ring
 * of overloaded actors that still completes (no deadlock). */
#include <pthread.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define WAIT_MS 20000

enum { TAG_SEQ = 1, TAG_HOLD, TAG_GO, TAG_RING };

typedef struct seq_msg {
    uint64_t seq;
} seq_msg;

static tr_msg *seq_new(uint32_t tag, uint64_t seq)
{
    tr_msg *m = tr_msg_new(tag, sizeof(seq_msg));
    cr_assert(m);
    ((seq_msg *)tr_msg_data(m))->seq = seq;
    return m;
}

static tr_service *make_service(unsigned workers, int64_t send_timeout_ns)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = workers;
    cfg.send_timeout_ns = send_timeout_ns;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* ---- a consumer that checks order and can be held ------------------------------- */

static _Atomic int g_hold;             /* TAG_HOLD turns wait while set */
static _Atomic uint64_t g_received, g_out_of_order, g_peak;

typedef struct consumer {
    uint64_t next;
    unsigned spin_ns;
} consumer;

static void consumer_behavior(tr_actor *self, void *state, tr_msg *m)
{
    consumer *c = state;
    if (m->tag == TAG_HOLD) {
        uint64_t dl = tc_deadline_ms(WAIT_MS);
        while (atomic_load(&g_hold) && tc_poll(dl)) {
        }
    } else if (m->tag == TAG_SEQ) {
        uint64_t seq = ((seq_msg *)tr_msg_data(m))->seq;
        if (seq != c->next)
            atomic_fetch_add(&g_out_of_order, 1);
        c->next = seq + 1;
        uint64_t len = tr_actor_mailbox_len(self);
        if (len > atomic_load_explicit(&g_peak, memory_order_relaxed))
            atomic_store_explicit(&g_peak, len, memory_order_relaxed);
        if (c->spin_ns) {
            uint64_t until = tc_now_ns() + c->spin_ns;
            while (tc_now_ns() < until) {
            }
        }
        atomic_fetch_add_explicit(&g_received, 1, memory_order_release);
    }
    tr_msg_free(m);
}

static void reset(void)
{
    atomic_store(&g_hold, 0);
    atomic_store(&g_received, 0);
    atomic_store(&g_out_of_order, 0);
    atomic_store(&g_peak, 0);
}

Test(flow, outside_thread_blocks_then_times_out_keeping_its_message, .timeout = 60)
{
    reset();
    tr_service *svc = make_service(1, 50LL * 1000 * 1000); /* 50 ms */
    tr_actor *c;
    tr_actor_opts o = {.behavior = consumer_behavior, .state_size = sizeof(consumer),
                       .mailbox_high = 8};
    TC_OK(tr_spawn(svc, &o, &c));
    atomic_store(&g_hold, 1);
    TC_OK(tr_send(c, tr_msg_new(TAG_HOLD, 0)));
    TC_WAIT_UNTIL(tr_actor_mailbox_len(c) == 0, WAIT_MS); /* the hold is running */
    for (uint64_t i = 0; i < 8; i++)
        TC_OK(tr_send(c, seq_new(TAG_SEQ, i)));
    /* At the mark: the non-blocking form refuses at once. */
    tr_msg *m = seq_new(TAG_SEQ, 8);
    uint64_t t0 = tc_now_ns();
    TC_ERR(tr_send_nowait(c, m), TR_EAGAIN);
    cr_assert_lt(tc_now_ns() - t0, 20ull * 1000 * 1000, "tr_send_nowait waited");
    /* The blocking one waits its timeout, then gives the message back. */
    t0 = tc_now_ns();
    TC_ERR(tr_send(c, m), TR_EAGAIN);
    uint64_t waited = tc_now_ns() - t0;
    cr_assert_geq(waited, 45ull * 1000 * 1000, "returned after %llu ns", (unsigned long long)waited);
    cr_assert_eq(m->tag, TAG_SEQ); /* still ours, intact */
    cr_assert_eq(((seq_msg *)tr_msg_data(m))->seq, 8);
    /* A per-thread timeout of 0 behaves as nowait. */
    int64_t old = tr_thread_send_timeout(0);
    TC_ERR(tr_send(c, m), TR_EAGAIN);
    tr_thread_send_timeout(old);
    tr_flow_stats fs;
    tr_actor_flow_stats(c, &fs);
    cr_assert_eq(fs.high, 8);
    cr_assert_eq(fs.low, 4);
    cr_assert_geq(fs.timeouts, 3);
    /* Let it drain: the same message now goes through, in order. */
    atomic_store(&g_hold, 0);
    int64_t prev = tr_thread_send_timeout(5LL * 1000 * 1000 * 1000);
    TC_OK(tr_send(c, m));
    for (uint64_t i = 9; i < 200; i++)
        TC_OK(tr_send(c, seq_new(TAG_SEQ, i)));
    tr_thread_send_timeout(prev);
    cr_assert(tc_wait_u64(&g_received, 200, WAIT_MS), "received %llu of 200",
              (unsigned long long)atomic_load(&g_received));
    cr_assert_eq(atomic_load(&g_out_of_order), 0);
    tr_actor_flow_stats(c, &fs);
    cr_assert_gt(fs.blocks, 0);
    tr_actor_release(c);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* A thread blocked on a full mailbox goes on as soon as it drains. */
typedef struct blocked_sender {
    tr_actor *to;
    _Atomic int rv;
    _Atomic int done;
} blocked_sender;

static void *send_one(void *arg)
{
    blocked_sender *b = arg;
    atomic_store(&b->rv, tr_send(b->to, seq_new(TAG_SEQ, 4)));
    atomic_store(&b->done, 1);
    return NULL;
}

Test(flow, blocked_sender_goes_on_when_the_mailbox_drains, .timeout = 60)
{
    reset();
    tr_service *svc = make_service(1, 10LL * 1000 * 1000 * 1000);
    tr_actor *c;
    tr_actor_opts o = {.behavior = consumer_behavior, .state_size = sizeof(consumer),
                       .mailbox_high = 4};
    TC_OK(tr_spawn(svc, &o, &c));
    atomic_store(&g_hold, 1);
    TC_OK(tr_send(c, tr_msg_new(TAG_HOLD, 0)));
    TC_WAIT_UNTIL(tr_actor_mailbox_len(c) == 0, WAIT_MS);
    for (uint64_t i = 0; i < 4; i++)
        TC_OK(tr_send(c, seq_new(TAG_SEQ, i)));
    blocked_sender b = {.to = c};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, send_one, &b), 0);
    tc_sleep_us(50000);
    cr_assert_eq(atomic_load(&b.done), 0, "the send did not block");
    atomic_store(&g_hold, 0);
    TC_WAIT_UNTIL(atomic_load(&b.done), WAIT_MS);
    pthread_join(t, NULL);
    TC_OK(atomic_load(&b.rv));
    cr_assert(tc_wait_u64(&g_received, 5, WAIT_MS));
    cr_assert_eq(atomic_load(&g_out_of_order), 0);
    tr_actor_release(c);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

Test(flow, hard_capacity_refuses_with_efull_and_counts, .timeout = 60)
{
    reset();
    tr_service *svc = make_service(1, -1); /* never block: reach the capacity */
    tr_actor *c;
    tr_actor_opts o = {.behavior = consumer_behavior, .state_size = sizeof(consumer),
                       .mailbox_high = 8, .mailbox_capacity = 16};
    TC_OK(tr_spawn(svc, &o, &c));
    atomic_store(&g_hold, 1);
    TC_OK(tr_send(c, tr_msg_new(TAG_HOLD, 0)));
    TC_WAIT_UNTIL(tr_actor_mailbox_len(c) == 0, WAIT_MS);
    for (uint64_t i = 0; i < 16; i++)
        TC_OK(tr_send(c, seq_new(TAG_SEQ, i)));
    for (int i = 0; i < 5; i++) {
        tr_msg *m = seq_new(TAG_SEQ, 99);
        TC_ERR(tr_send(c, m), TR_EFULL);
        tr_msg_free(m);
    }
    tr_flow_stats fs;
    tr_actor_flow_stats(c, &fs);
    cr_assert_eq(fs.capacity, 16);
    cr_assert_eq(fs.refusals, 5);
    atomic_store(&g_hold, 0);
    cr_assert(tc_wait_u64(&g_received, 16, WAIT_MS));
    cr_assert_eq(atomic_load(&g_out_of_order), 0);
    tr_actor_release(c);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- a producer in turns, muted by a slow consumer -------------------------------- */

#define PRODUCE_TOTAL 200000u
#define PRODUCE_PER_TURN 64u

typedef struct producer {
    tr_actor *to;
    uint64_t sent;
} producer;

static void producer_behavior(tr_actor *self, void *state, tr_msg *m)
{
    producer *p = state;
    tr_msg_free(m);
    for (unsigned i = 0; i < PRODUCE_PER_TURN && p->sent < PRODUCE_TOTAL; i++)
        if (tr_send(p->to, seq_new(TAG_SEQ, p->sent)) == 0)
            p->sent++;
    if (p->sent < PRODUCE_TOTAL) /* keep going: a message to itself */
        tr_send(self, tr_msg_new(TAG_GO, 0));
}

Test(flow, producer_in_turns_is_muted_and_the_mailbox_stays_bounded, .timeout = 120)
{
    reset();
    tr_service *svc = make_service(2, 0);
    tr_actor *c, *p;
    tr_actor_opts co = {.behavior = consumer_behavior, .state_size = sizeof(consumer),
                        .mailbox_high = 256};
    TC_OK(tr_spawn(svc, &co, &c));
    ((consumer *)tr_actor_state(c))->spin_ns = 500;
    tr_actor_opts po = {.behavior = producer_behavior, .state_size = sizeof(producer)};
    TC_OK(tr_spawn(svc, &po, &p));
    ((producer *)tr_actor_state(p))->to = c;
    TC_OK(tr_send(p, tr_msg_new(TAG_GO, 0)));
    cr_assert(tc_wait_u64(&g_received, PRODUCE_TOTAL, 100000), "received %llu of %u",
              (unsigned long long)atomic_load(&g_received), PRODUCE_TOTAL);
    cr_assert_eq(atomic_load(&g_out_of_order), 0);
    tr_flow_stats fs;
    tr_actor_flow_stats(c, &fs);
    cr_assert_gt(fs.mutes, 0, "the producer was never muted");
    /* The producer overshoots the mark by at most what one turn sends. */
    cr_assert_leq(atomic_load(&g_peak), 256 + 2 * PRODUCE_PER_TURN, "peak mailbox %llu",
                  (unsigned long long)atomic_load(&g_peak));
    TC_LOG("mutes %llu, peak mailbox %llu", (unsigned long long)fs.mutes,
           (unsigned long long)atomic_load(&g_peak));
    tr_actor_release(p);
    tr_actor_release(c);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}

/* ---- a ring of overloaded actors: no deadlock ------------------------------------- */

#define RING 4u
#define RING_SEEDS 2000u
#define RING_HOPS 40u

typedef struct ring_node {
    tr_actor *next;
} ring_node;

typedef struct ring_msg {
    uint32_t hops_left;
} ring_msg;

static _Atomic uint64_t g_hops, g_finished;

static void ring_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    ring_node *n = state;
    ring_msg *r = tr_msg_data(m);
    atomic_fetch_add_explicit(&g_hops, 1, memory_order_relaxed);
    if (m->tag == TAG_RING && r->hops_left) {
        r->hops_left--;
        /* Forward it, and on every 8th hop one more: the ring stays above
         * every mark while the extra ones live. */
        if (tr_send(n->next, m))
            tr_msg_free(m);
        if (r->hops_left % 8 == 0) {
            tr_msg *extra = tr_msg_new(TAG_RING, sizeof(ring_msg));
            ((ring_msg *)tr_msg_data(extra))->hops_left = 0;
            if (tr_send(n->next, extra))
                tr_msg_free(extra);
        }
        return;
    }
    atomic_fetch_add_explicit(&g_finished, 1, memory_order_release);
    tr_msg_free(m);
}

/* Seeds from inside a turn (so the seeding sends are muted, not blocked). */
static void seeder_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    tr_actor **ring = *(tr_actor ***)state;
    tr_msg_free(m);
    for (unsigned i = 0; i < RING_SEEDS; i++)
        for (unsigned k = 0; k < RING; k++) {
            tr_msg *s = tr_msg_new(TAG_RING, sizeof(ring_msg));
            ((ring_msg *)tr_msg_data(s))->hops_left = RING_HOPS;
            if (tr_send(ring[k], s))
                tr_msg_free(s);
        }
}

Test(flow, ring_of_overloaded_actors_completes, .timeout = 120)
{
    atomic_store(&g_hops, 0);
    atomic_store(&g_finished, 0);
    tr_service *svc = make_service(2, 0);
    tr_actor *ring[RING];
    tr_actor_opts o = {.behavior = ring_behavior, .state_size = sizeof(ring_node),
                       .mailbox_high = 32};
    for (unsigned k = 0; k < RING; k++)
        TC_OK(tr_spawn(svc, &o, &ring[k]));
    for (unsigned k = 0; k < RING; k++)
        ((ring_node *)tr_actor_state(ring[k]))->next = ring[(k + 1) % RING];
    tr_actor *seeder;
    tr_actor **ringp = ring;
    tr_actor_opts so = {.behavior = seeder_behavior, .state_size = sizeof ringp};
    TC_OK(tr_spawn(svc, &so, &seeder));
    memcpy(tr_actor_state(seeder), &ringp, sizeof ringp);
    TC_OK(tr_send(seeder, tr_msg_new(TAG_GO, 0)));
    /* Every seed finishes after its hops, and so does every extra. */
    uint64_t seeds = (uint64_t)RING_SEEDS * RING;
    uint64_t extras = seeds * (RING_HOPS / 8);
    cr_assert(tc_wait_u64(&g_finished, seeds + extras, 100000),
              "finished %llu of %llu: the ring stalled",
              (unsigned long long)atomic_load(&g_finished),
              (unsigned long long)(seeds + extras));
    uint64_t mutes = 0;
    for (unsigned k = 0; k < RING; k++) {
        tr_flow_stats fs;
        tr_actor_flow_stats(ring[k], &fs);
        mutes += fs.mutes;
    }
    TC_LOG("ring: %llu hops, %llu mutes", (unsigned long long)atomic_load(&g_hops),
           (unsigned long long)mutes);
    tr_actor_release(seeder);
    for (unsigned k = 0; k < RING; k++)
        tr_actor_release(ring[k]);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
