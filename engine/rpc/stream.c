/* Streams (troupe/stream.h): a built-in gateway whose calls carry a
 * stream's chunks, so that a stream gets every path a call has (local
 * mailbox, remote connection, credit, deadlines, ordering) and adds only
 * its window and its per-endpoint table.
 *
 * The four methods (PROTOCOL.md "Streams"):
 *   open   ASK  {id, origin, name}     the handler's OPEN
 *   chunk  ASK  {id, offset, data}     DATA; answered once handled
 *   end    ASK  {id, total}            END; the handler's outcome
 *   cancel TELL {id, why}              ERROR TR_ECANCELED
 * Chunks are asks so that the sender's window counts what the handler has
 * seen, not what a queue holds: memory stays bounded end to end. */
#include "troupe/stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/alloc.h"
#include "base/loan.h"
#include "base/clock.h"
#include "core/sched.h"
#include "rpc/endpoint_impl.h"
#include "rpc/wire.h"
#include "troupe/error.h"

#define TRS_OPEN_FIELDS(F) F(tr_u64, id) F(tr_u64, origin) F(tr_str, name)
#define TRS_CHUNK_FIELDS(F) F(tr_u64, id) F(tr_u64, offset) F(tr_bytes, data)
#define TRS_END_FIELDS(F) F(tr_u64, id) F(tr_u64, total)
#define TRS_CANCEL_FIELDS(F) F(tr_u64, id) F(tr_str, why)
TR_STRUCT(trs_open, TRS_OPEN_FIELDS)
TR_STRUCT(trs_chunk, TRS_CHUNK_FIELDS)
TR_STRUCT(trs_end, TRS_END_FIELDS)
TR_STRUCT(trs_cancel, TRS_CANCEL_FIELDS)
TR_STRUCT_DEFINE(trs_open, TRS_OPEN_FIELDS)
TR_STRUCT_DEFINE(trs_chunk, TRS_CHUNK_FIELDS)
TR_STRUCT_DEFINE(trs_end, TRS_END_FIELDS)
TR_STRUCT_DEFINE(trs_cancel, TRS_CANCEL_FIELDS)

enum { M_OPEN, M_CHUNK, M_END, M_CANCEL };

/* ---- the receiving side: one table per endpoint, its main thread only ---------------- */

typedef struct trs_entry {
    struct trs_entry *next;
    uint64_t id, origin, offset;
    int aborted;          /* 0, or the code the stream was aborted with */
    char *name;
} trs_entry;

struct tri_stream_table {
    trs_entry *head;
};

static trs_entry **find(tr_endpoint *ep, uint64_t id)
{
    if (!ep->streams)
        return NULL;
    for (trs_entry **pp = &ep->streams->head; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id)
            return pp;
    return NULL;
}

static void entry_free(trs_entry **pp)
{
    trs_entry *e = *pp;
    *pp = e->next;
    tri_free(e->name, strlen(e->name) + 1);
    tri_free(e, sizeof *e);
}

void tri_streams_free(tr_endpoint *ep)
{
    if (!ep->streams)
        return;
    while (ep->streams->head)
        entry_free(&ep->streams->head);
    tri_free(ep->streams, sizeof *ep->streams);
    ep->streams = NULL;
}

static int event(const tr_stream_receiver *r, tr_endpoint *ep, const trs_entry *e,
                 tr_stream_event ev)
{
    ev.stream = e->id;
    ev.name = e->name;
    if (ev.kind != TR_STREAM_DATA)
        ev.offset = e->offset;
    return r->on_event(ep, ep->state, &ev);
}

/* Ends e with an ERROR the handler sees (not one it caused itself). */
static void fail_entry(const tr_stream_receiver *r, tr_endpoint *ep, trs_entry *e, int code,
                       const char *msg)
{
    (void)event(r, ep, e, (tr_stream_event){.kind = TR_STREAM_ERROR, .code = code, .message = msg});
    e->aborted = code;
}

static int on_open(const void *h, tr_endpoint *ep, void *state, const void *arg, tr_reply *reply)
{
    (void)state;
    const tr_stream_receiver *r = h;
    const trs_open *a = arg;
    if (find(ep, a->id))
        return tr_reply_fail(reply, TR_EEXISTS, "stream %016" PRIx64 " is open already at %s",
                             a->id, ep->id);
    if (!ep->streams && !(ep->streams = tri_zalloc(sizeof *ep->streams)))
        return TR_ENOMEM;
    trs_entry *e = tri_zalloc(sizeof *e);
    char *name = tri_strdup(a->name ? a->name : "");
    if (!e || !name) {
        tri_free(e, sizeof *e);
        if (name)
            tri_free(name, strlen(name) + 1);
        return TR_ENOMEM;
    }
    *e = (trs_entry){.next = ep->streams->head, .id = a->id, .origin = a->origin, .name = name};
    ep->streams->head = e;
    int rv = event(r, ep, e, (tr_stream_event){.kind = TR_STREAM_OPEN});
    if (rv < 0) {
        entry_free(&ep->streams->head);
        return tr_reply_fail(reply, rv, "%s refused the stream: %s", ep->id, tr_strerror(rv));
    }
    return tr_reply_value(reply, &tr_void__type, NULL);
}

