/* The calling side's calls: targets, requests from the queue, the backlog,
 * RESOLVE, answers and deadlines (client.h). The peers and their
 * connections are peer.c's. */
#include "remote/client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"
#include "remote/address.h"
#include "remote/handshake.h"
#include "remote/net.h"
#include "remote/rwatch.h"
#include "remote/peer.h"
#include "rpc/wire.h"
#include "troupe/error.h"

#define RESOLVE_BIT ((uint64_t)1 << 63) /* RESOLVE ids; ask ids never set it */
/* After completing a future, keep polling this long for the caller's next
 * request: a thread that waited on an answer usually asks again at once,
 * and finding its request by polling saves it the eventfd write and this
 * thread the wake-up (20-25 us across CPUs here). Measured with
 * remote_pingpong: 10 and 40 us were slower, 0 much slower. */
#define EXPECT_NEXT_CALL_NS 20000

/* ---- targets ------------------------------------------------------------------------- */

static uint64_t rt_level(const void *owner)
{
    const tri_rtarget *rt = owner;
    /* relaxed: an estimate (flow.h); the counts only grow. */
    uint64_t settled = atomic_load_explicit(&rt->settled, memory_order_relaxed);
    uint64_t posted = atomic_load_explicit(&rt->posted, memory_order_relaxed);
    return posted > settled ? posted - settled : 0;
}

int tri_rtarget_admit(tri_rtarget *rt, tr_service *svc)
{
    /* Fast path, as a mailbox's: below the limit the I/O thread last
     * published, the level is below the high mark (relaxed: an estimate;
     * the slow path reads the counts). Callers racing past it overshoot
     * by at most their number. */
    if (atomic_load_explicit(&rt->posted, memory_order_relaxed) <
        atomic_load_explicit(&rt->gate.limit, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&rt->posted, 1, memory_order_seq_cst);
        return 0;
    }
    int rv = tri_gate_admit(&rt->gate, tri_wire_sched(svc));
    if (!rv)
        atomic_fetch_add_explicit(&rt->posted, 1, memory_order_seq_cst);
    return rv;
}

void tri_rtarget_unadmit(tri_rtarget *rt)
{
    atomic_fetch_sub_explicit(&rt->posted, 1, memory_order_seq_cst);
}

static void publish(tri_rtarget *rt);

/* A call of rt's left the I/O thread's hands (written, failed or
 * dropped): counted here, published by tri_client_publish. */
static void settle(tri_net *net, tri_rtarget *rt)
{
    rt->io_settled++;
    if (!net) { /* the I/O thread is gone (tri_client_discard) */
        publish(rt);
        return;
    }
    if (!rt->settle_dirty) {
        rt->settle_dirty = true;
        rt->settle_next = net->settle_dirty;
        net->settle_dirty = rt;
    }
}

static void publish(tri_rtarget *rt)
{
    rt->settle_dirty = false;
    /* relaxed: single writer; callers' slow paths read it as an estimate,
     * and the gate's fence below orders it before the look at waiters. */
    atomic_store_explicit(&rt->settled, rt->io_settled, memory_order_relaxed);
    /* idle: after this the gate may see no drain for a while, so fence
     * (flow.h rule 2: a caller blocked meanwhile is released). */
    tri_gate_drained(&rt->gate, rt->io_settled, TRI_GATE_LEVEL_LAZY, true);
}

void tri_client_publish(tri_net *net)
{
    while (net->settle_dirty) {
        tri_rtarget *rt = net->settle_dirty;
        net->settle_dirty = rt->settle_next;
        publish(rt);
    }
}

/* Takes rt off the publish list (it is being freed). */
static void unpublish(tri_net *net, tri_rtarget *rt)
{
    if (!rt->settle_dirty)
        return;
    for (tri_rtarget **pp = &net->settle_dirty; *pp; pp = &(*pp)->settle_next)
        if (*pp == rt) {
            *pp = rt->settle_next;
            break;
        }
    rt->settle_dirty = false;
}

