/* Remote flow control (PROTOCOL.md "Credit", README "Backpressure"): a slow
 * endpoint beside a fast one on one connection, the slow one's mailbox
 * bounded by its mark and the credit window, the caller held back (TR_EAGAIN
 * outside a turn) instead of buffering, and every accepted tell processed
 * once, in order. */
#include <pthread.h>

#include "remote/remote_common.h"

#define WAIT_MS 30000

#define TFLOW_METHODS(M)                                                        \
    M(tflow, work, tr_i64, tr_void, TELL)   /* spins arg us, checks the order */  \
    M(tflow, count, tr_void, tr_u64, ASK)   /* works done so far */               \
    M(tflow, peak, tr_void, tr_u64, ASK)    /* the longest mailbox seen */
TR_GATEWAY(tflow, TFLOW_METHODS)
TR_GATEWAY_DEFINE(tflow, TFLOW_METHODS)

typedef struct flow_state {
    uint64_t done, next_seq, order_errors, peak;
    int64_t spin_us;
} flow_state;

static _Atomic uint64_t g_worked; /* every on_work of this test process */

static int on_work(tr_endpoint *self, void *state, const tr_i64 *seq)
{
    atomic_fetch_add(&g_worked, 1);
    flow_state *s = state;
    if ((uint64_t)*seq != s->next_seq)
        s->order_errors++;
    s->next_seq = (uint64_t)*seq + 1;
    tr_endpoint_stats st;
    tr_endpoint_call_stats(self, &st);
    if (st.mailbox_len > s->peak)
        s->peak = st.mailbox_len;
    uint64_t until = tc_now_ns() + (uint64_t)s->spin_us * 1000;
    while (tc_now_ns() < until) {
    }
    s->done++;
    return 0;
}

static int on_count(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    flow_state *s = state;
    uint64_t v = s->order_errors ? UINT64_MAX : s->done; /* an order error shows */
    return tflow_count_reply(reply, &v);
}

static int on_peak(tr_endpoint *self, void *state, const tr_void *arg, tr_reply *reply)
{
    (void)self, (void)arg;
    return tflow_peak_reply(reply, &((flow_state *)state)->peak);
}

static const struct tflow_handlers flow_handlers = {on_work, on_count, on_peak};

