/* Stress (TSan): the scheduler through the public API.
 *
 * Each round: a service with 2 workers (random batch size and message
 * allocator), sink actors, relay actors that pass messages on to sinks
 * (worker-side sends), a ping-pong pair, and 4 external threads sending to
 * sinks and relays. Actor state is plain memory, so TSan checks that
 * consecutive turns are ordered. Checked: every message processed exactly
 * once, per-sender order along each path, never two turns of one actor at
 * once, ping-pong hop count. */
#define TC_PLAIN
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { SENDERS = 4, SINKS = 3, RELAYS = 2, HOPS = 5 }; /* HOPS: first-hop slots */
enum { TAG_DATA = 1, TAG_PING = 2 };

typedef struct payload {
    uint32_t sender;  /* external thread */
    uint32_t first;   /* first hop: sink index, or SINKS + relay index */
    uint32_t seq;     /* per (sender, first hop) */
    uint32_t route;   /* relays: which sink to pass it to */
} payload;

typedef struct excl {
    _Atomic int running, max;
} excl;

typedef struct sink_state {
    excl ex;
    int64_t last[SENDERS][SINKS + RELAYS];
    uint64_t got, order_errors;
    _Atomic uint64_t got_direct, got_relayed; /* for a stall report */
} sink_state;

typedef struct relay_state {
    excl ex;
    tr_actor **sinks;
    _Atomic uint64_t passed;
} relay_state;

typedef struct pp_state {
    excl ex;
    tr_actor *peer;
    uint64_t got;
} pp_state;

static _Atomic uint64_t g_delivered, g_errors, g_pp_done;
static _Atomic unsigned char *g_seen; /* [sender][first][seq] */
static uint32_t g_per_path;           /* seq bound per (sender, first hop) */
static uint64_t g_pp_hops;

static void enter(excl *e)
{
    int now = atomic_fetch_add(&e->running, 1) + 1;
    int m = atomic_load(&e->max);
    while (now > m && !atomic_compare_exchange_weak(&e->max, &m, now)) {
    }
}
static void leave(excl *e) { atomic_fetch_sub(&e->running, 1); }

static void sink_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    sink_state *st = state;
    enter(&st->ex);
    payload *p = tr_msg_data(m);
    if (m->tag != TAG_DATA || p->sender >= SENDERS || p->first >= SINKS + RELAYS ||
        p->seq >= g_per_path) {
        atomic_fetch_add(&g_errors, 1);
    } else {
        int64_t *last = &st->last[p->sender][p->first];
        if ((int64_t)p->seq <= *last)
            st->order_errors++;
        *last = p->seq;
        size_t idx = ((size_t)p->sender * (SINKS + RELAYS) + p->first) * g_per_path + p->seq;
        atomic_fetch_add_explicit(&g_seen[idx], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(p->first < SINKS ? &st->got_direct : &st->got_relayed, 1,
                                  memory_order_relaxed);
    }
    st->got++;
    if ((st->got & 31) == 0)
        sched_yield();
    leave(&st->ex);
    tr_msg_free(m);
    atomic_fetch_add_explicit(&g_delivered, 1, memory_order_release);
}

static void relay_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    relay_state *st = state;
    enter(&st->ex);
    atomic_fetch_add_explicit(&st->passed, 1, memory_order_relaxed);
    payload *p = tr_msg_data(m);
    tr_actor *to = st->sinks[p->route % SINKS];
    leave(&st->ex);
    if (tr_send(to, m) != 0) {
        atomic_fetch_add(&g_errors, 1);
        tr_msg_free(m);
    }
}

static void pp_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    pp_state *st = state;
    enter(&st->ex);
    st->got++;
    leave(&st->ex);
    uint64_t *hop = tr_msg_data(m);
    if (++*hop >= g_pp_hops) {
        tr_msg_free(m);
        atomic_store_explicit(&g_pp_done, 1, memory_order_release);
    } else if (tr_send(st->peer, m) != 0) {
        atomic_fetch_add(&g_errors, 1);
        tr_msg_free(m);
    }
}

typedef struct sender_arg {
    tr_actor **first; /* SINKS + RELAYS first hops */
    uint32_t id;
    uint64_t seed;
    _Atomic int *start;
} sender_arg;