tri_rtarget *tri_rtarget_new(const char *key, const struct sockaddr_storage *sa, socklen_t salen,
                             const char *id, const tr_gateway_desc *desc, uint32_t high)
{
    size_t id_len = strlen(id);
    size_t addr_len = strlen(TRI_REMOTE_SCHEME) + strlen(key) + 1 + id_len;
    size_t size = sizeof(tri_rtarget) + id_len + 1 + addr_len + 1;
    /* Aligned as its type: `posted` and the gate have lines of their own. */
    tri_rtarget *rt = tri_zalloc_aligned(size, alignof(tri_rtarget));
    if (!rt)
        return NULL;
    rt->alloc_size = size;
    rt->desc = desc;
    rt->fingerprint = tri_gateway_fingerprint(desc);
    rt->id = (char *)(rt + 1);
    memcpy(rt->id, id, id_len + 1);
    rt->id_len = id_len;
    rt->address = rt->id + id_len + 1;
    snprintf(rt->address, addr_len + 1, TRI_REMOTE_SCHEME "%s/%s", key, id);
    snprintf(rt->key, sizeof rt->key, "%s", key);
    memcpy(&rt->sa, sa, salen);
    rt->salen = salen;
    atomic_init(&rt->posted, 0);
    atomic_init(&rt->settled, 0);
    tri_gate_init(&rt->gate, high == TR_MAILBOX_UNBOUNDED ? UINT32_MAX : high, 0, 0, rt_level, rt);
    return rt;
}

void tri_rtarget_free(tri_rtarget *rt)
{
    tri_gate_release(&rt->gate); /* nobody may stay muted or blocked on it */
    tri_free_aligned(rt, rt->alloc_size, alignof(tri_rtarget));
}

void tri_rtarget_unref(tri_net *net, tri_rtarget *rt)
{
    if (--rt->io_refs)
        return;
    tri_wheel_cancel(&net->wheel, &rt->timer);
    unpublish(net, rt);
    tri_peer *p = rt->peer;
    if (rt->prev)
        rt->prev->next = rt->next;
    else if (p)
        p->targets = rt->next;
    if (rt->next)
        rt->next->prev = rt->prev;
    tri_rtarget_free(rt);
    /* A peer nobody points at any more keeps no connection open; closing
     * it here could free a connection whose frames are being read, so the
     * loop does it after this turn (tri_peer_sweep). */
    if (p && !p->targets)
        net->sweep_peers = true;
}

static bool rt_resolved(const tri_rtarget *rt)
{
    return rt->peer->ready && rt->slot_gen == rt->peer->gen;
}

/* ---- requests and what they point at ------------------------------------------------- */

static void ask_timer_fired(tri_timer *t);

/* An ask's header, from its future: its message may be on its way home
 * by now (a completed future travels to its asker's mailbox). */
static tri_call_hdr *ask_hdr(tr_future *f) { return tri_wire_ask_priv(f); }

tri_rtarget *tri_ask_target(tr_future *f) { return ask_hdr(f)->rt; }

static tri_rtarget *target_of(tr_msg *m)
{
    tri_wire_call c;
    if (tri_wire_call_of(m, &c))
        return ((tri_call_hdr *)c.priv)->rt;
    return ((tri_connect_req *)tr_msg_data(m))->rt;
}

/* ---- failing ------------------------------------------------------------------------- */

void tri_client_tell_undelivered(tri_net *net, tri_rtarget *rt, unsigned method, int code,
                                 const char *why)
{
    /* relaxed: a statistic (single writer: the I/O thread, or the last
     * thread after it stopped). */
    atomic_fetch_add_explicit(&rt->undelivered, 1, memory_order_relaxed);
    if (!net)
        return;
    tri_net_add(&net->ctr.tells_dropped, 1);
    const tr_service_config *cfg = tri_wire_config(net->svc);
    if (cfg->on_undelivered)
        cfg->on_undelivered(cfg->undelivered_arg, rt->address, rt->desc->methods[method].name,
                            code, why);
}

static void fail_timeout(tr_future *f, const tri_rtarget *rt);

/* An ask's deadline, on the I/O thread's wheel. */
static void ask_timer_fired(tri_timer *t)
{
    tr_future *f = tri_wire_timer_future(t);
    tri_rtarget *rt = ask_hdr(f)->rt;
    tri_peer *p = rt->peer;
    tri_net *net = p->net;
    bool sent;
    if (tri_pending_take(&p->pending, &net->wheel, tri_wire_route_corr(f), &sent) != f)
        return;
    fail_timeout(f, rt);
    tri_rtarget_unref(net, rt); /* the pending entry's */
    if (sent) /* else it still waits in the backlog, which drops it */
        tri_wire_future_unref(f, 1);
}

/* S15's words, for a remote recipient. */
static void fail_timeout(tr_future *f, const tri_rtarget *rt)
{
    tri_wire_fail(f, TR_ETIMEDOUT,
                     "%s.%s to %s timed out after %lld ms without an answer. Usual causes: the "
                     "recipient is slow or blocked (a long handler, or one waiting on something "
                     "itself), the message or its reply was lost or too large (see "
                     "max_frame_size), or the timeout is too short for this call",
                  tri_wire_gw_name(f), tri_wire_method_name(f), rt->address,
                  (long long)(tri_wire_timeout_ns(f) / 1000000));
}