/* The entry a call names, or a failed reply saying why there is none. */
static trs_entry **live(tr_endpoint *ep, uint64_t id, tr_reply *reply, int *rv)
{
    trs_entry **pp = find(ep, id);
    if (!pp) {
        *rv = tr_reply_fail(reply, TR_EINVAL, "no stream %016" PRIx64 " is open at %s (it was "
                            "never opened, or it ended)", id, ep->id);
        return NULL;
    }
    if ((*pp)->aborted) {
        *rv = tr_reply_fail(reply, (*pp)->aborted, "stream %016" PRIx64 " to %s was aborted: %s",
                            id, ep->id, tr_strerror((*pp)->aborted));
        return NULL;
    }
    return pp;
}

static int on_chunk(const void *h, tr_endpoint *ep, void *state, const void *arg, tr_reply *reply)
{
    (void)state;
    const tr_stream_receiver *r = h;
    const trs_chunk *a = arg;
    int rv = 0;
    trs_entry **pp = live(ep, a->id, reply, &rv);
    if (!pp)
        return rv;
    trs_entry *e = *pp;
    char msg[160];
    if (a->offset != e->offset) {
        snprintf(msg, sizeof msg, "a chunk at offset %" PRIu64 " where %" PRIu64 " was due (one was lost)",
                 a->offset, e->offset);
        fail_entry(r, ep, e, TR_EPROTO, msg);
        return tr_reply_fail(reply, TR_EPROTO, "stream to %s: %s", ep->id, msg);
    }
    if (r->max_bytes && e->offset + a->data.len > r->max_bytes) {
        snprintf(msg, sizeof msg, "the stream would exceed max_bytes %" PRIu64 " of %s",
                 r->max_bytes, ep->id);
        fail_entry(r, ep, e, TR_EFULL, msg);
        return tr_reply_fail(reply, TR_EFULL, "%s", msg);
    }
    rv = event(r, ep, e, (tr_stream_event){.kind = TR_STREAM_DATA, .data = a->data.data,
                                           .len = a->data.len, .offset = e->offset});
    e->offset += a->data.len;
    if (rv < 0) {
        e->aborted = rv;
        return tr_reply_fail(reply, rv, "%s aborted the stream: %s", ep->id, tr_strerror(rv));
    }
    return tr_reply_value(reply, &tr_void__type, NULL);
}

static int on_end(const void *h, tr_endpoint *ep, void *state, const void *arg, tr_reply *reply)
{
    (void)state;
    const tr_stream_receiver *r = h;
    const trs_end *a = arg;
    int rv = 0;
    trs_entry **pp = live(ep, a->id, reply, &rv);
    if (!pp) {
        if ((pp = find(ep, a->id)))
            entry_free(pp); /* an aborted one: END was its last word */
        return rv;
    }
    trs_entry *e = *pp;
    if (a->total != e->offset) {
        char msg[160];
        snprintf(msg, sizeof msg, "the sender wrote %" PRIu64 " bytes, %" PRIu64 " arrived", a->total,
                 e->offset);
        fail_entry(r, ep, e, TR_EPROTO, msg);
        entry_free(pp);
        return tr_reply_fail(reply, TR_EPROTO, "stream to %s: %s", ep->id, msg);
    }
    rv = event(r, ep, e, (tr_stream_event){.kind = TR_STREAM_END});
    entry_free(pp);
    if (rv < 0)
        return tr_reply_fail(reply, rv, "%s ended the stream with %s", ep->id, tr_errname(rv));
    return tr_reply_value(reply, &tr_void__type, NULL);
}

static int on_cancel(const void *h, tr_endpoint *ep, void *state, const void *arg, tr_reply *reply)
{
    (void)state;
    (void)reply;
    const trs_cancel *a = arg;
    trs_entry **pp = find(ep, a->id);
    if (!pp)
        return 0; /* never opened here, or over already */
    if (!(*pp)->aborted)
        fail_entry(h, ep, *pp, TR_ECANCELED, a->why ? a->why : "the sender cancelled the stream");
    entry_free(pp);
    return 0;
}

