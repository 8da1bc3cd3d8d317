/*  notify_store: every SQL statement of the notify service.

    The actor's connection (the consumer's transaction): notify.requests
    upserts from intake's stream, merges, the plan's lookups and the
    delivery rows. The workers' connections: claim due rows of one
    channel and record outcomes. The read pool: the deliveries API.  */
#include "gz_log.h"
#include "notify.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "notify"

//  ---------------------------------------------------------------- the actor's

static const char *const s_request_sql =
    "INSERT INTO {schema}.requests (request_id, service_code, place, has_contact)"
    " VALUES ($1, $2, $3, $4::boolean)"
    " ON CONFLICT (request_id) DO UPDATE SET service_code = EXCLUDED.service_code,"
    "  place = EXCLUDED.place, has_contact = EXCLUDED.has_contact";

//  A merge may come before intake's event of the follower (another
//  stream): the row is made then and filled in later.
static const char *const s_merge_sql =
    "INSERT INTO {schema}.requests (request_id, merged_into) VALUES ($1, $2)"
    " ON CONFLICT (request_id) DO UPDATE SET merged_into = EXCLUDED.merged_into";

static const char *const s_request_get_sql =
    "SELECT service_code, place, has_contact FROM {schema}.requests WHERE request_id = $1";

static const char *const s_followers_sql =
    "SELECT coalesce(json_agg(request_id ORDER BY request_id), '[]')::text"
    " FROM {schema}.requests WHERE merged_into = $1 AND has_contact";

static const char *const s_prefs_sql =
    "SELECT array_to_string(channels, ','), opt_out FROM {schema}.preferences WHERE person = $1";

static const char *const s_insert_sql =
    "INSERT INTO {schema}.deliveries (key, stream, position, event, request_id, audience,"
    "  recipient, channel, template, vars, essential, due_at, digest, grid_code,"
    "  community_code, subdistrict_code)"
    " VALUES ($1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::boolean,"
    "  CASE WHEN $12::bigint = 0 THEN now() ELSE to_timestamp($12::bigint / 1e6) END,"
    "  $13::boolean, $14, $15, $16)"
    " ON CONFLICT (key) DO NOTHING";

//  When a row goes (or went) out: its due time while it waits, its send
//  time once sent, now while it is being sent (due_at is then its lease);
//  NULL for rows that never will (dead, skipped).
#define S_WHEN                                                                                     \
    "(CASE WHEN state IN ('queued', 'failed') THEN due_at WHEN state = 'sent' THEN sent_at"        \
    " WHEN state = 'sending' THEN now() END)"

//  The digest rows of recipient on channel made within the window: none,
//  now (the first goes at once); the latest still waits, with it; else
//  a window after it (at most one message per window).
static const char *const s_digest_due_sql =
    "SELECT (extract(epoch FROM CASE WHEN m IS NULL THEN now() WHEN m > now() THEN m"
    "  ELSE m + make_interval(secs => $3::int / 1000.0) END) * 1e6)::bigint"
    " FROM (SELECT max(" S_WHEN ") AS m FROM {schema}.deliveries"
    "  WHERE recipient = $1 AND channel = $2 AND digest"
    "  AND created_at > now() - make_interval(secs => $3::int / 1000.0)) x";

//  The recipient's last per_hour non-essential messages (not digests,
//  which are limited by their window) by due time: when the earliest of
//  them is within an hour before the new one's, it waits for that hour.
static const char *const s_rate_due_sql =
    "SELECT (extract(epoch FROM greatest(to_timestamp($3::bigint / 1e6),"
    "  coalesce(min(due_at) FILTER (WHERE n = $2::int) + interval '1 hour', '-infinity')))"
    "  * 1e6)::bigint"
    " FROM (SELECT due_at, count(*) OVER () AS n FROM (SELECT " S_WHEN " AS due_at"
    "  FROM {schema}.deliveries WHERE recipient = $1 AND NOT essential AND NOT digest"
    "  AND " S_WHEN " > to_timestamp($3::bigint / 1e6) - interval '1 hour'"
    "  ORDER BY 1 DESC LIMIT $2::int) l) x";

