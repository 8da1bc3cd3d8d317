/*  analytics_report: the monthly report's data and its pure helpers (see
    analytics_report.h; tested in tests/unit/test_analytics_report.c).  */
#include "analytics_report.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

analytics_report_t *
analytics_report_new (void)
{
    analytics_report_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
analytics_report_destroy (analytics_report_t **self_p)
{
    assert (self_p);
    analytics_report_t *self = *self_p;
    if (!self)
        return;
    free (self->units);
    free (self->volumes);
    free (self->hotspots);
    free (self->overdue);
    free (self->meetings);
    free (self->channels);
    free (self);
    *self_p = NULL;
}

int
analytics_report_month_parse (const char *month, char from[11], char to[11])
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m;
    char tail;
    if (!month || strlen (month) != 7 || month[4] != '-' ||
        sscanf (month, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 2000 || y > 2100 || m < 1 || m > 12)
        return -1;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (month[i] < '0' || month[i] > '9'))
            return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int last = days[m - 1] + (m == 2 && leap);
    snprintf (from, 11, "%04d-%02d-01", y, m);
    snprintf (to, 11, "%04d-%02d-%02d", y, m, last);
    return 0;
}

static double
s_ratio (int64_t a, int64_t b)
{
    return b > 0 ? (double) a / (double) b : NAN;
}

double
analytics_report_rate (const analytics_report_unit_t *u, int which)
{
    const analytics_counts_t *c = &u->c;
    switch (which) {
        case ANALYTICS_RATE_RESPONSE:
            return s_ratio (c->reached_on_time, c->reached + u->overdue_unreached);
        case ANALYTICS_RATE_RESOLUTION:
            return s_ratio (c->resolved, c->requests);
        case ANALYTICS_RATE_SATISFACTION:
            return s_ratio (c->satisfied, c->rated);
        case ANALYTICS_RATE_ON_TIME:
            return s_ratio (c->resolved_on_time, c->requests);
        default:
            assert (false);
            return NAN;
    }
}

void
analytics_report_rank (analytics_report_unit_t *units, size_t n, int min_sample)
{
    for (size_t i = 0; i < n; i++)
        units[i].ranked = units[i].c.requests >= min_sample;
    for (int w = 0; w < 3; w++)
        for (size_t i = 0; i < n; i++) {
            double rate = analytics_report_rate (&units[i], w);
            units[i].rank[w] = 0;
            if (!units[i].ranked || isnan (rate))
                continue;
            int better = 0;
            for (size_t k = 0; k < n; k++) {
                double other = analytics_report_rate (&units[k], w);
                if (k != i && units[k].ranked && !isnan (other) && other > rate)
                    better++;
            }
            units[i].rank[w] = better + 1;
        }
}

char *
analytics_csv_field (const char *field)
{
    const char *f = field ? field : "";
    bool quote = strpbrk (f, ",\"\r\n") != NULL;
    size_t n = strlen (f), quotes = 0;
    for (const char *p = f; *p; p++)
        quotes += *p == '"';
    char *out = malloc (n + (quote ? quotes + 3 : 1));
    assert (out);
    char *at = out;
    if (quote)
        *at++ = '"';
    for (const char *p = f; *p; p++) {
        if (*p == '"')
            *at++ = '"';
        *at++ = *p;
    }
    if (quote)
        *at++ = '"';
    *at = 0;
    return out;
}

//  Notify's channels (services/notify/notify_channel.c) in the order the
//  report lists them.
static const struct {
    const char *code, *label;
} s_channels[] = {
    {"sms", "短信"},         {"wechat", "微信"},  {"email", "电子邮件"},
    {"webhook", "接口推送"}, {"log", "系统日志"},
};
#define S_CHANNELS (sizeof s_channels / sizeof s_channels[0])

static size_t
s_channel_index (const char *code)
{
    size_t i = 0;
    while (i < S_CHANNELS && strcmp (s_channels[i].code, code) != 0)
        i++;
    return i;
}

const char *
analytics_report_channel_label (const char *code)
{
    size_t i = s_channel_index (code);
    return i < S_CHANNELS ? s_channels[i].label : code;
}

static int
s_channel_cmp (const void *a, const void *b)
{
    const analytics_report_notify_t *x = a, *y = b;
    size_t i = s_channel_index (x->channel), k = s_channel_index (y->channel);
    if (i != k)
        return i < k ? -1 : 1;
    return strcmp (x->channel, y->channel);
}

void
analytics_report_channels_sort (analytics_report_notify_t *channels, size_t n)
{
    if (n > 1)
        qsort (channels, n, sizeof *channels, s_channel_cmp);
}

