#include "troupe/error.h"

#include <stddef.h>

struct err_entry {
    const char *name;
    const char *text;
};

static const struct err_entry table[] = {
#define TR_ERR_ROW_(name, text) {"TR_" #name, text},
    TR_ERRORS(TR_ERR_ROW_)
#undef TR_ERR_ROW_
};

static const struct err_entry *lookup(int code)
{
    if (code <= TR_ERR_FIRST_ || code >= TR_ERR_END_) /* before any arithmetic */
        return NULL;
    return &table[code - (TR_ERR_FIRST_ + 1)];
}

const char *tr_strerror(int code)
{
    if (code == 0)
        return "success";
    const struct err_entry *e = lookup(code);
    return e ? e->text : "unknown error code";
}

const char *tr_errname(int code)
{
    if (code == 0)
        return "TR_OK";
    const struct err_entry *e = lookup(code);
    return e ? e->name : "TR_E?";
}
