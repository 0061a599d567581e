/* The handshake: HELLO both ways, RESOLVE on the server (handshake.h). */
#include "remote/handshake.h"

#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "remote/client.h"
#include "remote/net.h"
#include "rpc/wire.h"
#include "troupe/error.h"

/* The most slots one connection may bind: a client resolving without end
 * is refused rather than allowed to grow the table. */
#define MAX_SLOTS 65536u

static uint32_t wire_max_frame(const tri_net *net)
{
    return net->max_frame > UINT32_MAX ? UINT32_MAX : (uint32_t)net->max_frame;
}

int tri_handshake_hello(tri_net *net, tri_conn *c)
{
    uint8_t body[TRI_FRAME_HELLO_BODY];
    tri_hello_put(body, TRI_PROTOCOL_VERSION, wire_max_frame(net), net->incarnation);
    return tri_conn_put_frame(net, c, TRI_F_HELLO, 0, body, sizeof body);
}

enum tri_frame_outcome tri_handshake_hello_ok(tri_net *net, tri_conn *c, const uint8_t *body,
                                              size_t len, tri_close_info *ci)
{
    (void)net;
    tri_hello h;
    if (tri_hello_get(body, len, &h))
        return tri_close_with(ci, TR_EPROTO, true,
                              "%s answered HELLO with a HELLO_OK that does not parse (not a "
                              "troupe node?)",
                              c->name);
    if (h.version != TRI_PROTOCOL_VERSION)
        return tri_close_with(ci, TR_EVERSION, false,
                              "protocol version mismatch: this service speaks version %u, %s "
                              "speaks version %u",
                              TRI_PROTOCOL_VERSION, c->name, h.version);
    c->peer_max_frame = h.max_frame;
    c->peer_incarnation = h.incarnation;
    c->state = TRI_CONN_OPEN;
    return TRI_FRAME_OK;
}

int tri_handshake_resolve(tri_net *net, tri_conn *c, const tri_rtarget *rt, uint64_t corr)
{
    tri_resolve r = {.id = rt->id,
                     .id_len = rt->id_len,
                     .gateway = rt->desc->name,
                     .gateway_len = strlen(rt->desc->name),
                     .fingerprint = rt->fingerprint,
                     .nmethods = (uint16_t)rt->desc->nmethods};
    size_t body = tri_resolve_size(r.id_len, r.gateway_len);
    uint8_t *p = tri_conn_reserve(c, TRI_FRAME_HDR + body);
    if (!p)
        return TR_ENOMEM;
    tri_frame_put_hdr(p, TRI_F_RESOLVE, 0, 0, 0, corr, body);
    tri_resolve_put(p + TRI_FRAME_HDR, &r);
    tri_conn_commit(net, c, TRI_FRAME_HDR + body);
    return 0;
}

enum tri_frame_outcome tri_handshake_on_hello(tri_net *net, tri_conn *c, const uint8_t *body,
                                              size_t len, tri_close_info *ci)
{
    tri_hello h;
    if (tri_hello_get(body, len, &h))
        return tri_close_with(ci, TR_EPROTO, true, "a HELLO that does not parse (wrong magic "
                              "or size: not a troupe client?)");
    if (h.version != TRI_PROTOCOL_VERSION) {
        /* Say why before closing, so the client can name both versions. */
        tri_conn_put_error(net, c, TRI_F_CLOSE, 0, TR_EVERSION,
                           "protocol version mismatch: the client speaks version %u, this node "
                           "(%s) speaks version %u",
                           h.version, net->bound, TRI_PROTOCOL_VERSION);
        return tri_close_with(ci, TR_EVERSION, false,
                              "protocol version mismatch: %s speaks version %u, this service "
                              "version %u",
                              c->name, h.version, TRI_PROTOCOL_VERSION);
    }
    uint8_t ok[TRI_FRAME_HELLO_BODY];
    tri_hello_put(ok, TRI_PROTOCOL_VERSION, wire_max_frame(net), net->incarnation);
    if (tri_conn_put_frame(net, c, TRI_F_HELLO_OK, 0, ok, sizeof ok))
        return tri_close_with(ci, TR_ENOMEM, false, "out of memory answering HELLO");
    c->peer_max_frame = h.max_frame;
    c->peer_incarnation = h.incarnation; /* the streams it opens name it (stream.h) */
    c->state = TRI_CONN_OPEN;
    /* release: pairs with tr_service_connections' acquire. */
    atomic_store_explicit(&c->m_open, 1, memory_order_release);
    tri_wheel_cancel(&net->wheel, &c->timer); /* the handshake deadline */
    tri_net_add(&net->ctr.connections_accepted, 1);
    return TRI_FRAME_OK;
}

