/*  analytics_store_rebuild: the SQL of `gzctl analytics rebuild` and
    `gzctl analytics verify` (docs/analytics-rebuild.md): the producers'
    outboxes (intake's, routing's, matching's, notify's) read in order, analytics'
    tables emptied and cursors set in the rebuild's one transaction, and
    the source tables (intake's requests, routing's timeline) read back as
    facts for the verify.  */
#include "analytics.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The recount of every fact from the source tables: where, when and what
//  from intake's requests; the rest from routing's timeline (the first
//  verify reached, the first resolution, resolved now = the last of
//  resolved/rated/closed/reopened is not a reopen, the latest rating,
//  merges, rejections, reopens, escalations, the first routing's lead
//  unit) and routing's requests (tier). The first routing's deadlines are
//  only in routing's outbox (analytics_store_routed).
static const char *const s_source_sql =
    "WITH tl AS (SELECT request_id,"
    "  min(at_us) FILTER (WHERE kind = 'verified' AND detail->>'outcome' = 'reached') AS reached,"
    "  min(at_us) FILTER (WHERE kind IN ('resolved', 'closed')) AS resolved_at,"
    "  (array_agg(kind ORDER BY seq DESC) FILTER (WHERE kind IN ('resolved', 'rated', 'closed',"
    "   'reopened')))[1] AS last_res,"
    "  bool_or(kind = 'merged') AS merged,"
    "  bool_or(kind = 'rejected' OR (kind IN ('verified', 'not_reached')"
    "   AND detail->>'outcome' = 'invalid')) AS invalid,"
    "  (array_agg(detail->>'satisfied' ORDER BY seq DESC) FILTER (WHERE kind = 'rated'))[1] AS sat,"
    "  count(*) FILTER (WHERE kind = 'reopened') AS reopens,"
    "  count(*) FILTER (WHERE kind = 'escalated') AS escalations,"
    "  (array_agg(detail->'assignee'->>'unit_code' ORDER BY seq) FILTER (WHERE kind = 'routed'))[1]"
    "   AS lead"
    " FROM {routing}.timeline GROUP BY request_id)"
    " SELECT i.id::text, i.service_code, coalesce(array_position(ARRAY['QR', 'OPEN311', 'BUS',"
    "  'MEETING', 'RIDER', 'PATROL', 'HOTLINE'], i.channel), 0), coalesce(r.tier, 0),"
    "  coalesce(i.building_code, ''), coalesce(i.grid_code, ''), coalesce(i.community_code, ''),"
    "  coalesce(i.subdistrict_code, ''), coalesce(s.parent_code, ''),"
    "  CASE WHEN lu.level = 'department' THEN lu.code ELSE '' END,"
    "  (extract(epoch FROM i.submitted_at) * 1000000)::bigint, coalesce(tl.reached, 0),"
    "  coalesce(tl.resolved_at, 0), coalesce(tl.last_res IN ('resolved', 'rated', 'closed'), "
    "false),"
    "  coalesce(tl.merged, false), coalesce(tl.invalid, false),"
    "  CASE tl.sat WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE -1 END, coalesce(tl.reopens, 0),"
    "  coalesce(tl.escalations, 0)"
    " FROM {intake}.requests i LEFT JOIN {routing}.requests r ON r.id = i.id::text"
    " LEFT JOIN tl ON tl.request_id = i.id::text"
    " LEFT JOIN org.units s ON s.code = i.subdistrict_code"
    " LEFT JOIN org.units lu ON lu.code = tl.lead";

