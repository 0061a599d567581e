/* The calling side's connections: one peer per remote "host:port" this
 * service calls, its one outbound connection at a time, the handshake's
 * deadline, liveness pings, loss (S34), and the end of it all. The calls
 * and the backlog they wait in are client.h's.
 *
 * I/O thread only. */
#ifndef TRI_REMOTE_PEER_H
#define TRI_REMOTE_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "remote/client.h"
#include "remote/conn.h"

/* The peer for rt's host:port (made if new); NULL when out of memory. */
tri_peer *tri_peer_of(tri_net *net, const tri_rtarget *rt);
/* Starts connecting p (if it has no connection); failing at once fails
 * its backlog. */
void tri_peer_connect(tri_net *net, tri_peer *p);
/* The answer to HELLO: the peer is ready, its backlog drains. */
enum tri_frame_outcome tri_peer_hello_ok(tri_net *net, tri_conn *c, const uint8_t *body,
                                         size_t len, tri_close_info *ci);

/* An outbound connection finished its TCP connect. */
enum tri_frame_outcome tri_peer_connected(tri_net *net, tri_conn *c, tri_close_info *ci);
/* The connection is closing (S34): fail what waited on it. */
void tri_peer_lost(tri_net *net, tri_conn *c, const tri_close_info *ci);
/* A liveness tick of an open outbound connection (its timer fired). */
void tri_peer_tick(tri_net *net, tri_conn *c);

/* Closes the connections of peers no gateway points at any more (after a
 * loop turn in which a target went). */
void tri_peer_sweep(tri_net *net);

/* Shutdown: every pending ask and backlog entry fails with TR_ESTOPPED. */
void tri_peer_stop_all(tri_net *net);
/* Frees every peer and target (the net is going away). */
void tri_peer_free_all(tri_net *net);

#endif
