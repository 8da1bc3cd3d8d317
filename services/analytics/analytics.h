/*  analytics: the internals shared by the analytics service's files
    (docs/service-anatomy.md), each under a banner naming its file.  */
#ifndef ANALYTICS_H_INCLUDED
#define ANALYTICS_H_INCLUDED

#include <jansson.h>
#include <stdatomic.h>

#include "analytics_acc.h"
#include "analytics_fact.h"
#include "analytics_server.h"
#include "gz_actor.h"
#include "gz_org.h"

//  The context the HTTP threads and the actor share. The routes' state.
typedef struct {
    gz_actor_t *actor;
    const analytics_config_t *cfg;
    gz_metrics_t *metrics;
    atomic_llong clock_us; //  the test clock (0: the real one)
    //  The actor's alone:
    gz_org_t *org;
    analytics_acc_t *acc; //  the batch's facts and deltas (analytics_consume.c)
} analytics_t;

//  ---------------------------------------------------------------- analytics_server.c

int64_t analytics_now_us (analytics_t *self);

//  ---------------------------------------------------------------- analytics_http.c

extern const gz_route_t analytics_routes[];

//  ---------------------------------------------------------------- analytics_consume.c

//  Start the batch state (the actor's start) and free it (stop).
void analytics_consume_init (analytics_t *self);
void analytics_consume_destroy (analytics_t *self);
int analytics_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg);
int analytics_flush (gz_db_t *db, void *arg);
void analytics_after (void *arg, bool committed);

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
//  now_us. 0, or -1.
int analytics_store_sums (gz_db_t *db, const char *node, const char *from, const char *to,
                          analytics_counts_t *c, int64_t now_us, int64_t *overdue_unreached);
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
json_t *analytics_store_children (gz_db_t *db, const char *code);

//  ---------------------------------------------------------------- analytics_store_rebuild.c

//  The statements of rebuild and verify (schema: analytics'; intake,
//  routing: the producers' schemas).
void analytics_store_prepare_rebuild (gz_db_t *db, const char *schema, const char *intake,
                                      const char *routing);
//  Inside the rebuild's transaction: analytics' cursor rows locked (the
//  live consumer waits), facts, rollup and volumes emptied. 0 or -1.
int analytics_store_rebuild_lock (gz_db_t *db);
//  A stream's outbox (routing's or intake's): first and last positions
//  and rows (0s when empty). 0 or -1.
int analytics_store_outbox_range (gz_db_t *db, bool routing, int64_t *first, int64_t *last,
                                  int64_t *count);
//  At most 5,000 outbox rows with after < position <= last, in order
//  (columns as gz_bus_envelope_from_row reads). Caller clears; NULL on
//  failure.
PGresult *analytics_store_outbox_page (gz_db_t *db, bool routing, int64_t after, int64_t last);
//  analytics' cursor of stream set to position. 0 or -1.
int analytics_store_cursor_set (gz_db_t *db, const char *stream, int64_t position);
//  The verify's reads, by which: "source" (the facts recounted from the
//  source tables), "routed" (routing's RequestRouted payloads in order),
//  "rollup", "volumes" ("node|day|dim|value", n), "facts" (their count).
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
