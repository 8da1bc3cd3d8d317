/*  Unit tests for the monthly report's pure parts (analytics_report.c,
    analytics_report_csv.c): RFC 4180 quoting, the month's dates (leap
    years), ranks with the minimum sample and ties, the CSV text of a
    small report by hand (BOM, title, sections, percentages, empty rates),
    and the cells of 通知与志愿服务 (channel labels and order, hours).  */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics_report.h"

static void
s_quoted (const char *in, const char *want)
{
    char *got = analytics_csv_field (in);
    assert_string_equal (got, want);
    free (got);
}

static void
test_csv_quoting (void **state)
{
    (void) state;
    s_quoted ("plain", "plain");
    s_quoted ("", "");
    s_quoted (NULL, "");
    s_quoted ("华果园社区", "华果园社区");
    s_quoted ("a,b", "\"a,b\"");
    s_quoted ("say \"hi\"", "\"say \"\"hi\"\"\"");
    s_quoted ("two\nlines", "\"two\nlines\"");
    s_quoted ("cr\r", "\"cr\r\"");
    s_quoted ("\"", "\"\"\"\"");
}

static void
test_month (void **state)
{
    (void) state;
    char from[11], to[11];
    assert_int_equal (analytics_report_month_parse ("2026-12", from, to), 0);
    assert_string_equal (from, "2026-12-01");
    assert_string_equal (to, "2026-12-31");
    assert_int_equal (analytics_report_month_parse ("2024-02", from, to), 0);
    assert_string_equal (to, "2024-02-29");
    assert_int_equal (analytics_report_month_parse ("2100-02", from, to), 0);
    assert_string_equal (to, "2100-02-28");
    assert_int_equal (analytics_report_month_parse ("2026-04", from, to), 0);
    assert_string_equal (to, "2026-04-30");
    const char *bad[] = {"2026-13", "2026-00", "2026-1",  "26-12", "2026-12-01",
                         "2026/12", "1999-12", "20a6-12", "",      NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal (analytics_report_month_parse (bad[i], from, to), -1);
    assert_int_equal (analytics_report_month_parse (NULL, from, to), -1);
}

static analytics_report_unit_t
s_unit (const char *code, int64_t requests, int64_t resolved)
{
    analytics_report_unit_t u;
    memset (&u, 0, sizeof u);
    strcpy (u.code, code);
    u.c.requests = requests;
    u.c.resolved = resolved;
    return u;
}

static void
test_rank (void **state)
{
    (void) state;
    analytics_report_unit_t units[4] = {s_unit ("A", 20, 10), s_unit ("B", 30, 15),
                                        s_unit ("C", 25, 20), s_unit ("D", 5, 5)};
    analytics_report_rank (units, 4, 20);
    //  resolution: C 0.8 first; A and B 0.5 share second; D (5 < 20) unranked.
    assert_int_equal (units[2].rank[ANALYTICS_RATE_RESOLUTION], 1);
    assert_int_equal (units[0].rank[ANALYTICS_RATE_RESOLUTION], 2);
    assert_int_equal (units[1].rank[ANALYTICS_RATE_RESOLUTION], 2);
    assert_int_equal (units[3].rank[ANALYTICS_RATE_RESOLUTION], 0);
    assert_false (units[3].ranked);
    assert_true (units[0].ranked);
    //  satisfaction: nobody rated, nobody ranked.
    for (int i = 0; i < 4; i++)
        assert_int_equal (units[i].rank[ANALYTICS_RATE_SATISFACTION], 0);
    assert_true (isnan (analytics_report_rate (&units[0], ANALYTICS_RATE_SATISFACTION)));
}

static void
test_csv (void **state)
{
    (void) state;
    analytics_report_t *r = analytics_report_new ();
    strcpy (r->node.code, "C1");
    strcpy (r->node.name, "华果园社区");
    strcpy (r->month, "2026-12");
    strcpy (r->from, "2026-12-01");
    strcpy (r->to, "2026-12-31");
    r->node.c.requests = 4;
    r->node.c.reached = 3;
    r->node.overdue_unreached = 1;
    r->node.c.reached_on_time = 2;
    r->node.c.rated = 3;
    r->node.c.satisfied = 2;
    r->volumes = calloc (1, sizeof *r->volumes);
    r->n_volumes = 1;
    strcpy (r->volumes[0].code, "noise");
    strcpy (r->volumes[0].name, "噪音, \"夜间\"");
    r->volumes[0].requests = 1;
    size_t len = 0;
    char *csv = analytics_report_csv (r, &len);
    assert_int_equal (strlen (csv), len);
    assert_memory_equal (csv, "\xEF\xBB\xBF", 3);
    assert_non_null (
        strstr (csv, "华果园社区（C1）2026-12 一张表\r\n统计期间,2026-12-01,2026-12-31\r\n"));
    assert_non_null (
        strstr (csv, "\r\n\r\n总览\r\n指标,数值\r\n受理诉求（件）,4\r\n响应率,50.0%\r\n"));
    assert_non_null (strstr (csv, "满意率,66.7%\r\n"));
    assert_non_null (strstr (csv, "\r\n解决率,0.0%\r\n"));     //  0 of 4
    assert_non_null (strstr (csv, "\r\n矛盾纠纷化解率,\r\n")); //  0 of 0: empty
    assert_non_null (strstr (csv, "\r\n\r\n分类\r\n类别,类别代码,诉求（件）,占比\r\n\"噪音, "
                                  "\"\"夜间\"\"\",noise,1,25.0%\r\n"));
    assert_non_null (
        strstr (csv, "\r\n\r\n逢四说事\r\n编号,社区,日期,地点,参与人数,议事（项）\r\n"));
    free (csv);
    analytics_report_destroy (&r);
    assert_null (r);
}

//  The cell at row, col of sh is the text want.
static void
s_is_text (const analytics_sheet_t *sh, size_t row, size_t col, const char *want)
{
    const analytics_cell_t *c = &sh->cells[row * sh->ncols + col];
    assert_int_equal (c->kind, ANALYTICS_CELL_TEXT);
    assert_string_equal (c->s, want);
}

//  Row row of sh is (what, label, the count want).
static void
s_is_count (const analytics_sheet_t *sh, size_t row, const char *what, const char *label,
            int64_t want)
{
    s_is_text (sh, row, 0, what);
    s_is_text (sh, row, 1, label);
    const analytics_cell_t *c = &sh->cells[row * sh->ncols + 2];
    assert_int_equal (c->kind, ANALYTICS_CELL_INT);
    assert_int_equal (c->i, want);
}

static void
test_services_sheet (void **state)
{
    (void) state;
    analytics_report_t *r = analytics_report_new ();
    strcpy (r->node.code, "C1");
    strcpy (r->month, "2026-12");
    r->notify = (analytics_report_notify_t){"", 9, 2, 1};
    r->n_channels = 3;
    r->channels = calloc (3, sizeof *r->channels);
    r->channels[0] = (analytics_report_notify_t){"pager", 1, 0, 0};
    r->channels[1] = (analytics_report_notify_t){"log", 5, 0, 1};
    r->channels[2] = (analytics_report_notify_t){"sms", 3, 2, 0};
    analytics_report_channels_sort (r->channels, r->n_channels);
    assert_string_equal (r->channels[0].channel, "sms");
    assert_string_equal (r->channels[1].channel, "log");
    assert_string_equal (r->channels[2].channel, "pager");
    assert_string_equal (analytics_report_channel_label ("wechat"), "微信");
    assert_string_equal (analytics_report_channel_label ("pager"), "pager");
    r->volunteer = (analytics_report_volunteer_t){4, 6, 3, 2, 90, 15, 5};

    analytics_sheet_t *sheets = analytics_report_sheets (r);
    const analytics_sheet_t *sh = &sheets[ANALYTICS_SHEETS - 1];
    assert_string_equal (sh->name, "通知与志愿服务");
    assert_int_equal (sh->ncols, 3);
    assert_string_equal (sh->header[0], "项目");
    assert_string_equal (sh->header[2], "数值");
    assert_int_equal (sh->nrows, 4 * 3 + 7); //  total, three channels; volunteers
    s_is_count (sh, 0, "通知（合计）", "已发送（条）", 9);
    s_is_count (sh, 1, "通知（合计）", "发送失败（条）", 2);
    s_is_count (sh, 2, "通知（合计）", "已跳过（条）", 1);
    s_is_count (sh, 3, "通知（短信）", "已发送（条）", 3);
    s_is_count (sh, 4, "通知（短信）", "发送失败（条）", 2);
    s_is_count (sh, 8, "通知（系统日志）", "已跳过（条）", 1);
    s_is_count (sh, 9, "通知（pager）", "已发送（条）", 1);
    s_is_count (sh, 12, "志愿服务", "服务需求（件）", 4);
    s_is_count (sh, 13, "志愿服务", "服务邀请（次）", 6);
    s_is_count (sh, 14, "志愿服务", "接受邀请（次）", 3);
    s_is_count (sh, 15, "志愿服务", "完成服务（次）", 2);
    s_is_text (sh, 16, 1, "服务时长（小时）");
    assert_int_equal (sh->cells[16 * 3 + 2].kind, ANALYTICS_CELL_HOURS);
    assert_true (sh->cells[16 * 3 + 2].x == 1.5); //  90 minutes
    s_is_count (sh, 17, "志愿服务", "获得积分（分）", 15);
    s_is_count (sh, 18, "志愿服务", "兑换积分（分）", 5);
    analytics_report_sheets_destroy (&sheets);

    size_t len = 0;
    char *csv = analytics_report_csv (r, &len);
    assert_non_null (strstr (csv, "\r\n\r\n通知与志愿服务\r\n项目,指标,数值\r\n"
                                  "通知（合计）,已发送（条）,9\r\n"));
    assert_non_null (strstr (csv, "\r\n志愿服务,服务时长（小时）,1.5\r\n"));
    free (csv);
    analytics_report_destroy (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_csv_quoting),    cmocka_unit_test (test_month),
        cmocka_unit_test (test_rank),           cmocka_unit_test (test_csv),
        cmocka_unit_test (test_services_sheet),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
