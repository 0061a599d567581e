/* The descriptor of troupe-node's gateway (include/troupe/node.h), in the
 * library so that every client shares the one definition. */
#include "troupe/node.h"

TR_GATEWAY_DEFINE(tnode, TNODE_METHODS)
