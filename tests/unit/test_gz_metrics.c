/*  Unit tests for gz_metrics: exact Prometheus text for counters, gauges
    and histograms, label handling, thread safety, and the whole render
    checked by promtool.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gz_metrics.h"

#define PROMTOOL "/usr/bin/promtool"

//  True when text holds line as a whole line.
static bool
s_has_line (const char *text, const char *line)
{
    size_t len = strlen (line);
    for (const char *p = strstr (text, line); p; p = strstr (p + 1, line))
        if ((p == text || p[-1] == '\n') && p[len] == '\n')
            return true;
    return false;
}

static void
s_assert_line (const char *text, const char *line)
{
    if (!s_has_line (text, line))
        fail_msg ("line not found: %s\n--- render:\n%s", line, text);
}

static void
test_counter_with_labels (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_reports_total", GZ_COUNTER, "Reports received.");
    gz_metrics_add (metrics, "gz_reports_total", "channel=\"qr\",outcome=\"accepted\"", 1);
    gz_metrics_add (metrics, "gz_reports_total", "channel=\"qr\",outcome=\"accepted\"", 2);
    //  Same labels in another order: the same series.
    gz_metrics_add (metrics, "gz_reports_total", "outcome=\"accepted\",channel=\"qr\"", 4);
    gz_metrics_add (metrics, "gz_reports_total", "channel=\"web\",outcome=\"rejected\"", 1);
    gz_metrics_add (metrics, "gz_reports_total", NULL, 5);
    assert_true (
        gz_metrics_value (metrics, "gz_reports_total", "channel=\"qr\",outcome=\"accepted\"") == 7);
    assert_true (gz_metrics_value (metrics, "gz_reports_total", "") == 5);
    assert_true (gz_metrics_value (metrics, "gz_reports_total", "channel=\"sms\"") == 0);
    assert_true (gz_metrics_value (metrics, "gz_unknown_total", NULL) == 0);

    char *text = gz_metrics_render (metrics);
    assert_string_equal (text, "# HELP gz_reports_total Reports received.\n"
                               "# TYPE gz_reports_total counter\n"
                               "gz_reports_total{channel=\"qr\",outcome=\"accepted\"} 7\n"
                               "gz_reports_total{channel=\"web\",outcome=\"rejected\"} 1\n"
                               "gz_reports_total 5\n");
    free (text);
    gz_metrics_destroy (&metrics);
    assert_null (metrics);
    gz_metrics_destroy (&metrics); //  harmless twice
}

static void
test_gauge_set_and_add (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_queue_depth", GZ_GAUGE, "Items waiting.");
    gz_metrics_set (metrics, "gz_queue_depth", "queue=\"sms\"", 12);
    gz_metrics_add (metrics, "gz_queue_depth", "queue=\"sms\"", -2.5);
    gz_metrics_set (metrics, "gz_queue_depth", "queue=\"mail\"", 0.125);
    assert_true (gz_metrics_value (metrics, "gz_queue_depth", "queue=\"sms\"") == 9.5);
    char *text = gz_metrics_render (metrics);
    s_assert_line (text, "# TYPE gz_queue_depth gauge");
    s_assert_line (text, "gz_queue_depth{queue=\"sms\"} 9.5");
    s_assert_line (text, "gz_queue_depth{queue=\"mail\"} 0.125");
    free (text);
    gz_metrics_destroy (&metrics);
}

static void
test_histogram_buckets_are_cumulative (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_http_request_duration_seconds", GZ_HISTOGRAM,
                         "Time to answer a request.");
    const char *labels = "route=\"/report\"";
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", labels, 0.0625);
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", labels, 0.25); //  on a bound
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", labels, 20);   //  +Inf only
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", labels, 0.0001);
    assert_true (gz_metrics_value (metrics, "gz_http_request_duration_seconds", labels) == 4);

    char *text = gz_metrics_render (metrics);
    const char *expected[] = {
        "# HELP gz_http_request_duration_seconds Time to answer a request.",
        "# TYPE gz_http_request_duration_seconds histogram",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.0005\"} 1",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.001\"} 1",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.05\"} 1",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.1\"} 2",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.25\"} 3",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"0.5\"} 3",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"10\"} 3",
        "gz_http_request_duration_seconds_bucket{route=\"/report\",le=\"+Inf\"} 4",
        "gz_http_request_duration_seconds_sum{route=\"/report\"} 20.3126",
        "gz_http_request_duration_seconds_count{route=\"/report\"} 4",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        s_assert_line (text, expected[i]);
    //  15 bucket lines, in increasing order of le.
    size_t buckets = 0;
    for (const char *p = strstr (text, "_bucket{"); p; p = strstr (p + 1, "_bucket{"))
        buckets++;
    assert_int_equal (buckets, 15);
    assert_true (strstr (text, "le=\"0.0005\"") < strstr (text, "le=\"10\""));
    assert_true (strstr (text, "le=\"10\"") < strstr (text, "le=\"+Inf\""));
    free (text);

    //  Without labels, le stands alone.
    gz_metrics_describe (metrics, "gz_job_duration_seconds", GZ_HISTOGRAM, "Job time.");
    gz_metrics_observe (metrics, "gz_job_duration_seconds", NULL, 3);
    text = gz_metrics_render (metrics);
    s_assert_line (text, "gz_job_duration_seconds_bucket{le=\"2.5\"} 0");
    s_assert_line (text, "gz_job_duration_seconds_bucket{le=\"5\"} 1");
    s_assert_line (text, "gz_job_duration_seconds_bucket{le=\"+Inf\"} 1");
    s_assert_line (text, "gz_job_duration_seconds_sum 3");
    s_assert_line (text, "gz_job_duration_seconds_count 1");
    free (text);
    gz_metrics_destroy (&metrics);
}

static void
test_families_in_description_order (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "zz_first_total", GZ_COUNTER, "First.");
    gz_metrics_describe (metrics, "aa_second", GZ_GAUGE, "Second.");
    gz_metrics_describe (metrics, "mm_third_total", GZ_COUNTER, "Third.");
    gz_metrics_describe (metrics, "zz_first_total", GZ_COUNTER, "Again: ignored.");
    gz_metrics_add (metrics, "mm_third_total", NULL, 1);
    gz_metrics_set (metrics, "aa_second", NULL, 2);
    gz_metrics_add (metrics, "zz_first_total", NULL, 3);
    char *text = gz_metrics_render (metrics);
    const char *first = strstr (text, "# HELP zz_first_total First.\n");
    const char *second = strstr (text, "# HELP aa_second Second.\n");
    const char *third = strstr (text, "# HELP mm_third_total Third.\n");
    assert_non_null (first);
    assert_non_null (second);
    assert_non_null (third);
    assert_true (first < second && second < third);
    assert_null (strstr (text, "Again"));
    free (text);
    gz_metrics_destroy (&metrics);
}

static void
test_malformed_labels_are_dropped (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_things_total", GZ_COUNTER, "Things.");
    gz_metrics_describe (metrics, "gz_wait_seconds", GZ_HISTOGRAM, "Waits.");
    const char *bad[] = {
        "channel",                     //  no value
        "channel=qr",                  //  unquoted
        "channel=\"qr",                //  unterminated
        "channel=\"q\"r\"",            //  stray quote
        "channel=\"a\\x\"",            //  unknown escape
        "channel=\"a\",",              //  trailing comma
        "channel=\"a\",channel=\"b\"", //  duplicate name
        "__name__=\"x\"",              //  reserved
        "1st=\"x\"",                   //  bad name
        "channel=\"\xff\"",            //  not UTF-8
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        gz_metrics_add (metrics, "gz_things_total", bad[i], 1);
    gz_metrics_observe (metrics, "gz_wait_seconds", "le=\"1\"", 1); //  le is ours
    char *text = gz_metrics_render (metrics);
    assert_string_equal (text, "# HELP gz_things_total Things.\n"
                               "# TYPE gz_things_total counter\n"
                               "# HELP gz_wait_seconds Waits.\n"
                               "# TYPE gz_wait_seconds histogram\n");
    free (text);

    //  Escaped values are fine and kept as given.
    char *value = gz_metrics_label_escape ("a\"b\\c\nd");
    assert_string_equal (value, "a\\\"b\\\\c\\nd");
    char labels[64];
    snprintf (labels, sizeof labels, "name=\"%s\"", value);
    free (value);
    gz_metrics_add (metrics, "gz_things_total", labels, 1);
    assert_true (gz_metrics_value (metrics, "gz_things_total", labels) == 1);
    text = gz_metrics_render (metrics);
    s_assert_line (text, "gz_things_total{name=\"a\\\"b\\\\c\\nd\"} 1");
    free (text);
    gz_metrics_destroy (&metrics);
}

typedef struct {
    gz_metrics_t *metrics;
} s_worker_args_t;

static void *
s_worker (void *arg)
{
    s_worker_args_t *args = arg;
    for (int i = 0; i < 10000; i++) {
        gz_metrics_add (args->metrics, "gz_hits_total", i % 2 ? "parity=\"odd\"" : NULL, 1);
        gz_metrics_observe (args->metrics, "gz_hit_seconds", NULL, 0.001);
    }
    return NULL;
}

static void
test_concurrent_updates (void **state)
{
    (void) state;
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_hits_total", GZ_COUNTER, "Hits.");
    gz_metrics_describe (metrics, "gz_hit_seconds", GZ_HISTOGRAM, "Hit time.");
    s_worker_args_t args = {metrics};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_worker, &args), 0);
    for (int i = 0; i < 4; i++)
        pthread_join (threads[i], NULL);
    assert_true (gz_metrics_value (metrics, "gz_hits_total", NULL) == 20000);
    assert_true (gz_metrics_value (metrics, "gz_hits_total", "parity=\"odd\"") == 20000);
    assert_true (gz_metrics_value (metrics, "gz_hit_seconds", NULL) == 40000);
    gz_metrics_destroy (&metrics);
}

static void
test_promtool_accepts_render (void **state)
{
    (void) state;
    if (access (PROMTOOL, X_OK) != 0) {
        //  scripts/test installs promtool (Debian's prometheus) and sets
        //  GZ_REQUIRE_PROMTOOL=1: there a missing promtool is a failure,
        //  not a reason to skip the check.
        const char *require = getenv ("GZ_REQUIRE_PROMTOOL");
        if (require && strcmp (require, "1") == 0)
            fail_msg ("GZ_REQUIRE_PROMTOOL=1 but %s is missing", PROMTOOL);
        skip ();
    }
    gz_metrics_t *metrics = gz_metrics_new ();
    gz_metrics_describe (metrics, "gz_reports_total", GZ_COUNTER, "Reports received.");
    gz_metrics_describe (metrics, "gz_queue_depth", GZ_GAUGE,
                         "Items waiting.\nSecond line with a \\ backslash.");
    gz_metrics_describe (metrics, "gz_http_request_duration_seconds", GZ_HISTOGRAM,
                         "Time to answer a request.");
    gz_metrics_describe (metrics, "gz_unused_total", GZ_COUNTER, "Never touched.");
    gz_metrics_describe (metrics, "gz_ratio", GZ_GAUGE, "Special values.");
    gz_metrics_add (metrics, "gz_reports_total", "channel=\"qr\",outcome=\"accepted\"", 3);
    gz_metrics_add (metrics, "gz_reports_total", "channel=\"微信\",outcome=\"a\\\"b\"", 1);
    gz_metrics_add (metrics, "gz_reports_total", NULL, 1);
    gz_metrics_set (metrics, "gz_queue_depth", NULL, -1.5e-7);
    gz_metrics_set (metrics, "gz_ratio", "kind=\"big\"", 1e300);
    gz_metrics_set (metrics, "gz_ratio", "kind=\"third\"", 1.0 / 3);
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", "route=\"/a\"", 0.3);
    gz_metrics_observe (metrics, "gz_http_request_duration_seconds", NULL, 0.01);
    char *text = gz_metrics_render (metrics);
    gz_metrics_destroy (&metrics);

    char path[] = "/tmp/gz_metrics_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    assert_non_null (file);
    assert_int_equal (fwrite (text, 1, strlen (text), file), strlen (text));
    fclose (file);
    char command[256];
    snprintf (command, sizeof command, PROMTOOL " check metrics < %s", path);
    int rc = system (command);
    unlink (path);
    if (rc == -1 || !WIFEXITED (rc) || WEXITSTATUS (rc) != 0)
        fail_msg ("promtool rejected:\n%s", text);
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counter_with_labels),
        cmocka_unit_test (test_gauge_set_and_add),
        cmocka_unit_test (test_histogram_buckets_are_cumulative),
        cmocka_unit_test (test_families_in_description_order),
        cmocka_unit_test (test_malformed_labels_are_dropped),
        cmocka_unit_test (test_concurrent_updates),
        cmocka_unit_test (test_promtool_accepts_render),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