static void *sender(void *p)
{
    sender_arg *a = p;
    tc_rng rng;
    tc_rng_seed(&rng, a->seed);
    uint32_t seq[SINKS + RELAYS] = {0};
    while (!atomic_load_explicit(a->start, memory_order_acquire))
        sched_yield();
    for (uint64_t k = 0; k < (uint64_t)g_per_path * (SINKS + RELAYS); k++) {
        uint32_t f;
        do
            f = (uint32_t)tc_rng_below(&rng, SINKS + RELAYS);
        while (seq[f] >= g_per_path);
        tr_msg *m = tr_msg_new(TAG_DATA, sizeof(payload));
        *(payload *)tr_msg_data(m) =
            (payload){a->id, f, seq[f]++, (uint32_t)tc_rng_below(&rng, SINKS)};
        if (tr_send(a->first[f], m) != 0) {
            atomic_fetch_add(&g_errors, 1);
            tr_msg_free(m);
        }
        if (tc_rng_below(&rng, 512) == 0)
            sched_yield();
    }
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *msgs)
{
    static const unsigned batches[] = {0, 1, 2, 7, 64};
    static const tr_msg_alloc allocs[] = {TR_MSG_ALLOC_DEFAULT, TR_MSG_ALLOC_MALLOC,
                                          TR_MSG_ALLOC_POOL};
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.batch = batches[tc_rng_below(rng, 5)];
    cfg.msg_alloc = allocs[tc_rng_below(rng, 3)];
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));

    g_per_path = 500 + (uint32_t)tc_rng_below(rng, 3000);
    g_pp_hops = 1000 + tc_rng_below(rng, 20000);
    size_t seen_len = (size_t)SENDERS * (SINKS + RELAYS) * g_per_path;
    g_seen = calloc(seen_len, 1);
    atomic_store(&g_delivered, 0);
    atomic_store(&g_pp_done, 0);

    tr_actor *first[SINKS + RELAYS], *pp[2];
    /* count_mailbox: a stall report shows what is left in each mailbox. */
    tr_actor_opts sopts = {.behavior = sink_behavior, .state_size = sizeof(sink_state),
                           .count_mailbox = true};
    tr_actor_opts ropts = {.behavior = relay_behavior, .state_size = sizeof(relay_state),
                           .count_mailbox = true};
    tr_actor_opts popts = {.behavior = pp_behavior, .state_size = sizeof(pp_state)};
    for (int i = 0; i < SINKS; i++) {
        TC_OK(tr_spawn(svc, &sopts, &first[i]));
        sink_state *st = tr_actor_state(first[i]);
        for (int s = 0; s < SENDERS; s++)
            for (int f = 0; f < SINKS + RELAYS; f++)
                st->last[s][f] = -1;
    }
    for (int i = 0; i < RELAYS; i++) {
        TC_OK(tr_spawn(svc, &ropts, &first[SINKS + i]));
        ((relay_state *)tr_actor_state(first[SINKS + i]))->sinks = first;
    }
    TC_OK(tr_spawn(svc, &popts, &pp[0]));
    TC_OK(tr_spawn(svc, &popts, &pp[1]));
    ((pp_state *)tr_actor_state(pp[0]))->peer = pp[1];
    ((pp_state *)tr_actor_state(pp[1]))->peer = pp[0];
    tr_msg *ball = tr_msg_new(TAG_PING, sizeof(uint64_t));
    *(uint64_t *)tr_msg_data(ball) = 0;
    TC_OK(tr_send(pp[0], ball));

    _Atomic int start = 0;
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (uint32_t s = 0; s < SENDERS; s++) {
        args[s] = (sender_arg){first, s, tc_rng_next(rng), &start};
        TC_ASSERT(pthread_create(&th[s], NULL, sender, &args[s]) == 0);
    }
    atomic_store_explicit(&start, 1, memory_order_release);
    for (int s = 0; s < SENDERS; s++)
        pthread_join(th[s], NULL);

    int fail = 0;
    if (!tc_wait_u64(&g_delivered, seen_len, 60000) || !tc_wait_u64(&g_pp_done, 1, 60000)) {
        fprintf(stderr, "FAIL: stalled: delivered %llu of %zu, ping-pong done %llu\n",
                (unsigned long long)atomic_load(&g_delivered), seen_len,
                (unsigned long long)atomic_load(&g_pp_done));
        /* What is stuck where: messages left in mailboxes with no worker
         * running them point at a lost schedule or a lost wake-up. */
        tr_sched_stats st;
        tr_service_sched_stats(svc, &st);
        fprintf(stderr, "  batch %u alloc %d per path %u; parks %llu wakes %llu steals %llu "
                "injected %llu\n", cfg.batch, (int)cfg.msg_alloc, g_per_path,
                (unsigned long long)st.parks, (unsigned long long)st.wakes,
                (unsigned long long)st.steals, (unsigned long long)st.injected);
        fprintf(stderr, "  errors %llu; each first hop was sent %u messages\n",
                (unsigned long long)atomic_load(&g_errors), SENDERS * g_per_path);
        for (int i = 0; i < SINKS + RELAYS; i++) {
            fprintf(stderr, "  %s %d: mailbox %llu, max turns at once %d",
                    i < SINKS ? "sink" : "relay", i < SINKS ? i : i - SINKS,
                    (unsigned long long)tr_actor_mailbox_len(first[i]),
                    atomic_load(&((excl *)tr_actor_state(first[i]))->max));
            if (i < SINKS) {
                sink_state *ss = tr_actor_state(first[i]);
                fprintf(stderr, ", got %llu direct, %llu relayed\n",
                        (unsigned long long)atomic_load(&ss->got_direct),
                        (unsigned long long)atomic_load(&ss->got_relayed));
            } else {
                fprintf(stderr, ", passed on %llu\n",
                        (unsigned long long)atomic_load(
                            &((relay_state *)tr_actor_state(first[i]))->passed));
            }
        }
        return 1; /* a stuck service cannot be destroyed safely */
    }
    for (size_t i = 0; i < seen_len && !fail; i++)
        if (atomic_load(&g_seen[i]) != 1) {
            fprintf(stderr, "FAIL: message %zu processed %u times\n", i,
                    (unsigned)atomic_load(&g_seen[i]));
            fail = 1;
        }
    for (int i = 0; i < SINKS; i++) {
        sink_state *st = tr_actor_state(first[i]);
        if (st->order_errors || atomic_load(&st->ex.max) > 1) {
            fprintf(stderr, "FAIL: sink %d: %llu order errors, %d turns at once\n", i,
                    (unsigned long long)st->order_errors, atomic_load(&st->ex.max));
            fail = 1;
        }
    }
    for (int i = 0; i < RELAYS; i++)
        if (atomic_load(&((relay_state *)tr_actor_state(first[SINKS + i]))->ex.max) > 1) {
            fprintf(stderr, "FAIL: relay %d ran two turns at once\n", i);
            fail = 1;
        }
    pp_state *p0 = tr_actor_state(pp[0]), *p1 = tr_actor_state(pp[1]);
    if (p0->got + p1->got != g_pp_hops || atomic_load(&p0->ex.max) > 1 ||
        atomic_load(&p1->ex.max) > 1) {
        fprintf(stderr, "FAIL: ping-pong %llu + %llu hops, want %llu\n",
                (unsigned long long)p0->got, (unsigned long long)p1->got,
                (unsigned long long)g_pp_hops);
        fail = 1;
    }
    if (atomic_load(&g_errors)) {
        fprintf(stderr, "FAIL: %llu send/payload errors\n", (unsigned long long)atomic_load(&g_errors));
        fail = 1;
    }
    if (fail)
        fprintf(stderr, "round config: batch %u, alloc %d, per path %u\n", cfg.batch,
                (int)cfg.msg_alloc, g_per_path);
    for (int i = 0; i < SINKS + RELAYS; i++)
        tr_actor_release(first[i]);
    tr_actor_release(pp[0]);
    tr_actor_release(pp[1]);
    tr_service_destroy(svc);
    free((void *)g_seen);
    *msgs += seen_len + g_pp_hops;
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_sched", "messages", run_round);
}
