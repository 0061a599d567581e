/* The future's layout and what the rest of engine/rpc/ does with it.
 *
 * A future lives in the payload of a tr_msg, and for a local ask it *is* the
 * ask message: the argument follows the struct, the caller sends the future
 * to the endpoint (kind TRI_RK_ASK), and once answered the same memory
 * travels back to the endpoint that registered the first continuation
 * (kind TRI_RK_FUTURE). One allocation per ask. `queued` says the message
 * still sits in the callee's mailbox (then it cannot travel yet, and a
 * completion there, by the deadline, uses a separate carrier).
 *
 * Its state is one word, `head`:
 *
 *   bits 3..63  the stack of continuations registered so far
 *   bit 2 DONE     outcome published (release); readers acquire it
 *   bit 1 CLAIMED  one completer won; it is writing the outcome
 *   bit 0 WAITERS  a thread sleeps on the word's low half (futex)
 *
 * Completion: a CAS setting CLAIMED (exactly one winner), unarm the
 * deadline, write the outcome, exchange the word for DONE (which also takes
 * the continuation stack and says whether to wake sleepers). A future that
 * travels back to its asker (first continuation bound to an endpoint) is
 * unarmed there instead, on the asker's own timer shard; a deadline firing
 * first finds it claimed and only drops its reference. Registering a continuation pushes with a
 * CAS unless DONE is set, in which case it runs it at once. A continuation
 * given with the ask itself (tr_gateway_ask_then) is installed before the
 * message leaves, with plain stores.
 *
 * References: the creator's handle (none for ask_then), the ask message
 * until dispatched, the armed timer (dropped by whoever unarms it), each
 * pending continuation, a kept reply. */
#ifndef TRI_RPC_FUTURE_IMPL_H
#define TRI_RPC_FUTURE_IMPL_H

#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timer_wheel.h"
#include "troupe/actor.h"
#include "troupe/future.h"
#include "troupe/service.h"

#define TRI_FUT_WAITERS ((uintptr_t)1)
#define TRI_FUT_CLAIMED ((uintptr_t)2)
#define TRI_FUT_DONE ((uintptr_t)4)
#define TRI_FUT_FLAGS ((uintptr_t)7)

#define TRI_FUT_TARGET_MAX 47 /* bytes of the recipient's id kept for messages */

typedef struct tri_cont {
    struct tri_cont *next;
    tr_future_cb *cb;
    void *arg;
    tr_endpoint *ep; /* the endpoint to run on (a reference), or NULL */
} tri_cont;

/* A continuation in its own message (TRI_RK_CONT): 40 bytes, a pool block. */
typedef struct tri_cont_msg {
    tri_cont c;
    tr_future *f;
} tri_cont_msg;

struct tr_future {
    /* zeroed by tri_future_new (everything before `timer`) */
    _Atomic uintptr_t head;
    _Atomic uint32_t refs;
    int32_t code;              /* outcome; written by the claimer */
    const tr_type *type;       /* the result type asked for (NULL: any) */
    const tr_type *vtype;      /* the type of `value` */
    void *value;               /* NULL: empty */
    uint32_t value_size;
    uint8_t value_heap;
    uint8_t kept;              /* tr_reply_keep (handler's thread) */
    uint8_t encode;            /* answers go through the codec (S22) */
    uint8_t owed;              /* timer references left to the dispatcher */
    uint8_t home_refs;         /* the ask message's reference travels home */
    uint8_t sole;              /* no handle exists (ask_then): nobody pushes
                                  or waits, completion publishes with a store */
    _Atomic uint8_t inline_used;
    _Atomic uint8_t queued;    /* in the callee's mailbox (see the top) */
    char *error;
    uint32_t error_size;
    uint32_t target_len;
    uint32_t extra_len;        /* payload bytes after the struct in use */
    /* the read buffer an inbound ask's large bytes point into (base/loan.h),
     * dropped when the future is freed; NULL: the argument is all in extra */
    struct tri_loan *loan;
    /* a transport's routing words (wire.h: tri_wire_set_route) */
    uint64_t wire_id;
    uint64_t wire_link;
    /* deadline (svc NULL: none) and what a timeout message names (S15) */
    tr_service *svc;
    const char *gw_name, *method_name;
    /* set when used */
    tri_timer timer;
    int64_t timeout_ns;
    char target[TRI_FUT_TARGET_MAX + 1];
    tri_cont inline_cont;      /* the first continuation needs no allocation */
    alignas(8) unsigned char inline_value[32];
};

