/*  analytics_notify: notify's stream into analytics.notify_daily
    (deliveries sent, dead and skipped per node, China-time day of the
    delivery's end and channel), and the API's view of it:

      GET /api/v1/notifications?node=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD

    Each NotifyEvent is one delivery's end (docs/notify.md, "Notify's
    stream"); it carries the request's grid, community and sub-district
    when notify knew them, and the district comes from the org directory.
    A delivery with no node (a volunteer's offer) counts under none. As
    matching's rollup, a batch's sums are written by one multi-row
    statement in the subscriber's transaction, with its cursor.  */
#include "analytics.h"
#include "gongzhi/v1/notify.pb-c.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A code or channel name fit for a row key and an array literal:
//  letters, digits, '-', '_', '.', shorter than ANALYTICS_CODE_MAX.
static bool
s_plain (const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_' || s[n] == '.'))
            return false;
    return n > 0 && n < ANALYTICS_CODE_MAX;
}

static void
s_add (zhashx_t *rows, const char *node, const char *day, const char *channel, int column)
{
    char key[ANALYTICS_CODE_MAX + 48];
    snprintf (key, sizeof key, "%s|%s|%s", node, day, channel);
    int64_t *row = zhashx_lookup (rows, key);
    if (!row) {
        row = calloc (ANALYTICS_NOTIFY_COLUMNS, sizeof *row);
        assert (row);
        zhashx_insert (rows, key, row);
    }
    row[column]++;
}

int
analytics_notify_apply (zhashx_t *rows, gz_org_t *org, const gz_envelope_t *env)
{
    int column = strcmp (env->type, "DeliverySent") == 0      ? 0
                 : strcmp (env->type, "DeliveryDead") == 0    ? 1
                 : strcmp (env->type, "DeliverySkipped") == 0 ? 2
                                                              : -1;
    if (column < 0)
        return 2;
    Gongzhi__V1__NotifyEvent *ev =
        gongzhi__v1__notify_event__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev)
        return 1;
    if (!s_plain (ev->channel) || strlen (ev->channel) > 16) {
        gongzhi__v1__notify_event__free_unpacked (ev, NULL);
        return 1;
    }
    char day[11];
    analytics_day (ev->at_us ? ev->at_us : env->occurred_at_us, day);
    const char *nodes[4] = {ev->grid_code, ev->community_code, ev->subdistrict_code, NULL};
    if (org && *ev->subdistrict_code)
        nodes[3] = gz_org_unit_parent (org, ev->subdistrict_code);
    for (int i = 0; i < 4; i++)
        if (nodes[i] && s_plain (nodes[i]))
            s_add (rows, nodes[i], day, ev->channel, column);
    gongzhi__v1__notify_event__free_unpacked (ev, NULL);
    return 0;
}

int
analytics_on_notify (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    (void) db;
    analytics_t *self = arg;
    int rc = analytics_notify_apply (self->notify, self->org, env);
    if (rc == 1) //  counted and skipped: never fatal
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"notify\"", 1);
    else if (rc == 0)
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"notify\"", 1);
    return 0;
}

int
analytics_notify_flush (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    int rc = analytics_store_notify_add (db, self->notify);
    zhashx_purge (self->notify);
    return rc;
}

void
analytics_notify_after (void *arg, bool committed)
{
    analytics_t *self = arg;
    (void) committed;
    zhashx_purge (self->notify);
}

bool
analytics_route_notifications (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    analytics_query_t q;
    gz_db_t *db = analytics_query_begin (ctx, req, &q, 0);
    if (!db)
        return false;
    json_t *j = analytics_store_notify_json (db, q.node, q.from, q.to);
    analytics_query_end (ctx, req, db, j);
    return false;
}
