/* An already-connected socket handed to a service as an inbound
 * connection, as if its listener had accepted it.
 *
 * Internal, for tests and fuzzing (tests/fuzz/fuzz_server.c feeds a
 * server through a socketpair, with no TCP port, connect or accept per
 * input); not public API. The connection is then served like any other:
 * HELLO first, the handshake deadline, the limits (max_connections
 * counts it), S36's close on garbage. */
#ifndef TRI_REMOTE_ADOPT_H
#define TRI_REMOTE_ADOPT_H

#include "troupe/actor.h"
#include "troupe/service.h"

typedef struct tri_net tri_net;

/* Hands fd (connected, any stream socket; made non-blocking here) to
 * svc's I/O thread, which owns it from then on, whatever happens (it is
 * closed with the connection, or at once when refused). `name` names the
 * other side in messages. Any thread but the I/O thread. 0; TR_ESTOPPED
 * when svc's network layer is not running (fd is closed); TR_ENOMEM. */
int tri_net_adopt(tr_service *svc, int fd, const char *name);

/* The I/O thread's side: TRI_NET_ADOPT from its queue. */
void tri_net_adopted(tri_net *net, tr_msg *m);
/* Drops that request after stop: closes the fd. */
void tri_net_adopt_discard(tr_msg *m);

#endif
