/* Connections: buffers, the read loop, writing (conn.h). */
#include "remote/conn.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/loan.h"
#include "base/log.h"
#include "remote/client.h"
#include "remote/net.h"
#include "remote/server.h"
#include "remote/tls.h"
#include "rpc/wire.h"
#include "troupe/error.h"

/* One read() fills at most this much: ~1,400 small frames per system call
 * under load, while an idle connection keeps nothing larger. */
#define RBUF_DEFAULT (128u * 1024)
/* A frame above the default gets a buffer of RBUF_KEEP when it fits half
 * of it, kept while such frames come: a stream's 256 KiB chunks then come
 * several per read(2), parsed in place, with no realloc per chunk (each
 * cost a 128 KiB copy; remote_stream 54% -> 66% of raw TCP). Larger
 * frames get their own size, given back once drained. */
#define RBUF_KEEP (1024u * 1024)
/* ...until no large frame has come for this long: then an idle
 * connection gives it back (tri_conn_trim). */
#define RBUF_IDLE_NS (1000LL * 1000 * 1000)
/* The write buffer starts at this and is given back above WBUF_KEEP once
 * drained (after a large frame); below it, it stays for the next burst. */
#define WBUF_FIRST (64u * 1024)
#define WBUF_KEEP (8u << 20)
/* iovecs per sendmsg(2) when payloads are spliced */
#define SPLICE_IOV 64

typedef struct tri_splice {
    size_t at;            /* wbuf offset the bytes follow */
    const uint8_t *data;
    size_t len;
    void *owner;          /* holds the bytes: released once written */
    tri_splice_release_fn *release;
} tri_splice;

/* For tr_service_connections (relaxed: a single writer, an estimate). */
static void note_buffers(tri_conn *c)
{
    atomic_store_explicit(&c->m_buffers, (uint64_t)(c->rcap + c->wcap), memory_order_relaxed);
}

/* Reads go into l (the connection's reference). */
static void set_rbuf(tri_conn *c, tri_loan *l)
{
    c->rloan = l;
    c->rbuf = tri_loan_data(l);
    c->rcap = l->size;
    note_buffers(c);
}

/* A fresh read buffer of `cap` bytes holding the unparsed ones; the old one
 * is dropped (borrowers keep it while they need it). 0 or TR_ENOMEM. */
static int rbuf_replace(tri_conn *c, size_t cap)
{
    size_t keep = c->rlen - c->rpos;
    tri_loan *l = tri_loan_new(cap);
    if (!l)
        return TR_ENOMEM;
    memcpy(tri_loan_data(l), c->rbuf + c->rpos, keep);
    tri_loan_drop(c->rloan);
    set_rbuf(c, l);
    c->rpos = 0;
    c->rlen = keep;
    return 0;
}

/* The buffer, lent to nobody, at `cap` bytes. 0 or TR_ENOMEM. */
static int rbuf_resize(tri_conn *c, size_t cap)
{
    tri_loan *l = tri_loan_resize(c->rloan, cap);
    if (!l)
        return TR_ENOMEM;
    set_rbuf(c, l);
    return 0;
}

tri_conn *tri_conn_new(int fd, bool outbound, const char *name)
{
    tri_conn *c = tri_zalloc(sizeof *c);
    if (!c)
        return NULL;
    tri_loan *l = tri_loan_new(RBUF_DEFAULT);
    if (!l) {
        tri_free(c, sizeof *c);
        return NULL;
    }
    set_rbuf(c, l);
    c->fd = fd;
    c->outbound = outbound;
    c->state = outbound ? TRI_CONN_CONNECTING : TRI_CONN_HELLO;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->last_rx_ns = c->born_ns = tri_now_ns();
    return c;
}

