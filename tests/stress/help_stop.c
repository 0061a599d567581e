/* Stress (TSan): nested helping turns and sends that race a stop.
 *
 * Each round: a service with 2 workers; P producer actors each send M
 * messages to one receiver inside a single turn (so every 4096 sends the
 * turn lends its worker to the receiver, nested); meanwhile 2 outside
 * threads send to a victim actor that stops itself at a random point, and
 * the producers send to the victim too. Checked: every message accepted by
 * tr_send is processed or dropped exactly once, per-producer order at the
 * receiver, never two turns of one actor at once, on_stop exactly once. */
#define TC_PLAIN
#include <pthread.h>
#include <stdlib.h>

#include "common/check.h"
#include "troupe/troupe.h"

enum { P = 3, OUTSIDE = 2 };

typedef struct excl {
    _Atomic int running, max;
} excl;

static void enter(excl *e)
{
    int now = atomic_fetch_add(&e->running, 1) + 1;
    int m = atomic_load(&e->max);
    while (now > m && !atomic_compare_exchange_weak(&e->max, &m, now)) {
    }
}
static void leave(excl *e) { atomic_fetch_sub(&e->running, 1); }

typedef struct recv_state {
    excl ex;
    uint64_t next[P], order_errors, got; /* plain: TSan checks turn ordering */
} recv_state;

typedef struct victim_state {
    excl ex;
    uint64_t got, stop_at;
} victim_state;

typedef struct prod_state {
    tr_actor *recv, *victim;
    uint32_t id;
    uint64_t m;
} prod_state;

static _Atomic uint64_t g_recv_done, g_victim_accepted, g_victim_seen, g_on_stop, g_errors;

static void recv_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    recv_state *rs = state;
    enter(&rs->ex);
    uint64_t *v = tr_msg_data(m);
    if (m->tag >= P || v[0] != rs->next[m->tag])
        rs->order_errors++;
    else
        rs->next[m->tag]++;
    rs->got++;
    leave(&rs->ex);
    tr_msg_free(m);
    atomic_fetch_add(&g_recv_done, 1);
}

static void victim_behavior(tr_actor *self, void *state, tr_msg *m)
{
    victim_state *vs = state;
    enter(&vs->ex);
    if (++vs->got == vs->stop_at)
        tr_actor_stop(self);
    leave(&vs->ex);
    tr_msg_free(m);
    atomic_fetch_add(&g_victim_seen, 1);
}

static void victim_drop(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    enter(&((victim_state *)state)->ex);
    leave(&((victim_state *)state)->ex);
    tr_msg_free(m);
    atomic_fetch_add(&g_victim_seen, 1);
}

static void victim_stop(tr_actor *self, void *state)
{
    (void)self;
    enter(&((victim_state *)state)->ex);
    leave(&((victim_state *)state)->ex);
    atomic_fetch_add(&g_on_stop, 1);
}

static void send_victim(tr_actor *victim)
{
    tr_msg *m = tr_msg_new(0, 8);
    if (tr_send(victim, m) == 0)
        atomic_fetch_add(&g_victim_accepted, 1);
    else
        tr_msg_free(m);
}

static void prod_behavior(tr_actor *self, void *state, tr_msg *go)
{
    (void)self;
    prod_state *ps = state;
    tr_msg_free(go);
    for (uint64_t i = 0; i < ps->m; i++) {
        tr_msg *m = tr_msg_new(ps->id, sizeof(uint64_t));
        *(uint64_t *)tr_msg_data(m) = i;
        if (tr_send(ps->recv, m) != 0) {
            atomic_fetch_add(&g_errors, 1);
            tr_msg_free(m);
        }
        if (i % 512 == 0)
            send_victim(ps->victim);
    }
}

typedef struct outside_arg {
    tr_actor *victim;
    uint64_t n;
} outside_arg;

static void *outside(void *p)
{
    outside_arg *a = p;
    for (uint64_t i = 0; i < a->n; i++)
        send_victim(a->victim);
    return NULL;
}

