/*  Unit tests for matching_model and matching_csv: the skills table, weekly
    windows (parse, every error, format round trip, overlap, periods in
    China time), times, volunteers and needs from JSON (each kind of bad
    input names its field; the phone only ever masked) and the CSV import
    (quotes, newlines, BOM, CRLF; every bad row reported with its line).  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "matching_model.h"

#define DAY 1440

//  Parses text into w; asserts success; returns the count.
static size_t
s_parse (const char *text, mt_window_t *w)
{
    size_t n = 99;
    char err[256] = "";
    int rc = mt_windows_parse (text, w, MT_WINDOWS_MAX, &n, err, sizeof err);
    if (rc)
        fail_msg ("'%s': %s", text, err);
    return n;
}

//  Asserts text fails to parse (with max windows) and err holds want.
static void
s_parse_fails (const char *text, size_t max, const char *want)
{
    mt_window_t w[MT_WINDOWS_MAX + 1];
    size_t n;
    char err[256] = "";
    assert_int_equal (mt_windows_parse (text, w, max, &n, err, sizeof err), -1);
    if (!strstr (err, want))
        fail_msg ("'%s': err '%s' lacks '%s'", text, err, want);
    assert_non_null (strstr (err, "availability: "));
}

static void
test_skills (void **state)
{
    (void) state;
    assert_true (mt_skill_count () >= 12);
    for (size_t i = 0; i < mt_skill_count (); i++) {
        const char *name = mt_skill_name ((int) i);
        assert_non_null (name);
        assert_non_null (mt_skill_label ((int) i));
        assert_int_equal (mt_skill_from_name (name), (int) i);
    }
    const char *names[] = {"shopping",      "housework",  "hospital_escort", "companionship",
                           "tutoring",      "legal_aid",  "psych_support",   "repairs",
                           "meal_delivery", "child_care", "elderly_care",    "haircut"};
    for (size_t i = 0; i < 12; i++)
        assert_true (mt_skill_from_name (names[i]) >= 0);
    assert_string_equal (mt_skill_label (mt_skill_from_name ("hospital_escort")), "陪同就医");
    assert_string_equal (mt_skill_label (mt_skill_from_name ("shopping")), "买菜购物");
    assert_int_equal (mt_skill_from_name ("Shopping"), -1);
    assert_int_equal (mt_skill_from_name ("cooking"), -1);
    assert_int_equal (mt_skill_from_name (NULL), -1);
    assert_null (mt_skill_name (-1));
    assert_null (mt_skill_name ((int) mt_skill_count ()));
    assert_null (mt_skill_label ((int) mt_skill_count ()));
}

static void
test_windows_parse (void **state)
{
    (void) state;
    mt_window_t w[MT_WINDOWS_MAX];
    size_t n = s_parse ("mon-fri 09:00-12:00; sat 14:00-18:00; sun 00:00-24:00", w);
    assert_int_equal (n, 7);
    for (int d = 0; d < 5; d++) {
        assert_int_equal (w[d].start, d * DAY + 540);
        assert_int_equal (w[d].end, d * DAY + 720);
    }
    assert_int_equal (w[5].start, 5 * DAY + 840);
    assert_int_equal (w[5].end, 5 * DAY + 1080);
    assert_int_equal (w[6].start, 6 * DAY);
    assert_int_equal (w[6].end, MT_MINUTES_PER_WEEK);

    //  A comma list, out of order, any case; sorted.
    n = s_parse ("WED 10:00-11:00 ; Mon,fri 10:00-11:00", w);
    assert_int_equal (n, 3);
    assert_int_equal (w[0].start, 600);
    assert_int_equal (w[1].start, 2 * DAY + 600);
    assert_int_equal (w[2].start, 4 * DAY + 600);
    //  A list of ranges and a range that wraps through Sunday.
    n = s_parse ("mon-tue,thu 08:00-09:00", w);
    assert_int_equal (n, 3);
    assert_int_equal (w[2].start, 3 * DAY + 480);
    n = s_parse ("sat-mon 08:00-09:00", w);
    assert_int_equal (n, 3);
    assert_int_equal (w[0].start, 480);
    assert_int_equal (w[1].start, 5 * DAY + 480);
    assert_int_equal (w[2].start, 6 * DAY + 480);

    //  Overlapping and adjacent windows merge, across midnight too.
    n = s_parse ("mon 09:00-10:00; mon 10:00-11:00; mon 09:30-09:45; mon 13:00-14:00", w);
    assert_int_equal (n, 2);
    assert_int_equal (w[0].start, 540);
    assert_int_equal (w[0].end, 660);
    assert_int_equal (w[1].start, 780);
    n = s_parse ("tue 00:00-01:00; mon 20:00-24:00", w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 1200);
    assert_int_equal (w[0].end, DAY + 60);
    n = s_parse ("mon-sun 00:00-24:00", w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 0);
    assert_int_equal (w[0].end, MT_MINUTES_PER_WEEK);

    //  Every error.
    s_parse_fails ("mun 09:00-10:00", MT_WINDOWS_MAX, "bad day 'mun'");
    s_parse_fails ("mon-fry 09:00-10:00", MT_WINDOWS_MAX, "bad day 'mon-fry'");
    s_parse_fails ("mon, 09:00-10:00", MT_WINDOWS_MAX, "','");
    s_parse_fails ("mon 25:00-26:00", MT_WINDOWS_MAX, "bad time '25:00'");
    s_parse_fails ("mon 09:60-10:00", MT_WINDOWS_MAX, "bad time '09:60'");
    s_parse_fails ("mon 9:00-10:00", MT_WINDOWS_MAX, "bad time '9:00'");
    s_parse_fails ("mon 09:00-24:01", MT_WINDOWS_MAX, "bad time '24:01'");
    s_parse_fails ("mon 24:00-24:00", MT_WINDOWS_MAX, "bad time '24:00'");
    s_parse_fails ("mon 09:00", MT_WINDOWS_MAX, "bad time range '09:00'");
    s_parse_fails ("09:00-10:00", MT_WINDOWS_MAX, "is not 'DAYS HH:MM-HH:MM'");
    s_parse_fails ("mon 12:00-09:00", MT_WINDOWS_MAX, "end is not after the start");
    s_parse_fails ("mon 09:00-09:00", MT_WINDOWS_MAX, "end is not after the start");
    s_parse_fails ("", MT_WINDOWS_MAX, "no window");
    s_parse_fails (" ; ; ", MT_WINDOWS_MAX, "no window");
    s_parse_fails ("mon-wed 09:00-10:00", 2, "more than 2 windows");
    //  29 separate windows, one more than MT_WINDOWS_MAX; 28 parse.
    char text[2048] = "";
    for (int i = 0; i < 29; i++)
        snprintf (text + strlen (text), sizeof text - strlen (text), "%s%s %02d:00-%02d:30",
                  i ? "; " : "", (const char *[]){"mon", "tue", "wed", "thu", "fri"}[i / 6],
                  8 + 2 * (i % 6), 8 + 2 * (i % 6));
    s_parse_fails (text, MT_WINDOWS_MAX, "more than 28 windows");
    *strrchr (text, ';') = '\0';
    assert_int_equal (s_parse (text, w), 28);
    //  A failed parse leaves no windows behind.
    size_t count = 5;
    assert_int_equal (mt_windows_parse ("mon 09:00-08:00", w, MT_WINDOWS_MAX, &count, NULL, 0), -1);
    assert_int_equal (count, 0);
}

static void
test_windows_format (void **state)
{
    (void) state;
    const char *cases[][2] = {
        {"mon-fri 09:00-12:00; sat 14:00-18:00; sun 00:00-24:00",
         "mon 09:00-12:00; tue 09:00-12:00; wed 09:00-12:00; thu 09:00-12:00; fri 09:00-12:00; "
         "sat 14:00-18:00; sun 00:00-24:00"},
        {"tue 00:00-01:00; mon 20:00-24:00", "mon 20:00-24:00; tue 00:00-01:00"},
        {"sun 23:30-24:00;mon 00:00-00:30", "mon 00:00-00:30; sun 23:30-24:00"},
        {"wed 07:05-07:06", "wed 07:05-07:06"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mt_window_t a[MT_WINDOWS_MAX], b[MT_WINDOWS_MAX];
        size_t na = s_parse (cases[i][0], a);
        char *text = mt_windows_format (a, na);
        assert_string_equal (text, cases[i][1]);
        size_t nb = s_parse (text, b);
        assert_int_equal (nb, na);
        assert_memory_equal (a, b, na * sizeof a[0]);
        free (text);
    }
    char *empty = mt_windows_format (NULL, 0);
    assert_string_equal (empty, "");
    free (empty);
}

static void
test_windows_overlap (void **state)
{
    (void) state;
    mt_window_t a[MT_WINDOWS_MAX], b[MT_WINDOWS_MAX];
    size_t na = s_parse ("mon-fri 09:00-12:00", a);
    size_t nb = s_parse ("sat 09:00-12:00; fri 11:59-13:00", b);
    assert_true (mt_windows_overlap (a, na, b, nb));
    assert_true (mt_windows_overlap (b, nb, a, na));
    nb = s_parse ("sat 09:00-12:00; fri 12:00-13:00; mon 08:00-09:00", b);
    assert_false (mt_windows_overlap (a, na, b, nb)); //  touching is not overlapping
    assert_false (mt_windows_overlap (b, nb, a, na));
    nb = s_parse ("wed 00:00-24:00", b);
    assert_true (mt_windows_overlap (a, na, b, nb));
    assert_false (mt_windows_overlap (a, na, b, 0));
    assert_false (mt_windows_overlap (a, 0, b, nb));
}

static int64_t
s_time (const char *text)
{
    int64_t us = 0;
    if (mt_time_parse (text, &us))
        fail_msg ("time '%s' did not parse", text);
    return us;
}

static void
test_time_parse (void **state)
{
    (void) state;
    assert_int_equal (s_time ("1970-01-01T00:00:00Z"), 0);
    assert_int_equal (s_time ("2026-12-05T09:00:00+08:00"), 1796432400LL * 1000000);
    assert_int_equal (s_time ("2026-12-05T09:00+08:00"), 1796432400LL * 1000000);
    assert_int_equal (s_time ("2026-12-05T01:00Z"), 1796432400LL * 1000000);
    assert_int_equal (s_time ("2026-12-04T20:00:00-05:00"), 1796432400LL * 1000000);
    assert_int_equal (s_time ("2026-12-05T09:00:59+08:00"), (1796432400LL + 59) * 1000000);
    assert_int_equal (s_time ("2024-02-29T00:00:00Z"), 1709164800LL * 1000000);
    const char *bad[] = {"2026-02-29T00:00:00Z", "2026-13-01T00:00Z",
                         "2026-04-31T00:00Z",    "2026-12-05T24:00Z",
                         "2026-12-05T09:60Z",    "2026-12-05T09:00",
                         "2026-12-05 09:00Z",    "2026-12-05T09:00:00.5Z",
                         "2026-12-05T09:00Zx",   "2026-12-05T09:00+0800",
                         "2026-12-05T9:00Z",     "",
                         "2026-12-05",           "2026-12-05T09:00:00+24:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 0;
        if (mt_time_parse (bad[i], &us) != -1)
            fail_msg ("'%s' parsed", bad[i]);
    }
    int64_t us;
    assert_int_equal (mt_time_parse (NULL, &us), -1);
}

static void
test_windows_from_period (void **state)
{
    (void) state;
    mt_window_t w[2];
    //  Across the week boundary, in China time.
    size_t n = mt_windows_from_period (s_time ("2026-12-06T23:00+08:00"),
                                       s_time ("2026-12-07T01:00+08:00"), w);
    assert_int_equal (n, 2);
    assert_int_equal (w[0].start, 0);
    assert_int_equal (w[0].end, 60);
    assert_int_equal (w[1].start, 6 * DAY + 23 * 60);
    assert_int_equal (w[1].end, MT_MINUTES_PER_WEEK);
    char *text = mt_windows_format (w, n);
    assert_string_equal (text, "mon 00:00-01:00; sun 23:00-24:00");
    free (text);
    //  The same period written in UTC.
    n = mt_windows_from_period (s_time ("2026-12-06T15:00Z"), s_time ("2026-12-06T17:00Z"), w);
    assert_int_equal (n, 2);
    assert_int_equal (w[1].start, 6 * DAY + 23 * 60);
    //  Saturday 09:00-11:00 China time (01:00-03:00 UTC).
    n = mt_windows_from_period (s_time ("2026-12-05T01:00Z"), s_time ("2026-12-05T03:00Z"), w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 5 * DAY + 540);
    assert_int_equal (w[0].end, 5 * DAY + 660);
    //  Widened to whole minutes.
    n = mt_windows_from_period (s_time ("2026-12-07T09:00:30+08:00"),
                                s_time ("2026-12-07T09:01:10+08:00"), w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 540);
    assert_int_equal (w[0].end, 542);
    //  A week or longer: the whole week.
    int64_t from = s_time ("2026-12-03T10:00+08:00");
    n = mt_windows_from_period (from, from + 7LL * 86400 * 1000000, w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 0);
    assert_int_equal (w[0].end, MT_MINUTES_PER_WEEK);
    n = mt_windows_from_period (from, from + 20LL * 86400 * 1000000, w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].end, MT_MINUTES_PER_WEEK);
    //  Just under a week wraps: thu 10:00 .. thu 09:59.
    n = mt_windows_from_period (from, from + (7LL * 86400 - 60) * 1000000, w);
    assert_int_equal (n, 2);
    assert_int_equal (w[0].end, 3 * DAY + 599);
    assert_int_equal (w[1].start, 3 * DAY + 600);
    //  Empty and reversed periods.
    assert_int_equal (mt_windows_from_period (from, from, w), 0);
    assert_int_equal (mt_windows_from_period (from, from - 1, w), 0);
    //  Before 1970 (negative times) still lands on the right weekday:
    //  1969-12-29 was a Monday.
    n = mt_windows_from_period (s_time ("1969-12-29T08:00+08:00"),
                                s_time ("1969-12-29T09:00+08:00"), w);
    assert_int_equal (n, 1);
    assert_int_equal (w[0].start, 480);
}

static const char *s_volunteer_json =
    "{\"id\": \"v-001\", \"name\": \"郑小明\", \"skills\": [\"shopping\", \"hospital_escort\"],"
    " \"social_worker\": true, \"grid\": \"G-01.a\", \"lat\": 26.58, \"lon\": 107.98,"
    " \"availability\": [\"mon-fri 09:00-12:00\", \"sat 14:00-18:00\"], \"max_per_week\": 5,"
    " \"state\": \"paused\", \"phone\": \"+86 138-1234-8000\"}";

static int
s_volunteer (const char *json, mt_volunteer_t *v, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *obj = json_loads (json, 0, &jerr);
    if (!obj)
        fail_msg ("bad test JSON %s: %s", json, jerr.text);
    int rc = mt_volunteer_from_json (obj, v, err, err_size);
    json_decref (obj);
    return rc;
}

static void
test_volunteer_json (void **state)
{
    (void) state;
    mt_volunteer_t v;
    char err[256] = "";
    if (s_volunteer (s_volunteer_json, &v, err, sizeof err))
        fail_msg ("%s", err);
    assert_string_equal (v.id, "v-001");
    assert_string_equal (v.name, "郑小明");
    assert_int_equal (v.skills, (1u << mt_skill_from_name ("shopping")) |
                                    (1u << mt_skill_from_name ("hospital_escort")));
    assert_true (v.social_worker);
    assert_string_equal (v.grid, "G-01.a");
    assert_true (v.has_location);
    assert_true (v.lat > 26.57 && v.lat < 26.59 && v.lon > 107.97 && v.lon < 107.99);
    assert_int_equal (v.n_windows, 6);
    assert_int_equal (v.max_per_week, 5);
    assert_false (v.active);
    assert_string_equal (v.phone, "+86 138-1234-8000");

    json_t *o = mt_volunteer_to_json (&v);
    char *dump = json_dumps (o, JSON_SORT_KEYS);
    assert_null (strstr (dump, "1234"));
    assert_null (strstr (dump, "+86"));
    assert_string_equal (json_string_value (json_object_get (o, "phone_masked")), "138****8000");
    assert_null (json_object_get (o, "phone"));
    assert_string_equal (json_string_value (json_array_get (json_object_get (o, "skills"), 1)),
                         "hospital_escort");
    assert_string_equal (
        json_string_value (json_array_get (json_object_get (o, "skill_labels"), 0)), "买菜购物");
    assert_string_equal (json_string_value (json_object_get (o, "availability")),
                         "mon 09:00-12:00; tue 09:00-12:00; wed 09:00-12:00; thu 09:00-12:00; "
                         "fri 09:00-12:00; sat 14:00-18:00");
    assert_string_equal (json_string_value (json_object_get (o, "state")), "paused");
    assert_int_equal (json_integer_value (json_object_get (o, "max_per_week")), 5);
    assert_true (json_is_true (json_object_get (o, "social_worker")));
    //  to_json's output (without the masked phone) reads back the same.
    json_object_del (o, "phone_masked");
    json_object_del (o, "skill_labels");
    mt_volunteer_t back;
    assert_int_equal (mt_volunteer_from_json (o, &back, err, sizeof err), 0);
    assert_int_equal (back.skills, v.skills);
    assert_int_equal (back.n_windows, v.n_windows);
    assert_memory_equal (back.windows, v.windows, v.n_windows * sizeof v.windows[0]);
    free (dump);
    json_decref (o);

    //  The minimum: defaults, no location, no phone.
    assert_int_equal (s_volunteer ("{\"id\":\"a\",\"name\":\"A\",\"skills\":[\"repairs\"],"
                                   "\"grid\":\"g\",\"availability\":\"sun 08:00-09:00\","
                                   "\"lat\":null,\"phone\":null}",
                                   &v, err, sizeof err),
                      0);
    assert_int_equal (v.max_per_week, 3);
    assert_true (v.active);
    assert_false (v.has_location);
    assert_false (v.social_worker);
    assert_string_equal (v.phone, "");
    o = mt_volunteer_to_json (&v);
    assert_null (json_object_get (o, "phone_masked"));
    assert_null (json_object_get (o, "lat"));
    json_decref (o);
}

//  Replaces (or with value NULL removes) key of the valid volunteer and
//  asserts the error starts with want.
static void
s_volunteer_bad (const char *key, const char *value_json, const char *want)
{
    json_t *obj = json_loads (s_volunteer_json, 0, NULL);
    assert_non_null (obj);
    if (value_json) {
        json_t *value = json_loads (value_json, JSON_DECODE_ANY, NULL);
        assert_non_null (value);
        json_object_set_new (obj, key, value);
    }
    else
        json_object_del (obj, key);
    mt_volunteer_t v;
    char err[256] = "";
    assert_int_equal (mt_volunteer_from_json (obj, &v, err, sizeof err), -1);
    if (strncmp (err, want, strlen (want)))
        fail_msg ("%s=%s: err '%s', expected '%s...'", key, value_json, err, want);
    json_decref (obj);
}

static void
test_volunteer_json_invalid (void **state)
{
    (void) state;
    s_volunteer_bad ("colour", "\"red\"", "colour: unknown field");
    const char *required[] = {"id", "name", "skills", "grid", "availability"};
    for (size_t i = 0; i < 5; i++) {
        char want[64];
        snprintf (want, sizeof want, "%s: required", required[i]);
        s_volunteer_bad (required[i], NULL, want);
        s_volunteer_bad (required[i], "null", required[i]);
    }
    s_volunteer_bad ("id", "7", "id: must be a string");
    s_volunteer_bad ("id", "\"\"", "id: required");
    s_volunteer_bad ("id", "\"a b\"", "id: only letters");
    s_volunteer_bad ("id", "\"x12345678901234567890123456789012345678901234567890123456789012345\"",
                     "id: longer than 64");
    s_volunteer_bad ("grid", "\"g/1\"", "grid: only letters");
    s_volunteer_bad ("name", "\"  \"", "name: required");
    //  101 characters (303 bytes): too long; 100 are fine.
    char name[400] = "\"";
    for (int i = 0; i < 101; i++)
        strcat (name, "郑");
    strcat (name, "\"");
    s_volunteer_bad ("name", name, "name: longer than 100 characters");
    s_volunteer_bad ("name", "\"a\\u0001b\"", "name: not valid UTF-8");
    s_volunteer_bad ("skills", "[]", "skills: at least one");
    s_volunteer_bad ("skills", "[\"shopping\", \"cooking\"]", "skills: unknown skill 'cooking'");
    s_volunteer_bad ("skills", "\"shopping\"", "skills: must be an array");
    s_volunteer_bad ("skills", "[1]", "skills: must be an array");
    s_volunteer_bad ("social_worker", "\"yes\"", "social_worker: must be true or false");
    s_volunteer_bad ("lat", "\"26.5\"", "lat: must be a number");
    s_volunteer_bad ("lat", "91", "lat: must be a number from -90 to 90");
    s_volunteer_bad ("lon", "-180.5", "lon: must be a number from -180 to 180");
    s_volunteer_bad ("lon", NULL, "lon: lat and lon go together");
    s_volunteer_bad ("lat", NULL, "lat: lat and lon go together");
    s_volunteer_bad ("availability", "\"mon 25:00-26:00\"", "availability: bad time '25:00'");
    s_volunteer_bad ("availability", "[\"mon 09:00-10:00\", 3]", "availability: must be a string");
    s_volunteer_bad ("availability", "{}", "availability: must be a string");
    s_volunteer_bad ("max_per_week", "0", "max_per_week: must be an integer from 1 to 50");
    s_volunteer_bad ("max_per_week", "51", "max_per_week: must be an integer from 1 to 50");
    s_volunteer_bad ("max_per_week", "3.5", "max_per_week: must be an integer");
    s_volunteer_bad ("max_per_week", "\"3\"", "max_per_week: must be an integer");
    s_volunteer_bad ("state", "\"sleeping\"", "state: must be 'active' or 'paused'");
    s_volunteer_bad ("phone", "\"call me\"", "phone: not a phone number");
    s_volunteer_bad ("phone", "\"123456789012345678901234567890123\"", "phone: not a phone number");

    //  Invalid UTF-8 (jansson refuses to make it, but a caller may).
    json_t *obj = json_loads (s_volunteer_json, 0, NULL);
    json_object_set_new (obj, "name", json_stringn_nocheck ("\xff\xfe", 2));
    mt_volunteer_t v;
    char err[256] = "";
    assert_int_equal (mt_volunteer_from_json (obj, &v, err, sizeof err), -1);
    assert_non_null (strstr (err, "name: not valid UTF-8"));
    json_decref (obj);
    //  Not an object.
    obj = json_array ();
    assert_int_equal (mt_volunteer_from_json (obj, &v, err, sizeof err), -1);
    json_decref (obj);
}

static int
s_need (const char *json, mt_need_t *need, char *err, size_t err_size)
{
    json_t *obj = json_loads (json, 0, NULL);
    if (!obj)
        fail_msg ("bad test JSON %s", json);
    int rc = mt_need_from_json (obj, need, err, err_size);
    json_decref (obj);
    return rc;
}

static void
s_need_bad (const char *json, const char *want)
{
    mt_need_t need;
    char err[256] = "";
    assert_int_equal (s_need (json, &need, err, sizeof err), -1);
    if (strncmp (err, want, strlen (want)))
        fail_msg ("%s: err '%s', expected '%s...'", json, err, want);
}

#define NEED_HEAD "{\"building\":\"B-3\",\"contact_name\":\"王奶奶\",\"skill\":\"shopping\","

static void
test_need_json (void **state)
{
    (void) state;
    mt_need_t need;
    char err[256] = "";
    int rc = s_need (NEED_HEAD "\"phone\":\"13812348000\",\"urgency\":\"urgent\",\"note\":\"二楼\","
                               "\"window\":{\"from\":\"2026-12-06T23:00+08:00\","
                               "\"to\":\"2026-12-07T01:00:00+08:00\"}}",
                     &need, err, sizeof err);
    if (rc)
        fail_msg ("%s", err);
    assert_string_equal (need.building, "B-3");
    assert_string_equal (need.contact_name, "王奶奶");
    assert_string_equal (need.phone, "13812348000");
    assert_int_equal (need.skill, mt_skill_from_name ("shopping"));
    assert_true (need.urgent);
    assert_false (need.recurring);
    assert_int_equal (need.to_us - need.from_us, 2LL * 3600 * 1000000);
    assert_int_equal (need.n_windows, 2);
    assert_int_equal (need.windows[0].end, 60);
    assert_int_equal (need.windows[1].start, 6 * DAY + 23 * 60);
    assert_string_equal (need.note, "二楼");

    rc = s_need (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\"}", &need, err, sizeof err);
    assert_int_equal (rc, 0);
    assert_true (need.recurring);
    assert_false (need.urgent);
    assert_int_equal (need.from_us, 0);
    assert_int_equal (need.n_windows, 1);
    assert_int_equal (need.windows[0].start, 5 * DAY + 540);
    assert_string_equal (need.phone, "");

    s_need_bad (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"window\":{\"from\":\"2026-12-06T23:"
                          "00Z\",\"to\":\"2026-12-07T01:00Z\"}}",
                "window: exactly one");
    s_need_bad (NEED_HEAD "\"urgency\":\"normal\"}", "window: exactly one");
    s_need_bad (NEED_HEAD "\"weekly\":\"sat 11:00-09:00\"}", "weekly: the end is not after");
    s_need_bad (NEED_HEAD "\"weekly\":[\"sat 09:00-11:00\"]}", "weekly: must be a string");
    s_need_bad (NEED_HEAD
                "\"window\":{\"from\":\"2026-12-07T01:00Z\",\"to\":\"2026-12-07T01:00Z\"}}",
                "window.to: must be after window.from");
    s_need_bad (NEED_HEAD
                "\"window\":{\"from\":\"2026-12-01T00:00Z\",\"to\":\"2027-01-01T00:01Z\"}}",
                "window: longer than 31 days");
    s_need_bad (NEED_HEAD
                "\"window\":{\"from\":\"2026-12-07 01:00\",\"to\":\"2026-12-07T02:00Z\"}}",
                "window.from: must be a time");
    s_need_bad (NEED_HEAD "\"window\":{\"from\":\"2026-12-07T01:00Z\"}}", "window.to: required");
    s_need_bad (NEED_HEAD "\"window\":{\"from\":\"2026-12-07T01:00Z\",\"to\":\"2026-12-07T02:00Z\","
                          "\"tz\":8}}",
                "window.tz: unknown field");
    s_need_bad (NEED_HEAD "\"window\":\"today\"}", "window: must be an object");
    s_need_bad ("{\"building\":\"B-3\",\"contact_name\":\"王\",\"skill\":\"cooking\","
                "\"weekly\":\"sat 09:00-11:00\"}",
                "skill: unknown skill 'cooking'");
    s_need_bad ("{\"building\":\"B-3\",\"skill\":\"repairs\",\"weekly\":\"sat 09:00-11:00\"}",
                "contact_name: required");
    s_need_bad ("{\"contact_name\":\"王\",\"skill\":\"repairs\",\"weekly\":\"sat 09:00-11:00\"}",
                "building: required");
    s_need_bad (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"urgency\":\"asap\"}",
                "urgency: must be 'normal' or 'urgent'");
    s_need_bad (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"phone\":\"x\"}", "phone: not a phone");
    s_need_bad (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"skills\":[]}", "skills: unknown field");
    s_need_bad (NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"building\":5}",
                "building: must be a string");
    //  A note of 500 characters is fine, 501 is not.
    char json[4096];
    char note[2048] = "";
    for (int i = 0; i < 500; i++)
        strcat (note, "字");
    snprintf (json, sizeof json, NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"note\":\"%s\"}", note);
    assert_int_equal (s_need (json, &need, err, sizeof err), 0);
    assert_int_equal (strlen (need.note), 1500);
    snprintf (json, sizeof json, NEED_HEAD "\"weekly\":\"sat 09:00-11:00\",\"note\":\"%s字\"}",
              note);
    s_need_bad (json, "note: longer than 500 characters");
}

//  Parses a CSV string; returns the error count.
static size_t
s_csv (const char *text, mt_volunteer_t **out, size_t *n, mt_csv_errors_t *errors)
{
    return mt_csv_volunteers_parse (text, strlen (text), out, n, errors);
}

//  Asserts a CSV fails with exactly the errors want (NULL-terminated).
static void
s_csv_fails (const char *text, const char **want)
{
    mt_volunteer_t *out = (mt_volunteer_t *) 1;
    size_t n = 99, count = 0;
    mt_csv_errors_t errors;
    while (want[count])
        count++;
    size_t got = s_csv (text, &out, &n, &errors);
    for (size_t i = 0; i < errors.n && i < count; i++)
        if (strcmp (errors.lines[i], want[i]))
            fail_msg ("error %zu: '%s', expected '%s'", i, errors.lines[i], want[i]);
    if (got != count || errors.n != count)
        fail_msg ("%zu errors (%zu lines), expected %zu; first: %s", got, errors.n, count,
                  errors.n ? errors.lines[0] : "-");
    assert_null (out);
    assert_int_equal (n, 0);
    mt_csv_errors_free (&errors);
    assert_int_equal (errors.n, 0);
}

static void
test_csv_valid (void **state)
{
    (void) state;
    const char *text = "\xEF\xBB\xBFname,id,skills,grid,availability,social_worker,lat,lon,"
                       "max_per_week,state,phone\r\n"
                       "\"Zheng, \"\"Xiao\"\" Ming\",v1,shopping|housework,G1,"
                       "\"mon-fri 09:00-12:00; sat 14:00-18:00\",是,26.5,107.9,5,paused,"
                       "13812348000\r\n"
                       "\r\n"
                       "\"two\nlines\", v2 ,repairs; haircut ,G2,sun 00:00-24:00,0,,,,,\r\n"
                       "李四,v3,tutoring,G1,\"wed 19:00-21:00\",否,,,,active,\n"
                       "王五,v4,legal_aid,G3,sat 10:00-11:00,true,1,2,50,,";
    mt_volunteer_t *out = NULL;
    size_t n = 0;
    mt_csv_errors_t errors;
    size_t count = s_csv (text, &out, &n, &errors);
    if (count)
        fail_msg ("%zu errors, first: %s", count, errors.lines[0]);
    assert_int_equal (errors.n, 0);
    assert_int_equal (n, 4);
    assert_string_equal (out[0].name, "Zheng, \"Xiao\" Ming");
    assert_string_equal (out[0].id, "v1");
    assert_int_equal (out[0].skills, (1u << mt_skill_from_name ("shopping")) |
                                         (1u << mt_skill_from_name ("housework")));
    assert_int_equal (out[0].n_windows, 6);
    assert_true (out[0].social_worker);
    assert_true (out[0].has_location);
    assert_int_equal (out[0].max_per_week, 5);
    assert_false (out[0].active);
    assert_string_equal (out[0].phone, "13812348000");
    assert_string_equal (out[1].name, "two\nlines");
    assert_string_equal (out[1].id, "v2");
    assert_int_equal (out[1].skills, (1u << mt_skill_from_name ("repairs")) |
                                         (1u << mt_skill_from_name ("haircut")));
    assert_false (out[1].social_worker);
    assert_false (out[1].has_location);
    assert_int_equal (out[1].max_per_week, 3);
    assert_true (out[1].active);
    assert_string_equal (out[1].phone, "");
    assert_string_equal (out[2].name, "李四");
    assert_false (out[2].social_worker);
    assert_true (out[3].social_worker);
    assert_int_equal (out[3].max_per_week, 50);
    free (out);
    mt_csv_errors_free (&errors);
}

//  The example in docs/matching.md parses.
static void
test_csv_doc_example (void **state)
{
    (void) state;
    const char *text =
        "id,name,skills,grid,availability,social_worker,phone\n"
        "v-001,郑小明,shopping|hospital_escort,G-01,\"mon-fri 09:00-12:00; sat 14:00-18:00\",是,"
        "13812348000\n"
        "v-002,\"Li, Hua\",tutoring,G-02,wed 19:00-21:00,否,\n";
    mt_volunteer_t *out = NULL;
    size_t n = 0;
    mt_csv_errors_t errors;
    assert_int_equal (s_csv (text, &out, &n, &errors), 0);
    assert_int_equal (n, 2);
    assert_string_equal (out[1].name, "Li, Hua");
    assert_true (out[0].social_worker);
    assert_int_equal (out[0].n_windows, 6);
    free (out);
}

static void
test_csv_bad_rows (void **state)
{
    (void) state;
    //  Rows on lines 2, 3-4 (a quoted newline), 5, 6, 7, 8: lines 5, 7 and 8
    //  are bad, each in one field; every one is reported.
    const char *text = "id,name,skills,grid,availability\n"
                       "v1,A,shopping,G1,mon 09:00-10:00\n"
                       "v2,\"B\nB\",shopping,G1,mon 09:00-10:00\n"
                       "v3,C,cooking,G1,mon 09:00-10:00\n"
                       "v4,D,shopping,G1,mon 09:00-10:00\n"
                       "v5,E,shopping,G1,mon 25:00-26:00\n"
                       "v6,,shopping,G1,mon 09:00-10:00\n";
    s_csv_fails (text, (const char *[]){"line 5: skills: unknown skill 'cooking'",
                                        "line 7: availability: bad time '25:00'",
                                        "line 8: name: required", NULL});
    //  Several bad fields in one row: each reported; a lone lat.
    s_csv_fails ("id,name,skills,grid,availability,lat,lon,max_per_week\n"
                 "v1,A,shopping,G 1,mon 09:00-10:00,,,0\n"
                 "v2,B,shopping,G1,mon 09:00-10:00,26.5,,\n"
                 "v3,C,shopping,G1,mon 09:00-10:00,north,1,\n",
                 (const char *[]){"line 2: grid: only letters, digits, '.', '_' and '-' allowed",
                                  "line 2: max_per_week: must be an integer from 1 to 50",
                                  "line 3: lon: lat and lon go together",
                                  "line 4: lat: not a number", NULL});
    //  Duplicate ids, reported with the first line.
    s_csv_fails ("id,name,skills,grid,availability\n"
                 "v1,A,shopping,G1,mon 09:00-10:00\n"
                 "v2,B,shopping,G1,mon 09:00-10:00\n"
                 "v1,C,shopping,G1,mon 09:00-10:00\n"
                 "v2,D,shopping,G1,mon 09:00-10:00\n",
                 (const char *[]){"line 4: id: 'v1' is also on line 2",
                                  "line 5: id: 'v2' is also on line 3", NULL});
    //  Wrong field counts; an unterminated quote.
    s_csv_fails ("id,name,skills,grid,availability\n"
                 "v1,A,shopping,G1\n"
                 "v2,B,shopping,G1,mon 09:00-10:00,extra\n"
                 "v3,\"C\"x,shopping,G1,mon 09:00-10:00\n"
                 "v4,D,shopping,G1,\"mon 09:00-10:00\n",
                 (const char *[]){"line 2: 4 fields, the header has 5",
                                  "line 3: 6 fields, the header has 5",
                                  "line 4: text after the closing quote of field 2",
                                  "line 5: a quoted field is not closed", NULL});
    //  Invalid UTF-8 and a control character.
    s_csv_fails ("id,name,skills,grid,availability\n"
                 "v1,\xff,shopping,G1,mon 09:00-10:00\n"
                 "v2,B\x01,shopping,G1,mon 09:00-10:00\n",
                 (const char *[]){
                     "line 2: name: not valid UTF-8 text (or holds a control character)",
                     "line 3: name: not valid UTF-8 text (or holds a control character)", NULL});
    //  A NUL inside a cell is refused, not cut short.
    const char nul[] = "id,name,skills,grid,availability\nv1,A\0B,shopping,G1,mon 09:00-10:00\n";
    mt_volunteer_t *out;
    size_t n;
    mt_csv_errors_t errors;
    assert_int_equal (mt_csv_volunteers_parse (nul, sizeof nul - 1, &out, &n, &errors), 1);
    assert_string_equal (errors.lines[0],
                         "line 2: name: not valid UTF-8 text (or holds a control character)");
    mt_csv_errors_free (&errors);
}

static void
test_csv_header (void **state)
{
    (void) state;
    s_csv_fails ("id,name,skills,colour,grid,name\nv1,A,shopping,red,G1,A\n",
                 (const char *[]){"line 1: unknown column 'colour' (columns: id, name, skills, "
                                  "social_worker, grid, lat, lon, availability, max_per_week, "
                                  "state, phone)",
                                  "line 1: column 'name' appears twice",
                                  "line 1: missing column 'availability'", NULL});
    s_csv_fails ("", (const char *[]){"line 1: empty file: expected a header line "
                                      "(id,name,skills,grid,availability)",
                                      NULL});
    s_csv_fails ("\xEF\xBB\xBF\r\n\n", (const char *[]){"line 1: empty file: expected a header "
                                                        "line (id,name,skills,grid,availability)",
                                                        NULL});
    s_csv_fails ("id,name,skills,grid,availability\r\n",
                 (const char *[]){"line 1: no rows after the header", NULL});
}

static void
test_csv_limits (void **state)
{
    (void) state;
    //  1,500 bad rows: 1,000 lines and a last "... 500 more errors".
    size_t rows = 1500, cap = 64 + rows * 40;
    char *text = malloc (cap);
    size_t len = (size_t) snprintf (text, cap, "id,name,skills,grid,availability\n");
    for (size_t i = 0; i < rows; i++)
        len += (size_t) snprintf (text + len, cap - len, "v%zu,A,cooking,G1,mon 09:00-10:00\n", i);
    mt_volunteer_t *out;
    size_t n;
    mt_csv_errors_t errors;
    assert_int_equal (mt_csv_volunteers_parse (text, len, &out, &n, &errors), 1500);
    assert_int_equal (errors.n, MT_CSV_MAX_ERRORS + 1);
    assert_string_equal (errors.lines[0], "line 2: skills: unknown skill 'cooking'");
    assert_string_equal (errors.lines[999], "line 1001: skills: unknown skill 'cooking'");
    assert_string_equal (errors.lines[1000], "... 500 more errors");
    mt_csv_errors_free (&errors);
    free (text);

    //  100,000 rows are fine; one more is an error.
    rows = MT_CSV_MAX_ROWS + 1, cap = 64 + rows * 40;
    text = malloc (cap);
    len = (size_t) snprintf (text, cap, "id,name,skills,grid,availability\n");
    size_t at_max = 0;
    for (size_t i = 0; i < rows; i++) {
        len += (size_t) snprintf (text + len, cap - len, "v%zu,A,shopping,G1,mon 09:00-10:00\n", i);
        if (i + 1 == MT_CSV_MAX_ROWS)
            at_max = len;
    }
    assert_int_equal (mt_csv_volunteers_parse (text, at_max, &out, &n, &errors), 0);
    assert_int_equal (n, MT_CSV_MAX_ROWS);
    assert_string_equal (out[n - 1].id, "v99999");
    free (out);
    assert_int_equal (mt_csv_volunteers_parse (text, len, &out, &n, &errors), 1);
    assert_string_equal (errors.lines[0], "line 100002: more than 100000 rows");
    assert_null (out);
    mt_csv_errors_free (&errors);
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_skills),          cmocka_unit_test (test_windows_parse),
        cmocka_unit_test (test_windows_format),  cmocka_unit_test (test_windows_overlap),
        cmocka_unit_test (test_time_parse),      cmocka_unit_test (test_windows_from_period),
        cmocka_unit_test (test_volunteer_json),  cmocka_unit_test (test_volunteer_json_invalid),
        cmocka_unit_test (test_need_json),       cmocka_unit_test (test_csv_valid),
        cmocka_unit_test (test_csv_doc_example), cmocka_unit_test (test_csv_bad_rows),
        cmocka_unit_test (test_csv_header),      cmocka_unit_test (test_csv_limits),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
