/* The gateway that troupe-node serves (tools/troupe-node.c), for the
 * programs built with it that call a running node: troupe-bench's remote
 * workloads and the tests (CMakeLists.txt compiles tools/tnode.c into each).
 * It is not part of the library: another program declares the same
 * gateway itself (README, "Remote endpoints"):
 *
 *   echo   ASK   tr_bytes -> tr_bytes  the same bytes back
 *   ping   ASK   tr_i64   -> tr_i64    the same number back
 *   sink   TELL  tr_bytes              counted (messages and bytes), dropped
 *   count  ASK   tr_u64   -> tr_u64    answers, with the number of sink
 *                                      messages so far, once there are at
 *                                      least arg of them (0: at once)
 *   bytes  ASK   tr_void  -> tr_u64    bytes received through sink so far
 *
 * The node's endpoint id is TNODE_ENDPOINT: connect to
 * "troupe://<host:port>/node" with &tnode_gateway. */
#ifndef TROUPE_TOOLS_TNODE_H
#define TROUPE_TOOLS_TNODE_H

#include "troupe/gateway.h"

#define TNODE_ENDPOINT "node"

/** troupe-node's gateway `tnode`: echo (the bytes back), ping (the number
 * back), sink (tells, counted), count (answers once that many sink tells
 * have arrived), bytes (payload bytes sunk so far). */
#define TNODE_METHODS(M)                                                      \
    M(tnode, echo, tr_bytes, tr_bytes, ASK)                                   \
    M(tnode, ping, tr_i64, tr_i64, ASK)                                       \
    M(tnode, sink, tr_bytes, tr_void, TELL)                                   \
    M(tnode, count, tr_u64, tr_u64, ASK)                                      \
    M(tnode, bytes, tr_void, tr_u64, ASK)
TR_GATEWAY(tnode, TNODE_METHODS)

#ifdef __cplusplus
}
#endif

#endif
