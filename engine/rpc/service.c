/* tr_service: configuration, start-up, shutdown (S7) and destruction.
 *
 * The public tr_service_create is in remote/node.c: it creates the service
 * here (tri_service_create), then starts the network layer when the
 * configuration asks it to listen; tr_service_connect is there too (it
 * tells ids from addresses; rpc/gateway.c makes the local gateways), so
 * that rpc/ never calls up into remote/. Shutdown and destroy reach that
 * layer through the hooks it left in the service (service_impl.h). Plain
 * actors are spawned here too (tr_spawn): the service owns the scheduler. */
#include "rpc/service_impl.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/actor_impl.h"
#include "rpc/endpoint_impl.h"
#include "rpc/metrics.h"
#include "rpc/future_impl.h"
#include "rpc/rcu.h"
#include "rpc/registry.h"
#include "rpc/timer.h"
#include "troupe/actor.h"
#include "troupe/error.h"

void tr_service_config_init(tr_service_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->batch = TR_DEFAULT_BATCH;
    cfg->ask_timeout_ns = TR_DEFAULT_ASK_TIMEOUT_NS;
    cfg->lookup_timeout_ns = TR_DEFAULT_LOOKUP_TIMEOUT_NS;
    cfg->heartbeat_interval_ns = TR_DEFAULT_HEARTBEAT_INTERVAL_NS;
    cfg->heartbeat_timeout_ns = TR_DEFAULT_HEARTBEAT_TIMEOUT_NS;
    cfg->max_frame_size = TR_DEFAULT_MAX_FRAME_SIZE;
    cfg->bind_address = TR_DEFAULT_BIND_ADDRESS;
}

static int fill_defaults(const tr_service_config *in, tr_service_config *out, char *why,
                         size_t why_len)
{
    if (in)
        *out = *in;
    else
        tr_service_config_init(out);
    const char *bad = out->workers > 1024             ? "workers is above 1024"
                      : out->batch > 1u << 20         ? "batch is above 2^20"
                      : out->ask_timeout_ns < 0       ? "ask_timeout_ns is negative"
                      : out->lookup_timeout_ns < 0    ? "lookup_timeout_ns is negative"
                      : out->msg_alloc > TR_MSG_ALLOC_POOL ? "msg_alloc is not a tr_msg_alloc"
                      : out->log_level > TR_LOG_OFF   ? "log_level is not a tr_log_level"
                                                      : NULL;
    if (bad) {
        snprintf(why, why_len, "invalid configuration: %s", bad);
        return TR_EINVAL;
    }
    if (!out->batch)
        out->batch = TR_DEFAULT_BATCH;
    if (!out->ask_timeout_ns)
        out->ask_timeout_ns = TR_DEFAULT_ASK_TIMEOUT_NS;
    if (!out->lookup_timeout_ns)
        out->lookup_timeout_ns = TR_DEFAULT_LOOKUP_TIMEOUT_NS;
    if (out->heartbeat_interval_ns < 0 || out->heartbeat_timeout_ns < 0)
        return TR_EINVAL;
    if (!out->heartbeat_interval_ns)
        out->heartbeat_interval_ns = TR_DEFAULT_HEARTBEAT_INTERVAL_NS;
    if (!out->heartbeat_timeout_ns)
        out->heartbeat_timeout_ns = TR_DEFAULT_HEARTBEAT_TIMEOUT_NS;
    if (out->heartbeat_timeout_ns < out->heartbeat_interval_ns)
        out->heartbeat_timeout_ns = out->heartbeat_interval_ns;
    if (!out->watch_grace_ns) /* one detection bound for a crash and a silence */
        out->watch_grace_ns = out->heartbeat_timeout_ns;
    if (!out->max_frame_size)
        out->max_frame_size = TR_DEFAULT_MAX_FRAME_SIZE;
    if (!out->mailbox_high)
        out->mailbox_high = TR_DEFAULT_MAILBOX_HIGH;
    if (!out->send_timeout_ns)
        out->send_timeout_ns = TR_DEFAULT_SEND_TIMEOUT_NS;
    if (!out->remote_queue_high)
        out->remote_queue_high = TR_DEFAULT_REMOTE_QUEUE_HIGH;
    if (!out->credit_calls)
        out->credit_calls = TR_DEFAULT_CREDIT_CALLS;
    if (!out->credit_bytes)
        out->credit_bytes = TR_DEFAULT_CREDIT_BYTES;
    out->bind_address = tri_strdup(out->bind_address ? out->bind_address : TR_DEFAULT_BIND_ADDRESS);
    int rv = out->bind_address ? 0 : TR_ENOMEM;
    const char **tls[] = {&out->tls_ca_file, &out->tls_cert_file, &out->tls_key_file,
                          &out->tls_psk, &out->tls_psk_identity};
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) /* copied: NULL stays NULL */
        if (*tls[i] && !(*tls[i] = tri_strdup(*tls[i])))
            rv = TR_ENOMEM; /* now NULL: every string is ours or NULL */
    return rv;
}

