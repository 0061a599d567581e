/* The descriptor of troupe-node's gateway (tools/tnode.h): one definition
 * that troupe-node, troupe-bench and the tests share. */
#include "tnode.h"

TR_GATEWAY_DEFINE(tnode, TNODE_METHODS)
