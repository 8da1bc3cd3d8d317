/*  analytics_store_report: the SQL of the monthly report (the rest of its
    numbers come from analytics_store.c's sums, volumes and hot spots):
    unit and building names from the org directory, the overdue requests
    under a node from analytics' facts, and the 逢四说事 meetings from
    routing's schema (routing.meetings, read only).  */
#include "analytics.h"
#include "analytics_report.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_unit_sql = "SELECT level, name FROM org.units WHERE code = $1";

static const char *const s_children_sql =
    "SELECT code, name FROM org.units WHERE parent_code = $1 AND level <> 'department'"
    " ORDER BY sort_order, code";

static const char *const s_building_sql = "SELECT name FROM org.buildings WHERE code = $1";

//  Open requests under the node past their resolve deadline at $3 (us),
//  filed on or before $2: not resolved, not merged, not invalid.
static const char *const s_overdue_sql =
    "SELECT f.request_id, f.category, f.building, coalesce(b.name, ''),"
    " to_char(f.day, 'YYYY-MM-DD'),"
    " to_char(to_timestamp(f.resolve_due_us / 1e6) AT TIME ZONE 'Asia/Shanghai',"
    "  'YYYY-MM-DD HH24:MI'),"
    " (($3::bigint - f.resolve_due_us) / 86400000000)::bigint"
    " FROM {schema}.facts f LEFT JOIN org.buildings b ON b.code = f.building"
    " WHERE NOT f.resolved AND NOT f.merged AND NOT f.invalid AND f.submitted_us > 0"
    " AND f.resolve_due_us > 0 AND f.resolve_due_us < $3::bigint AND f.day <= $2::date"
    " AND $1 IN (f.grid, f.community, f.subdistrict, f.district, f.department)"
    " ORDER BY f.resolve_due_us, f.request_id LIMIT 1000";

//  Meetings recorded in [$2, $3] by the communities at or under $1 (a
//  community, its sub-district, its district).
static const char *const s_meetings_sql =
    "SELECT m.id, m.community_code, coalesce(u.name, ''), to_char(m.held_on, 'YYYY-MM-DD'),"
    " m.place, m.participants, m.demands_total"
    " FROM {schema}.meetings m LEFT JOIN org.units u ON u.code = m.community_code"
    " WHERE m.status = 'recorded' AND m.held_on BETWEEN $2::date AND $3::date"
    " AND (m.community_code = $1 OR u.parent_code = $1 OR u.parent_code IN"
    "  (SELECT code FROM org.units WHERE parent_code = $1))"
    " ORDER BY m.held_on, m.id";

void
analytics_store_prepare_report (gz_db_t *db, const char *schema, const char *routing_schema)
{
    gz_db_prepare (db, "an_rep_unit", s_unit_sql);
    gz_db_prepare (db, "an_rep_children", s_children_sql);
    gz_db_prepare (db, "an_rep_building", s_building_sql);
    gz_db_prepare_schema (db, "an_rep_overdue", s_overdue_sql, schema);
    gz_db_prepare_schema (db, "an_rep_meetings", s_meetings_sql, routing_schema);
}

int
analytics_store_unit (gz_db_t *db, const char *code, char *level, size_t level_size, char *name,
                      size_t name_size)
{
    const char *values[] = {code};
    PGresult *r = gz_db_exec (db, "an_rep_unit", 1, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found) {
        snprintf (level, level_size, "%s", PQgetvalue (r, 0, 0));
        snprintf (name, name_size, "%s", PQgetvalue (r, 0, 1));
    }
    PQclear (r);
    return found;
}

int
analytics_store_report_children (gz_db_t *db, const char *code, analytics_report_t *rep)
{
    const char *values[] = {code};
    PGresult *r = gz_db_exec (db, "an_rep_children", 1, values);
    if (!r)
        return -1;
    size_t n = (size_t) PQntuples (r);
    rep->units = calloc (n ? n : 1, sizeof *rep->units);
    assert (rep->units);
    for (size_t i = 0; i < n; i++) {
        snprintf (rep->units[i].code, sizeof rep->units[i].code, "%s", PQgetvalue (r, (int) i, 0));
        snprintf (rep->units[i].name, sizeof rep->units[i].name, "%s", PQgetvalue (r, (int) i, 1));
    }
    rep->n_units = n;
    PQclear (r);
    return 0;
}

int
analytics_store_building_name (gz_db_t *db, const char *code, char *name, size_t size)
{
    const char *values[] = {code};
    PGresult *r = gz_db_exec (db, "an_rep_building", 1, values);
    if (!r)
        return -1;
    snprintf (name, size, "%s", PQntuples (r) > 0 ? PQgetvalue (r, 0, 0) : "");
    PQclear (r);
    return 0;
}

int
analytics_store_report_overdue (gz_db_t *db, const char *node, const char *to, int64_t as_of_us,
                                analytics_report_t *rep)
{
    char at[32];
    snprintf (at, sizeof at, "%lld", (long long) as_of_us);
    const char *values[] = {node, to, at};
    PGresult *r = gz_db_exec (db, "an_rep_overdue", 3, values);
    if (!r)
        return -1;
    size_t n = (size_t) PQntuples (r);
    rep->overdue = calloc (n ? n : 1, sizeof *rep->overdue);
    assert (rep->overdue);
    for (size_t i = 0; i < n; i++) {
        analytics_report_overdue_t *o = &rep->overdue[i];
        int row = (int) i;
        snprintf (o->request_id, sizeof o->request_id, "%s", PQgetvalue (r, row, 0));
        snprintf (o->category, sizeof o->category, "%s", PQgetvalue (r, row, 1));
        snprintf (o->building, sizeof o->building, "%s", PQgetvalue (r, row, 2));
        snprintf (o->building_name, sizeof o->building_name, "%s", PQgetvalue (r, row, 3));
        snprintf (o->submitted, sizeof o->submitted, "%s", PQgetvalue (r, row, 4));
        snprintf (o->due, sizeof o->due, "%s", PQgetvalue (r, row, 5));
        o->days_overdue = atoll (PQgetvalue (r, row, 6));
    }
    rep->n_overdue = n;
    PQclear (r);
    return 0;
}

int
analytics_store_report_meetings (gz_db_t *db, const char *node, const char *from, const char *to,
                                 analytics_report_t *rep)
{
    const char *values[] = {node, from, to};
    PGresult *r = gz_db_exec (db, "an_rep_meetings", 3, values);
    if (!r) {
        gz_warn ("analytics",
                 "msg=\"meetings unreadable (has routing started once?)\" error=\"%s\"",
                 gz_db_error (db));
        return -1;
    }
    size_t n = (size_t) PQntuples (r);
    rep->meetings = calloc (n ? n : 1, sizeof *rep->meetings);
    assert (rep->meetings);
    for (size_t i = 0; i < n; i++) {
        analytics_report_meeting_t *m = &rep->meetings[i];
        int row = (int) i;
        snprintf (m->id, sizeof m->id, "%s", PQgetvalue (r, row, 0));
        snprintf (m->community, sizeof m->community, "%s", PQgetvalue (r, row, 1));
        snprintf (m->community_name, sizeof m->community_name, "%s", PQgetvalue (r, row, 2));
        snprintf (m->held_on, sizeof m->held_on, "%s", PQgetvalue (r, row, 3));
        snprintf (m->place, sizeof m->place, "%s", PQgetvalue (r, row, 4));
        m->participants = atoll (PQgetvalue (r, row, 5));
        m->demands = atoll (PQgetvalue (r, row, 6));
    }
    rep->n_meetings = n;
    PQclear (r);
    return 0;
}
