/*  matching_csv: the CSV import of volunteers (matching_model.h,
    mt_csv_volunteers_parse): an RFC 4180 reader that knows the physical
    line each record starts on, the header's columns, and every row checked
    with the same field validators as the JSON form (mt_volunteer_set), so
    one run reports every bad row.

    DESIGN: the whole file is in memory (at most MT_CSV_MAX_ROWS rows); one
    record is read at a time into a reused cell array; ids seen so far sit
    in an open-addressing hash (grown at half full) to report duplicates
    with the line of the first.  */
#include "matching_model.h"
#include "gz_text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The reader: where it is and on which physical line.
typedef struct {
    const char *p, *end;
    size_t line;
} s_reader_t;

//  One record: its cells (malloc'd, NUL-terminated, len bytes each; a cell
//  may hold a NUL, which the UTF-8 check refuses) and the line it starts on.
typedef struct {
    char **cells;
    size_t *lens;
    size_t n, cap;
    size_t line;
} s_record_t;

//  The error list and how many did not fit in it.
typedef struct {
    mt_csv_errors_t *list;
    size_t total;
} s_errors_t;

//  The ids seen: slots hold 1 + an index into ids, 0 when empty.
typedef struct {
    size_t *slots, cap;
    char (*ids)[MT_ID_MAX + 1];
    size_t *lines;
    size_t n, ids_cap;
} s_idset_t;

static void
s_report (s_errors_t *e, size_t line, const char *fmt, ...)
{
    e->total++;
    if (e->list->n >= MT_CSV_MAX_ERRORS)
        return;
    char msg[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    size_t size = strlen (msg) + 32;
    char *s = malloc (size);
    assert (s);
    snprintf (s, size, "line %zu: %s", line, msg);
    e->list->lines = realloc (e->list->lines, (e->list->n + 1) * sizeof (char *));
    assert (e->list->lines);
    e->list->lines[e->list->n++] = s;
}

static void
s_record_clear (s_record_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free (r->cells[i]);
    r->n = 0;
}

//  Adds the cell text[0..len), trimmed of spaces and tabs.
static void
s_record_add (s_record_t *r, const char *text, size_t len)
{
    while (len && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->cells = realloc (r->cells, r->cap * sizeof (char *));
        r->lens = realloc (r->lens, r->cap * sizeof (size_t));
        assert (r->cells && r->lens);
    }
    char *cell = malloc (len + 1);
    assert (cell);
    memcpy (cell, text, len);
    cell[len] = '\0';
    r->cells[r->n] = cell;
    r->lens[r->n++] = len;
}

//  Skips the rest of the physical line (after a syntax error).
static void
s_skip_line (s_reader_t *rd)
{
    const char *nl = memchr (rd->p, '\n', (size_t) (rd->end - rd->p));
    rd->p = nl ? nl + 1 : rd->end;
    rd->line++;
}

//  At a line end (LF or CRLF)? Consumes it.
static bool
s_eol (s_reader_t *rd)
{
    if (rd->p < rd->end && *rd->p == '\n') {
        rd->p++, rd->line++;
        return true;
    }
    if (rd->end - rd->p >= 2 && rd->p[0] == '\r' && rd->p[1] == '\n') {
        rd->p += 2, rd->line++;
        return true;
    }
    return false;
}

//  A quoted field starting after its opening quote; its unescaped text is
//  added to r. -1 (reported) when the quote is never closed or text follows
//  it before the separator.
static int
s_quoted (s_reader_t *rd, s_record_t *r, s_errors_t *e)
{
    size_t cap = 64, len = 0;
    char *buf = malloc (cap);
    assert (buf);
    for (;;) {
        if (rd->p >= rd->end) {
            free (buf);
            s_report (e, r->line, "a quoted field is not closed");
            return -1;
        }
        char c = *rd->p++;
        if (c == '"') {
            if (rd->p < rd->end && *rd->p == '"')
                rd->p++;
            else
                break;
        }
        else if (c == '\n')
            rd->line++;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc (buf, cap);
            assert (buf);
        }
        buf[len++] = c;
    }
    s_record_add (r, buf, len);
    free (buf);
    while (rd->p < rd->end && (*rd->p == ' ' || *rd->p == '\t'))
        rd->p++;
    if (rd->p < rd->end && *rd->p != ',' && *rd->p != '\n' &&
        !(rd->end - rd->p >= 2 && rd->p[0] == '\r' && rd->p[1] == '\n')) {
        s_report (e, r->line, "text after the closing quote of field %zu", r->n);
        s_skip_line (rd);
        return -1;
    }
    return 0;
}

