/* Two services in one process over loopback: the same gateway calls as
 * locally, across a TCP connection (S14, S17-S19, S21, S22, S30, S31,
 * S33, S13). */
#include "remote_common.h"

typedef struct pair {
    tr_service *server, *client;
    tr_endpoint *ep;
    tr_gateway *gw;
} pair;

static pair pair_up(const char *id, bool start)
{
    pair p;
    p.server = r_server(2, 0);
    p.client = r_client(2, 0, 0);
    p.ep = t_endpoint(p.server, id, start);
    p.gw = r_connect(p.client, p.server, id);
    return p;
}

static void pair_down(pair *p)
{
    tr_gateway_release(p->gw);
    tr_endpoint_release(p->ep);
    tr_service_destroy(p->client);
    tr_service_destroy(p->server);
}

/* S14: an ask and tells across processes' worth of TCP; the value comes
 * back decoded, the tells arrive in order (S21). */
Test(loopback, ask_and_tell, .timeout = 30)
{
    pair p = pair_up("calc", true);
    TC_ASSERT(!tr_gateway_is_local(p.gw));
    tr_future *f;
    TC_OK(tcalc_add(p.gw, &(t_pair){40, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 42);
    tr_future_release(f);
    for (int64_t i = 1; i <= 1000; i++)
        TC_OK(tcalc_note(p.gw, &i));
    TC_OK(tcalc_total(p.gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_total_result(f), 500500);
    tr_future_release(f);
    t_state *s = tr_endpoint_state(p.ep);
    cr_assert_eq(s->order_errors, 0);
    cr_assert_eq(s->notes, 1000);
    tr_remote_stats cs = r_stats(p.client), ss = r_stats(p.server);
    cr_assert_eq(cs.connections_opened, 1);
    cr_assert_eq(ss.connections_accepted, 1);
    /* Many frames per write: 1000 tells took far fewer system calls. */
    cr_assert_lt(cs.writes, cs.frames_sent, "%llu writes for %llu frames",
                 (unsigned long long)cs.writes, (unsigned long long)cs.frames_sent);
    pair_down(&p);
    T_LEAK_CHECK();
}

/* Strings, structs, empty results (S19) and handler errors unchanged (S17). */
Test(loopback, values_and_errors, .timeout = 30)
{
    pair p = pair_up("calc", true);
    tr_future *f;
    TC_OK(tcalc_echo(p.gw, &(tr_str){"héllo, wire"}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_str_eq(*tcalc_echo_result(f), "héllo, wire");
    tr_future_release(f);

    TC_OK(tcalc_echo(p.gw, &(tr_str){NULL}, 0, &f)); /* a NULL string survives */
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_null(*tcalc_echo_result(f));
    tr_future_release(f);

    TC_OK(tcalc_empty(p.gw, NULL, 0, &f)); /* S19 */
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_null(tcalc_empty_result(f));
    tr_future_release(f);

    TC_OK(tcalc_fail(p.gw, &(tr_i32){TR_EFENCED}, 0, &f)); /* S17 */
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFENCED);
    cr_assert(strstr(tr_future_error(f), "refuses: code"), "%s", tr_future_error(f));
    tr_future_release(f);

    TC_OK(tcalc_fail(p.gw, &(tr_i32){-5}, 0, &f)); /* any negative code travels */
    TC_ERR(tr_future_get(f, WAIT_NS), -5);
    tr_future_release(f);

    TC_OK(tcalc_unhandled(p.gw, NULL, 0, &f)); /* S18 */
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ENOMETHOD);
    tr_future_release(f);
    pair_down(&p);
    T_LEAK_CHECK();
}

/* S29: the handshake is answered before start; calls then fail as
 * locally (S2), and work once it has started. */
Test(loopback, connect_before_start, .timeout = 30)
{
    pair p = pair_up("late", false);
    tr_future *f;
    TC_OK(tcalc_add(p.gw, &(t_pair){1, 1}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ENOTSTARTED);
    cr_assert(strstr(tr_future_error(f), "has not been started"), "%s", tr_future_error(f));
    tr_future_release(f);
    TC_OK(tr_endpoint_start(p.ep));
    TC_OK(tcalc_add(p.gw, &(t_pair){1, 1}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 2);
    tr_future_release(f);
    pair_down(&p);
}

/* S30: addresses. A listening service's endpoints are troupe://host:port/id
 * and a remote gateway's address is its endpoint's; the same call with the
 * service's own address is local and never serializes (S22). */
Test(loopback, addresses, .timeout = 30)
{
    pair p = pair_up("named", true);
    char want[128], bound[64];
    TC_OK(tr_service_listen_address(p.server, bound, sizeof bound));
    snprintf(want, sizeof want, "troupe://%s/named", bound);
    cr_assert_str_eq(tr_endpoint_address(p.ep), want);
    cr_assert_str_eq(tr_gateway_address(p.gw), want);
    TC_ERR(tr_service_listen_address(p.client, bound, sizeof bound), TR_ENOENDPOINT);
    cr_assert_eq(tr_service_port(p.client), 0);

    tr_gateway *self;
    TC_OK(tr_service_connect(p.server, want, &tcalc_gateway, &self));
    cr_assert(tr_gateway_is_local(self));
    cr_assert_str_eq(tr_gateway_address(self), want);
    tr_future *f;
    TC_OK(tcalc_add(self, &(t_pair){2, 3}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(p.ep, &st);
    cr_assert_eq(st.decoded, 0); /* S22: not serialized */
    tr_gateway_release(self);
    TC_OK(tr_service_connect(p.server, "local://named", &tcalc_gateway, &self));
    cr_assert(tr_gateway_is_local(self));
    tr_gateway_release(self);
    pair_down(&p);
}

/* S13: run_async and friends are local only. */
static int never(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return 0;
}
static int never_call(tr_endpoint *self, void *state, void *arg, tr_reply *r)
{
    (void)self, (void)state, (void)arg, (void)r;
    return 0;
}

Test(loopback, s13_run_async_is_local_only, .timeout = 30)
{
    pair p = pair_up("busy", true);
    TC_ERR(tr_gateway_run_async(p.gw, never, NULL, 0), TR_ENOTLOCAL);
    TC_ERR(tr_gateway_schedule_run_async(p.gw, never, NULL, 0, 1000), TR_ENOTLOCAL);
    tr_future *f = NULL;
    TC_ERR(tr_gateway_call_async(p.gw, never_call, NULL, 0, 0, &f), TR_ENOTLOCAL);
    cr_assert_null(f);
    pair_down(&p);
}

/* S31, S33: a fenced gateway's token travels with every call. */
static int set_token(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    return tr_endpoint_set_fencing_token(self, arg);
}

Test(loopback, fencing_token_travels, .timeout = 30)
{
    tr_service *server = r_server(2, 0), *client = r_client(2, 0, 0);
    tr_gateway_impl impls[] = {tcalc_impl(&t_handlers)};
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.id = "leader", .gateways = impls,
                                                         .ngateways = 1, .fenced = true,
                                                         .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_fence_token good = {1, 2}, bad = {3, 4};
    TC_OK(tr_endpoint_run_async_unfenced(ep, set_token, &good, sizeof good));
    char a[128];
    r_addr(server, "leader", a, sizeof a);
    tr_gateway *g1, *g2, *g3;
    TC_OK(tr_service_connect_fenced(client, a, &tcalc_gateway, &good, &g1));
    TC_OK(tr_service_connect_fenced(client, a, &tcalc_gateway, &bad, &g2));
    TC_OK(tr_service_connect(client, a, &tcalc_gateway, &g3));
    tr_future *f;
    TC_OK(tcalc_add(g1, &(t_pair){1, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 3);
    tr_future_release(f);
    TC_OK(tcalc_add(g2, &(t_pair){1, 2}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFENCED);
    tr_future_release(f);
    TC_OK(tcalc_add(g3, &(t_pair){1, 2}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EFENCED);
    cr_assert(strstr(tr_future_error(f), "none was given") || strstr(tr_future_error(f), "no"),
              "%s", tr_future_error(f));
    tr_future_release(f);
    tr_gateway_release(g1);
    tr_gateway_release(g2);
    tr_gateway_release(g3);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
}

/* ask_then from inside an endpoint: the continuation runs on the asker's
 * main thread, as for a local ask. */
typedef struct relay {
    tr_gateway *to;
    _Atomic int got;
    _Atomic int on_main;
} relay;

static void relay_answer(tr_endpoint *self, tr_future *f, void *arg)
{
    relay *r = arg;
    if (self && tr_endpoint_in_main_thread(self))
        atomic_store(&r->on_main, 1);
    const tr_i64 *v = tcalc_add_result(f);
    atomic_store(&r->got, v ? (int)*v : -1);
}

static int relay_start(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state;
    relay *r = *(relay **)arg;
    return tcalc_add_then(r->to, &(t_pair){20, 22}, 0, relay_answer, r);
}

Test(loopback, ask_then_from_an_endpoint, .timeout = 30)
{
    pair p = pair_up("calc", true);
    relay r = {.to = p.gw};
    tr_endpoint *asker = t_endpoint(p.client, "asker", true);
    relay *rp = &r;
    TC_OK(tr_endpoint_run_async(asker, relay_start, &rp, sizeof rp));
    TC_ASSERT_EVENTUALLY(atomic_load(&r.got) != 0, 10000);
    cr_assert_eq(atomic_load(&r.got), 42);
    cr_assert_eq(atomic_load(&r.on_main), 1);
    t_terminate(asker);
    tr_endpoint_release(asker);
    pair_down(&p);
    T_LEAK_CHECK();
}

/* Many gateways, one connection: a peer is connected once. */
Test(loopback, one_connection_per_peer, .timeout = 30)
{
    pair p = pair_up("calc", true);
    tr_gateway *more[8];
    for (int i = 0; i < 8; i++)
        more[i] = r_connect(p.client, p.server, "calc");
    tr_future *f[8];
    for (int i = 0; i < 8; i++)
        TC_OK(tcalc_add(more[i], &(t_pair){i, 1}, 0, &f[i]));
    for (int i = 0; i < 8; i++) {
        TC_OK(tr_future_get(f[i], WAIT_NS));
        cr_assert_eq(*tcalc_add_result(f[i]), i + 1);
        tr_future_release(f[i]);
        tr_gateway_release(more[i]);
    }
    cr_assert_eq(r_stats(p.client).connections_opened, 1);
    pair_down(&p);
}

/* Tells and asks made on a worker (inside an endpoint's turn): their
 * messages come from the worker's pool and are freed by the I/O thread. */
typedef struct teller {
    tr_gateway *to;
    int64_t n;
} teller;

static int tell_burst(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state;
    teller *t = *(teller **)arg;
    for (int64_t i = 1; i <= t->n; i++)
        if (tcalc_note(t->to, &i))
            return TR_EFAILED;
    return 0;
}

/* The endpoint's sum of notes, asked for through the gateway. */
static int64_t remote_total(tr_gateway *gw)
{
    tr_future *f;
    TC_OK(tcalc_total(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    int64_t v = *tcalc_total_result(f);
    tr_future_release(f);
    return v;
}

Test(loopback, tells_from_an_endpoint, .timeout = 30)
{
    pair p = pair_up("calc", true);
    tr_endpoint *sender = t_endpoint(p.client, "sender", true);
    teller t = {p.gw, 5000}, *tp = &t;
    TC_OK(tr_endpoint_run_async(sender, tell_burst, &tp, sizeof tp));
    TC_ASSERT_EVENTUALLY(remote_total(p.gw) == 5000 * 5001 / 2, 10000);
    t_terminate(p.ep);
    t_state *s = tr_endpoint_state(p.ep); /* quiet now */
    cr_assert_eq(s->order_errors, 0);
    cr_assert_eq(s->total, 5000 * 5001 / 2);
    t_terminate(sender);
    tr_endpoint_release(sender);
    pair_down(&p);
    T_LEAK_CHECK();
}

/* S16 across processes: calls to an endpoint that terminated fail at once
 * with TR_EUNREACHABLE, and the connection no longer holds the endpoint
 * (its memory goes while the connection stays). */
Test(loopback, s16_terminated_endpoint, .timeout = 30)
{
    pair p = pair_up("gone", true);
    tr_future *f;
    TC_OK(tcalc_add(p.gw, &(t_pair){1, 1}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    uint64_t live = tr_service_live_actors(p.server);
    t_terminate(p.ep);
    tr_endpoint_release(p.ep);
    p.ep = NULL;
    for (int i = 0; i < 3; i++) {
        TC_OK(tcalc_add(p.gw, &(t_pair){1, 1}, 0, &f));
        TC_ERR(tr_future_get(f, WAIT_NS), TR_EUNREACHABLE);
        cr_assert(strstr(tr_future_error(f), "gone") && strstr(tr_future_error(f), "terminated"),
                  "%s", tr_future_error(f));
        tr_future_release(f);
        TC_OK(tcalc_note(p.gw, &(tr_i64){1}));
    }
    TC_ASSERT_EVENTUALLY(tr_service_live_actors(p.server) == live - 1, 5000);
    TC_ASSERT_EVENTUALLY(r_stats(p.server).tells_dropped >= 2, 5000);
    cr_assert_eq(r_stats(p.client).connections_opened, 1);
    tr_gateway_release(p.gw);
    tr_service_destroy(p.client);
    tr_service_destroy(p.server);
    T_LEAK_CHECK();
}

/* Tells that arrive together run as one batch (wire_inbound.c), and each
 * record takes the short path of a tell message (dispatch.c): the books
 * must be the same as run_call's. 300 tells each way, back to back so
 * that they batch, then an ask behind them (S21: it is answered after
 * they ran). A method without a handler rejects every tell (S18) and
 * counts no call; a failing handler counts its errors. */
static void remote_tells_to(const tcalc_handlers *h, tr_endpoint_stats *st, uint64_t *calls,
                            t_state *out)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_gateway_impl impls[] = {tcalc_impl(h)};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.id = "books", .gateways = impls,
                                                         .ngateways = 1,
                                                         .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = r_connect(client, server, "books");
    for (int64_t i = 1; i <= 300; i++)
        TC_OK(tcalc_note(gw, &i));
    tr_future *f;
    TC_OK(tcalc_total(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_endpoint_call_stats(ep, st);
    tr_method_metrics mm;
    TC_OK(tr_endpoint_method_metrics(ep, tcalc__note, &mm));
    *calls = mm.calls;
    const t_state *ts = tr_endpoint_state(ep);
    out->last_note = ts->last_note;
    out->order_errors = ts->order_errors;
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
}

Test(loopback, batched_tells_keep_the_books, .timeout = 30)
{
    tcalc_handlers none = t_handlers, failing = t_handlers;
    none.note = NULL;
    failing.note = t_note_failing;
    tr_endpoint_stats st;
    uint64_t calls;
    t_state s;
    remote_tells_to(&none, &st, &calls, &s);
    cr_assert_eq(st.rejected[TR_REJECT_NO_METHOD], 300);
    cr_assert_eq(calls, 0);
    cr_assert_eq(st.handler_errors, 0);
    cr_assert_eq(s.last_note, 0);
    remote_tells_to(&failing, &st, &calls, &s);
    cr_assert_eq(st.rejected[TR_REJECT_NO_METHOD], 0);
    cr_assert_eq(calls, 300);
    cr_assert_eq(st.handler_errors, 100);
    cr_assert_eq(st.processed, 301, "%llu processed", (unsigned long long)st.processed);
    cr_assert_eq(s.last_note, 300);
    cr_assert_eq(s.order_errors, 0);
    T_LEAK_CHECK();
}