/* A request that will never be sent: fail or drop it, free what it held. */
static void fail_request(tri_net *net, tr_msg *m, int code, const char *why)
{
    tri_rtarget *rt = target_of(m);
    tri_wire_call call;
    bool is_call = tri_wire_call_of(m, &call);
    if (is_call && call.ask) {
        tr_future *f = call.ask;
        bool sent;
        tri_wire_ask_taken(f);
        /* Still pending (not timed out): take it out and fail it. */
        if (rt->peer &&
            tri_pending_take(&rt->peer->pending, &net->wheel, tri_wire_route_corr(f), &sent) == f) {
            tri_wire_fail(f, code, "%s.%s to %s was not sent: %s", tri_wire_gw_name(f),
                          tri_wire_method_name(f), rt->address, why);
            tri_rtarget_unref(net, rt); /* the pending entry's */
        }
        tri_wire_future_unref(f, 1);
        settle(net, rt);
    } else if (is_call) {
        tri_client_tell_undelivered(net, rt, call.method, code, why);
        TRI_DEBUG(&net->log, "remote", NULL, "a tell to %s was not sent: %s", rt->address, why);
        tr_msg_free(m);
        settle(net, rt);
    } else {
        tri_connect_req *req = tr_msg_data(m);
        tri_wire_fail(req->done, code, "%s", why);
        tr_future_release(req->done);
        tr_msg_free(m);
        tri_rtarget_unref(net, rt); /* the gateway-to-be's: there will be none */
    }
    tri_rtarget_unref(net, rt); /* the backlog entry's */
}

/* ---- sending -------------------------------------------------------------------------- */

/* Encodes a call for a resolved target onto the connection; frees a
 * tell's message, keeps an ask (it waits in the pending table). */
/* ---- credit (PROTOCOL.md "Credit") ----------------------------------------------------- */

/* The credit of rt's slot on the current connection, or NULL (no room to
 * track it: then unlimited, as with a version-1 peer). */
static tri_credit *credit_of(tri_peer *p, const tri_rtarget *rt)
{
    if (rt->slot >= p->credit_cap) {
        uint32_t cap = p->credit_cap ? p->credit_cap : 8;
        while (cap <= rt->slot)
            cap *= 2;
        tri_credit *c = tri_realloc(p->credit, (size_t)p->credit_cap * sizeof *c,
                                    (size_t)cap * sizeof *c);
        if (!c)
            return NULL;
        for (uint32_t i = p->credit_cap; i < cap; i++)
            c[i] = (tri_credit){0, 0};
        p->credit = c;
        p->credit_cap = cap;
    }
    return &p->credit[rt->slot];
}

static bool credit_open(const tri_credit *cr)
{
    return !cr || cr->calls == TRI_CREDIT_NONE || (cr->calls > 0 && cr->bytes > 0);
}

static int64_t plus(int64_t v, uint32_t n)
{
    return v >= TRI_CREDIT_NONE - 1 - (int64_t)n ? TRI_CREDIT_NONE - 1 : v + n;
}

static void credit_add(tri_credit *cr, uint32_t calls, uint32_t bytes)
{
    if (cr->calls == TRI_CREDIT_NONE)
        return;
    cr->calls = plus(cr->calls, calls);
    cr->bytes = plus(cr->bytes, bytes);
}

/* The bytes a call's frame takes (what transmit writes). */
static size_t call_frame_size(const tri_wire_call *call)
{
    const tri_call_hdr *ch = call->priv;
    return tri_frame_size((call->token ? TRI_FRAME_TOKEN : 0) + (call->ask ? 4 : 0) + ch->enc_size);
}

static void credit_take(tri_credit *cr, const tri_wire_call *call)
{
    if (cr && cr->calls != TRI_CREDIT_NONE) {
        cr->calls--;
        cr->bytes -= (int64_t)call_frame_size(call);
    }
}

void tri_client_credit_reset(tri_peer *p)
{
    tri_free(p->credit, (size_t)p->credit_cap * sizeof *p->credit);
    p->credit = NULL;
    p->credit_cap = 0;
}

/* Keeps m (a call of rt's) until credit comes, after those held before. */
static void hold(tri_rtarget *rt, tr_msg *m)
{
    rt->io_refs++; /* the held entry's */
    tri_msg_set_next(m, NULL);
    if (rt->held_tail)
        tri_msg_set_next(rt->held_tail, m);
    else
        rt->held_head = m;
    rt->held_tail = m;
}

static void transmit(tri_net *net, tri_peer *p, tr_msg *m, const tri_wire_call *call);