static const struct {
    const char *name, *sql;
} s_statements[] = {
    {"an_rb_cursor_new", "INSERT INTO {schema}.bus_cursor (consumer, stream, position)"
                         " VALUES ('analytics', $1, 0) ON CONFLICT DO NOTHING"},
    {"an_rb_cursor_lock", "SELECT stream, position FROM {schema}.bus_cursor"
                          " WHERE consumer = 'analytics' FOR UPDATE"},
    {"an_rb_truncate", "TRUNCATE {schema}.facts, {schema}.rollup, {schema}.rollup_month,"
                       " {schema}.volumes, {schema}.matching_daily, {schema}.notify_daily"},
    //  Matching may not be deployed: its outbox is read only when it exists.
    {"an_rb_has_matching", "SELECT to_regclass($1) IS NOT NULL"},
    //  Monthly rows that are not the sum of their days.
    {"an_vf_months",
     "SELECT count(*) FROM (SELECT node, date_trunc('month', day)::date AS day,"
     " sum(requests) AS a, sum(reached) AS b, sum(reached_on_time) AS c, sum(resolved) AS d,"
     " sum(resolved_on_time) AS e, sum(rated) AS f, sum(satisfied) AS g, sum(escalated) AS h,"
     " sum(reopened) AS i, sum(merged) AS j, sum(invalid) AS k, sum(disputes) AS l,"
     " sum(disputes_resolved) AS m, {schema}.array_sum(contact_hist) AS n,"
     " {schema}.array_sum(resolve_hist) AS o FROM {schema}.rollup GROUP BY 1, 2) x"
     " FULL JOIN (SELECT node, day, requests AS a, reached AS b, reached_on_time AS c,"
     " resolved AS d, resolved_on_time AS e, rated AS f, satisfied AS g, escalated AS h,"
     " reopened AS i, merged AS j, invalid AS k, disputes AS l, disputes_resolved AS m,"
     " contact_hist AS n, resolve_hist AS o FROM {schema}.rollup_month) y USING (node, day)"
     " WHERE (x.a, x.b, x.c, x.d, x.e, x.f, x.g, x.h, x.i, x.j, x.k, x.l, x.m, x.n, x.o)"
     " IS DISTINCT FROM (y.a, y.b, y.c, y.d, y.e, y.f, y.g, y.h, y.i, y.j, y.k, y.l, y.m, y.n,"
     " y.o)"},
    {"an_rb_cursor_set", "UPDATE {schema}.bus_cursor SET position = $2::bigint"
                         " WHERE consumer = 'analytics' AND stream = $1"},
    {"an_rb_range_intake", "SELECT coalesce(min(position), 0), coalesce(max(position), 0),"
                           " count(*) FROM {intake}.outbox WHERE stream = 'intake'"},
    {"an_rb_range_routing", "SELECT coalesce(min(position), 0), coalesce(max(position), 0),"
                            " count(*) FROM {routing}.outbox WHERE stream = 'routing'"},
    {"an_rb_page_intake",
     "SELECT position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
     " FROM {intake}.outbox WHERE stream = 'intake' AND position > $1::bigint"
     " AND position <= $2::bigint ORDER BY position LIMIT 5000"},
    {"an_rb_page_routing",
     "SELECT position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
     " FROM {routing}.outbox WHERE stream = 'routing' AND position > $1::bigint"
     " AND position <= $2::bigint ORDER BY position LIMIT 5000"},
    {"an_rb_range_matching", "SELECT coalesce(min(position), 0), coalesce(max(position), 0),"
                             " count(*) FROM {matching}.outbox WHERE stream = 'matching'"},
    {"an_rb_page_matching",
     "SELECT position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
     " FROM {matching}.outbox WHERE stream = 'matching' AND position > $1::bigint"
     " AND position <= $2::bigint ORDER BY position LIMIT 5000"},
    {"an_vf_matching",
     "SELECT node || '|' || day::text, needs, offers, accepted, declined, expired, services,"
     " minutes, points_earned, points_redeemed FROM {schema}.matching_daily"},
    {"an_rb_range_notify", "SELECT coalesce(min(position), 0), coalesce(max(position), 0),"
                           " count(*) FROM {notify}.outbox WHERE stream = 'notify'"},
    {"an_rb_page_notify",
     "SELECT position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"
     " FROM {notify}.outbox WHERE stream = 'notify' AND position > $1::bigint"
     " AND position <= $2::bigint ORDER BY position LIMIT 5000"},
    {"an_vf_notify", "SELECT node || '|' || day::text || '|' || channel, sent, dead, skipped"
                     " FROM {schema}.notify_daily"},
    {"an_vf_routed", "SELECT payload FROM {routing}.outbox WHERE stream = 'routing'"
                     " AND type = 'RequestRouted' ORDER BY position"},
    {"an_vf_rollup", "SELECT node, day::text, requests, reached, reached_on_time, resolved,"
                     " resolved_on_time, rated, satisfied, escalated, reopened, merged, invalid,"
                     " disputes, disputes_resolved, array_to_string(contact_hist, ','),"
                     " array_to_string(resolve_hist, ',') FROM {schema}.rollup"},
    {"an_vf_volumes", "SELECT node || '|' || day::text || '|' || dim || '|' || value, n"
                      " FROM {schema}.volumes WHERE n <> 0"},
    {"an_vf_facts", "SELECT count(*) FROM {schema}.facts"},
    {"an_vf_source", NULL},
    {NULL, NULL},
};