//  Reads the next record into r. Returns 1, 0 at the end, -1 after a
//  syntax error (reported; the reader is past the bad record).
static int
s_read_record (s_reader_t *rd, s_record_t *r, s_errors_t *e)
{
    s_record_clear (r);
    while (s_eol (rd)) //  blank lines
        ;
    if (rd->p >= rd->end)
        return 0;
    r->line = rd->line;
    for (;;) {
        const char *q = rd->p;
        while (q < rd->end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < rd->end && *q == '"') {
            rd->p = q + 1;
            if (s_quoted (rd, r, e))
                return -1;
        }
        else {
            const char *a = rd->p;
            while (rd->p < rd->end && *rd->p != ',' && *rd->p != '\n' &&
                   !(rd->end - rd->p >= 2 && rd->p[0] == '\r' && rd->p[1] == '\n'))
                rd->p++;
            s_record_add (r, a, (size_t) (rd->p - a));
        }
        if (rd->p < rd->end && *rd->p == ',') {
            rd->p++;
            continue;
        }
        s_eol (rd);
        return 1;
    }
}

static uint64_t
s_hash (const char *s)
{
    uint64_t h = 1469598103934665603ULL; //  FNV-1a
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    return h;
}

//  Adds id (first seen on line); returns 0, or the line it was first seen on.
static size_t
s_idset_add (s_idset_t *set, const char *id, size_t line)
{
    if (2 * (set->n + 1) > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 1024;
        size_t *slots = calloc (cap, sizeof (size_t));
        assert (slots);
        for (size_t i = 0; i < set->n; i++) {
            size_t k = (size_t) s_hash (set->ids[i]) & (cap - 1);
            while (slots[k])
                k = (k + 1) & (cap - 1);
            slots[k] = i + 1;
        }
        free (set->slots);
        set->slots = slots, set->cap = cap;
    }
    size_t k = (size_t) s_hash (id) & (set->cap - 1);
    for (; set->slots[k]; k = (k + 1) & (set->cap - 1))
        if (strcmp (set->ids[set->slots[k] - 1], id) == 0)
            return set->lines[set->slots[k] - 1];
    if (set->n == set->ids_cap) {
        set->ids_cap = set->ids_cap ? set->ids_cap * 2 : 1024;
        set->ids = realloc (set->ids, set->ids_cap * sizeof *set->ids);
        set->lines = realloc (set->lines, set->ids_cap * sizeof (size_t));
        assert (set->ids && set->lines);
    }
    strcpy (set->ids[set->n], id);
    set->lines[set->n] = line;
    set->slots[k] = ++set->n;
    return 0;
}

//  Maps the header's cells to fields (columns[i] = field of cell i). Returns
//  0, or -1 after reporting every problem of the header.
static int
s_header (const s_record_t *r, int *columns, s_errors_t *e)
{
    size_t before = e->total;
    uint32_t seen = 0;
    for (size_t i = 0; i < r->n; i++) {
        int f = strlen (r->cells[i]) == r->lens[i] ? mt_volunteer_field (r->cells[i]) : -1;
        columns[i] = f;
        if (f < 0)
            s_report (e, r->line,
                      "unknown column '%.64s' (columns: id, name, skills, social_worker, grid, "
                      "lat, lon, availability, max_per_week, state, phone)",
                      r->cells[i]);
        else if (seen & (1u << f))
            s_report (e, r->line, "column '%s' appears twice", r->cells[i]);
        else
            seen |= 1u << f;
    }
    for (size_t f = 0; f < mt_volunteer_field_count (); f++)
        if (mt_volunteer_field_required (f) && !(seen & (1u << f)))
            s_report (e, r->line, "missing column '%s'", mt_volunteer_field_name (f));
    return e->total == before ? 0 : -1;
}