void
analytics_report_filename (const char *node, const char *month, const char *ext, char *out,
                           size_t size)
{
    snprintf (out, size, "report-%s-%s.%s", node, month, ext);
}

void
analytics_report_title (const analytics_report_t *r, char *out, size_t size)
{
    snprintf (out, size, "%s（%s）%s 一张表", r->node.name, r->node.code, r->month);
}

//  ---------------------------------------------------------------- sheets

//  A new row's cells (all empty).
static analytics_cell_t *
s_row (analytics_sheet_t *sh)
{
    if (sh->nrows == sh->cap) {
        sh->cap = sh->cap ? sh->cap * 2 : 16;
        sh->cells = realloc (sh->cells, sh->cap * sh->ncols * sizeof *sh->cells);
        assert (sh->cells);
    }
    analytics_cell_t *row = &sh->cells[sh->nrows++ * sh->ncols];
    memset (row, 0, sh->ncols * sizeof *row);
    return row;
}

static void
s_text (analytics_cell_t *c, analytics_cell_kind_t kind, const char *text)
{
    c->kind = kind;
    c->s = strdup (text ? text : "");
    assert (c->s);
}

static void
s_int (analytics_cell_t *c, int64_t v)
{
    c->kind = ANALYTICS_CELL_INT;
    c->i = v;
}

static void
s_real (analytics_cell_t *c, analytics_cell_kind_t kind, double v)
{
    c->kind = kind;
    c->x = v;
}

//  A row of 总览: label and a count, a rate or hours.
static void
s_line (analytics_sheet_t *sh, const char *label, analytics_cell_kind_t kind, int64_t i, double x)
{
    analytics_cell_t *row = s_row (sh);
    s_text (&row[0], ANALYTICS_CELL_TEXT, label);
    if (kind == ANALYTICS_CELL_INT)
        s_int (&row[1], i);
    else
        s_real (&row[1], kind, x);
}

static void
s_overview (analytics_sheet_t *sh, const analytics_report_t *r)
{
    const analytics_report_unit_t *u = &r->node;
    const analytics_counts_t *c = &u->c;
    const analytics_cell_kind_t N = ANALYTICS_CELL_INT, P = ANALYTICS_CELL_PCT,
                                H = ANALYTICS_CELL_HOURS;
    s_line (sh, "受理诉求（件）", N, c->requests, 0);
    s_line (sh, "响应率", P, 0, analytics_report_rate (u, ANALYTICS_RATE_RESPONSE));
    s_line (sh, "按时响应（件）", N, c->reached_on_time, 0);
    s_line (sh, "应响应（件）", N, c->reached + u->overdue_unreached, 0);
    s_line (sh, "解决率", P, 0, analytics_report_rate (u, ANALYTICS_RATE_RESOLUTION));
    s_line (sh, "已解决（件）", N, c->resolved, 0);
    s_line (sh, "按时解决（件）", N, c->resolved_on_time, 0);
    s_line (sh, "按时解决率", P, 0, analytics_report_rate (u, ANALYTICS_RATE_ON_TIME));
    s_line (sh, "满意率", P, 0, analytics_report_rate (u, ANALYTICS_RATE_SATISFACTION));
    s_line (sh, "满意（件）", N, c->satisfied, 0);
    s_line (sh, "已评价（件）", N, c->rated, 0);
    s_line (sh, "升级（件）", N, c->escalated, 0);
    s_line (sh, "重新打开（件）", N, c->reopened, 0);
    s_line (sh, "重开率", P, 0, s_ratio (c->reopened, c->requests));
    s_line (sh, "合并重复（件）", N, c->merged, 0);
    s_line (sh, "无效（件）", N, c->invalid, 0);
    s_line (sh, "矛盾纠纷（件）", N, c->disputes, 0);
    s_line (sh, "矛盾纠纷化解率", P, 0, s_ratio (c->disputes_resolved, c->disputes));
    s_line (sh, "首次联系时长中位数（小时）", H, 0, analytics_hist_quantile (c->contact_hist, 0.5));
    s_line (sh, "首次联系时长P90（小时）", H, 0, analytics_hist_quantile (c->contact_hist, 0.9));
    s_line (sh, "解决时长中位数（小时）", H, 0, analytics_hist_quantile (c->resolve_hist, 0.5));
    s_line (sh, "解决时长P90（小时）", H, 0, analytics_hist_quantile (c->resolve_hist, 0.9));
    s_line (sh, "超期未办结（件）", N, (int64_t) r->n_overdue, 0);
    s_line (sh, "逢四说事（场）", N, (int64_t) r->n_meetings, 0);
}

