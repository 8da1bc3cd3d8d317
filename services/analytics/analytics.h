/*  analytics: the internals shared by the analytics service's files
    (docs/service-anatomy.md), each under a banner naming its file.  */
#ifndef ANALYTICS_H_INCLUDED
#define ANALYTICS_H_INCLUDED

#include <jansson.h>
#include <stdatomic.h>

#include "analytics_acc.h"
#include "analytics_fact.h"
#include "analytics_report.h"
#include "analytics_server.h"
#include "gz_actor.h"
#include "gz_org.h"

//  The context the HTTP threads and the actor share. The routes' state.
typedef struct {
    gz_actor_t *actor;
    const analytics_config_t *cfg;
    gz_metrics_t *metrics;
    struct analytics_levels *levels; //  unit code -> level, for the HTTP threads (analytics_http.c)
    //  The actor's alone:
    gz_org_t *org;
    analytics_acc_t *acc;              //  the batch's facts and deltas (analytics_consume.c)
    struct analytics_pending *pending; //  the batch's decoded events (analytics_consume.c)
    zhashx_t *matching;                //  "node|day" -> int64_t[] (analytics_matching.c)
    zhashx_t *notify;                  //  "node|day|channel" -> int64_t[] (analytics_notify.c)
} analytics_t;

//  ---------------------------------------------------------------- analytics_server.c

int64_t analytics_now_us (analytics_t *self);

//  ---------------------------------------------------------------- analytics_http.c

extern const gz_route_t analytics_routes[];

//  A query's node and period, checked (analytics_query_begin).
typedef struct {
    const char *node, *from, *to;
    char level[16]; //  the node's level: grid, community, subdistrict, district, department
    char from_buf[11], to_buf[11];
} analytics_query_t;
//  Check the method, node, period (default_days > 0: the last so many days
//  when neither is given) and the bearer token: a pool connection, or
//  NULL when answered (400, 401, 405, 503).
//  The cache of units' levels the routes read (a unit's level is read
//  once a minute, not on every call).
struct analytics_levels *analytics_levels_new (void);
void analytics_levels_destroy (struct analytics_levels **self_p);

gz_db_t *analytics_query_begin (analytics_t *ctx, gz_http_req_t *req, analytics_query_t *q,
                                int default_days);
//  Put db back; answer body (200) or 503 when NULL.
void analytics_query_end (analytics_t *ctx, gz_http_req_t *req, gz_db_t *db, json_t *body);

//  ---------------------------------------------------------------- analytics_people.c

bool analytics_route_staff (void *state, gz_http_req_t *req, const char *rest);
bool analytics_route_meetings (void *state, gz_http_req_t *req, const char *rest);
bool analytics_route_volunteers (void *state, gz_http_req_t *req, const char *rest);

//  ---------------------------------------------------------------- analytics_matching.c

