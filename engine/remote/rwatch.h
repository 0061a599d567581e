/* Remote death watch: WATCH / UNWATCH / DOWN (PROTOCOL.md, "Death watch").
 *
 * Calling side: a watch on a remote gateway is a node on its peer's list
 * (I/O thread); WATCH goes out once the peer's connection is ready; DOWN
 * fires it. A lost connection holds the peer's watches for the grace
 * period (net->watch_grace_ns) while a timer on the peer redials it: a
 * new connection to the incarnation they were armed on sends them again,
 * one to another incarnation fires them with TR_ERESTARTED, the end of the
 * grace fires them with TR_EUNREACHABLE. The heartbeat timeout, a refused
 * version and shutdown fire them at once (the asks pending on a lost
 * connection always fail at once: S34).
 *
 * Serving side: WATCH makes a local watch (rpc/wire.h) whose callback
 * posts a DOWN request to the I/O thread; the entry lives on a net-wide
 * list until its DOWN is sent, its UNWATCH comes, or its connection closes
 * (then it is cancelled: nothing leaks when the watcher goes). */
#ifndef TRI_REMOTE_RWATCH_H
#define TRI_REMOTE_RWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "remote/client.h"
#include "remote/conn.h"
#include "rpc/wire.h"

/* The transport table's watch / unwatch (any thread). */
int tri_rwatch_watch(tr_gateway *gw, tr_watch *w);
void tri_rwatch_unwatch(tr_gateway *gw, tr_watch *w);

/* The I/O thread. */
void tri_rwatch_request(tri_net *net, tr_msg *m);   /* TRI_NET_WATCH, _UNWATCH, _DOWN */
void tri_rwatch_discard(tr_msg *m);                 /* one posted too late */
uint32_t tri_rwatch_count(const tri_peer *p);
void tri_rwatch_peer_ready(tri_net *net, tri_peer *p);
/* The connection (made at born_ns) went with TR_EUNREACHABLE: true when
 * its watches are held for the grace period (and the redial timer armed),
 * false when the caller fires them (no watches, no grace, stopping).
 * Called again for each failed attempt within the grace: the end stays
 * where it was. */
bool tri_rwatch_hold(tri_net *net, tri_peer *p, const char *why, int64_t born_ns);
/* Fires every watch on p with code, ending any grace period. */
void tri_rwatch_peer_lost(tri_net *net, tri_peer *p, int code, const char *why);
void tri_rwatch_peer_free(tri_peer *p);
enum tri_frame_outcome tri_rwatch_on_down(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                          const uint8_t *body, size_t len, tri_close_info *ci);
enum tri_frame_outcome tri_rwatch_on_watch(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                           const uint8_t *body, size_t len, tri_close_info *ci);
enum tri_frame_outcome tri_rwatch_on_unwatch(tri_net *net, tri_conn *c, const tri_frame_hdr *h,
                                             tri_close_info *ci);
void tri_rwatch_conn_closed(tri_net *net, tri_conn *c);
/* Shutdown / free: every serving-side watch cancelled. */
void tri_rwatch_stop_all(tri_net *net);

#endif
