/* tr_service: configuration, start-up and shutdown of the runtime. */
#include "rpc/service_impl.h"

#include <string.h>

#include "base/alloc.h"
#include "core/actor_impl.h"
#include "troupe/actor.h"
#include "troupe/error.h"

void tr_service_config_init(tr_service_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->batch = TR_DEFAULT_BATCH;
    cfg->ask_timeout_ns = TR_DEFAULT_ASK_TIMEOUT_NS;
    cfg->lookup_timeout_ns = TR_DEFAULT_LOOKUP_TIMEOUT_NS;
    cfg->max_frame_size = TR_DEFAULT_MAX_FRAME_SIZE;
    cfg->bind_address = TR_DEFAULT_BIND_ADDRESS;
}

static int fill_defaults(const tr_service_config *in, tr_service_config *out)
{
    if (in)
        *out = *in;
    else
        tr_service_config_init(out);
    if (out->workers > 1024 || out->batch > 1u << 20 || out->ask_timeout_ns < 0 ||
        out->lookup_timeout_ns < 0 || out->msg_alloc > TR_MSG_ALLOC_POOL)
        return TR_EINVAL;
    if (!out->batch)
        out->batch = TR_DEFAULT_BATCH;
    if (!out->ask_timeout_ns)
        out->ask_timeout_ns = TR_DEFAULT_ASK_TIMEOUT_NS;
    if (!out->lookup_timeout_ns)
        out->lookup_timeout_ns = TR_DEFAULT_LOOKUP_TIMEOUT_NS;
    if (!out->max_frame_size)
        out->max_frame_size = TR_DEFAULT_MAX_FRAME_SIZE;
    out->bind_address = tri_strdup(out->bind_address ? out->bind_address : TR_DEFAULT_BIND_ADDRESS);
    return out->bind_address ? 0 : TR_ENOMEM;
}

int tr_service_create(const tr_service_config *cfg, tr_service **out)
{
    if (!out)
        return TR_EINVAL;
    tr_service *svc = tri_zalloc(sizeof *svc);
    if (!svc)
        return TR_ENOMEM;
    int rv = fill_defaults(cfg, &svc->cfg);
    if (rv) {
        tri_free(svc, sizeof *svc);
        return rv;
    }
    tri_sched_config sc = {
        .workers = svc->cfg.workers,
        .batch = svc->cfg.batch,
        .msg_alloc = svc->cfg.msg_alloc,
        .owner = svc,
    };
    rv = tri_sched_create(&sc, &svc->sched);
    if (rv) {
        tri_free((void *)svc->cfg.bind_address, strlen(svc->cfg.bind_address) + 1);
        tri_free(svc, sizeof *svc);
        return rv;
    }
    svc->cfg.workers = tri_sched_workers(svc->sched);
    *out = svc;
    return 0;
}

int tr_service_shutdown(tr_service *svc)
{
    if (!svc)
        return TR_EINVAL;
    tri_worker *w = tri_worker_current();
    if (w && tri_worker_sched(w) == svc->sched)
        return TR_EDEADLK;
    /* release: pairs with tri_service_check_running's acquire. */
    atomic_store_explicit(&svc->stopped, 1, memory_order_release);
    tri_sched_stop(svc->sched);
    return 0;
}

void tr_service_destroy(tr_service *svc)
{
    if (!svc)
        return;
    tr_service_shutdown(svc);
    tri_sched_destroy(svc->sched);
    tri_free((void *)svc->cfg.bind_address, strlen(svc->cfg.bind_address) + 1);
    tri_free(svc, sizeof *svc);
}

unsigned tr_service_workers(const tr_service *svc) { return tri_sched_workers(svc->sched); }

void tr_service_sched_stats(const tr_service *svc, tr_sched_stats *out)
{
    tri_sched_stats(svc->sched, out);
}

uint64_t tr_service_live_actors(const tr_service *svc) { return tri_sched_live(svc->sched); }

int tr_spawn(tr_service *svc, const tr_actor_opts *opts, tr_actor **out)
{
    if (!svc || !opts || !opts->behavior || !out)
        return TR_EINVAL;
    int rv = tri_service_check_running(svc);
    if (rv)
        return rv;
    return tri_actor_spawn(svc->sched, opts, out);
}
