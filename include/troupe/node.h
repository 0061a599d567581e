/** @file
 * troupe: the gateway that troupe-node serves (tools/troupe-node.c),
 * declared here so that any program linked with troupe can call a running
 * node (the benchmark's remote workloads and the tests do):
 *
 *   echo   ASK   tr_bytes -> tr_bytes  the same bytes back
 *   ping   ASK   tr_i64   -> tr_i64    the same number back
 *   sink   TELL  tr_bytes              counted (messages and bytes), dropped
 *   count  ASK   tr_u64   -> tr_u64    answers, with the number of sink
 *                                      messages so far, once there are at
 *                                      least arg of them (0: at once)
 *   bytes  ASK   tr_void  -> tr_u64    bytes received through sink so far
 *
 * The node's endpoint id is TR_NODE_ENDPOINT: connect to
 * "troupe://<host:port>/node" with &tnode_gateway. */
#ifndef TROUPE_NODE_H
#define TROUPE_NODE_H

#include "troupe/export.h"
#include "troupe/gateway.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The id of troupe-node's endpoint. */
#define TR_NODE_ENDPOINT "node"

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
/** Exported from the shared library too (TR_GATEWAY's declaration is plain). */
TR_API extern const tr_gateway_desc tnode_gateway;

#ifdef __cplusplus
}
#endif

#endif
