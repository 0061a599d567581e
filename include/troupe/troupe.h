/** @file
 * troupe: a multithreaded lock-free actor engine with a Flink-style RPC layer.
 * Umbrella header.
 *
 * Names, the same across the headers: tr_<object>_<what>(obj) reads a
 * property (tr_future_code, tr_endpoint_id, tr_service_workers); a struct
 * snapshot is filled through a pointer, tr_<object>_<what>(obj, &out)
 * (tr_service_remote_stats, tr_endpoint_call_stats). retain(NULL) and
 * release(NULL) do nothing; a NULL handle or descriptor given to a call
 * that needs one is TR_EINVAL. */
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
#include "troupe/watch.h"
#include "troupe/supervisor.h"
#include "troupe/stream.h"
#include "troupe/remote.h"
#include "troupe/metrics.h"
#include "troupe/version.h"

#endif
