/* The serving side: inbound calls into endpoints, answers back out.
 *
 * A TELL or ASK frame on an inbound connection names a slot (its RESOLVE,
 * handshake.h) and a method. The I/O thread decodes the argument into the
 * message the endpoint will get (a deep value, as a local call makes: the
 * handler cannot tell the difference) and pushes it into the endpoint's
 * mailbox. Consecutive tells to one slot in one read become one BATCH
 * message (rpc/wire.h's inbox): a burst of tells costs the endpoint one mailbox
 * push and one allocation, not one per tell, and order is kept (anything
 * else to the endpoint flushes the batch first). An ASK's message is a future, as for a local ask; its
 * first continuation, preset here, posts the answered future back to the
 * I/O thread from whichever thread answered it (usually the worker running
 * the handler), and the I/O thread encodes the reply (S25: a result larger
 * than the maximum frame size is refused with TR_EFRAMESIZE instead).
 *
 * The inbound ask's deadline is the asker's timeout (carried in the
 * frame) and a second, on the I/O thread's wheel: the asker times out
 * first and by itself, and this one bounds what the server holds. At
 * shutdown the I/O thread fails those still open (tri_server_stop), so
 * nothing waits forever and a late answer is refused.
 *
 * I/O thread only, but for the continuation. */
#ifndef TRI_REMOTE_SERVER_H
#define TRI_REMOTE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "remote/conn.h"
#include "troupe/actor.h"

/* Hands the tells gathered from the last read to their endpoint (one
 * message for all of them). After every read, and before anything else
 * that must come after them. */
void tri_server_flush(tri_net *net, tri_conn *c);

/* A frame on an inbound connection (PING, PONG, CLOSE handled before). */
enum tri_frame_outcome tri_server_frame(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                        const uint8_t *body, size_t len, tri_close_info *ci);
/* A frame above our limit announced on an inbound connection (S26). */
enum tri_frame_outcome tri_server_oversized(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                            uint64_t size, tri_close_info *ci);
/* TRI_NET_REPLY / TRI_NET_REPLY_CARRIED from the queue: send the answer
 * (or drop it if its connection is gone). */
void tri_server_reply(tri_net *net, tr_msg *m);
/* Drops such a request without sending (after stop). */
void tri_server_discard(tr_msg *m);
/* The connection is going: its credit timer too. */
void tri_server_forget(tri_net *net, tri_conn *c);
/* An inbound connection closes: streams that came on it end (stream.h). */
void tri_server_streams_cut(tri_net *net, tri_conn *c, const tri_close_info *ci);
/* At stop, after the connections closed: fails every inbound ask still
 * unanswered (TR_ESTOPPED). */
void tri_server_stop(tri_net *net);

#endif
