/*  gz_auth: bearer token -> caller, one statement for every service that
    keeps a tokens table (see gz_auth.h). Exists so the lookup, its
    hashing and its join to the org directory are written once.  */
#include "gz_auth.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

//  in_org is s.id IS NOT NULL: unit_code is NOT NULL in org.staff.
#define S_CALLER                                                                                   \
    "SELECT t.role, coalesce(t.staff_id, ''), t.label, s.id IS NOT NULL,"                          \
    " coalesce(s.unit_code, ''), coalesce(u.level, ''), coalesce(u.parent_code, '')"               \
    " FROM {schema}.tokens t LEFT JOIN org.staff s ON s.id = t.staff_id"                           \
    " LEFT JOIN org.units u ON u.code = s.unit_code"                                               \
    " WHERE t.token_sha256 = encode(sha256(convert_to($1, 'UTF8')), 'hex')"                        \
    " AND t.expires_at > now()"

#define S_INSTALL                                                                                  \
    "INSERT INTO {schema}.tokens (token_sha256, staff_id, role, label)"                            \
    " VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2, $3, $4)"                          \
    " ON CONFLICT (token_sha256) DO UPDATE SET staff_id = EXCLUDED.staff_id,"                      \
    " role = EXCLUDED.role, label = EXCLUDED.label, expires_at = EXCLUDED.expires_at"

int
gz_auth_prepare (gz_db_t *db, const char *schema)
{
    assert (db && schema);
    if (gz_db_prepare_schema (db, "gz_auth_caller", S_CALLER, schema) ||
        gz_db_prepare_schema (db, "gz_auth_install", S_INSTALL, schema))
        return -1;
    return 0;
}

static void
s_copy (char *to, size_t size, PGresult *r, int col)
{
    snprintf (to, size, "%s", PQgetvalue (r, 0, col));
}

int
gz_auth_caller (gz_db_t *db, const char *token, gz_caller_t *out)
{
    assert (db && token && out);
    memset (out, 0, sizeof *out);
    const char *v[1] = {token};
    PGresult *r = gz_db_exec (db, "gz_auth_caller", 1, v);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        s_copy (out->role, sizeof out->role, r, 0);
        s_copy (out->staff_id, sizeof out->staff_id, r, 1);
        s_copy (out->label, sizeof out->label, r, 2);
        out->in_org = PQgetvalue (r, 0, 3)[0] == 't';
        s_copy (out->unit_code, sizeof out->unit_code, r, 4);
        s_copy (out->unit_level, sizeof out->unit_level, r, 5);
        s_copy (out->unit_parent, sizeof out->unit_parent, r, 6);
        rc = 0;
    }
    PQclear (r);
    return rc;
}

int
gz_auth_install (gz_db_t *db, const char *token, const char *staff_id, const char *role,
                 const char *label)
{
    assert (db && token && role);
    const char *v[4] = {token, staff_id, role, label ? label : ""};
    PGresult *r = gz_db_exec (db, "gz_auth_install", 4, v);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

bool
gz_auth_secret_equal (const char *given, const char *expected)
{
    if (!given || !expected)
        return false;
    size_t n = strlen (expected);
    if (strlen (given) != n)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char) (given[i] ^ expected[i]);
    return diff == 0;
}
