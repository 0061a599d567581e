/* Connection metrics and the introspection endpoint over loopback: bytes
 * and frames agree between the two ends, a PING/PONG round trip is
 * measured, a reconnect is counted, and "$troupe" answers its reports
 * (and is absent when configured off). */
#include <criterion/criterion.h>
#include <string.h>

#include "remote/introspect.h"
#include "remote/remote_common.h"

static tr_conn_metrics only_conn(tr_service *svc)
{
    tr_conn_metrics c[4];
    size_t n = tr_service_connections(svc, c, 4);
    cr_assert_eq(n, 1, "one connection, not %zu", n);
    return c[0];
}

Test(introspect, connection_counters_agree_and_rtt_is_measured, .timeout = 60)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    for (int i = 0; i < 20; i++) {
        tr_future *f;
        TC_OK(tcalc_add(gw, &(t_pair){i, 1}, 0, &f));
        TC_OK(tr_future_get(f, WAIT_NS));
        cr_assert_eq(*tcalc_add_result(f), i + 1);
        tr_future_release(f);
    }
    for (int i = 0; i < 50; i++)
        TC_OK(tcalc_note(gw, &(tr_i64){1}));
    /* A PING leaves an open outbound connection every TR_METRICS_PING_NS. */
    TC_ASSERT_EVENTUALLY(only_conn(client).pings >= 1, 5000);
    tr_conn_metrics out = only_conn(client);
    cr_assert(out.outbound && out.open);
    cr_assert(out.rtt_ns > 0 && out.rtt_ns < 1000000000 && out.rtt_max_ns >= out.rtt_ns,
              "rtt %llu ns", (unsigned long long)out.rtt_ns);
    cr_assert_eq(out.reconnects, 0);
    cr_assert_eq(out.oversized, 0);
    /* Quiet now: both ends have seen every byte the other wrote. */
    TC_ASSERT_EVENTUALLY(only_conn(server).bytes_received == only_conn(client).bytes_sent &&
                             only_conn(client).bytes_received == only_conn(server).bytes_sent,
                         5000);
    out = only_conn(client);
    tr_conn_metrics in = only_conn(server);
    cr_assert(!in.outbound && in.open);
    cr_assert_eq(in.frames_received, out.frames_sent, "frames %llu vs %llu",
                 (unsigned long long)in.frames_received, (unsigned long long)out.frames_sent);
    cr_assert_eq(out.frames_received, in.frames_sent);
    /* HELLO + RESOLVE + 20 asks + 50 tells + at least one PING */
    cr_assert(out.frames_sent >= 73, "frames sent %llu", (unsigned long long)out.frames_sent);
    tr_remote_stats cs = r_stats(client);
    cr_assert_eq(cs.bytes_sent, out.bytes_sent, "the one connection is all the service wrote");
    cr_assert_eq(in.pings, 0, "the accepting side does not ping");
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

