/*  routing_meetings_store: the SQL statements of the meetings API
    (routing_meetings.c), prepared on each read-pool connection. Kept
    apart so SQL lives in *_store.c files.  */
#include "gz_auth.h"
#include "routing_meetings.h"

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
