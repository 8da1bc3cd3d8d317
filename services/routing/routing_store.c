/*  routing_store: every SQL statement of routing's writer (the actor's
    connection) and of its HTTP reads, and the functions that run them:
    a request's row (load and lock, save), timeline rows, timers (arm,
    cancel, due, mark), routing a submitted request (merge lead, route,
    batches), the load counts, the dispatcher, co-handlers; and the read
    views of routing_http.c (a request, the queue) as the JSON it answers.
    Nothing else in routing speaks SQL (the meetings' statements live in
    routing_meetings_store.c), so the statements can be read together and
    the state machine's files stay pure logic.

    Statement texts say {schema} for routing's schema (gz_db_prepare_schema).
    Requests' states appear here as SQL literals: S_OPEN_STATES must name
    the states routing_state_open () calls open (routing_lifecycle.c).  */
#include "gz_auth.h"
#include "gz_category.h"
#include "routing.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  States in which a request is work in hand (routing_state_open).
#define S_OPEN_STATES "('assigned', 'accepted', 'verified', 'in_progress')"

//  ---------------------------------------------------------------- statements

static const struct {
    const char *name;
    const char *sql;
} s_statements[] = {
    //  The open duplicate a new request merges into (same building and
    //  category, recent), locked, with what the follower copies from it.
    {"rt_merge_lead",
     "SELECT id, tier, level, lead_code, assignee_staff, assignee_name, assignee_unit,"
     " assignee_unit_name, assignee_role, response_s, resolve_s, response_due_us, resolve_due_us"
     " FROM {schema}.requests WHERE building_code = $1 AND service_code = $2"
     " AND merged_into IS NULL AND state IN " S_OPEN_STATES " AND routed_at_us >= $3"
     " ORDER BY routed_at_us, id LIMIT 1 FOR UPDATE"},
    //  A routed or merged request in one round trip: its row (once: a
    //  replayed event conflicts and changes nothing), the lead's follower
    //  count, its first-generation timers, its co-handlers and its
    //  timeline row. Returns 1 when inserted, 0 when it existed.
    {"rt_route",
     "WITH ins AS (INSERT INTO {schema}.requests (id, service_code, description, channel,"
     " building_code, grid_code, community_code, subdistrict_code, meeting_id,"
     " media_url, resident_token_sha256, submitted_at_us, routed_at_us, state, tier,"
     " rule_line, lead_code, level, assignee_staff, assignee_name, assignee_unit,"
     " assignee_unit_name, assignee_role, merged_into, response_s, resolve_s,"
     " response_due_us, resolve_due_us, updated_at_us)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,"
     " $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $13)"
     " ON CONFLICT (id) DO NOTHING RETURNING id),"
     " fol AS (UPDATE {schema}.requests SET followers = followers + 1"
     " WHERE id = $24 AND EXISTS (SELECT 1 FROM ins)),"
     " tim AS (INSERT INTO {schema}.timers (request_id, kind, generation, fire_at_us)"
     " SELECT ins.id, t.kind, 1, t.at FROM ins,"
     " unnest ($29::text[], $30::bigint[]) AS t (kind, at)),"
     " co AS (INSERT INTO {schema}.co_handlers (request_id, unit_code, unit_name, staff_id,"
     " staff_name) SELECT ins.id, c.unit, c.uname, nullif (c.staff, ''), c.sname"
     " FROM ins, unnest ($31::text[], $32::text[], $33::text[], $34::text[])"
     " AS c (unit, uname, staff, sname) ON CONFLICT DO NOTHING),"
     " tl AS (INSERT INTO {schema}.timeline (request_id, at_us, kind, state, actor_id,"
     " actor_name, actor_role, note, detail)"
     " SELECT ins.id, $13, $35, $14, NULL, '', 'system', $36, $37::jsonb FROM ins)"
     " SELECT count(*) FROM ins"},
    //  rt_merge_lead for a batch: the lead of every (building, category)
    //  pair, locked. Keyed by the pair in the first two columns.
    {"rt_merge_leads",
     "SELECT k.b, k.s, l.* FROM (SELECT DISTINCT b, s FROM unnest ($1::text[], $2::text[])"
     " AS u (b, s)) k CROSS JOIN LATERAL (SELECT id, tier, level, lead_code, assignee_staff,"
     " assignee_name, assignee_unit, assignee_unit_name, assignee_role, response_s, resolve_s,"
     " response_due_us, resolve_due_us FROM {schema}.requests WHERE building_code = k.b"
     " AND service_code = k.s AND merged_into IS NULL AND state IN " S_OPEN_STATES
     " AND routed_at_us >= $3 ORDER BY routed_at_us, id LIMIT 1 FOR UPDATE) l"},
    //  rt_route for a batch, every column an array: the requests (with
    //  the follower counts of leads routed in the batch), follower counts
    //  of leads already stored, timers, co-handlers, timeline rows.
    //  Returns how many requests were inserted.
    {"rt_route_batch",
     "WITH ins AS (INSERT INTO {schema}.requests (id, service_code, description, channel,"
     " building_code, grid_code, community_code, subdistrict_code, meeting_id, media_url,"
     " resident_token_sha256, submitted_at_us, routed_at_us, state, tier, rule_line, lead_code,"
     " level, assignee_staff, assignee_name, assignee_unit, assignee_unit_name, assignee_role,"
     " merged_into, response_s, resolve_s, response_due_us, resolve_due_us, updated_at_us,"
     " followers)"
     " SELECT id, svc, descr, chan, bld, grid, comm, sub, meet, media, tok, submitted::bigint,"
     " routed::bigint, state, tier::smallint, line::integer, lead, lvl::smallint, staff, sname,"
     " unit, uname, role, merged, rs::bigint, ss::bigint, rdue::bigint, sdue::bigint,"
     " routed::bigint, fol::integer FROM unnest ($1::text[], $2::text[], $3::text[], $4::text[],"
     " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],"
     " $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],"
     " $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::text[],"
     " $26::text[], $27::text[], $28::text[], $29::text[]) AS u (id, svc, descr, chan, bld, grid,"
     " comm, sub, meet, media, tok, submitted, routed, state, tier, line, lead, lvl, staff, sname,"
     " unit, uname, role, merged, rs, ss, rdue, sdue, fol)"
     " ON CONFLICT (id) DO NOTHING RETURNING id),"
     " fol AS (UPDATE {schema}.requests r SET followers = r.followers + f.n FROM (SELECT x.id,"
     " count(*) AS n FROM unnest ($30::text[]) AS x (id) GROUP BY x.id) f WHERE r.id = f.id),"
     " tim AS (INSERT INTO {schema}.timers (request_id, kind, generation, fire_at_us)"
     " SELECT t.rid, t.kind, 1, t.at::bigint FROM unnest ($31::text[], $32::text[], $33::text[])"
     " AS t (rid, kind, at) JOIN ins ON ins.id = t.rid),"
     " co AS (INSERT INTO {schema}.co_handlers (request_id, unit_code, unit_name, staff_id,"
     " staff_name) SELECT c.rid, c.unit, c.uname, nullif (c.staff, ''), c.sname"
     " FROM unnest ($34::text[], $35::text[], $36::text[], $37::text[], $38::text[])"
     " AS c (rid, unit, uname, staff, sname) JOIN ins ON ins.id = c.rid ON CONFLICT DO NOTHING),"
     " tl AS (INSERT INTO {schema}.timeline (request_id, at_us, kind, state, actor_id, actor_name,"
     " actor_role, note, detail) SELECT l.rid, l.at::bigint, l.kind, l.state, NULL, '', 'system',"
     " l.note, l.detail::jsonb FROM unnest ($39::text[], $40::text[], $41::text[], $42::text[],"
     " $43::text[], $44::text[]) AS l (rid, at, kind, state, note, detail)"
     " JOIN ins ON ins.id = l.rid)"
     " SELECT count(*) FROM ins"},
    {"rt_insert", "INSERT INTO {schema}.requests (id, service_code, description, channel, "
                  "building_code,"
                  " grid_code, community_code, subdistrict_code, meeting_id, media_url,"
                  " resident_token_sha256, submitted_at_us, routed_at_us, state, tier, "
                  "rule_line, lead_code,"
                  " level, assignee_staff, assignee_name, assignee_unit, "
                  "assignee_unit_name, assignee_role,"
                  " merged_into, response_s, resolve_s, response_due_us, resolve_due_us, "
                  "updated_at_us)"
                  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                  "$15, $16, $17, $18,"
                  " $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $13)"
                  " ON CONFLICT (id) DO NOTHING RETURNING id"},
    {"rt_load", "SELECT id, state, tier, service_code, building_code, grid_code, "
                "community_code,"
                " subdistrict_code, level, assignee_staff, assignee_name, assignee_unit,"
                " assignee_unit_name, assignee_role, response_s, resolve_s, "
                "response_due_us,"
                " resolve_due_us, coalesce(responded_at_us, -1), coalesce(resolved_at_us, "
                "-1),"
                " reopen_count, merged_into, lead_code,"
                " (resident_token_sha256 <> '' AND resident_token_sha256 ="
                "  encode(sha256(convert_to(coalesce($2, ''), 'UTF8')), 'hex')),"
                " routed_at_us, coalesce(closed_at_us, -1), coalesce(score, 0),"
                " coalesce(satisfied::int, -1), comment"
                " FROM {schema}.requests WHERE id = $1 FOR UPDATE"},
    {"rt_save", "UPDATE {schema}.requests SET state = $2, level = $3, "
                "assignee_staff = $4, assignee_name = $5,"
                " assignee_unit = $6, assignee_unit_name = $7, assignee_role = "
                "$8, response_due_us = $9,"
                " resolve_due_us = $10, responded_at_us = $11, resolved_at_us "
                "= $12, closed_at_us = $13,"
                " reopen_count = $14, score = $15, satisfied = $16, comment = "
                "$17, updated_at_us = $18"
                " WHERE id = $1"},
    {"rt_timeline", "INSERT INTO {schema}.timeline (request_id, at_us, kind, state, "
                    "actor_id, actor_name,"
                    " actor_role, note, detail) VALUES ($1, $2, $3, $4, $5, "
                    "$6, $7, $8, $9::jsonb)"},
    {"rt_timer_arm", "INSERT INTO {schema}.timers (request_id, kind, generation, fire_at_us)"
                     " SELECT $1, $2, coalesce(max(generation), 0) + 1, $3 FROM {schema}.timers"
                     " WHERE request_id = $1 AND kind = $2"},
    {"rt_timer_cancel", "DELETE FROM {schema}.timers WHERE request_id = $1 AND fired_at_us IS NULL"
                        " AND kind = ANY ($2::text[])"},
    //  Locks the timers and their requests, skipping what another
    //  transaction holds: a timer run then never waits for a request
    //  locked by a replica's timer run (two runs that each locked one
    //  request the other needs would deadlock), nor by a command.
    {"rt_timers_due", "SELECT t.request_id, t.kind, t.generation FROM {schema}.timers t"
                      " JOIN {schema}.requests r ON r.id = t.request_id"
                      " WHERE t.fired_at_us IS NULL AND t.fire_at_us <= $1"
                      " ORDER BY t.fire_at_us, t.request_id, t.kind LIMIT 100"
                      " FOR UPDATE OF t, r SKIP LOCKED"},
    {"rt_timer_mark", "UPDATE {schema}.timers SET fired_at_us = $4 WHERE request_id "
                      "= $1 AND kind = $2"
                      " AND generation = $3 AND fired_at_us IS NULL"},
    {"rt_load_counts",
     "SELECT s, (SELECT count(*) FROM {schema}.requests r WHERE r.assignee_staff = s"
     " AND r.state IN " S_OPEN_STATES ") FROM unnest ($1::text[]) s"},
    {"rt_co_is", "SELECT 1 FROM {schema}.co_handlers WHERE request_id = $1 AND unit_code = $2"},
    {"rt_co_report", "UPDATE {schema}.co_handlers SET reported = true WHERE "
                     "request_id = $1 AND unit_code = $2"},
    {"rt_dispatcher", "SELECT s.id FROM org.staff s JOIN org.units u ON u.code = s.unit_code"
                      " WHERE s.role = 'subdistrict_coordinator'"
                      " ORDER BY s.on_duty DESC, u.sort_order, u.code, s.sort_order, s.id LIMIT "
                      "1"},
};

