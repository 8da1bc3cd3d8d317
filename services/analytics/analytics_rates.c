/*  analytics_rates: the API's numbers from rollup sums (pure; tested in
    tests/unit/test_analytics_rates.c). Definitions: docs/analytics.md.  */
#include "analytics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  a / b, or JSON null when b is 0.
static json_t *
s_rate (int64_t a, int64_t b)
{
    return b > 0 ? json_real ((double) a / (double) b) : json_null ();
}

static json_t *
s_hours (const int64_t *hist)
{
    double med = analytics_hist_quantile (hist, 0.5), p90 = analytics_hist_quantile (hist, 0.9);
    return json_pack ("{s:o,s:o}", "median", isnan (med) ? json_null () : json_real (med), "p90",
                      isnan (p90) ? json_null () : json_real (p90));
}

json_t *
analytics_rates_json (const char *node, const char *from, const char *to,
                      const analytics_counts_t *c, int64_t overdue_unreached)
{
    int64_t due = c->reached + overdue_unreached;
    json_t *j = json_pack ("{s:s,s:s,s:s,s:I}", "node", node, "from", from, "to", to, "requests",
                           (json_int_t) c->requests);
    json_object_set_new (j, "response",
                         json_pack ("{s:I,s:I,s:o,s:I}", "on_time", (json_int_t) c->reached_on_time,
                                    "due", (json_int_t) due, "rate",
                                    s_rate (c->reached_on_time, due), "overdue_unreached",
                                    (json_int_t) overdue_unreached));
    json_object_set_new (j, "resolution",
                         json_pack ("{s:I,s:I,s:o,s:I,s:o}", "resolved", (json_int_t) c->resolved,
                                    "total", (json_int_t) c->requests, "rate",
                                    s_rate (c->resolved, c->requests), "on_time",
                                    (json_int_t) c->resolved_on_time, "on_time_rate",
                                    s_rate (c->resolved_on_time, c->requests)));
    json_object_set_new (j, "satisfaction",
                         json_pack ("{s:I,s:I,s:o}", "satisfied", (json_int_t) c->satisfied,
                                    "rated", (json_int_t) c->rated, "rate",
                                    s_rate (c->satisfied, c->rated)));
    json_object_set_new (j, "escalated", json_integer (c->escalated));
    json_object_set_new (j, "reopened", json_integer (c->reopened));
    json_object_set_new (j, "reopen_rate", s_rate (c->reopened, c->requests));
    json_object_set_new (j, "merged", json_integer (c->merged));
    json_object_set_new (j, "invalid", json_integer (c->invalid));
    json_object_set_new (j, "disputes",
                         json_pack ("{s:I,s:I,s:o}", "total", (json_int_t) c->disputes, "resolved",
                                    (json_int_t) c->disputes_resolved, "rate",
                                    s_rate (c->disputes_resolved, c->disputes)));
    json_object_set_new (j, "hours_to_contact", s_hours (c->contact_hist));
    json_object_set_new (j, "hours_to_resolution", s_hours (c->resolve_hist));
    return j;
}

//  "YYYY-MM-DD" that is a real date: its days since the epoch, or -1.
static long
s_date (const char *text)
{
    int y, m, d;
    char tail;
    if (!text || strlen (text) != 10 || sscanf (text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
        y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm (&tm);
    struct tm back;
    gmtime_r (&t, &back);
    if (back.tm_mday != d || back.tm_mon != m - 1)
        return -1; //  2026-02-30
    return (long) (t / 86400);
}

int
analytics_period_parse (const char *from, const char *to, char *err, size_t err_size)
{
    long a = s_date (from), b = s_date (to);
    if (a < 0 || b < 0) {
        snprintf (err, err_size, "%s: a date YYYY-MM-DD is required", a < 0 ? "from" : "to");
        return -1;
    }
    if (a > b) {
        snprintf (err, err_size, "from is after to");
        return -1;
    }
    if (b - a > 3660) {
        snprintf (err, err_size, "the period is longer than ten years");
        return -1;
    }
    return 0;
}

//  The rate at path (e.g. "response") of a rates object, or NAN when null.
static double
s_rate_of (json_t *rates, const char *which)
{
    json_t *r = json_object_get (json_object_get (rates, which), "rate");
    return json_is_number (r) ? json_number_value (r) : NAN;
}

json_t *
analytics_rankings_json (const char *node, const char *from, const char *to, json_t *rows,
                         int min_sample)
{
    static const char *const which[3] = {"response", "resolution", "satisfaction"};
    size_t n = json_array_size (rows);
    json_t *units = json_array ();
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get (rows, i);
        json_int_t requests = json_integer_value (json_object_get (r, "requests"));
        json_t *u = json_pack ("{s:O,s:I,s:b,s:{}}", "node", json_object_get (r, "node"),
                               "requests", requests, "ranked", requests >= min_sample, "rank");
        for (int w = 0; w < 3; w++) {
            double rate = s_rate_of (r, which[w]);
            json_object_set_new (u, which[w], isnan (rate) ? json_null () : json_real (rate));
            //  Rank: 1 + how many ranked units do strictly better.
            json_t *rank = json_null ();
            if (requests >= min_sample && !isnan (rate)) {
                int better = 0;
                for (size_t k = 0; k < n; k++) {
                    json_t *o = json_array_get (rows, k);
                    double other = s_rate_of (o, which[w]);
                    if (k != i && !isnan (other) && other > rate &&
                        json_integer_value (json_object_get (o, "requests")) >= min_sample)
                        better++;
                }
                rank = json_integer (better + 1);
            }
            json_object_set_new (json_object_get (u, "rank"), which[w], rank);
        }
        json_array_append_new (units, u);
    }
    json_decref (rows);
    return json_pack ("{s:s,s:s,s:s,s:i,s:o}", "node", node, "from", from, "to", to, "min_sample",
                      min_sample, "units", units);
}
