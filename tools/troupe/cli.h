/* The troupe command's shared parts (troupe.c, top.c). */
#ifndef TROUPE_CLI_H
#define TROUPE_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "remote/introspect.h"

#define ASK_TIMEOUT_NS (5LL * 1000 * 1000 * 1000)

typedef struct opts {
    const char *cmd;
    char hostport[200];
    char endpoint[TR_ENDPOINT_ID_MAX + 1];
    bool json;
    long count, iterations, interval_ms;
} opts;

typedef struct client {
    tr_service *svc;
    tr_gateway *gw;
} client;

typedef int ask_fn(tr_gateway *gw, const troupe_q *q, int64_t timeout_ns, tr_future **out);

int64_t now_ns(void);
/* Asks one report; on 0, *text is a malloc'd copy. 1 (said on stderr) when
 * the ask failed. */
int ask_text(client *c, ask_fn *fn, const char *format, const char *endpoint, char **text);
/* troupe top (top.c). */
int troupe_top(client *c, const opts *o);

#endif