int
notify_store_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "nt_request", s_request_sql, schema);
    gz_db_prepare_schema (db, "nt_merge", s_merge_sql, schema);
    gz_db_prepare_schema (db, "nt_request_get", s_request_get_sql, schema);
    gz_db_prepare_schema (db, "nt_followers", s_followers_sql, schema);
    gz_db_prepare_schema (db, "nt_prefs", s_prefs_sql, schema);
    gz_db_prepare_schema (db, "nt_insert", s_insert_sql, schema);
    gz_db_prepare_schema (db, "nt_digest_due", s_digest_due_sql, schema);
    gz_db_prepare_schema (db, "nt_rate_due", s_rate_due_sql, schema);
    return 0;
}

static int
s_exec (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

int
notify_store_request (gz_db_t *db, const char *id, const char *service_code, const char *place,
                      bool has_contact)
{
    const char *v[] = {id, service_code, place, has_contact ? "true" : "false"};
    return s_exec (db, "nt_request", 4, v);
}

int
notify_store_merge (gz_db_t *db, const char *follower, const char *lead)
{
    const char *v[] = {follower, lead};
    return s_exec (db, "nt_merge", 2, v);
}

int
notify_store_request_get (gz_db_t *db, const char *id, notify_request_t *out)
{
    memset (out, 0, sizeof *out);
    const char *v[] = {id};
    PGresult *r = gz_db_exec (db, "nt_request_get", 1, v);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        snprintf (out->service_code, sizeof out->service_code, "%s", PQgetvalue (r, 0, 0));
        snprintf (out->place, sizeof out->place, "%s", PQgetvalue (r, 0, 1));
        out->has_contact = PQgetvalue (r, 0, 2)[0] == 't';
        rc = 0;
    }
    PQclear (r);
    return rc;
}

json_t *
notify_store_followers (gz_db_t *db, const char *lead)
{
    const char *v[] = {lead};
    PGresult *r = gz_db_exec (db, "nt_followers", 1, v);
    if (!r)
        return NULL;
    json_t *ids = PQntuples (r) == 1 ? json_loads (PQgetvalue (r, 0, 0), 0, NULL) : NULL;
    PQclear (r);
    return ids ? ids : json_array ();
}

int
notify_store_prefs (gz_db_t *db, const char *person, char *channels, size_t size, bool *opt_out)
{
    channels[0] = 0;
    *opt_out = false;
    const char *v[] = {person};
    PGresult *r = gz_db_exec (db, "nt_prefs", 1, v);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        snprintf (channels, size, "%s", PQgetvalue (r, 0, 0));
        *opt_out = PQgetvalue (r, 0, 1)[0] == 't';
        rc = 0;
    }
    PQclear (r);
    return rc;
}

int
notify_store_insert (gz_db_t *db, const notify_row_t *row)
{
    char position[24], due[24];
    snprintf (position, sizeof position, "%lld", (long long) row->position);
    snprintf (due, sizeof due, "%lld", (long long) row->due_us);
    const char *v[] = {row->key,
                       row->stream,
                       position,
                       row->event,
                       row->request_id,
                       row->audience,
                       row->recipient,
                       row->channel,
                       row->tmpl,
                       row->vars,
                       row->essential ? "true" : "false",
                       due,
                       row->digest ? "true" : "false",
                       row->nodes[0] ? row->nodes[0] : "",
                       row->nodes[1] ? row->nodes[1] : "",
                       row->nodes[2] ? row->nodes[2] : ""};
    return s_exec (db, "nt_insert", 16, v);
}

int64_t
notify_store_rate_due (gz_db_t *db, const char *recipient, int per_hour, int64_t due_us)
{
    char n[16], due[24];
    snprintf (n, sizeof n, "%d", per_hour);
    snprintf (due, sizeof due, "%lld", (long long) due_us);
    const char *v[] = {recipient, n, due};
    PGresult *r = gz_db_exec (db, "nt_rate_due", 3, v);
    if (!r)
        return -1;
    int64_t at = PQntuples (r) == 1 ? strtoll (PQgetvalue (r, 0, 0), NULL, 10) : -1;
    PQclear (r);
    return at;
}