//  Checks one row into v; reports each bad field. Returns 0 when valid.
static int
s_row (const s_record_t *r, const int *columns, size_t n_columns, mt_volunteer_t *v, s_idset_t *ids,
       s_errors_t *e)
{
    if (r->n != n_columns) {
        s_report (e, r->line, "%zu field%s, the header has %zu", r->n, r->n == 1 ? "" : "s",
                  n_columns);
        return -1;
    }
    size_t before = e->total;
    mt_volunteer_init (v);
    uint32_t given = 0;
    char err[256];
    for (size_t i = 0; i < r->n; i++) {
        const char *field = mt_volunteer_field_name ((size_t) columns[i]);
        if (!gz_utf8_valid (r->cells[i], r->lens[i]))
            s_report (e, r->line, "%s: not valid UTF-8 text (or holds a control character)", field);
        else if (!r->cells[i][0] && !mt_volunteer_field_required ((size_t) columns[i]))
            continue;
        else if (mt_volunteer_set (v, field, r->cells[i], err, sizeof err))
            s_report (e, r->line, "%s", err);
        else
            given |= 1u << columns[i];
    }
    if (e->total == before && mt_volunteer_complete (v, given, err, sizeof err))
        s_report (e, r->line, "%s", err);
    v->line = (uint32_t) r->line;
    if (v->id[0]) {
        size_t first = s_idset_add (ids, v->id, r->line);
        if (first)
            s_report (e, r->line, "id: '%s' is also on line %zu", v->id, first);
    }
    return e->total == before ? 0 : -1;
}

size_t
mt_csv_volunteers_parse (const char *text, size_t len, mt_volunteer_t **out, size_t *n,
                         mt_csv_errors_t *errors)
{
    assert (out && n && errors && (text || len == 0));
    *out = NULL, *n = 0;
    errors->lines = NULL, errors->n = 0;
    s_errors_t e = {errors, 0};
    s_reader_t rd = {text, text + len, 1};
    if (len >= 3 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
        rd.p += 3;
    s_record_t r = {0};
    s_idset_t ids = {0};
    int *columns = NULL;
    size_t n_columns = 0, cap = 0, rows = 0;
    mt_volunteer_t *list = NULL;
    int rc = s_read_record (&rd, &r, &e);
    if (rc == 0)
        s_report (&e, 1, "empty file: expected a header line (id,name,skills,grid,availability)");
    if (rc != 1)
        goto done;
    n_columns = r.n;
    columns = malloc (n_columns * sizeof (int));
    assert (columns);
    if (s_header (&r, columns, &e))
        goto done;
    while ((rc = s_read_record (&rd, &r, &e)) != 0) {
        if (++rows > MT_CSV_MAX_ROWS) {
            s_report (&e, r.line, "more than %d rows", MT_CSV_MAX_ROWS);
            break;
        }
        if (rc < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            list = realloc (list, cap * sizeof *list);
            assert (list);
        }
        if (s_row (&r, columns, n_columns, &list[*n], &ids, &e) == 0)
            (*n)++;
    }
    if (rows == 0)
        s_report (&e, 1, "no rows after the header");
done:
    if (e.total > errors->n) {
        size_t more = e.total - errors->n;
        char *s = malloc (64);
        assert (s);
        snprintf (s, 64, "... %zu more errors", more);
        errors->lines = realloc (errors->lines, (errors->n + 1) * sizeof (char *));
        assert (errors->lines);
        errors->lines[errors->n++] = s;
    }
    s_record_clear (&r);
    free (r.cells);
    free (r.lens);
    free (columns);
    free (ids.slots);
    free (ids.ids);
    free (ids.lines);
    if (e.total) {
        free (list);
        *n = 0;
    }
    else
        *out = list;
    return e.total;
}

void
mt_csv_errors_free (mt_csv_errors_t *errors)
{
    if (!errors)
        return;
    for (size_t i = 0; i < errors->n; i++)
        free (errors->lines[i]);
    free (errors->lines);
    errors->lines = NULL;
    errors->n = 0;
}
