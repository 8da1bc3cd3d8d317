/*  Unit tests for notify_policy: quiet hours across midnight and at their
    edges (China time, whatever the machine's TZ), a window inside one day,
    parsing, urgent bypass, opt-out, digest windows, masks, and the
    Chinese time format.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "notify_policy.h"

#define S_SEC 1000000LL

//  A China-time wall clock as microseconds since the epoch.
static int64_t
s_china (int year, int month, int day, int hour, int min, int sec)
{
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    return (int64_t) timegm (&tm) * S_SEC - NOTIFY_CHINA_OFFSET_US;
}

static void
test_quiet_hours_across_midnight (void **state)
{
    (void) state;
    int start, end;
    assert_int_equal (notify_quiet_parse ("22:00-07:00", &start, &end), 0);
    int64_t morning = s_china (2026, 12, 4, 7, 0, 0);
    int64_t t;
    t = s_china (2026, 12, 3, 21, 59, 59);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    t = s_china (2026, 12, 3, 22, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == morning);
    t = s_china (2026, 12, 3, 23, 59, 59) + 999999;
    assert_true (notify_quiet_release_us (t, start, end) == morning);
    t = s_china (2026, 12, 4, 0, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == morning);
    t = s_china (2026, 12, 4, 6, 59, 59);
    assert_true (notify_quiet_release_us (t, start, end) == morning);
    t = s_china (2026, 12, 4, 7, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    t = s_china (2026, 12, 4, 12, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    //  Across a month and a year end.
    t = s_china (2026, 12, 31, 23, 30, 0);
    assert_true (notify_quiet_release_us (t, start, end) == s_china (2027, 1, 1, 7, 0, 0));
    //  22:00 China time is 14:00 UTC: a UTC clock would call it day.
    t = s_china (2026, 12, 3, 22, 0, 0);
    assert_true (t % (24 * 3600 * S_SEC) == 14 * 3600 * S_SEC);
}

static void
test_quiet_hours_within_one_day (void **state)
{
    (void) state;
    int start, end;
    assert_int_equal (notify_quiet_parse ("12:30-14:00", &start, &end), 0);
    assert_int_equal (start, 12 * 60 + 30);
    assert_int_equal (end, 14 * 60);
    int64_t t = s_china (2026, 6, 1, 12, 29, 59);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    t = s_china (2026, 6, 1, 12, 30, 0);
    assert_true (notify_quiet_release_us (t, start, end) == s_china (2026, 6, 1, 14, 0, 0));
    t = s_china (2026, 6, 1, 13, 59, 59);
    assert_true (notify_quiet_release_us (t, start, end) == s_china (2026, 6, 1, 14, 0, 0));
    t = s_china (2026, 6, 1, 14, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    t = s_china (2026, 6, 1, 23, 0, 0);
    assert_true (notify_quiet_release_us (t, start, end) == t);
    //  No quiet hours.
    assert_int_equal (notify_quiet_parse ("off", &start, &end), 0);
    assert_true (notify_quiet_release_us (t, start, end) == t);
}

static void
test_quiet_parse_refuses_bad_input (void **state)
{
    (void) state;
    const char *bad[] = {"",
                         "22:00",
                         "22:00-7:00",
                         "24:00-07:00",
                         "22:60-07:00",
                         "22:00-22:00",
                         "22:00 07:00",
                         "22:00-07:00 ",
                         "aa:bb-cc:dd",
                         "-22:00-07:00",
                         "22:00--7:00",
                         "OFF",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        int start = -7, end = -7;
        if (notify_quiet_parse (bad[i], &start, &end) == 0)
            fail_msg ("\"%s\" accepted", bad[i]);
        assert_int_equal (start, -7);
        assert_int_equal (end, -7);
    }
    int start, end;
    assert_int_equal (notify_quiet_parse (NULL, &start, &end), -1);
    assert_int_equal (notify_quiet_parse ("00:00-23:59", &start, &end), 0);
    assert_int_equal (end, 23 * 60 + 59);
}

static void
test_bypass_opt_out_and_digest (void **state)
{
    (void) state;
    notify_rule_t resident = {.audience = NOTIFY_RESIDENT, .tiers = NOTIFY_TIER_ANY};
    notify_rule_t staff = {.audience = NOTIFY_ASSIGNEE, .tiers = NOTIFY_TIER_ANY};
    notify_rule_t alert = {
        .audience = NOTIFY_NEXT_RUNG, .essential = true, .urgent = true, .tiers = NOTIFY_TIER_ANY};
    //  Residents wait even for an urgent request; staff do not.
    assert_false (notify_bypass_quiet (&resident, true));
    assert_false (notify_bypass_quiet (&staff, false));
    assert_true (notify_bypass_quiet (&staff, true));
    assert_true (notify_bypass_quiet (&alert, false));
    //  An urgent offer reaches its volunteer at night; an ordinary one waits.
    notify_rule_t volunteer = {.audience = NOTIFY_VOLUNTEER, .tiers = NOTIFY_TIER_ANY};
    assert_true (notify_bypass_quiet (&volunteer, true));
    assert_false (notify_bypass_quiet (&volunteer, false));
    //  Opt-out: only non-essential messages.
    assert_false (notify_wanted (&resident, true));
    assert_true (notify_wanted (&resident, false));
    assert_true (notify_wanted (&alert, true));
    //  Digest: due once the window has passed since the first update.
    int64_t first = s_china (2026, 12, 3, 10, 0, 0);
    int window = 10 * 60 * 1000;
    assert_false (notify_digest_due (first, first, window));
    assert_false (notify_digest_due (first, first + 600 * S_SEC - 1, window));
    assert_true (notify_digest_due (first, first + 600 * S_SEC, window));
    assert_true (notify_digest_release_us (first, window) == first + 600 * S_SEC);
    assert_true (notify_digest_due (first, first, 0));
}

static void
s_assert_mask (char *got, const char *want)
{
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}

//  A volunteer's task time as they read it: a window (the end's date only
//  when another day), matching's weekly syntax in Chinese, or neither.
static void
test_task_time (void **state)
{
    (void) state;
    char buf[160];
    int64_t from = s_china (2026, 12, 6, 9, 0, 0);
    assert_string_equal (
        notify_task_time (from, s_china (2026, 12, 6, 11, 30, 0), NULL, buf, sizeof buf),
        "12月6日 09:00至11:30");
    assert_string_equal (
        notify_task_time (from, s_china (2026, 12, 7, 8, 0, 0), "", buf, sizeof buf),
        "12月6日 09:00至12月7日 08:00");
    assert_string_equal (notify_task_time (from, 0, NULL, buf, sizeof buf), "12月6日 09:00");
    assert_string_equal (notify_task_time (0, 0, "sat 09:00-11:00", buf, sizeof buf),
                         "每周六 09:00-11:00");
    assert_string_equal (
        notify_task_time (0, 0, "Mon-fri 09:00-12:00; sat,sun 14:00-18:00", buf, sizeof buf),
        "每周一至周五 09:00-12:00；周六、周日 14:00-18:00");
    assert_string_equal (notify_task_time (0, 0, NULL, buf, sizeof buf), "时间详见链接");
    assert_string_equal (notify_task_time (0, 0, "", buf, sizeof buf), "时间详见链接");
    //  Truncated at a whole character, never overrun.
    char small[10];
    assert_string_equal (notify_task_time (0, 0, "mon-fri 09:00-12:00", small, sizeof small),
                         "每周一");
}

static void
test_masks (void **state)
{
    (void) state;
    s_assert_mask (notify_mask_phone ("13800001234"), "138****1234");
    s_assert_mask (notify_mask_phone ("+86 138-0000-1234"), "138****1234");
    s_assert_mask (notify_mask_phone ("1234"), "****");
    s_assert_mask (notify_mask_phone (NULL), "****");
    s_assert_mask (notify_mask_name ("张小明"), "张**");
    s_assert_mask (notify_mask_name ("李四"), "李*");
    s_assert_mask (notify_mask_name ("欧阳娜娜"), "欧***");
    s_assert_mask (notify_mask_name ("张"), "*");
    s_assert_mask (notify_mask_name ("Ann"), "A**");
    s_assert_mask (notify_mask_name (""), "*");
    s_assert_mask (notify_mask_name (NULL), "*");
    s_assert_mask (notify_mask_name ("\xe5\xbc"), "*");
    s_assert_mask (notify_mask_email ("zhangsan@example.com"), "z***@example.com");
    s_assert_mask (notify_mask_email ("张三@例子.中国"), "张***@例子.中国");
    s_assert_mask (notify_mask_email ("@example.com"), "***");
    s_assert_mask (notify_mask_email ("nobody"), "***");
    s_assert_mask (notify_mask_email (NULL), "***");
}

static void
test_chinese_spellings (void **state)
{
    (void) state;
    char buf[32];
    assert_string_equal (notify_china_time (s_china (2026, 12, 5, 18, 0, 0), buf, sizeof buf),
                         "12月5日 18:00");
    //  16:30 UTC on 31 December is already 1 January in China.
    assert_string_equal (notify_china_time (s_china (2027, 1, 1, 0, 30, 59), buf, sizeof buf),
                         "1月1日 00:30");
    assert_string_equal (notify_china_time (s_china (2024, 2, 29, 9, 5, 0), buf, sizeof buf),
                         "2月29日 09:05");
    assert_string_equal (notify_china_time (s_china (1969, 12, 31, 23, 59, 0), buf, sizeof buf),
                         "12月31日 23:59");
    assert_string_equal (notify_tier_text (3), "疑难");
    assert_string_equal (notify_tier_text (0), "");
    assert_string_equal (notify_level_text (2), "街道");
    assert_string_equal (notify_level_text (4), "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_quiet_hours_across_midnight),
        cmocka_unit_test (test_quiet_hours_within_one_day),
        cmocka_unit_test (test_quiet_parse_refuses_bad_input),
        cmocka_unit_test (test_bypass_opt_out_and_digest),
        cmocka_unit_test (test_task_time),
        cmocka_unit_test (test_masks),
        cmocka_unit_test (test_chinese_spellings),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
