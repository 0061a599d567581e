#include "troupe/error.h"

#include <stddef.h>
#include <stdio.h>

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

_Static_assert(TR_ERR_END_ <= -900, "troupe's own codes stay in -999..-900 (error.h)");

/* Per thread, so the text of an application code needs no lock. */
static _Thread_local char app_text[32], app_name[32];

const char *tr_strerror(int code)
{
    if (code == 0)
        return "success";
    if (TR_IS_EAPP(code)) {
        snprintf(app_text, sizeof app_text, "application code %d", TR_EAPP_NUM(code));
        return app_text;
    }
    const struct err_entry *e = lookup(code);
    return e ? e->text : "unknown error code";
}

const char *tr_errname(int code)
{
    if (code == 0)
        return "TR_OK";
    if (TR_IS_EAPP(code)) {
        snprintf(app_name, sizeof app_name, "TR_EAPP(%d)", TR_EAPP_NUM(code));
        return app_name;
    }
    const struct err_entry *e = lookup(code);
    return e ? e->name : "TR_E?";
}
