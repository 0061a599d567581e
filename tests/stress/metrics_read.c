/* Stress (TSan): metrics read while they are written. A listening service
 * serves an endpoint that two caller threads keep busy (local tells and
 * asks, and remote ones through a second service); a reader thread keeps
 * writing both services' Prometheus text, listing connections and reading
 * per-method metrics meanwhile, and a fourth thread keeps making and
 * dropping endpoints (the list the readers walk). TSan checks every
 * single-writer counter, histogram publication and the list locks.
 * Checked: the exact call counts, in the API and in the text. */
#define TC_PLAIN
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/check.h"
#include "troupe/troupe.h"

#define SGW_METHODS(M)                                                        \
    M(sgw, add, tr_i64, tr_void, TELL)                                        \
    M(sgw, get, tr_i64, tr_i64, ASK)
TR_GATEWAY(sgw, SGW_METHODS)
TR_GATEWAY_DEFINE(sgw, SGW_METHODS)

static int on_add(tr_endpoint *self, void *state, const tr_i64 *v)
{
    (void)self;
    *(int64_t *)state += *v;
    return 0;
}
static int on_get(tr_endpoint *self, void *state, const tr_i64 *v, tr_reply *r)
{
    (void)self;
    return sgw_get_reply(r, &(tr_i64){*(int64_t *)state + *v});
}
static const sgw_handlers handlers = {.add = on_add, .get = on_get};

enum { CALLS = 3000 };

static tr_service *server, *client;
static _Atomic int stop_readers;
static _Atomic uint64_t reads;

static void *caller(void *arg)
{
    tr_gateway *gw = arg;
    for (int i = 0; i < CALLS; i++) {
        TC_OK(sgw_add(gw, &(tr_i64){1}));
        if (i % 4 == 0) {
            tr_future *f;
            TC_OK(sgw_get(gw, &(tr_i64){0}, 0, &f));
            TC_OK(tr_future_get(f, 20000000000LL));
            tr_future_release(f);
        }
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    tr_conn_metrics cm[8];
    while (!atomic_load(&stop_readers)) {
        for (int s = 0; s < 2; s++) {
            tr_buf b;
            tr_buf_init(&b);
            TC_OK(tr_service_metrics_write(s ? client : server, &b));
            TC_ASSERT(b.len > 0);
            tr_buf_free(&b);
            tr_service_connections(s ? client : server, cm, 8);
        }
        atomic_fetch_add(&reads, 1);
    }
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    tr_gateway_impl impl = sgw_impl(&handlers);
    for (int i = 0; !atomic_load(&stop_readers) && i < 100000; i++) {
        tr_endpoint *ep;
        TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.gateways = &impl, .ngateways = 1,
                                                             .state_size = 8}, &ep));
        TC_OK(tr_endpoint_start(ep));
        tr_gateway *gw;
        TC_OK(tr_service_connect(server, tr_endpoint_address(ep), &sgw_gateway, &gw));
        for (int k = 0; k < 70; k++) /* past one sample: a histogram is made */
            TC_OK(sgw_add(gw, &(tr_i64){1}));
        tr_gateway_release(gw);
        tr_endpoint_terminate(ep);
        tr_future *t;
        TC_OK(tr_endpoint_termination(ep, &t));
        TC_OK(tr_future_get(t, 20000000000LL));
        tr_future_release(t);
        tr_endpoint_release(ep);
    }
    return NULL;
}

static uint64_t calls_of(tr_endpoint *ep, const char *method)
{
    for (size_t i = 0; i < tr_endpoint_method_count(ep); i++) {
        tr_method_metrics m;
        TC_OK(tr_endpoint_method_metrics(ep, i, &m));
        if (!strcmp(m.method, method))
            return m.calls;
    }
    return UINT64_MAX;
}

int main(void)
{
    tr_service_config cfg;
    tr_service_config_init(&cfg);
    cfg.workers = 2;
    cfg.listen = true;
    TC_OK(tr_service_create(&cfg, &server));
    cfg.listen = false;
    TC_OK(tr_service_create(&cfg, &client));
    tr_gateway_impl impl = sgw_impl(&handlers);
    tr_endpoint *ep;
    TC_OK(tr_endpoint_create(server, &(tr_endpoint_opts){.id = "s", .gateways = &impl,
                                                         .ngateways = 1, .state_size = 8}, &ep));
    TC_OK(tr_endpoint_start(ep));
    char addr[96];
    snprintf(addr, sizeof addr, "troupe://127.0.0.1:%u/s", (unsigned)tr_service_port(server));
    tr_gateway *local, *remote;
    TC_OK(tr_service_connect(server, "s", &sgw_gateway, &local));
    TC_OK(tr_service_connect(client, addr, &sgw_gateway, &remote));
    pthread_t c1, c2, r, ch;
    pthread_create(&r, NULL, reader, NULL);
    pthread_create(&ch, NULL, churn, NULL);
    pthread_create(&c1, NULL, caller, local);
    pthread_create(&c2, NULL, caller, remote);
    pthread_join(c1, NULL);
    pthread_join(c2, NULL);
    /* the last tells and the answered asks' handlers have returned */
    TC_ASSERT_EVENTUALLY(calls_of(ep, "add") == 2 * CALLS && calls_of(ep, "get") == 2 * CALLS / 4,
                         20000);
    atomic_store(&stop_readers, 1);
    pthread_join(r, NULL);
    pthread_join(ch, NULL);
    TC_ASSERT(atomic_load(&reads) > 0);
    tr_buf b;
    tr_buf_init(&b);
    TC_OK(tr_service_metrics_write(server, &b));
    TC_OK(tr_buf_append(&b, "", 1));
    char want[160];
    snprintf(want, sizeof want, "troupe_method_calls_total{endpoint=\"s\",gateway=\"sgw\",method=\"add\"} %d\n",
             2 * CALLS);
    TC_ASSERT_MSG(strstr((const char *)b.data, want), "no \"%s\" in the text", want);
    tr_buf_free(&b);
    printf("metrics_read: %d calls each way, %llu reads alongside\n", 2 * CALLS,
           (unsigned long long)atomic_load(&reads));
    tr_gateway_release(local);
    tr_gateway_release(remote);
    tr_endpoint_release(ep);
    tr_service_destroy(client);
    tr_service_destroy(server);
    return 0;
}