//  The read statements of routing_http.c (pool connections).
static const struct {
    const char *name;
    const char *sql;
} s_reads[] = {
    {"rh_request", "SELECT id, state, tier, service_code, description, channel, "
                   "building_code, grid_code,"
                   " community_code, subdistrict_code, meeting_id, assignee_staff, "
                   "assignee_name,"
                   " assignee_unit, assignee_unit_name, assignee_role, level, merged_into, "
                   "followers,"
                   " response_due_us, resolve_due_us, responded_at_us, resolved_at_us, "
                   "closed_at_us,"
                   " reopen_count, score, satisfied, comment, routed_at_us, submitted_at_us, "
                   "media_url,"
                   " (resident_token_sha256 <> '' AND resident_token_sha256 ="
                   "  encode(sha256(convert_to(coalesce($2, ''), 'UTF8')), 'hex'))"
                   " FROM {schema}.requests WHERE id = $1"},
    {"rh_timeline", "SELECT at_us, kind, state, actor_id, actor_name, actor_role, note, detail"
                    " FROM {schema}.timeline WHERE request_id = $1 ORDER BY seq"},
    {"rh_co", "SELECT unit_code, unit_name, staff_id, staff_name, reported"
              " FROM {schema}.co_handlers WHERE request_id = $1 ORDER BY unit_code"},
    {"rh_queue", "SELECT id, state, tier, service_code, building_code, assignee_staff, "
                 "assignee_name,"
                 " assignee_unit_name, response_due_us, resolve_due_us,"
                 " CASE WHEN responded_at_us IS NULL AND state IN ('assigned', 'accepted')"
                 "  THEN least(response_due_us, resolve_due_us) ELSE resolve_due_us END AS "
                 "next_due"
                 " FROM {schema}.requests WHERE state IN " S_OPEN_STATES
                 " AND ($1::text IS NULL OR assignee_staff = $1 OR assignee_unit = $2)"
                 " ORDER BY next_due, id LIMIT 500"},
};