void tri_conn_free(tri_conn *c)
{
    for (uint32_t i = 0; i < c->nslots; i++) {
        tri_slot_release(&c->slots[i]);
        tri_free(c->slots[i].id, strlen(c->slots[i].id) + 1);
    }
    tri_free(c->slots, (size_t)c->cap_slots * sizeof *c->slots);
    tri_wire_inbox_free(c->inbox);
    tri_loan_drop(c->rloan);
    tri_free(c->wbuf, c->wcap);
    for (uint32_t i = c->splice_head; i < c->nsplices; i++)
        if (c->splices[i].release)
            c->splices[i].release(c->splices[i].owner);
    tri_free(c->splices, (size_t)c->cap_splices * sizeof *c->splices);
    tri_tls_free(c->tls);
    if (c->fd >= 0)
        close(c->fd);
    tri_free(c, sizeof *c);
}

void tri_slot_release(tri_slot *s)
{
    if (s->ep)
        tri_wire_endpoint_release(s->ep);
    s->ep = NULL;
}

enum tri_frame_outcome tri_close_with(tri_close_info *ci, int code, bool malformed,
                                      const char *fmt, ...)
{
    ci->code = code;
    ci->malformed = malformed;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ci->why, sizeof ci->why, fmt, ap);
    va_end(ap);
    return TRI_FRAME_CLOSE;
}

/* ---- writing ------------------------------------------------------------------------- */

uint8_t *tri_conn_reserve(tri_conn *c, size_t n)
{
    if (c->wcap - c->wlen >= n)
        return c->wbuf + c->wlen;
    if (c->woff && c->woff >= c->wcap / 2) {
        /* Slide the unwritten rest to the front; at least half the buffer
         * was written since, so each byte moves O(1) times on average. */
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        for (uint32_t i = c->splice_head; i < c->nsplices; i++)
            c->splices[i].at -= c->woff; /* none is before woff: unwritten */
        c->wlen -= c->woff;
        c->woff = 0;
        if (c->wcap - c->wlen >= n)
            return c->wbuf + c->wlen;
    }
    size_t cap = c->wcap ? c->wcap : WBUF_FIRST;
    while (cap - c->wlen < n)
        cap *= 2;
    uint8_t *p = tri_realloc(c->wbuf, c->wcap, cap);
    if (!p)
        return NULL;
    c->wbuf = p;
    c->wcap = cap;
    note_buffers(c);
    return c->wbuf + c->wlen;
}

void tri_conn_commit(tri_net *net, tri_conn *c, size_t n) { tri_conn_commit_gathered(net, c, n, n); }

uint8_t *tri_conn_splice(tri_conn *c, uint8_t *at, const uint8_t *data, size_t len)
{
    if (c->splice_head && c->splice_head == c->nsplices)
        c->splice_head = c->nsplices = 0;
    if (c->nsplices == c->cap_splices) {
        uint32_t cap = c->cap_splices ? 2 * c->cap_splices : 16;
        tri_splice *n = tri_realloc(c->splices, (size_t)c->cap_splices * sizeof *n,
                                    (size_t)cap * sizeof *n);
        if (!n) { /* the room was reserved whole: copy instead */
            memcpy(at, data, len);
            return at + len;
        }
        c->splices = n;
        c->cap_splices = cap;
    }
    c->splices[c->nsplices++] = (tri_splice){(size_t)(at - c->wbuf), data, len, NULL, NULL};
    c->splice_bytes += len;
    return at;
}

uint8_t *tri_conn_splicer(void *ctx, uint8_t *at, const uint8_t *data, size_t len)
{
    tri_splicer *sp = ctx;
    uint8_t *next = tri_conn_splice(sp->conn, at, data, len);
    sp->recorded += next == at;
    return next;
}

void tri_conn_splice_owner(tri_conn *c, void *owner, tri_splice_release_fn *release)
{
    c->splices[c->nsplices - 1].owner = owner;
    c->splices[c->nsplices - 1].release = release;
}

