/* The service's layout, shared by the files of engine/rpc/ (and remote/).
 * Core knows the service only as the opaque owner of its scheduler. */
#ifndef TRI_RPC_SERVICE_IMPL_H
#define TRI_RPC_SERVICE_IMPL_H

#include <stdatomic.h>

#include "core/sched.h"
#include "troupe/error.h"
#include "troupe/service.h"

struct tr_service {
    tr_service_config cfg;  /* defaults filled in; bind_address owned */
    tri_sched *sched;
    _Atomic uint32_t stopped; /* 1 after shutdown began (release/acquire) */
};

/* TR_ESTOPPED once shutdown began, else 0. Any thread. */
static inline int tri_service_check_running(const tr_service *svc)
{
    return atomic_load_explicit(&svc->stopped, memory_order_acquire) ? TR_ESTOPPED : 0;
}

#endif
