/* troupe: a multithreaded lock-free actor engine with a Flink-style RPC layer.
 * Umbrella header. */
#ifndef TROUPE_H
#define TROUPE_H
/* The behaviour items the headers cite (S1-S36) are defined in
 * engine/SEMANTICS.md of the source tree. */

#include "troupe/error.h"
#include "troupe/service.h"
#include "troupe/actor.h"
#include "troupe/codec.h"
#include "troupe/future.h"
#include "troupe/gateway.h"
#include "troupe/endpoint.h"
#include "troupe/remote.h"
#include "troupe/node.h"

#endif
