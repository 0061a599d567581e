/* base/error.c: tr_strerror and tr_errname for every code of the X-macro
 * table, for 0, and for codes outside the table. */
#include <limits.h>
#include <string.h>

#include "common/check.h"
#include "troupe/error.h"

/* The expected names come from the same table, so a code whose row the
 * library maps to the wrong entry (an off-by-one) fails here. */
static const struct {
    int code;
    const char *name;
    const char *text;
} rows[] = {
#define ROW(name, text) {TR_##name, "TR_" #name, text},
    TR_ERRORS(ROW)
#undef ROW
};
#define NROWS (sizeof rows / sizeof rows[0])

Test(error, every_code_named_and_described, .timeout = 5)
{
    cr_assert_eq(NROWS, (size_t)(TR_ERR_END_ - TR_ERR_FIRST_ - 1), "table and enum agree");
    for (size_t i = 0; i < NROWS; i++) {
        int code = rows[i].code;
        cr_assert_lt(code, 0, "codes are negative");
        const char *name = tr_errname(code), *text = tr_strerror(code);
        cr_assert_not_null(name);
        cr_assert_not_null(text);
        cr_assert_str_eq(name, rows[i].name, "name of %d", code);
        cr_assert_str_eq(text, rows[i].text, "text of %s", rows[i].name);
        cr_assert_eq(strncmp(name, "TR_E", 4), 0, "%s starts with TR_E", name);
        cr_assert_gt(strlen(text), 0);
    }
}

Test(error, names_and_texts_distinct, .timeout = 5)
{
    for (size_t i = 0; i < NROWS; i++)
        for (size_t j = i + 1; j < NROWS; j++) {
            cr_assert_neq(rows[i].code, rows[j].code);
            cr_assert_str_neq(tr_errname(rows[i].code), tr_errname(rows[j].code));
            cr_assert_str_neq(tr_strerror(rows[i].code), tr_strerror(rows[j].code));
        }
}

Test(error, zero_is_success, .timeout = 5)
{
    cr_assert_eq(TR_OK, 0);
    cr_assert_str_eq(tr_errname(0), "TR_OK");
    cr_assert_not_null(tr_strerror(0));
    for (size_t i = 0; i < NROWS; i++)
        cr_assert_str_neq(tr_strerror(0), tr_strerror(rows[i].code), "0 reads as an error");
}

Test(error, unknown_codes, .timeout = 5)
{
    /* Outside the table: never NULL, never mistaken for a real code. */
    int unknown[] = {1, 42, -1, TR_ERR_FIRST_, TR_ERR_END_, TR_ERR_FIRST_ - 1, INT_MIN, INT_MAX};
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        int code = unknown[k];
        const char *name = tr_errname(code), *text = tr_strerror(code);
        cr_assert_not_null(name, "name of %d", code);
        cr_assert_not_null(text, "text of %d", code);
        cr_assert_str_neq(name, "TR_OK", "%d named as success", code);
        cr_assert_str_neq(text, tr_strerror(0), "%d described as success", code);
        for (size_t i = 0; i < NROWS; i++) {
            cr_assert_str_neq(name, rows[i].name, "%d named %s", code, rows[i].name);
            cr_assert_str_neq(text, rows[i].text, "%d described as %s", code, rows[i].name);
        }
    }
}

Test(error, check_helpers_report_names, .timeout = 5)
{
    /* The helpers themselves: a passing TC_OK / TC_ERR does not fail. */
    TC_OK(0);
    TC_ERR(TR_EINVAL, TR_EINVAL);
}

Test(error, application_codes, .timeout = 5)
{
    /* TR_EAPP(n): named by n, never one of troupe's, and round-trips. */
    static const int ns[] = {0, 1, 42, 4711, TR_EAPP_MAX};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int code = TR_EAPP(ns[k]);
        char text[64], name[64];
        snprintf(text, sizeof text, "application code %d", ns[k]);
        snprintf(name, sizeof name, "TR_EAPP(%d)", ns[k]);
        cr_assert(TR_IS_EAPP(code), "%d is an application code", code);
        cr_assert_eq(TR_EAPP_NUM(code), ns[k]);
        cr_assert_str_eq(tr_strerror(code), text);
        cr_assert_str_eq(tr_errname(code), name);
        cr_assert_lt(code, TR_ERR_FIRST_, "below troupe's own");
    }
    /* Next to the range: not application codes, and not named as such. */
    static const int outside[] = {TR_EAPP_BASE + 1, TR_EAPP_BASE - TR_EAPP_MAX - 1, -1, -900};
    for (size_t k = 0; k < sizeof outside / sizeof outside[0]; k++) {
        cr_assert(!TR_IS_EAPP(outside[k]), "%d", outside[k]);
        cr_assert_str_eq(tr_strerror(outside[k]), "unknown error code");
        cr_assert_str_eq(tr_errname(outside[k]), "TR_E?");
    }
    /* troupe's own codes stay in the reserved -999..-900. */
    for (size_t i = 0; i < NROWS; i++)
        cr_assert(rows[i].code >= -999 && rows[i].code <= -900, "%s", rows[i].name);
}
