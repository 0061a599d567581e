/* Gateways, tell and ask: S14-S22. */
#include "rpc_common.h"

/* S14: an ask returns a future with the handler's value; a tell has none. */
Test(call, s14_ask_and_tell, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "calc", true);
    tr_gateway *gw = t_connect(svc, "calc");

    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){40, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 42);
    tr_future_release(f);

    for (int64_t i = 1; i <= 100; i++)
        TC_OK(tcalc_note(gw, &i));
    TC_OK(tcalc_total(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_total_result(f), 5050);
    tr_future_release(f);

    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S14: the default ask timeout is Flink's 10 s; a per-call one overrides it
 * (S15 checks the message). */
Test(call, s14_default_timeout_is_10s, .timeout = 10)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cr_assert_eq(cfg.ask_timeout_ns, 10LL * 1000 * 1000 * 1000);
    cr_assert_eq(cfg.max_frame_size, (size_t)10 * 1024 * 1024); /* S23 */
}

/* S23: max_frame_size defaults to 10 MiB (Flink's pekko.framesize) and is
 * configurable; a zeroed config gets every documented default. */
Test(call, s23_max_frame_size_default_and_configurable, .timeout = 30)
{
    tr_service_config cfg = {0}, got;
    cfg.workers = 1;
    tr_service *svc;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_service_effective_config(svc, &got);
    cr_assert_eq(got.max_frame_size, (size_t)10 * 1024 * 1024);
    cr_assert_eq(got.ask_timeout_ns, 10LL * 1000 * 1000 * 1000);
    cr_assert_eq(got.lookup_timeout_ns, 10LL * 1000 * 1000 * 1000);
    cr_assert_eq(got.batch, TR_DEFAULT_BATCH);
    cr_assert_str_eq(got.bind_address, TR_DEFAULT_BIND_ADDRESS);
    tr_service_destroy(svc);
    cfg.max_frame_size = 64 * 1024;
    cfg.ask_timeout_ns = 250 * 1000000LL;
    TC_OK(tr_service_create(&cfg, &svc));
    tr_service_effective_config(svc, &got);
    cr_assert_eq(got.max_frame_size, (size_t)64 * 1024);
    cr_assert_eq(got.ask_timeout_ns, 250 * 1000000LL);
    /* S14: an ask without its own timeout gets the service's default. */
    tr_endpoint *ep = t_endpoint(svc, "sleepy", true);
    tr_gateway *gw = t_connect(svc, "sleepy");
    tr_future *f;
    uint64_t t0 = tc_now_ns();
    TC_OK(tcalc_later(gw, &(tr_i64){5000}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ETIMEDOUT);
    cr_assert_geq(tc_now_ns() - t0, 250 * 1000000ull);
    cr_assert(strstr(tr_future_error(f), "after 250 ms"), "%s", tr_future_error(f));
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc); /* the 5 s answer is dropped with the endpoint */
    T_LEAK_CHECK();
}

/* S15: a timeout names the method, the recipient's address and the timeout,
 * and hints at the usual causes. */
Test(call, s15_timeout_message, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "slowpoke", true);
    tr_gateway *gw = t_connect(svc, "slowpoke");
    tr_future *f;
    int64_t t0 = (int64_t)tc_now_ns();
    TC_OK(tcalc_later(gw, &(tr_i64){2000}, 50 * 1000000, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ETIMEDOUT);
    int64_t took = (int64_t)tc_now_ns() - t0;
    cr_assert(took >= 50 * 1000000, "timed out early: %lld ns", (long long)took);
    const char *msg = tr_future_error(f);
    cr_assert(strstr(msg, "tcalc.later"), "%s", msg);
    cr_assert(strstr(msg, "local://slowpoke"), "%s", msg);
    cr_assert(strstr(msg, "50 ms"), "%s", msg);
    cr_assert(strstr(msg, "slow or blocked"), "%s", msg);
    cr_assert(strstr(msg, "max_frame_size"), "%s", msg);
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S16: an ask to a terminated endpoint fails at once with TR_EUNREACHABLE,
 * not at its deadline. */
Test(call, s16_unreachable_at_once, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "gone", true);
    tr_gateway *gw = t_connect(svc, "gone");
    t_terminate(ep);
    tr_future *f = NULL;
    uint64_t t0 = tc_now_ns();
    TC_ERR(tcalc_add(gw, &(t_pair){1, 2}, 0, &f), TR_EUNREACHABLE);
    TC_ERR(tcalc_note(gw, &(tr_i64){1}), TR_EUNREACHABLE);
    cr_assert(tc_now_ns() - t0 < 1000000000ull);
    cr_assert_null(f);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.dropped, 2);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S17: a handler's error reaches the caller unchanged, code and message. */
