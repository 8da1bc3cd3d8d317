/*  matching_store: the SQL of the registry (volunteers, needs) and of the
    ops on offers and service records. The batch's statements are in
    matching_store_batch.c, the ledger's in matching_ledger_store.c.  */
#include "gz_log.h"
#include "gz_text.h"
#include "matching.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

//  ---------------------------------------------------------------- statements

static const char *const s_volunteer_put_sql =
    "INSERT INTO {schema}.volunteers (id, name, skills, social_worker, grid_code, lat, lon,"
    "  availability, windows, max_per_week, active, phone_masked, created_by)"
    " VALUES ($1, $2, $3::integer, $4::boolean, $5, $6::float8, $7::float8, $8,"
    "  $9::int4range[], $10::integer, $11::boolean, $12, $13)"
    " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, skills = EXCLUDED.skills,"
    "  social_worker = EXCLUDED.social_worker, grid_code = EXCLUDED.grid_code,"
    "  lat = EXCLUDED.lat, lon = EXCLUDED.lon, availability = EXCLUDED.availability,"
    "  windows = EXCLUDED.windows, max_per_week = EXCLUDED.max_per_week,"
    "  active = EXCLUDED.active, updated_at = now(),"
    "  phone_masked = CASE WHEN EXCLUDED.phone_masked = '' THEN volunteers.phone_masked"
    "                 ELSE EXCLUDED.phone_masked END"
    " RETURNING (xmax = 0)";

static const char *const s_volunteer_phone_sql =
    "INSERT INTO {schema}.volunteer_contacts (volunteer_id, phone) VALUES ($1, $2)"
    " ON CONFLICT (volunteer_id) DO UPDATE SET phone = EXCLUDED.phone";

#define S_VOLUNTEER_COLS                                                                           \
    "v.id, v.name, v.skills, v.social_worker, v.grid_code, v.lat, v.lon, v.availability,"          \
    " v.max_per_week, v.active, v.phone_masked,"                                                   \
    " (SELECT count(*) FROM {schema}.offers o WHERE o.volunteer_id = v.id"                         \
    "   AND o.state IN ('offered', 'accepted') AND o.created_at > now() - interval '7 days'),"     \
    " (SELECT round(avg(rating)::numeric, 1)::text FROM {schema}.services s"                       \
    "   WHERE s.volunteer_id = v.id AND s.rating IS NOT NULL)"

static const char *const s_volunteers_sql =
    "SELECT " S_VOLUNTEER_COLS " FROM {schema}.volunteers v"
    " WHERE ($1::text IS NULL OR v.grid_code = $1) AND ($2::integer IS NULL"
    "  OR v.skills & (1 << $2::integer) <> 0) AND v.id > $3 ORDER BY v.id LIMIT $4::integer";

static const char *const s_need_insert_sql =
    "INSERT INTO {schema}.needs (building_code, grid_code, community_code, subdistrict_code,"
    "  lat, lon, household, contact_name, phone_masked, skill, urgent, recurring,"
    "  window_from, window_to, weekly, windows, note, source, created_by)"
    " VALUES ($1, $2, $3, $4, $5::float8, $6::float8, $7, $8, $9, $10::integer, $11::boolean,"
    "  $12::boolean, to_timestamp($13::float8 / 1e6), to_timestamp($14::float8 / 1e6), $15,"
    "  $16::int4range[], $17, $18, $19)"
    " ON CONFLICT (source) WHERE source <> 'api' DO NOTHING RETURNING id";

static const char *const s_need_phone_sql =
    "INSERT INTO {schema}.need_contacts (need_id, phone) VALUES ($1::bigint, $2)";