void
routing_store_prepare (routing_core_t *core)
{
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        gz_db_prepare_schema (core->db, s_statements[i].name, s_statements[i].sql, core->schema);
    gz_auth_prepare (core->db, core->schema);
    routing_sessions_prepare (core->db, core->schema);
}

void
routing_store_prepare_reads (gz_db_t *db, const char *schema)
{
    gz_auth_prepare (db, schema);
    for (size_t i = 0; i < sizeof s_reads / sizeof s_reads[0]; i++)
        gz_db_prepare_schema (db, s_reads[i].name, s_reads[i].sql, schema);
}

//  Run a statement whose result only matters as success. 0 ok, -1 failure.
static int
s_run (routing_core_t *core, const char *name, int n, const char *const *v)
{
    PGresult *r = gz_db_exec (core->db, name, n, v);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

//  The rows of r as one block the caller free()s: an array of items of
//  size bytes (zeroed), then the text of columns cols[0..ncols-1] of each
//  row, which the item's char * members at offsets offs point at.
static void *
s_rows (PGresult *r, size_t size, int ncols, const int *cols, const size_t *offs)
{
    size_t n = (size_t) PQntuples (r), len = n * size;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ncols; c++)
            len += strlen (PQgetvalue (r, (int) i, cols[c])) + 1;
    char *block = calloc (1, len ? len : 1);
    assert (block);
    char *text = block + n * size;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < ncols; c++) {
            const char *value = PQgetvalue (r, (int) i, cols[c]);
            size_t vlen = strlen (value) + 1;
            memcpy (text, value, vlen);
            memcpy (block + i * size + offs[c], &text, sizeof text);
            text += vlen;
        }
    return block;
}

