/*  gzctl report: the monthly 一张表 written to a file, by the same code as
    analytics' GET /api/v1/reports/monthly (docs/analytics-report.md).

      gzctl report monthly --node CODE --month YYYY-MM --out FILE [--format xlsx|csv]

    The format is --format, else FILE's extension (.xlsx or .csv). Reads
    the database directly (GZ_DATABASE_URL): analytics' schema
    (GZ_ANALYTICS_SCHEMA), routing's meetings (GZ_ROUTING_SCHEMA), the org
    directory; GZ_ANALYTICS_MIN_SAMPLE and GZ_ANALYTICS_HOTSPOT_MIN as the
    service. The clock is the real one.  */
#include "analytics.h"
#include "gz_log.h"
#include "gzctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

//  The format from --format or the file's extension, or NULL.
static const char *
s_format (const char *format, const char *out)
{
    if (format)
        return strcmp (format, "xlsx") == 0 || strcmp (format, "csv") == 0 ? format : NULL;
    const char *dot = strrchr (out, '.');
    if (dot && strcasecmp (dot, ".xlsx") == 0)
        return "xlsx";
    if (dot && strcasecmp (dot, ".csv") == 0)
        return "csv";
    return NULL;
}

static int
s_write (const analytics_report_t *r, const char *format, const char *out)
{
    if (strcmp (format, "xlsx") == 0)
        return analytics_report_xlsx (r, out, NULL);
    size_t len = 0;
    char *csv = analytics_report_csv (r, &len);
    FILE *f = fopen (out, "wb");
    int rc = f && fwrite (csv, 1, len, f) == len ? 0 : -1;
    if (f && fclose (f))
        rc = -1;
    free (csv);
    return rc;
}

static int
s_monthly (const char *node, const char *month, const char *out, const char *format)
{
    analytics_config_t *cfg = analytics_config_from_env ();
    if (!cfg)
        return 1;
    gz_db_t *db = gzctl_connect (false);
    if (!db) {
        analytics_config_destroy (&cfg);
        return 1;
    }
    analytics_store_prepare_read (db, cfg->base.schema);
    analytics_store_prepare_report (db, cfg->base.schema, cfg->routing_schema);
    analytics_store_notify_prepare_read (db, cfg->base.schema);
    analytics_store_matching_prepare_read (db, cfg->base.schema);
    struct timeval tv;
    gettimeofday (&tv, NULL);
    int64_t now_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
    analytics_report_t *r = NULL;
    int rc = analytics_report_collect (db, cfg, node, month, now_us, &r);
    if (rc == 0 && s_write (r, format, out)) {
        fprintf (stderr, "gzctl: cannot write %s\n", out);
        rc = -1;
    }
    if (rc == 0)
        printf ("%s: %s %s, %lld requests, %zu overdue, %zu meetings\n", out, r->node.name,
                r->month, (long long) r->node.c.requests, r->n_overdue, r->n_meetings);
    else if (rc == 1)
        fprintf (stderr, "gzctl: no unit %s in the org directory\n", node);
    else if (rc == 2)
        fprintf (stderr, "gzctl: --month takes YYYY-MM\n");
    else if (!r)
        fprintf (stderr, "gzctl: cannot read the numbers (has analytics started once?): %s\n",
                 gz_db_error (db));
    analytics_report_destroy (&r);
    gz_db_destroy (&db);
    analytics_config_destroy (&cfg);
    return rc == 0 ? 0 : rc == 2 ? 2 : 1;
}

int
gzctl_report (int argc, char **argv)
{
    if (argc < 1 || strcmp (argv[0], "monthly") != 0)
        return gzctl_usage ();
    const char *node = NULL, *month = NULL, *out = NULL, *format = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            return gzctl_usage ();
        if (strcmp (argv[i], "--node") == 0)
            node = argv[i + 1];
        else if (strcmp (argv[i], "--month") == 0)
            month = argv[i + 1];
        else if (strcmp (argv[i], "--out") == 0)
            out = argv[i + 1];
        else if (strcmp (argv[i], "--format") == 0)
            format = argv[i + 1];
        else
            return gzctl_usage ();
    }
    if (!node || !month || !out)
        return gzctl_usage ();
    const char *fmt = s_format (format, out);
    if (!fmt) {
        fprintf (stderr, "gzctl: --format xlsx|csv, or an --out file ending in .xlsx or .csv\n");
        return 2;
    }
    return s_monthly (node, month, out, fmt);
}
