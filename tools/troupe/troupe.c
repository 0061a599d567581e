/* troupe: look inside a running troupe node through its introspection
 * endpoint ("$troupe", engine/remote/introspect.h).
 *
 *   troupe ls ADDR                 endpoints
 *   troupe stats ADDR[/ENDPOINT]   the node (scheduler, I/O, endpoints,
 *                                  connections), or one endpoint's methods
 *   troupe ping ADDR [--count N]   round trips to the node
 *   troupe metrics ADDR            Prometheus text
 *   troupe top ADDR [--iterations N] [--interval-ms MS]
 *                                  a live view, refreshed every second;
 *                                  q quits
 *
 * ADDR is host:port (or troupe://host:port). --json prints the node's JSON
 * instead of tables. Exit status: 0, 1 when the node cannot be reached or
 * answers an error, 2 on a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tsv.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: troupe COMMAND ADDR [options]\n"
            "  ls ADDR                      the node's endpoints\n"
            "  stats ADDR[/ENDPOINT]        the node, or one endpoint's per-method figures\n"
            "  ping ADDR [--count N]        round trips to the node (default 3)\n"
            "  metrics ADDR                 the node's metrics, Prometheus text\n"
            "  top ADDR [--iterations N] [--interval-ms MS]\n"
            "                               a live view refreshed every second; q quits\n"
            "ADDR is HOST:PORT of a listening troupe service (troupe-node --listen).\n"
            "Options: --json (print the node's JSON), --help, --version.\n");
}

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->count = 3;
    o->interval_ms = 1000;
    const char *addr = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("troupe %s (protocol %d)\n", tr_version_string(), TR_PROTOCOL_VERSION);
            exit(0);
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if ((!strcmp(a, "--count") || !strcmp(a, "--iterations") ||
                    !strcmp(a, "--interval-ms")) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v <= 0 || v > 1000000) {
                fprintf(stderr, "troupe: %s needs a positive number, not \"%s\"\n", a, argv[i]);
                return 2;
            }
            *(!strcmp(a, "--count") ? &o->count : !strcmp(a, "--iterations") ? &o->iterations
                                                                               : &o->interval_ms) = v;
        } else if (a[0] == '-') {
            fprintf(stderr, "troupe: unknown option %s\n", a);
            return 2;
        } else if (!o->cmd) {
            o->cmd = a;
        } else if (!addr) {
            addr = a;
        } else {
            fprintf(stderr, "troupe: unexpected argument %s\n", a);
            return 2;
        }
    }
    if (!o->cmd || !addr) {
        usage(stderr);
        return 2;
    }
    if (!strncmp(addr, "troupe://", 9))
        addr += 9;
    const char *slash = strchr(addr, '/');
    size_t hl = slash ? (size_t)(slash - addr) : strlen(addr);
    if (!hl || hl >= sizeof o->hostport || !memchr(addr, ':', hl)) {
        fprintf(stderr, "troupe: \"%s\" is not HOST:PORT\n", addr);
        return 2;
    }
    memcpy(o->hostport, addr, hl);
    if (slash && slash[1]) {
        if (strcmp(o->cmd, "stats")) {
            fprintf(stderr, "troupe: only stats takes ADDR/ENDPOINT\n");
            return 2;
        }
        snprintf(o->endpoint, sizeof o->endpoint, "%s", slash + 1);
    }
    return 0;
}

/* ---- asking the node ---------------------------------------------------------------- */

static int client_open(client *c, const opts *o)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    int rv = tr_service_create(&cfg, &c->svc);
    if (rv) {
        fprintf(stderr, "troupe: cannot create a service: %s\n", tr_strerror(rv));
        return 1;
    }
    char addr[300];
    snprintf(addr, sizeof addr, "troupe://%s/%s", o->hostport, TR_INTROSPECT_ID);
    rv = tr_service_connect(c->svc, addr, &troupe_introspect_gateway, &c->gw);
    if (rv) {
        fprintf(stderr, "troupe: cannot reach %s: %s: %s\n", o->hostport, tr_errname(rv),
                tr_service_connect_error());
        tr_service_destroy(c->svc);
        return 1;
    }
    return 0;
}

static void client_close(client *c)
{
    tr_gateway_release(c->gw);
    tr_service_destroy(c->svc);
}

/* Asks one report; on 0, *text is a malloc'd copy. */
int ask_text(client *c, ask_fn *fn, const char *format, const char *endpoint, char **text)
{
    troupe_q q = {format, endpoint};
    tr_future *f;
    int rv = fn(c->gw, &q, ASK_TIMEOUT_NS, &f);
    if (rv) {
        fprintf(stderr, "troupe: %s\n", tr_strerror(rv));
        return 1;
    }
    rv = tr_future_get(f, -1);
    if (rv) {
        fprintf(stderr, "troupe: %s: %s\n", tr_errname(rv), tr_future_error(f));
        tr_future_release(f);
        return 1;
    }
    const tr_str *s = tr_future_value(f, &tr_str__type);
    *text = strdup(s && *s ? *s : "");
    tr_future_release(f);
    return *text ? 0 : 1;
}

