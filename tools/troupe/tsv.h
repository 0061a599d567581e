/* The introspection reports' TSV form (engine/remote/introspect.h), parsed
 * for tables: sections of a title, a header and rows of tab-separated
 * cells. */
#ifndef TROUPE_CLI_TSV_H
#define TROUPE_CLI_TSV_H

#include <stddef.h>
#include <stdio.h>

#define TSV_MAX_COLS 32
#define TSV_MAX_ROWS 4096

typedef struct tsv_section {
    char *title;
    size_t ncols, nrows;
    char *cols[TSV_MAX_COLS];
    char **rows; /* nrows * ncols cells */
} tsv_section;

typedef struct tsv_doc {
    char *text; /* owned copy, cut in place */
    tsv_section sec[16];
    size_t nsec;
} tsv_doc;

/* Parses a copy of text. 0, or -1 when out of memory. */
int tsv_parse(tsv_doc *d, const char *text);
void tsv_free(tsv_doc *d);
/* The section with this title, or NULL. */
const tsv_section *tsv_find(const tsv_doc *d, const char *title);
/* The cell of row r in column `col`, or "" when there is none. */
const char *tsv_cell(const tsv_section *s, size_t r, const char *col);
/* Prints a section aligned: key/value sections as "key  value" lines,
 * tables with a header; `cols` (NULL: all) picks and orders columns,
 * `max_rows` bounds the rows printed. */
void tsv_print(FILE *f, const tsv_section *s, const char *const *cols, size_t max_rows);

#endif
