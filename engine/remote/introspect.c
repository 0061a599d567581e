/* The introspection endpoint (introspect.h): reports in JSON or TSV. */
#include "remote/introspect.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "rpc/wire.h"
#include "troupe/metrics.h"

TR_STRUCT_DEFINE(troupe_q, TROUPE_Q_FIELDS)
TR_GATEWAY_DEFINE(troupe_introspect, TROUPE_INTROSPECT_METHODS)

typedef struct isp_state {
    int64_t started_ns;
} isp_state;

/* ---- a report: sections of key/value pairs or tables, as JSON or TSV ------------------ */

typedef struct doc {
    tr_buf b;
    bool json;
    bool first;      /* no item yet in the current JSON object or array */
    int ncols;       /* the current table's */
    const char *const *cols;
    int rv;
} doc;

static void raw(doc *d, const char *s, size_t n)
{
    if (!d->rv)
        d->rv = tr_buf_append(&d->b, s, n);
}
static void str(doc *d, const char *s) { raw(d, s, strlen(s)); }

static void jstr(doc *d, const char *s) /* a JSON string */
{
    raw(d, "\"", 1);
    for (; s && *s; s++) {
        char e[8];
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else if (c < 0x20)
            snprintf(e, sizeof e, "\\u%04x", c);
        else
            e[0] = (char)c, e[1] = 0;
        str(d, e);
    }
    raw(d, "\"", 1);
}

static void tstr(doc *d, const char *s) /* a TSV cell: no tabs or newlines */
{
    if (!s || !*s) {
        str(d, "-");
        return;
    }
    for (; *s; s++)
        raw(d, *s == '\t' || *s == '\n' ? " " : s, 1);
}

static void sep(doc *d)
{
    if (!d->first)
        raw(d, ",", 1);
    d->first = false;
}

static void doc_begin(doc *d, bool json)
{
    memset(d, 0, sizeof *d);
    d->json = json;
    if (json)
        str(d, "{");
    d->first = true;
}
static void doc_end(doc *d)
{
    str(d, d->json ? "}\n" : "");
    raw(d, "", 1); /* the NUL of the tr_str */
}

/* A section of key/value pairs. */
static void kv_begin(doc *d, const char *name)
{
    if (d->json) {
        sep(d);
        jstr(d, name);
        str(d, ":{");
        d->first = true;
    } else {
        str(d, "# ");
        str(d, name);
        str(d, "\nkey\tvalue\n");
    }
}
static void kv_end(doc *d)
{
    str(d, d->json ? "}" : "\n");
    d->first = false;
}
static void kv_s(doc *d, const char *k, const char *v)
{
    if (d->json) {
        sep(d);
        jstr(d, k);
        str(d, ":");
        jstr(d, v);
    } else {
        tstr(d, k);
        str(d, "\t");
        tstr(d, v);
        str(d, "\n");
    }
}
static void kv_u(doc *d, const char *k, uint64_t v)
{
    char n[24];
    snprintf(n, sizeof n, "%" PRIu64, v);
    if (d->json) {
        sep(d);
        jstr(d, k);
        str(d, ":");
        str(d, n);
    } else {
        kv_s(d, k, n);
    }
}

/* A table; cells are strings, those whose bit is set in `numeric` are
 * numbers in JSON. */
static void table_begin(doc *d, const char *name, int ncols, const char *const *cols)
{
    d->ncols = ncols;
    d->cols = cols;
    if (d->json) {
        sep(d);
        jstr(d, name);
        str(d, ":[");
        d->first = true;
        return;
    }
    str(d, "# ");
    str(d, name);
    str(d, "\n");
    for (int i = 0; i < ncols; i++) {
        str(d, i ? "\t" : "");
        str(d, cols[i]);
    }
    str(d, "\n");
}
static void table_row(doc *d, const char *const *cells, uint32_t numeric)
{
    if (d->json) {
        sep(d);
        str(d, "{");
    }
    for (int i = 0; i < d->ncols; i++) {
        const char *c = cells[i];
        if (d->json) {
            str(d, i ? "," : "");
            jstr(d, d->cols[i]);
            str(d, ":");
            if (numeric >> i & 1)
                str(d, c);
            else
                jstr(d, c);
        } else {
            str(d, i ? "\t" : "");
            tstr(d, c);
        }
    }
    str(d, d->json ? "}" : "\n");
}
static void table_end(doc *d)
{
    str(d, d->json ? "]" : "\n");
    d->first = false;
}

