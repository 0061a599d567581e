/* Per-connection metrics for other threads (troupe/metrics.h): copied out
 * of the I/O thread's table under its list_lock (net.h). */
#include <pthread.h>
#include <string.h>

#include "base/clock.h"
#include "remote/net.h"
#include "troupe/metrics.h"

size_t tr_service_connections(tr_service *svc, tr_conn_metrics *out, size_t max)
{
    tri_net *net = svc ? tri_net_of(svc) : NULL;
    if (!net)
        return 0;
    size_t n = 0;
    int64_t now = tri_now_ns();
    pthread_mutex_lock(&net->list_lock);
    for (uint32_t i = 0; i < net->cap_conns; i++) {
        const tri_conn *c = net->conns[i].c;
        if (!c)
            continue;
        if (n < max) {
            tr_conn_metrics *m = &out[n];
            memset(m, 0, sizeof *m);
            m->id = c->id;
            memcpy(m->peer, c->name, sizeof m->peer); /* both 64, NUL within */
            m->peer[sizeof m->peer - 1] = 0;
            m->outbound = c->outbound;
            /* acquire: pairs with the handshake's release (reconnects). */
            m->open = atomic_load_explicit(&c->m_open, memory_order_acquire) != 0;
            m->reconnects = m->open ? c->reconnects : 0;
            /* relaxed: single-writer counters (conn.h). */
            m->bytes_sent = atomic_load_explicit(&c->m_bytes_out, memory_order_relaxed);
            m->bytes_received = atomic_load_explicit(&c->m_bytes_in, memory_order_relaxed);
            m->frames_sent = atomic_load_explicit(&c->m_frames_out, memory_order_relaxed);
            m->frames_received = atomic_load_explicit(&c->m_frames_in, memory_order_relaxed);
            m->oversized = atomic_load_explicit(&c->m_oversized, memory_order_relaxed);
            m->pings = atomic_load_explicit(&c->m_pongs, memory_order_relaxed);
            m->rtt_ns = atomic_load_explicit(&c->m_rtt_ns, memory_order_relaxed);
            m->rtt_max_ns = atomic_load_explicit(&c->m_rtt_max_ns, memory_order_relaxed);
            m->buffer_bytes = atomic_load_explicit(&c->m_buffers, memory_order_relaxed);
            m->age_ns = now > c->born_ns ? (uint64_t)(now - c->born_ns) : 0;
        }
        n++;
    }
    pthread_mutex_unlock(&net->list_lock);
    return n;
}