//  ---------------------------------------------------------------- request

void
routing_req_clear (routing_req_t *r)
{
    free (r->id);
    free (r->service_code);
    free (r->building_code);
    free (r->grid_code);
    free (r->community_code);
    free (r->subdistrict_code);
    free (r->assignee_staff);
    free (r->assignee_name);
    free (r->assignee_unit);
    free (r->assignee_unit_name);
    free (r->assignee_role);
    free (r->merged_into);
    free (r->lead_code);
    free (r->comment);
    free (r->saved_staff);
    memset (r, 0, sizeof *r);
}

char *
routing_dup_or_null (const char *s)
{
    return s && *s ? strdup (s) : NULL;
}

void
routing_set (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

const char *
routing_str (const char *s)
{
    return s ? s : "";
}

static char *
s_cell (PGresult *r, int row, int col)
{
    return PQgetisnull (r, row, col) ? NULL : strdup (PQgetvalue (r, row, col));
}

static char *
s_col (PGresult *r, int col)
{
    return s_cell (r, 0, col);
}

static int64_t
s_col64 (PGresult *r, int col)
{
    return PQgetisnull (r, 0, col) ? -1 : strtoll (PQgetvalue (r, 0, col), NULL, 10);
}

//  Load and lock a request. 1 found, 0 not found, -1 failure.
int
routing_store_load (routing_core_t *core, const char *id, const char *resident_token,
                    routing_req_t *out)
{
    memset (out, 0, sizeof *out);
    const char *v[2] = {id, resident_token};
    PGresult *r = gz_db_exec (core->db, "rt_load", 2, v);
    if (!r)
        return -1;
    if (PQntuples (r) != 1) {
        PQclear (r);
        return 0;
    }
    out->id = s_col (r, 0);
    out->state = routing_state_from_name (PQgetvalue (r, 0, 1));
    out->tier = atoi (PQgetvalue (r, 0, 2));
    out->service_code = s_col (r, 3);
    out->building_code = s_col (r, 4);
    out->grid_code = s_col (r, 5);
    out->community_code = s_col (r, 6);
    out->subdistrict_code = s_col (r, 7);
    out->level = atoi (PQgetvalue (r, 0, 8));
    out->assignee_staff = s_col (r, 9);
    out->assignee_name = s_col (r, 10);
    out->assignee_unit = s_col (r, 11);
    out->assignee_unit_name = s_col (r, 12);
    out->assignee_role = s_col (r, 13);
    out->response_s = s_col64 (r, 14);
    out->resolve_s = s_col64 (r, 15);
    out->response_due_us = s_col64 (r, 16);
    out->resolve_due_us = s_col64 (r, 17);
    out->responded_at_us = s_col64 (r, 18);
    out->resolved_at_us = s_col64 (r, 19);
    out->reopen_count = atoi (PQgetvalue (r, 0, 20));
    out->merged_into = s_col (r, 21);
    out->lead_code = s_col (r, 22);
    out->resident_ok = PQgetvalue (r, 0, 23)[0] == 't';
    out->routed_at_us = s_col64 (r, 24);
    out->closed_at_us = s_col64 (r, 25);
    out->score = atoi (PQgetvalue (r, 0, 26));
    out->satisfied = atoi (PQgetvalue (r, 0, 27));
    out->comment = s_col (r, 28);
    out->saved_state = out->state;
    out->saved_staff = s_col (r, 9);
    PQclear (r);
    return 1;
}

int
routing_store_save (routing_core_t *core, const routing_req_t *q)
{
    char level[16], rdue[24], sdue[24], resp[24], reso[24], closed[24], reopen[16], score[8],
        now[24];
    snprintf (level, sizeof level, "%d", q->level);
    snprintf (rdue, sizeof rdue, "%lld", (long long) q->response_due_us);
    snprintf (sdue, sizeof sdue, "%lld", (long long) q->resolve_due_us);
    snprintf (resp, sizeof resp, "%lld", (long long) q->responded_at_us);
    snprintf (reso, sizeof reso, "%lld", (long long) q->resolved_at_us);
    snprintf (closed, sizeof closed, "%lld", (long long) q->closed_at_us);
    snprintf (reopen, sizeof reopen, "%d", q->reopen_count);
    snprintf (score, sizeof score, "%d", q->score);
    snprintf (now, sizeof now, "%lld", (long long) routing_now (core));
    const char *v[18] = {q->id,
                         routing_state_name (q->state),
                         level,
                         q->assignee_staff,
                         q->assignee_name ? q->assignee_name : "",
                         q->assignee_unit ? q->assignee_unit : "",
                         q->assignee_unit_name ? q->assignee_unit_name : "",
                         q->assignee_role ? q->assignee_role : "",
                         rdue,
                         sdue,
                         q->responded_at_us >= 0 ? resp : NULL,
                         q->resolved_at_us >= 0 ? reso : NULL,
                         q->closed_at_us >= 0 ? closed : NULL,
                         reopen,
                         q->score > 0 ? score : NULL,
                         q->satisfied < 0 ? NULL
                         : q->satisfied   ? "true"
                                          : "false",
                         q->comment,
                         now};
    return s_run (core, "rt_save", 18, v);
}

//  ---------------------------------------------------------------- timeline and timers

int
routing_store_timeline (routing_core_t *core, const char *id, int64_t at_us, const char *kind,
                        routing_state_t state, const char *actor_id, const char *actor_name,
                        const char *actor_role, const char *note, const char *detail)
{
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long) at_us);
    const char *v[9] = {id,         at,   kind,  routing_state_name (state), actor_id, actor_name,
                        actor_role, note, detail};
    return s_run (core, "rt_timeline", 9, v);
}