static int run_round(tc_rng *rng, uint64_t *count)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.msg_alloc = tc_rng_below(rng, 2) ? TR_MSG_ALLOC_POOL : TR_MSG_ALLOC_MALLOC;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    atomic_store(&g_recv_done, 0);
    atomic_store(&g_victim_accepted, 0);
    atomic_store(&g_victim_seen, 0);
    atomic_store(&g_on_stop, 0);

    uint64_t m = 5000 + tc_rng_below(rng, 15000);
    tr_actor_opts ro = {.behavior = recv_behavior, .state_size = sizeof(recv_state)};
    tr_actor_opts vo = {.behavior = victim_behavior, .on_drop = victim_drop,
                        .on_stop = victim_stop, .state_size = sizeof(victim_state)};
    tr_actor_opts po = {.behavior = prod_behavior, .state_size = sizeof(prod_state)};
    tr_actor *recv, *victim, *prod[P];
    TC_OK(tr_spawn(svc, &ro, &recv));
    TC_OK(tr_spawn(svc, &vo, &victim));
    ((victim_state *)tr_actor_state(victim))->stop_at = 1 + tc_rng_below(rng, 2000);
    for (uint32_t i = 0; i < P; i++) {
        TC_OK(tr_spawn(svc, &po, &prod[i]));
        *(prod_state *)tr_actor_state(prod[i]) = (prod_state){recv, victim, i, m};
    }
    pthread_t th[OUTSIDE];
    outside_arg oa = {victim, 2000 + tc_rng_below(rng, 3000)};
    for (int i = 0; i < OUTSIDE; i++)
        TC_ASSERT(pthread_create(&th[i], NULL, outside, &oa) == 0);
    for (uint32_t i = 0; i < P; i++)
        TC_OK(tr_send(prod[i], tr_msg_new(0, 0)));
    for (int i = 0; i < OUTSIDE; i++)
        pthread_join(th[i], NULL);

    int fail = 0;
    if (!tc_wait_u64(&g_recv_done, P * m, 60000)) {
        fprintf(stderr, "FAIL: receiver got %llu of %llu\n",
                (unsigned long long)atomic_load(&g_recv_done), (unsigned long long)(P * m));
        return 1; /* a stuck service cannot be destroyed safely */
    }
    /* Every accepted victim message is processed or dropped while handles
     * are still held (the producers are done: their turns ended). on_stop
     * runs after the drops (actor.c), so it is waited for too. */
    TC_WAIT_UNTIL(atomic_load(&g_victim_seen) == atomic_load(&g_victim_accepted) &&
                      atomic_load(&g_on_stop) != 0, 10000);
    if (atomic_load(&g_victim_seen) != atomic_load(&g_victim_accepted)) {
        fprintf(stderr, "FAIL: victim saw %llu of %llu accepted\n",
                (unsigned long long)atomic_load(&g_victim_seen),
                (unsigned long long)atomic_load(&g_victim_accepted));
        fail = 1;
    }
    recv_state *rs = tr_actor_state(recv);
    victim_state *vs = tr_actor_state(victim);
    if (rs->order_errors || atomic_load(&rs->ex.max) > 1 || atomic_load(&vs->ex.max) > 1 ||
        atomic_load(&g_on_stop) != 1 || atomic_load(&g_errors)) {
        fprintf(stderr, "FAIL: order %llu, recv at once %d, victim at once %d, on_stop %llu, "
                "errors %llu\n", (unsigned long long)rs->order_errors, atomic_load(&rs->ex.max),
                atomic_load(&vs->ex.max), (unsigned long long)atomic_load(&g_on_stop),
                (unsigned long long)atomic_load(&g_errors));
        fail = 1;
    }
    tr_actor_release(recv);
    tr_actor_release(victim);
    for (int i = 0; i < P; i++)
        tr_actor_release(prod[i]);
    tr_service_destroy(svc);
    *count += P * m + atomic_load(&g_victim_accepted);
    return fail;
}

int main(int argc, char **argv)
{
    return tc_stress_main(argc, argv, "stress_help_stop", "messages", run_round);
}
