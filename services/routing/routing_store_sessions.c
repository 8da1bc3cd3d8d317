/*  routing_store_sessions: the SQL of the staff's workbench (/w/,
    routing_pages.c): one-time sign-in codes (gzctl token issue writes
    them), browser sessions, and who a session belongs to. Prepared on
    every read-pool connection (the sign-in pages) and on the writer (the
    actor authenticates a page's command by its session). Codes and
    session ids are hashed in PostgreSQL, as gz_auth hashes tokens: only
    their SHA-256 is ever stored or compared.  */
#include "routing.h"

#include <stdio.h>
#include <string.h>

#define S_SHA(p) "encode(sha256(convert_to(" p ", 'UTF8')), 'hex')"

//  Session rows carry the staff member's unit, as gz_auth's caller does.
#define S_WHO " st.unit_code, coalesce(u.level, ''), coalesce(u.parent_code, ''), st.name, st.role"

static const struct {
    const char *name;
    const char *sql;
} s_sqls[] = {
    //  A code signs in once, within its validity, and only a member of
    //  the directory: the code is spent and the session made in one
    //  statement.
    {"ws_from_code",
     "WITH c AS (UPDATE {schema}.login_codes SET used_at = now()"
     "  WHERE code_sha256 = " S_SHA (
         "$1") " AND used_at IS NULL"
               "  AND expires_at > now()"
               "  AND EXISTS (SELECT 1 FROM org.staff s WHERE s.id = staff_id)"
               "  RETURNING staff_id)"
               " INSERT INTO {schema}.sessions (session_sha256, staff_id, expires_at)"
               " SELECT " S_SHA ("$2") ", staff_id, now() + interval '12 hours' FROM c"
                                       " RETURNING staff_id"},
    //  A staff bearer token (not an operator's) opens a session too.
    {"ws_from_token",
     "INSERT INTO {schema}.sessions (session_sha256, staff_id, expires_at)"
     " SELECT " S_SHA ("$2") ", t.staff_id, now() + interval '12 hours'"
                             " FROM {schema}.tokens t JOIN org.staff s ON s.id = t.staff_id"
                             " WHERE t.token_sha256 = " S_SHA (
                                 "$1") " AND t.expires_at > now()"
                                       " AND t.role = 'staff' RETURNING staff_id"},
    {"ws_end", "DELETE FROM {schema}.sessions WHERE session_sha256 = " S_SHA ("$1")},
    {"ws_prune", "WITH a AS (DELETE FROM {schema}.sessions WHERE expires_at < now()"
                 "  - interval '1 day')"
                 " DELETE FROM {schema}.login_codes WHERE expires_at < now() - interval '1 day'"},
    {"ws_who", "SELECT x.staff_id," S_WHO " FROM {schema}.sessions x"
               " JOIN org.staff st ON st.id = x.staff_id"
               " LEFT JOIN org.units u ON u.code = st.unit_code"
               " WHERE x.session_sha256 = " S_SHA ("$1") " AND x.expires_at > now()"},
};

void
routing_sessions_prepare (gz_db_t *db, const char *schema)
{
    for (size_t i = 0; i < sizeof s_sqls / sizeof s_sqls[0]; i++)
        gz_db_prepare_schema (db, s_sqls[i].name, s_sqls[i].sql, schema);
}

//  Run name with (secret, session); 1 and staff_id filled when a row came
//  back, 0 none, -1 failure.
static int
s_open (gz_db_t *db, const char *name, const char *secret, const char *session, char staff_id[80])
{
    const char *pv[1] = {NULL};
    PGresult *r = gz_db_exec (db, "ws_prune", 0, pv);
    PQclear (r);
    const char *v[2] = {secret, session};
    r = gz_db_exec (db, name, 2, v);
    if (!r)
        return -1;
    int found = PQntuples (r) == 1;
    if (found)
        snprintf (staff_id, 80, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    return found;
}

int
routing_session_from_code (gz_db_t *db, const char *code, const char *session, char staff_id[80])
{
    return s_open (db, "ws_from_code", code, session, staff_id);
}

int
routing_session_from_token (gz_db_t *db, const char *token, const char *session, char staff_id[80])
{
    return s_open (db, "ws_from_token", token, session, staff_id);
}

int
routing_session_end (gz_db_t *db, const char *session)
{
    const char *v[1] = {session};
    PGresult *r = gz_db_exec (db, "ws_end", 1, v);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

int
routing_session_caller (gz_db_t *db, const char *session, routing_caller_t *c, char name[80])
{
    memset (c, 0, sizeof *c);
    if (name)
        name[0] = 0;
    const char *v[1] = {session};
    PGresult *r = gz_db_exec (db, "ws_who", 1, v);
    if (!r)
        return -1;
    int found = PQntuples (r) == 1;
    if (found) {
        c->known = true;
        snprintf (c->staff_id, sizeof c->staff_id, "%s", PQgetvalue (r, 0, 0));
        snprintf (c->unit, sizeof c->unit, "%s", PQgetvalue (r, 0, 1));
        const char *level = PQgetvalue (r, 0, 2);
        if (strcmp (level, "community") == 0)
            snprintf (c->community, sizeof c->community, "%s", PQgetvalue (r, 0, 1));
        else if (strcmp (level, "grid") == 0)
            snprintf (c->community, sizeof c->community, "%s", PQgetvalue (r, 0, 3));
        if (name)
            snprintf (name, 80, "%s", PQgetvalue (r, 0, 4));
        snprintf (c->role, sizeof c->role, "%s", PQgetvalue (r, 0, 5));
    }
    PQclear (r);
    return found;
}
