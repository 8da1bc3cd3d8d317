/*  routing_flow: the state machine of the closed loop, on the actor's
    writer connection. Classification and assignment of RequestSubmitted
    (the bus consumer's handler), worker and resident commands, and the
    deadline timers. Every transition writes the request row, one timeline
    row and stages one event (RequestUpdate) inside the caller's open
    transaction, so they commit together, once. See the DESIGN note and
    the state table in routing.h.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "gz_log.h"
#include "routing.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/routing.pb-c.h"

#define SVC "routing"

//  States in which a request is work in hand.
#define S_OPEN_STATES "('assigned', 'accepted', 'verified', 'in_progress')"

int64_t
routing_now (routing_core_t *core)
{
    return core->clock_us ? core->clock_us : gz_now_us ();
}

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

//  ---------------------------------------------------------------- load cache
//
//  Least-loaded assignment needs the open requests of each candidate.
//  Counting them in PostgreSQL for every request costs a round trip and a
//  scan that grows with the open requests of the candidates (the index
//  holds every open request of a staff member). So the actor keeps the
//  counts: a count is read from PostgreSQL (inside the current
//  transaction, so it includes this transaction's own writes) when a
//  candidate has none or it is older than S_LOAD_TTL_MS, and moved by
//  every transition this actor makes itself (s_load_move, right after
//  the write). A rollback forgets them all (routing_core_forget_loads),
//  since moves made in it did not happen. With one replica the counts
//  are then exact; with several, another replica's transitions show up
//  within S_LOAD_TTL_MS. A count only picks among candidates (and judges
//  max_open, which is a soft cap): PostgreSQL stays the truth of every
//  request's state and assignee.

#define S_LOAD_TTL_MS 2000

typedef struct {
    long open;
    int64_t counted_ms; //  when read from PostgreSQL (zclock_mono)
} s_load_t;

static void
s_load_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  Count a staged transition; it reaches the metric only if its
//  transaction commits (routing_core_count_committed).
static void
s_count_kind (routing_core_t *core, const char *kind)
{
    for (int i = 0; i < core->npending_kinds; i++)
        if (strcmp (core->pending_kinds[i].kind, kind) == 0) {
            core->pending_kinds[i].n++;
            return;
        }
    if (core->npending_kinds == (int) (sizeof core->pending_kinds / sizeof core->pending_kinds[0]))
        return; //  more kinds than exist: a programmer error, but only a metric
    int i = core->npending_kinds++;
    snprintf (core->pending_kinds[i].kind, sizeof core->pending_kinds[i].kind, "%s", kind);
    core->pending_kinds[i].n = 1;
}

void
routing_core_count_committed (routing_core_t *core)
{
    for (int i = 0; i < core->npending_kinds; i++) {
        char labels[64];
        snprintf (labels, sizeof labels, "kind=\"%s\"", core->pending_kinds[i].kind);
        gz_metrics_add (core->metrics, "gz_routing_transitions_total", labels,
                        core->pending_kinds[i].n);
    }
    core->npending_kinds = 0;
}

void
routing_core_forget_counts (routing_core_t *core)
{
    core->npending_kinds = 0;
}

void
routing_core_forget_loads (routing_core_t *core)
{
    if (core->loads)
        zhashx_purge (core->loads);
}

static struct _routing_batch_t *s_batch_new (void);
static void s_batch_destroy (struct _routing_batch_t **self_p);

void
routing_core_release (routing_core_t *core)
{
    zhashx_destroy (&core->loads);
    s_batch_destroy (&core->batch);
}

//  One request more (delta 1) or less (-1) in hand for staff_id.
static void
s_load_move (routing_core_t *core, const char *staff_id, int delta)
{
    s_load_t *l = staff_id ? zhashx_lookup (core->loads, staff_id) : NULL;
    if (l)
        l->open += delta;
}

void
routing_core_prepare (routing_core_t *core)
{
    if (!core->loads) {
        core->loads = zhashx_new ();
        zhashx_set_destructor (core->loads, s_load_free);
    }
    if (!core->batch)
        core->batch = s_batch_new ();
    for (size_t i = 0; i < sizeof s_statements / sizeof s_statements[0]; i++)
        gz_db_prepare_schema (core->db, s_statements[i].name, s_statements[i].sql, core->schema);
    gz_auth_prepare (core->db, core->schema);
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

//  ---------------------------------------------------------------- request

typedef struct {
    char *id, *state, *service_code, *building_code, *grid_code, *community_code;
    char *subdistrict_code, *assignee_staff, *assignee_name, *assignee_unit;
    char *assignee_unit_name, *assignee_role, *merged_into, *lead_code, *comment;
    char *saved_state, *saved_staff;                 //  as stored: for the load cache's moves
    int tier, level, reopen_count, score, satisfied; //  satisfied -1 = unknown
    int64_t response_s, resolve_s, response_due_us, resolve_due_us;
    int64_t responded_at_us, resolved_at_us, closed_at_us,
        routed_at_us; //  -1 = never
    bool resident_ok;
} req_t;

static void
s_req_clear (req_t *r)
{
    free (r->id);
    free (r->state);
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
    free (r->saved_state);
    free (r->saved_staff);
    memset (r, 0, sizeof *r);
}

static char *
s_dup_or_null (const char *s)
{
    return s && *s ? strdup (s) : NULL;
}

static void
s_set (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

static char *
s_col (PGresult *r, int col)
{
    return PQgetisnull (r, 0, col) ? NULL : strdup (PQgetvalue (r, 0, col));
}

static int64_t
s_col64 (PGresult *r, int col)
{
    return PQgetisnull (r, 0, col) ? -1 : strtoll (PQgetvalue (r, 0, col), NULL, 10);
}

//  Load and lock a request. 1 found, 0 not found, -1 failure.
static int
s_req_load (routing_core_t *core, const char *id, const char *resident_token, req_t *out)
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
    out->state = s_col (r, 1);
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
    out->saved_state = s_col (r, 1);
    out->saved_staff = s_col (r, 9);
    PQclear (r);
    return 1;
}

static bool
s_open_state (const char *state)
{
    return state && (strcmp (state, "assigned") == 0 || strcmp (state, "accepted") == 0 ||
                     strcmp (state, "verified") == 0 || strcmp (state, "in_progress") == 0);
}

//  Store q's row and move the load cache from what was stored to q.
static int
s_req_save (routing_core_t *core, req_t *q)
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
                         q->state,
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
    if (s_run (core, "rt_save", 18, v))
        return -1;
    if (s_open_state (q->saved_state))
        s_load_move (core, q->saved_staff, -1);
    if (s_open_state (q->state))
        s_load_move (core, q->assignee_staff, 1);
    s_set (&q->saved_state, q->state);
    s_set (&q->saved_staff, q->assignee_staff);
    return 0;
}

//  ---------------------------------------------------------------- arrays

//  A PostgreSQL array literal built element by element ("{}" when empty),
//  every element quoted, so names with commas, quotes or braces survive.
typedef struct {
    char *text;
    size_t len, cap;
    size_t n; //  elements
} s_array_t;

typedef struct {
    s_array_t a[6]; //  rt_route: co units, unit names, staff, staff names; timer kinds, times
} s_arrays_t;

static void
s_array_put (s_array_t *a, char c)
{
    if (a->len + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->text = realloc (a->text, a->cap);
        assert (a->text);
    }
    a->text[a->len++] = c;
    a->text[a->len] = 0;
}

static void
s_array_add (s_array_t *a, const char *value)
{
    if (a->len)
        a->text[a->len - 1] = ','; //  was the closing brace
    else
        s_array_put (a, '{');
    s_array_put (a, '"');
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            s_array_put (a, '\\');
        s_array_put (a, *p);
    }
    s_array_put (a, '"');
    s_array_put (a, '}');
    a->n++;
}

//  value, or an SQL NULL element when value is NULL.
static void
s_array_add_or_null (s_array_t *a, const char *value)
{
    if (value) {
        s_array_add (a, value);
        return;
    }
    if (a->len)
        a->text[a->len - 1] = ',';
    else
        s_array_put (a, '{');
    for (const char *p = "NULL}"; *p; p++)
        s_array_put (a, *p);
    a->n++;
}

//  Append the elements of the literal src (from s_array_text) to a.
static void
s_array_cat (s_array_t *a, const s_array_t *src)
{
    if (!src->len)
        return;
    size_t from = 0;
    if (a->len) {
        a->text[a->len - 1] = ',';
        from = 1; //  src's opening brace
    }
    for (size_t i = from; i < src->len; i++)
        s_array_put (a, src->text[i]);
    a->n += src->n;
}

//  The literal; "{}" when nothing was added. Borrowed.
static const char *
s_array_text (const s_array_t *a)
{
    return a->len ? a->text : "{}";
}

//  ---------------------------------------------------------------- batches
//
//  With core->batched, routing_on_event only keeps the RequestSubmitted
//  events of the consumer's batch; routing_on_flush, called inside the
//  consumer's transaction after the last of them, routes them in order
//  as s_route does one by one, except that the merge leads of the whole
//  batch come from one statement (rt_merge_leads), a request merges into
//  a lead routed earlier in the same batch from memory (its follower
//  count goes into the lead's row), and every row goes to its table in
//  one statement (rt_route_batch): two round trips per batch instead of
//  two per request. Events are staged and load counts moved as each
//  request is planned, as before; a failure rolls all of it back.
//
//  A request that exists already (a repeated event) would make what was
//  planned after it wrong (a merge into it copies the planned row, not
//  the stored one), so a conflict fails the batch and sets core->direct:
//  the retry (the consumer's catch-up) routes one request at a time,
//  exactly as before, and its flush turns batching back on.

enum {
    S_COL_FOLLOWERS = 28,        //  0..28 the requests' columns
    S_COL_FOL_IDS,               //  leads stored already, once per follower
    S_COL_TIMERS,                //  3: request, kind, at
    S_COL_CO = S_COL_TIMERS + 3, //  5: request, unit, unit name, staff, staff name
    S_COL_TL = S_COL_CO + 5,     //  6: request, at, kind, state, note, detail
    S_COLS = S_COL_TL + 6
};

typedef struct {
    req_t q;    //  what a follower copies
    size_t row; //  its row in the batch
} s_lead_t;

struct _routing_batch_t {
    Gongzhi__V1__RequestSubmitted **evs;
    size_t nevs, evs_cap;
    s_array_t col[S_COLS]; //  rt_route_batch's parameters
    int *followers;        //  per row
    size_t rows, rows_cap;
    zhashx_t *leads;  //  "building\x1fcategory" -> s_lead_t, routed in this batch
    zhashx_t *stored; //  same key -> 1 + row in found
    PGresult *found;  //  rt_merge_leads: leads stored already
};

static void
s_lead_free (void **item)
{
    s_lead_t *l = *item;
    if (l) {
        s_req_clear (&l->q);
        free (l);
    }
    *item = NULL;
}

static struct _routing_batch_t *
s_batch_new (void)
{
    struct _routing_batch_t *self = calloc (1, sizeof *self);
    assert (self);
    self->leads = zhashx_new ();
    zhashx_set_destructor (self->leads, s_lead_free);
    self->stored = zhashx_new ();
    return self;
}

//  Forget the batch (after its flush, whatever the outcome).
static void
s_batch_reset (struct _routing_batch_t *self)
{
    for (size_t i = 0; i < self->nevs; i++)
        gongzhi__v1__request_submitted__free_unpacked (self->evs[i], NULL);
    self->nevs = 0;
    for (int i = 0; i < S_COLS; i++)
        self->col[i].len = self->col[i].n = 0;
    self->rows = 0;
    zhashx_purge (self->leads);
    zhashx_purge (self->stored);
    PQclear (self->found);
    self->found = NULL;
}

static void
s_batch_destroy (struct _routing_batch_t **self_p)
{
    struct _routing_batch_t *self = *self_p;
    if (!self)
        return;
    s_batch_reset (self);
    for (int i = 0; i < S_COLS; i++)
        free (self->col[i].text);
    zhashx_destroy (&self->leads);
    zhashx_destroy (&self->stored);
    free (self->evs);
    free (self->followers);
    free (self);
    *self_p = NULL;
}

static void
s_merge_key (char *out, size_t len, const char *building, const char *category)
{
    snprintf (out, len, "%s\x1f%s", building, category);
}

//  ---------------------------------------------------------------- events

typedef struct {
    const char *id, *name, *role, *unit, *unit_name; //  all NULL: the system
} actor_t;

typedef struct {
    const char *type; //  envelope type, e.g. "RequestAccepted"
    const char *kind; //  RequestUpdate.kind
    const char *note; //  Chinese, for the resident's timeline
    const char *outcome, *deadline, *media_url;
    int score, satisfied, escalation_level; //  satisfied -1 = n/a
    Gongzhi__V1__Assignee **co;             //  routed: co-handlers
    size_t nco;
} emit_t;

static const char *
s_str (const char *s)
{
    return s ? s : "";
}

//  Stage the event of one transition of q (already in its new state) at
//  now.
static void
s_stage_event (routing_core_t *core, const req_t *q, const emit_t *e, const actor_t *actor,
               int64_t now)
{
    Gongzhi__V1__RequestUpdate ev = GONGZHI__V1__REQUEST_UPDATE__INIT;
    Gongzhi__V1__Assignee as = GONGZHI__V1__ASSIGNEE__INIT, ac = GONGZHI__V1__ASSIGNEE__INIT;
    ev.request_id = q->id;
    ev.kind = (char *) e->kind;
    ev.state = q->state;
    ev.tier = (Gongzhi__V1__Tier) q->tier;
    as.staff_id = (char *) s_str (q->assignee_staff);
    as.staff_name = (char *) s_str (q->assignee_name);
    as.unit_code = (char *) s_str (q->assignee_unit);
    as.unit_name = (char *) s_str (q->assignee_unit_name);
    as.role = (char *) s_str (q->assignee_role);
    ev.assignee = &as;
    ev.co_handlers = e->co;
    ev.n_co_handlers = e->nco;
    ev.response_due_us = q->response_due_us;
    ev.resolve_due_us = q->resolve_due_us;
    if (actor && actor->role) {
        ac.staff_id = (char *) s_str (actor->id);
        ac.staff_name = (char *) s_str (actor->name);
        ac.unit_code = (char *) s_str (actor->unit);
        ac.unit_name = (char *) s_str (actor->unit_name);
        ac.role = (char *) actor->role;
        ev.actor = &ac;
    }
    ev.note = (char *) s_str (e->note);
    ev.score = e->score;
    ev.satisfied = e->satisfied == 1;
    ev.merged_into = (char *) s_str (q->merged_into);
    ev.escalation_level = e->escalation_level;
    ev.at_us = now;
    ev.service_code = q->service_code;
    ev.grid_code = (char *) s_str (q->grid_code);
    ev.community_code = (char *) s_str (q->community_code);
    ev.subdistrict_code = (char *) s_str (q->subdistrict_code);
    ev.deadline = (char *) s_str (e->deadline);
    ev.media_url = (char *) s_str (e->media_url);
    ev.outcome = (char *) s_str (e->outcome);
    char topic[256];
    snprintf (topic, sizeof topic, "%s/%s/%s", e->type,
              q->subdistrict_code ? q->subdistrict_code : "-",
              q->community_code ? q->community_code : "-");
    gz_bus_pub_stage_msg (core->pub, e->type, q->id, topic, &ev.base);
    s_count_kind (core, e->kind);
}

//  Append text to b as it is.
static void
s_buf_puts (s_array_t *b, const char *text)
{
    for (; *text; text++)
        s_array_put (b, *text);
}

//  Append ,"key": (no comma first) to the JSON object open in b.
static void
s_json_key (s_array_t *b, const char *key)
{
    if (b->len > 1)
        s_array_put (b, ',');
    s_array_put (b, '"');
    s_buf_puts (b, key);
    s_buf_puts (b, "\":");
}

//  Append value to b as a JSON string.
static void
s_json_str (s_array_t *b, const char *value)
{
    s_array_put (b, '"');
    for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
        if (*p == '"' || *p == '\\') {
            s_array_put (b, '\\');
            s_array_put (b, (char) *p);
        }
        else if (*p < 0x20) {
            char u[8];
            snprintf (u, sizeof u, "\\u%04x", *p);
            s_buf_puts (b, u);
        }
        else
            s_array_put (b, (char) *p);
    }
    s_array_put (b, '"');
}

static void
s_json_int (s_array_t *b, long value)
{
    char n[24];
    snprintf (n, sizeof n, "%ld", value);
    s_buf_puts (b, n);
}

//  The timeline row's detail (a JSON object) of one transition. Written
//  by hand: jansson's tree and dump were a fifth of routing's CPU per
//  routed request. Caller frees.
static char *
s_timeline_detail (const req_t *q, const emit_t *e)
{
    s_array_t b = {0};
    s_array_put (&b, '{');
    if (e->outcome) {
        s_json_key (&b, "outcome");
        s_json_str (&b, e->outcome);
    }
    if (e->deadline) {
        s_json_key (&b, "deadline");
        s_json_str (&b, e->deadline);
    }
    if (e->media_url) {
        s_json_key (&b, "media_url");
        s_json_str (&b, e->media_url);
    }
    if (e->score) {
        s_json_key (&b, "score");
        s_json_int (&b, e->score);
    }
    if (e->satisfied >= 0 && e->score) {
        s_json_key (&b, "satisfied");
        s_buf_puts (&b, e->satisfied == 1 ? "true" : "false");
    }
    if (e->escalation_level) {
        s_json_key (&b, "escalation_level");
        s_json_int (&b, e->escalation_level);
    }
    if (q->assignee_unit && *q->assignee_unit) {
        s_json_key (&b, "assignee");
        s_buf_puts (&b, "{\"staff_id\":");
        s_json_str (&b, s_str (q->assignee_staff));
        s_buf_puts (&b, ",\"name\":");
        s_json_str (&b, s_str (q->assignee_name));
        s_buf_puts (&b, ",\"unit_code\":");
        s_json_str (&b, s_str (q->assignee_unit));
        s_buf_puts (&b, ",\"unit_name\":");
        s_json_str (&b, s_str (q->assignee_unit_name));
        s_array_put (&b, '}');
    }
    s_array_put (&b, '}');
    return b.text;
}

//  Stage the event and write the timeline row for one transition of q
//  (already in its new state). 0 ok, -1 failure.
static int
s_emit (routing_core_t *core, const req_t *q, const emit_t *e, const actor_t *actor)
{
    int64_t now = routing_now (core);
    s_stage_event (core, q, e, actor, now);
    char *dj = s_timeline_detail (q, e);
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long) now);
    const char *v[9] = {q->id,
                        at,
                        e->kind,
                        q->state,
                        actor ? actor->id : NULL,
                        actor ? s_str (actor->name) : "",
                        actor && actor->role ? actor->role : "system",
                        s_str (e->note),
                        dj};
    int rc = s_run (core, "rt_timeline", 9, v);
    free (dj);
    return rc;
}

//  ---------------------------------------------------------------- timers

static int
s_timer_cancel (routing_core_t *core, const char *id, const char *kinds)
{
    const char *v[2] = {id, kinds};
    return s_run (core, "rt_timer_cancel", 2, v);
}

static int
s_timer_arm (routing_core_t *core, const char *id, const char *kind, int64_t at_us)
{
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long) at_us);
    const char *v[3] = {id, kind, at};
    return s_run (core, "rt_timer_arm", 3, v);
}

//  When the warning of a deadline ending at due_us that lasts length_s
//  fires.
static int64_t
s_warn_at (routing_core_t *core, int64_t due_us, int64_t length_s)
{
    double frac = core->rules ? routing_rules_warn_at (core->rules) : 0.8;
    //  Rounded: (1 - 0.8) * 10 h in doubles is a microsecond short of 2 h.
    int64_t length_us = length_s * 1000000;
    return due_us - length_us + (int64_t) llround (frac * (double) length_us);
}

//  (Re-)arm the warning and the due timer of one deadline ending at due_us
//  that lasts length_s. which is "response" or "resolve".
static int
s_arm_deadline (routing_core_t *core, const char *id, const char *which, int64_t due_us,
                int64_t length_s)
{
    char warn[32], due[32], kinds[80];
    snprintf (warn, sizeof warn, "%s_warn", which);
    snprintf (due, sizeof due, "%s_due", which);
    snprintf (kinds, sizeof kinds, "{%s,%s}", warn, due);
    int64_t warn_us = s_warn_at (core, due_us, length_s);
    if (s_timer_cancel (core, id, kinds) || s_timer_arm (core, id, warn, warn_us) ||
        s_timer_arm (core, id, due, due_us))
        return -1;
    return 0;
}

//  ---------------------------------------------------------------- assignment

typedef struct {
    const char *staff_id; //  NULL: the unit itself
    const char *name, *unit, *unit_name, *role;
} pick_t;

//  Open requests per staff id, for candidates cand[0..n-1] into load[]:
//  from the load cache, counting in PostgreSQL (one round trip) only the
//  candidates it has no fresh count of.
static int
s_loads (routing_core_t *core, const gz_staff_t **cand, size_t n, long *load)
{
    int64_t now = zclock_mono ();
    size_t len = 3, stale = 0;
    for (size_t i = 0; i < n; i++) {
        s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
        if (!l || now - l->counted_ms >= S_LOAD_TTL_MS) {
            len += strlen (cand[i]->id) + 1;
            stale++;
        }
    }
    if (stale) {
        char *arr = malloc (len);
        assert (arr);
        char *p = arr;
        *p++ = '{';
        for (size_t i = 0, k = 0; i < n; i++) {
            s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
            if (!l || now - l->counted_ms >= S_LOAD_TTL_MS)
                p += sprintf (p, "%s%s", k++ ? "," : "",
                              cand[i]->id); //  ids are [A-Za-z0-9._-]
        }
        *p++ = '}';
        *p = 0;
        const char *v[1] = {arr};
        PGresult *r = gz_db_exec (core->db, "rt_load_counts", 1, v);
        free (arr);
        if (!r)
            return -1;
        for (int row = 0; row < PQntuples (r); row++) {
            s_load_t *l = zhashx_lookup (core->loads, PQgetvalue (r, row, 0));
            if (!l) {
                l = calloc (1, sizeof *l);
                assert (l);
                zhashx_insert (core->loads, PQgetvalue (r, row, 0), l);
            }
            l->open = atol (PQgetvalue (r, row, 1));
            l->counted_ms = now;
        }
        PQclear (r);
    }
    for (size_t i = 0; i < n; i++) {
        s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
        load[i] = l ? l->open : 0;
    }
    return 0;
}

//  Least-loaded staff of unit with role. strict: on duty and under
//  max_open only; otherwise on duty preferred, then anyone. 1 found, 0
//  none, -1 failure.
static int
s_pick_staff (routing_core_t *core, const char *unit, const char *role, bool strict,
              const gz_staff_t **out)
{
    *out = NULL;
    if (!unit)
        return 0;
    const gz_staff_t *cand[32];
    size_t n = gz_org_unit_staff (core->org, unit, role, cand, 32);
    if (n > 32)
        n = 32;
    if (n == 0)
        return 0;
    long load[32] = {0};
    if (s_loads (core, cand, n, load))
        return -1;
    int best = -1, best_rank = 99;
    for (size_t i = 0; i < n; i++) {
        bool over = cand[i]->max_open >= 0 && load[i] >= cand[i]->max_open;
        int rank = cand[i]->on_duty && !over ? 0 : cand[i]->on_duty ? 1 : 2;
        if (strict && rank > 0)
            continue;
        if (best < 0 || rank < best_rank || (rank == best_rank && load[i] < load[best])) {
            best = (int) i;
            best_rank = rank;
        }
    }
    if (best < 0)
        return 0;
    *out = cand[best];
    return 1;
}

static void
s_pick_from_staff (routing_core_t *core, const gz_staff_t *s, pick_t *p)
{
    p->staff_id = s->id;
    p->name = s->name;
    p->unit = s->unit_code;
    p->unit_name = gz_org_unit_name (core->org, s->unit_code);
    p->role = s->role;
}

//  The department for rung 3: the rule's lead, else the first department
//  paired (结对) with the community.
static const char *
s_department (routing_core_t *core, const req_t *q)
{
    if (q->lead_code)
        return q->lead_code;
    const char *dept[1];
    if (q->community_code && gz_org_paired_departments (core->org, q->community_code, dept, 1))
        return dept[0];
    return NULL;
}

//  Someone at rung level (0 grid, 1 community, 2 sub-district, 3
//  department) for q. 1 found, 0 none, -1 failure.
static int
s_pick_level (routing_core_t *core, const req_t *q, int level, pick_t *p)
{
    const gz_staff_t *s = NULL;
    int rc = 0;
    memset (p, 0, sizeof *p);
    if (level == 0)
        rc = s_pick_staff (core, q->grid_code, "grid_worker", true, &s);
    else if (level == 1) {
        rc = s_pick_staff (core, q->community_code, "community_duty", true, &s);
        if (rc == 0)
            rc = s_pick_staff (core, q->community_code, "community_duty", false, &s);
    }
    else if (level == 2)
        rc = s_pick_staff (core, q->subdistrict_code, "subdistrict_coordinator", false, &s);
    else if (level == 3) {
        const char *dept = s_department (core, q);
        rc = s_pick_staff (core, dept, "department_contact", false, &s);
        if (rc == 0 && dept && gz_org_unit_level (core->org, dept)) {
            p->unit = dept;
            p->unit_name = gz_org_unit_name (core->org, dept);
            p->role = "department";
            return 1;
        }
    }
    if (rc == 1)
        s_pick_from_staff (core, s, p);
    return rc;
}

//  The dispatcher (派单员) for requests with no place in the ladder or
//  returned by their handler: the sub-district coordinator of the
//  request's sub-district, else the first sub-district coordinator of the
//  district. 1 found, 0 none, -1 failure.
static int
s_pick_dispatcher (routing_core_t *core, const req_t *q, pick_t *p)
{
    int rc = s_pick_level (core, q, 2, p);
    if (rc != 0)
        return rc;
    PGresult *r = gz_db_exec (core->db, "rt_dispatcher", 0, NULL);
    if (!r)
        return -1;
    const gz_staff_t *s =
        PQntuples (r) == 1 ? gz_org_staff (core->org, PQgetvalue (r, 0, 0)) : NULL;
    PQclear (r);
    if (!s)
        return 0;
    s_pick_from_staff (core, s, p);
    return 1;
}

//  Assign q at rung level or the first rung above it that has someone;
//  the dispatcher when the ladder has no one. Returns the rung, -1 when
//  nobody at all (q unchanged), -2 on failure.
static int
s_assign_from (routing_core_t *core, req_t *q, int level)
{
    pick_t p;
    int rc = 0, at = level;
    for (; at <= 3 && rc == 0; at++)
        if ((rc = s_pick_level (core, q, at, &p)) < 0)
            return -2;
    at--;
    if (rc == 0) {
        if ((rc = s_pick_dispatcher (core, q, &p)) < 0)
            return -2;
        at = 2;
    }
    if (rc == 0)
        return -1;
    s_set (&q->assignee_staff, p.staff_id);
    s_set (&q->assignee_name, p.name ? p.name : p.unit_name);
    s_set (&q->assignee_unit, p.unit);
    s_set (&q->assignee_unit_name, p.unit_name);
    s_set (&q->assignee_role, p.role);
    q->level = at;
    return at;
}

static void
s_assignee_note (const req_t *q, const char *prefix, const char *suffix, char *out, size_t len)
{
    snprintf (out, len, "%s%s（%s）%s", prefix, s_str (q->assignee_name),
              s_str (q->assignee_unit_name), suffix ? suffix : "");
}

//  ---------------------------------------------------------------- routing

static const char *
s_tier_label (int tier)
{
    return tier == 3 ? "疑难事项" : tier == 2 ? "上级事项" : "本级事项";
}

//  Fallback when the rules do not cover a category (they should).
static const routing_rule_t s_fallback_rule = {
    0, "*", NULL, "*", ROUTING_TIER_LOCAL, ROUTING_LEAD_GRID, NULL, NULL, 2 * 3600, 72 * 3600};

//  Co-handling departments of a hard request: the event's entries, and
//  the rows' columns as array literals for rt_route (units, unit names,
//  staff ids, staff names; staff "" = none).
static int
s_co_handlers (routing_core_t *core, const routing_rule_t *rule, Gongzhi__V1__Assignee *co,
               Gongzhi__V1__Assignee **cop, size_t max, size_t *n, s_arrays_t *rows)
{
    *n = 0;
    for (size_t i = 0; rule->co_handlers && rule->co_handlers[i] && *n < max; i++) {
        const char *dept = rule->co_handlers[i];
        const gz_staff_t *s = NULL;
        if (s_pick_staff (core, dept, "department_contact", false, &s) < 0)
            return -1;
        const char *uname = gz_org_unit_name (core->org, dept);
        s_array_add (&rows->a[0], dept);
        s_array_add (&rows->a[1], s_str (uname));
        s_array_add (&rows->a[2], s ? s->id : "");
        s_array_add (&rows->a[3], s ? s->name : "");
        gongzhi__v1__assignee__init (&co[*n]);
        co[*n].staff_id = (char *) (s ? s->id : "");
        co[*n].staff_name = (char *) (s ? s->name : "");
        co[*n].unit_code = (char *) dept;
        co[*n].unit_name = (char *) s_str (uname);
        co[*n].role = (char *) (s ? s->role : "department");
        cop[*n] = &co[*n];
        (*n)++;
    }
    return 0;
}

//  The request's own columns (0 .. S_COL_FOLLOWERS-1), shared by the
//  single-row rt_route and the batch rt_route_batch; t holds the text the
//  numbers are written into, so v is valid as long as t is.
typedef struct {
    char sub[24], nowt[24], tier[8], line[16], level[8], rs[24], ss[24], rdue[24], sdue[24];
} s_row_text_t;

static void
s_request_values (const Gongzhi__V1__RequestSubmitted *ev, const req_t *q, int rule_line,
                  int64_t now, s_row_text_t *t, const char *v[S_COL_FOLLOWERS])
{
    snprintf (t->sub, sizeof t->sub, "%lld",
              (long long) (ev->submitted_at_us ? ev->submitted_at_us : now));
    snprintf (t->nowt, sizeof t->nowt, "%lld", (long long) now);
    snprintf (t->tier, sizeof t->tier, "%d", q->tier);
    snprintf (t->line, sizeof t->line, "%d", rule_line);
    snprintf (t->level, sizeof t->level, "%d", q->level);
    snprintf (t->rs, sizeof t->rs, "%lld", (long long) q->response_s);
    snprintf (t->ss, sizeof t->ss, "%lld", (long long) q->resolve_s);
    snprintf (t->rdue, sizeof t->rdue, "%lld", (long long) q->response_due_us);
    snprintf (t->sdue, sizeof t->sdue, "%lld", (long long) q->resolve_due_us);
    const char *channel = "";
    const ProtobufCEnumValue *cv =
        protobuf_c_enum_descriptor_get_value (&gongzhi__v1__channel__descriptor, ev->channel);
    if (cv)
        channel = cv->name;
    const char *values[S_COL_FOLLOWERS] = {q->id,
                                           q->service_code,
                                           s_str (ev->description),
                                           channel,
                                           q->building_code,
                                           q->grid_code,
                                           q->community_code,
                                           q->subdistrict_code,
                                           ev->meeting_id && *ev->meeting_id ? ev->meeting_id
                                                                             : NULL,
                                           ev->media_url && *ev->media_url ? ev->media_url : NULL,
                                           s_str (ev->resident_token_sha256),
                                           t->sub,
                                           t->nowt,
                                           q->state,
                                           t->tier,
                                           t->line,
                                           q->lead_code,
                                           t->level,
                                           q->assignee_staff,
                                           s_str (q->assignee_name),
                                           s_str (q->assignee_unit),
                                           s_str (q->assignee_unit_name),
                                           s_str (q->assignee_role),
                                           q->merged_into,
                                           t->rs,
                                           t->ss,
                                           t->rdue,
                                           t->sdue};
    memcpy (v, values, sizeof values);
}

//  Write a routed or merged request q with everything that goes with it
//  (rt_route): its row, the lead's follower count (merged), its timers
//  and co-handlers (routed), its timeline row for the transition e. Sets
//  *inserted false when the request was there already (a replay).
static int
s_insert (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev, const req_t *q,
          int rule_line, int64_t now, const emit_t *e, const s_arrays_t *arrays, bool *inserted)
{
    s_row_text_t t;
    const char *v[37];
    s_request_values (ev, q, rule_line, now, &t, v);
    char *detail = s_timeline_detail (q, e);
    const char *rest[37 - S_COL_FOLLOWERS] = {s_array_text (&arrays->a[4]),
                                              s_array_text (&arrays->a[5]),
                                              s_array_text (&arrays->a[0]),
                                              s_array_text (&arrays->a[1]),
                                              s_array_text (&arrays->a[2]),
                                              s_array_text (&arrays->a[3]),
                                              e->kind,
                                              s_str (e->note),
                                              detail};
    memcpy (v + S_COL_FOLLOWERS, rest, sizeof rest);
    PGresult *r = gz_db_exec (core->db, "rt_route", 37, v);
    free (detail);
    if (!r)
        return -1;
    *inserted = PQntuples (r) == 1 && strcmp (PQgetvalue (r, 0, 0), "1") == 0;
    PQclear (r);
    return 0;
}

//  What s_insert writes, as one row more of batch b (rt_route_batch).
static void
s_batch_row (struct _routing_batch_t *b, const Gongzhi__V1__RequestSubmitted *ev, const req_t *q,
             int rule_line, int64_t now, const emit_t *e, const s_arrays_t *arrays)
{
    s_row_text_t t;
    const char *v[S_COL_FOLLOWERS];
    s_request_values (ev, q, rule_line, now, &t, v);
    char *detail = s_timeline_detail (q, e);
    for (int i = 0; i < S_COL_FOLLOWERS; i++)
        s_array_add_or_null (&b->col[i], v[i]);
    if (b->rows == b->rows_cap) {
        b->rows_cap = b->rows_cap ? b->rows_cap * 2 : 64;
        b->followers = realloc (b->followers, b->rows_cap * sizeof *b->followers);
        assert (b->followers);
    }
    b->followers[b->rows++] = 0;
    for (size_t i = 0; i < arrays->a[4].n; i++)
        s_array_add (&b->col[S_COL_TIMERS], q->id);
    s_array_cat (&b->col[S_COL_TIMERS + 1], &arrays->a[4]);
    s_array_cat (&b->col[S_COL_TIMERS + 2], &arrays->a[5]);
    for (size_t i = 0; i < arrays->a[0].n; i++)
        s_array_add (&b->col[S_COL_CO], q->id);
    for (int i = 0; i < 4; i++)
        s_array_cat (&b->col[S_COL_CO + 1 + i], &arrays->a[i]);
    const char *tl[6] = {q->id, t.nowt, e->kind, q->state, s_str (e->note), detail};
    for (int i = 0; i < 6; i++)
        s_array_add (&b->col[S_COL_TL + i], tl[i]);
    free (detail);
}

//  Write q: at once (s_insert), or as a row of batch b (then it counts
//  as inserted; a conflict fails the batch in routing_on_flush).
static int
s_write (routing_core_t *core, struct _routing_batch_t *b, const Gongzhi__V1__RequestSubmitted *ev,
         const req_t *q, int rule_line, int64_t now, const emit_t *e, const s_arrays_t *arrays,
         bool *inserted)
{
    if (!b)
        return s_insert (core, ev, q, rule_line, now, e, arrays, inserted);
    s_batch_row (b, ev, q, rule_line, now, e, arrays);
    *inserted = true;
    return 0;
}

static char *
s_cell (PGresult *r, int row, int col)
{
    return PQgetisnull (r, row, col) ? NULL : strdup (PQgetvalue (r, row, col));
}

//  q follows the lead in r's row from column col on (rt_merge_lead's
//  columns).
static void
s_follow_row (req_t *q, PGresult *r, int row, int col)
{
    q->merged_into = s_cell (r, row, col);
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

//  The copy of routed q that later requests of batch b merge into.
static void
s_lead_keep (struct _routing_batch_t *b, const req_t *q)
{
    char key[512];
    s_merge_key (key, sizeof key, q->building_code, q->service_code);
    s_lead_t *l = calloc (1, sizeof *l);
    assert (l);
    l->row = b->rows - 1;
    l->q.id = strdup (q->id);
    l->q.tier = q->tier;
    l->q.level = q->level;
    l->q.lead_code = s_dup_or_null (q->lead_code);
    l->q.assignee_staff = s_dup_or_null (q->assignee_staff);
    l->q.assignee_name = s_dup_or_null (q->assignee_name);
    l->q.assignee_unit = s_dup_or_null (q->assignee_unit);
    l->q.assignee_unit_name = s_dup_or_null (q->assignee_unit_name);
    l->q.assignee_role = s_dup_or_null (q->assignee_role);
    l->q.response_s = q->response_s;
    l->q.resolve_s = q->resolve_s;
    l->q.response_due_us = q->response_due_us;
    l->q.resolve_due_us = q->resolve_due_us;
    if (zhashx_insert (b->leads, key, l))
        s_lead_free ((void **) &l); //  the first stays the lead
}

//  The open duplicate q merges into, copied into q (rt_merge_lead: one
//  round trip; in a batch, from memory). 1 found, 0 none, -1 failure.
static int
s_merge_lead (routing_core_t *core, struct _routing_batch_t *b, req_t *q, int64_t now)
{
    if (b) {
        char key[512];
        s_merge_key (key, sizeof key, q->building_code, q->service_code);
        s_lead_t *l = zhashx_lookup (b->leads, key);
        if (l) {
            q->merged_into = strdup (l->q.id);
            q->tier = l->q.tier;
            q->level = l->q.level;
            q->lead_code = s_dup_or_null (l->q.lead_code);
            q->assignee_staff = s_dup_or_null (l->q.assignee_staff);
            q->assignee_name = s_dup_or_null (l->q.assignee_name);
            q->assignee_unit = s_dup_or_null (l->q.assignee_unit);
            q->assignee_unit_name = s_dup_or_null (l->q.assignee_unit_name);
            q->assignee_role = s_dup_or_null (l->q.assignee_role);
            q->response_s = l->q.response_s;
            q->resolve_s = l->q.resolve_s;
            q->response_due_us = l->q.response_due_us;
            q->resolve_due_us = l->q.resolve_due_us;
            b->followers[l->row]++;
            return 1;
        }
        uintptr_t at = (uintptr_t) zhashx_lookup (b->stored, key);
        if (!at)
            return 0;
        s_follow_row (q, b->found, (int) (at - 1), 2);
        s_array_add (&b->col[S_COL_FOL_IDS], q->merged_into);
        return 1;
    }
    char since[24];
    snprintf (since, sizeof since, "%lld",
              (long long) (now - routing_rules_merge_window_s (core->rules) * 1000000));
    const char *v[3] = {q->building_code, q->service_code, since};
    PGresult *r = gz_db_exec (core->db, "rt_merge_lead", 3, v);
    if (!r)
        return -1;
    int found = PQntuples (r) == 1;
    if (found)
        s_follow_row (q, r, 0, 0);
    PQclear (r);
    return found;
}

//  Route one submitted request inside the consumer's transaction at now:
//  one round trip to look for an open duplicate, one to write (rt_route);
//  the candidates' loads come from the load cache. A replayed event
//  (routed already) conflicts in rt_route and changes nothing: once only.
//  With a batch b, the lead comes from b and the rows go into b.
static int
s_route (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev, struct _routing_batch_t *b,
         int64_t now)
{
    req_t q = {0};
    q.id = strdup (ev->request_id);
    q.service_code = strdup (s_str (ev->service_code));
    q.building_code = s_dup_or_null (ev->building_code);
    q.grid_code = s_dup_or_null (ev->grid_code);
    q.community_code = s_dup_or_null (ev->community_code);
    q.subdistrict_code = s_dup_or_null (ev->subdistrict_code);
    q.responded_at_us = q.resolved_at_us = q.closed_at_us = -1;
    q.satisfied = -1;
    int rc = -1;
    bool inserted = false;
    char note[512];
    emit_t e = {0};
    e.satisfied = -1;
    s_arrays_t arrays;
    memset (&arrays, 0, sizeof arrays);

    //  Merge into an open duplicate: same building and category, recent.
    if (q.building_code && core->rules) {
        int found = s_merge_lead (core, b, &q, now);
        if (found < 0)
            goto done;
        if (found) {
            q.state = strdup ("merged");
            snprintf (note, sizeof note,
                      "同一楼栋已有相同问题正在办理（诉求 "
                      "%s），您的诉求已合并，将一并处理并告知您结果",
                      q.merged_into);
            e.type = "RequestMerged";
            e.kind = "merged";
            e.note = note;
            if (s_write (core, b, ev, &q, 0, now, &e, &arrays, &inserted))
                goto done;
            if (inserted) {
                s_stage_event (core, &q, &e, NULL, now);
                core->pending_merged++;
            }
            rc = 0;
            goto done;
        }
    }

    const routing_rule_t *rule =
        core->rules ? routing_rules_match (core->rules, q.service_code, s_str (ev->description),
                                           q.subdistrict_code, q.community_code)
                    : NULL;
    if (!rule) {
        gz_warn (SVC, "msg=\"no rule matches; using the fallback\" request=%s category=%s", q.id,
                 q.service_code);
        rule = &s_fallback_rule;
    }
    q.tier = (int) rule->tier;
    q.lead_code =
        rule->lead == ROUTING_LEAD_DEPARTMENT && rule->lead_code ? strdup (rule->lead_code) : NULL;
    int level = rule->lead == ROUTING_LEAD_GRID          ? 0
                : rule->lead == ROUTING_LEAD_COMMUNITY   ? 1
                : rule->lead == ROUTING_LEAD_SUBDISTRICT ? 2
                                                         : 3;
    int at = s_assign_from (core, &q, level);
    if (at == -2)
        goto done;
    if (at == -1) {
        gz_warn (SVC, "msg=\"nobody to assign; left with no assignee\" request=%s", q.id);
        q.level = level;
    }
    q.state = strdup ("assigned");
    q.response_s = rule->respond_s;
    q.resolve_s = rule->resolve_s;
    q.response_due_us = now + rule->respond_s * 1000000;
    q.resolve_due_us = now + rule->resolve_s * 1000000;
    Gongzhi__V1__Assignee co[16];
    Gongzhi__V1__Assignee *cop[16];
    size_t nco = 0;
    if (rule->tier == ROUTING_TIER_HARD && s_co_handlers (core, rule, co, cop, 16, &nco, &arrays))
        goto done;
    //  The first generation of both deadlines' timers (a new request has
    //  none to cancel): as s_arm_deadline would arm them.
    static const char *const kinds[4] = {"response_warn", "response_due", "resolve_warn",
                                         "resolve_due"};
    int64_t fire[4] = {s_warn_at (core, q.response_due_us, q.response_s), q.response_due_us,
                       s_warn_at (core, q.resolve_due_us, q.resolve_s), q.resolve_due_us};
    for (int i = 0; i < 4; i++) {
        char at_us[24];
        snprintf (at_us, sizeof at_us, "%lld", (long long) fire[i]);
        s_array_add (&arrays.a[4], kinds[i]);
        s_array_add (&arrays.a[5], at_us);
    }
    char prefix[64];
    snprintf (prefix, sizeof prefix, "%s，已派单给", s_tier_label (q.tier));
    if (at >= 0)
        s_assignee_note (&q, prefix, nco ? "牵头办理，相关部门协同" : "办理", note, sizeof note);
    else
        snprintf (note, sizeof note, "%s，等待派单", s_tier_label (q.tier));
    e.type = "RequestRouted";
    e.kind = "routed";
    e.note = note;
    e.co = cop;
    e.nco = nco;
    if (s_write (core, b, ev, &q, rule->line, now, &e, &arrays, &inserted))
        goto done;
    if (b && q.building_code && core->rules)
        s_lead_keep (b, &q);
    if (inserted) {
        s_load_move (core, q.assignee_staff, 1);
        s_stage_event (core, &q, &e, NULL, now);
        core->pending_routed[q.tier]++;
    }
    rc = 0;
done:
    for (int i = 0; i < 6; i++)
        free (arrays.a[i].text);
    s_req_clear (&q);
    return rc;
}

int
routing_on_event (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    routing_core_t *core = arg;
    assert (db == core->db);
    if (!env->type || strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *ev =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev || !ev->request_id || !*ev->request_id || !ev->service_code) {
        gz_metrics_add (core->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        if (ev)
            gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
        return 0;
    }
    if (core->batched && !core->direct) {
        struct _routing_batch_t *b = core->batch;
        if (b->nevs == b->evs_cap) {
            b->evs_cap = b->evs_cap ? b->evs_cap * 2 : 64;
            b->evs = realloc (b->evs, b->evs_cap * sizeof *b->evs);
            assert (b->evs);
        }
        b->evs[b->nevs++] = ev; //  routed by routing_on_flush
        return 0;
    }
    int rc = s_route (core, ev, NULL, routing_now (core));
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    return rc;
}

//  The leads stored already of every (building, category) pair of batch
//  b, locked (rt_merge_leads), into b->found and b->stored. 0 ok, -1
//  failure.
static int
s_batch_leads (routing_core_t *core, struct _routing_batch_t *b, int64_t now)
{
    s_array_t bs = {0}, cs = {0};
    for (size_t i = 0; i < b->nevs; i++)
        if (b->evs[i]->building_code && *b->evs[i]->building_code) {
            s_array_add (&bs, b->evs[i]->building_code);
            s_array_add (&cs, b->evs[i]->service_code);
        }
    int rc = 0;
    if (bs.n) {
        char since[24];
        snprintf (since, sizeof since, "%lld",
                  (long long) (now - routing_rules_merge_window_s (core->rules) * 1000000));
        const char *v[3] = {s_array_text (&bs), s_array_text (&cs), since};
        b->found = gz_db_exec (core->db, "rt_merge_leads", 3, v);
        if (!b->found)
            rc = -1;
        for (int row = 0; rc == 0 && row < PQntuples (b->found); row++) {
            char key[512];
            s_merge_key (key, sizeof key, PQgetvalue (b->found, row, 0),
                         PQgetvalue (b->found, row, 1));
            zhashx_insert (b->stored, key, (void *) (uintptr_t) (row + 1));
        }
    }
    free (bs.text);
    free (cs.text);
    return rc;
}

int
routing_on_flush (gz_db_t *db, void *arg)
{
    routing_core_t *core = arg;
    assert (db == core->db);
    struct _routing_batch_t *b = core->batch;
    //  A batch routed one by one is done: batch the next one again.
    core->direct = false;
    if (b->nevs == 0)
        return 0;
    int64_t now = routing_now (core);
    int rc = -1;
    if (core->rules && s_batch_leads (core, b, now))
        goto done;
    for (size_t i = 0; i < b->nevs; i++)
        if (s_route (core, b->evs[i], b, now))
            goto done;
    for (size_t i = 0; i < b->rows; i++) {
        char n[16];
        snprintf (n, sizeof n, "%d", b->followers[i]);
        s_array_add (&b->col[S_COL_FOLLOWERS], n);
    }
    const char *v[S_COLS];
    for (int i = 0; i < S_COLS; i++)
        v[i] = s_array_text (&b->col[i]);
    PGresult *r = gz_db_exec (core->db, "rt_route_batch", S_COLS, v);
    if (!r)
        goto done;
    long long inserted = PQntuples (r) == 1 ? atoll (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    if (inserted != (long long) b->rows) {
        gz_warn (SVC,
                 "msg=\"a request of the batch exists already; routing it one by one\" "
                 "requests=%zu inserted=%lld",
                 b->rows, inserted);
        core->direct = true;
        goto done;
    }
    rc = 0;
done:
    s_batch_reset (b);
    return rc;
}

//  ---------------------------------------------------------------- commands

routing_cmd_t *
routing_cmd_new (void)
{
    routing_cmd_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
routing_cmd_destroy (routing_cmd_t **self_p)
{
    routing_cmd_t *self = *self_p;
    if (!self)
        return;
    free (self->request_id);
    free (self->action);
    free (self->token);
    free (self->resident_token);
    free (self->outcome);
    free (self->text);
    free (self->media_url);
    free (self->to_unit);
    free (self->to_staff);
    zframe_destroy (&self->reply_to);
    free (self);
    *self_p = NULL;
}

//  Set the command's outcome. Returns 1 (a refusal: the caller rolls back).
static int s_fail (routing_cmd_t *cmd, int status, const char *error, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (routing_cmd_t *cmd, int status, const char *error, const char *fmt, ...)
{
    cmd->status = status;
    snprintf (cmd->error, sizeof cmd->error, "%s", error);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd->message, sizeof cmd->message, fmt, ap);
    va_end (ap);
    return 1;
}

static bool
s_in (const char *state, const char *const *set)
{
    for (; *set; set++)
        if (strcmp (state, *set) == 0)
            return true;
    return false;
}

static int
s_conflict (routing_cmd_t *cmd, const req_t *q)
{
    snprintf (cmd->state, sizeof cmd->state, "%s", q->state);
    return s_fail (cmd, 409, "conflict", "cannot %s a request in state %s", cmd->action, q->state);
}

static bool
s_nonempty (const char *s)
{
    return s && *s;
}

typedef struct {
    bool known;    //  a valid token
    bool operator; //  may act for any unit
    const gz_staff_t *staff;
    char label[128];
} principal_t;

//  0 ok (principal filled; known false when no token), -1 failure.
static int
s_principal (routing_core_t *core, const char *token, principal_t *p)
{
    memset (p, 0, sizeof *p);
    if (!s_nonempty (token))
        return 0;
    gz_caller_t who;
    int rc = gz_auth_caller (core->db, token, &who);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        snprintf (p->label, sizeof p->label, "%s", who.label);
        if (strcmp (who.role, "operator") == 0)
            p->known = p->operator= true;
        else if (*who.staff_id) {
            p->staff = gz_org_staff (core->org, who.staff_id);
            p->known = p->staff != NULL;
        }
    }
    return 0;
}

static void
s_actor_of (routing_core_t *core, const principal_t *p, bool resident, actor_t *a)
{
    memset (a, 0, sizeof *a);
    if (p->staff) {
        a->id = p->staff->id;
        a->name = p->staff->name;
        a->role = p->staff->role;
        a->unit = p->staff->unit_code;
        a->unit_name = gz_org_unit_name (core->org, p->staff->unit_code);
    }
    else if (p->operator) {
        a->name = *p->label ? p->label : "operator";
        a->role = "operator";
    }
    else if (resident) {
        a->name = "居民";
        a->role = "resident";
    }
}

static int
s_is_co_handler (routing_core_t *core, const char *id, const char *unit, bool *yes)
{
    const char *v[2] = {id, unit};
    PGresult *r = gz_db_exec (core->db, "rt_co_is", 2, v);
    if (!r)
        return -1;
    *yes = PQntuples (r) > 0;
    PQclear (r);
    return 0;
}

static const char *const s_working[] = {"assigned", "accepted", "verified", "in_progress", NULL};

//  Climb one rung. 0 done, 1 at the top already, -1 failure. Fills e.
static int
s_climb (routing_core_t *core, req_t *q, char *note, size_t len, const char *why)
{
    if (q->level >= 3)
        return 1;
    char *old_staff = q->assignee_staff ? strdup (q->assignee_staff) : NULL;
    int at = s_assign_from (core, q, q->level + 1);
    free (old_staff);
    if (at == -2)
        return -1;
    if (at == -1)
        return 1;
    if (strcmp (q->state, "accepted") == 0)
        s_set (&q->state, "assigned");
    s_assignee_note (q, why, "督办", note, len);
    gz_metrics_add (core->metrics, "gz_routing_escalations_total", NULL, 1);
    return 0;
}

//  The transition itself, inside the open transaction. 0 applied (commit),
//  1 refused (cmd result set; roll back), -1 failure.
static int
s_apply (routing_core_t *core, routing_cmd_t *cmd)
{
    const char *a = cmd->action;
    bool resident_action = strcmp (a, "rate") == 0 || strcmp (a, "reopen") == 0;
    principal_t p;
    if (s_principal (core, cmd->token, &p))
        return -1;
    if (s_nonempty (cmd->token) && !p.known)
        return s_fail (cmd, 401, "unauthorized", "unknown or revoked token");
    if (!resident_action && !p.known)
        return s_fail (cmd, 401, "unauthorized", "a staff bearer token is required");
    req_t q;
    int found = s_req_load (core, cmd->request_id, cmd->resident_token, &q);
    if (found < 0)
        return -1;
    if (found == 0)
        return s_fail (cmd, 404, "not_found", "no request %s", cmd->request_id);
    int rc = 1;
    char note[1024] = "";
    emit_t e = {0};
    e.satisfied = -1;
    actor_t actor;
    int64_t now = routing_now (core);

    //  Authorisation.
    if (resident_action) {
        if (!q.resident_ok && !p.operator) {
            if (p.known)
                rc = s_fail (cmd, 403, "forbidden",
                             "only the resident (status-link secret) or an operator may %s", a);
            else
                rc = s_fail (cmd, 401, "unauthorized",
                             "the secret from the status link is required");
            goto done;
        }
    }
    else if (!p.operator) {
        bool mine = (q.assignee_staff && strcmp (q.assignee_staff, p.staff->id) == 0) ||
                    (q.assignee_unit && strcmp (q.assignee_unit, p.staff->unit_code) == 0);
        bool co = false;
        if (!mine && strcmp (a, "note") == 0) {
            if (s_is_co_handler (core, q.id, p.staff->unit_code, &co)) {
                rc = -1;
                goto done;
            }
        }
        if (!mine && !co) {
            rc = s_fail (cmd, 403, "forbidden", "request %s is not assigned to you or your unit",
                         q.id);
            goto done;
        }
    }
    s_actor_of (core, &p, resident_action && q.resident_ok, &actor);
    if (resident_action && q.resident_ok && !p.operator)
        s_actor_of (core, &(principal_t){0}, true, &actor);

    if (strcmp (a, "accept") == 0) {
        if (strcmp (q.state, "assigned") != 0) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        s_set (&q.state, "accepted");
        if (p.staff && (!q.assignee_staff || strcmp (q.assignee_staff, p.staff->id) != 0)) {
            //  A colleague of the unit signs for it: it becomes theirs.
            s_set (&q.assignee_staff, p.staff->id);
            s_set (&q.assignee_name, p.staff->name);
            s_set (&q.assignee_role, p.staff->role);
        }
        snprintf (note, sizeof note, "%s 已签收", s_str (q.assignee_name));
        e.type = "RequestAccepted";
        e.kind = "accepted";
    }
    else if (strcmp (a, "verify") == 0) {
        if (strcmp (q.state, "accepted") != 0) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        e.outcome = cmd->outcome;
        if (strcmp (cmd->outcome, "reached") == 0) {
            s_set (&q.state, "verified");
            if (q.responded_at_us < 0)
                q.responded_at_us = now;
            if (s_timer_cancel (core, q.id, "{response_warn,response_due}")) {
                rc = -1;
                goto done;
            }
            snprintf (note, sizeof note, "工作人员已电话联系您，核实了情况");
            e.type = "RequestVerified";
            e.kind = "verified";
        }
        else if (strcmp (cmd->outcome, "not_reached") == 0) {
            snprintf (note, sizeof note, "工作人员致电未能联系上您，将再次联系");
            e.type = "RequestVerified";
            e.kind = "not_reached";
        }
        else {
            s_set (&q.state, "rejected");
            q.closed_at_us = now;
            if (s_timer_cancel (core, q.id,
                                "{response_warn,response_due,resolve_warn,resolve_due,close}")) {
                rc = -1;
                goto done;
            }
            snprintf (note, sizeof note, "经核实为无效诉求，已关闭%s%s",
                      s_nonempty (cmd->text) ? "：" : "", s_str (cmd->text));
            e.type = "RequestRejected";
            e.kind = "rejected";
        }
    }
    else if (strcmp (a, "start") == 0) {
        if (strcmp (q.state, "verified") != 0) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        s_set (&q.state, "in_progress");
        snprintf (note, sizeof note, "工作人员已上门处置%s%s", s_nonempty (cmd->text) ? "：" : "",
                  s_str (cmd->text));
        e.type = "RequestStarted";
        e.kind = "started";
    }
    else if (strcmp (a, "note") == 0) {
        static const char *const ok[] = {"assigned", "accepted", "verified", "in_progress",
                                         "resolved", "rated",    NULL};
        if (!s_in (q.state, ok)) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        bool co = false;
        if (p.staff && s_is_co_handler (core, q.id, p.staff->unit_code, &co)) {
            rc = -1;
            goto done;
        }
        if (co) {
            const char *v[2] = {q.id, p.staff->unit_code};
            if (s_run (core, "rt_co_report", 2, v)) {
                rc = -1;
                goto done;
            }
        }
        snprintf (note, sizeof note, "%s", s_str (cmd->text));
        e.media_url = s_nonempty (cmd->media_url) ? cmd->media_url : NULL;
        e.type = "NoteAdded";
        e.kind = "note";
    }
    else if (strcmp (a, "resolve") == 0) {
        if (strcmp (q.state, "in_progress") != 0) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        s_set (&q.state, "resolved");
        q.resolved_at_us = now;
        int64_t window = core->rules ? routing_rules_reopen_window_s (core->rules) : 7 * 86400;
        if (s_timer_cancel (core, q.id, "{response_warn,response_due,resolve_warn,resolve_due}") ||
            s_timer_arm (core, q.id, "close", now + window * 1000000)) {
            rc = -1;
            goto done;
        }
        snprintf (note, sizeof note, "已办结：%s", cmd->text);
        e.type = "RequestResolved";
        e.kind = "resolved";
    }
    else if (strcmp (a, "rate") == 0) {
        if (strcmp (q.state, "resolved") != 0) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        s_set (&q.state, "rated");
        q.score = cmd->score;
        q.satisfied = cmd->satisfied;
        s_set (&q.comment, s_nonempty (cmd->text) ? cmd->text : NULL);
        snprintf (note, sizeof note, "评价：%d 星，%s%s%s", cmd->score,
                  cmd->satisfied ? "满意" : "不满意", s_nonempty (cmd->text) ? "。" : "",
                  s_str (cmd->text));
        e.type = "RequestRated";
        e.kind = "rated";
        e.score = cmd->score;
        e.satisfied = cmd->satisfied;
        if (cmd->satisfied) {
            if (s_emit (core, &q, &e, &actor)) {
                rc = -1;
                goto done;
            }
            //  Satisfied: the loop closes now.
            s_set (&q.state, "closed");
            q.closed_at_us = now;
            if (s_timer_cancel (core, q.id, "{close}")) {
                rc = -1;
                goto done;
            }
            memset (&e, 0, sizeof e);
            e.satisfied = -1;
            e.type = "RequestClosed";
            e.kind = "closed";
            snprintf (note, sizeof note, "诉求已办结并关闭，感谢您的评价");
        }
    }
    else if (strcmp (a, "reopen") == 0) {
        static const char *const ok[] = {"resolved", "rated", NULL};
        if (!s_in (q.state, ok)) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        int64_t window = core->rules ? routing_rules_reopen_window_s (core->rules) : 7 * 86400;
        if (q.resolved_at_us >= 0 && now > q.resolved_at_us + window * 1000000) {
            rc = s_fail (cmd, 422, "unprocessable",
                         "the reopen window (%lld days) after the resolution has passed",
                         (long long) (window / 86400));
            goto done;
        }
        s_set (&q.state, "accepted");
        q.reopen_count++;
        q.resolved_at_us = -1;
        q.score = 0;
        q.satisfied = -1;
        s_set (&q.comment, NULL);
        q.resolve_due_us = now + q.resolve_s * 1000000;
        if (s_timer_cancel (core, q.id, "{close}") ||
            s_arm_deadline (core, q.id, "resolve", q.resolve_due_us, q.resolve_s)) {
            rc = -1;
            goto done;
        }
        snprintf (note, sizeof note, "居民不满意，诉求已重新交由%s（%s）办理%s%s",
                  s_str (q.assignee_name), s_str (q.assignee_unit_name),
                  s_nonempty (cmd->text) ? "：" : "", s_str (cmd->text));
        e.type = "RequestReopened";
        e.kind = "reopened";
    }
    else if (strcmp (a, "transfer") == 0) {
        if (!s_in (q.state, s_working)) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        const char *level = gz_org_unit_level (core->org, cmd->to_unit);
        if (!level) {
            rc = s_fail (cmd, 422, "unprocessable", "unknown unit %s", cmd->to_unit);
            goto done;
        }
        const gz_staff_t *s = NULL;
        if (s_nonempty (cmd->to_staff)) {
            s = gz_org_staff (core->org, cmd->to_staff);
            if (!s || strcmp (s->unit_code, cmd->to_unit) != 0) {
                rc = s_fail (cmd, 422, "unprocessable", "staff %s does not serve unit %s",
                             cmd->to_staff, cmd->to_unit);
                goto done;
            }
        }
        else if (s_pick_staff (core, cmd->to_unit, NULL, false, &s) < 0) {
            rc = -1;
            goto done;
        }
        s_set (&q.assignee_staff, s ? s->id : NULL);
        s_set (&q.assignee_name, s ? s->name : gz_org_unit_name (core->org, cmd->to_unit));
        s_set (&q.assignee_unit, cmd->to_unit);
        s_set (&q.assignee_unit_name, gz_org_unit_name (core->org, cmd->to_unit));
        s_set (&q.assignee_role, s ? s->role : level);
        q.level = strcmp (level, "grid") == 0          ? 0
                  : strcmp (level, "community") == 0   ? 1
                  : strcmp (level, "subdistrict") == 0 ? 2
                                                       : 3;
        s_set (&q.state, "assigned");
        char suffix[600];
        snprintf (suffix, sizeof suffix, "办理。原因：%s", cmd->text);
        s_assignee_note (&q, "已转派给", suffix, note, sizeof note);
        e.type = "RequestTransferred";
        e.kind = "transferred";
    }
    else if (strcmp (a, "escalate") == 0) {
        if (!s_in (q.state, s_working)) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        int c = s_climb (core, &q, note, sizeof note, "已上报至");
        if (c < 0) {
            rc = -1;
            goto done;
        }
        if (c == 1) {
            rc = s_fail (cmd, 422, "unprocessable", "request %s is at the top of the ladder", q.id);
            goto done;
        }
        if (s_nonempty (cmd->text)) {
            size_t n = strlen (note);
            snprintf (note + n, sizeof note - n, "。原因：%s", cmd->text);
        }
        e.type = "RequestEscalated";
        e.kind = "escalated";
        e.escalation_level = q.level;
    }
    else if (strcmp (a, "return") == 0) {
        static const char *const ok[] = {"assigned", "accepted", NULL};
        if (!s_in (q.state, ok)) {
            rc = s_conflict (cmd, &q);
            goto done;
        }
        pick_t d;
        int f = s_pick_dispatcher (core, &q, &d);
        if (f < 0) {
            rc = -1;
            goto done;
        }
        if (f == 0 ||
            (d.staff_id && q.assignee_staff && strcmp (d.staff_id, q.assignee_staff) == 0)) {
            rc = s_fail (cmd, 422, "unprocessable", "request %s is already with the dispatcher",
                         q.id);
            goto done;
        }
        s_set (&q.assignee_staff, d.staff_id);
        s_set (&q.assignee_name, d.name);
        s_set (&q.assignee_unit, d.unit);
        s_set (&q.assignee_unit_name, d.unit_name);
        s_set (&q.assignee_role, d.role);
        q.level = 2;
        s_set (&q.state, "assigned");
        char suffix[600];
        snprintf (suffix, sizeof suffix, "重新派单。原因：%s", cmd->text);
        s_assignee_note (&q, "已退回", suffix, note, sizeof note);
        e.type = "RequestReturned";
        e.kind = "returned";
    }
    else {
        rc = s_fail (cmd, 404, "not_found", "no action %s", a);
        goto done;
    }
    e.note = note;
    if (s_req_save (core, &q) || s_emit (core, &q, &e, &actor)) {
        rc = -1;
        goto done;
    }
    cmd->status = 200;
    snprintf (cmd->state, sizeof cmd->state, "%s", q.state);
    rc = 0;
done:
    s_req_clear (&q);
    return rc;
}

void
routing_execute (routing_core_t *core, routing_cmd_t *cmd)
{
    cmd->status = 0;
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        cmd->error[0] = cmd->message[0] = cmd->state[0] = 0;
        if (gz_db_ensure (core->db) || gz_db_begin (core->db))
            break;
        rc = s_apply (core, cmd);
        if (rc == 0 && gz_bus_pub_write (core->pub) == 0 && gz_db_commit (core->db) == 0) {
            gz_bus_pub_committed (core->pub);
            routing_core_count_committed (core);
            return;
        }
        gz_db_rollback (core->db);
        gz_bus_pub_aborted (core->pub);
        routing_core_forget_loads (core);
        routing_core_forget_counts (core);
        if (rc == 1)
            return; //  refused: the result says why
        rc = -1;
        if (!gz_db_retryable (core->db))
            break;
    }
    gz_metrics_add (core->metrics, "gz_db_errors_total", NULL, 1);
    gz_warn (SVC, "msg=\"command failed\" action=%s sqlstate=%s error=\"%s\"", cmd->action,
             gz_db_sqlstate (core->db), gz_db_error (core->db));
    s_fail (cmd, 503, "unavailable", "database unavailable; retry");
}

int
routing_token_install (routing_core_t *core, const char *token, const char *staff_id,
                       const char *role, const char *label)
{
    return gz_auth_install (core->db, token, staff_id, role, label);
}

int
routing_rules_check_org (const routing_rules_t *rules, gz_org_t *org, char *err, size_t errlen)
{
    for (size_t i = 0; i < routing_rules_count (rules); i++) {
        const routing_rule_t *r = routing_rules_at (rules, i);
        const char *codes[66];
        size_t n = 0;
        if (r->lead_code)
            codes[n++] = r->lead_code;
        for (size_t j = 0; r->co_handlers && r->co_handlers[j] && n < 64; j++)
            codes[n++] = r->co_handlers[j];
        for (size_t j = 0; j < n; j++) {
            const char *level = gz_org_unit_level (org, codes[j]);
            if (!level || strcmp (level, "department") != 0) {
                snprintf (err, errlen, "line %d: unknown department %s", r->line, codes[j]);
                return -1;
            }
        }
    }
    return 0;
}

//  ---------------------------------------------------------------- timers

//  Apply one due timer to its request. 0 ok, -1 failure.
static int
s_fire (routing_core_t *core, const char *id, const char *kind)
{
    req_t q;
    int found = s_req_load (core, id, NULL, &q);
    if (found <= 0)
        return found;
    int64_t now = routing_now (core);
    bool response = strncmp (kind, "response", 8) == 0;
    bool due = strstr (kind, "_due") != NULL;
    static const char *const early[] = {"assigned", "accepted", NULL};
    static const char *const done_states[] = {"resolved", "rated", NULL};
    char note[1024] = "";
    emit_t e = {0};
    e.satisfied = -1;
    int rc = 0;
    if (strcmp (kind, "close") == 0) {
        if (!s_in (q.state, done_states))
            goto done;
        s_set (&q.state, "closed");
        q.closed_at_us = now;
        snprintf (note, sizeof note, "回访期已过，诉求已关闭");
        e.type = "RequestClosed";
        e.kind = "closed";
    }
    else {
        bool live =
            response ? s_in (q.state, early) && q.responded_at_us < 0 : s_in (q.state, s_working);
        if (!live)
            goto done;
        e.deadline = response ? "response" : "resolve";
        int climbed = 1;
        if (due) {
            climbed = s_climb (core, &q, note, sizeof note,
                               response ? "超过响应时限，已上报至" : "超过办结时限，已上报至");
            if (climbed < 0) {
                rc = -1;
                goto done;
            }
            int64_t length = response ? q.response_s : q.resolve_s;
            int64_t next = now + length * 1000000;
            if (response)
                q.response_due_us = next;
            else
                q.resolve_due_us = next;
            if (climbed == 0 &&
                s_arm_deadline (core, q.id, response ? "response" : "resolve", next, length)) {
                rc = -1;
                goto done;
            }
        }
        if (due && climbed == 0) {
            e.type = "RequestEscalated";
            e.kind = "escalated";
            e.escalation_level = q.level;
        }
        else {
            snprintf (note, sizeof note, "%s%s", response ? "响应时限" : "办结时限",
                      due ? "已过，已在最高层级督办" : "即将到期");
            e.type = "DeadlineWarning";
            e.kind = "deadline_warning";
        }
    }
    e.note = note;
    if (s_req_save (core, &q) || s_emit (core, &q, &e, NULL))
        rc = -1;
done:
    s_req_clear (&q);
    return rc;
}

int
routing_timers_run (routing_core_t *core)
{
    int fired = 0;
    for (int round = 0; round < 20; round++) {
        if (gz_db_ensure (core->db) || gz_db_begin (core->db))
            return -1;
        char now[24];
        snprintf (now, sizeof now, "%lld", (long long) routing_now (core));
        const char *v[1] = {now};
        PGresult *r = gz_db_exec (core->db, "rt_timers_due", 1, v);
        int n = r ? PQntuples (r) : 0, rc = r ? 0 : -1;
        for (int i = 0; i < n && rc == 0; i++) {
            const char *mv[4] = {PQgetvalue (r, i, 0), PQgetvalue (r, i, 1), PQgetvalue (r, i, 2),
                                 now};
            //  Fire only a timer this transaction marked: one already
            //  fired or cancelled (deleted) since the SELECT takes no effect.
            PGresult *m = gz_db_exec (core->db, "rt_timer_mark", 4, mv);
            rc = m ? 0 : -1;
            if (m && strcmp (PQcmdTuples (m), "1") == 0)
                rc = s_fire (core, mv[0], mv[1]);
            if (m)
                PQclear (m);
        }
        char kinds[100][16];
        for (int i = 0; i < n && i < 100; i++)
            snprintf (kinds[i], sizeof kinds[i], "%s", PQgetvalue (r, i, 1));
        PQclear (r);
        if (rc == 0 && gz_bus_pub_write (core->pub) == 0 && gz_db_commit (core->db) == 0) {
            gz_bus_pub_committed (core->pub);
            routing_core_count_committed (core);
        }
        else {
            gz_db_rollback (core->db);
            gz_bus_pub_aborted (core->pub);
            routing_core_forget_loads (core);
            routing_core_forget_counts (core);
            gz_metrics_add (core->metrics, "gz_db_errors_total", NULL, 1);
            gz_warn (SVC, "msg=\"timer run failed\" error=\"%s\"", gz_db_error (core->db));
            return -1;
        }
        for (int i = 0; i < n && i < 100; i++) {
            char labels[64];
            snprintf (labels, sizeof labels, "kind=\"%.15s\"", kinds[i]);
            gz_metrics_add (core->metrics, "gz_routing_timers_fired_total", labels, 1);
        }
        fired += n;
        if (n < 100)
            break;
    }
    return fired;
}
