/*  routing_store_callback: the SQL of the workbench's 回访 page and of
    the resident's phone (routing_pages_callback.c): the resolved
    requests of a sub-district waiting for a rating, and the timeline row
    every view of a resident's phone leaves. Prepared on the read pool's
    connections (the pages' worker threads).  */
#include "routing_pages.h"

#include <inttypes.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *sql;
} s_sqls[] = {
    //  The result is the note of the last resolution ("已办结：…").
    {"wc_list", "SELECT r.id, r.service_code, coalesce(r.building_code, ''), r.description,"
                " r.resolved_at_us, r.assignee_name, r.assignee_unit_name,"
                " coalesce((SELECT t.note FROM {schema}.timeline t WHERE t.request_id = r.id"
                "   AND t.kind = 'resolved' ORDER BY t.seq DESC LIMIT 1), '')"
                " FROM {schema}.requests r WHERE r.state = 'resolved' AND r.subdistrict_code = $1"
                " ORDER BY r.resolved_at_us, r.id LIMIT 50"},
    {"wc_viewed", "INSERT INTO {schema}.timeline (request_id, at_us, kind, state, actor_id,"
                  " actor_name, actor_role, note)"
                  " SELECT id, $2::bigint, 'contact_viewed', state, $3, $4, $5, $6"
                  " FROM {schema}.requests WHERE id = $1"},
};

void
routing_callback_prepare (gz_db_t *db, const char *schema)
{
    for (size_t i = 0; i < sizeof s_sqls / sizeof s_sqls[0]; i++)
        gz_db_prepare_schema (db, s_sqls[i].name, s_sqls[i].sql, schema);
}

static json_t *
s_row (PGresult *r, int i)
{
    return json_pack ("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "id", PQgetvalue (r, i, 0), "category",
                      PQgetvalue (r, i, 1), "building_code", PQgetvalue (r, i, 2), "description",
                      PQgetvalue (r, i, 3), "resolved_at_us",
                      (json_int_t) strtoll (PQgetvalue (r, i, 4), NULL, 10), "assignee_name",
                      PQgetvalue (r, i, 5), "assignee_unit_name", PQgetvalue (r, i, 6), "result",
                      PQgetvalue (r, i, 7));
}

json_t *
routing_store_callback_list (gz_db_t *db, const char *subdistrict)
{
    const char *v[1] = {subdistrict};
    return routing_store_jrows (db, "wc_list", 1, v, s_row);
}

int
routing_store_contact_viewed (gz_db_t *db, const char *id, const routing_viewer_t *v, int64_t at_us,
                              const char *note)
{
    char at[24];
    snprintf (at, sizeof at, "%" PRId64, at_us);
    const char *p[6] = {id, at, v->caller.staff_id, v->name, v->caller.role, note};
    PGresult *r = gz_db_exec (db, "wc_viewed", 6, p);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}