static const tr_method_desc methods[] = {
    {"open", TR_ASK, &trs_open__type, &tr_void__type, on_open},
    {"chunk", TR_ASK, &trs_chunk__type, &tr_void__type, on_chunk},
    {"end", TR_ASK, &trs_end__type, &tr_void__type, on_end},
    {"cancel", TR_TELL, &trs_cancel__type, &tr_void__type, on_cancel},
};
const tr_gateway_desc tr_stream_gateway = {"troupe.stream", 4, methods};

/* The transport lost the connection streams from `origin` came on. */
typedef struct lost_arg {
    uint64_t origin;
    char why[320];
} lost_arg;

static int peer_lost(tr_endpoint *ep, void *state, void *arg)
{
    (void)state;
    const lost_arg *a = arg;
    if (!ep) /* the endpoint went first: its table went with it */
        return 0;
    const tr_stream_receiver *r = NULL;
    for (uint32_t i = 0; i < ep->nimpls; i++)
        if (ep->impls[i].desc == &tr_stream_gateway)
            r = ep->impls[i].handlers;
    if (!r || !ep->streams)
        return 0;
    for (trs_entry **pp = &ep->streams->head; *pp;) {
        if ((*pp)->origin == a->origin) {
            if (!(*pp)->aborted)
                fail_entry(r, ep, *pp, TR_EUNREACHABLE, a->why);
            entry_free(pp);
        } else {
            pp = &(*pp)->next;
        }
    }
    return 0;
}

void tri_wire_stream_peer_lost(tr_endpoint *ep, uint64_t origin, const char *why)
{
    lost_arg a = {.origin = origin};
    snprintf(a.why, sizeof a.why, "%s", why);
    (void)tr_endpoint_run_async_unfenced(ep, peer_lost, &a, sizeof a); /* internal: never refused */
}

/* ---- the sending side ----------------------------------------------------------------- */

struct tr_stream {
    tr_gateway *gw;
    uint64_t id, offset;
    int64_t timeout_ns;
    size_t chunk;
    int code;                       /* the first failure; 0: none */
    char *why;
    tr_future *win[TR_STREAM_WINDOW]; /* calls not yet answered, oldest at head */
    unsigned head, n;
};

static void set_failure(tr_stream *s, int code, const char *why)
{
    if (s->code)
        return;
    s->code = code;
    s->why = tri_strdup(why ? why : tr_strerror(code));
}

/* Retires answered calls from the head; with `block`, waits for the
 * oldest first (outside the workers only). */
static int retire(tr_stream *s, bool block)
{
    while (s->n) {
        tr_future *f = s->win[s->head];
        if (!tr_future_done(f)) {
            if (!block)
                return 0;
            int rv = tr_future_wait(f, s->timeout_ns);
            if (rv == TR_ETIMEDOUT)
                return TR_EAGAIN;
            if (rv)
                return rv;
            block = false;
        }
        if (tr_future_code(f))
            set_failure(s, tr_future_code(f), tr_future_error(f));
        tr_future_release(f);
        s->head = (s->head + 1) % TR_STREAM_WINDOW;
        s->n--;
    }
    return 0;
}

/* loan: a zero-copy write's (the chunk's bytes are read where they are). */
static int push_lent(tr_stream *s, unsigned method, const void *arg, tri_loan *loan)
{
    tr_future *f = NULL;
    int rv = loan ? tri_gateway_ask_lent(s->gw, &tr_stream_gateway, method, arg, s->timeout_ns,
                                         loan, 1, &f)
                  : tr_gateway_ask(s->gw, &tr_stream_gateway, method, arg, s->timeout_ns, &f);
    if (rv)
        return rv;
    s->win[(s->head + s->n) % TR_STREAM_WINDOW] = f;
    s->n++;
    return 0;
}

static int push(tr_stream *s, unsigned method, const void *arg)
{
    return push_lent(s, method, arg, NULL);
}

static void stream_free(tr_stream *s)
{
    while (s->n) {
        tr_future_release(s->win[s->head]);
        s->head = (s->head + 1) % TR_STREAM_WINDOW;
        s->n--;
    }
    if (s->why)
        tri_free(s->why, strlen(s->why) + 1);
    tr_gateway_release(s->gw);
    tri_free(s, sizeof *s);
}

