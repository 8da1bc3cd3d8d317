/*  analytics_report_collect: gathers the monthly report of a node from
    the store (on the caller's connection: an HTTP worker's pool
    connection, or gzctl's own) into an analytics_report_t. The same code
    serves GET /api/v1/reports/monthly and `gzctl report monthly`.

    Overdue work is judged at the earlier of now and the month's end
    (China time): a past month's report lists what was overdue then and is
    still open now.  */
#include "analytics.h"
#include "analytics_report.h"
#include "gz_category.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  The category's Chinese name, else its code.
static void
s_category_name (const char *code, char *out, size_t size)
{
    const gz_category_t *cat = gz_category_find (code);
    snprintf (out, size, "%s", cat ? cat->name : code);
}

//  The moment the month ends (to + 1 day at 00:00 China time), in us.
static int64_t
s_month_end_us (const char *to)
{
    int y = 0, m = 0, d = 0;
    sscanf (to, "%4d-%2d-%2d", &y, &m, &d);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d + 1};
    return ((int64_t) timegm (&tm) - 8 * 3600) * 1000000LL;
}

static int
s_unit_sums (gz_db_t *db, analytics_report_unit_t *u, const char *from, const char *to,
             int64_t now_us)
{
    return analytics_store_sums (db, u->code, NULL, from, to, &u->c, now_us, &u->overdue_unreached);
}

static int
s_volume_cmp (const void *a, const void *b)
{
    const analytics_report_volume_t *x = a, *y = b;
    if (x->requests != y->requests)
        return x->requests > y->requests ? -1 : 1;
    return strcmp (x->code, y->code);
}

static int
s_volumes (gz_db_t *db, analytics_report_t *rep)
{
    json_t *all = analytics_store_volumes (db, rep->node.code, rep->from, rep->to);
    if (!all)
        return -1;
    json_t *cats = json_object_get (all, "category");
    size_t n = json_object_size (cats), i = 0;
    rep->volumes = calloc (n ? n : 1, sizeof *rep->volumes);
    assert (rep->volumes);
    const char *code;
    json_t *v;
    json_object_foreach (cats, code, v)
    {
        analytics_report_volume_t *vol = &rep->volumes[i++];
        snprintf (vol->code, sizeof vol->code, "%s", code);
        s_category_name (code, vol->name, sizeof vol->name);
        vol->requests = json_integer_value (v);
    }
    rep->n_volumes = n;
    qsort (rep->volumes, n, sizeof *rep->volumes, s_volume_cmp);
    json_decref (all);
    return 0;
}

static int
s_hotspots (gz_db_t *db, analytics_report_t *rep)
{
    json_t *spots =
        analytics_store_hotspots (db, rep->node.code, rep->from, rep->to, rep->hotspot_min);
    if (!spots)
        return -1;
    size_t n = json_array_size (spots);
    rep->hotspots = calloc (n ? n : 1, sizeof *rep->hotspots);
    assert (rep->hotspots);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *s = json_array_get (spots, i);
        analytics_report_hotspot_t *h = &rep->hotspots[i];
        snprintf (h->building, sizeof h->building, "%s",
                  json_string_value (json_object_get (s, "building")) ?: "");
        snprintf (h->category, sizeof h->category, "%s",
                  json_string_value (json_object_get (s, "category")) ?: "");
        s_category_name (h->category, h->category_name, sizeof h->category_name);
        h->requests = json_integer_value (json_object_get (s, "requests"));
        rc = analytics_store_building_name (db, h->building, h->building_name,
                                            sizeof h->building_name);
    }
    rep->n_hotspots = n;
    json_decref (spots);
    return rc;
}

static void
s_delivered (json_t *obj, analytics_report_notify_t *n)
{
    n->sent = json_integer_value (json_object_get (obj, "sent"));
    n->dead = json_integer_value (json_object_get (obj, "dead"));
    n->skipped = json_integer_value (json_object_get (obj, "skipped"));
}