/* A number cell in a caller's buffer. */
static const char *num(char *buf, uint64_t v)
{
    snprintf(buf, 24, "%" PRIu64, v);
    return buf;
}

/* Bits lo..hi set. */
static uint32_t cols_mask(int lo, int hi) { return (uint32_t)(((1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1)); }

/* ---- what is reported ----------------------------------------------------------------- */

static const char *const ep_cols[] = {"id", "state", "gateways", "mailbox", "mailbox_hwm",
                                      "processed", "dropped", "rejected", "calls",
                                      "queue_p99_ns", "processing_p99_ns", "processing_max_ns"};
#define EP_NCOLS ((int)(sizeof ep_cols / sizeof ep_cols[0]))

static int ep_row(tr_endpoint *ep, void *arg)
{
    doc *d = arg;
    tr_endpoint_info info;
    tr_endpoint_description(ep, &info);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    char gws[300] = "";
    for (unsigned i = 0; i < info.ngateways && i < 16; i++)
        snprintf(gws + strlen(gws), sizeof gws - strlen(gws), "%s%s", i ? "," : "", info.gateways[i]);
    uint64_t calls = 0, q99 = 0, p99 = 0, pmax = 0, rejected = 0;
    for (int r = 0; r < TR_REJECT_COUNT_; r++)
        rejected += st.rejected[r];
    size_t n = tr_endpoint_method_count(ep);
    for (size_t i = 0; i < n; i++) {
        tr_method_metrics m;
        if (tr_endpoint_method_metrics(ep, i, &m))
            continue;
        calls += m.calls;
        q99 = m.queue.p99_ns > q99 ? m.queue.p99_ns : q99;
        p99 = m.processing.p99_ns > p99 ? m.processing.p99_ns : p99;
        pmax = m.processing.max_ns > pmax ? m.processing.max_ns : pmax;
    }
    char b[9][24];
    const char *cells[EP_NCOLS] = {info.id, info.state, gws,
                                   num(b[0], st.mailbox_len), num(b[1], tr_endpoint_mailbox_hwm(ep)),
                                   num(b[2], st.processed), num(b[3], st.dropped),
                                   num(b[4], rejected), num(b[5], calls), num(b[6], q99),
                                   num(b[7], p99), num(b[8], pmax)};
    table_row(d, cells, cols_mask(3, EP_NCOLS - 1));
    return d->rv;
}

static void endpoints_table(tr_service *svc, doc *d)
{
    table_begin(d, "endpoints", EP_NCOLS, ep_cols);
    tr_service_foreach_endpoint(svc, ep_row, d);
    table_end(d);
}

static const char *const m_cols[] = {"gateway", "method", "calls", "errors",
                                     "queue_count", "queue_p50_ns", "queue_p90_ns", "queue_p99_ns", "queue_max_ns",
                                     "processing_count", "processing_p50_ns", "processing_p90_ns",
                                     "processing_p99_ns", "processing_max_ns"};
#define M_NCOLS ((int)(sizeof m_cols / sizeof m_cols[0]))

typedef struct one_ep {
    doc *d;
    const char *id;
    bool found;
} one_ep;

static int ep_detail(tr_endpoint *ep, void *arg)
{
    one_ep *x = arg;
    tr_endpoint_info info;
    tr_endpoint_description(ep, &info);
    if (strcmp(info.id, x->id))
        return 0;
    x->found = true;
    doc *d = x->d;
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    kv_begin(d, "endpoint");
    kv_s(d, "id", info.id);
    kv_s(d, "address", info.address);
    kv_s(d, "state", info.state);
    kv_s(d, "fenced", info.fenced ? "true" : "false");
    kv_u(d, "mailbox", st.mailbox_len);
    kv_u(d, "mailbox_hwm", tr_endpoint_mailbox_hwm(ep));
    kv_u(d, "processed", st.processed);
    kv_u(d, "dropped", st.dropped);
    kv_u(d, "handler_errors", st.handler_errors);
    kv_u(d, "decoded", st.decoded);
    for (int r = 0; r < TR_REJECT_COUNT_; r++) {
        char k[48];
        snprintf(k, sizeof k, "rejected_%s", tr_reject_reason_name((tr_reject_reason)r));
        kv_u(d, k, st.rejected[r]);
    }
    kv_end(d);
    table_begin(d, "methods", M_NCOLS, m_cols);
    size_t n = tr_endpoint_method_count(ep);
    for (size_t i = 0; i < n && !d->rv; i++) {
        tr_method_metrics m;
        if (tr_endpoint_method_metrics(ep, i, &m))
            continue;
        char b[12][24];
        const char *cells[M_NCOLS] = {m.gateway, m.method, num(b[0], m.calls), num(b[1], m.errors),
                                      num(b[2], m.queue.count), num(b[3], m.queue.p50_ns),
                                      num(b[4], m.queue.p90_ns), num(b[5], m.queue.p99_ns),
                                      num(b[6], m.queue.max_ns), num(b[7], m.processing.count),
                                      num(b[8], m.processing.p50_ns), num(b[9], m.processing.p90_ns),
                                      num(b[10], m.processing.p99_ns), num(b[11], m.processing.max_ns)};
        table_row(d, cells, cols_mask(2, M_NCOLS - 1));
    }
    table_end(d);
    return 1; /* found: stop */
}

static const char *const c_cols[] = {"id", "peer", "direction", "open", "bytes_sent",
                                     "bytes_received", "frames_sent", "frames_received",
                                     "oversized", "pongs", "rtt_ns", "rtt_max_ns", "reconnects",
                                     "age_ms"};
#define C_NCOLS ((int)(sizeof c_cols / sizeof c_cols[0]))

static void connections_table(tr_service *svc, doc *d)
{
    enum { MAX = 1024 };
    tr_conn_metrics *cm = malloc(MAX * sizeof *cm);
    if (!cm) {
        d->rv = TR_ENOMEM;
        return;
    }
    size_t n = tr_service_connections(svc, cm, MAX);
    table_begin(d, "connections", C_NCOLS, c_cols);
    for (size_t i = 0; i < n && i < MAX; i++) {
        const tr_conn_metrics *c = &cm[i];
        char b[11][24];
        const char *cells[C_NCOLS] = {num(b[0], c->id), c->peer, c->outbound ? "out" : "in",
                                      c->open ? "yes" : "no", num(b[1], c->bytes_sent),
                                      num(b[2], c->bytes_received), num(b[3], c->frames_sent),
                                      num(b[4], c->frames_received), num(b[5], c->oversized),
                                      num(b[6], c->pings), num(b[7], c->rtt_ns),
                                      num(b[8], c->rtt_max_ns), num(b[9], c->reconnects),
                                      num(b[10], c->age_ns / 1000000)};
        table_row(d, cells, 1u | cols_mask(4, C_NCOLS - 1));
    }
    table_end(d);
    free(cm);
}

static void node_section(tr_service *svc, isp_state *s, doc *d)
{
    char listen[96] = "";
    tr_service_listen_address(svc, listen, sizeof listen);
    tr_sched_stats ss;
    tr_service_sched_stats(svc, &ss);
    tr_remote_stats rs;
    tr_service_remote_stats(svc, &rs);
    kv_begin(d, "node");
    kv_s(d, "version", tr_version_string());
    kv_u(d, "protocol", TR_PROTOCOL_VERSION);
    kv_u(d, "pid", (uint64_t)getpid());
    kv_s(d, "listen", listen);
    kv_u(d, "uptime_ms", (uint64_t)(tri_now_ns() - s->started_ns) / 1000000);
    kv_u(d, "workers", tr_service_workers(svc));
    kv_u(d, "live_actors", tr_service_live_actors(svc));
    kv_end(d);
    kv_begin(d, "scheduler");
    kv_u(d, "parks", ss.parks);
    kv_u(d, "wakes", ss.wakes);
    kv_u(d, "steals", ss.steals);
    kv_u(d, "injected", ss.injected);
    kv_end(d);
    kv_begin(d, "io");
    kv_u(d, "frames_sent", rs.frames_sent);
    kv_u(d, "frames_received", rs.frames_received);
    kv_u(d, "bytes_sent", rs.bytes_sent);
    kv_u(d, "bytes_received", rs.bytes_received);
    kv_u(d, "writes", rs.writes);
    kv_u(d, "reads", rs.reads);
    kv_u(d, "inbound_open", rs.inbound_open);
    kv_u(d, "outbound_open", rs.outbound_open);
    kv_u(d, "asks_pending", rs.asks_pending);
    kv_u(d, "connections_lost", rs.connections_lost);
    kv_u(d, "malformed", rs.malformed);
    kv_u(d, "oversized_incoming", rs.oversized_incoming);
    kv_s(d, "last_error", rs.last_error);
    kv_end(d);
}

/* ---- handlers ----------------------------------------------------------------------- */

static bool want_json(const troupe_q *q) { return !q || !q->format || strcmp(q->format, "tsv"); }

static int answer(tr_reply *r, doc *d)
{
    int rv = d->rv ? tr_reply_fail(r, d->rv, "introspection: cannot build the report")
                   : troupe_introspect_node_reply(r, &(tr_str){(const char *)d->b.data});
    tr_buf_free(&d->b);
    return rv;
}

static int on_ping(tr_endpoint *self, void *state, const tr_i64 *v, tr_reply *r)
{
    (void)self, (void)state;
    return troupe_introspect_ping_reply(r, v);
}

static int on_node(tr_endpoint *self, void *state, const troupe_q *q, tr_reply *r)
{
    doc d;
    doc_begin(&d, want_json(q));
    node_section(tr_endpoint_service(self), state, &d);
    endpoints_table(tr_endpoint_service(self), &d);
    connections_table(tr_endpoint_service(self), &d);
    doc_end(&d);
    return answer(r, &d);
}

static int on_endpoints(tr_endpoint *self, void *state, const troupe_q *q, tr_reply *r)
{
    (void)state;
    doc d;
    doc_begin(&d, want_json(q));
    endpoints_table(tr_endpoint_service(self), &d);
    doc_end(&d);
    return answer(r, &d);
}

static int on_endpoint_stats(tr_endpoint *self, void *state, const troupe_q *q, tr_reply *r)
{
    (void)state;
    if (!q || !q->endpoint || !*q->endpoint)
        return tr_reply_fail(r, TR_EINVAL, "endpoint_stats needs an endpoint id");
    doc d;
    doc_begin(&d, want_json(q));
    one_ep x = {&d, q->endpoint, false};
    tr_service_foreach_endpoint(tr_endpoint_service(self), ep_detail, &x);
    doc_end(&d);
    if (!x.found) {
        tr_buf_free(&d.b);
        return tr_reply_fail(r, TR_ENOENDPOINT, "no endpoint %s on this node", q->endpoint);
    }
    return answer(r, &d);
}

static int on_connections(tr_endpoint *self, void *state, const troupe_q *q, tr_reply *r)
{
    (void)state;
    doc d;
    doc_begin(&d, want_json(q));
    connections_table(tr_endpoint_service(self), &d);
    doc_end(&d);
    return answer(r, &d);
}

static int on_metrics(tr_endpoint *self, void *state, const troupe_q *q, tr_reply *r)
{
    (void)state, (void)q;
    doc d;
    memset(&d, 0, sizeof d);
    d.rv = tr_service_metrics_write(tr_endpoint_service(self), &d.b);
    raw(&d, "", 1);
    return answer(r, &d);
}

static const troupe_introspect_handlers handlers = {
    .ping = on_ping,
    .node = on_node,
    .endpoints = on_endpoints,
    .endpoint_stats = on_endpoint_stats,
    .connections = on_connections,
    .metrics = on_metrics,
};

static int on_start(tr_endpoint *self, void *state)
{
    (void)self;
    ((isp_state *)state)->started_ns = tri_now_ns();
    return 0;
}

int tri_introspect_start(tr_service *svc)
{
    tr_gateway_impl impl = troupe_introspect_impl(&handlers);
    tr_endpoint_opts opts = {
        .id = TR_INTROSPECT_ID,
        .gateways = &impl,
        .ngateways = 1,
        .state_size = sizeof(isp_state),
        .on_start = on_start,
    };
    tr_endpoint *ep;
    int rv = tri_wire_endpoint_create_reserved(svc, &opts, &ep);
    if (rv)
        return rv;
    rv = tr_endpoint_start(ep);
    tr_endpoint_release(ep); /* the registry keeps it; shutdown terminates it */
    return rv;
}