int
routing_store_timer_cancel (routing_core_t *core, const char *id, const char *kinds)
{
    const char *v[2] = {id, kinds};
    return s_run (core, "rt_timer_cancel", 2, v);
}

int
routing_store_timer_arm (routing_core_t *core, const char *id, const char *kind, int64_t at_us)
{
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long) at_us);
    const char *v[3] = {id, kind, at};
    return s_run (core, "rt_timer_arm", 3, v);
}

int
routing_store_timers_due (routing_core_t *core, const char *now, routing_timer_t **out, size_t *n)
{
    const char *v[1] = {now};
    PGresult *r = gz_db_exec (core->db, "rt_timers_due", 1, v);
    *out = NULL;
    *n = 0;
    if (!r)
        return -1;
    static const int cols[3] = {0, 1, 2};
    static const size_t offs[3] = {offsetof (routing_timer_t, request_id),
                                   offsetof (routing_timer_t, kind),
                                   offsetof (routing_timer_t, generation)};
    *out = s_rows (r, sizeof **out, 3, cols, offs);
    *n = (size_t) PQntuples (r);
    PQclear (r);
    return 0;
}

int
routing_store_timer_mark (routing_core_t *core, const char *id, const char *kind,
                          const char *generation, const char *now)
{
    const char *v[4] = {id, kind, generation, now};
    PGresult *m = gz_db_exec (core->db, "rt_timer_mark", 4, v);
    if (!m)
        return -1;
    int marked = strcmp (PQcmdTuples (m), "1") == 0;
    PQclear (m);
    return marked;
}