Test(call, s17_handler_error_unchanged, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "grumpy", true);
    tr_gateway *gw = t_connect(svc, "grumpy");
    tr_future *f;
    TC_OK(tcalc_fail(gw, &(tr_i32){TR_EBUSY}, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "endpoint grumpy refuses: code %d", TR_EBUSY);
    cr_assert_str_eq(tr_future_error(f), want);
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S18: an unknown method fails with TR_ENOMETHOD: a declared method the
 * endpoint has no handler for, and a method index out of range. */
Test(call, s18_unknown_method, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "partial", true);
    tr_gateway *gw = t_connect(svc, "partial");
    tr_future *f;
    TC_OK(tcalc_unhandled(gw, NULL, 0, &f));
    TC_ERR(tr_future_get(f, WAIT_NS), TR_ENOMETHOD);
    cr_assert(strstr(tr_future_error(f), "tcalc.unhandled"), "%s", tr_future_error(f));
    tr_future_release(f);
    TC_ERR(tr_gateway_ask(gw, &tcalc_gateway, 999, NULL, 0, &f), TR_ENOMETHOD);
    /* A tell method asked, or an ask method told: not that method. */
    TC_ERR(tr_gateway_ask(gw, &tcalc_gateway, tcalc__note, &(tr_i64){1}, 0, &f), TR_ENOMETHOD);
    TC_ERR(tr_gateway_tell(gw, &tcalc_gateway, tcalc__add, &(t_pair){1, 1}), TR_ENOMETHOD);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.rejected[TR_REJECT_NO_METHOD], 1);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S19: an empty (NULL) result is a valid reply. */