void tri_conn_commit_gathered(tri_net *net, tri_conn *c, size_t in_buf, size_t frame)
{
    c->wlen += in_buf;
    net->unsent += frame;
    tri_net_add(&net->ctr.frames_sent, 1);
    tri_net_add(&c->m_frames_out, 1);
    tri_net_max(&net->ctr.largest_sent, frame);
    tri_net_mark_dirty(net, c);
}

size_t tri_conn_unsent(const tri_conn *c) { return c->wlen - c->woff + c->splice_bytes; }

/* The iovecs from woff on: buffer runs and spliced payloads in order. */
static int gather_iov(const tri_conn *c, struct iovec *iov)
{
    int n = 0;
    size_t pos = c->woff, done = c->splice_done;
    for (uint32_t i = c->splice_head; i < c->nsplices && n < SPLICE_IOV - 1; i++) {
        const tri_splice *s = &c->splices[i];
        if (s->at > pos)
            iov[n++] = (struct iovec){c->wbuf + pos, s->at - pos};
        pos = s->at;
        iov[n++] = (struct iovec){(void *)(s->data + done), s->len - done};
        done = 0;
    }
    size_t end = c->nsplices - c->splice_head && n >= SPLICE_IOV - 1 ? pos : c->wlen;
    if (end > pos && n < SPLICE_IOV)
        iov[n++] = (struct iovec){c->wbuf + pos, end - pos};
    return n;
}

/* Moves woff and the splices past n written bytes, dropping each
 * payload's reference once it is all out. */
static void gather_advance(tri_conn *c, size_t n)
{
    while (n) {
        size_t next = c->splice_head < c->nsplices ? c->splices[c->splice_head].at : c->wlen;
        if (c->woff < next) {
            size_t k = n < next - c->woff ? n : next - c->woff;
            c->woff += k;
            n -= k;
            continue;
        }
        if (c->splice_head == c->nsplices)
            break; /* never: n is at most what was pending */
        tri_splice *s = &c->splices[c->splice_head];
        size_t k = n < s->len - c->splice_done ? n : s->len - c->splice_done;
        c->splice_done += k;
        c->splice_bytes -= k;
        n -= k;
        if (c->splice_done == s->len) {
            if (s->release) /* the frame's last: its owner goes */
                s->release(s->owner);
            c->splice_head++;
            c->splice_done = 0;
        }
    }
}

int tri_conn_put_frame(tri_net *net, tri_conn *c, uint8_t type, uint64_t corr, const void *body,
                       size_t len)
{
    uint8_t *p = tri_conn_reserve(c, TRI_FRAME_HDR + len);
    if (!p)
        return TR_ENOMEM;
    tri_frame_put_hdr(p, type, 0, 0, 0, corr, len);
    if (len)
        memcpy(p + TRI_FRAME_HDR, body, len);
    tri_conn_commit(net, c, TRI_FRAME_HDR + len);
    return 0;
}

int tri_conn_put_error(tri_net *net, tri_conn *c, uint8_t type, uint64_t corr, int code,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    size_t body = tri_error_size(len);
    uint8_t *p = tri_conn_reserve(c, TRI_FRAME_HDR + body);
    if (!p)
        return TR_ENOMEM;
    tri_frame_put_hdr(p, type, 0, 0, 0, corr, body);
    tri_error_put(p + TRI_FRAME_HDR, code, msg, len);
    tri_conn_commit(net, c, TRI_FRAME_HDR + body);
    return 0;
}