int64_t
notify_store_digest_due (gz_db_t *db, const char *recipient, const char *channel, int window_ms)
{
    char ms[16];
    snprintf (ms, sizeof ms, "%d", window_ms);
    const char *v[] = {recipient, channel, ms};
    PGresult *r = gz_db_exec (db, "nt_digest_due", 3, v);
    if (!r)
        return -1;
    int64_t due = PQntuples (r) == 1 ? strtoll (PQgetvalue (r, 0, 0), NULL, 10) : -1;
    PQclear (r);
    return due;
}

//  ---------------------------------------------------------------- the workers'

//  Due rows of one channel: queued or failed ones whose time has come,
//  and sending ones whose lease ran out (their worker died).
static const char *const s_claim_sql =
    "UPDATE {schema}.deliveries d SET state = 'sending', attempts = d.attempts + 1,"
    "  due_at = now() + make_interval(secs => $3::int)"
    " WHERE d.id IN (SELECT id FROM {schema}.deliveries"
    "  WHERE channel = $1 AND state IN ('queued', 'sending', 'failed') AND due_at <= now()"
    //  A digest's members go with it; of a person's waiting digest rows
    //  only the first is claimed: it gathers the others (nt_group_form).
    "  AND (digest_of IS NULL OR digest_of = id)"
    "  AND (NOT digest OR digest_of IS NOT NULL OR NOT EXISTS (SELECT 1 FROM {schema}.deliveries e"
    "   WHERE e.recipient = deliveries.recipient AND e.channel = deliveries.channel AND e.digest"
    "   AND e.digest_of IS NULL AND e.state IN ('queued', 'sending', 'failed')"
    "   AND e.id < deliveries.id))"
    "  ORDER BY due_at LIMIT $2::int FOR UPDATE SKIP LOCKED)"
    " RETURNING d.id, d.key, d.event, d.request_id, d.audience, d.recipient, d.template,"
    "  d.vars::text, d.attempts, d.digest, d.digest_of IS NOT NULL";

//  Form a digest's group at the carrier's first claim: the due digest
//  rows of the same recipient and channel that no group holds yet.
static const char *const s_group_form_sql =
    "WITH members AS (UPDATE {schema}.deliveries SET digest_of = $1::bigint, state = 'sending'"
    "  WHERE id IN (SELECT id FROM {schema}.deliveries"
    "   WHERE recipient = $2 AND channel = $3 AND digest AND digest_of IS NULL"
    "   AND state IN ('queued', 'failed') AND due_at <= now() + interval '1 second'"
    "   AND id <> $1::bigint FOR UPDATE SKIP LOCKED)"
    "  RETURNING id, template, vars),"
    " carrier AS (UPDATE {schema}.deliveries SET digest_of = id WHERE id = $1::bigint)"
    " SELECT coalesce(json_agg(json_build_array(template, vars) ORDER BY id), '[]')::text"
    " FROM members";

static const char *const s_group_read_sql =
    "SELECT coalesce(json_agg(json_build_array(template, vars) ORDER BY id), '[]')::text"
    " FROM {schema}.deliveries WHERE digest_of = $1::bigint AND id <> $1::bigint";

//  What the stream says of each row an outcome ended (sent, dead,
//  skipped; not failed: it is retried): the columns notify_store_done
//  reads back (S_ENDED_COLS). d is the CTE of the updated rows.
#define S_ENDED                                                                                    \
    " SELECT d.id, d.state, d.channel, split_part(d.recipient, ':', 1), d.event, d.request_id,"    \
    "  d.grid_code, d.community_code, d.subdistrict_code, d.attempts,"                             \
    "  (extract(epoch FROM now()) * 1e6)::bigint"                                                  \
    " FROM d WHERE d.state IN ('sent', 'dead', 'skipped') ORDER BY d.id"