/* Sends what rt holds as far as its slot's credit goes. */
static void release_held(tri_net *net, tri_peer *p, tri_rtarget *rt)
{
    tri_credit *cr = credit_of(p, rt);
    while (rt->held_head && credit_open(cr)) {
        tr_msg *m = rt->held_head;
        rt->held_head = tri_msg_next(m);
        if (!rt->held_head)
            rt->held_tail = NULL;
        rt->io_refs++; /* keeps rt while the held entry's goes */
        tri_wire_call call;
        tri_wire_call_of(m, &call);
        if (call.ask && tri_pending_get(&p->pending, tri_wire_route_corr(call.ask)) != call.ask) {
            /* Timed out while it waited for credit: its deadline failed it. */
            tri_wire_ask_taken(call.ask);
            tri_wire_future_unref(call.ask, 1);
            settle(net, rt);
        } else {
            credit_take(cr, &call);
            transmit(net, p, m, &call);
        }
        tri_rtarget_unref(net, rt); /* the held entry's */
        tri_rtarget_unref(net, rt);
    }
}

/* Fails the calls rt holds (the connection went, or its RESOLVE failed). */
static void fail_held(tri_net *net, tri_rtarget *rt, int code, const char *why)
{
    while (rt->held_head) {
        tr_msg *m = rt->held_head;
        rt->held_head = tri_msg_next(m);
        if (!rt->held_head)
            rt->held_tail = NULL;
        fail_request(net, m, code, why); /* drops the entry's reference */
    }
}

enum tri_frame_outcome tri_client_credit(tri_net *net, tri_conn *c, const uint8_t *body,
                                         size_t len, tri_close_info *ci)
{
    if (len != 12)
        return tri_close_with(ci, TR_EPROTO, true, "a CREDIT of %zu bytes", len);
    tri_peer *p = c->peer;
    uint32_t slot = tri_get_u32(body), n = tri_get_u32(body + 4), bytes = tri_get_u32(body + 8);
    for (tri_rtarget *rt = p->targets; rt; rt = rt->next) {
        if (!rt_resolved(rt) || rt->slot != slot)
            continue;
        tri_credit *cr = credit_of(p, rt);
        if (cr && (n || bytes)) { /* the slot's credit, once for all its targets */
            credit_add(cr, n, bytes);
            n = bytes = 0;
        }
    }
    for (tri_rtarget *rt = p->targets; rt;) { /* release_held may unlink rt */
        tri_rtarget *next = rt->next;
        if (rt_resolved(rt) && rt->slot == slot && rt->held_head)
            release_held(net, p, rt);
        rt = next;
    }
    return TRI_FRAME_OK;
}

/* Encodes a call for a resolved target onto the connection; frees a
 * tell's message, keeps an ask (it waits in the pending table). Without
 * credit for its slot it is held (in order) until a CREDIT comes. */
static void send_call(tri_net *net, tri_peer *p, tr_msg *m, const tri_wire_call *call)
{
    tri_rtarget *rt = ((const tri_call_hdr *)call->priv)->rt;
    tri_credit *cr = credit_of(p, rt);
    if (!credit_open(cr) || rt->held_head) {
        hold(rt, m);
        return;
    }
    credit_take(cr, call);
    transmit(net, p, m, call);
}

static void release_ask(void *f) { tr_future_release(f); }
static void release_tell(void *m) { tr_msg_free(m); }

