/* A long turn lends its thread to the actor waiting in its worker's queue
 * (sched_impl.h, TRI_HELP_EVERY): with one worker, a producer that sends
 * 100,000 messages in one turn must see its receiver make progress before
 * the turn ends, with every message processed once, in order, and never two
 * receiver turns at once. */
#include <criterion/criterion.h>
#include <stdatomic.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define SENDS 100000

typedef struct recv_state {
    _Atomic int running, max_running;
    uint64_t next_expected, order_errors;
    _Atomic uint64_t got;
} recv_state;

typedef struct prod_state {
    tr_actor *to;
    recv_state *rs;
    uint64_t seen_during_turn; /* receiver's count just before the turn ends */
} prod_state;

static _Atomic int g_prod_done;

static void recv_behavior(tr_actor *self, void *state, tr_msg *m)
{
    (void)self;
    recv_state *rs = state;
    int now = atomic_fetch_add(&rs->running, 1) + 1;
    if (now > atomic_load(&rs->max_running))
        atomic_store(&rs->max_running, now);
    uint64_t seq = *(uint64_t *)tr_msg_data(m);
    if (seq != rs->next_expected)
        rs->order_errors++;
    rs->next_expected = seq + 1;
    atomic_fetch_add(&rs->got, 1);
    atomic_fetch_sub(&rs->running, 1);
    tr_msg_free(m);
}

static void prod_behavior(tr_actor *self, void *state, tr_msg *go)
{
    (void)self;
    prod_state *ps = state;
    tr_msg_free(go);
    for (uint64_t i = 0; i < SENDS; i++) {
        tr_msg *m = tr_msg_new(0, sizeof(uint64_t));
        *(uint64_t *)tr_msg_data(m) = i;
        cr_assert_eq(tr_send(ps->to, m), 0);
    }
    ps->seen_during_turn = atomic_load(&ps->rs->got);
    atomic_store(&g_prod_done, 1);
}

Test(help, long_turn_lends_its_worker_to_the_receiver, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1; /* nobody else could run the receiver */
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_actor_opts ro = {.behavior = recv_behavior, .state_size = sizeof(recv_state)};
    tr_actor_opts po = {.behavior = prod_behavior, .state_size = sizeof(prod_state)};
    tr_actor *r, *p;
    TC_OK(tr_spawn(svc, &ro, &r));
    TC_OK(tr_spawn(svc, &po, &p));
    prod_state *ps = tr_actor_state(p);
    ps->to = r;
    ps->rs = tr_actor_state(r);
    TC_OK(tr_send(p, tr_msg_new(0, 0)));
    TC_ASSERT(tc_wait_u64(&ps->rs->got, SENDS, 20000));
    cr_assert(atomic_load(&g_prod_done));
    cr_assert_gt(ps->seen_during_turn, 0, "the receiver ran during the producer's turn");
    cr_assert_lt(ps->seen_during_turn, SENDS);
    cr_assert_eq(ps->rs->order_errors, 0);
    cr_assert_eq(atomic_load(&ps->rs->max_running), 1);
    tr_actor_release(r);
    tr_actor_release(p);
    tr_service_destroy(svc);
    TC_ASSERT_NO_LEAKS();
}
