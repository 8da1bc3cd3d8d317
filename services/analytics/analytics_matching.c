/*  analytics_matching: matching's stream into analytics.matching_daily
    (needs filed, offers made, accepted, declined, expired, services
    completed with their minutes, points earned and redeemed) per node and
    China-time day of the event, and the API's view of it:

      GET /api/v1/volunteers?node=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD

    Events carry their grid and community (points only the community);
    the sub-district and district come from the org directory. Like the
    request rollups, a batch's sums are written by one multi-row statement
    in the subscriber's transaction, with its cursor: exactly once.  */
#include "analytics.h"
#include "gongzhi/v1/matching.pb-c.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *type;
    int column;
} s_kind_t;

static const s_kind_t s_kinds[] = {
    {"NeedCreated", ANALYTICS_MATCHING_NEEDS},
    {"MatchOffered", ANALYTICS_MATCHING_OFFERS},
    {"MatchAccepted", ANALYTICS_MATCHING_ACCEPTED},
    {"MatchDeclined", ANALYTICS_MATCHING_DECLINED},
    {"MatchExpired", ANALYTICS_MATCHING_EXPIRED},
    {"ServiceCompleted", ANALYTICS_MATCHING_SERVICES},
    {"PointsAwarded", ANALYTICS_MATCHING_EARNED},
    {"PointsRedeemed", ANALYTICS_MATCHING_REDEEMED},
    {NULL, 0},
};

static void
s_add (zhashx_t *rows, const char *node, const char *day, int column, int64_t n)
{
    char key[ANALYTICS_CODE_MAX + 16];
    snprintf (key, sizeof key, "%s|%s", node, day);
    int64_t *row = zhashx_lookup (rows, key);
    if (!row) {
        row = calloc (ANALYTICS_MATCHING_COLUMNS, sizeof *row);
        assert (row);
        zhashx_insert (rows, key, row);
    }
    row[column] += n;
}

int
analytics_matching_apply (zhashx_t *rows, gz_org_t *org, const gz_envelope_t *env)
{
    const s_kind_t *k = s_kinds;
    while (k->type && strcmp (k->type, env->type) != 0)
        k++;
    if (!k->type)
        return 2;
    Gongzhi__V1__MatchingEvent *ev =
        gongzhi__v1__matching_event__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev)
        return 1;
    char day[11];
    analytics_day (ev->at_us ? ev->at_us : env->occurred_at_us, day);
    const char *nodes[4] = {ev->grid_code, ev->community_code, NULL, NULL};
    if (org && ev->community_code && *ev->community_code) {
        nodes[2] = gz_org_unit_parent (org, ev->community_code);
        nodes[3] = nodes[2] ? gz_org_unit_parent (org, nodes[2]) : NULL;
    }
    int64_t n = k->column == ANALYTICS_MATCHING_EARNED || k->column == ANALYTICS_MATCHING_REDEEMED
                    ? ev->points
                    : 1;
    for (int i = 0; i < 4; i++)
        if (nodes[i] && *nodes[i]) {
            s_add (rows, nodes[i], day, k->column, n);
            if (k->column == ANALYTICS_MATCHING_SERVICES)
                s_add (rows, nodes[i], day, ANALYTICS_MATCHING_MINUTES, ev->minutes);
        }
    gongzhi__v1__matching_event__free_unpacked (ev, NULL);
    return 0;
}

int
analytics_on_matching (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    (void) db;
    analytics_t *self = arg;
    int rc = analytics_matching_apply (self->matching, self->org, env);
    if (rc == 1) //  counted and skipped: never fatal
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"matching\"", 1);
    else if (rc == 0)
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"matching\"", 1);
    return 0;
}

int
analytics_matching_flush (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    int rc = analytics_store_matching_add (db, self->matching, ANALYTICS_MATCHING_COLUMNS);
    zhashx_purge (self->matching);
    return rc;
}

void
analytics_matching_after (void *arg, bool committed)
{
    analytics_t *self = arg;
    (void) committed;
    zhashx_purge (self->matching);
}

//  GET /api/v1/volunteers: the sums over the period, with the hours.
json_t *
analytics_matching_json (gz_db_t *db, const char *node, const char *from, const char *to)
{
    int64_t sums[ANALYTICS_MATCHING_COLUMNS];
    if (analytics_store_matching_sums (db, node, from, to, sums, ANALYTICS_MATCHING_COLUMNS))
        return NULL;
    return json_pack ("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I}", "node", node, "from",
                      from, "to", to, "needs", (json_int_t) sums[ANALYTICS_MATCHING_NEEDS],
                      "offers", (json_int_t) sums[ANALYTICS_MATCHING_OFFERS], "accepted",
                      (json_int_t) sums[ANALYTICS_MATCHING_ACCEPTED], "declined",
                      (json_int_t) sums[ANALYTICS_MATCHING_DECLINED], "expired",
                      (json_int_t) sums[ANALYTICS_MATCHING_EXPIRED], "services",
                      (json_int_t) sums[ANALYTICS_MATCHING_SERVICES], "service_hours",
                      (double) sums[ANALYTICS_MATCHING_MINUTES] / 60.0, "points_earned",
                      (json_int_t) sums[ANALYTICS_MATCHING_EARNED], "points_redeemed",
                      (json_int_t) sums[ANALYTICS_MATCHING_REDEEMED]);
}
