/* RCU reader registration for workers and user threads (see rcu.h). */
#include "rpc/rcu.h"

#include <pthread.h>
#include <stdbool.h>

#include "base/log.h"

/* Per thread, not per service: liburcu's reader registry is per thread. */
static _Thread_local bool registered;
static _Thread_local bool by_key; /* registered lazily: the key unregisters */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *unused)
{
    (void)unused;
    if (registered) {
        rcu_unregister_thread();
        registered = false;
    }
}

static void make_key(void)
{
    if (pthread_key_create(&exit_key, on_thread_exit))
        TRI_ERROR(NULL, "rcu", NULL, "pthread_key_create failed: user threads stay RCU-registered");
}

void tri_rcu_ensure_registered(void)
{
    if (registered)
        return;
    pthread_once(&exit_key_once, make_key);
    rcu_register_thread();
    registered = true;
    by_key = true;
    /* Any non-NULL value makes the destructor run at thread exit. */
    pthread_setspecific(exit_key, (void *)1);
}

void tri_rcu_worker_start(void)
{
    if (!registered) {
        rcu_register_thread();
        registered = true;
    }
}

void tri_rcu_worker_stop(void)
{
    if (registered && !by_key) {
        rcu_unregister_thread();
        registered = false;
    }
}