#define S_NEED_JSON                                                                                \
    "json_build_object('id', n.id, 'building', n.building_code, 'grid', n.grid_code,"              \
    " 'community', n.community_code, 'contact_name', n.contact_name, 'phone', n.phone_masked,"     \
    " 'skill', n.skill, 'urgent', n.urgent, 'recurring', n.recurring,"                             \
    " 'window', CASE WHEN n.window_from IS NULL THEN NULL ELSE json_build_object("                 \
    "   'from', to_char(n.window_from AT TIME ZONE 'Asia/Shanghai', "                              \
    "'YYYY-MM-DD\"T\"HH24:MI+08:00'),"                                                             \
    "   'to', to_char(n.window_to AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI+08:00')) " \
    "END,"                                                                                         \
    " 'weekly', nullif(n.weekly, ''), 'note', n.note, 'state', n.state, 'source', n.source,"       \
    " 'previous_volunteer', n.previous_volunteer, 'created_at', n.created_at,"                     \
    " 'offer', (SELECT json_build_object('id', o.id, 'volunteer', o.volunteer_id,"                 \
    "   'state', o.state, 'expires_at', o.expires_at) FROM {schema}.offers o"                      \
    "   WHERE o.need_id = n.id ORDER BY o.id DESC LIMIT 1),"                                       \
    " 'service', (SELECT json_build_object('id', s.id, 'state', s.state, 'minutes', s.minutes,"    \
    "   'rating', s.rating) FROM {schema}.services s WHERE s.need_id = n.id"                       \
    "   ORDER BY s.id DESC LIMIT 1))::text"

static const char *const s_need_get_sql =
    "SELECT " S_NEED_JSON " FROM {schema}.needs n WHERE n.id = $1::bigint";

static const char *const s_needs_sql =
    "SELECT " S_NEED_JSON " FROM {schema}.needs n WHERE ($1::text IS NULL OR n.state = $1)"
    " AND ($2::text IS NULL OR n.community_code = $2) ORDER BY n.id DESC LIMIT $3::integer";

#define S_ROW_COLS                                                                                 \
    "SELECT o.id, o.need_id, coalesce(s.id, 0), o.state, n.state, coalesce(s.state, ''),"          \
    " o.volunteer_id, v.name, coalesce(x.secret, ''), n.skill, n.urgent, n.recurring,"             \
    " n.building_code, n.grid_code, n.community_code, n.subdistrict_code,"                         \
    " coalesce((extract(epoch FROM s.checkin_at) * 1e6)::bigint, 0)"                               \
    " FROM {schema}.offers o JOIN {schema}.needs n ON n.id = o.need_id"                            \
    " JOIN {schema}.volunteers v ON v.id = o.volunteer_id"                                         \
    " LEFT JOIN {schema}.offer_secrets x ON x.offer_id = o.id"

static const char *const s_offer_lock_sql =
    S_ROW_COLS " LEFT JOIN {schema}.services s ON s.offer_id = o.id"
               " WHERE o.id = $1::bigint FOR UPDATE OF o, n";

static const char *const s_service_lock_sql =
    S_ROW_COLS " JOIN {schema}.services s ON s.offer_id = o.id"
               " WHERE s.id = $1::bigint FOR UPDATE OF o, n, s";

static const char *const s_offer_set_sql =
    "UPDATE {schema}.offers SET state = $2, answered_by = $3,"
    " answered_at = to_timestamp($4::float8 / 1e6) WHERE id = $1::bigint";

static const char *const s_need_set_sql =
    "UPDATE {schema}.needs SET state = $2, previous_volunteer = coalesce($3, previous_volunteer),"
    " updated_at = now() WHERE id = $1::bigint";

static const char *const s_service_insert_sql =
    "INSERT INTO {schema}.services (offer_id, need_id, volunteer_id)"
    " VALUES ($1::bigint, $2::bigint, $3) RETURNING id";

static const char *const s_checkin_sql =
    "UPDATE {schema}.services SET state = 'in_progress',"
    " checkin_at = to_timestamp($2::float8 / 1e6) WHERE id = $1::bigint";

static const char *const s_checkout_sql =
    "UPDATE {schema}.services SET state = 'completed', checkout_at = to_timestamp($2::float8 / "
    "1e6),"
    " minutes = CASE WHEN $3::integer >= 0 THEN $3::integer ELSE greatest(0,"
    "  round(extract(epoch FROM to_timestamp($2::float8 / 1e6) - checkin_at) / 60))::integer END"
    " WHERE id = $1::bigint RETURNING minutes";

static const char *const s_confirm_sql =
    "UPDATE {schema}.services SET state = 'confirmed', rating = nullif($2::integer, 0),"
    " comment = $3, confirmed_by = $4, confirmed_at = to_timestamp($5::float8 / 1e6)"
    " WHERE id = $1::bigint RETURNING coalesce(minutes, 0)";

static const char *const s_request_put_sql =
    "INSERT INTO {schema}.requests (request_id, service_code, building_code, community_code,"
    "  channel, reporter, description) VALUES ($1, $2, $3, $4, $5::integer, $6, $7)"
    " ON CONFLICT (request_id) DO NOTHING";