enum tri_frame_outcome tri_conn_flush(tri_net *net, tri_conn *c, tri_close_info *ci)
{
    bool spliced = c->splice_head < c->nsplices;
    if (c->state == TRI_CONN_CONNECTING || (c->woff == c->wlen && !spliced))
        return TRI_FRAME_OK;
    if (!c->outbound && tri_conn_unsent(c) > net->limits.max_conn_buffer) {
        tri_limit_hit(net, TRI_LIM_BUFFER, "closing the connection from %s: %zu bytes of answers "
                      "it does not read (max_conn_buffer %zu)", c->name, tri_conn_unsent(c),
                      net->limits.max_conn_buffer);
        return tri_close_with(ci, TR_EBUSY, false, "%s does not read its answers", c->name);
    }
    ssize_t n;
    struct iovec iov[SPLICE_IOV];
    struct msghdr mh = {.msg_iov = iov};
    if (spliced) /* plaintext only: tri_conn_splice is not used under TLS */
        mh.msg_iovlen = (size_t)gather_iov(c, iov);
    do /* MSG_NOSIGNAL: a peer gone away is an error here, not SIGPIPE */
        n = c->tls ? tri_tls_write(c->tls, c->wbuf + c->woff, c->wlen - c->woff)
            : spliced ? sendmsg(c->fd, &mh, MSG_NOSIGNAL)
                      : send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (c->tls && n <= 0 && n != -1) { /* TLS: failed, or must read first (the handshake) */
        if (n)
            return tri_close_with(ci, TR_EAUTH, false, "%s", tri_tls_why(c->tls));
        tri_net_want_out(net, c, false); /* the next read retries (tri_conn_read) */
        return TRI_FRAME_OK;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            tri_net_want_out(net, c, true);
            return TRI_FRAME_OK;
        }
        return tri_close_with(ci, TR_EUNREACHABLE, false, "write to %s failed: %s", c->name,
                              strerror(errno));
    }
    tri_net_add(&net->ctr.writes, 1);
    tri_net_add(&net->ctr.bytes_sent, (uint64_t)n);
    tri_net_add(&c->m_bytes_out, (uint64_t)n);
    if (spliced)
        gather_advance(c, (size_t)n);
    else
        c->woff += (size_t)n;
    net->unsent -= (size_t)n;
    if (c->woff < c->wlen || c->splice_head < c->nsplices) { /* the socket is full: the rest when it drains */
        tri_net_want_out(net, c, true);
        return TRI_FRAME_OK;
    }
    c->woff = c->wlen = 0;
    c->splice_head = c->nsplices = 0;
    if (c->wcap > WBUF_KEEP) { /* after a large frame: give the room back */
        tri_free(c->wbuf, c->wcap);
        c->wbuf = NULL;
        c->wcap = 0;
        note_buffers(c);
    }
    tri_net_want_out(net, c, false);
    return TRI_FRAME_OK;
}

/* ---- reading ------------------------------------------------------------------------- */

/* PING, PONG and CLOSE mean the same on both sides; the rest goes to the
 * side the connection serves. */
static enum tri_frame_outcome dispatch(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                       const uint8_t *body, size_t len, tri_close_info *ci)
{
    switch (h->type) {
    case TRI_F_PING:
        if (c->state != TRI_CONN_OPEN)
            break;
        if (len)
            return tri_close_with(ci, TR_EPROTO, true, "a PING with a %zu-byte body", len);
        if (tri_conn_put_frame(net, c, TRI_F_PONG, h->corr, NULL, 0))
            return tri_close_with(ci, TR_ENOMEM, false, "out of memory answering a PING");
        return TRI_FRAME_OK;
    case TRI_F_PONG:
        if (c->state != TRI_CONN_OPEN)
            break;
        if (c->ping_out && h->corr == (uint64_t)c->ping_sent_ns) { /* ours: a round trip */
            int64_t rtt = tri_now_ns() - c->ping_sent_ns;
            tri_net_set(&c->m_rtt_ns, (uint64_t)rtt);
            tri_net_max(&c->m_rtt_max_ns, (uint64_t)rtt);
            tri_net_add(&c->m_pongs, 1);
        }
        c->ping_out = false;
        return TRI_FRAME_OK;
    case TRI_F_CLOSE: {
        int32_t code;
        const char *msg;
        size_t mlen;
        if (tri_error_get(body, len, &code, &msg, &mlen))
            return tri_close_with(ci, TR_EPROTO, true, "a CLOSE frame that does not parse");
        /* Code 0 is an orderly goodbye (not counted as lost); asks still
         * waiting hear TR_EUNREACHABLE either way (client.c). */
        return tri_close_with(ci, code, false, "%s closed the connection%s%.*s", c->name,
                              mlen ? ": " : "", (int)mlen, msg);
    }
    default:
        return c->outbound ? tri_client_frame(net, c, h, body, len, ci)
                           : tri_server_frame(net, c, h, body, len, ci);
    }
    return tri_close_with(ci, TR_EPROTO, true, "a %s frame before the handshake",
                          tri_frame_type_name(h->type));
}