/* The slot for t: an existing live one, or a new one that takes the
 * reference the lookup gave (a dead slot is never given again: a client
 * may still be sending to it). */
static int bind_slot(tri_conn *c, const tri_wire_target *t, uint32_t *slot)
{
    for (uint32_t i = 0; i < c->nslots; i++) {
        if (c->slots[i].ep == t->ep && c->slots[i].impl_index == t->impl) {
            tri_wire_endpoint_release(t->ep); /* the slot holds one already */
            *slot = i;
            return 0;
        }
    }
    if (c->nslots == MAX_SLOTS)
        return TR_EBUSY;
    char *id = tri_strdup(tri_wire_endpoint_id(t->ep));
    if (!id)
        return TR_ENOMEM;
    if (c->nslots == c->cap_slots) {
        uint32_t cap = c->cap_slots ? c->cap_slots * 2 : 8;
        tri_slot *s = tri_realloc(c->slots, (size_t)c->cap_slots * sizeof *s, (size_t)cap * sizeof *s);
        if (!s) {
            tri_free(id, strlen(id) + 1);
            return TR_ENOMEM;
        }
        c->slots = s;
        c->cap_slots = cap;
    }
    c->slots[c->nslots] = (tri_slot){.ep = t->ep, .impl_index = (uint8_t)t->impl, .desc = t->desc, .id = id};
    *slot = c->nslots++;
    return 0;
}

enum tri_frame_outcome tri_handshake_on_resolve(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                                const uint8_t *body, size_t len,
                                                tri_close_info *ci)
{
    tri_resolve r;
    if (tri_resolve_get(body, len, &r))
        return tri_close_with(ci, TR_EPROTO, true, "a RESOLVE that does not parse");
    tri_wire_target t;
    char why[200];
    int rv = tri_wire_resolve(net->svc, r.id, r.id_len, r.gateway, r.gateway_len, &t, why,
                              sizeof why);
    if (rv == TR_ENOENDPOINT || rv == TR_ESTOPPED) {
        rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_ENOENDPOINT,
                                "no endpoint \"%.*s\" at troupe://%s (%s)", (int)r.id_len, r.id,
                                net->bound, why);
    } else if (rv) {
        rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, rv, "%s at troupe://%s", why,
                                net->bound);
    } else if (tri_gateway_fingerprint(t.desc) != r.fingerprint ||
               t.desc->nmethods != r.nmethods) {
        /* S29: created but not started still resolves; calls then fail
         * with TR_ENOTSTARTED in the endpoint, as locally. */
        rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, TR_EGATEWAY,
                                "endpoint %s at troupe://%s implements gateway %.*s with another "
                                "declaration (%zu methods here, %u in the caller's; or their "
                                "names or types differ)",
                                tri_wire_endpoint_id(t.ep), net->bound, (int)r.gateway_len,
                                r.gateway, t.desc->nmethods, r.nmethods);
        tri_wire_endpoint_release(t.ep);
    } else {
        uint32_t slot;
        int brv = bind_slot(c, &t, &slot);
        if (brv) {
            rv = tri_conn_put_error(net, c, TRI_F_REPLY_ERR, h->corr, brv,
                                    "cannot bind endpoint %s on this connection: %s",
                                    tri_wire_endpoint_id(t.ep), tr_strerror(brv));
            tri_wire_endpoint_release(t.ep);
        } else {
            uint8_t ok[12]; /* version 2: the slot, then its initial credit */
            tri_put_u32(ok, slot);
            tri_put_u32(ok + 4, net->credit_calls);
            tri_put_u32(ok + 8, net->credit_bytes);
            rv = tri_conn_put_frame(net, c, TRI_F_RESOLVE_OK, h->corr, ok, sizeof ok);
        }
    }
    return rv ? tri_close_with(ci, TR_ENOMEM, false, "out of memory") : TRI_FRAME_OK;
}
