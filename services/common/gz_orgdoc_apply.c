/*  gz_orgdoc_apply: write a validated org directory document to the org
    schema, and count what the schema holds. See gz_orgdoc.h.

    DESIGN: gz_orgdoc_apply deletes the old directory and COPYs the new
    one in one transaction under an advisory lock, units sorted by level
    so parents precede children (the database checks the ladder again
    with its own foreign keys).  */
#include "gz_log.h"
#include "gz_orgdoc_private.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SVC "orgdoc"
//  Advisory lock held while the directory is replaced (gz_db uses 7220001).
#define S_APPLY_LOCK "7220002"

//  --------------------------------------------------------------------
//  Writing: COPY in text format

typedef struct {
    PGconn *conn;
    char buf[65536];
    size_t len;
    bool failed;
    bool first; //  next field starts a row
} s_copy_t;

static void
s_copy_flush (s_copy_t *copy)
{
    if (copy->len && !copy->failed && PQputCopyData (copy->conn, copy->buf, (int) copy->len) != 1)
        copy->failed = true;
    copy->len = 0;
}

static void
s_copy_put (s_copy_t *copy, const char *data, size_t n)
{
    if (copy->len + n > sizeof copy->buf)
        s_copy_flush (copy);
    assert (n <= sizeof copy->buf);
    memcpy (copy->buf + copy->len, data, n);
    copy->len += n;
}

//  One field: NULL is \N; backslash, tab, newline and return are escaped.
static void
s_copy_field (s_copy_t *copy, const char *value)
{
    if (!copy->first)
        s_copy_put (copy, "\t", 1);
    copy->first = false;
    if (!value) {
        s_copy_put (copy, "\\N", 2);
        return;
    }
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\\'   ? "\\\\"
                          : *p == '\t' ? "\\t"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                                       : NULL;
        if (esc)
            s_copy_put (copy, esc, 2);
        else
            s_copy_put (copy, p, 1);
    }
}

static void
s_copy_long (s_copy_t *copy, long value)
{
    char buf[32];
    snprintf (buf, sizeof buf, "%ld", value);
    s_copy_field (copy, buf);
}

//  Shortest form that reads back as the same double.
static void
s_copy_double (s_copy_t *copy, double value)
{
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf (buf, sizeof buf, "%.*g", digits, value);
        if (strtod (buf, NULL) == value)
            break;
    }
    s_copy_field (copy, buf);
}

static void
s_copy_row_end (s_copy_t *copy)
{
    s_copy_put (copy, "\n", 1);
    copy->first = true;
}

//  Logs a failed step. Only the primary message and the constraint go to
//  the log: a COPY error's context line quotes the row (names, phones).
static void
s_log_failure (const char *step, const char *message)
{
    char clean[512];
    gz_orgdoc_clean (message ? message : "", clean, sizeof clean);
    gz_error (S_SVC, "msg=\"org apply failed\" step=\"%s\" error=\"%s\"", step, clean);
}

static void
s_log_result (const char *step, const PGresult *r)
{
    const char *primary = PQresultErrorField (r, PG_DIAG_MESSAGE_PRIMARY);
    const char *constraint = PQresultErrorField (r, PG_DIAG_CONSTRAINT_NAME);
    const char *state = PQresultErrorField (r, PG_DIAG_SQLSTATE);
    char text[600];
    snprintf (text, sizeof text, "%s%s%s%s%s", state ? state : "", state ? " " : "",
              primary ? primary : PQresultErrorMessage (r), constraint ? " constraint=" : "",
              constraint ? constraint : "");
    s_log_failure (step, text);
}

static int
s_copy_begin (s_copy_t *copy, const char *sql)
{
    copy->len = 0;
    copy->failed = false;
    copy->first = true;
    PGresult *r = PQexec (copy->conn, sql);
    int rc = PQresultStatus (r) == PGRES_COPY_IN ? 0 : -1;
    if (rc)
        s_log_result (sql, r);
    PQclear (r);
    return rc;
}