static const char *const s_request_get_sql =
    "SELECT building_code, community_code, reporter, channel, description"
    " FROM {schema}.requests WHERE request_id = $1";

static const char *const s_offer_contact_sql =
    "SELECT o.id, o.volunteer_id, v.name, coalesce(c.phone, ''), coalesce(x.secret, ''), o.state"
    " FROM {schema}.offers o JOIN {schema}.volunteers v ON v.id = o.volunteer_id"
    " LEFT JOIN {schema}.volunteer_contacts c ON c.volunteer_id = o.volunteer_id"
    " LEFT JOIN {schema}.offer_secrets x ON x.offer_id = o.id WHERE o.id = $1::bigint";

//  The volunteer's page: the offer with its need, the building's and the
//  community's names from the org directory, times in China time.
static const char *const s_offer_page_sql =
    "SELECT o.id, o.state, coalesce(x.secret, ''), n.skill, n.urgent, n.recurring,"
    " coalesce(b.name, n.building_code), coalesce(b.address, ''), coalesce(u.name, ''),"
    " n.contact_name,"
    " coalesce(to_char(n.window_from AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), ''),"
    " coalesce(to_char(n.window_to AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), ''),"
    " n.weekly, n.note, to_char(o.expires_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),"
    " o.expires_at <= to_timestamp($2::float8 / 1e6), v.name, coalesce(s.id, 0)"
    " FROM {schema}.offers o JOIN {schema}.needs n ON n.id = o.need_id"
    " JOIN {schema}.volunteers v ON v.id = o.volunteer_id"
    " LEFT JOIN {schema}.offer_secrets x ON x.offer_id = o.id"
    " LEFT JOIN {schema}.services s ON s.offer_id = o.id"
    " LEFT JOIN org.buildings b ON b.code = n.building_code"
    " LEFT JOIN org.units u ON u.code = n.community_code AND u.level = 'community'"
    " WHERE o.id = $1::bigint";

void
matching_store_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "mt_request_put", s_request_put_sql, schema);
    gz_db_prepare_schema (db, "mt_request_get", s_request_get_sql, schema);
    gz_db_prepare_schema (db, "mt_volunteer_put", s_volunteer_put_sql, schema);
    gz_db_prepare_schema (db, "mt_volunteer_phone", s_volunteer_phone_sql, schema);
    gz_db_prepare_schema (db, "mt_need_insert", s_need_insert_sql, schema);
    gz_db_prepare_schema (db, "mt_need_phone", s_need_phone_sql, schema);
    gz_db_prepare_schema (db, "mt_need_get", s_need_get_sql, schema);
    gz_db_prepare_schema (db, "mt_offer_lock", s_offer_lock_sql, schema);
    gz_db_prepare_schema (db, "mt_service_lock", s_service_lock_sql, schema);
    gz_db_prepare_schema (db, "mt_offer_set", s_offer_set_sql, schema);
    gz_db_prepare_schema (db, "mt_need_set", s_need_set_sql, schema);
    gz_db_prepare_schema (db, "mt_service_insert", s_service_insert_sql, schema);
    gz_db_prepare_schema (db, "mt_checkin", s_checkin_sql, schema);
    gz_db_prepare_schema (db, "mt_checkout", s_checkout_sql, schema);
    gz_db_prepare_schema (db, "mt_confirm", s_confirm_sql, schema);
    matching_store_batch_prepare (db, schema);
}

void
matching_store_prepare_read (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "mt_volunteers", s_volunteers_sql, schema);
    gz_db_prepare_schema (db, "mt_need_get", s_need_get_sql, schema);
    gz_db_prepare_schema (db, "mt_needs", s_needs_sql, schema);
    gz_db_prepare_schema (db, "mt_offer_contact", s_offer_contact_sql, schema);
    gz_db_prepare_schema (db, "mt_offer_page", s_offer_page_sql, schema);
}

//  ---------------------------------------------------------------- helpers