static void free_strings(tr_service_config *c)
{
    const char *s[] = {c->bind_address, c->tls_ca_file, c->tls_cert_file, c->tls_key_file,
                       c->tls_psk, c->tls_psk_identity};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i])
            tri_free((void *)s[i], strlen(s[i]) + 1);
}

/* On each worker thread (tri_sched_config hooks): workers read the
 * registry, so they are RCU readers; on exit, the future cache goes too. */
static void worker_start(void *owner)
{
    (void)owner;
    tri_rcu_worker_start();
}

static void worker_stop(void *owner)
{
    (void)owner;
    tri_future_cache_flush();
    tri_rcu_worker_stop();
}

static void free_service(tr_service *svc)
{
    free_strings(&svc->cfg);
    pthread_mutex_destroy(&svc->shutdown_lock);
    pthread_mutex_destroy(&svc->endpoints_lock);
    pthread_mutex_destroy(&svc->net_lock);
    tri_free(svc, sizeof *svc);
}

int tri_service_create(const tr_service_config *cfg, tr_service **out, char *why, size_t why_len)
{
    why[0] = '\0';
    if (!out) {
        snprintf(why, why_len, "out is NULL");
        return TR_EINVAL;
    }
    tr_service *svc = tri_zalloc(sizeof *svc);
    if (!svc) {
        snprintf(why, why_len, "out of memory allocating the service");
        return TR_ENOMEM;
    }
    int rv = fill_defaults(cfg, &svc->cfg, why, why_len);
    if (rv) {
        if (rv == TR_ENOMEM) { /* the strings were copied (EINVAL: before that) */
            snprintf(why, why_len, "out of memory copying the configuration's strings");
            free_strings(&svc->cfg);
        }
        tri_free(svc, sizeof *svc);
        return rv;
    }
    /* First, so that whatever follows can log (and a bad TROUPE_LOG is
     * reported through this service's own sink). */
    tri_logger_init(&svc->log, svc->cfg.log_level, svc->cfg.log_sink, svc->cfg.log_arg);
    svc->cfg.log_level = svc->log.level;
    svc->cfg.log_sink = svc->log.sink;
    /* A new process on the same address must look new: 64 random bits
     * (the clock and the address as a fallback). */
    if (getrandom(&svc->incarnation, sizeof svc->incarnation, 0) != sizeof svc->incarnation)
        svc->incarnation = (uint64_t)tri_now_ns() ^ (uint64_t)(uintptr_t)svc;
    if (!svc->incarnation)
        svc->incarnation = 1;
    pthread_mutex_init(&svc->shutdown_lock, NULL);
    pthread_mutex_init(&svc->endpoints_lock, NULL);
    pthread_mutex_init(&svc->net_lock, NULL);
    atomic_init(&svc->net, NULL);
    snprintf(svc->addr_prefix, sizeof svc->addr_prefix, "%s", TRI_LOCAL_ADDRESS_PREFIX);
    rv = tri_registry_create(&svc->registry);
    if (rv) {
        snprintf(why, why_len, "cannot create the endpoint registry: %s", tr_strerror(rv));
        free_service(svc);
        return rv;
    }
    tri_sched_config sc = {
        .workers = svc->cfg.workers,
        .batch = svc->cfg.batch,
        .msg_alloc = svc->cfg.msg_alloc,
        .mailbox_high = svc->cfg.mailbox_high,
        .send_timeout_ns = svc->cfg.send_timeout_ns,
        .owner = svc,
        .thread_start = worker_start,
        .thread_stop = worker_stop,
    };
    rv = tri_sched_create(&sc, &svc->sched);
    if (rv) {
        snprintf(why, why_len, "cannot start %u worker threads: %s", svc->cfg.workers,
                 tr_strerror(rv));
        tri_registry_destroy(svc->registry);
        free_service(svc);
        return rv;
    }
    svc->cfg.workers = tri_sched_workers(svc->sched);
    rv = tri_timers_create(svc->sched, svc->cfg.workers, &svc->timers);
    if (rv) {
        snprintf(why, why_len, "cannot start the timer thread: %s", tr_strerror(rv));
        tri_sched_destroy(svc->sched);
        tri_registry_destroy(svc->registry);
        free_service(svc);
        return rv;
    }
    *out = svc;
    return 0;
}

