/** @file
 * troupe: log records, per service.
 *
 * Each service has its own level and sink (tr_service_config's log_level,
 * log_sink, log_arg); two services in one process log independently. The
 * default sink writes one line per record to stderr; the default level is
 * the TROUPE_LOG environment variable's (debug, info, warn, error or off;
 * read at tr_service_create), else warn. */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include "troupe/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How severe a record is; a service drops records below its level. */
typedef enum tr_log_level {
    TR_LOG_DEFAULT = 0, /**< in a configuration: TROUPE_LOG, else TR_LOG_WARN */
    TR_LOG_DEBUG,       /**< the fate of single messages and connections */
    TR_LOG_INFO,        /**< lifecycle events worth knowing (a lost connection) */
    TR_LOG_WARN,        /**< something was dropped or refused (the default level) */
    TR_LOG_ERROR,       /**< troupe could not do what it promised (out of memory) */
    TR_LOG_OFF,         /**< as a level: no records at all */
} tr_log_level;

/** Receives one record: `subsystem` ("service", "endpoint", "future",
 * "remote", ...), `endpoint_id` (the endpoint concerned, or NULL) and the
 * text (one line, no newline). All three strings are valid during the call
 * only. Called on whichever of the service's threads (or the caller's) the
 * event happened, possibly concurrently: the sink must be thread-safe, and
 * must not block for long or call into the same service. */
typedef void tr_log_sink(void *arg, tr_log_level level, const char *subsystem,
                         const char *endpoint_id, const char *text);

/** "debug", "info", "warn", "error", "off" ("default" for TR_LOG_DEFAULT,
 * "?" otherwise); never NULL. */
TR_API const char *tr_log_level_name(tr_log_level level);

/** The sink used when none is configured: "troupe LEVEL [SUBSYSTEM] ID: TEXT"
 * on stderr, one write per record; `arg` is unused. */
TR_API void tr_log_stderr(void *arg, tr_log_level level, const char *subsystem,
                          const char *endpoint_id, const char *text);

#ifdef __cplusplus
}
#endif

#endif
