#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static const char *const level_names[] = {"default", "debug", "info", "warn", "error", "off"};

const char *tr_log_level_name(tr_log_level level)
{
    return (unsigned)level <= TR_LOG_OFF ? level_names[level] : "?";
}

void tr_log_stderr(void *arg, tr_log_level level, const char *subsystem, const char *endpoint_id,
                   const char *text)
{
    (void)arg;
    /* one call: lines from threads do not interleave */
    fprintf(stderr, "troupe %s [%s] %s%s%s\n", tr_log_level_name(level), subsystem,
            endpoint_id ? endpoint_id : "", endpoint_id ? ": " : "", text);
}

void tri_logger_init(tri_logger *lg, tr_log_level level, tr_log_sink *sink, void *arg)
{
    lg->sink = sink ? sink : tr_log_stderr;
    lg->arg = sink ? arg : NULL;
    lg->level = level > TR_LOG_DEFAULT && level <= TR_LOG_OFF ? level : TR_LOG_WARN;
    if (level != TR_LOG_DEFAULT)
        return;
    /* Per service, at create: no process-wide level to guard. */
    const char *env = getenv("TROUPE_LOG");
    if (!env || !*env)
        return;
    for (int i = TR_LOG_DEBUG; i <= TR_LOG_OFF; i++)
        if (strcasecmp(env, level_names[i]) == 0) {
            lg->level = (tr_log_level)i;
            return;
        }
    TRI_WARN(lg, "log", NULL,
             "TROUPE_LOG=\"%.64s\" is not a level (accepted: debug, info, warn, error, off); "
             "using warn", env);
}

void tri_log(const tri_logger *lg, tr_log_level lvl, const char *subsys, const char *endpoint_id,
             const char *fmt, ...)
{
    if (!tri_log_enabled(lg, lvl))
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (lg)
        lg->sink(lg->arg, lvl, subsys, endpoint_id, text);
    else
        tr_log_stderr(NULL, lvl, subsys, endpoint_id, text);
}
