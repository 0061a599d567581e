/* The future's layout and what the rest of engine/rpc/ does with it.
 *
 * A future lives in the payload of a tr_msg, so that it can travel to the
 * endpoint that registered its first continuation without another
 * allocation (kind TRI_RK_FUTURE). Its state is one word, `head`:
 *
 *   bits 3..63  the stack of continuations registered so far
 *   bit 2 DONE     outcome published (release); readers acquire it
 *   bit 1 CLAIMED  one completer won; it is writing the outcome
 *   bit 0 WAITERS  a thread sleeps on the word's low half (futex)
 *
 * Completion: CAS to set CLAIMED (exactly one winner), write the outcome,
 * exchange the word for DONE (which also takes the continuation stack and
 * says whether to wake sleepers). Registering a continuation pushes with a
 * CAS unless DONE is set, in which case it runs it at once.
 *
 * References: the creator's handle, the ask message until dispatched, the
 * armed timer (dropped by whoever unarms it), each pending continuation,
 * a kept reply. */
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
    _Atomic uint8_t inline_used;
    char *error;
    uint32_t error_size;
    /* deadline (svc NULL: none) and what a timeout message names (S15) */
    tr_service *svc;
    tri_timer timer;
    const char *gw_name, *method_name;
    int64_t timeout_ns;
    uint32_t target_len;
    char target[TRI_FUT_TARGET_MAX + 1];
    tri_cont inline_cont;      /* the first continuation needs no allocation */
    alignas(8) unsigned char inline_value[32];
};

static inline tr_msg *tri_future_msg(tr_future *f) { return (tr_msg *)f - 1; }
static inline tr_future *tri_reply_future(tr_reply *r) { return (tr_future *)r; }
static inline tr_reply *tri_future_reply(tr_future *f) { return (tr_reply *)f; }

/* A pending future with `refs` references, expecting `result_type` (NULL:
 * any). NULL when out of memory. Any thread. */
tr_future *tri_future_new(const tr_type *result_type, uint32_t refs);

/* Arms the deadline: now + timeout_ns on svc's timer. The armed timer holds
 * one of the references given to tri_future_new. `target` (len bytes) is
 * the recipient's id, for the timeout message. 0 or TR_ESTOPPED. */
int tri_future_arm(tr_future *f, tr_service *svc, int64_t timeout_ns, const char *gw_name,
                   const char *method_name, const char *target, size_t len);

/* Drops references without a public handle (e.g. several at once). */
void tri_future_unref(tr_future *f, uint32_t n);

int tri_future_failv(tr_future *f, int code, const char *fmt, va_list ap);
int tri_future_failf(tr_future *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Completes with the decoding of `len` bytes of type `t` (S22 path). */
int tri_future_complete_encoded(tr_future *f, const tr_type *t, const void *data, size_t len);

/* The behaviour of an endpoint got a continuation message (kind CONT or
 * FUTURE): run it with self, or (self NULL) for a dropped message. */
void tri_future_run_posted(tr_endpoint *self, tr_msg *m);


#endif
