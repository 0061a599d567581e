#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int threshold = TRI_LOG_WARN;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

static void read_threshold(void)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    const char *env = getenv("TROUPE_LOG");
    if (!env)
        return;
    for (int i = 0; i <= TRI_LOG_OFF; i++)
        if (strcasecmp(env, names[i]) == 0)
            threshold = i;
}

int tri_log_enabled(enum tri_log_level lvl)
{
    pthread_once(&threshold_once, read_threshold);
    return (int)lvl >= threshold && lvl != TRI_LOG_OFF;
}

void tri_log(enum tri_log_level lvl, const char *subsys, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    if (!tri_log_enabled(lvl))
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "troupe %s [%s] ", tags[lvl], subsys);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line); /* one call: lines from threads do not interleave */
}
