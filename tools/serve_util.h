/* What troupe's server programs (troupe-node, troupe-kv) share: option
 * numbers and the port file. Header-only: each tool is its own binary. */
#ifndef TROUPE_TOOLS_SERVE_UTIL_H
#define TROUPE_TOOLS_SERVE_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A decimal in [min, max] (no sign, nothing after it). */
static inline bool tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || s[0] == '-' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Writes the port to `path` whole: a temporary file renamed into place, so
 * a reader never sees half of it. 0 or -1 (errno). */
static inline int tool_write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", port) > 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

#endif
