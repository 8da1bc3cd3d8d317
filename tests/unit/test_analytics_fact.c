/*  Unit tests for analytics_fact: what each event does to a request's
    fact and what the fact counts for, by hand: on time and late, merged
    and invalid requests out of the cohort, a rating changed both ways, a
    reopen, a dispute, the histograms and their quantiles, the China-time
    day; and that deltas (new minus old) sum to the final contribution.  */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "analytics_fact.h"

#define H 3600000000LL
#define T0 1764547200000000LL //  2025-12-01 00:00 UTC = 08:00 China time

static analytics_fact_t
s_filed (const char *category)
{
    analytics_fact_t f;
    analytics_fact_init (&f, "100001");
    analytics_fact_submitted (&f, category, 1, "B1", "G1", "C1", "S1", "D1", T0);
    return f;
}

static void
s_event (analytics_fact_t *f, const char *kind, const char *outcome, int64_t at)
{
    analytics_update_t u = {.kind = kind, .outcome = outcome, .at_us = at};
    analytics_fact_apply (f, &u);
}

static void
s_routed (analytics_fact_t *f, int tier, const char *unit, bool dept)
{
    analytics_update_t u = {.kind = "routed",
                            .tier = tier,
                            .lead_unit = unit,
                            .lead_is_department = dept,
                            .response_due_us = T0 + 2 * H,
                            .resolve_due_us = T0 + 48 * H,
                            .at_us = T0};
    analytics_fact_apply (f, &u);
}

static void
s_rate (analytics_fact_t *f, bool satisfied)
{
    analytics_update_t u = {.kind = "rated", .satisfied = satisfied, .at_us = T0 + 50 * H};
    analytics_fact_apply (f, &u);
}

static void
test_on_time (void **state)
{
    (void) state;
    analytics_fact_t f = s_filed ("property");
    analytics_counts_t c;
    s_routed (&f, 1, "G1", false);
    s_event (&f, "verified", "reached", T0 + 1 * H);
    s_event (&f, "resolved", NULL, T0 + 24 * H);
    s_rate (&f, true);
    analytics_fact_counts (&f, &c);
    assert_int_equal (c.requests, 1);
    assert_int_equal (c.reached, 1);
    assert_int_equal (c.reached_on_time, 1);
    assert_int_equal (c.resolved, 1);
    assert_int_equal (c.resolved_on_time, 1);
    assert_int_equal (c.rated, 1);
    assert_int_equal (c.satisfied, 1);
    assert_int_equal (c.contact_hist[analytics_hist_bucket (1 * H)], 1);
    assert_int_equal (c.resolve_hist[analytics_hist_bucket (24 * H)], 1);
    assert_int_equal (c.disputes, 0);
}

static void
test_late_and_routed_once (void **state)
{
    (void) state;
    analytics_fact_t f = s_filed ("dispute");
    analytics_counts_t c;
    s_routed (&f, 1, "G1", false);
    //  a second routing (a transfer's re-route) does not move the deadlines
    analytics_update_t again = {.kind = "routed", .tier = 3, .response_due_us = T0 + 100 * H};
    assert_false (analytics_fact_apply (&f, &again));
    s_event (&f, "verified", "not_reached", T0 + 1 * H);
    s_event (&f, "verified", "reached", T0 + 3 * H); //  after the 2 h deadline
    s_event (&f, "verified", "reached", T0 + 4 * H); //  the first one counts
    s_event (&f, "resolved", NULL, T0 + 60 * H);     //  after 48 h
    analytics_fact_counts (&f, &c);
    assert_int_equal (f.reached_us, T0 + 3 * H);
    assert_int_equal (c.reached, 1);
    assert_int_equal (c.reached_on_time, 0);
    assert_int_equal (c.resolved_on_time, 0);
    assert_int_equal (c.disputes, 1);
    assert_int_equal (c.disputes_resolved, 1);
    assert_int_equal (c.rated, 0);
}