static void
s_categories (analytics_sheet_t *sh, const analytics_report_t *r)
{
    for (size_t i = 0; i < r->n_volumes; i++) {
        analytics_cell_t *row = s_row (sh);
        s_text (&row[0], ANALYTICS_CELL_TEXT, r->volumes[i].name);
        s_text (&row[1], ANALYTICS_CELL_TEXT, r->volumes[i].code);
        s_int (&row[2], r->volumes[i].requests);
        s_real (&row[3], ANALYTICS_CELL_PCT, s_ratio (r->volumes[i].requests, r->node.c.requests));
    }
}

static void
s_ranking (analytics_sheet_t *sh, const analytics_report_t *r)
{
    for (size_t i = 0; i < r->n_units; i++) {
        const analytics_report_unit_t *u = &r->units[i];
        analytics_cell_t *row = s_row (sh);
        s_text (&row[0], ANALYTICS_CELL_TEXT, u->name);
        s_text (&row[1], ANALYTICS_CELL_TEXT, u->code);
        s_int (&row[2], u->c.requests);
        for (int w = 0; w < 3; w++) {
            s_real (&row[3 + 2 * w], ANALYTICS_CELL_PCT, analytics_report_rate (u, w));
            if (u->rank[w] > 0)
                s_int (&row[4 + 2 * w], u->rank[w]);
        }
        s_text (&row[9], ANALYTICS_CELL_TEXT, u->ranked ? "是" : "否（样本不足）");
    }
}

static void
s_hotspots (analytics_sheet_t *sh, const analytics_report_t *r)
{
    for (size_t i = 0; i < r->n_hotspots; i++) {
        const analytics_report_hotspot_t *h = &r->hotspots[i];
        analytics_cell_t *row = s_row (sh);
        s_text (&row[0], ANALYTICS_CELL_TEXT, h->building_name);
        s_text (&row[1], ANALYTICS_CELL_TEXT, h->building);
        s_text (&row[2], ANALYTICS_CELL_TEXT, h->category_name);
        s_int (&row[3], h->requests);
    }
}

static void
s_overdue (analytics_sheet_t *sh, const analytics_report_t *r)
{
    for (size_t i = 0; i < r->n_overdue; i++) {
        const analytics_report_overdue_t *o = &r->overdue[i];
        analytics_cell_t *row = s_row (sh);
        s_text (&row[0], ANALYTICS_CELL_TEXT, o->request_id);
        s_text (&row[1], ANALYTICS_CELL_TEXT, o->category_name);
        s_text (&row[2], ANALYTICS_CELL_TEXT, o->building_name);
        s_text (&row[3], ANALYTICS_CELL_TEXT, o->building);
        s_text (&row[4], ANALYTICS_CELL_DATE, o->submitted);
        s_text (&row[5], ANALYTICS_CELL_DATETIME, o->due);
        s_int (&row[6], o->days_overdue);
    }
}

static void
s_meetings (analytics_sheet_t *sh, const analytics_report_t *r)
{
    for (size_t i = 0; i < r->n_meetings; i++) {
        const analytics_report_meeting_t *m = &r->meetings[i];
        analytics_cell_t *row = s_row (sh);
        s_text (&row[0], ANALYTICS_CELL_TEXT, m->id);
        s_text (&row[1], ANALYTICS_CELL_TEXT, m->community_name);
        s_text (&row[2], ANALYTICS_CELL_DATE, m->held_on);
        s_text (&row[3], ANALYTICS_CELL_TEXT, m->place);
        s_int (&row[4], m->participants);
        s_int (&row[5], m->demands);
    }
}

//  A row of 通知与志愿服务: what, the measure and a count (or hours).
static void
s_item (analytics_sheet_t *sh, const char *what, const char *label, analytics_cell_kind_t kind,
        int64_t i, double x)
{
    analytics_cell_t *row = s_row (sh);
    s_text (&row[0], ANALYTICS_CELL_TEXT, what);
    s_text (&row[1], ANALYTICS_CELL_TEXT, label);
    if (kind == ANALYTICS_CELL_INT)
        s_int (&row[2], i);
    else
        s_real (&row[2], kind, x);
}

static void
s_delivered (analytics_sheet_t *sh, const char *what, const analytics_report_notify_t *n)
{
    s_item (sh, what, "已发送（条）", ANALYTICS_CELL_INT, n->sent, 0);
    s_item (sh, what, "发送失败（条）", ANALYTICS_CELL_INT, n->dead, 0);
    s_item (sh, what, "已跳过（条）", ANALYTICS_CELL_INT, n->skipped, 0);
}

