/*  analytics_http: the route table of analytics' API (gz_actor answers
    /healthz, /readyz, /metrics). Every API route reads (the pool:
    blocking) and needs a staff or operator bearer token (routing's). Periods are
    China-time dates, both inclusive. docs/analytics.md documents them.

      GET /api/v1/rates?node=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD
      GET /api/v1/trends?node&from&to       per day, with volumes by
                                            category, tier and channel
      GET /api/v1/rankings?node&from&to     the node's children (the
                                            communities of a sub-district,
                                            the grids of a community) by
                                            each rate; fewer cohort requests
                                            than GZ_ANALYTICS_MIN_SAMPLE:
                                            listed, not ranked
      GET /api/v1/hotspots?node&from&to[&min=K]   buildings and categories
                                            with at least K requests
                                            (default GZ_ANALYTICS_HOTSPOT_MIN;
                                            period default: the last
                                            GZ_ANALYTICS_HOTSPOT_DAYS days)
      GET /api/v1/staff, /meetings, /volunteers   analytics_people.c
      GET /api/v1/reports/monthly?node&month=YYYY-MM&format=xlsx|csv
                                            the monthly 一张表 as a download
                                            (analytics_report_http.c;
                                            docs/analytics-report.md)
      GET /api/v1/nodes[?node=CODE]         the unit (no node: the district),
                                            its path from the district, its
                                            parent and children, named (the
                                            dashboard's labels and drill-down)

    And the dashboard (analytics_pages.c): GET /, /static/dashboard.js,
    /static/echarts.min.js, no token (the page sends it to the API).

    Errors: {"error": {"code", "message"}} with 400 (the reason) 401 503.  */
#include "analytics.h"
#include "gz_auth.h"
#include "gz_log.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The query's node and period, checked; the caller's token checked. A
//  pool connection in *db (put it back), or NULL when answered.
typedef analytics_query_t s_query_t;