static void
test_out_of_cohort (void **state)
{
    (void) state;
    analytics_fact_t f = s_filed ("noise");
    analytics_counts_t c;
    s_event (&f, "merged", NULL, T0);
    analytics_fact_counts (&f, &c);
    assert_int_equal (c.requests, 0);
    assert_int_equal (c.merged, 1);
    f = s_filed ("noise");
    s_routed (&f, 1, "G1", false);
    s_event (&f, "verified", "invalid", T0 + H);
    analytics_fact_counts (&f, &c);
    assert_int_equal (c.requests, 0);
    assert_int_equal (c.invalid, 1);
    assert_int_equal (c.reached, 0);
    //  not seen from intake: nothing at all
    analytics_fact_init (&f, "9");
    s_routed (&f, 1, "G1", false);
    analytics_fact_counts (&f, &c);
    assert_true (analytics_counts_zero (&c));
}

//  Each event's delta (new - old) summed equals the final contribution;
//  a rating changed both ways counts the latest; a reopen un-resolves.
static void
test_deltas (void **state)
{
    (void) state;
    analytics_fact_t f;
    analytics_fact_init (&f, "7");
    analytics_counts_t total, before, after;
    memset (&total, 0, sizeof total);
    const char *steps[] = {"submitted", "routed",   "reached",  "resolved", "rate+",
                           "rate-",     "reopened", "resolved", "rate+",    "escalated"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        analytics_fact_counts (&f, &before);
        if (!strcmp (steps[i], "submitted"))
            analytics_fact_submitted (&f, "road", 2, "B", "G", "C", "S", "D", T0);
        else if (!strcmp (steps[i], "routed"))
            s_routed (&f, 3, "DEPT-1", true);
        else if (!strcmp (steps[i], "reached"))
            s_event (&f, "verified", "reached", T0 + H);
        else if (!strncmp (steps[i], "rate", 4))
            s_rate (&f, steps[i][4] == '+');
        else
            s_event (&f, steps[i], NULL, T0 + 10 * H);
        if (!strcmp (steps[i], "reopened")) {
            analytics_counts_t mid;
            analytics_fact_counts (&f, &mid);
            assert_int_equal (mid.resolved, 0);
            assert_int_equal (mid.reopened, 1);
        }
        analytics_fact_counts (&f, &after);
        analytics_counts_add (&total, &after, 1);
        analytics_counts_add (&total, &before, -1);
    }
    analytics_fact_counts (&f, &after);
    assert_memory_equal (&total, &after, sizeof total);
    assert_int_equal (after.satisfied, 1);
    assert_int_equal (after.rated, 1);
    assert_int_equal (after.escalated, 1);
    assert_int_equal (after.resolved_on_time, 1); //  the first resolution, 10 h < 48 h
    const char *nodes[5];
    assert_int_equal (analytics_fact_nodes (&f, nodes), 5);
    assert_string_equal (nodes[4], "DEPT-1");
}

static void
test_hist_and_day (void **state)
{
    (void) state;
    assert_int_equal (analytics_hist_bucket (0), 0);
    assert_int_equal (analytics_hist_bucket (H / 2), 0);
    assert_int_equal (analytics_hist_bucket (H / 2 + 1), 1);
    assert_int_equal (analytics_hist_bucket (1000 * H), ANALYTICS_HIST - 1);
    int64_t hist[ANALYTICS_HIST] = {0};
    assert_true (isnan (analytics_hist_quantile (hist, 0.5)));
    hist[2] = 10; //  ten requests between 1 h and 2 h
    double med = analytics_hist_quantile (hist, 0.5);
    assert_true (med > 1.49 && med < 1.51);
    hist[6] = 10; //  and ten between 12 h and 24 h: p90 = 12 + 0.8 x 12
    double p90 = analytics_hist_quantile (hist, 0.9);
    assert_true (p90 > 21.59 && p90 < 21.61);
    char day[11];
    analytics_day (T0, day); //  08:00 China time
    assert_string_equal (day, "2025-12-01");
    analytics_day (T0 - 8 * H - 1, day); //  23:59:59 China time the day before
    assert_string_equal (day, "2025-11-30");
    analytics_day (T0 + 16 * H, day); //  midnight China time
    assert_string_equal (day, "2025-12-02");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_on_time),       cmocka_unit_test (test_late_and_routed_once),
        cmocka_unit_test (test_out_of_cohort), cmocka_unit_test (test_deltas),
        cmocka_unit_test (test_hist_and_day),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