//  Run a statement that returns nothing wanted. 0 or -1.
static int
s_run (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

//  Windows as a PostgreSQL int4range[] literal.
char *
matching_windows_sql (const mt_window_t *w, size_t n)
{
    size_t size = 4 + n * 32;
    char *out = malloc (size);
    assert (out);
    size_t used = (size_t) snprintf (out, size, "{");
    for (size_t i = 0; i < n; i++)
        used += (size_t) snprintf (out + used, size - used, "%s\"[%d,%d)\"", i ? "," : "",
                                   w[i].start, w[i].end);
    snprintf (out + used, size - used, "}");
    return out;
}

void
matching_store_copy (char *dst, size_t size, PGresult *r, int row, int col)
{
    snprintf (dst, size, "%s", PQgetvalue (r, row, col));
}

//  ---------------------------------------------------------------- registry

int
matching_store_volunteer_put (gz_db_t *db, const mt_volunteer_t *v, const char *by)
{
    char skills[16], lat[32], lon[32], cap[16];
    snprintf (skills, sizeof skills, "%d", (int) v->skills);
    snprintf (lat, sizeof lat, "%.7f", v->lat);
    snprintf (lon, sizeof lon, "%.7f", v->lon);
    snprintf (cap, sizeof cap, "%d", v->max_per_week);
    char *availability = mt_windows_format (v->windows, v->n_windows);
    char *windows = matching_windows_sql (v->windows, v->n_windows);
    char *masked = v->phone[0] ? gz_phone_mask (v->phone) : strdup ("");
    const char *values[] = {v->id,
                            v->name,
                            skills,
                            v->social_worker ? "true" : "false",
                            v->grid,
                            v->has_location ? lat : NULL,
                            v->has_location ? lon : NULL,
                            availability,
                            windows,
                            cap,
                            v->active ? "true" : "false",
                            masked ? masked : "",
                            by ? by : ""};
    PGresult *r = gz_db_exec (db, "mt_volunteer_put", 13, values);
    free (availability);
    free (windows);
    free (masked);
    if (!r)
        return -1;
    int created = strcmp (PQgetvalue (r, 0, 0), "t") == 0;
    PQclear (r);
    if (v->phone[0]) {
        const char *pv[] = {v->id, v->phone};
        if (s_run (db, "mt_volunteer_phone", 2, pv))
            return -1;
    }
    return created;
}

//  Row i of the volunteers query as JSON.
static json_t *
s_volunteer_json (PGresult *r, int i)
{
    mt_volunteer_t v;
    memset (&v, 0, sizeof v);
    matching_store_copy (v.id, sizeof v.id, r, i, 0);
    matching_store_copy (v.name, sizeof v.name, r, i, 1);
    v.skills = (uint32_t) strtoul (PQgetvalue (r, i, 2), NULL, 10);
    v.social_worker = strcmp (PQgetvalue (r, i, 3), "t") == 0;
    matching_store_copy (v.grid, sizeof v.grid, r, i, 4);
    v.has_location = !PQgetisnull (r, i, 5);
    v.lat = atof (PQgetvalue (r, i, 5));
    v.lon = atof (PQgetvalue (r, i, 6));
    char err[128];
    mt_windows_parse (PQgetvalue (r, i, 7), v.windows, MT_WINDOWS_MAX, &v.n_windows, err,
                      sizeof err);
    v.max_per_week = atoi (PQgetvalue (r, i, 8));
    v.active = strcmp (PQgetvalue (r, i, 9), "t") == 0;
    json_t *j = mt_volunteer_to_json (&v);
    if (!j)
        return NULL;
    json_object_set_new (j, "phone", json_string (PQgetvalue (r, i, 10)));
    json_object_set_new (j, "tasks_this_week", json_integer (atoll (PQgetvalue (r, i, 11))));
    json_object_set_new (j, "rating",
                         PQgetisnull (r, i, 12) ? json_null ()
                                                : json_real (atof (PQgetvalue (r, i, 12))));
    return j;
}

json_t *
matching_store_volunteers (gz_db_t *db, const char *grid, const char *skill_name, int limit,
                           const char *after)
{
    char skill[16], lim[16];
    int s = skill_name ? mt_skill_from_name (skill_name) : -1;
    snprintf (skill, sizeof skill, "%d", s);
    snprintf (lim, sizeof lim, "%d", limit);
    const char *values[] = {grid, s >= 0 ? skill : NULL, after ? after : "", lim};
    PGresult *r = gz_db_exec (db, "mt_volunteers", 4, values);
    if (!r)
        return NULL;
    json_t *list = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *j = s_volunteer_json (r, i);
        if (j)
            json_array_append_new (list, j);
    }
    PQclear (r);
    return list;
}