int tr_stream_open(tr_gateway *gw, const char *name, int64_t timeout_ns, tr_stream **out)
{
    if (!gw || !out || timeout_ns < 0 || tr_gateway_descriptor(gw) != &tr_stream_gateway)
        return TR_EINVAL;
    tr_stream *s = tri_zalloc(sizeof *s);
    if (!s)
        return TR_ENOMEM;
    tr_service *svc = tri_wire_gateway_service(gw);
    const tr_service_config *cfg = tri_wire_config(svc);
    s->timeout_ns = timeout_ns ? timeout_ns : cfg->ask_timeout_ns;
    /* A chunk and its call's bytes within the frame limit. */
    s->chunk = cfg->max_frame_size > 2 * 1024 ? cfg->max_frame_size - 1024 : 1024;
    if (s->chunk > TR_STREAM_CHUNK)
        s->chunk = TR_STREAM_CHUNK;
    /* Ids only need to differ among a receiver's open streams. */
    if (getrandom(&s->id, sizeof s->id, 0) != (ssize_t)sizeof s->id)
        s->id = (uint64_t)(uintptr_t)s ^ (uint64_t)tri_now_ns();
    tr_gateway_retain(gw);
    s->gw = gw;
    trs_open a = {.id = s->id, .origin = tr_service_incarnation(svc), .name = name ? name : ""};
    int rv = push(s, M_OPEN, &a);
    if (rv) {
        stream_free(s);
        return rv;
    }
    *out = s;
    return 0;
}

static int write_chunks(tr_stream *s, const void *data, size_t len, tri_loan *loan)
{
    bool worker = tri_worker_current() != NULL;
    (void)retire(s, false);
    if (s->code)
        return s->code;
    if (!len)
        return 0;
    size_t chunks = (len + s->chunk - 1) / s->chunk;
    if (worker) {
        if (chunks > TR_STREAM_WINDOW)
            return TR_EINVAL;
        if (TR_STREAM_WINDOW - s->n < chunks)
            return TR_EAGAIN;
    }
    const uint8_t *p = data;
    for (size_t done = 0; done < len;) {
        if (s->n == TR_STREAM_WINDOW) {
            int rv = retire(s, true);
            if (rv)
                return rv;
            if (s->code)
                return s->code;
        }
        size_t n = len - done < s->chunk ? len - done : s->chunk;
        trs_chunk a = {.id = s->id, .offset = s->offset, .data = {p + done, (uint32_t)n}};
        int rv = push_lent(s, M_CHUNK, &a, loan);
        if (rv) {
            if (rv != TR_EAGAIN)
                set_failure(s, rv, NULL);
            return rv;
        }
        s->offset += n;
        done += n;
    }
    return 0;
}

int tr_stream_write(tr_stream *s, const void *data, size_t len)
{
    if (!s || (!data && len))
        return TR_EINVAL;
    return write_chunks(s, data, len, NULL);
}

int tr_stream_write_zc(tr_stream *s, const void *data, size_t len, void (*done)(void *ctx),
                       void *ctx)
{
    if (!s || (!data && len) || !done)
        return TR_EINVAL;
    tri_loan *loan = tri_loan_lend(done, ctx);
    if (!loan) {
        done(ctx);
        return TR_ENOMEM;
    }
    int rv = write_chunks(s, data, len, loan);
    tri_loan_drop(loan); /* ours: the chunks' futures hold theirs */
    return rv;
}

uint64_t tr_stream_offset(const tr_stream *s) { return s ? s->offset : 0; }

int tr_stream_error(const tr_stream *s, const char **why)
{
    if (!s)
        return TR_EINVAL;
    if (why)
        *why = s->code ? s->why : "";
    return s->code;
}

int tr_stream_close(tr_stream *s, tr_future **out)
{
    if (!s || !out) {
        if (s)
            tr_stream_cancel(s, "closed without a place for its outcome");
        return TR_EINVAL;
    }
    (void)retire(s, false);
    int rv;
    if (s->code) { /* broken: the outcome is its failure */
        rv = tr_future_new(out);
        if (!rv)
            tr_future_fail(*out, s->code, "%s", s->why);
        trs_cancel c = {.id = s->id, .why = s->why};
        (void)tr_gateway_tell(s->gw, &tr_stream_gateway, M_CANCEL, &c);
    } else {
        /* END comes after every chunk, on the same path: its answer
         * means the handler has seen them all. */
        trs_end a = {.id = s->id, .total = s->offset};
        rv = tr_gateway_ask(s->gw, &tr_stream_gateway, M_END, &a, s->timeout_ns, out);
    }
    stream_free(s);
    return rv;
}

void tr_stream_cancel(tr_stream *s, const char *why)
{
    if (!s)
        return;
    trs_cancel c = {.id = s->id, .why = why ? why : "the sender cancelled the stream"};
    (void)tr_gateway_tell(s->gw, &tr_stream_gateway, M_CANCEL, &c);
    stream_free(s);
}
