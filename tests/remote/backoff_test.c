/* Failing peers (README "Backpressure", issue 8 item 3): once a peer cannot
 * be reached, calls fail at once with TR_EUNREACHABLE naming the next
 * attempt, without dialling it for each call; attempts back off; the peer
 * coming back is reached again after the backoff (as a new incarnation). */
#include <string.h>

#include "remote/remote_common.h"


Test(backoff, a_down_peer_fails_calls_at_once_and_is_redialled_later, .timeout = 60)
{
    tr_service *server = r_server(1, 0);
    uint16_t port = tr_service_port(server);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.reconnect_backoff_min_ns = 100LL * 1000 * 1000; /* 100 ms, then 200, capped at 200 */
    cfg.reconnect_backoff_max_ns = 200LL * 1000 * 1000;
    tr_service *client;
    TC_OK(tr_service_create(&cfg, &client));
    tr_gateway *gw = r_connect(client, server, "calc");
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_endpoint_release(ep);
    tr_service_destroy(server); /* gone: nothing listens on the port now */
    /* 100 calls in a row: after the first failed attempt, every call fails at
     * once and says when the next attempt is, without a connect per call. */
    unsigned down = 0, failed = 0;
    uint64_t slowest = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t t0 = tc_now_ns();
        TC_OK(tcalc_add(gw, &(t_pair){2, 2}, 0, &f));
        int rv = tr_future_get(f, WAIT_NS);
        uint64_t took = tc_now_ns() - t0;
        cr_assert_eq(rv, TR_EUNREACHABLE, "call %d: %s", i, tr_errname(rv));
        failed++;
        if (strstr(tr_future_error(f), "next connection attempt")) {
            down++;
            if (took > slowest)
                slowest = took;
        }
        tr_future_release(f);
    }
    cr_assert_eq(failed, 100);
    cr_assert_geq(down, 90, "only %u of 100 calls were refused without dialling", down);
    cr_assert_lt(slowest, 50ull * 1000 * 1000, "a call to a known-down peer took %llu us",
                 (unsigned long long)(slowest / 1000));
    /* The peer comes back on the same port: after the backoff the next call
     * dials it again and meets a new incarnation (issue 9). */
    tr_service_config sc;
    tr_service_config_init(&sc);
    sc.workers = 1;
    sc.listen = true;
    char bind[32];
    snprintf(bind, sizeof bind, "127.0.0.1:%u", (unsigned)port);
    sc.bind_address = bind;
    TC_OK(tr_service_create(&sc, &server));
    ep = t_endpoint(server, "calc", true);
    int rv = TR_EUNREACHABLE;
    uint64_t dl = tc_deadline_ms(5000);
    while (rv == TR_EUNREACHABLE && tc_poll(dl)) {
        TC_OK(tcalc_add(gw, &(t_pair){2, 2}, 0, &f));
        rv = tr_future_get(f, WAIT_NS);
        tr_future_release(f);
        if (rv == TR_EUNREACHABLE)
            tc_sleep_us(20000);
    }
    cr_assert(rv == TR_ERESTARTED || rv == 0, "after the peer came back: %s", tr_errname(rv));
    tr_gateway_release(gw);
    gw = r_connect(client, server, "calc");
    TC_OK(tcalc_add(gw, &(t_pair){3, 4}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*tcalc_add_result(f), 7);
    tr_future_release(f);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}