int64_t
matching_store_need_insert (gz_db_t *db, const matching_need_row_t *row)
{
    const mt_need_t *n = row->need;
    const gz_building_t *b = row->building;
    char lat[32], lon[32], skill[16], from[32], to[32];
    snprintf (lat, sizeof lat, "%.7f", b->lat);
    snprintf (lon, sizeof lon, "%.7f", b->lon);
    snprintf (skill, sizeof skill, "%d", n->skill);
    snprintf (from, sizeof from, "%lld", (long long) n->from_us);
    snprintf (to, sizeof to, "%lld", (long long) n->to_us);
    char household[800];
    snprintf (household, sizeof household, "%s/%s", b->code, n->contact_name);
    char *weekly = n->recurring ? mt_windows_format (n->windows, n->n_windows) : strdup ("");
    char *windows = matching_windows_sql (n->windows, n->n_windows);
    char *masked = n->phone[0] ? gz_phone_mask (n->phone) : strdup ("");
    const char *values[] = {b->code,
                            b->grid_code,
                            b->community_code,
                            b->subdistrict_code ? b->subdistrict_code : "",
                            lat,
                            lon,
                            household,
                            n->contact_name,
                            masked ? masked : "",
                            skill,
                            n->urgent ? "true" : "false",
                            n->recurring ? "true" : "false",
                            n->recurring ? NULL : from,
                            n->recurring ? NULL : to,
                            weekly,
                            windows,
                            n->note,
                            row->source,
                            row->created_by};
    PGresult *r = gz_db_exec (db, "mt_need_insert", 19, values);
    free (weekly);
    free (windows);
    free (masked);
    if (!r)
        return -1;
    int64_t id = PQntuples (r) ? atoll (PQgetvalue (r, 0, 0)) : 0;
    PQclear (r);
    if (id > 0 && n->phone[0]) {
        char ids[32];
        snprintf (ids, sizeof ids, "%lld", (long long) id);
        const char *pv[] = {ids, n->phone};
        if (s_run (db, "mt_need_phone", 2, pv))
            return -1;
    }
    return id;
}

//  A need's JSON from SQL with the skill's name and label.
static json_t *
s_need_json (const char *text)
{
    json_t *j = json_loads (text, 0, NULL);
    if (!j)
        return NULL;
    int skill = (int) json_integer_value (json_object_get (j, "skill"));
    const char *name = mt_skill_name (skill);
    json_object_set_new (j, "skill", json_string (name ? name : "?"));
    const char *label = mt_skill_label (skill);
    json_object_set_new (j, "skill_label", json_string (label ? label : "?"));
    return j;
}

json_t *
matching_store_need_get (gz_db_t *db, int64_t id)
{
    char ids[32];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    const char *values[] = {ids};
    PGresult *r = gz_db_exec (db, "mt_need_get", 1, values);
    if (!r)
        return NULL;
    json_t *j = PQntuples (r) ? s_need_json (PQgetvalue (r, 0, 0)) : json_null ();
    PQclear (r);
    return j;
}

json_t *
matching_store_needs (gz_db_t *db, const char *state, const char *community, int limit)
{
    char lim[16];
    snprintf (lim, sizeof lim, "%d", limit);
    const char *values[] = {state, community, lim};
    PGresult *r = gz_db_exec (db, "mt_needs", 3, values);
    if (!r)
        return NULL;
    json_t *list = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *j = s_need_json (PQgetvalue (r, i, 0));
        if (j)
            json_array_append_new (list, j);
    }
    PQclear (r);
    return list;
}

//  ---------------------------------------------------------------- offers and services