Test(call, s19_empty_result, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "hollow", true);
    tr_gateway *gw = t_connect(svc, "hollow");
    tr_future *f;
    TC_OK(tcalc_empty(gw, NULL, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_null(tcalc_empty_result(f));
    cr_assert_null(tr_future_error(f));
    tr_future_release(f);
    /* A NULL string echoes back as a NULL string, an empty one as empty. */
    TC_OK(tcalc_echo(gw, &(tr_str){NULL}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_null(*tcalc_echo_result(f));
    tr_future_release(f);
    TC_OK(tcalc_echo(gw, &(tr_str){""}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_str_eq(*tcalc_echo_result(f), "");
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S20: an endpoint may implement several gateways; asking for one it does
 * not implement fails with TR_EGATEWAY; the self gateway is local. */
Test(call, s20_gateways, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *only_calc = t_endpoint(svc, "only-calc", true);
    tr_gateway_impl both[] = {tcalc_impl(&t_handlers), tping_impl(&t_ping_handlers)};
    tr_endpoint *multi;
    TC_OK(tr_endpoint_create(svc,
                             &(tr_endpoint_opts){.id = "multi", .gateways = both, .ngateways = 2,
                                                 .state_size = sizeof(t_state)},
                             &multi));
    TC_OK(tr_endpoint_start(multi));

    tr_gateway *gw = NULL;
    TC_ERR(tr_service_connect(svc, "only-calc", &tping_gateway, &gw), TR_EGATEWAY);
    cr_assert_null(gw);
    TC_ERR(tr_service_connect(svc, "nobody", &tping_gateway, &gw), TR_ENOENDPOINT);

    TC_OK(tr_service_connect(svc, "multi", &tping_gateway, &gw));
    tr_future *f;
    TC_OK(tping_ping(gw, &(tr_u64){7}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tping_ping_result(f), 8);
    tr_future_release(f);
    /* A call through one gateway's stub on another's handle. */
    TC_ERR(tcalc_add(gw, &(t_pair){1, 1}, 0, &f), TR_EGATEWAY);
    tr_gateway_release(gw);

    TC_OK(tr_endpoint_gateway(multi, &tcalc_gateway, &gw));
    cr_assert(tr_gateway_is_local(gw));
    cr_assert_str_eq(tr_gateway_address(gw), "local://multi"); /* S30's local form */
    TC_OK(tcalc_add(gw, &(t_pair){2, 3}, 0, &f));
    cr_assert_eq(t_outcome(f), 0);
    tr_gateway_release(gw);
    TC_ERR(tr_endpoint_gateway(only_calc, &tping_gateway, &gw), TR_EGATEWAY);

    t_terminate(multi);
    t_terminate(only_calc);
    tr_endpoint_release(multi);
    tr_endpoint_release(only_calc);
    tr_service_destroy(svc);
}

/* S21: one sender's messages are processed in the order sent, each once;
 * tells and asks interleaved. */
Test(call, s21_order_and_exactly_once, .timeout = 30)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = t_endpoint(svc, "ordered", true);
    tr_gateway *gw = t_connect(svc, "ordered");
    enum { N = 20000 };
    for (int64_t i = 1; i <= N; i++) {
        TC_OK(tcalc_note(gw, &i));
        if (i % 1000 == 0) {
            tr_future *f;
            TC_OK(tcalc_total(gw, NULL, 0, &f));
            TC_OK(tr_future_get(f, WAIT_NS));
            cr_assert_eq(*tcalc_total_result(f), i * (i + 1) / 2);
            tr_future_release(f);
        }
    }
    tr_gateway_release(gw);
    t_terminate(ep);
    t_state *s = tr_endpoint_state(ep);
    cr_assert_eq(s->notes, N);
    cr_assert_eq(s->order_errors, 0);
    cr_assert_eq(atomic_load(&s->max_running), 1);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

/* S22: with force_serialization the arguments and results go through the
 * byte codec; answers are the same, strings included. Without it, local
 * calls are copies (the caller's buffer may change right after the call). */
static void roundtrips(bool force)
{
    tr_service *svc = t_service(2, force);
    tr_endpoint *ep = t_endpoint(svc, "codec", true);
    tr_gateway *gw = t_connect(svc, "codec");
    char buf[64];
    strcpy(buf, "hello, troupe");
    tr_future *f;
    TC_OK(tcalc_echo(gw, &(tr_str){buf}, 0, &f));
    memset(buf, 'x', sizeof buf - 1); /* the call copied it */
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_str_eq(*tcalc_echo_result(f), "hello, troupe");
    tr_future_release(f);
    TC_OK(tcalc_add(gw, &(t_pair){-5, INT64_MAX}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), INT64_MAX - 5);
    tr_future_release(f);
    tr_gateway_release(gw);
    /* The self gateway never serializes (S20), even when forced. */
    TC_OK(tr_endpoint_gateway(ep, &tcalc_gateway, &gw));
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    cr_assert_eq(t_outcome(f), 0);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.decoded, force ? 2 : 0, "decoded %llu", (unsigned long long)st.decoded);
    cr_assert_eq(st.processed, 3);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

Test(call, s22_local_copies, .timeout = 30) { roundtrips(false); }
Test(call, s22_forced_serialization, .timeout = 30) { roundtrips(true); }

/* The common tell's short path (rpc/fast_tell.h) keeps run_call's
 * bookkeeping: a tell whose method has no handler is rejected (S18) and
 * not counted as a call; one whose handler fails is processed, counted as
 * an error and in handler_errors; the rest arrive in order with their
 * values. 300 tells each way (past TR_METRICS_SAMPLE: the sampled call
 * takes the long path in between). */
static void tells_to(const tcalc_handlers *h, uint64_t *calls, tr_endpoint_stats *st,
                     int64_t *last, int64_t *order_errors)
{
    tr_service *svc = t_service(1, false);
    tr_gateway_impl impls[] = {tcalc_impl(h)};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "tells", .gateways = impls,
                                                       .ngateways = 1,
                                                       .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = t_connect(svc, "tells");
    for (int64_t i = 1; i <= 300; i++)
        TC_OK(tcalc_note(gw, &i));
    tr_gateway_release(gw);
    t_terminate(ep); /* everything sent before is processed first (S4) */
    tr_endpoint_call_stats(ep, st);
    tr_method_metrics mm;
    TC_OK(tr_endpoint_method_metrics(ep, tcalc__note, &mm));
    cr_assert_str_eq(mm.method, "note");
    *calls = mm.calls;
    t_state *s = tr_endpoint_state(ep);
    *last = s->last_note;
    *order_errors = s->order_errors;
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

Test(call, fast_tell_keeps_the_books, .timeout = 30)
{
    tcalc_handlers none = t_handlers, failing = t_handlers;
    none.note = NULL;
    failing.note = t_note_failing;
    uint64_t calls;
    tr_endpoint_stats st;
    int64_t last, order_errors;
    tells_to(&none, &calls, &st, &last, &order_errors);
    cr_assert_eq(st.rejected[TR_REJECT_NO_METHOD], 300);
    cr_assert_eq(calls, 0);
    cr_assert_eq(st.handler_errors, 0);
    cr_assert_eq(last, 0);
    tells_to(&failing, &calls, &st, &last, &order_errors);
    cr_assert_eq(st.rejected[TR_REJECT_NO_METHOD], 0);
    cr_assert_eq(calls, 300);
    cr_assert_eq(st.handler_errors, 100);
    cr_assert_geq(st.processed, 300);
    cr_assert_eq(last, 300);
    cr_assert_eq(order_errors, 0);
}

/* An ask is in the endpoint's stats once its answer is in: the handler
 * answers, then keeps its thread 100 ms; stats read right after the answer
 * count the call (they were read before the count, a race the loopback
 * suite lost once in CI). Both dispatch paths: the inline one for a plain
 * local ask, and the parsed one (force_serialization decodes as a remote
 * peer would). */
static int add_then_linger(tr_endpoint *self, void *state, const t_pair *arg, tr_reply *reply)
{
    (void)self, (void)state;
    tr_i64 r = arg->a + arg->b;
    int rv = tcalc_add_reply(reply, &r);
    tc_sleep_us(100000);
    return rv;
}

static void ask_is_counted_by_its_answer(bool force_serialization)
{
    tr_service *svc = t_service(2, force_serialization);
    tcalc_handlers h = t_handlers;
    h.add = add_then_linger;
    tr_gateway_impl impls[] = {tcalc_impl(&h)};
    tr_endpoint *ep = NULL;
    TC_OK(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = "linger", .gateways = impls,
                                                      .ngateways = 1, .state_size = sizeof(t_state)},
                             &ep));
    TC_OK(tr_endpoint_start(ep));
    tr_gateway *gw = t_connect(svc, "linger");
    tr_endpoint_stats before, after;
    tr_endpoint_call_stats(ep, &before);
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){40, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_endpoint_call_stats(ep, &after); /* the handler still lingers */
    cr_assert_eq(*tcalc_add_result(f), 42);
    cr_assert_eq(after.processed, before.processed + 1, "%llu processed, %llu before the ask",
                 (unsigned long long)after.processed, (unsigned long long)before.processed);
    tr_future_release(f);
    tr_gateway_release(gw);
    t_terminate(ep);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
}

Test(call, ask_is_counted_by_its_answer, .timeout = 30)
{
    ask_is_counted_by_its_answer(false);
    ask_is_counted_by_its_answer(true);
}