//  ---------------------------------------------------------------- assignment

int
routing_store_load_counts (routing_core_t *core, const char *ids, routing_count_t **out, size_t *n)
{
    const char *v[1] = {ids};
    PGresult *r = gz_db_exec (core->db, "rt_load_counts", 1, v);
    *out = NULL;
    *n = 0;
    if (!r)
        return -1;
    static const int cols[1] = {0};
    static const size_t offs[1] = {offsetof (routing_count_t, staff_id)};
    *out = s_rows (r, sizeof **out, 1, cols, offs);
    *n = (size_t) PQntuples (r);
    for (size_t i = 0; i < *n; i++)
        (*out)[i].open = atol (PQgetvalue (r, (int) i, 1));
    PQclear (r);
    return 0;
}

int
routing_store_dispatcher (routing_core_t *core, const gz_staff_t **out)
{
    *out = NULL;
    PGresult *r = gz_db_exec (core->db, "rt_dispatcher", 0, NULL);
    if (!r)
        return -1;
    *out = PQntuples (r) == 1 ? gz_org_staff (core->org, PQgetvalue (r, 0, 0)) : NULL;
    PQclear (r);
    return *out != NULL;
}

int
routing_store_is_co_handler (routing_core_t *core, const char *id, const char *unit, bool *yes)
{
    const char *v[2] = {id, unit};
    PGresult *r = gz_db_exec (core->db, "rt_co_is", 2, v);
    if (!r)
        return -1;
    *yes = PQntuples (r) > 0;
    PQclear (r);
    return 0;
}

int
routing_store_co_report (routing_core_t *core, const char *id, const char *unit)
{
    const char *v[2] = {id, unit};
    return s_run (core, "rt_co_report", 2, v);
}

//  ---------------------------------------------------------------- routing

//  What a follower copies from the lead in r's row, from column col on
//  (rt_merge_lead's columns), into q; the lead's id into *id.
static void
s_lead_row (PGresult *r, int row, int col, routing_req_t *q, char **id)
{
    *id = s_cell (r, row, col);
    q->tier = atoi (PQgetvalue (r, row, col + 1));
    q->level = atoi (PQgetvalue (r, row, col + 2));
    q->lead_code = s_cell (r, row, col + 3);
    q->assignee_staff = s_cell (r, row, col + 4);
    q->assignee_name = s_cell (r, row, col + 5);
    q->assignee_unit = s_cell (r, row, col + 6);
    q->assignee_unit_name = s_cell (r, row, col + 7);
    q->assignee_role = s_cell (r, row, col + 8);
    q->response_s = strtoll (PQgetvalue (r, row, col + 9), NULL, 10);
    q->resolve_s = strtoll (PQgetvalue (r, row, col + 10), NULL, 10);
    q->response_due_us = strtoll (PQgetvalue (r, row, col + 11), NULL, 10);
    q->resolve_due_us = strtoll (PQgetvalue (r, row, col + 12), NULL, 10);
}

int
routing_store_merge_lead (routing_core_t *core, routing_req_t *q, const char *since)
{
    const char *v[3] = {q->building_code, q->service_code, since};
    PGresult *r = gz_db_exec (core->db, "rt_merge_lead", 3, v);
    if (!r)
        return -1;
    int found = PQntuples (r) == 1;
    if (found)
        s_lead_row (r, 0, 0, q, &q->merged_into);
    PQclear (r);
    return found;
}

int
routing_store_merge_leads (routing_core_t *core, const char *buildings, const char *categories,
                           const char *since, routing_req_t **out, size_t *n)
{
    const char *v[3] = {buildings, categories, since};
    PGresult *r = gz_db_exec (core->db, "rt_merge_leads", 3, v);
    *out = NULL;
    *n = 0;
    if (!r)
        return -1;
    *n = (size_t) PQntuples (r);
    *out = calloc (*n ? *n : 1, sizeof **out);
    assert (*out);
    for (size_t i = 0; i < *n; i++) {
        routing_req_t *l = &(*out)[i];
        l->building_code = s_cell (r, (int) i, 0);
        l->service_code = s_cell (r, (int) i, 1);
        s_lead_row (r, (int) i, 2, l, &l->id);
    }
    PQclear (r);
    return 0;
}