static int
s_copy_end (s_copy_t *copy, const char *what)
{
    s_copy_flush (copy);
    int rc = 0;
    if (PQputCopyEnd (copy->conn, copy->failed ? "client failed to send" : NULL) != 1)
        rc = -1;
    PGresult *r;
    bool ok = false;
    while ((r = PQgetResult (copy->conn))) {
        if (PQresultStatus (r) == PGRES_COMMAND_OK)
            ok = true;
        else
            s_log_result (what, r);
        PQclear (r);
    }
    if (!ok || copy->failed)
        rc = -1;
    if (rc && copy->failed)
        s_log_failure (what, PQerrorMessage (copy->conn));
    return rc;
}

static int
s_apply_units (gz_orgdoc_t *self, s_copy_t *copy)
{
    if (s_copy_begin (copy, "COPY org.units (code, level, parent_code, name, phone, sort_order,"
                            " synthetic) FROM STDIN"))
        return -1;
    //  Parents first, though the foreign key is only checked at the end.
    for (int level = 0; level < GZ_ORG_LEVELS; level++)
        for (size_t i = 0; i < self->nunits; i++) {
            gz_orgdoc_unit_t *u = &self->units[i];
            if (u->level != level)
                continue;
            s_copy_field (copy, u->code);
            s_copy_field (copy, gz_org_level_name (u->level));
            s_copy_field (copy, u->parent);
            s_copy_field (copy, u->name);
            s_copy_field (copy, u->phone);
            s_copy_long (copy, u->sort_order);
            s_copy_field (copy, u->synthetic ? "t" : "f");
            s_copy_row_end (copy);
        }
    return s_copy_end (copy, "copy units");
}

static int
s_apply_buildings (gz_orgdoc_t *self, s_copy_t *copy)
{
    if (s_copy_begin (copy, "COPY org.buildings (code, grid_code, name, address, lat, lon,"
                            " households, sort_order, synthetic) FROM STDIN"))
        return -1;
    for (size_t i = 0; i < self->nbuildings; i++) {
        gz_orgdoc_building_t *b = &self->buildings[i];
        s_copy_field (copy, b->code);
        s_copy_field (copy, b->grid);
        s_copy_field (copy, b->name);
        s_copy_field (copy, b->address ? b->address : "");
        s_copy_double (copy, b->lat);
        s_copy_double (copy, b->lon);
        s_copy_long (copy, b->households);
        s_copy_long (copy, b->sort_order);
        s_copy_field (copy, b->synthetic ? "t" : "f");
        s_copy_row_end (copy);
    }
    return s_copy_end (copy, "copy buildings");
}

static int
s_apply_staff (gz_orgdoc_t *self, s_copy_t *copy)
{
    if (s_copy_begin (copy, "COPY org.staff (id, name, role, unit_code, phone, on_duty, max_open,"
                            " sort_order, synthetic) FROM STDIN"))
        return -1;
    for (size_t i = 0; i < self->nstaff; i++) {
        gz_orgdoc_staff_t *s = &self->staff[i];
        s_copy_field (copy, s->id);
        s_copy_field (copy, s->name);
        s_copy_field (copy, gz_org_role_name (s->role));
        s_copy_field (copy, s->unit);
        s_copy_field (copy, s->phone);
        s_copy_field (copy, s->on_duty ? "t" : "f");
        if (s->max_open < 0)
            s_copy_field (copy, NULL);
        else
            s_copy_long (copy, s->max_open);
        s_copy_long (copy, s->sort_order);
        s_copy_field (copy, s->synthetic ? "t" : "f");
        s_copy_row_end (copy);
    }
    return s_copy_end (copy, "copy staff");
}

static int
s_apply_pairings (gz_orgdoc_t *self, s_copy_t *copy)
{
    if (s_copy_begin (copy, "COPY org.pairings (department_code, community_code) FROM STDIN"))
        return -1;
    for (size_t i = 0; i < self->npairings; i++) {
        s_copy_field (copy, self->pairings[i].department);
        s_copy_field (copy, self->pairings[i].community);
        s_copy_row_end (copy);
    }
    return s_copy_end (copy, "copy pairings");
}

