/*  routing_meetings_store: the SQL statements of the meetings API
    (routing_meetings.c), prepared on each read-pool connection, and the
    functions that run them: the checks against the org directory, the
    meeting row's claim and record, and the views (one meeting, the list)
    as the JSON routing_meetings.c answers. Kept apart so SQL lives in
    *_store.c files.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "routing_meetings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    const char *sql;
} s_sqls[] = {
    {"rm_community", "SELECT name FROM org.units WHERE code = $1 AND level = 'community'"},
    {"rm_unknown_host", "SELECT h FROM unnest ($1::text[]) WITH ORDINALITY AS x (h, n)"
                        " WHERE NOT EXISTS (SELECT 1 FROM org.staff s WHERE s.id = x.h)"
                        " ORDER BY n LIMIT 1"},
    {"rm_building", "SELECT g.parent_code FROM org.buildings b"
                    " JOIN org.units g ON g.code = b.grid_code WHERE b.code = $1"},
    {"rm_first_building", "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = "
                          "b.grid_code"
                          " WHERE g.parent_code = $1 ORDER BY b.sort_order, b.code LIMIT 1"},
    {"rm_sha", "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"},
    {"rm_claim", "INSERT INTO {schema}.meetings (id, community_code, held_on, place, participants,"
                 " hosts, recorded_by, recorded_role, client_key, body_sha256, demands_total)"
                 " VALUES ('M' || nextval('{schema}.meeting_seq'), $1, $2::date, $3, $4::int,"
                 " $5::text[], $6, $7, $8, $9, $10::int)"
                 " ON CONFLICT (community_code, client_key) DO NOTHING RETURNING id"},
    {"rm_by_key", "SELECT id, body_sha256, status FROM {schema}.meetings"
                  " WHERE community_code = $1 AND client_key = $2"},
    {"rm_demand", "INSERT INTO {schema}.meeting_demands (meeting_id, idx, request_id, service_code)"
                  " VALUES ($1, $2::int, $3, $4) ON CONFLICT DO NOTHING"},
    {"rm_recorded", "UPDATE {schema}.meetings SET status = 'recorded', updated_at = now()"
                    " WHERE id = $1 AND (SELECT count(*) FROM {schema}.meeting_demands d"
                    "  WHERE d.meeting_id = $1) = demands_total"},
    {"rm_abandon", "DELETE FROM {schema}.meetings m WHERE id = $1 AND status = 'filing'"
                   " AND NOT EXISTS (SELECT 1 FROM {schema}.meeting_demands d WHERE d.meeting_id = "
                   "m.id)"},
    {"rm_get", "SELECT m.id, m.community_code, coalesce(u.name, ''),"
               " to_char(m.held_on, 'YYYY-MM-DD'), m.place, m.participants,"
               " (SELECT coalesce(json_agg(json_build_object('staff_id', x.h, 'name',"
               "   coalesce(s.name, ''), 'role', coalesce(s.role, ''), 'unit_code',"
               "   coalesce(s.unit_code, '')) ORDER BY x.n), '[]')"
               "  FROM unnest (m.hosts) WITH ORDINALITY AS x (h, n)"
               "  LEFT JOIN org.staff s ON s.id = x.h),"
               " m.recorded_by, m.status, m.demands_total,"
               " (extract(epoch FROM m.created_at) * 1000000)::bigint"
               " FROM {schema}.meetings m LEFT JOIN org.units u ON u.code = m.community_code"
               " WHERE m.id = $1"},
    {"rm_demands",
     "SELECT d.idx, d.request_id, d.service_code, r.state, r.tier, r.description,"
     " r.building_code, r.assignee_staff, r.assignee_name, r.assignee_unit_name,"
     " r.response_due_us, r.resolve_due_us, r.merged_into, r.level"
     " FROM {schema}.meeting_demands d LEFT JOIN {schema}.requests r ON r.id = d.request_id"
     " WHERE d.meeting_id = $1 ORDER BY d.idx"},
    {"rm_list", "SELECT m.id, m.community_code, to_char(m.held_on, 'YYYY-MM-DD'), m.place,"
                " m.participants, array_to_json(m.hosts), m.status, m.demands_total,"
                " (SELECT count(*) FROM {schema}.meeting_demands d WHERE d.meeting_id = m.id),"
                " (SELECT count(*) FROM {schema}.meeting_demands d JOIN {schema}.requests r"
                "   ON r.id = d.request_id WHERE d.meeting_id = m.id"
                "   AND r.state IN ('resolved', 'rated', 'closed'))"
                " FROM {schema}.meetings m"
                " WHERE ($1::text IS NULL OR m.community_code = $1)"
                " AND ($2::date IS NULL OR m.held_on >= $2::date)"
                " AND ($3::date IS NULL OR m.held_on <= $3::date)"
                " ORDER BY m.held_on DESC, m.created_at DESC, m.id DESC LIMIT 500"},
};

void
routing_meetings_prepare (gz_db_t *db, const char *schema)
{
    gz_auth_prepare (db, schema);
    for (size_t i = 0; i < sizeof s_sqls / sizeof s_sqls[0]; i++)
        gz_db_prepare_schema (db, s_sqls[i].name, s_sqls[i].sql, schema);
}

//  ---------------------------------------------------------------- checks

//  Run statement name with one parameter: 1 when it returns exactly one
//  row (*cell a copy of its first column when cell is not NULL, the
//  caller's), 0 otherwise, -1 failure.
static int
s_one_row (gz_db_t *db, const char *name, const char *param, char **cell)
{
    const char *v[1] = {param};
    PGresult *r = gz_db_exec (db, name, 1, v);
    if (!r)
        return -1;
    bool one = PQntuples (r) == 1;
    if (one && cell)
        *cell = strdup (PQgetvalue (r, 0, 0));
    PQclear (r);
    return one;
}

int
routing_meetings_community_known (gz_db_t *db, const char *community)
{
    return s_one_row (db, "rm_community", community, NULL);
}

int
routing_meetings_unknown_host (gz_db_t *db, const char *hosts, char *host, size_t len)
{
    //  rm_unknown_host returns one row at most (LIMIT 1).
    char *first = NULL;
    int found = s_one_row (db, "rm_unknown_host", hosts, &first);
    if (found == 1)
        snprintf (host, len, "%s", first);
    free (first);
    return found;
}

int
routing_meetings_building_parent (gz_db_t *db, const char *building, char **parent)
{
    *parent = NULL;
    return s_one_row (db, "rm_building", building, parent);
}

int
routing_meetings_first_building (gz_db_t *db, const char *community, char **building)
{
    *building = NULL;
    return s_one_row (db, "rm_first_building", community, building);
}

//  ---------------------------------------------------------------- claim and record

int
routing_meetings_sha (gz_db_t *db, const char *text, char sha[80])
{
    const char *vs[1] = {text};
    PGresult *r = gz_db_exec (db, "rm_sha", 1, vs);
    if (!r)
        return -1;
    snprintf (sha, 80, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    return 0;
}

int
routing_meetings_claim (gz_db_t *db, const char *const *v, char id[32])
{
    PGresult *r = gz_db_exec (db, "rm_claim", 10, v);
    if (!r)
        return -1;
    bool inserted = PQntuples (r) == 1;
    if (inserted)
        snprintf (id, 32, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    return inserted;
}

int
routing_meetings_by_key (gz_db_t *db, const char *community, const char *key, const char *sha,
                         char id[32], bool *same, bool *recorded)
{
    const char *vk[2] = {community, key};
    PGresult *r = gz_db_exec (db, "rm_by_key", 2, vk);
    if (!r)
        return -1;
    bool found = PQntuples (r) == 1;
    if (found) {
        snprintf (id, 32, "%s", PQgetvalue (r, 0, 0));
        *same = strcmp (PQgetvalue (r, 0, 1), sha) == 0;
        *recorded = strcmp (PQgetvalue (r, 0, 2), "recorded") == 0;
    }
    PQclear (r);
    return found;
}

int
routing_meetings_record (gz_db_t *db, const routing_meeting_t *m, const char *id, char **ids,
                         size_t accepted, bool nothing_filed)
{
    if (gz_db_begin (db))
        return -1;
    char idx[24];
    for (size_t i = 0; i < accepted; i++) {
        snprintf (idx, sizeof idx, "%zu", i);
        const char *v[4] = {id, idx, ids[i], m->demands[i].service_code};
        PGresult *r = gz_db_exec (db, "rm_demand", 4, v);
        if (!r) {
            gz_db_rollback (db);
            return -1;
        }
        PQclear (r);
    }
    const char *v1[1] = {id};
    //  rm_recorded changes nothing until every demand is in.
    PGresult *r = gz_db_exec (db, nothing_filed ? "rm_abandon" : "rm_recorded", 1, v1);
    if (!r) {
        gz_db_rollback (db);
        return -1;
    }
    PQclear (r);
    return gz_db_commit (db);
}

int
routing_meetings_demand_ids (gz_db_t *db, const char *id, char **ids, size_t n)
{
    const char *v[1] = {id};
    PGresult *r = gz_db_exec (db, "rm_demands", 1, v);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples (r); i++) {
        size_t at = (size_t) atoi (PQgetvalue (r, i, 0));
        if (at < n && !ids[at])
            ids[at] = strdup (PQgetvalue (r, i, 1));
    }
    PQclear (r);
    return 0;
}

//  ---------------------------------------------------------------- views

static json_t *
s_demand_view (PGresult *r, int i)
{
    json_t *o = json_object ();
    const gz_category_t *cat = gz_category_find (PQgetvalue (r, i, 2));
    json_object_set_new (o, "index", json_integer (atoi (PQgetvalue (r, i, 0))));
    json_object_set_new (o, "request_id", routing_store_jstr (r, i, 1));
    json_object_set_new (o, "category", routing_store_jstr (r, i, 2));
    json_object_set_new (o, "category_name", json_string (cat ? cat->name : ""));
    //  Not routed yet: intake has it, routing has not seen the event.
    json_object_set_new (o, "state",
                         PQgetisnull (r, i, 3) ? json_string ("submitted")
                                               : routing_store_jstr (r, i, 3));
    json_object_set_new (o, "tier",
                         PQgetisnull (r, i, 4)
                             ? json_null ()
                             : json_string (routing_tier_name (atoi (PQgetvalue (r, i, 4)))));
    json_object_set_new (o, "description", routing_store_jstr (r, i, 5));
    json_object_set_new (o, "building_code", routing_store_jstr (r, i, 6));
    json_object_set_new (o, "assignee",
                         PQgetisnull (r, i, 3)
                             ? json_null ()
                             : json_pack ("{s:o,s:s,s:s}", "staff_id", routing_store_jstr (r, i, 7),
                                          "name", PQgetvalue (r, i, 8), "unit_name",
                                          PQgetvalue (r, i, 9)));
    json_object_set_new (o, "deadlines",
                         json_pack ("{s:o,s:o}", "response", routing_store_jtime (r, i, 10),
                                    "resolve", routing_store_jtime (r, i, 11)));
    json_object_set_new (o, "merged_into", routing_store_jstr (r, i, 12));
    json_object_set_new (o, "escalation_level",
                         PQgetisnull (r, i, 13) ? json_integer (0)
                                                : json_integer (atoi (PQgetvalue (r, i, 13))));
    return o;
}

int
routing_meetings_view (gz_db_t *db, const char *id, json_t **out)
{
    *out = NULL;
    const char *v[1] = {id};
    PGresult *r = gz_db_exec (db, "rm_get", 1, v);
    if (!r)
        return -1;
    if (PQntuples (r) != 1) {
        PQclear (r);
        return 0;
    }
    json_t *list = routing_store_jrows (db, "rm_demands", 1, v, s_demand_view);
    if (!list) {
        PQclear (r);
        return -1;
    }
    json_t *o = json_object ();
    json_object_set_new (o, "id", routing_store_jstr (r, 0, 0));
    json_object_set_new (o, "community_code", routing_store_jstr (r, 0, 1));
    json_object_set_new (o, "community_name", routing_store_jstr (r, 0, 2));
    json_object_set_new (o, "date", routing_store_jstr (r, 0, 3));
    json_object_set_new (o, "place", routing_store_jstr (r, 0, 4));
    json_object_set_new (o, "participants", json_integer (atoi (PQgetvalue (r, 0, 5))));
    json_t *hosts = json_loads (PQgetvalue (r, 0, 6), 0, NULL);
    json_object_set_new (o, "hosts", hosts ? hosts : json_array ());
    json_object_set_new (o, "recorded_by", routing_store_jstr (r, 0, 7));
    json_object_set_new (o, "status", routing_store_jstr (r, 0, 8));
    json_object_set_new (o, "demands_total", json_integer (atoi (PQgetvalue (r, 0, 9))));
    json_object_set_new (o, "created_at", routing_store_jtime (r, 0, 10));
    json_object_set_new (o, "demands", list);
    PQclear (r);
    *out = o;
    return 1;
}

//  A row of rm_list.
static json_t *
s_meeting_row (PGresult *r, int i)
{
    json_t *o = json_object ();
    json_object_set_new (o, "id", routing_store_jstr (r, i, 0));
    json_object_set_new (o, "community_code", routing_store_jstr (r, i, 1));
    json_object_set_new (o, "date", routing_store_jstr (r, i, 2));
    json_object_set_new (o, "place", routing_store_jstr (r, i, 3));
    json_object_set_new (o, "participants", json_integer (atoi (PQgetvalue (r, i, 4))));
    json_t *hosts = json_loads (PQgetvalue (r, i, 5), 0, NULL);
    json_object_set_new (o, "hosts", hosts ? hosts : json_array ());
    json_object_set_new (o, "status", routing_store_jstr (r, i, 6));
    json_object_set_new (o, "demands_total", json_integer (atoi (PQgetvalue (r, i, 7))));
    json_object_set_new (o, "demands_filed", json_integer (atoi (PQgetvalue (r, i, 8))));
    json_object_set_new (o, "demands_resolved", json_integer (atoi (PQgetvalue (r, i, 9))));
    return o;
}

json_t *
routing_meetings_list (gz_db_t *db, const char *community, const char *from, const char *to)
{
    const char *v[3] = {community, from, to};
    return routing_store_jrows (db, "rm_list", 3, v, s_meeting_row);
}