#define S_ENDED_COLS 11

//  The carrier's outcome is its members'.
static const char *const s_group_done_sql =
    "WITH d AS (UPDATE {schema}.deliveries m SET state = c.state, sent_at = c.sent_at,"
    "  last_error = c.last_error, attempts = c.attempts"
    " FROM {schema}.deliveries c WHERE c.id = $1::bigint AND m.digest_of = c.id AND m.id <> c.id"
    " RETURNING m.id, m.state, m.channel, m.recipient, m.event, m.request_id, m.attempts,"
    "  m.grid_code, m.community_code, m.subdistrict_code)" S_ENDED;

static const char *const s_done_sql =
    "WITH d AS (UPDATE {schema}.deliveries SET state = $2,"
    "  sent_at = CASE WHEN $2 = 'sent' THEN now() END,"
    "  due_at = now() + make_interval(secs => $3::double precision / 1000),"
    "  last_error = $4"
    " WHERE id = $1::bigint AND state = 'sending'"
    " RETURNING id, state, channel, recipient, event, request_id, attempts, grid_code,"
    "  community_code, subdistrict_code)" S_ENDED;

int
notify_store_prepare_worker (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "nt_claim", s_claim_sql, schema);
    gz_db_prepare_schema (db, "nt_done", s_done_sql, schema);
    gz_db_prepare_schema (db, "nt_group_form", s_group_form_sql, schema);
    gz_db_prepare_schema (db, "nt_group_read", s_group_read_sql, schema);
    gz_db_prepare_schema (db, "nt_group_done", s_group_done_sql, schema);
    return 0;
}

static char *
s_dup (const char *s)
{
    char *d = strdup (s);
    assert (d);
    return d;
}

void
notify_job_clear (notify_job_t *job)
{
    free (job->id);
    free (job->key);
    free (job->event);
    free (job->request_id);
    free (job->audience);
    free (job->recipient);
    free (job->tmpl);
    json_decref (job->vars);
    memset (job, 0, sizeof *job);
}

int
notify_store_claim (gz_db_t *db, const char *channel, notify_job_t *jobs, int max)
{
    char limit[16], lease[16];
    snprintf (limit, sizeof limit, "%d", max);
    snprintf (lease, sizeof lease, "%d", NOTIFY_LEASE_S);
    const char *v[] = {channel, limit, lease};
    PGresult *r = gz_db_exec (db, "nt_claim", 3, v);
    if (!r)
        return -1;
    int n = PQntuples (r);
    for (int i = 0; i < n && i < max; i++) {
        notify_job_t *j = &jobs[i];
        j->id = s_dup (PQgetvalue (r, i, 0));
        j->key = s_dup (PQgetvalue (r, i, 1));
        j->event = s_dup (PQgetvalue (r, i, 2));
        j->request_id = s_dup (PQgetvalue (r, i, 3));
        j->audience = s_dup (PQgetvalue (r, i, 4));
        j->recipient = s_dup (PQgetvalue (r, i, 5));
        j->tmpl = s_dup (PQgetvalue (r, i, 6));
        j->vars = json_loads (PQgetvalue (r, i, 7), 0, NULL);
        if (!j->vars)
            j->vars = json_object ();
        j->attempts = atoi (PQgetvalue (r, i, 8));
        j->digest = PQgetvalue (r, i, 9)[0] == 't';
        j->grouped = PQgetvalue (r, i, 10)[0] == 't';
    }
    PQclear (r);
    return n < max ? n : max;
}