/* ---- commands ------------------------------------------------------------------------ */

static int print_report(client *c, ask_fn *fn, const opts *o, const char *const *titles)
{
    char *text;
    if (ask_text(c, fn, o->json ? "json" : "tsv", o->endpoint[0] ? o->endpoint : NULL, &text))
        return 1;
    if (o->json) {
        fputs(text, stdout);
        free(text);
        return 0;
    }
    tsv_doc d;
    int rv = tsv_parse(&d, text);
    free(text);
    if (rv) {
        fprintf(stderr, "troupe: out of memory\n");
        return 1;
    }
    for (size_t i = 0; titles[i]; i++) {
        const tsv_section *s = tsv_find(&d, titles[i]);
        if (!s)
            continue;
        printf("%s%s\n", i ? "\n" : "", titles[i]);
        tsv_print(stdout, s, NULL, TSV_MAX_ROWS);
    }
    tsv_free(&d);
    return 0;
}

static int cmd_ping(client *c, const opts *o)
{
    int64_t min = INT64_MAX, max = 0, sum = 0;
    if (o->json)
        printf("{\"address\":\"%s\",\"rtt_ns\":[", o->hostport);
    for (long i = 0; i < o->count; i++) {
        tr_future *f;
        int64_t t0 = now_ns();
        int rv = troupe_introspect_ping(c->gw, &(tr_i64){i}, ASK_TIMEOUT_NS, &f);
        if (!rv)
            rv = tr_future_get(f, -1);
        int64_t rtt = now_ns() - t0;
        if (rv || *troupe_introspect_ping_result(f) != i) {
            fprintf(stderr, "troupe: ping %ld: %s\n", i, rv ? tr_future_error(f) : "wrong echo");
            tr_future_release(f);
            return 1;
        }
        tr_future_release(f);
        min = rtt < min ? rtt : min;
        max = rtt > max ? rtt : max;
        sum += rtt;
        if (o->json)
            printf("%s%" PRId64, i ? "," : "", rtt);
        else
            printf("ping %s: seq=%ld time=%.1f us\n", o->hostport, i, (double)rtt / 1e3);
    }
    if (o->json)
        printf("],\"min_ns\":%" PRId64 ",\"avg_ns\":%" PRId64 ",\"max_ns\":%" PRId64 "}\n", min,
               sum / o->count, max);
    else
        printf("%ld round trips: min %.1f us, avg %.1f us, max %.1f us\n", o->count,
               (double)min / 1e3, (double)sum / o->count / 1e3, (double)max / 1e3);
    return 0;
}

static int cmd_metrics(client *c, const opts *o)
{
    (void)o;
    char *text;
    if (ask_text(c, troupe_introspect_metrics, "prometheus", NULL, &text))
        return 1;
    fputs(text, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int rv = parse_args(argc, argv, &o);
    if (rv)
        return rv;
    static const char *const cmds[] = {"ls", "stats", "ping", "metrics", "top"};
    bool known = false;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        known |= !strcmp(o.cmd, cmds[i]);
    if (!known) {
        fprintf(stderr, "troupe: unknown command %s (ls, stats, ping, metrics, top)\n", o.cmd);
        return 2;
    }
    if (!strcmp(o.cmd, "metrics") && o.json) {
        fprintf(stderr, "troupe: metrics prints Prometheus text; for JSON use stats --json\n");
        return 2;
    }
    client c;
    if (client_open(&c, &o))
        return 1;
    if (!strcmp(o.cmd, "ls"))
        rv = print_report(&c, troupe_introspect_endpoints, &o, (const char *const[]){"endpoints", NULL});
    else if (!strcmp(o.cmd, "stats") && o.endpoint[0])
        rv = print_report(&c, troupe_introspect_endpoint_stats, &o,
                          (const char *const[]){"endpoint", "methods", NULL});
    else if (!strcmp(o.cmd, "stats"))
        rv = print_report(&c, troupe_introspect_node, &o,
                          (const char *const[]){"node", "scheduler", "io", "endpoints", "connections", NULL});
    else if (!strcmp(o.cmd, "ping"))
        rv = cmd_ping(&c, &o);
    else if (!strcmp(o.cmd, "metrics"))
        rv = cmd_metrics(&c, &o);
    else
        rv = troupe_top(&c, &o);
    client_close(&c);
    return rv;
}
