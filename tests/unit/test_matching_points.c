/*  Unit tests for matching_points: the earning rules parse from
    GZ_MATCHING_POINTS with defaults for what is not given and refuse
    unknown names and bad values with a message; minutes become points
    rounded down; account names are made only from valid kinds and ids.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "matching_points.h"

static void
test_parse_defaults (void **state)
{
    (void) state;
    matching_points_rules_t r;
    char err[128];
    assert_int_equal (matching_points_parse (NULL, &r, err, sizeof err), 0);
    assert_int_equal (r.report, 5);
    assert_int_equal (r.rider_report, 10);
    assert_int_equal (r.hour, 10);
    assert_int_equal (r.meeting, 2);
    assert_int_equal (matching_points_parse ("", &r, err, sizeof err), 0);
    assert_int_equal (r.hour, 10);
    matching_points_rules_t d;
    assert_int_equal (matching_points_parse (MATCHING_POINTS_DEFAULTS, &d, NULL, 0), 0);
    assert_memory_equal (&r, &d, sizeof r);
}

static void
test_parse_values (void **state)
{
    (void) state;
    matching_points_rules_t r;
    char err[128];
    assert_int_equal (matching_points_parse ("report=7, rider_report = 12,hour=30,meeting=0", &r,
                                             err, sizeof err),
                      0);
    assert_int_equal (r.report, 7);
    assert_int_equal (r.rider_report, 12);
    assert_int_equal (r.hour, 30);
    assert_int_equal (r.meeting, 0);
    //  Only some given: the others keep their defaults.
    assert_int_equal (matching_points_parse ("hour=20", &r, err, sizeof err), 0);
    assert_int_equal (r.hour, 20);
    assert_int_equal (r.report, 5);
    assert_int_equal (r.meeting, 2);
}

static void
test_parse_errors (void **state)
{
    (void) state;
    const char *bad[] = {
        "report=5,bonus=3", "report=-1",        "hour=1.5", "hour=",
        "meeting",          "report=5,,hour=1", "hour=10x", "hour=99999999999999999999",
        "hour=2000000",     "report=5,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        matching_points_rules_t r;
        char err[128] = "";
        assert_int_equal (matching_points_parse (bad[i], &r, err, sizeof err), -1);
        assert_true (strlen (err) > 0);
        //  A failed parse leaves the defaults, never a half-applied text.
        assert_int_equal (r.report, 5);
        assert_int_equal (r.hour, 10);
    }
    matching_points_rules_t r;
    char err[128];
    matching_points_parse ("bonus=3", &r, err, sizeof err);
    assert_non_null (strstr (err, "unknown name"));
    matching_points_parse ("hour=-3", &r, err, sizeof err);
    assert_non_null (strstr (err, "integer"));
}

static void
test_minutes (void **state)
{
    (void) state;
    matching_points_rules_t r = {.report = 5, .rider_report = 10, .hour = 10, .meeting = 2};
    assert_int_equal (matching_points_for_minutes (&r, 60), 10);
    assert_int_equal (matching_points_for_minutes (&r, 90), 15);
    assert_int_equal (matching_points_for_minutes (&r, 5), 0);  // 0.83 rounds down
    assert_int_equal (matching_points_for_minutes (&r, 59), 9); // 9.83 rounds down
    assert_int_equal (matching_points_for_minutes (&r, 0), 0);
    assert_int_equal (matching_points_for_minutes (&r, -30), 0);
    r.hour = 7;
    assert_int_equal (matching_points_for_minutes (&r, 150), 17); // 17.5
    r.hour = 1000000;
    assert_int_equal (matching_points_for_minutes (&r, 24 * 60 * 365), 1000000LL * 24 * 365);
}

static void
test_accounts (void **state)
{
    (void) state;
    char out[80];
    assert_int_equal (matching_points_account (out, sizeof out, "volunteer", "v-001"), 0);
    assert_string_equal (out, "volunteer:v-001");
    assert_int_equal (matching_points_account (out, sizeof out, "rider", "R123"), 0);
    assert_string_equal (out, "rider:R123");
    assert_int_equal (matching_points_account (out, sizeof out, "system", "shop:310104"), 0);
    assert_string_equal (out, "system:shop:310104");
    const char *bad_ids[] = {"", "a b", "名字", "x/y", "a'b", NULL};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        assert_int_equal (matching_points_account (out, sizeof out, "resident", bad_ids[i]), -1);
        assert_string_equal (out, "");
    }
    char long_id[66];
    memset (long_id, 'a', 65);
    long_id[65] = '\0';
    assert_int_equal (matching_points_account (out, sizeof out, "staff", long_id), -1);
    long_id[64] = '\0';
    assert_int_equal (matching_points_account (out, sizeof out, "staff", long_id), 0);
    assert_int_equal (matching_points_account (out, 10, "staff", long_id), -1); // too small
    assert_int_equal (matching_points_account (out, sizeof out, "admin", "x"), -1);
    assert_int_equal (matching_points_account (out, sizeof out, NULL, "x"), -1);

    assert_true (matching_points_account_valid ("system:earn"));
    assert_false (matching_points_person_valid ("system:earn"));
    assert_true (matching_points_person_valid ("resident:X"));
    assert_false (matching_points_account_valid ("resident"));
    assert_false (matching_points_account_valid ("resident:"));
    assert_false (matching_points_account_valid ("Resident:X"));
    assert_false (matching_points_account_valid (NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse_defaults), cmocka_unit_test (test_parse_values),
        cmocka_unit_test (test_parse_errors),   cmocka_unit_test (test_minutes),
        cmocka_unit_test (test_accounts),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
