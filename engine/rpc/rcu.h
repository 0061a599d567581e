/* RCU for the endpoint registry (liburcu, memb flavour).
 *
 * Every thread that reads the registry must be a registered RCU reader, or
 * reclamation is silently unsafe (DEPS.md). Workers register in the
 * scheduler's thread_start hook; any other thread that looks an endpoint up
 * (tr_service_connect from a user thread, shutdown) registers on first use
 * and unregisters when it exits (a pthread key destructor). Debug builds
 * define DEBUG_RCU, so an unregistered reader asserts in rcu_read_lock.
 *
 * <urcu.h> must come before <urcu/rculfhash.h>: cds_lfht_new uses the
 * flavour it maps. Include this header instead of either. */
#ifndef TRI_RPC_RCU_H
#define TRI_RPC_RCU_H

#include <urcu.h>
#include <urcu/rculfhash.h>

/* Registers the calling thread as a reader if it is not one yet. */
void tri_rcu_ensure_registered(void);

/* For the scheduler's thread_start / thread_stop hooks (service.c). */
void tri_rcu_worker_start(void);
void tri_rcu_worker_stop(void);

#endif
