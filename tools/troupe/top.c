/* troupe top: the node's report redrawn every interval (default 1 s), with
 * rates from the difference of two reports. Ends on 'q' (when stdin is a
 * terminal), after --iterations N, or when the node stops answering. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tsv.h"

/* The previous report's counters, by endpoint id / connection id. */
typedef struct prev {
    tsv_doc doc;
    bool have;
    int64_t at_ns;
} prev;

static uint64_t u(const char *s) { return strtoull(s, NULL, 10); }

static uint64_t prev_value(const prev *p, const char *sec, const char *keycol, const char *key,
                           const char *col, bool *found)
{
    *found = false;
    const tsv_section *s = p->have ? tsv_find(&p->doc, sec) : NULL;
    for (size_t r = 0; s && r < s->nrows; r++)
        if (!strcmp(tsv_cell(s, r, keycol), key)) {
            *found = true;
            return u(tsv_cell(s, r, col));
        }
    return 0;
}

/* Per second, from the last report to this one (0 on the first). */
static double rate(const prev *p, double secs, const char *sec, const char *keycol,
                   const char *key, const char *col, uint64_t now)
{
    bool found;
    uint64_t was = prev_value(p, sec, keycol, key, col, &found);
    return found && secs > 0 && now >= was ? (double)(now - was) / secs : 0;
}

static double kv_rate(const prev *p, double secs, const char *sec, const char *key, uint64_t now)
{
    return rate(p, secs, sec, "key", key, "value", now);
}

static void us(char *buf, size_t len, const char *ns)
{
    snprintf(buf, len, "%.1f", (double)u(ns) / 1e3);
}

static void draw(const opts *o, const tsv_doc *d, const prev *p, double secs, long it)
{
    const tsv_section *node = tsv_find(d, "node"), *sched = tsv_find(d, "scheduler"),
                      *io = tsv_find(d, "io"), *eps = tsv_find(d, "endpoints"),
                      *conns = tsv_find(d, "connections");
    printf("\033[H\033[2J"); /* home, clear */
    char iters[32] = "";
    if (o->iterations)
        snprintf(iters, sizeof iters, "  [%ld/%ld]", it, o->iterations);
    const char *up = "0";
    const char *vals[7] = {"?", "?", "?", "?", "?", "?", "?"};
    static const char *const keys[7] = {"version", "pid", "workers", "live_actors", "uptime_ms",
                                        "listen", "protocol"};
    for (size_t r = 0; node && r < node->nrows; r++)
        for (int k = 0; k < 7; k++)
            if (!strcmp(node->rows[r * 2], keys[k]))
                vals[k] = node->rows[r * 2 + 1];
    up = vals[4];
    printf("troupe top - %s  troupe %s  pid %s  up %.1f s  workers %s  actors %s%s\n",
           o->hostport, vals[0], vals[1], (double)u(up) / 1e3, vals[2], vals[3], iters);
    uint64_t sv[4] = {0};
    static const char *const skeys[4] = {"parks", "wakes", "steals", "injected"};
    for (size_t r = 0; sched && r < sched->nrows; r++)
        for (int k = 0; k < 4; k++)
            if (!strcmp(sched->rows[r * 2], skeys[k]))
                sv[k] = u(sched->rows[r * 2 + 1]);
    printf("sched: parks %.0f/s  wakes %.0f/s  steals %.0f/s  injected %.0f/s\n",
           kv_rate(p, secs, "scheduler", "parks", sv[0]), kv_rate(p, secs, "scheduler", "wakes", sv[1]),
           kv_rate(p, secs, "scheduler", "steals", sv[2]),
           kv_rate(p, secs, "scheduler", "injected", sv[3]));
    uint64_t iv[6] = {0};
    static const char *const ikeys[6] = {"frames_received", "frames_sent", "bytes_received",
                                         "bytes_sent", "inbound_open", "outbound_open"};
    for (size_t r = 0; io && r < io->nrows; r++)
        for (int k = 0; k < 6; k++)
            if (!strcmp(io->rows[r * 2], ikeys[k]))
                iv[k] = u(io->rows[r * 2 + 1]);
    printf("io:    frames in %.0f/s out %.0f/s  bytes in %.0f/s out %.0f/s  connections in %" PRIu64
           " out %" PRIu64 "\n\n",
           kv_rate(p, secs, "io", ikeys[0], iv[0]), kv_rate(p, secs, "io", ikeys[1], iv[1]),
           kv_rate(p, secs, "io", ikeys[2], iv[2]), kv_rate(p, secs, "io", ikeys[3], iv[3]), iv[4],
           iv[5]);
    printf("%-24s %-10s %8s %8s %12s %10s %10s %10s\n", "ENDPOINT", "STATE", "MAILBOX", "HWM",
           "PROCESSED", "MSG/S", "Q99(us)", "P99(us)");
    for (size_t r = 0; eps && r < eps->nrows && r < 30; r++) {
        const char *id = tsv_cell(eps, r, "id");
        uint64_t processed = u(tsv_cell(eps, r, "processed"));
        char q99[24], p99[24];
        us(q99, sizeof q99, tsv_cell(eps, r, "queue_p99_ns"));
        us(p99, sizeof p99, tsv_cell(eps, r, "processing_p99_ns"));
        printf("%-24.24s %-10s %8s %8s %12" PRIu64 " %10.0f %10s %10s\n", id,
               tsv_cell(eps, r, "state"), tsv_cell(eps, r, "mailbox"),
               tsv_cell(eps, r, "mailbox_hwm"), processed,
               rate(p, secs, "endpoints", "id", id, "processed", processed), q99, p99);
    }
    printf("\n%-12s %-22s %-4s %12s %12s %10s\n", "CONN", "PEER", "DIR", "BYTES IN/S", "BYTES OUT/S",
           "RTT(us)");
    for (size_t r = 0; conns && r < conns->nrows && r < 10; r++) {
        const char *id = tsv_cell(conns, r, "id");
        char rtt[24] = "-"; /* measured by the connecting side only */
        if (!strcmp(tsv_cell(conns, r, "direction"), "out"))
            us(rtt, sizeof rtt, tsv_cell(conns, r, "rtt_ns"));
        printf("%-12s %-22.22s %-4s %12.0f %12.0f %10s\n", id, tsv_cell(conns, r, "peer"),
               tsv_cell(conns, r, "direction"),
               rate(p, secs, "connections", "id", id, "bytes_received", u(tsv_cell(conns, r, "bytes_received"))),
               rate(p, secs, "connections", "id", id, "bytes_sent", u(tsv_cell(conns, r, "bytes_sent"))),
               rtt);
    }
    printf("\n(q quits)\n");
    fflush(stdout);
}

