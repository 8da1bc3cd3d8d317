/*  analytics_store_people: the reads of work in hand and meetings, from
    routing's schema (the current state is routing's: analytics reads it,
    never writes it, on its read pool), for /api/v1/staff and
    /api/v1/meetings. node_all: the node is the district (routing's rows
    carry grid, community and sub-district codes only).  */
#include "analytics.h"

#include <stdio.h>
#include <stdlib.h>

#define S_OPEN "state IN ('assigned', 'accepted', 'verified', 'in_progress')"
#define S_UNDER "($1 IN (grid_code, community_code, subdistrict_code) OR $3::boolean)"

static const char *const s_staff_sql =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.overdue DESC, x.open DESC, x.staff),"
    " '[]')::text FROM (SELECT coalesce(assignee_staff, '') AS staff, assignee_name AS name,"
    " assignee_unit AS unit, assignee_unit_name AS unit_name, count(*) AS open,"
    " count(*) FILTER (WHERE resolve_due_us < $2::bigint) AS overdue"
    " FROM {schema}.requests WHERE " S_OPEN " AND " S_UNDER " GROUP BY 1, 2, 3, 4) x";

static const char *const s_units_sql =
    "SELECT coalesce(json_agg(row_to_json(x) ORDER BY x.overdue DESC, x.open DESC, x.unit),"
    " '[]')::text FROM (SELECT assignee_unit AS unit, assignee_unit_name AS unit_name,"
    " count(*) AS open, count(*) FILTER (WHERE resolve_due_us < $2::bigint) AS overdue"
    " FROM {schema}.requests WHERE " S_OPEN " AND " S_UNDER " GROUP BY 1, 2) x";

static const char *const s_meetings_sql =
    "WITH m AS (SELECT m.id, m.participants, m.demands_total FROM {schema}.meetings m"
    "  JOIN org.units c ON c.code = m.community_code WHERE m.status = 'recorded'"
    "  AND m.held_on BETWEEN $2::date AND $3::date"
    "  AND ($1 IN (m.community_code, c.parent_code) OR $4::boolean))"
    " SELECT json_build_object('meetings', (SELECT count(*) FROM m),"
    "  'participants', (SELECT coalesce(sum(participants), 0) FROM m),"
    "  'demands', (SELECT coalesce(sum(demands_total), 0) FROM m),"
    "  'demands_resolved', (SELECT count(*) FROM {schema}.meeting_demands d"
    "    JOIN {schema}.requests r ON r.id = d.request_id WHERE d.meeting_id IN (SELECT id FROM m)"
    "    AND r.state IN ('resolved', 'rated', 'closed')))::text";

void
analytics_store_people_prepare_read (gz_db_t *db, const char *routing_schema)
{
    gz_db_prepare_schema (db, "an_staff", s_staff_sql, routing_schema);
    gz_db_prepare_schema (db, "an_units", s_units_sql, routing_schema);
    gz_db_prepare_schema (db, "an_meetings", s_meetings_sql, routing_schema);
}

static json_t *
s_json (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r)
        return NULL;
    json_t *j = json_loads (PQgetvalue (r, 0, 0), 0, NULL);
    PQclear (r);
    return j;
}

json_t *
analytics_store_staff (gz_db_t *db, const char *node, bool node_all, int64_t now_us)
{
    char now[32];
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {node, now, node_all ? "true" : "false"};
    json_t *people = s_json (db, "an_staff", 3, values);
    json_t *units = people ? s_json (db, "an_units", 3, values) : NULL;
    if (!units) {
        json_decref (people);
        return NULL;
    }
    return json_pack ("{s:o,s:o}", "staff", people, "units", units);
}

json_t *
analytics_store_meetings (gz_db_t *db, const char *node, bool node_all, const char *from,
                          const char *to)
{
    const char *values[] = {node, from, to, node_all ? "true" : "false"};
    return s_json (db, "an_meetings", 4, values);
}