static inline tr_msg *tri_future_msg(tr_future *f) { return (tr_msg *)f - 1; }
static inline tr_future *tri_reply_future(tr_reply *r) { return (tr_future *)r; }
static inline tr_reply *tri_future_reply(tr_future *f) { return (tr_reply *)f; }

/* A pending future with `refs` references, expecting `result_type` (NULL:
 * any), with `extra` payload bytes after the struct (an ask's fencing data
 * and argument, 8-aligned). NULL when out of memory. Any thread. */
tr_future *tri_future_new(const tr_type *result_type, uint32_t refs, size_t extra);

/* Around an ask handler (dispatch.c): a completion inside it leaves the
 * timer's reference to the dispatcher, and a future answered inside it
 * travels home only once it has returned. _end (after the handler, in
 * place of dropping the message's reference) returns how many references
 * the dispatcher drops, the message's included, or TRI_FUT_SENT_HOME: the
 * future went home with the message's reference, hands off. */
#define TRI_FUT_SENT_HOME UINT32_MAX
void tri_future_dispatch_begin(tr_future *f);
uint32_t tri_future_dispatch_end(tr_future *f);

/* Frees the calling thread's cache of future blocks (thread exit). */
void tri_future_cache_flush(void);

/* The bytes after the struct (extra_len of them). */
static inline uint8_t *tri_future_extra(tr_future *f) { return (uint8_t *)(f + 1); }

/* Installs `cb` as the first continuation of a future nobody else has seen
 * yet (plain stores), bound to `owner` (a reference is taken) or to no
 * endpoint. The continuation's future reference must be among the `refs`
 * the future was made with. */
void tri_future_preset_then(tr_future *f, tr_future_cb *cb, void *arg, tr_endpoint *owner);

/* Names the call a future answers, for every message about it (S15): the
 * gateway and method, the timeout, the recipient's id (len bytes). The one
 * labelling routine: local asks (tri_future_arm), remote asks both ways
 * (wire.c). */
void tri_future_label(tr_future *f, const char *gw_name, const char *method_name,
                      int64_t timeout_ns, const char *target, size_t len);

/* Arms the deadline: now + timeout_ns on svc's timer (armed after: at most
 * TRI_TIMER_SETTLE_NS late, never early). The armed timer holds
 * one of the references given to tri_future_new. `target` (len bytes) is
 * the recipient's id, for the timeout message. 0 or TR_ESTOPPED. */
int tri_future_arm(tr_future *f, tr_service *svc, int64_t timeout_ns, const char *gw_name,
                   const char *method_name, const char *target, size_t len);

/* tr_future_wait without the worker check: for shutdown, which may be
 * called from another service's worker (it blocks that worker, not this
 * service's). */
int tri_future_block(tr_future *f, int64_t timeout_ns);

/* Drops references without a public handle (e.g. several at once). */
void tri_future_unref(tr_future *f, uint32_t n);

int tri_future_failv(tr_future *f, int code, const char *fmt, va_list ap);
int tri_future_failf(tr_future *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Completes with the decoding of `len` bytes of type `t` (S22 path). */
int tri_future_complete_encoded(tr_future *f, const tr_type *t, const void *data, size_t len);

/* The behaviour of an endpoint got a continuation message (kind CONT or
 * FUTURE): run it with self, or (self NULL) for a dropped message; drops
 * the endpoint reference the message carried. */
void tri_future_run_posted(tr_endpoint *self, tr_msg *m);


#endif