//  Stage the stream's event of each ended row of r on pub.
static void
s_stage_ended (gz_bus_pub_t *pub, PGresult *r)
{
    assert (PQnfields (r) == S_ENDED_COLS);
    for (int i = 0; pub && i < PQntuples (r); i++) {
        notify_ended_t e = {
            .id = strtoll (PQgetvalue (r, i, 0), NULL, 10),
            .state = PQgetvalue (r, i, 1),
            .channel = PQgetvalue (r, i, 2),
            .recipient_kind = PQgetvalue (r, i, 3),
            .event = PQgetvalue (r, i, 4),
            .request_id = PQgetvalue (r, i, 5),
            .nodes = {PQgetvalue (r, i, 6), PQgetvalue (r, i, 7), PQgetvalue (r, i, 8)},
            .attempts = atoi (PQgetvalue (r, i, 9)),
            .at_us = strtoll (PQgetvalue (r, i, 10), NULL, 10)};
        notify_deliver_stage (pub, &e);
    }
}

int
notify_store_done (gz_db_t *db, gz_bus_pub_t *pub, const char *id, notify_row_state_t state,
                   int64_t retry_ms, const char *error)
{
    static const char *const names[] = {"sent", "failed", "dead", "skipped"};
    char ms[24];
    snprintf (ms, sizeof ms, "%lld", (long long) (state == NOTIFY_ROW_FAILED ? retry_ms : 0));
    const char *v[] = {id, names[state], ms, error && *error ? error : NULL};
    const char *g[] = {id};
    //  The row's end, its digest members' and their events commit
    //  together: one event per delivery, however many attempts it took.
    gz_db_begin (db);
    PGresult *r = gz_db_exec (db, "nt_done", 4, v);
    PGresult *rg = r ? gz_db_exec (db, "nt_group_done", 1, g) : NULL;
    if (rg) {
        s_stage_ended (pub, r);
        s_stage_ended (pub, rg);
    }
    int rc = rg ? (pub ? gz_bus_pub_write_commit (pub) : gz_db_commit (db)) : -1;
    PQclear (r);
    PQclear (rg);
    if (rc) {
        gz_db_rollback (db);
        if (pub)
            gz_bus_pub_aborted (pub);
        return -1;
    }
    if (pub)
        gz_bus_pub_committed (pub);
    return 0;
}

json_t *
notify_store_group (gz_db_t *db, const notify_job_t *leader, const char *channel)
{
    PGresult *r;
    if (leader->grouped) {
        const char *v[] = {leader->id};
        r = gz_db_exec (db, "nt_group_read", 1, v);
    }
    else {
        const char *v[] = {leader->id, leader->recipient, channel};
        r = gz_db_exec (db, "nt_group_form", 3, v);
    }
    if (!r)
        return NULL;
    json_t *group = PQntuples (r) == 1 ? json_loads (PQgetvalue (r, 0, 0), 0, NULL) : NULL;
    PQclear (r);
    return group;
}

//  ---------------------------------------------------------------- the API's

static const char *const s_list_sql =
    "SELECT coalesce(json_agg(json_build_object('id', id, 'key', key, 'event', event,"
    "  'request_id', request_id, 'audience', audience, 'recipient', recipient,"
    "  'channel', channel, 'template', template, 'state', state, 'attempts', attempts,"
    "  'error', last_error,"
    "  'created_at', to_char(created_at AT TIME ZONE 'Asia/Shanghai', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS+08:00'),"
    "  'sent_at', to_char(sent_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS+08:00'))"
    "  ORDER BY id DESC), '[]')::text"
    " FROM (SELECT * FROM {schema}.deliveries"
    "  WHERE ($1::text IS NULL OR request_id = $1) AND ($2::text IS NULL OR recipient = $2)"
    "  ORDER BY id DESC LIMIT $3::int) d";

int
notify_store_prepare_read (gz_db_t *db, const char *schema)
{
    return gz_db_prepare_schema (db, "nt_list", s_list_sql, schema);
}

json_t *
notify_store_list (gz_db_t *db, const char *request_id, const char *recipient, int limit)
{
    char n[16];
    snprintf (n, sizeof n, "%d", limit);
    const char *v[] = {request_id, recipient, n};
    PGresult *r = gz_db_exec (db, "nt_list", 3, v);
    if (!r)
        return NULL;
    json_t *rows = PQntuples (r) == 1 ? json_loads (PQgetvalue (r, 0, 0), 0, NULL) : NULL;
    PQclear (r);
    return rows;
}
