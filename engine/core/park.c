/* Parking's blocking half (the protocol: core/park.h). */
#include "core/park.h"

#include <limits.h>

#include "base/futex.h"

void tri_park_wake_one(tri_parking *p)
{
    /* release: pairs with tri_park_wait's acquire CAS on permits. */
    atomic_fetch_add_explicit(&p->permits, 1, memory_order_release);
    tri_futex_wake(&p->permits, 1);
    atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
}

void tri_park_wait(tri_parking *p, _Atomic uint32_t *stopping)
{
    for (;;) {
        /* acquire: pairs with the release store of the stop flag. */
        if (atomic_load_explicit(stopping, memory_order_acquire))
            return;
        uint32_t n = atomic_load_explicit(&p->permits, memory_order_relaxed);
        /* acquire: pairs with wake_one's release. */
        if (n && atomic_compare_exchange_weak_explicit(&p->permits, &n, n - 1,
                                                       memory_order_acquire, memory_order_relaxed))
            return;
        if (!n)
            tri_futex_wait(&p->permits, 0, NULL);
    }
}

void tri_park_wake_all(tri_parking *p, unsigned n)
{
    /* release: pairs with tri_park_wait's acquire CAS (a woken worker then
     * reads the stop flag, set before this call). */
    atomic_fetch_add_explicit(&p->permits, n, memory_order_release);
    tri_futex_wake(&p->permits, INT_MAX);
}
