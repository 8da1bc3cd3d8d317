/*  analytics_report: the monthly 一张表 of a node (a community or a
    sub-district, or any unit of the ladder) as plain data, and the pure
    helpers that shape it: the month's dates, the rates, the children's
    ranks, CSV quoting. Collected by analytics_report_collect
    (analytics_report_collect.c, the database), written by
    analytics_report_xlsx and analytics_report_csv (docs/analytics-report.md).

    Everything here is pure (no database, no I/O), unit-tested in
    tests/unit/test_analytics_report.c.  */
#ifndef ANALYTICS_REPORT_H_INCLUDED
#define ANALYTICS_REPORT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics_fact.h"

#define ANALYTICS_NAME_MAX 208 //  a unit's or building's name (org: at most 200 bytes)

//  One node's numbers over the month: its cohort's counts and the cohort
//  requests not reached whose response deadline has passed.
typedef struct {
    char code[ANALYTICS_CODE_MAX];
    char name[ANALYTICS_NAME_MAX];
    analytics_counts_t c;
    int64_t overdue_unreached;
    bool ranked; //  at least the minimum sample of cohort requests
    int rank[3]; //  response, resolution, satisfaction: 1 = best; 0 = not ranked
} analytics_report_unit_t;

typedef struct {
    char code[64];                 //  the category's code ("noise")
    char name[ANALYTICS_NAME_MAX]; //  its Chinese name ("噪音扰民"), else the code
    int64_t requests;
} analytics_report_volume_t;

typedef struct {
    char building[ANALYTICS_CODE_MAX];
    char building_name[ANALYTICS_NAME_MAX];
    char category[64];
    char category_name[ANALYTICS_NAME_MAX];
    int64_t requests;
} analytics_report_hotspot_t;

typedef struct {
    char request_id[32];
    char category[64];
    char category_name[ANALYTICS_NAME_MAX];
    char building[ANALYTICS_CODE_MAX];
    char building_name[ANALYTICS_NAME_MAX];
    char submitted[11]; //  China-time date filed, YYYY-MM-DD
    char due[17];       //  the resolve deadline, China time, YYYY-MM-DD HH:MM
    int64_t days_overdue;
} analytics_report_overdue_t;

typedef struct {
    char id[32];
    char community[ANALYTICS_CODE_MAX];
    char community_name[ANALYTICS_NAME_MAX];
    char held_on[11]; //  YYYY-MM-DD
    char place[ANALYTICS_NAME_MAX];
    int64_t participants;
    int64_t demands;
} analytics_report_meeting_t;

//  Notify's deliveries that ended in the month under the node, on one
//  channel (its code: "sms", "wechat", ...) or all ("").
typedef struct {
    char channel[24];
    int64_t sent, dead, skipped;
} analytics_report_notify_t;

//  Matching's volunteer service in the month under the node.
typedef struct {
    int64_t needs, offers, accepted, services, minutes, points_earned, points_redeemed;
} analytics_report_volunteer_t;

typedef struct {
    analytics_report_unit_t node; //  the node itself
    char level[16];               //  its level (org.units.level)
    char month[8];                //  YYYY-MM
    char from[11], to[11];        //  the month's first and last day
    char as_of[17];               //  when overdue work was judged (China time)
    int min_sample, hotspot_min;
    analytics_report_unit_t *units; //  the children (communities, grids), ranked
    size_t n_units;
    analytics_report_volume_t *volumes; //  by category, most first
    size_t n_volumes;
    analytics_report_hotspot_t *hotspots;
    size_t n_hotspots;
    analytics_report_overdue_t *overdue; //  most overdue first
    size_t n_overdue;
    analytics_report_meeting_t *meetings; //  by date
    size_t n_meetings;
    analytics_report_notify_t notify;    //  all channels
    analytics_report_notify_t *channels; //  per channel (known channels first)
    size_t n_channels;
    analytics_report_volunteer_t volunteer;
} analytics_report_t;

//  An empty report (every array NULL, counts 0). Free with
//  analytics_report_destroy, which frees the arrays and nulls *self_p.
analytics_report_t *analytics_report_new (void);
void analytics_report_destroy (analytics_report_t **self_p);

