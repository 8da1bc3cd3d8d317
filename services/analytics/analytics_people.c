/*  analytics_people: the routes about people rather than requests
    (docs/analytics.md):

      GET /api/v1/staff?node=CODE          open work and overdue work (past
                                           its resolve deadline) per person
                                           and per unit under the node, now
      GET /api/v1/meetings?node&from&to    逢四说事: meetings held, people
                                           present, demands raised and
                                           resolved
      GET /api/v1/volunteers?node&from&to  needs, offers, matches, services,
                                           service hours, points earned and
                                           redeemed (matching's stream)

    Staff or operator bearer tokens, as every analytics route.  */
#include "analytics.h"
#include "gz_auth.h"

#include <stdio.h>
#include <string.h>

typedef enum { S_STAFF, S_MEETINGS, S_VOLUNTEERS } s_kind_t;

static bool
s_route (analytics_t *ctx, gz_http_req_t *req, s_kind_t kind)
{
    analytics_query_t q;
    //  Staff load is now: the period is not asked for.
    gz_db_t *db = analytics_query_begin (ctx, req, &q, kind == S_STAFF ? 1 : 0);
    if (!db)
        return false;
    bool all = strcmp (q.level, "district") == 0;
    json_t *j = kind == S_STAFF ? analytics_store_staff (db, q.node, all, analytics_now_us (ctx))
                : kind == S_MEETINGS ? analytics_store_meetings (db, q.node, all, q.from, q.to)
                                     : analytics_matching_json (db, q.node, q.from, q.to);
    if (j && kind != S_VOLUNTEERS) {
        json_object_set_new (j, "node", json_string (q.node));
        if (kind == S_MEETINGS) {
            json_object_set_new (j, "from", json_string (q.from));
            json_object_set_new (j, "to", json_string (q.to));
        }
    }
    analytics_query_end (ctx, req, db, j);
    return false;
}

bool
analytics_route_staff (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    return s_route (state, req, S_STAFF);
}

bool
analytics_route_meetings (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    return s_route (state, req, S_MEETINGS);
}

bool
analytics_route_volunteers (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    return s_route (state, req, S_VOLUNTEERS);
}