bool tri_conn_trim(tri_conn *c)
{
    if (c->rcap <= RBUF_DEFAULT)
        return true;
    if (c->rpos != c->rlen || tri_now_ns() - c->big_rx_ns < RBUF_IDLE_NS)
        return false;
    assert(!c->inbox || !tri_wire_inbox_target(c->inbox)); /* as make_room */
    if (tri_loan_shared(c->rloan) ? rbuf_replace(c, RBUF_DEFAULT) : rbuf_resize(c, RBUF_DEFAULT))
        return false;
    c->rpos = c->rlen = 0;
    return true;
}

/* An inbound connection's timer, free after the handshake: trims. */
static void trim_fired(tri_timer *t)
{
    tri_conn *c = (tri_conn *)((char *)t - offsetof(tri_conn, timer));
    if (!tri_conn_trim(c))
        tri_wheel_arm(&c->net->wheel, &c->timer, tri_now_ns() + RBUF_IDLE_NS);
}

/* Makes room for at least `need` bytes from rpos on (a frame that fits
 * the limit but not the buffer). 0 or TR_ENOMEM. */
static int make_room(tri_conn *c, size_t need)
{
    /* A gathered run points into rbuf (rpc/wire.h): delivered before it moves. */
    assert(!c->inbox || !tri_wire_inbox_target(c->inbox));
    bool grow = need > c->rcap;
    size_t cap = !grow ? c->rcap : need <= RBUF_KEEP / 2 ? RBUF_KEEP : need;
    if (tri_loan_shared(c->rloan)) { /* lent bytes stay where they are */
        if (rbuf_replace(c, cap))
            return TR_ENOMEM;
    } else {
        if (c->rpos) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        if (grow && rbuf_resize(c, cap))
            return TR_ENOMEM;
    }
    if (!grow)
        return 0;
    if (cap == RBUF_KEEP && !c->outbound && c->state == TRI_CONN_OPEN &&
        !tri_timer_armed(&c->timer)) { /* outbound ones trim in their tick (peer.c) */
        tri_timer_init(&c->timer, trim_fired);
        tri_wheel_arm(&c->net->wheel, &c->timer, tri_now_ns() + RBUF_IDLE_NS);
    }
    return 0;
}

/* Bytes that do not parse before the handshake: the other side speaks
 * another protocol (an HTTP server, say). The message names it and shows
 * its first bytes (as text when printable), then the detail. */
static enum tri_frame_outcome not_troupe(const tri_conn *c, const uint8_t *p, size_t avail,
                                         tri_close_info *ci, const char *detail)
{
    char seen[24];
    size_t n = avail < 4 ? avail : 4, k = 0;
    bool text = true;
    for (size_t i = 0; i < n; i++)
        text = text && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'';
    if (text) {
        seen[k++] = '\'';
        for (size_t i = 0; i < n; i++)
            seen[k++] = (char)p[i];
        seen[k++] = '\'';
        seen[k] = '\0';
    } else {
        for (size_t i = 0; i < n; i++)
            k += (size_t)snprintf(seen + k, sizeof seen - k, "%s%02x", i ? " " : "0x", p[i]);
    }
    return tri_close_with(ci, TR_EPROTO, true, "%s sent %s, not a troupe %s? %s", c->name, seen,
                          c->outbound ? "node" : "client", detail);
}