/* Waits up to ms for a key; true when it was 'q'. */
static bool quit_key(bool tty, long ms)
{
    int64_t end = now_ns() + ms * 1000000LL;
    for (int guard = 0; guard < 1000; guard++) {
        int64_t left = (end - now_ns()) / 1000000;
        if (left <= 0)
            return false;
        if (!tty) {
            struct timespec ts = {left / 1000, (left % 1000) * 1000000};
            nanosleep(&ts, NULL);
            return false;
        }
        struct pollfd pf = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&pf, 1, (int)left) > 0) {
            char ch;
            if (read(STDIN_FILENO, &ch, 1) <= 0)
                return true; /* end of input */
            if (ch == 'q' || ch == 'Q')
                return true;
        }
    }
    return false;
}

int troupe_top(client *c, const opts *o)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios saved, raw;
    if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    } else {
        tty = false;
    }
    prev p = {0};
    int rv = 0;
    long max = o->iterations ? o->iterations : 1000000000L; /* bounded either way */
    for (long it = 1; it <= max; it++) {
        char *text;
        if (ask_text(c, troupe_introspect_node, o->json ? "json" : "tsv", NULL, &text)) {
            rv = 1;
            break;
        }
        int64_t at = now_ns();
        if (o->json) {
            fputs(text, stdout);
            fflush(stdout);
            free(text);
        } else {
            tsv_doc d;
            if (tsv_parse(&d, text)) {
                free(text);
                rv = 1;
                break;
            }
            free(text);
            draw(o, &d, &p, p.have ? (double)(at - p.at_ns) / 1e9 : 0, it);
            if (p.have)
                tsv_free(&p.doc);
            p.doc = d;
            p.have = true;
            p.at_ns = at;
        }
        if (it == max || quit_key(tty, o->interval_ms))
            break;
    }
    if (p.have)
        tsv_free(&p.doc);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return rv;
}
