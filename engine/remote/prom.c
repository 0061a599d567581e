/* tr_service_metrics_write: the service's figures in the Prometheus text
 * exposition format (version 0.0.4).
 *
 * It lives in the top layer because it needs every layer's figures:
 * the scheduler's and the endpoints' (through their public calls) and the
 * network's. Each family is written whole (HELP, TYPE, every sample)
 * before the next, as the format requires: the endpoint list is walked
 * once per family. Latencies are summaries (quantiles 0.5, 0.9, 0.99,
 * _sum, _count) in seconds, with a _max gauge beside them. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"
#include "troupe/metrics.h"
#include "troupe/remote.h"

typedef struct out {
    tr_buf *b;
    int rv;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
    if (o->rv)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    o->rv = tr_buf_append(o->b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* A label value with \, " and newline escaped (the format's rule). */
static const char *esc(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    for (; s && *s && j + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = 0;
    return buf;
}

static void family(out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    family(o, name, type, help);
    put(o, "%s %" PRIu64 "\n", name, v);
}

/* ---- endpoints ---------------------------------------------------------------------- */

enum ep_fig { EP_INFO, EP_PROCESSED, EP_DROPPED, EP_ERRORS, EP_REJECTED, EP_MAILBOX, EP_HWM };

typedef struct walk {
    out *o;
    int fig;     /* enum ep_fig, or a method figure (below) */
} walk;

static int ep_line(tr_endpoint *ep, void *arg)
{
    walk *w = arg;
    tr_endpoint_info info;
    tr_endpoint_description(ep, &info);
    char id[2 * TR_ENDPOINT_ID_MAX + 8];
    esc(info.id, id, sizeof id);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    switch (w->fig) {
    case EP_INFO:
        put(w->o, "troupe_endpoint_info{endpoint=\"%s\",state=\"%s\",fenced=\"%s\"} 1\n", id,
            info.state, info.fenced ? "true" : "false");
        break;
    case EP_PROCESSED:
        put(w->o, "troupe_endpoint_processed_total{endpoint=\"%s\"} %" PRIu64 "\n", id, st.processed);
        break;
    case EP_DROPPED:
        put(w->o, "troupe_endpoint_dropped_total{endpoint=\"%s\"} %" PRIu64 "\n", id, st.dropped);
        break;
    case EP_ERRORS:
        put(w->o, "troupe_endpoint_handler_errors_total{endpoint=\"%s\"} %" PRIu64 "\n", id,
            st.handler_errors);
        break;
    case EP_REJECTED:
        for (int r = 0; r < TR_REJECT_COUNT_; r++)
            put(w->o, "troupe_endpoint_rejected_total{endpoint=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                id, tr_reject_reason_name((tr_reject_reason)r), st.rejected[r]);
        break;
    case EP_MAILBOX:
        put(w->o, "troupe_endpoint_mailbox_length{endpoint=\"%s\"} %" PRIu64 "\n", id, st.mailbox_len);
        break;
    case EP_HWM:
        put(w->o, "troupe_endpoint_mailbox_high_water{endpoint=\"%s\"} %" PRIu64 "\n", id,
            tr_endpoint_mailbox_hwm(ep));
        break;
    }
    return w->o->rv;
}

/* Method figures: calls, errors, then each latency's summary and max. */
enum m_fig { M_CALLS = 100, M_ERRORS, M_QUEUE, M_QUEUE_MAX, M_PROC, M_PROC_MAX };

static void summary_lines(out *o, const char *name, const char *labels, const tr_latency *l)
{
    static const char *const q[3] = {"0.5", "0.9", "0.99"};
    const uint64_t v[3] = {l->p50_ns, l->p90_ns, l->p99_ns};
    for (int i = 0; i < 3; i++)
        put(o, "%s{%s,quantile=\"%s\"} %.9g\n", name, labels, q[i], (double)v[i] / 1e9);
    put(o, "%s_sum{%s} %.9g\n%s_count{%s} %" PRIu64 "\n", name, labels, (double)l->sum_ns / 1e9,
        name, labels, l->count);
}

static int method_lines(tr_endpoint *ep, void *arg)
{
    walk *w = arg;
    char id[2 * TR_ENDPOINT_ID_MAX + 8], gw[160], me[160], labels[1024];
    tr_endpoint_info info;
    tr_endpoint_description(ep, &info);
    esc(info.id, id, sizeof id);
    size_t n = tr_endpoint_method_count(ep);
    for (size_t i = 0; i < n && !w->o->rv; i++) {
        tr_method_metrics m;
        if (tr_endpoint_method_metrics(ep, i, &m))
            continue;
        snprintf(labels, sizeof labels, "endpoint=\"%s\",gateway=\"%s\",method=\"%s\"", id,
                 esc(m.gateway, gw, sizeof gw), esc(m.method, me, sizeof me));
        switch (w->fig) {
        case M_CALLS:
            put(w->o, "troupe_method_calls_total{%s} %" PRIu64 "\n", labels, m.calls);
            break;
        case M_ERRORS:
            put(w->o, "troupe_method_errors_total{%s} %" PRIu64 "\n", labels, m.errors);
            break;
        case M_QUEUE:
            summary_lines(w->o, "troupe_method_queue_seconds", labels, &m.queue);
            break;
        case M_QUEUE_MAX:
            put(w->o, "troupe_method_queue_seconds_max{%s} %.9g\n", labels, (double)m.queue.max_ns / 1e9);
            break;
        case M_PROC:
            summary_lines(w->o, "troupe_method_processing_seconds", labels, &m.processing);
            break;
        case M_PROC_MAX:
            put(w->o, "troupe_method_processing_seconds_max{%s} %.9g\n", labels,
                (double)m.processing.max_ns / 1e9);
            break;
        }
    }
    return w->o->rv;
}

static void endpoint_families(tr_service *svc, out *o)
{
    static const struct { int fig; const char *name, *type, *help; } fams[] = {
        {EP_INFO, "troupe_endpoint_info", "gauge", "An endpoint of this service (1), with its state."},
        {EP_PROCESSED, "troupe_endpoint_processed_total", "counter", "Messages the endpoint processed."},
        {EP_DROPPED, "troupe_endpoint_dropped_total", "counter", "Messages dropped (the endpoint had terminated)."},
        {EP_ERRORS, "troupe_endpoint_handler_errors_total", "counter", "Tells and run_async bodies that returned an error."},
        {EP_REJECTED, "troupe_endpoint_rejected_total", "counter", "Calls refused before any handler ran, by reason."},
        {EP_MAILBOX, "troupe_endpoint_mailbox_length", "gauge", "Messages waiting in the mailbox now."},
        {EP_HWM, "troupe_endpoint_mailbox_high_water", "gauge", "The most messages seen waiting (sampled)."},
        {M_CALLS, "troupe_method_calls_total", "counter", "Handler calls per method."},
        {M_ERRORS, "troupe_method_errors_total", "counter", "Handler calls that returned an error."},
        {M_QUEUE, "troupe_method_queue_seconds", "summary", "Send to handler start (sampled)."},
        {M_QUEUE_MAX, "troupe_method_queue_seconds_max", "gauge", "The longest sampled queue time."},
        {M_PROC, "troupe_method_processing_seconds", "summary", "Handler duration (sampled)."},
        {M_PROC_MAX, "troupe_method_processing_seconds_max", "gauge", "The longest sampled handler duration."},
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0] && !o->rv; i++) {
        family(o, fams[i].name, fams[i].type, fams[i].help);
        walk w = {o, fams[i].fig};
        tr_service_foreach_endpoint(svc, fams[i].fig >= M_CALLS ? method_lines : ep_line, &w);
    }
}

/* ---- connections -------------------------------------------------------------------- */

static void connection_families(tr_service *svc, out *o)
{
    enum { MAX_CONNS = 1024 }; /* bounded: the first ones (the totals above count all) */
    tr_conn_metrics *cm = malloc(MAX_CONNS * sizeof *cm);
    if (!cm) {
        o->rv = TR_ENOMEM;
        return;
    }
    size_t n = tr_service_connections(svc, cm, MAX_CONNS);
    if (n > MAX_CONNS)
        n = MAX_CONNS;
    static const struct { const char *name, *type, *help; size_t off; double scale; } fams[] = {
        {"troupe_connection_sent_bytes_total", "counter", "Bytes written on the connection.", offsetof(tr_conn_metrics, bytes_sent), 0},
        {"troupe_connection_received_bytes_total", "counter", "Bytes read from the connection.", offsetof(tr_conn_metrics, bytes_received), 0},
        {"troupe_connection_sent_frames_total", "counter", "Frames written.", offsetof(tr_conn_metrics, frames_sent), 0},
        {"troupe_connection_received_frames_total", "counter", "Frames read (skipped ones included).", offsetof(tr_conn_metrics, frames_received), 0},
        {"troupe_connection_oversized_frames_total", "counter", "Frames skipped on arrival for their size.", offsetof(tr_conn_metrics, oversized), 0},
        {"troupe_connection_pongs_total", "counter", "PING/PONG round trips measured.", offsetof(tr_conn_metrics, pings), 0},
        {"troupe_connection_rtt_seconds", "gauge", "The latest PING/PONG round trip.", offsetof(tr_conn_metrics, rtt_ns), 1e9},
        {"troupe_connection_rtt_max_seconds", "gauge", "The longest PING/PONG round trip.", offsetof(tr_conn_metrics, rtt_max_ns), 1e9},
        {"troupe_connection_reconnects", "gauge", "Outbound: connections to this peer before this one.", offsetof(tr_conn_metrics, reconnects), 0},
        {"troupe_connection_age_seconds", "gauge", "Since the connection was made.", offsetof(tr_conn_metrics, age_ns), 1e9},
        {"troupe_connection_buffer_bytes", "gauge", "Memory the connection's read and write buffers hold.", offsetof(tr_conn_metrics, buffer_bytes), 0},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < n; i++) {
            char peer[160];
            uint64_t v;
            memcpy(&v, (const char *)&cm[i] + fams[f].off, sizeof v);
            put(o, "%s{conn=\"%" PRIu64 "\",peer=\"%s\",direction=\"%s\"} ", fams[f].name, cm[i].id,
                esc(cm[i].peer, peer, sizeof peer), cm[i].outbound ? "out" : "in");
            if (fams[f].scale)
                put(o, "%.9g\n", (double)v / fams[f].scale);
            else
                put(o, "%" PRIu64 "\n", v);
        }
    }
    free(cm);
}