int
gz_orgdoc_apply (gz_orgdoc_t *self, gz_db_t *db)
{
    assert (self && db);
    if (gz_db_ensure (db)) {
        s_log_failure ("connect", gz_db_error (db));
        return -1;
    }
    static const char *const prologue[] = {
        "BEGIN", "SET LOCAL client_encoding = 'UTF8'",
        //  Two imports at once would interleave their deletes and copies.
        "SELECT pg_advisory_xact_lock(" S_APPLY_LOCK ")", "DELETE FROM org.pairings",
        "DELETE FROM org.staff", "DELETE FROM org.buildings", "DELETE FROM org.units", NULL};
    int rc = 0;
    for (const char *const *sql = prologue; rc == 0 && *sql; sql++)
        if (gz_db_command (db, *sql)) {
            s_log_failure (*sql, gz_db_error (db));
            rc = -1;
        }
    s_copy_t *copy = calloc (1, sizeof *copy);
    assert (copy);
    copy->conn = gz_db_conn (db);
    if (rc == 0)
        rc = s_apply_units (self, copy);
    if (rc == 0)
        rc = s_apply_buildings (self, copy);
    if (rc == 0)
        rc = s_apply_staff (self, copy);
    if (rc == 0)
        rc = s_apply_pairings (self, copy);
    free (copy);
    //  Delivered at commit: services listening reload their gz_org.
    if (rc == 0 && gz_db_command (db, "SELECT pg_notify('gz_org_changed', '')")) {
        s_log_failure ("notify", gz_db_error (db));
        rc = -1;
    }
    if (rc == 0 && gz_db_commit (db)) {
        s_log_failure ("commit", gz_db_error (db));
        rc = -1;
    }
    if (rc)
        gz_db_rollback (db);
    else
        gz_info (S_SVC,
                 "msg=\"org directory replaced\" units=%zu buildings=%zu staff=%zu "
                 "pairings=%zu",
                 self->nunits, self->nbuildings, self->nstaff, self->npairings);
    return rc;
}

//  --------------------------------------------------------------------
//  Stats from the database

int
gz_orgdoc_db_stats (gz_db_t *db, gz_orgstats_t *stats)
{
    assert (db && stats);
    memset (stats, 0, sizeof *stats);
    gz_db_prepare (db, "gz_orgdoc_stats",
                   "SELECT 'unit', level, count(*) FROM org.units GROUP BY level"
                   " UNION ALL SELECT 'staff', role, count(*) FROM org.staff GROUP BY role"
                   " UNION ALL SELECT 'buildings', '', count(*) FROM org.buildings"
                   " UNION ALL SELECT 'households', '', coalesce(sum(households), 0)"
                   "   FROM org.buildings"
                   " UNION ALL SELECT 'pairings', '', count(*) FROM org.pairings");
    if (gz_db_ensure (db))
        return -1;
    PGresult *r = gz_db_exec (db, "gz_orgdoc_stats", 0, NULL);
    if (!r) {
        s_log_failure ("stats", gz_db_error (db));
        return -1;
    }
    for (int row = 0; row < PQntuples (r); row++) {
        const char *kind = PQgetvalue (r, row, 0);
        const char *name = PQgetvalue (r, row, 1);
        size_t n = (size_t) strtoull (PQgetvalue (r, row, 2), NULL, 10);
        int i;
        if (strcmp (kind, "unit") == 0 && (i = gz_orgdoc_level_of (name)) >= 0)
            stats->units[i] = n;
        else if (strcmp (kind, "staff") == 0 && (i = gz_orgdoc_role_of (name)) >= 0)
            stats->staff[i] = n;
        else if (strcmp (kind, "buildings") == 0)
            stats->buildings = n;
        else if (strcmp (kind, "households") == 0)
            stats->households = n;
        else if (strcmp (kind, "pairings") == 0)
            stats->pairings = n;
    }
    PQclear (r);
    return 0;
}
