/* Death watch inside rpc/: the watch record, a target's list of watches,
 * and what a transport (remote/) does with remote ones (through wire.h).
 *
 * A watch is one record with an atomic state, the only word two threads
 * race on:
 *
 *   ARMED --fire--> FIRED --deliver--> DONE
 *     |               |
 *     +---cancel------+--> CANCELLED
 *
 * Every transition is a CAS, so exactly one of fire / cancel wins ARMED,
 * and exactly one of deliver / cancel wins FIRED: that is the "exactly one
 * notification". The winner of fire writes code and message; the deliverer
 * reads them after a hand-off (a mailbox push or a future completion),
 * which orders them.
 *
 * A local target keeps its watches in a tri_watch_list: one mutex per
 * target, a doubly linked list and a terminal `closed` flag. Why a lock:
 * watches are registered and cancelled rarely compared with calls, a
 * cancel must unlink from the middle (a lock-free list with deletion needs
 * hazard handling we would use nowhere else), and the one racy moment,
 * register vs. close, becomes trivial: under the lock either the list is
 * open (link; the close will see it) or closed (notify at once with the
 * code the close stored). After close the closer owns the nodes: a cancel
 * that finds the list closed leaves them alone.
 *
 * An endpoint that watches keeps its watches in `watching` (its main
 * thread only), so that terminating drops them (endpoint.c's stop hook). */
#ifndef TRI_RPC_WATCH_H
#define TRI_RPC_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "troupe/watch.h"

enum tri_watch_state { TRI_W_ARMED, TRI_W_FIRED, TRI_W_DONE, TRI_W_CANCELLED };

typedef struct tri_watch_list {
    pthread_mutex_t lock;
    tr_watch *head;   /* under lock while !closed; then the closer's */
    bool closed;      /* under lock; terminal */
    int code;         /* what the close reported (under lock, set with closed) */
    char msg[256];    /* inline: the list lives in the endpoint, which the
                         destroy path frees wholesale (nothing to free) */
} tri_watch_list;

struct tr_watch {
    _Atomic uint32_t refs;  /* the source (list or transport), the watcher's
                               list, a delivery in flight, the handle */
    _Atomic uint32_t state; /* enum tri_watch_state */
    tr_service *svc;        /* the watching side's (counts live watches) */
    tr_gateway *gw;         /* a reference: keeps the target reachable */
    tri_watch_list *list;   /* local source: the target endpoint's list */
    tr_watch *next, *prev;  /* in list */
    /* endpoint watcher (NULL: a future watch) */
    tr_endpoint *watcher;   /* a reference */
    tr_watch *wnext, *wprev;
    bool in_wlist;          /* watcher's main thread */
    tr_watch_fn *fn;
    void *arg;
    tr_future *fut;         /* a future watch's (a reference) */
    /* a transport's watch of a local endpoint (wire.h), fired on any thread */
    void (*raw)(void *ctx, uint64_t id, int code, const char *msg);
    tr_endpoint *tep;       /* its target (a reference); gw is NULL then */
    /* the notification (fire's winner writes; the deliverer reads) */
    int code;
    char *msg;
    /* the transport's own words (remote watches) */
    uint64_t wire_id;
    void *wire_ctx;
};

void tri_watch_list_init(tri_watch_list *l);
/* Terminal: every watch on the list fires with code and msg (copied);
 * later adds fire at once. Idempotent (the first close wins). */
void tri_watch_list_close(tri_watch_list *l, int code, const char *msg);
void tri_watch_list_destroy(tri_watch_list *l);

/* The watcher `ep` terminated: its watches still armed are cancelled and
 * their fn called with self NULL; delivery in flight finds its own way.
 * The stop hook calls it, on ep's main thread or the destroying one. */
void tri_watch_drop_watcher(tr_endpoint *ep, bool destroying);

/* For transports (via wire.h): fire a remote watch (any thread; false when
 * it had been cancelled or fired already) and drop the transport's
 * reference. */
bool tri_watch_fire(tr_watch *w, int code, const char *msg);
void tri_watch_unref(tr_watch *w);

#endif