static tr_endpoint *flow_endpoint(tr_service *svc, const char *id, int64_t spin_us,
                                  uint32_t high)
{
    tr_gateway_impl impls[] = {tflow_impl(&flow_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(svc,
                             &(tr_endpoint_opts){.id = id, .gateways = impls, .ngateways = 1,
                                                 .state_size = sizeof(flow_state),
                                                 .mailbox_high = high},
                             &ep));
    ((flow_state *)tr_endpoint_state(ep))->spin_us = spin_us;
    TC_OK(tr_endpoint_start(ep));
    return ep;
}

static tr_gateway *flow_connect(tr_service *client, tr_service *server, const char *id)
{
    char a[128];
    tr_gateway *gw = NULL;
    TC_OK(tr_service_connect(client, r_addr(server, id, a, sizeof a), &tflow_gateway, &gw));
    return gw;
}

/* A listener granting a small window, so that a slow consumer holds its
 * callers back within a few hundred calls (the default is 8192). */
#define FLOW_CREDIT_CALLS 512u
static tr_service *flow_server_credit(unsigned workers, uint32_t credit_calls)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = workers;
    cfg.listen = true;
    cfg.credit_calls = credit_calls;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

static tr_service *flow_server(unsigned workers) { return flow_server_credit(workers, FLOW_CREDIT_CALLS); }

static uint64_t ask_u64(tr_gateway *gw, bool peak)
{
    tr_future *f;
    TC_OK(peak ? tflow_peak(gw, NULL, 0, &f) : tflow_count(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, 20LL * 1000 * 1000 * 1000));
    uint64_t v = peak ? *tflow_peak_result(f) : *tflow_count_result(f);
    tr_future_release(f);
    return v;
}

typedef struct flooder {
    tr_gateway *gw;
    uint64_t accepted;
    _Atomic uint64_t refused;
    _Atomic int stop;
} flooder;

/* Tells as fast as it can, never blocking: TR_EAGAIN is the gate saying
 * "not now"; the same sequence number is tried again. */
static void *flood(void *arg)
{
    flooder *fl = arg;
    tr_thread_send_timeout(0);
    uint64_t dl = tc_deadline_ms(WAIT_MS);
    while (!atomic_load(&fl->stop) && fl->accepted < 20000 && tc_poll(dl)) {
        tr_i64 seq = (tr_i64)fl->accepted;
        int rv = tflow_work(fl->gw, &seq);
        if (rv == 0)
            fl->accepted++;
        else if (rv == TR_EAGAIN)
            fl->refused++;
        else
            TC_FAIL("tell: %s", tr_errname(rv));
    }
    return NULL;
}

Test(remote_flow, slow_endpoint_beside_a_fast_one_on_one_connection, .timeout = 120)
{
    tr_service *server = flow_server(2);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.remote_queue_high = 256; /* the callers' gate per remote target */
    tr_service *client;
    TC_OK(tr_service_create(&cfg, &client));
    /* 2 ms a tell: far slower than any caller, on a loaded machine too. */
    tr_endpoint *slow = flow_endpoint(server, "slow", 2000, 64);
    tr_endpoint *fast = flow_endpoint(server, "fast", 0, 0);
    tr_gateway *gs = flow_connect(client, server, "slow");
    tr_gateway *gf = flow_connect(client, server, "fast");
    flooder fl = {.gw = gs};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, flood, &fl), 0);
    /* Until the gate has said "not now" once: the slow one is backed up. */
    uint64_t wdl = tc_deadline_ms(WAIT_MS);
    while (atomic_load(&fl.refused) == 0 && fl.accepted < 20000 && tc_poll(wdl)) {
    }
    /* The fast endpoint answers at once all the while (same connection). */
    uint64_t worst = 0;
    for (int i = 0; i < 50; i++) {
        uint64_t t0 = tc_now_ns();
        (void)ask_u64(gf, false);
        uint64_t took = tc_now_ns() - t0;
        if (took > worst)
            worst = took;
    }
    cr_assert_lt(worst, 200ull * 1000 * 1000, "an ask to the fast endpoint took %llu ms",
                 (unsigned long long)(worst / 1000000));
    atomic_store(&fl.stop, 1);
    pthread_join(t, NULL);
    cr_assert_gt(atomic_load(&fl.refused), 0, "the caller was never held back (%llu accepted)",
                 (unsigned long long)fl.accepted);
    /* Every accepted tell arrives, once and in order. */
    uint64_t dl = tc_deadline_ms(WAIT_MS), done = 0;
    while ((done = ask_u64(gs, false)) < fl.accepted && done != UINT64_MAX && tc_poll(dl))
        tc_sleep_us(20000);
    cr_assert_eq(done, fl.accepted, "processed %llu of %llu accepted (UINT64_MAX: out of order)",
                 (unsigned long long)done, (unsigned long long)fl.accepted);
    /* Its mailbox stayed near its mark: at most the mark, plus the window
     * a grant may let in above it and the window out, plus a run in flight
     * (PROTOCOL.md "Credit"). */
    uint64_t peak = ask_u64(gs, true);
    cr_assert_leq(peak, 64 + 2 * FLOW_CREDIT_CALLS + 64, "the slow endpoint's mailbox reached %llu",
                  (unsigned long long)peak);
    TC_LOG("accepted %llu, refused %llu, peak mailbox %llu, worst fast ask %llu us",
           (unsigned long long)fl.accepted, (unsigned long long)atomic_load(&fl.refused),
           (unsigned long long)peak, (unsigned long long)(worst / 1000));
    tr_gateway_release(gs);
    tr_gateway_release(gf);
    tr_endpoint_release(slow);
    tr_endpoint_release(fast);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

/* A caller blocked on a remote target goes on when it drains, and one that
 * gives up keeps its value: nothing is lost either way. */
