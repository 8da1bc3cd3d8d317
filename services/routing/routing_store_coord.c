/*  routing_store_coord: the SQL of the coordinator page (/w/coord,
    routing_pages_coord.c): the open work of a coordinator's area and the
    people of the units under them. Read statements on the pool
    connections (blocking routes), never the writer: reassigning goes
    through the actor like every action (routing_commands.c).

    A coordinator's area is what reassign authorizes (routing_commands.c,
    s_authorize_reassign): requests whose place (grid, community or
    sub-district) is their unit, or whose assignee's unit lies under it
    on the ladder (org.units' parents, walked by a recursive CTE).  */
#include "routing.h"

#include <stdlib.h>

#define S_OPEN_STATES "('assigned', 'accepted', 'verified', 'in_progress')"

//  The unit $1 and every unit under it.
#define S_UNDER                                                                                    \
    "WITH RECURSIVE under(code) AS (SELECT $1::text"                                               \
    " UNION SELECT u.code FROM org.units u JOIN under ON u.parent_code = under.code) "

static const struct {
    const char *name;
    const char *sql;
} s_sqls[] = {
    //  As rh_queue (next_due: the response deadline while it runs),
    //  with the assignee's unit code for the counts by unit.
    {"rc_open",
     S_UNDER "SELECT r.id, r.state, r.service_code, r.building_code, r.assignee_staff,"
             " r.assignee_name, r.assignee_unit, r.assignee_unit_name,"
             " CASE WHEN r.responded_at_us IS NULL AND r.state IN ('assigned', 'accepted')"
             "  THEN least(r.response_due_us, r.resolve_due_us) ELSE r.resolve_due_us END"
             "  AS next_due"
             " FROM {schema}.requests r WHERE r.state IN " S_OPEN_STATES
             " AND (r.grid_code = $1 OR r.community_code = $1 OR r.subdistrict_code = $1"
             "  OR r.assignee_unit IN (SELECT code FROM under))"
             " ORDER BY next_due, r.id LIMIT 500"},
    //  Who a request may be reassigned to: the staff of the units under.
    {"rc_people", S_UNDER "SELECT s.id, s.name, s.unit_code, coalesce(u.name, s.unit_code), s.role"
                          " FROM org.staff s JOIN under ON under.code = s.unit_code"
                          " LEFT JOIN org.units u ON u.code = s.unit_code"
                          " ORDER BY s.unit_code, s.id LIMIT 2000"},
};

void
routing_coord_prepare (gz_db_t *db, const char *schema)
{
    for (size_t i = 0; i < sizeof s_sqls / sizeof s_sqls[0]; i++)
        gz_db_prepare_schema (db, s_sqls[i].name, s_sqls[i].sql, schema);
}

//  A row of rc_open.
static json_t *
s_open_row (PGresult *r, int i)
{
    json_t *o = json_object ();
    json_object_set_new (o, "id", routing_store_jstr (r, i, 0));
    json_object_set_new (o, "state", routing_store_jstr (r, i, 1));
    json_object_set_new (o, "category", routing_store_jstr (r, i, 2));
    json_object_set_new (o, "building_code", routing_store_jstr (r, i, 3));
    json_object_set_new (o, "assignee",
                         json_pack ("{s:o,s:o,s:o,s:o}", "staff_id", routing_store_jstr (r, i, 4),
                                    "name", routing_store_jstr (r, i, 5), "unit_code",
                                    routing_store_jstr (r, i, 6), "unit_name",
                                    routing_store_jstr (r, i, 7)));
    json_object_set_new (o, "next_due", routing_store_jtime (r, i, 8));
    return o;
}

//  A row of rc_people.
static json_t *
s_person_row (PGresult *r, int i)
{
    return json_pack ("{s:o,s:o,s:o,s:o,s:o}", "staff_id", routing_store_jstr (r, i, 0), "name",
                      routing_store_jstr (r, i, 1), "unit_code", routing_store_jstr (r, i, 2),
                      "unit_name", routing_store_jstr (r, i, 3), "role",
                      routing_store_jstr (r, i, 4));
}

json_t *
routing_coord_open (gz_db_t *db, const char *area)
{
    const char *v[1] = {area};
    return routing_store_jrows (db, "rc_open", 1, v, s_open_row);
}

json_t *
routing_coord_people (gz_db_t *db, const char *area)
{
    const char *v[1] = {area};
    return routing_store_jrows (db, "rc_people", 1, v, s_person_row);
}
