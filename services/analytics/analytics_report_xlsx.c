/*  analytics_report_xlsx: the monthly report as an Excel workbook
    (libxlsxwriter, Debian's libxlsxwriter-dev). One worksheet per sheet of
    analytics_report_sheets: a title row (the node's name, code and month),
    the period, a bold shaded header row (frozen), then the rows; integers
    as 0, rates as 0.0%, hours as 0.0, dates as yyyy-mm-dd and deadlines as
    yyyy-mm-dd hh:mm (real Excel dates, not text).  */
#include "analytics_report.h"
#include "gz_log.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xlsxwriter.h>

typedef struct {
    lxw_format *title, *header, *text, *integer, *pct, *hours, *date, *datetime;
} s_formats_t;

static void
s_formats (lxw_workbook *wb, s_formats_t *f)
{
    f->title = workbook_add_format (wb);
    format_set_bold (f->title);
    format_set_font_size (f->title, 14);
    f->header = workbook_add_format (wb);
    format_set_bold (f->header);
    format_set_bg_color (f->header, 0xDDEBF7);
    format_set_border (f->header, LXW_BORDER_THIN);
    format_set_align (f->header, LXW_ALIGN_CENTER);
    f->text = workbook_add_format (wb);
    f->integer = workbook_add_format (wb);
    format_set_num_format (f->integer, "0");
    f->pct = workbook_add_format (wb);
    format_set_num_format (f->pct, "0.0%");
    f->hours = workbook_add_format (wb);
    format_set_num_format (f->hours, "0.0");
    f->date = workbook_add_format (wb);
    format_set_num_format (f->date, "yyyy-mm-dd");
    f->datetime = workbook_add_format (wb);
    format_set_num_format (f->datetime, "yyyy-mm-dd hh:mm");
}

//  "YYYY-MM-DD[ HH:MM]" as an Excel date; 0, or -1 when it is not one.
static int
s_datetime (const char *text, lxw_datetime *dt)
{
    memset (dt, 0, sizeof *dt);
    if (!text || sscanf (text, "%4d-%2d-%2d %2d:%2d", &dt->year, &dt->month, &dt->day, &dt->hour,
                         &dt->min) < 3)
        return -1;
    return dt->year >= 1900 && dt->month >= 1 && dt->month <= 12 ? 0 : -1;
}

static void
s_cell (lxw_worksheet *ws, lxw_row_t row, lxw_col_t col, const analytics_cell_t *c,
        const s_formats_t *f)
{
    lxw_datetime dt;
    switch (c->kind) {
        case ANALYTICS_CELL_TEXT:
            worksheet_write_string (ws, row, col, c->s, f->text);
            break;
        case ANALYTICS_CELL_INT:
            worksheet_write_number (ws, row, col, (double) c->i, f->integer);
            break;
        case ANALYTICS_CELL_PCT:
        case ANALYTICS_CELL_HOURS:
            if (!isnan (c->x))
                worksheet_write_number (ws, row, col, c->x,
                                        c->kind == ANALYTICS_CELL_PCT ? f->pct : f->hours);
            break;
        case ANALYTICS_CELL_DATE:
        case ANALYTICS_CELL_DATETIME:
            if (s_datetime (c->s, &dt) == 0)
                worksheet_write_datetime (ws, row, col, &dt,
                                          c->kind == ANALYTICS_CELL_DATE ? f->date : f->datetime);
            else
                worksheet_write_string (ws, row, col, c->s, f->text);
            break;
        case ANALYTICS_CELL_EMPTY:
            break;
    }
}

static void
s_sheet (lxw_workbook *wb, const analytics_report_t *r, const analytics_sheet_t *sh,
         const s_formats_t *f)
{
    lxw_worksheet *ws = workbook_add_worksheet (wb, sh->name);
    char title[512], period[64];
    analytics_report_title (r, title, sizeof title);
    snprintf (period, sizeof period, "统计期间：%s 至 %s", r->from, r->to);
    worksheet_write_string (ws, 0, 0, title, f->title);
    worksheet_write_string (ws, 1, 0, period, f->text);
    for (size_t c = 0; c < sh->ncols; c++) {
        worksheet_set_column (ws, (lxw_col_t) c, (lxw_col_t) c, sh->widths[c], NULL);
        worksheet_write_string (ws, 3, (lxw_col_t) c, sh->header[c], f->header);
    }
    worksheet_freeze_panes (ws, 4, 0);
    for (size_t row = 0; row < sh->nrows; row++)
        for (size_t c = 0; c < sh->ncols; c++)
            s_cell (ws, (lxw_row_t) (4 + row), (lxw_col_t) c, &sh->cells[row * sh->ncols + c], f);
}

int
analytics_report_xlsx (const analytics_report_t *r, const char *path, const char *tmpdir)
{
    lxw_workbook_options options = {.constant_memory = LXW_FALSE, .tmpdir = (char *) tmpdir};
    lxw_workbook *wb = workbook_new_opt (path, &options);
    if (!wb) {
        gz_error ("analytics", "msg=\"cannot create the workbook\" path=\"%s\"", path);
        return -1;
    }
    s_formats_t f;
    s_formats (wb, &f);
    char title[512];
    analytics_report_title (r, title, sizeof title);
    lxw_doc_properties props = {.title = title, .author = "gongzhi", .comments = "一张表"};
    workbook_set_properties (wb, &props);
    analytics_sheet_t *sheets = analytics_report_sheets (r);
    for (int i = 0; i < ANALYTICS_SHEETS; i++)
        s_sheet (wb, r, &sheets[i], &f);
    analytics_report_sheets_destroy (&sheets);
    lxw_error err = workbook_close (wb);
    if (err != LXW_NO_ERROR) {
        gz_error ("analytics", "msg=\"cannot write the workbook\" path=\"%s\" error=\"%s\"", path,
                  lxw_strerror (err));
        return -1;
    }
    return 0;
}