//  The month "YYYY-MM" (2000..2100) into its first and last day
//  (YYYY-MM-DD). 0, or -1 when it is not a month.
int analytics_report_month_parse (const char *month, char from[11], char to[11]);

//  The three rates of a unit: response (on time / due), resolution
//  (resolved / requests), satisfaction (satisfied / rated); and the
//  on-time resolution rate. NAN when the denominator is 0.
double analytics_report_rate (const analytics_report_unit_t *u, int which);
#define ANALYTICS_RATE_RESPONSE 0
#define ANALYTICS_RATE_RESOLUTION 1
#define ANALYTICS_RATE_SATISFACTION 2
#define ANALYTICS_RATE_ON_TIME 3

//  Ranks units[0..n) by each of the three rates as the rankings API does:
//  units with at least min_sample cohort requests and a rate get 1 + the
//  number of such units strictly better (ties share a rank); the others 0.
void analytics_report_rank (analytics_report_unit_t *units, size_t n, int min_sample);

//  field as one RFC 4180 CSV field: quoted when it holds a comma, a
//  quote, CR or LF (quotes doubled), else as is (NULL: empty). A heap
//  string the caller frees.
char *analytics_csv_field (const char *field);

//  A notify channel's Chinese name ("sms": "短信"), else the code as is.
const char *analytics_report_channel_label (const char *code);
//  Orders channels: the known ones in a fixed order (短信, 微信, 电子邮件,
//  接口推送, 系统日志), then the others by code.
void analytics_report_channels_sort (analytics_report_notify_t *channels, size_t n);

//  The download's file name for node and month: "report-<node>-<month>.<ext>".
void analytics_report_filename (const char *node, const char *month, const char *ext, char *out,
                                size_t size);

//  The report as sheets of typed cells, the one layout both writers render
//  (the workbook's sheets, the CSV's sections).
typedef enum {
    ANALYTICS_CELL_EMPTY,
    ANALYTICS_CELL_TEXT,
    ANALYTICS_CELL_INT,      //  i
    ANALYTICS_CELL_PCT,      //  x, a ratio shown as 0.0%; NAN: empty
    ANALYTICS_CELL_HOURS,    //  x, shown as 0.0; NAN: empty
    ANALYTICS_CELL_DATE,     //  s, YYYY-MM-DD
    ANALYTICS_CELL_DATETIME, //  s, YYYY-MM-DD HH:MM
} analytics_cell_kind_t;

typedef struct {
    analytics_cell_kind_t kind;
    int64_t i;
    double x;
    char *s; //  TEXT, DATE, DATETIME (owned)
} analytics_cell_t;

typedef struct {
    const char *name;          //  the sheet's (and the section's) title, e.g. "总览"
    size_t ncols;              //  columns
    const char *const *header; //  ncols column titles
    const double *widths;      //  ncols column widths (Excel characters)
    analytics_cell_t *cells;   //  nrows * ncols, row by row
    size_t nrows, cap;
} analytics_sheet_t;

#define ANALYTICS_SHEETS 7 //  总览 分类 排名 热点 超期 逢四说事 通知与志愿服务

//  The report's sheets (an array of ANALYTICS_SHEETS), the caller's: free
//  with analytics_report_sheets_destroy (nulls *sheets_p).
analytics_sheet_t *analytics_report_sheets (const analytics_report_t *r);
void analytics_report_sheets_destroy (analytics_sheet_t **sheets_p);
//  The report's title: "<name>（<code>）<month> 一张表" into out.
void analytics_report_title (const analytics_report_t *r, char *out, size_t size);

//  ---------------------------------------------------------------- analytics_report_csv.c

//  The report as one CSV text (UTF-8 with a BOM, CRLF line ends, RFC 4180
//  quoting; sections with a title row, separated by a blank line). A heap
//  string the caller frees; its length in *len_p.
char *analytics_report_csv (const analytics_report_t *r, size_t *len_p);

//  ---------------------------------------------------------------- analytics_report_xlsx.c

//  Writes the report as an Excel workbook to path (libxlsxwriter; its
//  temporary files in tmpdir, NULL: the system's). 0, or -1 (logged).
int analytics_report_xlsx (const analytics_report_t *r, const char *path, const char *tmpdir);

#endif