/* Handles the complete frames in the buffer. */
static enum tri_frame_outcome parse(tri_net *net, tri_conn *c, tri_close_info *ci)
{
    for (;;) {
        if (c->skip) { /* the rest of an oversized frame: discard as it comes */
            size_t k = c->rlen - c->rpos < c->skip ? c->rlen - c->rpos : (size_t)c->skip;
            c->rpos += k;
            c->skip -= k;
            if (c->skip)
                return TRI_FRAME_OK;
        }
        size_t avail = c->rlen - c->rpos;
        if (avail < 4)
            return TRI_FRAME_OK;
        const uint8_t *p = c->rbuf + c->rpos;
        uint64_t size = 4 + (uint64_t)tri_frame_peek_length(p);
        bool open = c->state == TRI_CONN_OPEN;
        char detail[96];
        if (size < TRI_FRAME_HDR) {
            snprintf(detail, sizeof detail, "a frame declaring %llu bytes, shorter than its header",
                     (unsigned long long)size);
            return open ? tri_close_with(ci, TR_EPROTO, true, "%s", detail)
                        : not_troupe(c, p, avail, ci, detail);
        }
        uint64_t limit = open ? net->max_frame : TRI_FRAME_PREAUTH_MAX;
        if (!open && !c->outbound && !c->tls && p[0] == 0x16 && avail >= 2 && p[1] == 3) {
            /* A TLS record (ClientHello) at a plaintext listener: say so,
             * in the plaintext the client will see as not TLS. */
            tri_conn_put_error(net, c, TRI_F_CLOSE, 0, TR_EAUTH, "this listener does not use TLS");
            return tri_close_with(ci, TR_EAUTH, false, "%s is a TLS client at a plaintext "
                                  "listener", c->name);
        }
        if (size > limit) {
            if (!open) {
                snprintf(detail, sizeof detail, "a %llu-byte frame before the handshake, at most %u allowed",
                         (unsigned long long)size, TRI_FRAME_PREAUTH_MAX);
                return not_troupe(c, p, avail, ci, detail);
            }
            if (avail < TRI_FRAME_HDR)
                return TRI_FRAME_OK; /* the header says whom to tell */
            tri_frame_hdr h;
            tri_frame_get_hdr(p, &h);
            const char *bad = tri_frame_check_hdr(&h);
            if (bad)
                return tri_close_with(ci, TR_EPROTO, true, "%s (type %u)", bad, h.type);
            /* Counted, not "received": largest_received stays what was
             * buffered, never above the limit (invariant 6). */
            tri_net_add(&net->ctr.oversized_incoming, 1);
            tri_net_add(&c->m_oversized, 1);
            tri_net_add(&c->m_frames_in, 1);
            tri_net_set(&net->ctr.last_received_size, size);
            TRI_WARN(&net->log, "remote", NULL,
                     "skipping a %llu-byte %s frame from %s: it exceeds this service's "
                     "maximum frame size of %zu bytes (S26)", (unsigned long long)size,
                     tri_frame_type_name(h.type), c->name, net->max_frame);
            enum tri_frame_outcome o = c->outbound ? tri_client_oversized(net, c, &h, size, ci)
                                                   : tri_server_oversized(net, c, &h, size, ci);
            if (o != TRI_FRAME_OK)
                return o;
            c->skip = size; /* never buffered: the loop drops it as it comes */
            continue;
        }
        if (avail < size) {
            /* The inbox points into rbuf: deliver it before rbuf moves. */
            if (size > c->rcap && !c->outbound)
                tri_server_flush(net, c);
            if (size > c->rcap && make_room(c, (size_t)size))
                return tri_close_with(ci, TR_ENOMEM, false,
                                      "out of memory buffering a %llu-byte frame",
                                      (unsigned long long)size);
            return TRI_FRAME_OK;
        }
        tri_frame_hdr h;
        tri_frame_get_hdr(p, &h);
        const char *bad = tri_frame_check_hdr(&h);
        if (bad && !open) {
            snprintf(detail, sizeof detail, "%s (type %u) before the handshake", bad, h.type);
            return not_troupe(c, p, avail, ci, detail);
        }
        if (bad)
            return tri_close_with(ci, TR_EPROTO, true, "%s (type %u)", bad, h.type);
        if (size > RBUF_DEFAULT)
            c->big_rx_ns = c->last_rx_ns;
        tri_net_add(&net->ctr.frames_received, 1);
        tri_net_add(&c->m_frames_in, 1);
        tri_net_set(&net->ctr.last_received_size, size);
        tri_net_max(&net->ctr.largest_received, size);
        c->rpos += (size_t)size;
        enum tri_frame_outcome o = dispatch(net, c, &h, p + TRI_FRAME_HDR, (size_t)size - TRI_FRAME_HDR, ci);
        if (o != TRI_FRAME_OK)
            return o;
    }
}

