/*  analytics_report_csv: the monthly report as one CSV text (pure; see
    analytics_report.h and docs/analytics-report.md). UTF-8 with a BOM so
    that Excel reads the Chinese right; CRLF line ends and RFC 4180
    quoting; the title row, then each sheet as a section: a blank line, the
    section's title row, its header row, its rows. Rates are written as
    "50.0%" (Excel reads them as percentages), hours with one decimal.  */
#include "analytics_report.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, size;
} s_buf_t;

static void
s_put (s_buf_t *b, const char *text)
{
    size_t n = strlen (text);
    if (b->len + n + 1 > b->size) {
        b->size = (b->len + n + 1) * 2;
        b->s = realloc (b->s, b->size);
        assert (b->s);
    }
    memcpy (b->s + b->len, text, n + 1);
    b->len += n;
}

//  One field, quoted as needed, after a comma unless first.
static void
s_field (s_buf_t *b, const char *text, bool first)
{
    if (!first)
        s_put (b, ",");
    char *q = analytics_csv_field (text);
    s_put (b, q);
    free (q);
}

static void
s_cell (s_buf_t *b, const analytics_cell_t *c, bool first)
{
    char num[64] = "";
    switch (c->kind) {
        case ANALYTICS_CELL_TEXT:
        case ANALYTICS_CELL_DATE:
        case ANALYTICS_CELL_DATETIME:
            s_field (b, c->s, first);
            return;
        case ANALYTICS_CELL_INT:
            snprintf (num, sizeof num, "%lld", (long long) c->i);
            break;
        case ANALYTICS_CELL_PCT:
            if (!isnan (c->x))
                snprintf (num, sizeof num, "%.1f%%", c->x * 100.0);
            break;
        case ANALYTICS_CELL_HOURS:
            if (!isnan (c->x))
                snprintf (num, sizeof num, "%.1f", c->x);
            break;
        case ANALYTICS_CELL_EMPTY:
            break;
    }
    s_field (b, num, first);
}

char *
analytics_report_csv (const analytics_report_t *r, size_t *len_p)
{
    s_buf_t b = {NULL, 0, 0};
    s_put (&b, "\xEF\xBB\xBF");
    char title[512];
    analytics_report_title (r, title, sizeof title);
    s_field (&b, title, true);
    s_put (&b, "\r\n");
    s_field (&b, "统计期间", true);
    s_field (&b, r->from, false);
    s_field (&b, r->to, false);
    s_put (&b, "\r\n");
    analytics_sheet_t *sheets = analytics_report_sheets (r);
    for (int i = 0; i < ANALYTICS_SHEETS; i++) {
        const analytics_sheet_t *sh = &sheets[i];
        s_put (&b, "\r\n");
        s_field (&b, sh->name, true);
        s_put (&b, "\r\n");
        for (size_t c = 0; c < sh->ncols; c++)
            s_field (&b, sh->header[c], c == 0);
        s_put (&b, "\r\n");
        for (size_t row = 0; row < sh->nrows; row++) {
            for (size_t c = 0; c < sh->ncols; c++)
                s_cell (&b, &sh->cells[row * sh->ncols + c], c == 0);
            s_put (&b, "\r\n");
        }
    }
    analytics_report_sheets_destroy (&sheets);
    if (len_p)
        *len_p = b.len;
    return b.s;
}