Test(introspect, a_reconnect_is_counted, .timeout = 60)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    uint16_t port = tr_service_port(server);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_gateway *gw = r_connect(client, server, "calc");
    tr_future *f;
    TC_OK(tcalc_add(gw, &(t_pair){1, 2}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    tr_future_release(f);
    tr_endpoint_release(ep);
    tr_service_destroy(server); /* the connection is lost */
    TC_ASSERT_EVENTUALLY(tr_service_connections(client, NULL, 0) == 0, 5000);
    /* The same port again: the next call reconnects (S34). */
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    char bind[32];
    snprintf(bind, sizeof bind, "127.0.0.1:%u", (unsigned)port);
    cfg.bind_address = bind;
    TC_OK(tr_service_create(&cfg, &server));
    ep = t_endpoint(server, "calc", true);
    int rv = TR_EUNREACHABLE;
    for (int i = 0; i < 50 && rv; i++) { /* the first may still meet the lost connection */
        TC_OK(tcalc_add(gw, &(t_pair){2, 2}, 0, &f));
        rv = tr_future_get(f, WAIT_NS);
        if (!rv)
            cr_assert_eq(*tcalc_add_result(f), 4);
        tr_future_release(f);
        if (rv == TR_ERESTARTED) { /* a new process: the application reconnects (issue 9) */
            tr_gateway_release(gw);
            gw = r_connect(client, server, "calc");
        } else if (rv) {
            tc_sleep_us(20000);
        }
    }
    TC_OK(rv);
    tr_conn_metrics c = only_conn(client);
    cr_assert(c.open && c.outbound);
    /* 1, or 2 when the restarted node was first met by a connection that
     * found the new incarnation (TR_ERESTARTED) before the explicit one. */
    cr_assert(c.reconnects >= 1 && c.reconnects <= 2, "reconnects %llu",
              (unsigned long long)c.reconnects);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

static char *report(tr_gateway *gw, int (*fn)(tr_gateway *, const troupe_q *, int64_t, tr_future **),
                    const char *format, const char *endpoint, int *code)
{
    tr_future *f;
    TC_OK(fn(gw, &(troupe_q){format, endpoint}, 0, &f));
    *code = tr_future_get(f, WAIT_NS);
    char *s = NULL;
    if (!*code) {
        s = strdup(*troupe_introspect_node_result(f));
        cr_assert(s);
    }
    tr_future_release(f);
    return s;
}

Test(introspect, the_endpoint_answers_its_reports, .timeout = 60)
{
    tr_service *server = r_server(1, 0), *client = r_client(1, 0, 0);
    tr_endpoint *ep = t_endpoint(server, "calc", true);
    tr_endpoint *odd = t_endpoint(server, "=we\"ird\ttab", false); /* JSON- and TSV-hostile */
    /* tr_endpoint_start is asynchronous: the state says "started" once its
     * start message has run (the report below shows it). */
    tr_endpoint_info info;
    TC_ASSERT_EVENTUALLY((tr_endpoint_description(ep, &info), !strcmp(info.state, "started")),
                         10000);
    char a[128];
    tr_gateway *gw;
    TC_OK(tr_service_connect(client, r_addr(server, TR_INTROSPECT_ID, a, sizeof a),
                             &troupe_introspect_gateway, &gw));
    tr_future *f;
    TC_OK(troupe_introspect_ping(gw, &(tr_i64){77}, 0, &f));
    TC_OK(tr_future_get(f, WAIT_NS));
    cr_assert_eq(*troupe_introspect_ping_result(f), 77);
    tr_future_release(f);
    int code;
    char *ls = report(gw, troupe_introspect_endpoints, "json", NULL, &code);
    TC_OK(code);
    cr_assert(strstr(ls, "{\"id\":\"calc\",\"state\":\"started\",\"gateways\":\"tcalc\""), "%s", ls);
    cr_assert(strstr(ls, "{\"id\":\"$troupe\",\"state\":\"started\",\"gateways\":\"troupe_introspect\""), "%s", ls);
    cr_assert(strstr(ls, "{\"id\":\"=we\\\"ird\\u0009tab\",\"state\":\"created\","), "%s", ls);
    free(ls);
    char *tsv = report(gw, troupe_introspect_endpoints, "tsv", NULL, &code);
    TC_OK(code);
    static const char head[] = "# endpoints\nid\tstate\tgateways\t";
    cr_assert(!strncmp(tsv, head, sizeof head - 1), "%s", tsv);
    cr_assert(strstr(tsv, "\ncalc\tstarted\ttcalc\t0\t"), "%s", tsv);
    cr_assert(strstr(tsv, "\n=we\"ird tab\tcreated\t"), "a tab in a cell becomes a space: %s", tsv);
    free(tsv);
    char *st = report(gw, troupe_introspect_endpoint_stats, "json", "calc", &code);
    TC_OK(code);
    cr_assert(strstr(st, "\"methods\":[{\"gateway\":\"tcalc\",\"method\":\"add\",\"calls\":0,"), "%s", st);
    free(st);
    cr_assert_null(report(gw, troupe_introspect_endpoint_stats, "json", "nope", &code));
    TC_ERR(code, TR_ENOENDPOINT);
    char *node = report(gw, troupe_introspect_node, "json", NULL, &code);
    TC_OK(code);
    cr_assert(strstr(node, "\"node\":{\"version\":\""), "%s", node);
    cr_assert(strstr(node, "\"connections\":[{\"id\":"), "%s", node);
    free(node);
    char *prom = report(gw, troupe_introspect_metrics, NULL, NULL, &code);
    TC_OK(code);
    cr_assert(strstr(prom, "troupe_method_calls_total{endpoint=\"$troupe\",gateway=\"troupe_introspect\","
                           "method=\"ping\"} 1\n"), "%s", prom);
    free(prom);
    tr_gateway_release(gw);
    tr_endpoint_release(odd);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}

Test(introspect, configured_off_there_is_none, .timeout = 60)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    cfg.introspection_off = true;
    tr_service *server, *client = r_client(1, 0, 0);
    TC_OK(tr_service_create(&cfg, &server));
    char a[128];
    tr_gateway *gw;
    TC_ERR(tr_service_connect(client, r_addr(server, TR_INTROSPECT_ID, a, sizeof a),
                              &troupe_introspect_gateway, &gw),
           TR_ENOENDPOINT);
    tr_service_destroy(client);
    tr_service_destroy(server);
    TC_ASSERT_NO_LEAKS();
}