static int
s_lock (gz_db_t *db, const char *name, int64_t id, matching_row_t *out)
{
    memset (out, 0, sizeof *out);
    char ids[32];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    const char *values[] = {ids};
    PGresult *r = gz_db_exec (db, name, 1, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found) {
        out->offer_id = atoll (PQgetvalue (r, 0, 0));
        out->need_id = atoll (PQgetvalue (r, 0, 1));
        out->service_id = atoll (PQgetvalue (r, 0, 2));
        matching_store_copy (out->offer_state, sizeof out->offer_state, r, 0, 3);
        matching_store_copy (out->need_state, sizeof out->need_state, r, 0, 4);
        matching_store_copy (out->service_state, sizeof out->service_state, r, 0, 5);
        matching_store_copy (out->volunteer_id, sizeof out->volunteer_id, r, 0, 6);
        matching_store_copy (out->volunteer_name, sizeof out->volunteer_name, r, 0, 7);
        matching_store_copy (out->secret, sizeof out->secret, r, 0, 8);
        out->skill = atoi (PQgetvalue (r, 0, 9));
        out->urgent = strcmp (PQgetvalue (r, 0, 10), "t") == 0;
        out->recurring = strcmp (PQgetvalue (r, 0, 11), "t") == 0;
        matching_store_copy (out->building, sizeof out->building, r, 0, 12);
        matching_store_copy (out->grid, sizeof out->grid, r, 0, 13);
        matching_store_copy (out->community, sizeof out->community, r, 0, 14);
        matching_store_copy (out->subdistrict, sizeof out->subdistrict, r, 0, 15);
        out->checkin_us = atoll (PQgetvalue (r, 0, 16));
    }
    PQclear (r);
    return found;
}

int
matching_store_offer_lock (gz_db_t *db, int64_t offer_id, matching_row_t *out)
{
    return s_lock (db, "mt_offer_lock", offer_id, out);
}

int
matching_store_service_lock (gz_db_t *db, int64_t service_id, matching_row_t *out)
{
    return s_lock (db, "mt_service_lock", service_id, out);
}

int
matching_store_offer_set (gz_db_t *db, int64_t offer_id, const char *state, const char *by,
                          int64_t now_us)
{
    char ids[32], now[32];
    snprintf (ids, sizeof ids, "%lld", (long long) offer_id);
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {ids, state, by, now};
    return s_run (db, "mt_offer_set", 4, values);
}

int
matching_store_need_set (gz_db_t *db, int64_t need_id, const char *state, const char *previous)
{
    char ids[32];
    snprintf (ids, sizeof ids, "%lld", (long long) need_id);
    const char *values[] = {ids, state, previous};
    return s_run (db, "mt_need_set", 3, values);
}

int64_t
matching_store_service_insert (gz_db_t *db, const matching_row_t *row)
{
    char offer[32], need[32];
    snprintf (offer, sizeof offer, "%lld", (long long) row->offer_id);
    snprintf (need, sizeof need, "%lld", (long long) row->need_id);
    const char *values[] = {offer, need, row->volunteer_id};
    PGresult *r = gz_db_exec (db, "mt_service_insert", 3, values);
    if (!r)
        return -1;
    int64_t id = atoll (PQgetvalue (r, 0, 0));
    PQclear (r);
    return id;
}

int
matching_store_service_checkin (gz_db_t *db, int64_t id, int64_t now_us)
{
    char ids[32], now[32];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {ids, now};
    return s_run (db, "mt_checkin", 2, values);
}

//  A statement returning one integer. The integer, or -1.
static int
s_int (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r)
        return -1;
    int v = PQntuples (r) && !PQgetisnull (r, 0, 0) ? atoi (PQgetvalue (r, 0, 0)) : -1;
    PQclear (r);
    return v;
}

int
matching_store_service_checkout (gz_db_t *db, int64_t id, int64_t now_us, int minutes)
{
    char ids[32], now[32], min[16];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    snprintf (min, sizeof min, "%d", minutes);
    const char *values[] = {ids, now, min};
    return s_int (db, "mt_checkout", 3, values);
}

int
matching_store_service_confirm (gz_db_t *db, int64_t id, int rating, const char *comment,
                                const char *by, int64_t now_us)
{
    char ids[32], now[32], rate[16];
    snprintf (ids, sizeof ids, "%lld", (long long) id);
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    snprintf (rate, sizeof rate, "%d", rating);
    const char *values[] = {ids, rate, comment, by, now};
    return s_int (db, "mt_confirm", 5, values);
}

//  ---------------------------------------------------------------- requests

int
matching_store_request_put (gz_db_t *db, const char *id, const char *service_code,
                            const char *building, const char *community, int channel,
                            const char *reporter, const char *description)
{
    char ch[16];
    snprintf (ch, sizeof ch, "%d", channel);
    const char *values[] = {id,
                            service_code ? service_code : "",
                            building ? building : "",
                            community ? community : "",
                            ch,
                            reporter ? reporter : "",
                            description ? description : ""};
    return s_run (db, "mt_request_put", 7, values);
}

