/*  Unit tests for routing_rules: the shipped defaults, matching order,
    durations, settings, and every kind of bad file refused with its line.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gz_category.h"
#include "routing_rules.h"

//  Ends every test file so the files below cover all categories; rules
//  under test go above it.
#define S_ANY "* * * local grid - 2h 3d\n"

//  Parses text that must be refused; checks the message contains want.
static void
s_refused (const char *text, const char *want)
{
    char err[512] = "";
    routing_rules_t *rules = routing_rules_parse (text, "t", err, sizeof err);
    if (rules || !strstr (err, want))
        fail_msg ("expected refusal containing \"%s\", got %s \"%s\"", want,
                  rules ? "success" : "error", err);
    routing_rules_destroy (&rules);
}

static routing_rules_t *
s_parsed (const char *text)
{
    char err[512] = "";
    routing_rules_t *rules = routing_rules_parse (text, "t", err, sizeof err);
    if (!rules)
        fail_msg ("parse failed: %s", err);
    return rules;
}

static bool
s_list_has (const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp (list[i], s))
            return true;
    return false;
}

static void
test_defaults_parse_and_cover_every_category (void **state)
{
    (void) state;
    char err[512] = "";
    routing_rules_t *rules =
        routing_rules_parse (routing_default_rules, "default", err, sizeof err);
    if (!rules)
        fail_msg ("default rules refused: %s", err);
    size_t ncats;
    const gz_category_t *cats = gz_category_all (&ncats);
    for (size_t i = 0; i < ncats; i++) {
        //  Each category has its own catch-all (not only a "*" one), so a
        //  plain request of that category gets a considered default.
        const routing_rule_t *rule =
            routing_rules_match (rules, cats[i].code, "", "HGY-S01", "HGY-C01");
        assert_non_null (rule);
        assert_string_equal (rule->category, cats[i].code);
        assert_null (rule->keywords[0]);
        assert_string_equal (rule->place, "*");
        assert_true (rule->respond_s > 0 && rule->resolve_s >= rule->respond_s);
    }
    //  Every department named is a demo-org code.
    for (size_t i = 0; i < routing_rules_count (rules); i++) {
        const routing_rule_t *rule = routing_rules_at (rules, i);
        assert_true (rule->tier != ROUTING_TIER_HARD || rule->lead == ROUTING_LEAD_DEPARTMENT);
        if (rule->lead_code)
            assert_int_equal (strncmp (rule->lead_code, "HGY-DEPT", 8), 0);
        for (size_t k = 0; rule->co_handlers[k]; k++)
            assert_int_equal (strncmp (rule->co_handlers[k], "HGY-DEPT", 8), 0);
    }
    assert_null (routing_rules_at (rules, routing_rules_count (rules)));
    assert_int_equal (routing_rules_merge_window_s (rules), 24 * 3600);
    assert_true (routing_rules_warn_at (rules) > 0.79 && routing_rules_warn_at (rules) < 0.81);
    assert_int_equal (routing_rules_reopen_window_s (rules), 7 * 24 * 3600);

    //  Some defaults the issue names.
    const routing_rule_t *r =
        routing_rules_match (rules, "property", "3单元楼道灯不亮了", "HGY-S01", "HGY-C01");
    assert_int_equal (r->tier, ROUTING_TIER_LOCAL);
    assert_int_equal (r->lead, ROUTING_LEAD_GRID);
    assert_int_equal (r->respond_s, 2 * 3600);
    assert_int_equal (r->resolve_s, 72 * 3600);
    r = routing_rules_match (rules, "utilities", "厨房里有很重的燃气味", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_HARD);
    assert_string_equal (r->lead_code, "HGY-DEPT035");
    assert_true (s_list_has (r->co_handlers, "HGY-DEPT067"));
    assert_true (r->respond_s <= 3600);
    r = routing_rules_match (rules, "sanitation", "楼顶违章搭建彩钢房", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_HARD);
    assert_string_equal (r->lead_code, "HGY-DEPT040");
    assert_true (s_list_has (r->co_handlers, "HGY-DEPT001"));
    assert_true (s_list_has (r->co_handlers, "HGY-DEPT002"));
    r = routing_rules_match (rules, "road", "路面塌陷一个大坑", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_UPPER);
    assert_int_equal (r->lead, ROUTING_LEAD_SUBDISTRICT);
    r = routing_rules_match (rules, "dispute", "和物业纠纷两年了", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_HARD);
    assert_string_equal (r->lead_code, "HGY-DEPT001");
    assert_true (s_list_has (r->co_handlers, "HGY-DEPT024"));
    r = routing_rules_match (rules, "noise", "楼上装修太吵", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_LOCAL);
    //  A category intake does not offer matches nothing.
    assert_null (routing_rules_match (rules, "no_such_category", "燃", NULL, NULL));
    assert_null (routing_rules_match (rules, NULL, NULL, NULL, NULL));
    routing_rules_destroy (&rules);
    routing_rules_destroy (&rules); //  harmless twice
    assert_null (rules);
}

static void
test_load_file (void **state)
{
    (void) state;
    char path[] = "/tmp/test_routing_rules_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *f = fdopen (fd, "w");
    fputs (routing_default_rules, f);
    fclose (f);
    char err[512] = "";
    routing_rules_t *rules = routing_rules_load (path, err, sizeof err);
    assert_non_null (rules);
    routing_rules_destroy (&rules);

    //  A NUL byte in a file is refused on its line.
    f = fopen (path, "w");
    fputs ("# rules\n" S_ANY "road * * local grid - 2h", f);
    fputc ('\0', f);
    fputs (" 3d\n", f);
    fclose (f);
    rules = routing_rules_load (path, err, sizeof err);
    assert_null (rules);
    char want[600];
    snprintf (want, sizeof want, "%s:3: invalid UTF-8", path);
    assert_non_null (strstr (err, want));

    //  Larger than 1 MiB.
    f = fopen (path, "w");
    for (int i = 0; i < 40000; i++)
        fputs ("# a comment line that pads the file out ....\n", f);
    fclose (f);
    rules = routing_rules_load (path, err, sizeof err);
    assert_null (rules);
    assert_non_null (strstr (err, "larger than 1 MiB"));

    unlink (path);
    rules = routing_rules_load (path, err, sizeof err);
    assert_null (rules);
    assert_non_null (strstr (err, "cannot open"));
}

static void
test_match_order_place_and_any_category (void **state)
{
    (void) state;
    routing_rules_t *rules = s_parsed ("# keyword rule first, then a place, then the catch-all\n"
                                       "road 塌陷|坍塌 * upper subdistrict - 2h 7d\n"
                                       "road * HGY-C07 local community - 1h 2d\n"
                                       "road * * local grid - 2h 3d\n"
                                       "* 燃气泄漏 * hard dept:D1 dept:D2,dept:D3 30m 1d\n" S_ANY);
    assert_int_equal (routing_rules_count (rules), 5);
    const routing_rule_t *r =
        routing_rules_match (rules, "road", "门口路面坍塌了", "HGY-S01", "HGY-C01");
    assert_int_equal (r->line, 2);
    assert_int_equal (r->tier, ROUTING_TIER_UPPER);
    assert_string_equal (r->keywords[0], "塌陷");
    assert_string_equal (r->keywords[1], "坍塌");
    assert_null (r->keywords[2]);
    assert_null (r->co_handlers[0]);
    assert_null (r->lead_code);
    //  Place-specific: only community HGY-C07 (or a sub-district code).
    r = routing_rules_match (rules, "road", "路灯不亮", "HGY-S01", "HGY-C07");
    assert_int_equal (r->line, 3);
    assert_int_equal (r->lead, ROUTING_LEAD_COMMUNITY);
    r = routing_rules_match (rules, "road", "路灯不亮", "HGY-C07", NULL);
    assert_int_equal (r->line, 3);
    r = routing_rules_match (rules, "road", "路灯不亮", "HGY-S01", "HGY-C01");
    assert_int_equal (r->line, 4);
    r = routing_rules_match (rules, "road", NULL, NULL, NULL);
    assert_int_equal (r->line, 4);
    //  Category "*" with keywords: any category, road's rules come first.
    r = routing_rules_match (rules, "utilities", "楼道有燃气泄漏", NULL, NULL);
    assert_int_equal (r->line, 5);
    assert_int_equal (r->lead, ROUTING_LEAD_DEPARTMENT);
    assert_string_equal (r->lead_code, "D1");
    assert_string_equal (r->co_handlers[0], "D2");
    assert_string_equal (r->co_handlers[1], "D3");
    assert_null (r->co_handlers[2]);
    assert_int_equal (r->respond_s, 1800);
    r = routing_rules_match (rules, "road", "楼道有燃气泄漏", NULL, NULL);
    assert_int_equal (r->line, 4);
    r = routing_rules_match (rules, "noise", "装修", NULL, NULL);
    assert_int_equal (r->line, 6);
    assert_string_equal (routing_rules_tier_name (r->tier), "local");
    assert_string_equal (routing_rules_lead_name (r->lead), "grid");
    routing_rules_destroy (&rules);

    //  Chinese tier names, tabs, CRLF, a trailing comment, a BOM.
    rules = s_parsed ("\xEF\xBB\xBFroad\t*\t*\t上级\tsubdistrict\t-\t1h\t1d  # 注释\r\n"
                      "* * * 疑难 dept:X - 1h 1d\r\n");
    r = routing_rules_match (rules, "road", "x", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_UPPER);
    assert_int_equal (r->resolve_s, 86400);
    r = routing_rules_match (rules, "other", "x", NULL, NULL);
    assert_int_equal (r->tier, ROUTING_TIER_HARD);
    assert_string_equal (r->lead_code, "X");
    routing_rules_destroy (&rules);

    //  The same keyword rule below its catch-all would never match: refused.
    s_refused ("road * * local grid - 2h 3d\n"
               "road 塌陷 * upper subdistrict - 2h 7d\n" S_ANY,
               "t:2: rule never matches: the catch-all at line 1");
    s_refused (S_ANY "road 塌陷 * upper subdistrict - 2h 7d\n",
               "t:2: rule never matches: the catch-all at line 1");
}

static void
test_durations (void **state)
{
    (void) state;
    routing_rules_t *rules = s_parsed ("road * * local grid - 30m 1w\n"
                                       "noise * * local grid - 2h 3d\n"
                                       "parking * * local grid - 45s 90m\n" S_ANY);
    const routing_rule_t *r = routing_rules_match (rules, "road", "", NULL, NULL);
    assert_int_equal (r->respond_s, 30 * 60);
    assert_int_equal (r->resolve_s, 7 * 86400);
    r = routing_rules_match (rules, "noise", "", NULL, NULL);
    assert_int_equal (r->respond_s, 2 * 3600);
    assert_int_equal (r->resolve_s, 3 * 86400);
    r = routing_rules_match (rules, "parking", "", NULL, NULL);
    assert_int_equal (r->respond_s, 45);
    assert_int_equal (r->resolve_s, 90 * 60);
    routing_rules_destroy (&rules);

    //  resolve == respond is fine; shorter is not.
    rules = s_parsed ("road * * local grid - 2h 120m\n" S_ANY);
    routing_rules_destroy (&rules);
    s_refused ("# c\nroad * * local grid - 3d 2h\n" S_ANY,
               "t:2: resolve deadline 2h is shorter than respond deadline 3d");
    s_refused ("road * * local grid - 2x 3d\n" S_ANY, "t:1: respond '2x' is not a duration");
    s_refused ("road * * local grid - 2h 3\n" S_ANY, "t:1: resolve '3' is not a duration");
    s_refused ("road * * local grid - 0h 3d\n" S_ANY, "t:1: respond '0h'");
    s_refused ("road * * local grid - h 3d\n" S_ANY, "t:1: respond 'h'");
    s_refused ("road * * local grid - 2hh 3d\n" S_ANY, "t:1: respond '2hh'");
    s_refused ("road * * local grid - -2h 3d\n" S_ANY, "t:1: respond '-2h'");
    s_refused ("road * * local grid - 2h 60w\n" S_ANY, "t:1: resolve '60w'");
    s_refused ("road * * local grid - 2h 99999999999d\n" S_ANY, "t:1: resolve '99999999999d'");
}

static void
test_bad_files_refused_with_line (void **state)
{
    (void) state;
    s_refused ("# comment\n\nroad * * medium grid - 2h 3d\n" S_ANY, "t:3: unknown tier 'medium'");
    s_refused ("road * * local mayor - 2h 3d\n" S_ANY, "t:1: unknown lead 'mayor'");
    s_refused ("road * * hard dept: - 2h 3d\n" S_ANY, "t:1: unknown lead 'dept:'");
    s_refused ("\n\nroad * * local grid - 2h\n" S_ANY, "t:3: expected 8 columns");
    s_refused ("road * * local grid - 2h 3d extra\n" S_ANY, "t:1: expected 8 columns");
    s_refused ("road * * local grid - 2h 3d a b c d e f g h\n" S_ANY,
               "t:1: expected 8 columns (category keywords place tier lead "
               "co_handlers respond "
               "resolve), got more than 9");
    s_refused ("road * * local grid - 2h 3y\n" S_ANY, "t:1: resolve '3y' is not a duration");
    s_refused ("roads * * local grid - 2h 3d\n" S_ANY, "t:1: unknown category 'roads'");
    s_refused (S_ANY "set merge_windows 24h\n", "t:2: unknown setting 'merge_windows'");
    s_refused ("road 塌\xE9\x99 * upper subdistrict - 2h 3d\n" S_ANY, "t:1: invalid UTF-8");
    s_refused ("# ok\n# \xFF\xFE\n" S_ANY, "t:2: invalid UTF-8");
    s_refused ("road * * local grid - 2h\x01 3d\n" S_ANY, "t:1: invalid UTF-8");
    //  Tier and lead must agree; co-handlers only for hard.
    s_refused ("road * * local subdistrict - 2h 3d\n" S_ANY, "t:1: tier local is led by grid");
    s_refused ("road * * upper grid - 2h 3d\n" S_ANY, "t:1: tier upper is led by subdistrict");
    s_refused ("road * * hard grid - 2h 3d\n" S_ANY, "t:1: tier hard is led by a department");
    s_refused ("road * * upper subdistrict dept:A 2h 3d\n" S_ANY,
               "t:1: co-handlers 'dept:A' are only for tier hard");
    s_refused ("road * * hard dept:A grid 2h 3d\n" S_ANY,
               "t:1: co-handler 'grid' is not dept:<code>");
    s_refused ("road * * hard dept:A dept:B,dept:B 2h 3d\n" S_ANY,
               "t:1: co-handler 'dept:B' is listed twice");
    s_refused ("road * * hard dept:A dept:A 2h 3d\n" S_ANY,
               "t:1: co-handler 'dept:A' is already the lead");
    s_refused ("road * * hard dept:A dept:B, 2h 3d\n" S_ANY, "t:1: empty co-handler");
    //  Keywords and places.
    s_refused ("road a||b * local grid - 2h 3d\n" S_ANY, "t:1: empty keyword");
    s_refused ("road |a * local grid - 2h 3d\n" S_ANY, "t:1: empty keyword");
    s_refused ("road a|* * local grid - 2h 3d\n" S_ANY, "t:1: keywords 'a|*': '*' must stand");
    s_refused ("road * 社区一 local grid - 2h 3d\n" S_ANY, "t:1: place '社区一'");
    //  Settings.
    s_refused ("set warn_at\n" S_ANY, "t:1: a setting is 'set <name> <value>'");
    s_refused ("set warn_at 150%\n" S_ANY, "t:1: warn_at '150%'");
    s_refused ("set warn_at 0\n" S_ANY, "t:1: warn_at '0'");
    s_refused ("set warn_at -0.5\n" S_ANY, "t:1: warn_at '-0.5'");
    s_refused ("set warn_at 80%%\n" S_ANY, "t:1: warn_at '80%%'");
    s_refused ("set merge_window soon\n" S_ANY, "t:1: merge_window 'soon' is not a duration");
    s_refused ("set reopen_window 7d\n\nset reopen_window 3d\n" S_ANY,
               "t:3: setting reopen_window given twice (first at line 1)");
    //  A line over 4 KiB.
    char *longline = malloc (5000 + sizeof S_ANY);
    memset (longline, 'x', 4097);
    memcpy (longline, "# ", 2);
    strcpy (longline + 4097, "\n" S_ANY);
    s_refused (longline, "t:1: line longer than 4096 bytes");
    longline[4096] = '\n'; //  exactly 4096 bytes is fine
    routing_rules_t *rules = s_parsed (longline);
    routing_rules_destroy (&rules);
    free (longline);
}

static void
test_every_category_must_be_covered (void **state)
{
    (void) state;
    //  Every category but noise has a catch-all; noise has only a keyword
    //  rule. The message names the category and the last line.
    size_t ncats;
    const gz_category_t *cats = gz_category_all (&ncats);
    char text[4096] = "noise 装修 * local grid - 2h 3d\n";
    int lines = 1;
    for (size_t i = 0; i < ncats; i++)
        if (strcmp (cats[i].code, "noise") != 0) {
            char line[128];
            snprintf (line, sizeof line, "%s * * local grid - 2h 3d\n", cats[i].code);
            strcat (text, line);
            lines++;
        }
    strcat (text, "set warn_at 0.9\n");
    lines++;
    char want[128];
    snprintf (want, sizeof want, "t:%d: category noise (噪音扰民) has no catch-all rule", lines);
    s_refused (text, want);
    //  A place-specific rule is not a catch-all either.
    strcat (text, "noise * HGY-C01 local grid - 2h 3d\n");
    snprintf (want, sizeof want, "t:%d: category noise", lines + 1);
    s_refused (text, want);
    //  Adding noise's catch-all makes it good.
    strcat (text, "noise * * local grid - 2h 3d\n");
    routing_rules_t *rules = s_parsed (text);
    assert_int_equal (routing_rules_count (rules), ncats + 2);
    routing_rules_destroy (&rules);
    //  An empty file covers nothing.
    s_refused ("", "t:1: category road");
    s_refused ("# only comments\n", "t:1: category road");
}

static void
test_settings_with_defaults (void **state)
{
    (void) state;
    routing_rules_t *rules = s_parsed (S_ANY);
    assert_int_equal (routing_rules_merge_window_s (rules), 24 * 3600);
    assert_true (routing_rules_warn_at (rules) > 0.799 && routing_rules_warn_at (rules) < 0.801);
    assert_int_equal (routing_rules_reopen_window_s (rules), 7 * 86400);
    routing_rules_destroy (&rules);

    rules = s_parsed ("set merge_window 30m\nset warn_at 75%\nset reopen_window 2w\n" S_ANY);
    assert_int_equal (routing_rules_merge_window_s (rules), 1800);
    assert_true (routing_rules_warn_at (rules) > 0.749 && routing_rules_warn_at (rules) < 0.751);
    assert_int_equal (routing_rules_reopen_window_s (rules), 14 * 86400);
    routing_rules_destroy (&rules);

    rules = s_parsed (S_ANY "set warn_at 0.5   # halfway\n");
    assert_true (routing_rules_warn_at (rules) > 0.499 && routing_rules_warn_at (rules) < 0.501);
    assert_int_equal (routing_rules_merge_window_s (rules), 24 * 3600);
    routing_rules_destroy (&rules);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults_parse_and_cover_every_category),
        cmocka_unit_test (test_load_file),
        cmocka_unit_test (test_match_order_place_and_any_category),
        cmocka_unit_test (test_durations),
        cmocka_unit_test (test_bad_files_refused_with_line),
        cmocka_unit_test (test_every_category_must_be_covered),
        cmocka_unit_test (test_settings_with_defaults),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