/* Writes a call whose credit is taken. */
static void transmit(tri_net *net, tri_peer *p, tr_msg *m, const tri_wire_call *callp)
{
    tri_wire_call call = *callp;
    tri_call_hdr *ch = call.priv;
    tri_rtarget *rt = ch->rt;
    tr_future *f = call.ask;
    bool ask = f != NULL;
    const tr_method_desc *md = &rt->desc->methods[call.method];
    size_t fence = call.token ? TRI_FRAME_TOKEN : 0;
    size_t body = fence + (ask ? 4 : 0) + ch->enc_size;
    size_t size = tri_frame_size(body);
    tri_net_set(&net->ctr.last_request_size, size);
    if (ask) /* it left the queue and the backlog: it may travel home now */
        tri_wire_ask_taken(f);
    uint8_t *w = size <= net->max_frame ? tri_conn_reserve(p->conn, size) : NULL;
    if (!w) {
        /* The caller checked the size (S24); this is memory, or a limit
         * that cannot change: either way nothing is sent. */
        const char *why = size > net->max_frame ? "it exceeds the maximum frame size"
                                                : "out of memory encoding it";
        if (ask) {
            bool sent;
            if (tri_pending_take(&p->pending, &net->wheel, tri_wire_route_corr(f), &sent) == f) {
                tri_wire_fail(f, size > net->max_frame ? TR_EFRAMESIZE : TR_ENOMEM,
                              "%s.%s to %s is %zu bytes: %s (%zu)", tri_wire_gw_name(f),
                              tri_wire_method_name(f), rt->address, size, why, net->max_frame);
                tri_rtarget_unref(net, rt);
            }
            tri_wire_future_unref(f, 1);
        } else {
            tri_client_tell_undelivered(net, rt, call.method,
                                        size > net->max_frame ? TR_EFRAMESIZE : TR_ENOMEM, why);
            TRI_WARN(&net->log, "remote", NULL, "tell %s.%s to %s (%zu bytes) not sent: %s",
                     rt->desc->name, md->name, rt->address, size, why);
            tr_msg_free(m);
        }
        settle(net, rt);
        return;
    }
    uint64_t corr = ask ? tri_wire_route_corr(f) : 0;
    tri_frame_put_hdr(w, ask ? TRI_F_ASK : TRI_F_TELL, fence ? TRI_FF_TOKEN : 0,
                      (uint16_t)call.method, rt->slot, corr, body);
    uint8_t *q = w + TRI_FRAME_HDR;
    if (fence) {
        memcpy(q, call.token, fence);
        q += fence;
    }
    if (ask) {
        int64_t left = ch->deadline_ns - tri_now_ns();
        int64_t ms = left <= 0 ? 1 : (left + 999999) / 1000000;
        tri_put_u32(q, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
        q += 4;
    }
    bool kept = false; /* the tell's message holds spliced bytes */
    if (!p->conn->tls && ch->enc_size >= TRI_SPLICE_MIN) {
        /* Large bytes go out from the call's own copy (its future or its
         * message holds it until written): one copy fewer per byte. */
        tri_splicer sc = {p->conn, 0};
        uint8_t *end = tri_wire_encode_gather(md->arg_type, call.arg, q, TRI_SPLICE_MIN,
                                              tri_conn_splicer, &sc);
        if (sc.recorded && ask) {
            tr_future_retain(f);
            tri_conn_splice_owner(p->conn, f, release_ask);
        } else if (sc.recorded) {
            tri_conn_splice_owner(p->conn, m, release_tell);
            kept = true;
        }
        tri_conn_commit_gathered(net, p->conn, (size_t)(end - w), size);
    } else {
        if (ch->enc_size)
            tri_wire_encode(md->arg_type, call.arg, q);
        tri_conn_commit(net, p->conn, size);
    }
    if (ask)
        tri_pending_mark_sent(&p->pending, corr);
    else if (!kept)
        tr_msg_free(m);
    settle(net, rt);
}

static int start_resolve(tri_net *net, tri_peer *p, tri_rtarget *rt);

/* Handles the head of a resolved request. */
static void complete_head(tri_net *net, tri_peer *p, tr_msg *m)
{
    tri_wire_call call;
    if (tri_wire_call_of(m, &call)) {
        tr_future *f = call.ask;
        if (f && tri_pending_get(&p->pending, tri_wire_route_corr(f)) != f) {
            /* Timed out while it waited: the deadline failed it. */
            tri_rtarget *rt = ask_hdr(f)->rt;
            tri_wire_ask_taken(f);
            tri_wire_future_unref(f, 1);
            settle(net, rt);
            tri_rtarget_unref(net, rt); /* the backlog entry's */
            return;
        }
        tri_rtarget *rt = ((tri_call_hdr *)call.priv)->rt;
        send_call(net, p, m, &call);
        tri_rtarget_unref(net, rt); /* the backlog entry's */
        return;
    }
    /* A connect: its target is bound; the caller may make its gateway. */
    tri_connect_req *req = tr_msg_data(m);
    tri_rtarget *rt = req->rt;
    if (tr_future_complete(req->done, NULL, NULL) != 0) {
        /* The caller gave up waiting (it failed the future itself): the
         * gateway's reference is ours to drop. */
        tri_rtarget_unref(net, rt);
    }
    tr_future_release(req->done);
    tr_msg_free(m);
    tri_rtarget_unref(net, rt); /* the backlog entry's */
}

static void fail_target_backlog(tri_net *net, tri_peer *p, tri_rtarget *rt, int code,
                                const char *why);

/* Sends what the backlog holds, in order, as far as targets are resolved;
 * starts the resolves the next entries need. */
void tri_client_drain(tri_net *net, tri_peer *p)
{
    if (!p->ready)
        return;
    while (p->bl_head) {
        tr_msg *m = p->bl_head;
        tri_rtarget *rt = target_of(m);
        if (!rt_resolved(rt)) {
            if (rt->incarnation && rt->incarnation != p->incarnation) {
                char why[200];
                snprintf(why, sizeof why,
                         "%s restarted (a new incarnation): this gateway was bound to the old "
                         "one; connect again",
                         p->key);
                fail_target_backlog(net, p, rt, TR_ERESTARTED, why);
                continue;
            }
            if (rt->resolve_corr || !start_resolve(net, p, rt))
                return; /* its RESOLVE is on the way: the answer drains on */
            fail_target_backlog(net, p, rt, TR_ENOMEM, "out of memory resolving it");
            continue;
        }
        p->bl_head = tri_msg_next(m);
        if (!p->bl_head)
            p->bl_tail = NULL;
        p->bl_len--;
        complete_head(net, p, m);
    }
}

static void backlog_push(tri_peer *p, tr_msg *m)
{
    tri_msg_set_next(m, NULL);
    if (p->bl_tail)
        tri_msg_set_next(p->bl_tail, m);
    else
        p->bl_head = m;
    p->bl_tail = m;
    p->bl_len++;
}

/* Fails the backlog entries of one target (its RESOLVE failed), keeping
 * the others in order. */
static void fail_target_backlog(tri_net *net, tri_peer *p, tri_rtarget *rt, int code,
                                const char *why)
{
    tr_msg *keep_head = NULL, *keep_tail = NULL, *m = p->bl_head;
    uint32_t kept = 0;
    rt->io_refs++; /* it must outlive the loop */
    fail_held(net, rt, code, why);
    while (m) {
        tr_msg *next = tri_msg_next(m);
        if (target_of(m) == rt) {
            fail_request(net, m, code, why);
        } else {
            tri_msg_set_next(m, NULL);
            if (keep_tail)
                tri_msg_set_next(keep_tail, m);
            else
                keep_head = m;
            keep_tail = m;
            kept++;
        }
        m = next;
    }
    p->bl_head = keep_head;
    p->bl_tail = keep_tail;
    p->bl_len = kept;
    tri_rtarget_unref(net, rt);
}

/* Fails the whole backlog (the connection could not be made or was lost). */
void tri_client_fail_backlog(tri_net *net, tri_peer *p, int code, const char *why)
{
    for (tri_rtarget *rt = p->targets; rt;) {
        rt->io_refs++; /* failing its calls may drop its last other reference */
        fail_held(net, rt, code, why);
        tri_rtarget *next = rt->next; /* read before the unref may unlink it */
        tri_rtarget_unref(net, rt);
        rt = next;
    }
    while (p->bl_head) {
        tr_msg *m = p->bl_head;
        p->bl_head = tri_msg_next(m);
        fail_request(net, m, code, why);
    }
    p->bl_tail = NULL;
    p->bl_len = 0;
}

/* ---- resolving ------------------------------------------------------------------------ */

static void resolve_timer_fired(tri_timer *t)
{
    tri_rtarget *rt = (tri_rtarget *)((char *)t - offsetof(tri_rtarget, timer));
    tri_peer *p = rt->peer;
    tri_net *net = p->net;
    char why[320];
    snprintf(why, sizeof why, "%s did not answer the lookup of endpoint %s within %lld ms",
             p->key, rt->id, (long long)(net->lookup_timeout_ns / 1000000));
    rt->resolve_corr = 0;
    fail_target_backlog(net, p, rt, TR_EUNREACHABLE, why);
    tri_client_drain(net, p);
}

static int start_resolve(tri_net *net, tri_peer *p, tri_rtarget *rt)
{
    uint64_t corr = RESOLVE_BIT | ++p->next_resolve;
    int rv = tri_handshake_resolve(net, p->conn, rt, corr);
    if (rv)
        return rv;
    rt->resolve_corr = corr;
    tri_timer_init(&rt->timer, resolve_timer_fired);
    tri_wheel_arm(&net->wheel, &rt->timer, tri_now_ns() + net->lookup_timeout_ns);
    return 0;
}

static tri_rtarget *resolving(tri_peer *p, uint64_t corr)
{
    for (tri_rtarget *rt = p->targets; rt; rt = rt->next)
        if (rt->resolve_corr == corr)
            return rt;
    return NULL;
}

static enum tri_frame_outcome on_resolve_answer(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                                const uint8_t *body, size_t len,
                                                tri_close_info *ci)
{
    tri_peer *p = c->peer;
    tri_rtarget *rt = resolving(p, h->corr);
    if (!rt) /* its lookup timed out, or its gateway went: nothing waits */
        return TRI_FRAME_OK;
    rt->resolve_corr = 0;
    tri_wheel_cancel(&net->wheel, &rt->timer);
    if (h->type == TRI_F_RESOLVE_OK) {
        if (len != 4 && len != 12) /* version 2 adds the initial credit */
            return tri_close_with(ci, TR_EPROTO, true, "a RESOLVE_OK of %zu bytes", len);
        rt->slot = tri_get_u32(body);
        rt->slot_gen = p->gen;
        tri_credit *cr = credit_of(p, rt);
        if (cr) { /* the server grants a window per RESOLVE: add it */
            if (len == 12)
                credit_add(cr, tri_get_u32(body + 4), tri_get_u32(body + 8));
            else
                cr->calls = TRI_CREDIT_NONE; /* a version-1 server */
        }
        if (!rt->incarnation)
            rt->incarnation = p->incarnation;
    } else {
        int32_t code;
        const char *msg;
        size_t mlen;
        if (tri_error_get(body, len, &code, &msg, &mlen) || code == 0)
            return tri_close_with(ci, TR_EPROTO, true, "a REPLY_ERR that does not parse");
        char why[600];
        snprintf(why, sizeof why, "%.*s", (int)mlen, msg);
        fail_target_backlog(net, p, rt, code, why);
    }
    tri_client_drain(net, p);
    return TRI_FRAME_OK;
}

/* ---- answers ----------------------------------------------------------------------------- */

/* After completing f (which may be on its way home already). */
static void finish_ask(tri_net *net, tr_future *f, tri_rtarget *rt)
{
    tri_rtarget_unref(net, rt); /* the pending entry's */
    tri_wire_future_unref(f, 1);
    tri_net_expect(net, EXPECT_NEXT_CALL_NS);
}

static enum tri_frame_outcome on_reply(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                       const uint8_t *body, size_t len, tri_close_info *ci)
{
    if (h->corr & RESOLVE_BIT)
        return on_resolve_answer(net, c, h, body, len, ci);
    int32_t code = 0;
    const char *msg = NULL;
    size_t mlen = 0;
    if (h->type == TRI_F_REPLY_ERR &&
        (tri_error_get(body, len, &code, &msg, &mlen) || code == 0))
        return tri_close_with(ci, TR_EPROTO, true, "a REPLY_ERR that does not parse");
    tri_peer *p = c->peer;
    tr_future *f = tri_pending_take(&p->pending, &net->wheel, h->corr, NULL);
    if (!f) { /* S35: its ask timed out (or never was): drop it */
        tri_net_add(&net->ctr.late_replies, 1);
        TRI_DEBUG(&net->log, "remote", NULL, "dropping a late %s from %s (correlation id %llx)",
                  tri_frame_type_name(h->type), c->name, (unsigned long long)h->corr);
        return TRI_FRAME_OK;
    }
    tri_rtarget *rt = ask_hdr(f)->rt;
    if (h->type == TRI_F_REPLY_OK)
        tri_wire_complete(f, body, len); /* decode errors fail it (EPROTO) */
    else
        tri_wire_fail(f, code, "%.*s", (int)mlen, msg); /* S17: as the handler said */
    finish_ask(net, f, rt);
    return TRI_FRAME_OK;
}

enum tri_frame_outcome tri_client_frame(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                        const uint8_t *body, size_t len, tri_close_info *ci)
{
    if (c->state != TRI_CONN_OPEN) {
        if (h->type == TRI_F_HELLO_OK)
            return tri_peer_hello_ok(net, c, body, len, ci);
        return tri_close_with(ci, TR_EPROTO, true, "%s answered HELLO with a %s frame", c->name,
                              tri_frame_type_name(h->type));
    }
    switch (h->type) {
    case TRI_F_REPLY_OK:
    case TRI_F_REPLY_ERR:
        return on_reply(net, c, h, body, len, ci);
    case TRI_F_RESOLVE_OK:
        return on_resolve_answer(net, c, h, body, len, ci);
    case TRI_F_CREDIT:
        return tri_client_credit(net, c, body, len, ci);
    case TRI_F_DOWN:
        return tri_rwatch_on_down(net, c, h, body, len, ci);
    default:
        return tri_close_with(ci, TR_EPROTO, true, "a %s frame sent to the calling side",
                              tri_frame_type_name(h->type));
    }
}

enum tri_frame_outcome tri_client_oversized(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                            uint64_t size, tri_close_info *ci)
{
    if (h->type != TRI_F_REPLY_OK && h->type != TRI_F_REPLY_ERR)
        return tri_close_with(ci, TR_EPROTO, true, "a %llu-byte %s frame",
                              (unsigned long long)size, tri_frame_type_name(h->type));
    tr_future *f = (h->corr & RESOLVE_BIT)
                       ? NULL
                       : tri_pending_take(&c->peer->pending, &net->wheel, h->corr, NULL);
    if (!f) {
        tri_net_add(&net->ctr.late_replies, 1);
        return TRI_FRAME_OK;
    }
    /* S26: the asker hears it now, not at its deadline. */
    tri_rtarget *rt = ask_hdr(f)->rt;
    tri_wire_fail(f, TR_EFRAMESIZE,
                  "the reply to %s.%s from %s is %llu bytes, exceeds this service's maximum "
                  "frame size %zu; it was skipped",
                  tri_wire_gw_name(f), tri_wire_method_name(f), c->name,
                  (unsigned long long)size, net->max_frame);
    finish_ask(net, f, rt);
    return TRI_FRAME_OK;
}

/* ---- requests from the queue ------------------------------------------------------------ */

void tri_client_call(tri_net *net, tr_msg *m, const tri_wire_call *call)
{
    tri_call_hdr *ch = call->priv;
    tri_rtarget *rt = ch->rt;
    tri_peer *p = rt->peer;
    if (call->ask) {
        tr_future *f = call->ask;
        tri_timer_init(tri_wire_timer(f), ask_timer_fired);
        if (tri_pending_add(&p->pending, &net->wheel, f, ch->deadline_ns)) {
            tri_wire_ask_taken(f);
            tri_wire_fail(f, TR_ENOMEM, "out of memory sending %s.%s to %s",
                          tri_wire_gw_name(f), tri_wire_method_name(f), rt->address);
            tri_wire_future_unref(f, 1);
            settle(net, rt);
            return;
        }
        rt->io_refs++; /* the pending entry's */
    }
    if (p->ready && !p->bl_head && rt_resolved(rt)) {
        send_call(net, p, m, call);
        /* The call is on its way: the answer comes by socket, so stop
         * polling and leave the CPU to the peer (on two cores, likely
         * this one's). */
        tri_net_expect(net, 0);
        return;
    }
    rt->io_refs++; /* the backlog entry's */
    backlog_push(p, m);
    if (!p->conn)
        tri_peer_connect(net, p);
    else
        tri_client_drain(net, p);
}

void tri_client_connect(tri_net *net, tr_msg *m)
{
    tri_connect_req *req = tr_msg_data(m);
    tri_rtarget *rt = req->rt;
    tri_peer *p = tri_peer_of(net, rt);
    rt->io_refs = 1; /* the gateway-to-be's */
    if (!p) {
        tri_wire_fail(req->done, TR_ENOMEM, "out of memory connecting to %s", rt->address);
        tr_future_release(req->done);
        tr_msg_free(m);
        tri_rtarget_free(rt);
        return;
    }
    rt->peer = p;
    rt->next = p->targets;
    if (p->targets)
        p->targets->prev = rt;
    p->targets = rt;
    rt->io_refs++; /* the backlog entry's */
    backlog_push(p, m);
    if (!p->conn)
        tri_peer_connect(net, p);
    else
        tri_client_drain(net, p);
}

void tri_client_release(tri_net *net, tri_rtarget *rt) { tri_rtarget_unref(net, rt); }

/* ---- the end ----------------------------------------------------------------------------- */

void tri_client_discard(tr_msg *m)
{
    tri_wire_call call;
    bool is_call = tri_wire_call_of(m, &call);
    if (is_call) /* its callers' gate: the call is done with */
        settle(NULL, ((tri_call_hdr *)call.priv)->rt);
    if (is_call && call.ask) {
        tr_future *f = call.ask;
        tri_wire_ask_taken(f);
        tri_wire_fail(f, TR_ESTOPPED, "the service shut down before %s.%s was sent",
                      tri_wire_gw_name(f), tri_wire_method_name(f));
        tri_wire_future_unref(f, 1);
    } else if (is_call) {
        tri_client_tell_undelivered(NULL, ((tri_call_hdr *)call.priv)->rt, call.method,
                                    TR_ESTOPPED, "the service shut down before it was sent");
        tr_msg_free(m);
    } else if (m->tag == TRI_NET_CONNECT) {
        tri_connect_req *req = tr_msg_data(m);
        tri_wire_fail(req->done, TR_ESTOPPED, "the service is shutting down");
        tr_future_release(req->done);
        tri_rtarget_free(req->rt);
        tr_msg_free(m);
    } else if (m->tag == TRI_NET_RELEASE) {
        tri_rtarget *rt;
        memcpy(&rt, tr_msg_data(m), sizeof rt);
        if (!rt->peer) /* never linked: nobody else frees it */
            tri_rtarget_free(rt);
        tr_msg_free(m);
    }
}
