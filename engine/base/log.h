/* Logging: one line per event on stderr, with level and subsystem.
 * TROUPE_LOG=debug|info|warn|error|off picks the threshold (default warn);
 * read once per process, as the log sink is process-wide like stderr. */
#ifndef TRI_BASE_LOG_H
#define TRI_BASE_LOG_H

enum tri_log_level { TRI_LOG_DEBUG, TRI_LOG_INFO, TRI_LOG_WARN, TRI_LOG_ERROR, TRI_LOG_OFF };

void tri_log(enum tri_log_level lvl, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tri_log_enabled(enum tri_log_level lvl);

#define TRI_DEBUG(sub, ...) tri_log(TRI_LOG_DEBUG, sub, __VA_ARGS__)
#define TRI_INFO(sub, ...) tri_log(TRI_LOG_INFO, sub, __VA_ARGS__)
#define TRI_WARN(sub, ...) tri_log(TRI_LOG_WARN, sub, __VA_ARGS__)
#define TRI_ERROR(sub, ...) tri_log(TRI_LOG_ERROR, sub, __VA_ARGS__)

#endif
