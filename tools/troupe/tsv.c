/* TSV reports: parsing and aligned printing (tsv.h). */
#include "tsv.h"

#include <stdlib.h>
#include <string.h>

static size_t split(char *line, char **cells, size_t max)
{
    size_t n = 0;
    for (char *p = line; n < max;) {
        cells[n++] = p;
        char *t = strchr(p, '\t');
        if (!t)
            break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

int tsv_parse(tsv_doc *d, const char *text)
{
    memset(d, 0, sizeof *d);
    d->text = strdup(text);
    if (!d->text)
        return -1;
    tsv_section *s = NULL;
    size_t cap = 0;
    for (char *line = d->text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == '#' && line[1] == ' ') {
            if (d->nsec == sizeof d->sec / sizeof d->sec[0])
                break;
            s = &d->sec[d->nsec++];
            s->title = line + 2;
            cap = 0;
            continue;
        }
        if (!s || !*line)
            continue;
        if (!s->ncols) {
            s->ncols = split(line, s->cols, TSV_MAX_COLS);
            continue;
        }
        if (s->nrows == TSV_MAX_ROWS)
            continue;
        if (s->nrows == cap) {
            cap = cap ? cap * 2 : 16;
            char **r = realloc(s->rows, cap * s->ncols * sizeof *r);
            if (!r)
                return -1;
            s->rows = r;
        }
        char **cells = &s->rows[s->nrows * s->ncols];
        size_t n = split(line, cells, s->ncols);
        for (; n < s->ncols; n++)
            cells[n] = "";
        s->nrows++;
    }
    return 0;
}

void tsv_free(tsv_doc *d)
{
    for (size_t i = 0; i < d->nsec; i++)
        free(d->sec[i].rows);
    free(d->text);
    memset(d, 0, sizeof *d);
}

const tsv_section *tsv_find(const tsv_doc *d, const char *title)
{
    for (size_t i = 0; i < d->nsec; i++)
        if (!strcmp(d->sec[i].title, title))
            return &d->sec[i];
    return NULL;
}

static int col_index(const tsv_section *s, const char *col)
{
    for (size_t c = 0; c < s->ncols; c++)
        if (!strcmp(s->cols[c], col))
            return (int)c;
    return -1;
}

const char *tsv_cell(const tsv_section *s, size_t r, const char *col)
{
    int c = s && r < s->nrows ? col_index(s, col) : -1;
    return c < 0 ? "" : s->rows[r * s->ncols + (size_t)c];
}

void tsv_print(FILE *f, const tsv_section *s, const char *const *cols, size_t max_rows)
{
    if (!s)
        return;
    size_t rows = s->nrows < max_rows ? s->nrows : max_rows;
    if (s->ncols == 2 && !strcmp(s->cols[0], "key")) { /* key/value */
        size_t w = 0;
        for (size_t r = 0; r < rows; r++)
            w = strlen(s->rows[r * 2]) > w ? strlen(s->rows[r * 2]) : w;
        for (size_t r = 0; r < rows; r++)
            fprintf(f, "  %-*s  %s\n", (int)w, s->rows[r * 2], s->rows[r * 2 + 1]);
        return;
    }
    int idx[TSV_MAX_COLS];
    size_t n = 0;
    if (cols) {
        for (; cols[n] && n < TSV_MAX_COLS; n++)
            idx[n] = col_index(s, cols[n]);
    } else {
        for (; n < s->ncols; n++)
            idx[n] = (int)n;
    }
    size_t w[TSV_MAX_COLS];
    for (size_t c = 0; c < n; c++) {
        w[c] = idx[c] < 0 ? 1 : strlen(s->cols[idx[c]]);
        for (size_t r = 0; r < rows; r++)
            if (idx[c] >= 0 && strlen(s->rows[r * s->ncols + (size_t)idx[c]]) > w[c])
                w[c] = strlen(s->rows[r * s->ncols + (size_t)idx[c]]);
    }
    for (size_t c = 0; c < n; c++)
        fprintf(f, "%s%-*s", c ? "  " : "", (int)w[c], idx[c] < 0 ? "?" : s->cols[idx[c]]);
    fputc('\n', f);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < n; c++)
            fprintf(f, "%s%-*s", c ? "  " : "", (int)w[c],
                    idx[c] < 0 ? "" : s->rows[r * s->ncols + (size_t)idx[c]]);
        fputc('\n', f);
    }
}