Test(remote_flow, blocked_remote_sender_times_out_then_goes_on, .timeout = 120)
{
    tr_service *server = flow_server(1);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.remote_queue_high = 32;
    tr_service *client;
    TC_OK(tr_service_create(&cfg, &client));
    tr_endpoint *slow = flow_endpoint(server, "slow", 1000, 16);
    tr_gateway *gs = flow_connect(client, server, "slow");
    tr_thread_send_timeout(20LL * 1000 * 1000); /* 20 ms */
    uint64_t accepted = 0, timeouts = 0;
    uint64_t dl = tc_deadline_ms(WAIT_MS);
    while (accepted < 2000 && tc_poll(dl)) {
        tr_i64 seq = (tr_i64)accepted;
        int rv = tflow_work(gs, &seq);
        if (rv == 0)
            accepted++;
        else if (rv == TR_EAGAIN)
            timeouts++;
        else
            TC_FAIL("tell: %s", tr_errname(rv));
    }
    tr_thread_send_timeout(TR_SEND_TIMEOUT_DEFAULT);
    cr_assert_eq(accepted, 2000);
    cr_assert_gt(timeouts, 0, "a 1 ms consumer never made a 20 ms sender wait");
    uint64_t done = 0;
    dl = tc_deadline_ms(WAIT_MS);
    while ((done = ask_u64(gs, false)) < accepted && done != UINT64_MAX && tc_poll(dl))
        tc_sleep_us(20000);
    cr_assert_eq(done, accepted);
    tr_gateway_release(gs);
    tr_endpoint_release(slow);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

/* Tells accepted and then lost with their connection (held for credit
 * when the server went) are counted on the gateway and reported, each
 * once, to on_undelivered; none is counted that was delivered. */
typedef struct undelivered_log {
    _Atomic uint64_t calls, unreachable;
    char address[128];
} undelivered_log;

static void on_undelivered(void *arg, const char *address, const char *method, int code,
                           const char *why)
{
    undelivered_log *l = arg;
    (void)why;
    if (atomic_fetch_add(&l->calls, 1) == 0)
        snprintf(l->address, sizeof l->address, "%s", address);
    if (code == TR_EUNREACHABLE && !strcmp(method, "work"))
        atomic_fetch_add(&l->unreachable, 1);
}

Test(remote_flow, undelivered_tells_are_counted_and_reported, .timeout = 120)
{
    atomic_store(&g_worked, 0);
    tr_service *server = flow_server_credit(1, 16);
    undelivered_log log = {0};
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.remote_queue_high = 100000; /* the callers' gate stays out of the way */
    cfg.on_undelivered = on_undelivered;
    cfg.undelivered_arg = &log;
    tr_service *client;
    TC_OK(tr_service_create(&cfg, &client));
    /* A mark of 8: the server grants credit only while the mailbox is
     * that short, so nearly everything waits in the client. */
    tr_endpoint *slow = flow_endpoint(server, "slow", 2000, 8);
    tr_gateway *gs = flow_connect(client, server, "slow");
    uint64_t accepted = 0;
    for (int i = 0; i < 2000; i++)
        if (tflow_work(gs, &(tr_i64){i}) == 0)
            accepted++;
    cr_assert_eq(accepted, 2000);
    TC_WAIT_UNTIL(atomic_load(&g_worked) > 0, 10000);
    tr_endpoint_release(slow);
    tr_service_destroy(server); /* most tells still wait for credit in the client */
    uint64_t lost = 0, dl = tc_deadline_ms(WAIT_MS);
    while ((lost = tr_gateway_undelivered(gs)) + atomic_load(&g_worked) < 1900 && tc_poll(dl))
        tc_sleep_us(10000);
    cr_assert_gt(lost, 1000, "only %llu of 2000 counted undelivered (%llu worked)",
                 (unsigned long long)lost, (unsigned long long)atomic_load(&g_worked));
    cr_assert_leq(lost + atomic_load(&g_worked), accepted);
    cr_assert_eq(atomic_load(&log.calls), lost, "each one reported once");
    cr_assert_eq(atomic_load(&log.unreachable), lost);
    cr_assert(strstr(log.address, "/slow"), "%s", log.address);
    tr_remote_stats st;
    tr_service_remote_stats(client, &st);
    cr_assert_geq(st.tells_dropped, lost);
    tr_gateway_release(gs);
    tr_service_destroy(client);
    TC_ASSERT_NO_LEAKS();
}