static void
s_services (analytics_sheet_t *sh, const analytics_report_t *r)
{
    s_delivered (sh, "通知（合计）", &r->notify);
    for (size_t i = 0; i < r->n_channels; i++) {
        char what[96];
        snprintf (what, sizeof what, "通知（%s）",
                  analytics_report_channel_label (r->channels[i].channel));
        s_delivered (sh, what, &r->channels[i]);
    }
    const analytics_report_volunteer_t *v = &r->volunteer;
    const analytics_cell_kind_t N = ANALYTICS_CELL_INT;
    const char *what = "志愿服务";
    s_item (sh, what, "服务需求（件）", N, v->needs, 0);
    s_item (sh, what, "服务邀请（次）", N, v->offers, 0);
    s_item (sh, what, "接受邀请（次）", N, v->accepted, 0);
    s_item (sh, what, "完成服务（次）", N, v->services, 0);
    s_item (sh, what, "服务时长（小时）", ANALYTICS_CELL_HOURS, 0, (double) v->minutes / 60.0);
    s_item (sh, what, "获得积分（分）", N, v->points_earned, 0);
    s_item (sh, what, "兑换积分（分）", N, v->points_redeemed, 0);
}

static const char *const s_h_overview[] = {"指标", "数值"};
static const double s_w_overview[] = {30, 14};
static const char *const s_h_categories[] = {"类别", "类别代码", "诉求（件）", "占比"};
static const double s_w_categories[] = {16, 16, 12, 10};
static const char *const s_h_ranking[] = {"单位",     "代码",    "诉求（件）", "响应率",
                                          "响应排名", "解决率",  "解决排名",   "满意率",
                                          "满意排名", "参与排名"};
static const double s_w_ranking[] = {20, 14, 12, 10, 10, 10, 10, 10, 10, 16};
static const char *const s_h_hotspots[] = {"楼栋", "楼栋代码", "类别", "诉求（件）"};
static const double s_w_hotspots[] = {24, 16, 16, 12};
static const char *const s_h_overdue[] = {"诉求编号", "类别",     "楼栋",    "楼栋代码",
                                          "受理日期", "办结时限", "超期天数"};
static const double s_w_overdue[] = {12, 16, 24, 16, 12, 18, 10};
static const char *const s_h_meetings[] = {"编号", "社区",     "日期",
                                           "地点", "参与人数", "议事（项）"};
static const double s_w_meetings[] = {10, 20, 12, 24, 10, 10};
static const char *const s_h_services[] = {"项目", "指标", "数值"};
static const double s_w_services[] = {24, 20, 12};

analytics_sheet_t *
analytics_report_sheets (const analytics_report_t *r)
{
    static const struct {
        const char *name;
        size_t ncols;
        const char *const *header;
        const double *widths;
        void (*fill) (analytics_sheet_t *, const analytics_report_t *);
    } layout[ANALYTICS_SHEETS] = {
        {"总览", 2, s_h_overview, s_w_overview, s_overview},
        {"分类", 4, s_h_categories, s_w_categories, s_categories},
        {"排名", 10, s_h_ranking, s_w_ranking, s_ranking},
        {"热点", 4, s_h_hotspots, s_w_hotspots, s_hotspots},
        {"超期", 7, s_h_overdue, s_w_overdue, s_overdue},
        {"逢四说事", 6, s_h_meetings, s_w_meetings, s_meetings},
        {"通知与志愿服务", 3, s_h_services, s_w_services, s_services},
    };
    analytics_sheet_t *sheets = calloc (ANALYTICS_SHEETS, sizeof *sheets);
    assert (sheets);
    for (int i = 0; i < ANALYTICS_SHEETS; i++) {
        sheets[i].name = layout[i].name;
        sheets[i].ncols = layout[i].ncols;
        sheets[i].header = layout[i].header;
        sheets[i].widths = layout[i].widths;
        layout[i].fill (&sheets[i], r);
    }
    return sheets;
}

void
analytics_report_sheets_destroy (analytics_sheet_t **sheets_p)
{
    assert (sheets_p);
    analytics_sheet_t *sheets = *sheets_p;
    if (!sheets)
        return;
    for (int i = 0; i < ANALYTICS_SHEETS; i++) {
        for (size_t k = 0; k < sheets[i].nrows * sheets[i].ncols; k++)
            free (sheets[i].cells[k].s);
        free (sheets[i].cells);
    }
    free (sheets);
    *sheets_p = NULL;
}
