/* Streams locally (troupe/stream.h): every byte in order, plain and with
 * forced serialization; the handler's END outcome and an abort; a writer on
 * a worker that never blocks (TR_EAGAIN, TR_EINVAL); a write after the
 * receiver terminated. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tnode.h"
#include "rpc_common.h"
#include "troupe/stream.h"

typedef struct rx_state {
    unsigned opens, chunks, ends, errors;
    uint64_t bytes, next_offset, bad_offsets;
    tnode_digest digest;
    int end_outcome;     /* what END returns */
    uint64_t abort_after; /* DATA past this many bytes returns TR_EAPP(7) */
} rx_state;

static int rx_event(tr_endpoint *self, void *state, const tr_stream_event *ev)
{
    cr_assert(tr_endpoint_in_main_thread(self));
    rx_state *s = state;
    switch (ev->kind) {
    case TR_STREAM_OPEN:
        s->opens++;
        return 0;
    case TR_STREAM_DATA:
        s->chunks++;
        if (ev->offset != s->next_offset)
            s->bad_offsets++;
        s->next_offset = ev->offset + ev->len;
        s->bytes += ev->len;
        tnode_digest_add(&s->digest, ev->data, ev->len);
        return s->abort_after && s->bytes > s->abort_after ? TR_EAPP(7) : 0;
    case TR_STREAM_END:
        s->ends++;
        return s->end_outcome;
    case TR_STREAM_ERROR:
        s->errors++;
        return 0;
    }
    return 0;
}

static const tr_stream_receiver rx_recv = {.on_event = rx_event};

static tr_endpoint *rx_endpoint(tr_service *svc, const char *id)
{
    tr_gateway_impl impls[] = {tr_stream_impl(&rx_recv)};
    tr_endpoint *ep;
    cr_assert_eq(tr_endpoint_create(svc, &(tr_endpoint_opts){.id = id, .gateways = impls,
                                                             .ngateways = 1,
                                                             .state_size = sizeof(rx_state)},
                                    &ep), 0);
    cr_assert_eq(tr_endpoint_start(ep), 0);
    return ep;
}

static tr_gateway *rx_connect(tr_service *svc, const char *id)
{
    tr_gateway *gw;
    cr_assert_eq(tr_service_connect(svc, id, &tr_stream_gateway, &gw), 0);
    return gw;
}

static int finish(tr_stream *s)
{
    tr_future *f;
    int rv = tr_stream_close(s, &f);
    if (rv)
        return rv;
    rv = tr_future_get(f, WAIT_NS);
    tr_future_release(f);
    return rv;
}

static void every_byte(bool force)
{
    tr_service *svc = t_service(2, force);
    tr_endpoint *ep = rx_endpoint(svc, "rx");
    tr_gateway *gw = rx_connect(svc, "rx");
    size_t len = 5 * TR_STREAM_CHUNK + 1234;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 11));
    tr_stream *s;
    cr_assert_eq(tr_stream_open(gw, "local", 0, &s), 0);
    for (size_t at = 0; at < len;) { /* pieces of 100,001 bytes */
        size_t n = len - at < 100001 ? len - at : 100001;
        cr_assert_eq(tr_stream_write(s, data + at, n), 0);
        at += n;
    }
    cr_assert_eq(finish(s), 0);
    rx_state *st = tr_endpoint_state(ep);
    cr_assert_eq(st->opens, 1);
    cr_assert_eq(st->ends, 1);
    cr_assert_eq(st->errors, 0);
    cr_assert_eq(st->bytes, len);
    cr_assert_eq(st->bad_offsets, 0);
    tnode_digest d = {0};
    tnode_digest_add(&d, data, len);
    cr_assert_eq(tnode_digest_end(&st->digest), tnode_digest_end(&d));
    free(data);
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

Test(stream, every_byte_in_order, .timeout = 60) { every_byte(false); }
Test(stream, every_byte_in_order_serialized, .timeout = 60) { every_byte(true); }