static enum tri_frame_outcome read_once(tri_net *net, tri_conn *c, tri_close_info *ci)
{
    if (c->rlen == c->rcap)
        make_room(c, 0);
    if (c->rlen == c->rcap) /* parse() leaves room: never a full buffer at rest */
        return tri_close_with(ci, TR_EPROTO, false, "no room to read from %s", c->name);
    ssize_t n;
    do
        n = c->tls ? tri_tls_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen)
                   : read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    while (n < 0 && errno == EINTR);
    if (n == TRI_TLS_FAILED)
        return tri_close_with(ci, TR_EAUTH, false, "%s", tri_tls_why(c->tls));
    if (c->tls && c->woff < c->wlen)
        tri_net_mark_dirty(net, c); /* a write may have waited for this read (handshake) */
    if (n == 0)
        return tri_close_with(ci, TR_EUNREACHABLE, false, "%s closed the connection", c->name);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return TRI_FRAME_OK;
        return tri_close_with(ci, TR_EUNREACHABLE, false, "read from %s failed: %s", c->name,
                              strerror(errno));
    }
    tri_net_add(&net->ctr.reads, 1);
    tri_net_add(&net->ctr.bytes_received, (uint64_t)n);
    tri_net_add(&c->m_bytes_in, (uint64_t)n);
    c->rlen += (size_t)n;
    c->last_rx_ns = tri_now_ns();
    enum tri_frame_outcome o = parse(net, c, ci);
    if (!c->outbound)
        tri_server_flush(net, c); /* the tells of this read go in one message */
    if (c->rpos == c->rlen) {
        /* a very large frame is done: back to normal */
        size_t cap = c->rcap > RBUF_KEEP ? RBUF_DEFAULT : c->rcap;
        if (tri_loan_shared(c->rloan)) {
            /* Lent: a fresh one (failing, reads go on after rlen until
             * make_room fails and says so). */
            (void)rbuf_replace(c, cap);
        } else {
            c->rpos = c->rlen = 0;
            if (cap != c->rcap)
                (void)rbuf_resize(c, cap); /* failing, the large one stays */
        }
    } else if (c->rpos && c->rcap - c->rlen < TRI_FRAME_HDR * 64) {
        make_room(c, 0); /* slide the partial frame to the front */
    }
    return o;
}

enum tri_frame_outcome tri_conn_read(tri_net *net, tri_conn *c, tri_close_info *ci)
{
    enum tri_frame_outcome o;
    do /* TLS may hold decrypted bytes epoll cannot announce: take them now */
        o = read_once(net, c, ci);
    while (o == TRI_FRAME_OK && c->tls && tri_tls_pending(c->tls));
    return o;
}