//  Notify's deliveries in the month: the statement of GET
//  /api/v1/notifications, read from its JSON.
static int
s_notify (gz_db_t *db, analytics_report_t *rep)
{
    json_t *all = analytics_store_notify_json (db, rep->node.code, rep->from, rep->to);
    if (!all)
        return -1;
    s_delivered (all, &rep->notify);
    json_t *channels = json_object_get (all, "channels");
    size_t n = json_object_size (channels), i = 0;
    rep->channels = calloc (n ? n : 1, sizeof *rep->channels);
    assert (rep->channels);
    const char *code;
    json_t *c;
    json_object_foreach (channels, code, c)
    {
        snprintf (rep->channels[i].channel, sizeof rep->channels[i].channel, "%s", code);
        s_delivered (c, &rep->channels[i++]);
    }
    rep->n_channels = n;
    analytics_report_channels_sort (rep->channels, n);
    json_decref (all);
    return 0;
}

//  Matching's volunteer service in the month: the sums of GET
//  /api/v1/volunteers.
static int
s_volunteer (gz_db_t *db, analytics_report_t *rep)
{
    int64_t sums[ANALYTICS_MATCHING_COLUMNS];
    if (analytics_store_matching_sums (db, rep->node.code, rep->from, rep->to, sums,
                                       ANALYTICS_MATCHING_COLUMNS))
        return -1;
    analytics_report_volunteer_t *v = &rep->volunteer;
    v->needs = sums[ANALYTICS_MATCHING_NEEDS];
    v->offers = sums[ANALYTICS_MATCHING_OFFERS];
    v->accepted = sums[ANALYTICS_MATCHING_ACCEPTED];
    v->services = sums[ANALYTICS_MATCHING_SERVICES];
    v->minutes = sums[ANALYTICS_MATCHING_MINUTES];
    v->points_earned = sums[ANALYTICS_MATCHING_EARNED];
    v->points_redeemed = sums[ANALYTICS_MATCHING_REDEEMED];
    return 0;
}

int
analytics_report_collect (gz_db_t *db, const analytics_config_t *cfg, const char *node,
                          const char *month, int64_t now_us, analytics_report_t **report_p)
{
    assert (report_p);
    *report_p = NULL;
    analytics_report_t *rep = analytics_report_new ();
    if (analytics_report_month_parse (month, rep->from, rep->to)) {
        analytics_report_destroy (&rep);
        return 2;
    }
    snprintf (rep->month, sizeof rep->month, "%s", month);
    snprintf (rep->node.code, sizeof rep->node.code, "%s", node);
    rep->min_sample = cfg->min_sample;
    rep->hotspot_min = cfg->hotspot_min;
    int found = analytics_store_unit (db, node, rep->level, sizeof rep->level, rep->node.name,
                                      sizeof rep->node.name);
    if (found <= 0) {
        analytics_report_destroy (&rep);
        return found == 0 ? 1 : -1;
    }
    int64_t end_us = s_month_end_us (rep->to);
    int64_t as_of = now_us < end_us ? now_us : end_us;
    char day[11];
    analytics_day (as_of, day);
    time_t secs = (time_t) (as_of / 1000000 + 8 * 3600);
    struct tm tm;
    gmtime_r (&secs, &tm);
    snprintf (rep->as_of, sizeof rep->as_of, "%s %02d:%02d", day, tm.tm_hour, tm.tm_min);

    int rc = s_unit_sums (db, &rep->node, rep->from, rep->to, now_us);
    if (rc == 0)
        rc = analytics_store_report_children (db, node, rep);
    for (size_t i = 0; rc == 0 && i < rep->n_units; i++)
        rc = s_unit_sums (db, &rep->units[i], rep->from, rep->to, now_us);
    if (rc == 0) {
        analytics_report_rank (rep->units, rep->n_units, rep->min_sample);
        rc = s_volumes (db, rep);
    }
    if (rc == 0)
        rc = s_hotspots (db, rep);
    if (rc == 0)
        rc = analytics_store_report_overdue (db, node, rep->to, as_of, rep);
    for (size_t i = 0; rc == 0 && i < rep->n_overdue; i++)
        s_category_name (rep->overdue[i].category, rep->overdue[i].category_name,
                         sizeof rep->overdue[i].category_name);
    if (rc == 0)
        rc = analytics_store_report_meetings (db, node, rep->from, rep->to, rep);
    if (rc == 0)
        rc = s_notify (db, rep);
    if (rc == 0)
        rc = s_volunteer (db, rep);
    if (rc) {
        analytics_report_destroy (&rep);
        return -1;
    }
    *report_p = rep;
    return 0;
}