//  matching_daily's counters in column order (rows' int64_t[] and
//  analytics_store_matching_sums' sums[]), and their number.
enum {
    ANALYTICS_MATCHING_NEEDS,
    ANALYTICS_MATCHING_OFFERS,
    ANALYTICS_MATCHING_ACCEPTED,
    ANALYTICS_MATCHING_DECLINED,
    ANALYTICS_MATCHING_EXPIRED,
    ANALYTICS_MATCHING_SERVICES,
    ANALYTICS_MATCHING_MINUTES,
    ANALYTICS_MATCHING_EARNED,
    ANALYTICS_MATCHING_REDEEMED,
    ANALYTICS_MATCHING_COLUMNS
};
//  One matching event added into rows ("node|day" -> int64_t[9], made
//  with free as their destructor); org (may be NULL) gives the grid's
//  sub-district and district. Live consumer and rebuild share it. 0
//  counted, 1 undecodable, 2 a kind not counted.
int analytics_matching_apply (zhashx_t *rows, gz_org_t *org, const gz_envelope_t *env);
int analytics_on_matching (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_matching_flush (gz_db_t *db, void *arg);
void analytics_matching_after (void *arg, bool committed);
json_t *analytics_matching_json (gz_db_t *db, const char *node, const char *from, const char *to);

//  ---------------------------------------------------------------- analytics_notify.c

//  notify_daily's counters: sent, dead, skipped (rows' int64_t[] length).
#define ANALYTICS_NOTIFY_COLUMNS 3
//  One notify event (a delivery's end) added into rows
//  ("node|day|channel" -> int64_t[3], made with free as their
//  destructor); org (may be NULL) gives the sub-district's district.
//  Live consumer and rebuild share it. 0 counted, 1 undecodable, 2 a type
//  not counted.
int analytics_notify_apply (zhashx_t *rows, gz_org_t *org, const gz_envelope_t *env);
int analytics_on_notify (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_notify_flush (gz_db_t *db, void *arg);
void analytics_notify_after (void *arg, bool committed);
//  GET /api/v1/notifications (a blocking route).
bool analytics_route_notifications (void *state, gz_http_req_t *req, const char *rest);

//  ---------------------------------------------------------------- analytics_store_notify.c

void analytics_store_notify_prepare (gz_db_t *db, const char *schema);
void analytics_store_notify_prepare_read (gz_db_t *db, const char *schema);
//  Add the batch's rows ("node|day|channel" -> the three counters). 0 or -1.
int analytics_store_notify_add (gz_db_t *db, zhashx_t *rows);
//  The node's per-channel totals, totals and daily series over from..to
//  (docs/analytics.md); NULL on failure.
json_t *analytics_store_notify_json (gz_db_t *db, const char *node, const char *from,
                                     const char *to);

//  ---------------------------------------------------------------- analytics_store_matching.c

void analytics_store_matching_prepare (gz_db_t *db, const char *schema);
void analytics_store_matching_prepare_read (gz_db_t *db, const char *schema);
//  Add the batch's rows ("node|day" -> columns counters). 0 or -1.
int analytics_store_matching_add (gz_db_t *db, zhashx_t *rows, int columns);
int analytics_store_matching_sums (gz_db_t *db, const char *node, const char *from, const char *to,
                                   int64_t *sums, int columns);

//  ---------------------------------------------------------------- analytics_store_people.c

void analytics_store_people_prepare_read (gz_db_t *db, const char *routing_schema);
json_t *analytics_store_staff (gz_db_t *db, const char *node, bool node_all, int64_t now_us);
json_t *analytics_store_meetings (gz_db_t *db, const char *node, bool node_all, const char *from,
                                  const char *to);

//  ---------------------------------------------------------------- analytics_consume.c

//  Start the batch state (the actor's start) and free it (stop).
void analytics_consume_init (analytics_t *self);
void analytics_consume_destroy (analytics_t *self);
int analytics_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_flush (gz_db_t *db, void *arg);
void analytics_after (void *arg, bool committed);

//  ---------------------------------------------------------------- analytics_store_prefetch.c

void analytics_store_prefetch_prepare (gz_db_t *db, const char *schema);
//  The stored facts of ids (n of them) put into acc, and an empty fact
//  for each id not stored: one statement. 0 or -1.
int analytics_store_facts_prefetch (gz_db_t *db, const char *const *ids, size_t n,
                                    analytics_acc_t *acc);

//  ---------------------------------------------------------------- analytics_store.c

void analytics_store_prepare (gz_db_t *db, const char *schema);
void analytics_store_prepare_read (gz_db_t *db, const char *schema);
//  A fact by request id: 1 found, 0 not (f initialised), -1 failure.
int analytics_store_fact_get (gz_db_t *db, const char *id, analytics_fact_t *f);
//  Upsert facts, add rollup deltas and volume deltas: one statement each.
int analytics_store_facts_put (gz_db_t *db, analytics_fact_t *const *facts, size_t n);
int analytics_store_rollup_add (gz_db_t *db, zhashx_t *deltas);
int analytics_store_volumes_add (gz_db_t *db, zhashx_t *volumes);
//  All the accumulator holds (its changed facts, rollup and volume
//  deltas), facts in statements of at most 5,000 rows. 0 or -1.
int analytics_store_write (gz_db_t *db, analytics_acc_t *acc);

//  The sums of a node over [from, to] (dates YYYY-MM-DD) into c; due: the
//  cohort requests not reached whose first response deadline is before
//  now_us. level: the node's (org.units.level) when the caller knows it,
//  else NULL (the same answer, a slower plan). 0, or -1.
int analytics_store_sums (gz_db_t *db, const char *node, const char *level, const char *from,
                          const char *to, analytics_counts_t *c, int64_t now_us,
                          int64_t *overdue_unreached);
//  Per day over [from, to]: [{"day","requests","resolved","satisfied","rated",...}].
json_t *analytics_store_trend (gz_db_t *db, const char *node, const char *from, const char *to);
//  Volumes by dim over [from, to]: {"category": {value: n}, "tier": ..., "channel": ...}.
json_t *analytics_store_volumes (gz_db_t *db, const char *node, const char *from, const char *to);
//  Hot spots: buildings (and their categories) under node with at least
//  min requests filed in [from, to]: [{"building","category","requests"}].
json_t *analytics_store_hotspots (gz_db_t *db, const char *node, const char *from, const char *to,
                                  int min);

//  A unit of the org directory: 1 (level in level), 0 none, -1 failure.
int analytics_store_node (gz_db_t *db, const char *code, char *level, size_t size);
//  The units under code (communities of a sub-district, grids of a
//  community, ...), a JSON array of codes; NULL on failure.
json_t *analytics_store_children (gz_db_t *db, const char *code, bool departments);

//  ---------------------------------------------------------------- analytics_store_report.c

//  The report's statements (routing_schema: where routing.meetings lives).
void analytics_store_prepare_report (gz_db_t *db, const char *schema, const char *routing_schema);
//  A unit's level and name: 1 found, 0 not, -1 failure.
int analytics_store_unit (gz_db_t *db, const char *code, char *level, size_t level_size, char *name,
                          size_t name_size);
//  The units under code (codes and names) into rep->units. 0, or -1.
int analytics_store_report_children (gz_db_t *db, const char *code, analytics_report_t *rep);
//  A building's name ("" when unknown). 0, or -1.
int analytics_store_building_name (gz_db_t *db, const char *code, char *name, size_t size);
//  Open cohort requests under node filed by to whose resolve deadline is
//  before as_of_us, most overdue first, into rep->overdue. 0, or -1.
int analytics_store_report_overdue (gz_db_t *db, const char *node, const char *to, int64_t as_of_us,
                                    analytics_report_t *rep);
//  Meetings recorded in [from, to] by communities at or under node, into
//  rep->meetings. 0, or -1 (routing's schema missing: logged).
int analytics_store_report_meetings (gz_db_t *db, const char *node, const char *from,
                                     const char *to, analytics_report_t *rep);

//  ---------------------------------------------------------------- analytics_report_collect.c

//  The monthly report of node for month (YYYY-MM) into *report_p (the
//  caller's: analytics_report_destroy), the statements of
//  analytics_store_prepare_read, _prepare_report,
//  analytics_store_notify_prepare_read and
//  analytics_store_matching_prepare_read registered on db.
//  0 done, 1 no such unit, 2 not a month, -1 database failure.
int analytics_report_collect (gz_db_t *db, const analytics_config_t *cfg, const char *node,
                              const char *month, int64_t now_us, analytics_report_t **report_p);

//  ---------------------------------------------------------------- analytics_report_http.c

//  GET /api/v1/reports/monthly?node=CODE&month=YYYY-MM&format=xlsx|csv
bool analytics_route_report_monthly (void *state, gz_http_req_t *req, const char *rest);
//  A unit for the dashboard: {"node","name","level","parent": {node,name,
//  level} or null,"path": [the units from the district down to it],
//  "children": [{node,name,level}]} in *unit_p (the caller's); code NULL:
//  the district. 1 found, 0 no such unit (*unit_p NULL), -1 failure.
int analytics_store_unit_json (gz_db_t *db, const char *code, json_t **unit_p);

//  ---------------------------------------------------------------- analytics_pages.c

//  The dashboard (docs/analytics-dashboard.md): GET / (the page), and the
//  scripts it loads, /static/dashboard.js and /static/echarts.min.js, all
//  embedded in the binary at build time. No database, no token: the page
//  asks for the token and sends it to the API with each fetch.
bool analytics_page_dashboard (void *state, gz_http_req_t *req, const char *rest);
bool analytics_page_script (void *state, gz_http_req_t *req, const char *rest);
bool analytics_page_echarts (void *state, gz_http_req_t *req, const char *rest);
//  ---------------------------------------------------------------- analytics_store_rebuild.c

//  The statements of rebuild and verify (schema: analytics'; intake,
//  routing, matching, notify: the producers' schemas).
void analytics_store_prepare_rebuild (gz_db_t *db, const char *schema, const char *intake,
                                      const char *routing, const char *matching,
                                      const char *notify);
//  Inside the rebuild's transaction: analytics' cursor rows locked (the
//  live consumer waits), facts, rollup, volumes, matching_daily and
//  notify_daily emptied. 0 or -1.
int analytics_store_rebuild_lock (gz_db_t *db);
//  Whether schema has an outbox (matching may not be deployed): 1, 0, or
//  -1 on failure.
int analytics_store_has_outbox (gz_db_t *db, const char *schema);
//  A stream's outbox ("intake", "routing" or "matching"): first and last
//  positions and rows (0s when empty). 0 or -1.
int analytics_store_outbox_range (gz_db_t *db, const char *stream, int64_t *first, int64_t *last,
                                  int64_t *count);
//  At most 5,000 outbox rows of stream with after < position <= last, in
//  order (columns as gz_bus_envelope_from_row reads). Caller clears; NULL
//  on failure.
PGresult *analytics_store_outbox_page (gz_db_t *db, const char *stream, int64_t after,
                                       int64_t last);
//  analytics' cursor of stream set to position. 0 or -1.
int analytics_store_cursor_set (gz_db_t *db, const char *stream, int64_t position);
//  The verify's reads, by which: "source" (the facts recounted from the
//  source tables), "routed" (routing's RequestRouted payloads in order),
//  "rollup", "volumes" ("node|day|dim|value", n), "facts" (their count),
//  "matching" ("node|day", then matching_daily's nine counters).
//  Caller clears; NULL on failure.
PGresult *analytics_store_verify_query (gz_db_t *db, const char *which);

//  ---------------------------------------------------------------- analytics_rates.c

//  Rankings of rows (each analytics_rates_json of a child, consumed): by
//  each rate, those with at least min_sample cohort requests ranked (1 =
//  best; ties share a rank), the others listed with rank null.
json_t *analytics_rankings_json (const char *node, const char *from, const char *to, json_t *rows,
                                 int min_sample);

//  The rates object of the API from the sums (rate null when its
//  denominator is 0).
json_t *analytics_rates_json (const char *node, const char *from, const char *to,
                              const analytics_counts_t *c, int64_t overdue_unreached);
//  A period: from and to as YYYY-MM-DD, from <= to, at most 10 years.
//  0, or -1 with the reason in err.
int analytics_period_parse (const char *from, const char *to, char *err, size_t err_size);

#endif