void tri_service_address(const tr_service *svc, const char *id, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", svc->addr_prefix, id);
}

/* Terminates every registered endpoint and waits for them, each wait
 * bounded so that an on_stop future that never completes cannot hang the
 * shutdown (it is failed with TR_ESTOPPED at destroy). */
static void terminate_all(tr_service *svc)
{
    tr_endpoint **eps;
    size_t n;
    if (tri_registry_snapshot(svc->registry, &eps, &n)) {
        TRI_ERROR(&svc->log, "service", NULL,
                  "out of memory listing endpoints; they stop with the workers");
        return;
    }
    for (size_t i = 0; i < n; i++)
        tr_endpoint_terminate(eps[i]);
    int64_t limit = svc->cfg.ask_timeout_ns;
    int64_t deadline = tri_now_ns() + limit;
    for (size_t i = 0; i < n; i++) {
        int64_t left = deadline - tri_now_ns();
        if (tri_future_block(eps[i]->termination, left > 0 ? left : 0) == TR_ETIMEDOUT)
            TRI_WARN(&svc->log, "service", eps[i]->id,
                     "endpoint %s did not terminate within %lld ms of shutdown (its on_stop "
                     "future is still pending); it is stopped with the workers",
                     eps[i]->id, (long long)(limit / 1000000));
        tri_endpoint_unref(eps[i]);
    }
    tri_free(eps, (n ? n : 1) * sizeof *eps);
}

int tr_service_shutdown(tr_service *svc)
{
    if (!svc)
        return TR_EINVAL;
    tri_worker *w = tri_worker_current();
    if (w && tri_worker_sched(w) == svc->sched)
        return TR_EDEADLK;
    pthread_mutex_lock(&svc->shutdown_lock);
    if (!svc->shutdown_done) {
        /* release: pairs with tri_service_check_open's acquire. */
        atomic_store_explicit(&svc->closing, 1, memory_order_release);
        terminate_all(svc);
        /* release: pairs with tri_service_check_running's acquire. */
        atomic_store_explicit(&svc->stopped, 1, memory_order_release);
        tri_timers_close(svc->timers); /* fails every pending ask (S7) */
        /* acquire: pairs with the release store that started it. */
        if (atomic_load_explicit(&svc->net, memory_order_acquire))
            svc->net_hooks->stop(svc); /* remote asks, sockets, I/O thread */
        tri_sched_stop(svc->sched);
        svc->shutdown_done = true;
    }
    pthread_mutex_unlock(&svc->shutdown_lock);
    return 0;
}

/* Before the scheduler frees every actor: take what endpoints still hold
 * out of the registry and release it, without touching actor references. */
static void release_endpoints(tr_service *svc)
{
    pthread_mutex_lock(&svc->endpoints_lock);
    for (tr_endpoint *ep = svc->endpoints; ep; ep = ep->all_next) {
        tri_registry_remove(svc->registry, ep);
        tri_metrics_free(ep); /* the readers' lock is held: none is reading */
        if (ep->stop_hook_ran) { /* else the hook does it, during destroy */
            tr_future_release(ep->termination);
            ep->termination = NULL;
        }
    }
    pthread_mutex_unlock(&svc->endpoints_lock);
}

void tr_service_destroy(tr_service *svc)
{
    if (!svc)
        return;
    tr_service_shutdown(svc);
    if (atomic_load_explicit(&svc->net, memory_order_acquire))
        svc->net_hooks->destroy(svc);
    /* release: pairs with tri_service_destroying's acquire. */
    atomic_store_explicit(&svc->destroying, 1, memory_order_release);
    tri_timers_run_deferred(svc->timers); /* they read endpoints: before these go */
    release_endpoints(svc);
    /* Dropped messages may complete futures whose deadline a continuation
     * was to unarm: the (closed) timer must still exist. */
    tri_sched_destroy(svc->sched);
    tri_timers_destroy(svc->timers);
    tri_registry_destroy(svc->registry);
    free_service(svc);
}

uint64_t tr_service_incarnation(const tr_service *svc) { return svc->incarnation; }

unsigned tr_service_workers(const tr_service *svc) { return tri_sched_workers(svc->sched); }

void tr_service_effective_config(const tr_service *svc, tr_service_config *out) { *out = svc->cfg; }

void tr_service_sched_stats(const tr_service *svc, tr_sched_stats *out)
{
    tri_sched_stats(svc->sched, out);
}

tr_service *tr_actor_service(tr_actor *a) { return tri_sched_owner(tri_actor_sched(a)); }

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
