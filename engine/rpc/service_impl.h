/* The service's layout, shared by the files of engine/rpc/.
 * Core knows the service only as the opaque owner of its scheduler;
 * remote/ reaches it only through rpc/wire.h.
 *
 * Everything a service uses is reached from this struct; two services in
 * one process share no mutable state (the only process-wide things are
 * liburcu's reader registry). */
#ifndef TRI_RPC_SERVICE_IMPL_H
#define TRI_RPC_SERVICE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "base/log.h"
#include "core/sched.h"
#include "troupe/error.h"
#include "troupe/service.h"
#include "rpc/wire.h"

struct tri_timers;
struct tri_registry;
struct tri_net;

#define TRI_LOCAL_ADDRESS_PREFIX TRI_WIRE_LOCAL_SCHEME
#define TRI_ADDRESS_PREFIX_MAX 96 /* "troupe://[v6 host]:port/" fits */


struct tr_service {
    tr_service_config cfg;  /* defaults filled in; bind_address owned */
    tri_logger log;         /* this service's level and sink; set first, then read-only */
    tri_sched *sched;
    struct tri_timers *timers;
    struct tri_registry *registry;
    _Atomic uint64_t next_id;     /* for generated endpoint ids (relaxed) */
    _Atomic uint64_t live_watches; /* watch records (relaxed: a statistic) */
    uint64_t incarnation;          /* random at create (remote HELLO) */
    /* Shutdown (S7), in this order; each flag release-stored once and read
     * with acquire:
     *   closing     no new endpoints or connects
     *   stopped     every call fails with TR_ESTOPPED
     *   destroying  tr_service_destroy is freeing actors wholesale: refs
     *               are no longer released one by one */
    _Atomic uint32_t closing;
    _Atomic uint32_t stopped;
    _Atomic uint32_t destroying;
    pthread_mutex_t shutdown_lock; /* one shutdown at a time */
    bool shutdown_done;            /* under shutdown_lock */
    /* Every endpoint not yet freed, so destroy can release what they hold
     * even when users still hold handles. Create and free are rare. */
    pthread_mutex_t endpoints_lock;
    struct tr_endpoint *endpoints; /* linked by all_next / all_prev */
    /* The network layer, started at create (cfg.listen) or by the first
     * remote connect, under net_lock; read with acquire (release-stored
     * once). Its hooks are set with it. */
    pthread_mutex_t net_lock;
    struct tri_net *_Atomic net;
    const tri_net_hooks *net_hooks;
    /* Endpoint addresses start with this (S30): "local://", or
     * "troupe://host:port/" once listening; set before any endpoint
     * exists and never changed after. */
    char addr_prefix[TRI_ADDRESS_PREFIX_MAX];
};

/* TR_ESTOPPED once shutdown began stopping calls, else 0. Any thread. */
static inline int tri_service_check_running(const tr_service *svc)
{
    return atomic_load_explicit(&svc->stopped, memory_order_acquire) ? TR_ESTOPPED : 0;
}

/* TR_ESTOPPED once shutdown began, for things that create (endpoints,
 * connects). */
static inline int tri_service_check_open(const tr_service *svc)
{
    return atomic_load_explicit(&svc->closing, memory_order_acquire) ? TR_ESTOPPED : 0;
}

static inline bool tri_service_destroying(const tr_service *svc)
{
    return atomic_load_explicit(&svc->destroying, memory_order_acquire) != 0;
}

/* Writes an endpoint's address (addr_prefix then the id) into buf. */
void tri_service_address(const tr_service *svc, const char *id, char *buf, size_t len);

/* Creates a service without its network layer (remote/node.c's
 * tr_service_create adds it). Errors as tr_service_create. */
/* Creates the service without its network layer; on error `why` says what
 * failed (a sentence, for tr_service_create_error). */
int tri_service_create(const tr_service_config *cfg, tr_service **out, char *why, size_t why_len);

#endif