int tr_service_metrics_write(tr_service *svc, tr_buf *b)
{
    if (!svc || !b)
        return TR_EINVAL;
    out o = {b, 0};
    tr_sched_stats ss;
    tr_service_sched_stats(svc, &ss);
    scalar(&o, "troupe_workers", "gauge", "Worker threads.", tr_service_workers(svc));
    scalar(&o, "troupe_live_actors", "gauge", "Actors spawned and not yet freed (endpoints included).",
           tr_service_live_actors(svc));
    scalar(&o, "troupe_sched_parks_total", "counter", "Times a worker went to sleep.", ss.parks);
    scalar(&o, "troupe_sched_wakes_total", "counter", "Wake-ups issued to parked workers.", ss.wakes);
    scalar(&o, "troupe_sched_steals_total", "counter", "Actors taken from another worker's deque.", ss.steals);
    scalar(&o, "troupe_sched_injected_total", "counter", "Actors scheduled from non-worker threads.", ss.injected);
    tr_remote_stats rs;
    tr_service_remote_stats(svc, &rs);
    const struct { const char *name, *type, *help; uint64_t v; } net[] = {
        {"troupe_remote_sent_frames_total", "counter", "Frames written, all connections.", rs.frames_sent},
        {"troupe_remote_received_frames_total", "counter", "Frames read, all connections.", rs.frames_received},
        {"troupe_remote_sent_bytes_total", "counter", "Bytes written, all connections.", rs.bytes_sent},
        {"troupe_remote_received_bytes_total", "counter", "Bytes read, all connections.", rs.bytes_received},
        {"troupe_remote_writes_total", "counter", "write() calls of the I/O thread.", rs.writes},
        {"troupe_remote_reads_total", "counter", "read() calls of the I/O thread.", rs.reads},
        {"troupe_remote_oversized_requests_total", "counter", "Calls refused before sending for their size (S24).", rs.oversized_requests},
        {"troupe_remote_oversized_replies_total", "counter", "Results refused before sending for their size (S25).", rs.oversized_replies},
        {"troupe_remote_oversized_incoming_total", "counter", "Frames skipped on arrival for their size (S26).", rs.oversized_incoming},
        {"troupe_remote_connections_opened_total", "counter", "Outbound connections whose handshake completed.", rs.connections_opened},
        {"troupe_remote_connections_accepted_total", "counter", "Inbound connections whose handshake completed.", rs.connections_accepted},
        {"troupe_remote_connections_lost_total", "counter", "Connections closed by a fault.", rs.connections_lost},
        {"troupe_remote_malformed_total", "counter", "Connections closed for a malformed frame (S36).", rs.malformed},
        {"troupe_remote_late_replies_total", "counter", "Answers to asks no longer pending (S35).", rs.late_replies},
        {"troupe_remote_tells_dropped_total", "counter", "Tells lost with their connection or their endpoint.", rs.tells_dropped},
        {"troupe_remote_inbound_open", "gauge", "Inbound connections open now.", rs.inbound_open},
        {"troupe_remote_outbound_open", "gauge", "Outbound connections open now.", rs.outbound_open},
        {"troupe_remote_asks_pending", "gauge", "Remote asks waiting for an answer now.", rs.asks_pending},
    };
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
        scalar(&o, net[i].name, net[i].type, net[i].help, net[i].v);
    endpoint_families(svc, &o);
    connection_families(svc, &o);
    return o.rv;
}