int
routing_store_route (routing_core_t *core, const char *const *v, bool *inserted)
{
    PGresult *r = gz_db_exec (core->db, "rt_route", 37, v);
    if (!r)
        return -1;
    *inserted = PQntuples (r) == 1 && strcmp (PQgetvalue (r, 0, 0), "1") == 0;
    PQclear (r);
    return 0;
}

int
routing_store_route_batch (routing_core_t *core, int n, const char *const *v, long long *inserted)
{
    PGresult *r = gz_db_exec (core->db, "rt_route_batch", n, v);
    if (!r)
        return -1;
    *inserted = PQntuples (r) == 1 ? atoll (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    return 0;
}

//  ---------------------------------------------------------------- views (read pool)

json_t *
routing_store_jstr (PGresult *r, int row, int col)
{
    return PQgetisnull (r, row, col) ? json_null () : json_string (PQgetvalue (r, row, col));
}

json_t *
routing_store_jtime (PGresult *r, int row, int col)
{
    if (PQgetisnull (r, row, col))
        return json_null ();
    char iso[32];
    routing_iso8601 (strtoll (PQgetvalue (r, row, col), NULL, 10), iso);
    return json_string (iso);
}

json_t *
routing_store_jrows (gz_db_t *db, const char *name, int n, const char *const *v,
                     json_t *(*row) (PGresult *r, int i))
{
    PGresult *r = gz_db_exec (db, name, n, v);
    if (!r)
        return NULL;
    json_t *rows = json_array ();
    for (int i = 0; i < PQntuples (r); i++)
        json_array_append_new (rows, row (r, i));
    PQclear (r);
    return rows;
}

static json_t *
s_person (const char *staff_id, const char *name, const char *unit, const char *unit_name,
          const char *role)
{
    return json_pack ("{s:o,s:s,s:s,s:s,s:s}", "staff_id",
                      staff_id && *staff_id ? json_string (staff_id) : json_null (), "name",
                      name ? name : "", "unit_code", unit ? unit : "", "unit_name",
                      unit_name ? unit_name : "", "role", role ? role : "");
}

//  A row of rh_co: a co-handling department.
static json_t *
s_co_handler (PGresult *r, int i)
{
    json_t *c = s_person (PQgetvalue (r, i, 2), PQgetvalue (r, i, 3), PQgetvalue (r, i, 0),
                          PQgetvalue (r, i, 1), "department_contact");
    json_object_set_new (c, "reported", json_boolean (PQgetvalue (r, i, 4)[0] == 't'));
    return c;
}

//  A row of rh_timeline.
static json_t *
s_timeline_row (PGresult *r, int i)
{
    json_t *t = json_object ();
    json_object_set_new (t, "at", routing_store_jtime (r, i, 0));
    json_object_set_new (t, "kind", routing_store_jstr (r, i, 1));
    json_object_set_new (t, "state", routing_store_jstr (r, i, 2));
    json_object_set_new (t, "actor",
                         json_pack ("{s:o,s:s,s:s}", "staff_id", routing_store_jstr (r, i, 3),
                                    "name", PQgetvalue (r, i, 4), "role", PQgetvalue (r, i, 5)));
    json_object_set_new (t, "note", routing_store_jstr (r, i, 6));
    json_t *d = PQgetisnull (r, i, 7) ? NULL : json_loads (PQgetvalue (r, i, 7), 0, NULL);
    json_object_set_new (t, "detail", d ? d : json_object ());
    return t;
}

int
routing_store_view (gz_db_t *db, const char *id, const char *resident_token, json_t **out,
                    bool *resident_ok)
{
    const char *v[2] = {id, resident_token};
    PGresult *r = gz_db_exec (db, "rh_request", 2, v);
    if (!r)
        return -1;
    if (PQntuples (r) != 1) {
        PQclear (r);
        return 0;
    }
    *resident_ok = PQgetvalue (r, 0, 31)[0] == 't';
    const gz_category_t *cat = gz_category_find (PQgetvalue (r, 0, 3));
    json_t *o = json_object ();
    json_object_set_new (o, "id", routing_store_jstr (r, 0, 0));
    json_object_set_new (o, "state", routing_store_jstr (r, 0, 1));
    json_object_set_new (o, "tier", json_string (routing_tier_name (atoi (PQgetvalue (r, 0, 2)))));
    json_object_set_new (o, "category", routing_store_jstr (r, 0, 3));
    json_object_set_new (o, "category_name", json_string (cat ? cat->name : ""));
    json_object_set_new (o, "description", routing_store_jstr (r, 0, 4));
    json_object_set_new (o, "channel", routing_store_jstr (r, 0, 5));
    json_object_set_new (o, "building_code", routing_store_jstr (r, 0, 6));
    json_object_set_new (o, "grid_code", routing_store_jstr (r, 0, 7));
    json_object_set_new (o, "community_code", routing_store_jstr (r, 0, 8));
    json_object_set_new (o, "subdistrict_code", routing_store_jstr (r, 0, 9));
    json_object_set_new (o, "meeting_id", routing_store_jstr (r, 0, 10));
    json_object_set_new (o, "media_url", routing_store_jstr (r, 0, 30));
    json_object_set_new (o, "assignee",
                         s_person (PQgetvalue (r, 0, 11), PQgetvalue (r, 0, 12),
                                   PQgetvalue (r, 0, 13), PQgetvalue (r, 0, 14),
                                   PQgetvalue (r, 0, 15)));
    json_object_set_new (o, "escalation_level", json_integer (atoi (PQgetvalue (r, 0, 16))));
    json_object_set_new (o, "merged_into", routing_store_jstr (r, 0, 17));
    json_object_set_new (o, "followers", json_integer (atoi (PQgetvalue (r, 0, 18))));
    json_object_set_new (o, "deadlines",
                         json_pack ("{s:o,s:o}", "response", routing_store_jtime (r, 0, 19),
                                    "resolve", routing_store_jtime (r, 0, 20)));
    json_object_set_new (o, "submitted_at", routing_store_jtime (r, 0, 29));
    json_object_set_new (o, "routed_at", routing_store_jtime (r, 0, 28));
    json_object_set_new (o, "responded_at", routing_store_jtime (r, 0, 21));
    json_object_set_new (o, "resolved_at", routing_store_jtime (r, 0, 22));
    json_object_set_new (o, "closed_at", routing_store_jtime (r, 0, 23));
    json_object_set_new (o, "reopen_count", json_integer (atoi (PQgetvalue (r, 0, 24))));
    if (PQgetisnull (r, 0, 25))
        json_object_set_new (o, "rating", json_null ());
    else
        json_object_set_new (o, "rating",
                             json_pack ("{s:i,s:b,s:o}", "score", atoi (PQgetvalue (r, 0, 25)),
                                        "satisfied", PQgetvalue (r, 0, 26)[0] == 't', "comment",
                                        routing_store_jstr (r, 0, 27)));
    PQclear (r);

    const char *v1[1] = {id};
    //  Co-handlers that cannot be read are answered as none, the timeline
    //  fails the view.
    json_t *co = routing_store_jrows (db, "rh_co", 1, v1, s_co_handler);
    json_object_set_new (o, "co_handlers", co ? co : json_array ());
    json_t *tl = routing_store_jrows (db, "rh_timeline", 1, v1, s_timeline_row);
    json_object_set_new (o, "timeline", tl ? tl : json_array ());
    if (!tl) {
        json_decref (o);
        return -1;
    }
    *out = o;
    return 1;
}

//  A row of rh_queue.
static json_t *
s_queue_row (PGresult *r, int i)
{
    json_t *o = json_object ();
    json_object_set_new (o, "id", routing_store_jstr (r, i, 0));
    json_object_set_new (o, "state", routing_store_jstr (r, i, 1));
    json_object_set_new (o, "tier", json_string (routing_tier_name (atoi (PQgetvalue (r, i, 2)))));
    json_object_set_new (o, "category", routing_store_jstr (r, i, 3));
    json_object_set_new (o, "building_code", routing_store_jstr (r, i, 4));
    json_object_set_new (o, "assignee",
                         json_pack ("{s:o,s:s,s:s}", "staff_id", routing_store_jstr (r, i, 5),
                                    "name", PQgetvalue (r, i, 6), "unit_name",
                                    PQgetvalue (r, i, 7)));
    json_object_set_new (o, "deadlines",
                         json_pack ("{s:o,s:o}", "response", routing_store_jtime (r, i, 8),
                                    "resolve", routing_store_jtime (r, i, 9)));
    json_object_set_new (o, "next_due", routing_store_jtime (r, i, 10));
    return o;
}

json_t *
routing_store_queue (gz_db_t *db, const char *staff_id, const char *unit)
{
    const char *v[2] = {staff_id, unit};
    return routing_store_jrows (db, "rh_queue", 2, v, s_queue_row);
}

//  ---------------------------------------------------------------- tokens

int
routing_token_install (routing_core_t *core, const char *token, const char *staff_id,
                       const char *role, const char *label)
{
    return gz_auth_install (core->db, token, staff_id, role, label);
}
