/* Savina's request/response benchmarks on endpoints and gateways: the
 * helpers they share (creating, connecting, stopping endpoints). */
#ifndef TROUPE_BENCH_SAVINA_RPC_H
#define TROUPE_BENCH_SAVINA_RPC_H

#include "savina.h"

/* Creates and starts an endpoint implementing `impl`; NULL after failing. */
static inline tr_endpoint *sv_ep(sv_ctx *c, tr_gateway_impl impl, size_t state_size,
                                 void (*cleanup)(tr_endpoint *, void *), void **state)
{
    tr_endpoint *ep = NULL;
    tr_gateway_impl impls[1] = {impl};
    int rv = tr_endpoint_create(c->svc,
                                &(tr_endpoint_opts){.gateways = impls, .ngateways = 1,
                                                    .state_size = state_size,
                                                    .on_cleanup = cleanup},
                                &ep);
    if (rv) {
        bench_done_fail(&c->done, "tr_endpoint_create: %s", tr_strerror(rv));
        return NULL;
    }
    *state = tr_endpoint_state(ep);
    return ep;
}

static inline int sv_ep_start(sv_ctx *c, tr_endpoint *ep)
{
    int rv = tr_endpoint_start(ep);
    if (rv)
        bench_done_fail(&c->done, "tr_endpoint_start: %s", tr_strerror(rv));
    return rv;
}

/* A gateway to `ep`; NULL after failing. */
static inline tr_gateway *sv_connect(sv_ctx *c, tr_endpoint *ep, const tr_gateway_desc *d)
{
    tr_gateway *gw = NULL;
    int rv = tr_service_connect(c->svc, tr_endpoint_id(ep), d, &gw);
    if (rv) {
        bench_done_fail(&c->done, "tr_service_connect: %s", tr_strerror(rv));
        return NULL;
    }
    return gw;
}

/* Terminates every endpoint and waits for each to finish, so that their
 * state may be read (endpoint.h: after the termination future). */
static inline int sv_ep_stop_all(sv_ctx *c, tr_endpoint **eps, size_t n)
{
    int rv = 0;
    for (size_t i = 0; i < n; i++)
        if (eps[i])
            tr_endpoint_terminate(eps[i]);
    for (size_t i = 0; i < n; i++) {
        tr_future *f = NULL;
        if (!eps[i] || tr_endpoint_termination(eps[i], &f))
            continue;
        int x = tr_future_get(f, (int64_t)c->r->opts->timeout_s * 1000000000LL);
        tr_future_release(f);
        if (x && !rv)
            rv = x;
    }
    if (rv)
        sv_fail(c, "an endpoint did not terminate cleanly: %s", tr_strerror(rv));
    return rv ? BENCH_FAIL : BENCH_OK;
}

static inline void sv_release_eps(tr_endpoint **eps, size_t n)
{
    if (!eps)
        return;
    for (size_t i = 0; i < n; i++)
        if (eps[i])
            tr_endpoint_release(eps[i]);
    free(eps);
}

static inline void sv_release_gws(tr_gateway **gws, size_t n)
{
    if (!gws)
        return;
    for (size_t i = 0; i < n; i++)
        if (gws[i])
            tr_gateway_release(gws[i]);
    free(gws);
}

/* The go signal every calling endpoint implements (an endpoint needs one
 * gateway; the main thread starts each with a tell). */
#define SVGO_METHODS(M) M(svgo, go, tr_void, tr_void, TELL)
TR_GATEWAY(svgo, SVGO_METHODS)

#endif