int
matching_store_request_get (gz_db_t *db, const char *id, matching_request_t *out)
{
    memset (out, 0, sizeof *out);
    const char *values[] = {id};
    PGresult *r = gz_db_exec (db, "mt_request_get", 1, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found) {
        matching_store_copy (out->building, sizeof out->building, r, 0, 0);
        matching_store_copy (out->community, sizeof out->community, r, 0, 1);
        matching_store_copy (out->reporter, sizeof out->reporter, r, 0, 2);
        out->channel = atoi (PQgetvalue (r, 0, 3));
        matching_store_copy (out->description, sizeof out->description, r, 0, 4);
    }
    PQclear (r);
    return found;
}

json_t *
matching_store_offer_contact (gz_db_t *db, int64_t offer_id, const char *public_url)
{
    char ids[32];
    snprintf (ids, sizeof ids, "%lld", (long long) offer_id);
    const char *values[] = {ids};
    PGresult *r = gz_db_exec (db, "mt_offer_contact", 1, values);
    if (!r)
        return NULL;
    json_t *j = json_null ();
    if (PQntuples (r)) {
        char link[512];
        snprintf (link, sizeof link, "%s/o/%s?t=%s", public_url, ids, PQgetvalue (r, 0, 4));
        j = json_pack ("{s:I,s:s,s:s,s:s,s:s,s:s}", "offer", (json_int_t) offer_id, "volunteer",
                       PQgetvalue (r, 0, 1), "name", PQgetvalue (r, 0, 2), "phone",
                       PQgetvalue (r, 0, 3), "link", link, "state", PQgetvalue (r, 0, 5));
        explicit_bzero (link, sizeof link);
    }
    PQclear (r);
    return j;
}

int
matching_store_offer_page (gz_db_t *db, int64_t offer_id, int64_t now_us,
                           matching_offer_page_t *out)
{
    memset (out, 0, sizeof *out);
    char ids[32], now[32];
    snprintf (ids, sizeof ids, "%lld", (long long) offer_id);
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {ids, now};
    PGresult *r = gz_db_exec (db, "mt_offer_page", 2, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found) {
        out->offer_id = offer_id;
        matching_store_copy (out->state, sizeof out->state, r, 0, 1);
        matching_store_copy (out->secret, sizeof out->secret, r, 0, 2);
        out->skill = atoi (PQgetvalue (r, 0, 3));
        out->urgent = *PQgetvalue (r, 0, 4) == 't';
        out->recurring = *PQgetvalue (r, 0, 5) == 't';
        matching_store_copy (out->building, sizeof out->building, r, 0, 6);
        matching_store_copy (out->address, sizeof out->address, r, 0, 7);
        matching_store_copy (out->community, sizeof out->community, r, 0, 8);
        matching_store_copy (out->contact_name, sizeof out->contact_name, r, 0, 9);
        matching_store_copy (out->window_from, sizeof out->window_from, r, 0, 10);
        matching_store_copy (out->window_to, sizeof out->window_to, r, 0, 11);
        matching_store_copy (out->weekly, sizeof out->weekly, r, 0, 12);
        matching_store_copy (out->note, sizeof out->note, r, 0, 13);
        matching_store_copy (out->expires, sizeof out->expires, r, 0, 14);
        out->past_due = *PQgetvalue (r, 0, 15) == 't';
        matching_store_copy (out->volunteer_name, sizeof out->volunteer_name, r, 0, 16);
        out->service_id = strtoll (PQgetvalue (r, 0, 17), NULL, 10);
    }
    PQclear (r);
    return found;
}

//  ---------------------------------------------------------------- meetings

static const char *const s_meeting_sql =
    "SELECT participants, community_code FROM {schema}.meetings"
    " WHERE id = $1 AND status = 'recorded'";

void
matching_store_prepare_meetings (gz_db_t *db, const char *routing_schema)
{
    gz_db_prepare_schema (db, "mt_meeting", s_meeting_sql, routing_schema);
}

int
matching_store_meeting (gz_db_t *db, const char *id, char *community, size_t size)
{
    const char *values[] = {id};
    PGresult *r = gz_db_exec (db, "mt_meeting", 1, values);
    if (!r)
        return -2;
    int participants = -1;
    if (PQntuples (r)) {
        participants = atoi (PQgetvalue (r, 0, 0));
        matching_store_copy (community, size, r, 0, 1);
    }
    PQclear (r);
    return participants;
}
