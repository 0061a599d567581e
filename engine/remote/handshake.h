/* The handshake (S28, S29): HELLO / HELLO_OK check magic and protocol
 * version both ways, then each gateway a client connects is bound with
 * RESOLVE / RESOLVE_OK: the server looks the endpoint id up in its
 * registry (created endpoints count: the handshake is answered before
 * start, S29), checks that it implements a gateway of that name whose
 * declaration has the same fingerprint (frame.h), and gives the
 * connection a slot that later TELL and ASK frames name.
 *
 * Failures name what failed: TR_EVERSION with both versions,
 * TR_ENOENDPOINT with the id and the node, TR_EGATEWAY with the gateway
 * and why (not implemented, or declared differently).
 *
 * I/O thread only. */
#ifndef TRI_REMOTE_HANDSHAKE_H
#define TRI_REMOTE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "remote/conn.h"

typedef struct tri_rtarget tri_rtarget;

/* Client: queues HELLO on a freshly connected outbound connection. */
int tri_handshake_hello(tri_net *net, tri_conn *c);

/* Client: the answer to HELLO. TRI_FRAME_OK once the connection is open;
 * else closes it with TR_EVERSION or TR_EPROTO. */
enum tri_frame_outcome tri_handshake_hello_ok(tri_net *net, tri_conn *c, const uint8_t *body,
                                              size_t len, tri_close_info *ci);

/* Client: queues RESOLVE for rt with correlation id corr. 0 or TR_ENOMEM. */
int tri_handshake_resolve(tri_net *net, tri_conn *c, const tri_rtarget *rt, uint64_t corr);

/* Server: a HELLO on an inbound connection: answers HELLO_OK, or CLOSE
 * with TR_EVERSION and closes. */
enum tri_frame_outcome tri_handshake_on_hello(tri_net *net, tri_conn *c, const uint8_t *body,
                                              size_t len, tri_close_info *ci);

/* Server: a RESOLVE: answers RESOLVE_OK with a slot, or REPLY_ERR. */
enum tri_frame_outcome tri_handshake_on_resolve(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                                const uint8_t *body, size_t len,
                                                tri_close_info *ci);

#endif
