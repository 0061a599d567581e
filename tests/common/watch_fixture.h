/* What the death-watch tests (tests/rpc/watch_test.c, tests/remote/
 * watch_test.c, tests/remote/grace_test.c) share: a target endpoint, an
 * optional watcher endpoint and a gateway to the target, on one service or
 * across two; the bounded wait for a service's watch records to settle; and
 * the teardown that checks nothing is left (records, then leaks). Each
 * test file opens the fixture its own way (local, loopback, a proxy). */
#ifndef TR_TESTS_COMMON_WATCH_FIXTURE_H
#define TR_TESTS_COMMON_WATCH_FIXTURE_H

#include "common/check.h"
#include "troupe/troupe.h"

typedef struct wfix {
    tr_service *server;  /* the target's */
    tr_service *client;  /* the gateway's; NULL: server */
    tr_endpoint *target;
    tr_endpoint *watcher; /* NULL: none */
    tr_gateway *gw;       /* client's gateway to target */
} wfix;

/* Records are released by the thread that fired them, just after the
 * notification (and remotely after an UNWATCH or DOWN travelled): waits,
 * bounded, for the count to reach want; returns the count. */
static inline uint64_t wf_settle(tr_service *svc, uint64_t want)
{
    uint64_t dl = tc_deadline_ms(5000);
    while (tr_service_live_watches(svc) != want && tc_poll(dl)) {
    }
    return tr_service_live_watches(svc);
}

/* Checks that no watch record is left on either side, releases and
 * destroys everything, checks for leaks. */
static inline void wf_close(wfix *f)
{
    if (f->client)
        TC_EQ_U64(wf_settle(f->client, 0), 0);
    TC_EQ_U64(wf_settle(f->server, 0), 0);
    tr_gateway_release(f->gw);
    tr_endpoint_release(f->target);
    if (f->watcher)
        tr_endpoint_release(f->watcher);
    if (f->client)
        tr_service_destroy(f->client);
    tr_service_destroy(f->server);
    TC_ASSERT_NO_LEAKS();
}

#endif
