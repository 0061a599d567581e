/* Per-service logging (log.h) and what tr_service_create explains:
 * records reach the configured sink with level, subsystem, endpoint id and
 * text; the level filters; two services log to their own sinks; a bad
 * TROUPE_LOG is reported; a busy port is TR_EADDRINUSE with a sentence in
 * tr_service_create_error(). Criterion runs each test in its own process,
 * so setenv here touches no other test. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_common.h"

#define MAX_RECORDS 32

typedef struct record {
    tr_log_level level;
    char subsystem[32], endpoint[64], text[512];
} record;

typedef struct sink {
    pthread_mutex_t lock;
    unsigned n;
    record r[MAX_RECORDS];
} sink;

static void sink_init(sink *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

static void sink_fn(void *arg, tr_log_level level, const char *subsystem, const char *endpoint_id,
                    const char *text)
{
    sink *s = arg;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_RECORDS) {
        record *r = &s->r[s->n];
        r->level = level;
        snprintf(r->subsystem, sizeof r->subsystem, "%s", subsystem);
        snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint_id ? endpoint_id : "(null)");
        snprintf(r->text, sizeof r->text, "%s", text);
    }
    s->n++;
    pthread_mutex_unlock(&s->lock);
}

static tr_service *logged_service(sink *s, tr_log_level level)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.log_level = level;
    cfg.log_sink = sink_fn;
    cfg.log_arg = s;
    tr_service *svc = NULL;
    TC_OK(tr_service_create(&cfg, &svc));
    return svc;
}

/* A run_async body that fails with an application code: the endpoint
 * logs a warning naming itself (nobody else hears of it, S11). */
static int failing_body(tr_endpoint *self, void *state, void *arg)
{
    (void)self, (void)state, (void)arg;
    return TR_EAPP(7);
}

/* Makes endpoint `id` on svc log one warning (a failed body) and one debug
 * record (a tell before start), then terminates it: every record it will
 * ever log has been logged when this returns. */
static void provoke(tr_service *svc, const char *id)
{
    tr_endpoint *ep = t_endpoint(svc, id, false);
    tr_gateway *gw = t_connect(svc, id);
    TC_OK(tcalc_note(gw, &(tr_i64){1})); /* not started: a debug record */
    TC_OK(tr_endpoint_start(ep));
    TC_OK(tr_endpoint_run_async(ep, failing_body, NULL, 0));
    t_terminate(ep);
    tr_endpoint_stats st;
    tr_endpoint_call_stats(ep, &st);
    cr_assert_eq(st.handler_errors, 1, "the body ran and failed");
    cr_assert_eq(st.rejected[TR_REJECT_NOT_STARTED], 1, "the tell was refused");
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
}

static const record *find(sink *s, tr_log_level level, const char *subsystem)
{
    for (unsigned i = 0; i < s->n && i < MAX_RECORDS; i++)
        if (s->r[i].level == level && !strcmp(s->r[i].subsystem, subsystem))
            return &s->r[i];
    return NULL;
}

Test(log, sink_gets_level_subsystem_endpoint_and_text, .timeout = 30)
{
    sink s;
    sink_init(&s);
    tr_service *svc = logged_service(&s, TR_LOG_DEBUG);
    tr_service_config eff;
    tr_service_effective_config(svc, &eff);
    cr_assert_eq(eff.log_level, TR_LOG_DEBUG);
    cr_assert_eq(eff.log_sink, sink_fn);
    provoke(svc, "logged-one");
    tr_service_destroy(svc);
    cr_assert_eq(s.n, 2, "one warning, one debug record; got %u", s.n);
    const record *w = find(&s, TR_LOG_WARN, "endpoint");
    cr_assert_not_null(w, "the failed body's warning");
    cr_assert_str_eq(w->endpoint, "logged-one");
    cr_assert_str_eq(w->text, "a run_async body on endpoint logged-one failed: application code 7");
    const record *d = find(&s, TR_LOG_DEBUG, "endpoint");
    cr_assert_not_null(d, "the refused tell's debug record");
    cr_assert_str_eq(d->endpoint, "logged-one");
    cr_assert_str_eq(d->text, "endpoint logged-one has not been started; discarding tcalc.note");
    cr_assert_null(strchr(w->text, '\n'), "one line, no newline");
}

