/* Logging: records go to the logger of the service they concern (its level
 * and sink, include/troupe/log.h). A NULL logger (code with no service at
 * hand, e.g. process-wide set-up) means stderr at warn. */
#ifndef TRI_BASE_LOG_H
#define TRI_BASE_LOG_H

#include <stddef.h>

#include "troupe/log.h"

/* Written once by tri_logger_init before the service is shared, then only
 * read: no synchronisation needed. */
typedef struct tri_logger {
    tr_log_level level; /* never TR_LOG_DEFAULT once initialised */
    tr_log_sink *sink;  /* never NULL once initialised */
    void *arg;
} tri_logger;

/* Fills `lg` from a configuration's level, sink and arg. With level
 * TR_LOG_DEFAULT it reads TROUPE_LOG; an unknown value leaves the level at
 * warn and is logged (a warning naming it and the accepted values). */
void tri_logger_init(tri_logger *lg, tr_log_level level, tr_log_sink *sink, void *arg);

void tri_log(const tri_logger *lg, tr_log_level lvl, const char *subsys, const char *endpoint_id,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline int tri_log_enabled(const tri_logger *lg, tr_log_level lvl)
{
    return lvl >= (lg ? lg->level : TR_LOG_WARN) && lvl < TR_LOG_OFF;
}

/* TRI_WARN(logger, subsystem, endpoint id or NULL, printf format, ...) */
#define TRI_DEBUG(lg, sub, ep, ...) tri_log(lg, TR_LOG_DEBUG, sub, ep, __VA_ARGS__)
#define TRI_INFO(lg, sub, ep, ...) tri_log(lg, TR_LOG_INFO, sub, ep, __VA_ARGS__)
#define TRI_WARN(lg, sub, ep, ...) tri_log(lg, TR_LOG_WARN, sub, ep, __VA_ARGS__)
#define TRI_ERROR(lg, sub, ep, ...) tri_log(lg, TR_LOG_ERROR, sub, ep, __VA_ARGS__)

#endif
