/* troupe: a multithreaded lock-free actor engine with a Flink-style RPC layer.
 * Umbrella header. */
#ifndef TROUPE_H
#define TROUPE_H

#include "troupe/error.h"
#include "troupe/service.h"
#include "troupe/actor.h"
#include "troupe/codec.h"
#include "troupe/future.h"
#include "troupe/gateway.h"
#include "troupe/endpoint.h"
#include "troupe/watch.h"
#include "troupe/supervisor.h"
#include "troupe/remote.h"
#include "troupe/node.h"

#endif