/* END's outcome is the close's; a handler abort fails the writer. */
Test(stream, handler_outcomes, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = rx_endpoint(svc, "rx");
    tr_gateway *gw = rx_connect(svc, "rx");
    rx_state *st = tr_endpoint_state(ep);
    st->end_outcome = TR_EAPP(3); /* set before any event: the endpoint is idle */
    uint8_t buf[3000] = {1, 2, 3};
    tr_stream *s;
    cr_assert_eq(tr_stream_open(gw, NULL, 0, &s), 0);
    cr_assert_eq(tr_stream_write(s, buf, sizeof buf), 0);
    cr_assert_eq(finish(s), TR_EAPP(3));
    /* an abort after 5,000 bytes: the writer sees TR_EAPP(7) */
    cr_assert_eq(tr_stream_open(gw, NULL, 0, &s), 0);
    int rv = 0;
    for (int i = 0; i < 50 && !rv; i++) {
        st->abort_after = 5000; /* benign race: written once, read on the main thread */
        rv = tr_stream_write(s, buf, sizeof buf);
    }
    if (!rv)
        rv = finish(s);
    else
        tr_stream_cancel(s, NULL);
    cr_assert_eq(rv, TR_EAPP(7), "got %s", tr_errname(rv));
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* A writer on a worker never blocks: more than the window at once is
 * TR_EINVAL, a full window TR_EAGAIN with nothing written. */
typedef struct writer_out {
    _Atomic int done;
    int too_big, fits, then;
    uint64_t offset_after;
} writer_out;

static writer_out g_out;

static int write_on_worker(tr_endpoint *self, void *state, void *arg)
{
    (void)state;
    tr_gateway *gw = *(tr_gateway **)arg;
    if (!self) {
        atomic_store(&g_out.done, -1);
        return 0;
    }
    static uint8_t big[(TR_STREAM_WINDOW + 1) * TR_STREAM_CHUNK];
    tr_stream *s;
    if (tr_stream_open(gw, NULL, 0, &s)) {
        atomic_store(&g_out.done, -1);
        return 0;
    }
    g_out.too_big = tr_stream_write(s, big, sizeof big);
    /* the open is in the window: WINDOW - 1 chunks fit, one more does not */
    g_out.fits = tr_stream_write(s, big, (TR_STREAM_WINDOW - 1) * TR_STREAM_CHUNK);
    g_out.then = tr_stream_write(s, big, TR_STREAM_CHUNK);
    g_out.offset_after = tr_stream_offset(s);
    tr_stream_cancel(s, NULL);
    atomic_store(&g_out.done, 1);
    return 0;
}

Test(stream, a_worker_never_blocks, .timeout = 60)
{
    tr_service *svc = t_service(1, false);
    tr_endpoint *rxep = rx_endpoint(svc, "rx");
    tr_endpoint *w = t_endpoint(svc, "writer", true);
    tr_gateway *gw = rx_connect(svc, "rx");
    /* one worker: the receiver cannot run while the writer's turn lasts */
    cr_assert_eq(tr_endpoint_run_async(w, write_on_worker, &gw, sizeof gw), 0);
    for (int i = 0; i < 20000 && !atomic_load(&g_out.done); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    cr_assert_eq(atomic_load(&g_out.done), 1);
    cr_assert_eq(g_out.too_big, TR_EINVAL);
    cr_assert_eq(g_out.fits, 0);
    cr_assert_eq(g_out.then, TR_EAGAIN);
    cr_assert_eq(g_out.offset_after, (TR_STREAM_WINDOW - 1) * (uint64_t)TR_STREAM_CHUNK);
    tr_gateway_release(gw);
    tr_endpoint_release(w);
    tr_endpoint_release(rxep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}

/* The receiver terminated: the writer's next write or close fails. */
Test(stream, receiver_gone, .timeout = 60)
{
    tr_service *svc = t_service(2, false);
    tr_endpoint *ep = rx_endpoint(svc, "rx");
    tr_gateway *gw = rx_connect(svc, "rx");
    uint8_t buf[100] = {0};
    tr_stream *s;
    cr_assert_eq(tr_stream_open(gw, NULL, 0, &s), 0);
    cr_assert_eq(tr_stream_write(s, buf, sizeof buf), 0);
    t_terminate(ep);
    int rv = tr_stream_write(s, buf, sizeof buf);
    if (!rv)
        rv = finish(s);
    else
        tr_stream_cancel(s, NULL);
    cr_assert(rv == TR_EUNREACHABLE || rv == TR_ESTOPPED, "got %s", tr_errname(rv));
    tr_gateway_release(gw);
    tr_endpoint_release(ep);
    tr_service_destroy(svc);
    T_LEAK_CHECK();
}