//  sql with {intake}, {routing}, {matching} and {notify} replaced by the
//  quoted schema names.
static char *
s_sql (const char *sql, const char *intake, const char *routing, const char *matching,
       const char *notify)
{
    char *qi = gz_db_ident (intake), *qr = gz_db_ident (routing), *qm = gz_db_ident (matching);
    char *qn = gz_db_ident (notify);
    size_t size = strlen (sql) * 2 + 256;
    char *out = malloc (size);
    assert (out);
    size_t len = 0;
    for (const char *p = sql; *p;) {
        const char *with = NULL;
        if (strncmp (p, "{intake}", 8) == 0)
            with = qi, p += 8;
        else if (strncmp (p, "{routing}", 9) == 0)
            with = qr, p += 9;
        else if (strncmp (p, "{matching}", 10) == 0)
            with = qm, p += 10;
        else if (strncmp (p, "{notify}", 8) == 0)
            with = qn, p += 8;
        if (with) {
            len += (size_t) snprintf (out + len, size - len, "%s", with);
            continue;
        }
        out[len++] = *p++;
        out[len] = 0;
    }
    free (qi);
    free (qr);
    free (qm);
    free (qn);
    return out;
}

void
analytics_store_prepare_rebuild (gz_db_t *db, const char *schema, const char *intake,
                                 const char *routing, const char *matching, const char *notify)
{
    for (int i = 0; s_statements[i].name; i++) {
        char *sql = s_sql (s_statements[i].sql ? s_statements[i].sql : s_source_sql, intake,
                           routing, matching, notify);
        gz_db_prepare_schema (db, s_statements[i].name, sql, schema);
        free (sql);
    }
}

static int
s_run (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    PQclear (r);
    return r ? 0 : -1;
}

int
analytics_store_rebuild_lock (gz_db_t *db)
{
    const char *streams[4] = {"intake", "routing", "matching", "notify"};
    for (int i = 0; i < 4; i++)
        if (s_run (db, "an_rb_cursor_new", 1, &streams[i]))
            return -1;
    //  The live consumer locks its cursor row first in every batch: it
    //  waits here, then reads the cursor this transaction sets.
    if (s_run (db, "an_rb_cursor_lock", 0, NULL))
        return -1;
    return s_run (db, "an_rb_truncate", 0, NULL);
}

int
analytics_store_outbox_range (gz_db_t *db, const char *stream, int64_t *first, int64_t *last,
                              int64_t *count)
{
    char name[48];
    snprintf (name, sizeof name, "an_rb_range_%s", stream);
    PGresult *r = gz_db_exec (db, name, 0, NULL);
    if (!r)
        return -1;
    *first = atoll (PQgetvalue (r, 0, 0));
    *last = atoll (PQgetvalue (r, 0, 1));
    *count = atoll (PQgetvalue (r, 0, 2));
    PQclear (r);
    return 0;
}

PGresult *
analytics_store_outbox_page (gz_db_t *db, const char *stream, int64_t after, int64_t last)
{
    char name[48], a[32], l[32];
    snprintf (name, sizeof name, "an_rb_page_%s", stream);
    snprintf (a, sizeof a, "%lld", (long long) after);
    snprintf (l, sizeof l, "%lld", (long long) last);
    const char *values[2] = {a, l};
    return gz_db_exec (db, name, 2, values);
}

int
analytics_store_has_outbox (gz_db_t *db, const char *schema)
{
    char *q = gz_db_ident (schema);
    char table[256];
    snprintf (table, sizeof table, "%s.outbox", q);
    free (q);
    const char *values[1] = {table};
    PGresult *r = gz_db_exec (db, "an_rb_has_matching", 1, values);
    if (!r)
        return -1;
    int has = PQgetvalue (r, 0, 0)[0] == 't';
    PQclear (r);
    return has;
}

int
analytics_store_cursor_set (gz_db_t *db, const char *stream, int64_t position)
{
    char p[32];
    snprintf (p, sizeof p, "%lld", (long long) position);
    const char *values[2] = {stream, p};
    return s_run (db, "an_rb_cursor_set", 2, values);
}

PGresult *
analytics_store_verify_query (gz_db_t *db, const char *which)
{
    char name[32];
    snprintf (name, sizeof name, "an_vf_%s", which);
    return gz_db_exec (db, name, 0, NULL);
}