//  The caller's bearer token checked: a pool connection (put it back), or
//  NULL when answered (401, 503).
static gz_db_t *
s_authorized (analytics_t *ctx, gz_http_req_t *req)
{
    const char *token = gz_http_bearer (req);
    if (!token) {
        gz_http_reply_error (req, 401, "unauthorized", "a staff or operator bearer token");
        return NULL;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    gz_caller_t who;
    int rc = gz_auth_caller (db, token, &who);
    if (rc != 0) {
        gz_dbpool_put (gz_actor_pool (ctx->actor), db);
        gz_http_reply_error (req, rc > 0 ? 401 : 503, rc > 0 ? "unauthorized" : "unavailable",
                             rc > 0 ? "unknown or expired token" : "database unavailable; retry");
        return NULL;
    }
    return db;
}

//  ---------------------------------------------------------------- levels

//  A unit's level, remembered for S_LEVEL_TTL_MS: every route names a
//  node, and its level was one more round trip per call (a quarter of
//  the rates route's). Codes are never reused for another level; a unit
//  removed is still answered for at most a minute. Unknown codes are not
//  remembered (each is asked again).
#define S_LEVEL_TTL_MS 60000
#define S_LEVEL_MAX 20000 //  entries; then it starts over

typedef struct {
    char level[16];
    int64_t at_ms;
} s_level_t;

struct analytics_levels {
    pthread_mutex_t lock;
    zhashx_t *map; //  code -> s_level_t
};

struct analytics_levels *
analytics_levels_new (void)
{
    struct analytics_levels *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->map = zhashx_new ();
    zhashx_set_destructor (self->map, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
analytics_levels_destroy (struct analytics_levels **self_p)
{
    struct analytics_levels *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->map);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  The node's level: 1, 0 no such unit, -1 the database failed.
static int
s_node_level (analytics_t *ctx, gz_db_t *db, const char *node, char *level, size_t size)
{
    struct analytics_levels *c = ctx->levels;
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&c->lock);
    s_level_t *hit = zhashx_lookup (c->map, node);
    bool fresh = hit && now - hit->at_ms < S_LEVEL_TTL_MS;
    if (fresh)
        snprintf (level, size, "%s", hit->level);
    pthread_mutex_unlock (&c->lock);
    if (fresh)
        return 1;
    int rc = analytics_store_node (db, node, level, size);
    if (rc == 1) {
        s_level_t *e = calloc (1, sizeof *e);
        assert (e);
        snprintf (e->level, sizeof e->level, "%s", level);
        e->at_ms = now;
        pthread_mutex_lock (&c->lock);
        if (zhashx_size (c->map) >= S_LEVEL_MAX)
            zhashx_purge (c->map);
        zhashx_update (c->map, node, e); //  frees the stale entry
        pthread_mutex_unlock (&c->lock);
    }
    return rc;
}

//  ---------------------------------------------------------------- queries

static gz_db_t *
s_begin (analytics_t *ctx, gz_http_req_t *req, s_query_t *q, int default_days)
{
    if (strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_set_header (req, "Allow", "GET");
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
        return NULL;
    }
    q->node = gz_http_query (req, "node");
    q->from = gz_http_query (req, "from");
    q->to = gz_http_query (req, "to");
    if (default_days > 0 && !q->from && !q->to) {
        int64_t now = analytics_now_us (ctx);
        analytics_day (now, q->to_buf);
        analytics_day (now - (int64_t) (default_days - 1) * 86400000000LL, q->from_buf);
        q->from = q->from_buf, q->to = q->to_buf;
    }
    char err[128];
    if (!q->node || !*q->node || strlen (q->node) > 64) {
        gz_http_reply_error (req, 400, "bad_request", "node: a unit code is required");
        return NULL;
    }
    if (analytics_period_parse (q->from, q->to, err, sizeof err)) {
        gz_http_reply_error (req, 400, "bad_request", err);
        return NULL;
    }
    gz_db_t *db = s_authorized (ctx, req);
    if (!db)
        return NULL;
    int level = s_node_level (ctx, db, q->node, q->level, sizeof q->level);
    if (level <= 0) {
        gz_dbpool_put (gz_actor_pool (ctx->actor), db);
        if (level < 0)
            gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        else
            gz_http_reply_error (req, 400, "bad_request", "node: no such unit");
        return NULL;
    }
    return db;
}

static void
s_end (analytics_t *ctx, gz_http_req_t *req, gz_db_t *db, json_t *body)
{
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    if (body)
        gz_http_reply_json (req, 200, body);
    else
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
}

gz_db_t *
analytics_query_begin (analytics_t *ctx, gz_http_req_t *req, analytics_query_t *q, int default_days)
{
    return s_begin (ctx, req, q, default_days);
}

void
analytics_query_end (analytics_t *ctx, gz_http_req_t *req, gz_db_t *db, json_t *body)
{
    s_end (ctx, req, db, body);
}

//  The rates of one node and period, or NULL.
static json_t *
s_rates (analytics_t *ctx, gz_db_t *db, const char *node, const char *level, const char *from,
         const char *to)
{
    analytics_counts_t c;
    int64_t overdue = 0;
    if (analytics_store_sums (db, node, level, from, to, &c, analytics_now_us (ctx), &overdue))
        return NULL;
    return analytics_rates_json (node, from, to, &c, overdue);
}

static bool
s_route_rates (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    s_query_t q;
    gz_db_t *db = s_begin (ctx, req, &q, 0);
    if (db) {
        json_t *j = s_rates (ctx, db, q.node, q.level, q.from, q.to);
        if (j)
            json_object_set_new (j, "level", json_string (q.level));
        s_end (ctx, req, db, j);
    }
    return false;
}

static bool
s_route_trends (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    s_query_t q;
    gz_db_t *db = s_begin (ctx, req, &q, 0);
    if (!db)
        return false;
    json_t *days = analytics_store_trend (db, q.node, q.from, q.to);
    json_t *volumes = days ? analytics_store_volumes (db, q.node, q.from, q.to) : NULL;
    json_t *j = volumes ? json_pack ("{s:s,s:s,s:s,s:o,s:o}", "node", q.node, "from", q.from, "to",
                                     q.to, "days", days, "volumes", volumes)
                        : NULL;
    if (!j)
        json_decref (days);
    s_end (ctx, req, db, j);
    return false;
}

static bool
s_route_rankings (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    s_query_t q;
    gz_db_t *db = s_begin (ctx, req, &q, 0);
    if (!db)
        return false;
    //  The ladder's next rung; ?level=department: the departments instead.
    const char *lv = gz_http_query (req, "level");
    bool departments = lv && strcmp (lv, "department") == 0;
    if (lv && !departments && *lv) {
        gz_dbpool_put (gz_actor_pool (ctx->actor), db);
        gz_http_reply_error (req, 400, "bad_request", "level: only \"department\" is accepted");
        return false;
    }
    json_t *children = analytics_store_children (db, q.node, departments);
    json_t *rows = children ? json_array () : NULL;
    size_t i;
    json_t *child;
    json_array_foreach (children, i, child)
    {
        //  The child's level picks the one-statement read (the
        //  five-column one is planned anew per call: a millisecond each).
        char level[16];
        const char *code = json_string_value (child);
        json_t *r = s_node_level (ctx, db, code, level, sizeof level) == 1
                        ? s_rates (ctx, db, code, level, q.from, q.to)
                        : NULL;
        if (!r) {
            json_decref (rows);
            rows = NULL;
            break;
        }
        json_array_append_new (rows, r);
    }
    json_decref (children);
    json_t *j =
        rows ? analytics_rankings_json (q.node, q.from, q.to, rows, ctx->cfg->min_sample) : NULL;
    s_end (ctx, req, db, j);
    return false;
}

static bool
s_route_hotspots (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    s_query_t q;
    gz_db_t *db = s_begin (ctx, req, &q, ctx->cfg->hotspot_days);
    if (!db)
        return false;
    int min = ctx->cfg->hotspot_min;
    const char *k = gz_http_query (req, "min");
    char *end = NULL;
    if (k && (strtol (k, &end, 10) < 1 || *end || strtol (k, NULL, 10) > 1000000)) {
        gz_dbpool_put (gz_actor_pool (ctx->actor), db);
        gz_http_reply_error (req, 400, "bad_request", "min: 1 to 1000000");
        return false;
    }
    if (k)
        min = (int) strtol (k, NULL, 10);
    json_t *spots = analytics_store_hotspots (db, q.node, q.from, q.to, min);
    json_t *j = spots ? json_pack ("{s:s,s:s,s:s,s:i,s:o}", "node", q.node, "from", q.from, "to",
                                   q.to, "min", min, "hotspots", spots)
                      : NULL;
    s_end (ctx, req, db, j);
    return false;
}

//  GET /api/v1/nodes[?node=CODE]: the unit (the district without node),
//  its path from the district, its parent and its children, named.
static bool
s_route_nodes (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    if (strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_set_header (req, "Allow", "GET");
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
        return false;
    }
    const char *node = gz_http_query (req, "node");
    if (node && (!*node || strlen (node) > 64)) {
        gz_http_reply_error (req, 400, "bad_request", "node: a unit code");
        return false;
    }
    gz_db_t *db = s_authorized (ctx, req);
    if (!db)
        return false;
    json_t *unit = NULL;
    int rc = analytics_store_unit_json (db, node, &unit);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    if (rc > 0)
        gz_http_reply_json (req, 200, unit);
    else if (rc == 0)
        gz_http_reply_error (req, 400, "bad_request", "node: no such unit");
    else
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    return false;
}

const gz_route_t analytics_routes[] = {
    {NULL, "/", "dashboard", analytics_page_dashboard, false},
    {NULL, "/static/dashboard.js", "static", analytics_page_script, false},
    {NULL, "/static/echarts.min.js", "static", analytics_page_echarts, false},
    {NULL, "/api/v1/nodes", "nodes", s_route_nodes, true},
    {NULL, "/api/v1/rates", "rates", s_route_rates, true},
    {NULL, "/api/v1/trends", "trends", s_route_trends, true},
    {NULL, "/api/v1/rankings", "rankings", s_route_rankings, true},
    {NULL, "/api/v1/hotspots", "hotspots", s_route_hotspots, true},
    {NULL, "/api/v1/staff", "staff", analytics_route_staff, true},
    {NULL, "/api/v1/meetings", "meetings", analytics_route_meetings, true},
    {NULL, "/api/v1/volunteers", "volunteers", analytics_route_volunteers, true},
    {NULL, "/api/v1/notifications", "notifications", analytics_route_notifications, true},
    {NULL, "/api/v1/reports/monthly", "report_monthly", analytics_route_report_monthly, true},
    {NULL, NULL, NULL, NULL, false},
};