Test(log, level_filters, .timeout = 30)
{
    unsetenv("TROUPE_LOG");
    static const struct {
        tr_log_level level;
        unsigned expect;
    } cases[] = {{TR_LOG_DEBUG, 2}, {TR_LOG_INFO, 1}, {TR_LOG_DEFAULT, 1} /* warn */,
                 {TR_LOG_WARN, 1},  {TR_LOG_ERROR, 0}, {TR_LOG_OFF, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sink s;
        sink_init(&s);
        tr_service *svc = logged_service(&s, cases[i].level);
        provoke(svc, "filtered");
        tr_service_destroy(svc);
        cr_assert_eq(s.n, cases[i].expect, "level %s: %u records, expected %u",
                     tr_log_level_name(cases[i].level), s.n, cases[i].expect);
        for (unsigned k = 0; k < s.n; k++)
            cr_assert_geq(s.r[k].level, cases[i].level, "a record below the level");
    }
}

Test(log, two_services_two_sinks, .timeout = 30)
{
    sink a, b;
    sink_init(&a);
    sink_init(&b);
    tr_service *sa = logged_service(&a, TR_LOG_WARN);
    tr_service *sb = logged_service(&b, TR_LOG_DEBUG);
    provoke(sa, "in-a");
    provoke(sb, "in-b");
    provoke(sa, "in-a-again");
    tr_service_destroy(sa);
    tr_service_destroy(sb);
    cr_assert_eq(a.n, 2, "a: two warnings, no debug (its level): %u", a.n);
    cr_assert_eq(b.n, 2, "b: one warning and one debug record: %u", b.n);
    for (unsigned i = 0; i < a.n; i++)
        cr_assert(!strcmp(a.r[i].endpoint, "in-a") || !strcmp(a.r[i].endpoint, "in-a-again"),
                  "a got %s's record", a.r[i].endpoint);
    for (unsigned i = 0; i < b.n; i++)
        cr_assert_str_eq(b.r[i].endpoint, "in-b");
}

Test(log, environment_sets_the_default_level, .timeout = 30)
{
    setenv("TROUPE_LOG", "DEBUG", 1); /* case does not matter */
    sink s;
    sink_init(&s);
    tr_service *svc = logged_service(&s, TR_LOG_DEFAULT);
    tr_service_config eff;
    tr_service_effective_config(svc, &eff);
    cr_assert_eq(eff.log_level, TR_LOG_DEBUG);
    provoke(svc, "env");
    tr_service_destroy(svc);
    cr_assert_eq(s.n, 2);
    /* A level set in the configuration wins over the environment. */
    sink_init(&s);
    svc = logged_service(&s, TR_LOG_ERROR);
    provoke(svc, "env");
    tr_service_destroy(svc);
    cr_assert_eq(s.n, 0);
}

Test(log, invalid_environment_value_is_reported, .timeout = 30)
{
    setenv("TROUPE_LOG", "loud", 1);
    sink s;
    sink_init(&s);
    tr_service *svc = logged_service(&s, TR_LOG_DEFAULT);
    tr_service_config eff;
    tr_service_effective_config(svc, &eff);
    cr_assert_eq(eff.log_level, TR_LOG_WARN, "falls back to warn");
    tr_service_destroy(svc);
    cr_assert_eq(s.n, 1, "one warning at create, got %u", s.n);
    cr_assert_eq(s.r[0].level, TR_LOG_WARN);
    cr_assert_str_eq(s.r[0].subsystem, "log");
    cr_assert_str_eq(s.r[0].endpoint, "(null)");
    cr_assert_str_eq(s.r[0].text, "TROUPE_LOG=\"loud\" is not a level (accepted: debug, info, "
                                  "warn, error, off); using warn");
}

Test(log, level_names, .timeout = 5)
{
    static const char *const names[] = {"default", "debug", "info", "warn", "error", "off"};
    for (int i = TR_LOG_DEFAULT; i <= TR_LOG_OFF; i++)
        cr_assert_str_eq(tr_log_level_name((tr_log_level)i), names[i]);
    cr_assert_str_eq(tr_log_level_name((tr_log_level)99), "?");
}

Test(service_create, busy_port_is_eaddrinuse_and_explained, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 1;
    cfg.listen = true;
    tr_service *first = NULL;
    TC_OK(tr_service_create(&cfg, &first));
    cr_assert_str_eq(tr_service_create_error(), "", "no message after a success");
    char addr[128];
    TC_OK(tr_service_listen_address(first, addr, sizeof addr));
    char hostport[128];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%u", (unsigned)tr_service_port(first));

    sink s;
    sink_init(&s);
    cfg.bind_address = hostport;
    cfg.log_sink = sink_fn;
    cfg.log_arg = &s;
    tr_service *second = (tr_service *)&cfg; /* must come back NULL */
    TC_ERR(tr_service_create(&cfg, &second), TR_EADDRINUSE);
    cr_assert_null(second);
    char expect[256];
    snprintf(expect, sizeof expect,
             "cannot start the service's network layer: cannot listen on %s: Address already in "
             "use", hostport);
    cr_assert_str_eq(tr_service_create_error(), expect);
    cr_assert_eq(s.n, 1, "the failure also goes to the sink");
    cr_assert_eq(s.r[0].level, TR_LOG_ERROR);
    cr_assert_str_eq(s.r[0].text, expect);
    cr_assert_str_eq(tr_strerror(TR_EADDRINUSE), "address already in use");
    tr_service_destroy(first);
}

static void *create_bad_elsewhere(void *arg)
{
    (void)arg;
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 5000;
    tr_service *svc = NULL;
    int rv = tr_service_create(&cfg, &svc);
    return rv == TR_EINVAL && strstr(tr_service_create_error(), "workers") ? (void *)1 : NULL;
}

Test(service_create, invalid_config_explained_per_thread, .timeout = 30)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.ask_timeout_ns = -1;
    tr_service *svc = NULL;
    TC_ERR(tr_service_create(&cfg, &svc), TR_EINVAL);
    cr_assert_str_eq(tr_service_create_error(), "invalid configuration: ask_timeout_ns is negative");
    /* Another thread's failure leaves this thread's message alone. */
    pthread_t t;
    void *ok = NULL;
    cr_assert_eq(pthread_create(&t, NULL, create_bad_elsewhere, NULL), 0);
    pthread_join(t, &ok);
    cr_assert_not_null(ok, "the other thread read its own message");
    cr_assert_str_eq(tr_service_create_error(), "invalid configuration: ask_timeout_ns is negative");
    cfg.ask_timeout_ns = 0;
    cfg.log_level = (tr_log_level)42;
    TC_ERR(tr_service_create(&cfg, &svc), TR_EINVAL);
    cr_assert_str_eq(tr_service_create_error(), "invalid configuration: log_level is not a tr_log_level");
}
