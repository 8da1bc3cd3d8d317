/*  gz_db: one PostgreSQL connection with lazy prepared statements,
    reconnects and migrations. See gz_db.h.

    DESIGN: statements live in a small registry (name, sql, generation).
    Every (re)connect bumps the connection generation; a statement whose
    generation differs is prepared again before use. So callers register
    once at start and never think about reconnects.

    Round trips. On a busy machine each round trip costs the wakeup of
    the server process, often more than the statement itself (measured:
    about 0.2 ms for a BEGIN under load). So gz_db_begin sends nothing: it
    marks a BEGIN pending, which goes out in one pipeline (libpq pipeline
    mode) with the next statement; gz_db_execb_commit runs a statement
    and COMMIT in one pipeline. Whoever takes the raw connection
    (gz_db_conn) gets the BEGIN sent first.  */
#include "gz_db.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    char *sql;
    unsigned generation; //  connection generation it was prepared on
} s_stmt_t;

struct _gz_db_t {
    char *url;
    char *app_name;
    PGconn *conn;
    unsigned generation;
    s_stmt_t *stmts;
    size_t nstmts, cap;
    char sqlstate[6];
    char *error;
    bool pending_begin; //  gz_db_begin called, BEGIN not sent yet
    char *on_connect;   //  SQL run after every connect, or NULL
};

static void
s_set_error (gz_db_t *self, const PGresult *res)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    free (self->error);
    const char *msg = res ? PQresultErrorMessage (res) : NULL;
    if (!msg || !*msg)
        msg = self->conn ? PQerrorMessage (self->conn) : "not connected";
    self->error = strdup (msg);
    size_t n = strlen (self->error);
    while (n > 0 && (self->error[n - 1] == '\n' || self->error[n - 1] == ' '))
        self->error[--n] = 0;
    for (char *p = self->error; *p; p++)
        if (*p == '\n' || *p == '"')
            *p = ' ';
}

static void
s_connect (gz_db_t *self)
{
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
    const char *vals[] = {self->url, self->app_name, "5", NULL};
    self->conn = PQconnectdbParams (keys, vals, 1);
    if (PQstatus (self->conn) != CONNECTION_OK) {
        s_set_error (self, NULL);
        gz_warn (self->app_name, "msg=\"database connect failed\" error=\"%s\"", self->error);
        PQfinish (self->conn);
        self->conn = NULL;
        return;
    }
    if (self->on_connect) {
        PGresult *r = PQexec (self->conn, self->on_connect);
        if (PQresultStatus (r) != PGRES_COMMAND_OK && PQresultStatus (r) != PGRES_TUPLES_OK) {
            s_set_error (self, r);
            gz_warn (self->app_name, "msg=\"session setup failed\" error=\"%s\"", self->error);
        }
        PQclear (r);
    }
    self->generation++;
    //  Quiet NOTICEs (e.g. "relation already exists, skipping").
    PGresult *r = PQexec (self->conn, "SET client_min_messages = warning");
    PQclear (r);
}

gz_db_t *
gz_db_new (const char *url, const char *app_name)
{
    assert (url);
    gz_db_t *self = calloc (1, sizeof *self);
    assert (self);
    self->url = strdup (url);
    self->app_name = strdup (app_name ? app_name : "gongzhi");
    self->error = strdup ("");
    s_connect (self);
    return self;
}

void
gz_db_destroy (gz_db_t **self_p)
{
    assert (self_p);
    gz_db_t *self = *self_p;
    if (!self)
        return;
    if (self->conn)
        PQfinish (self->conn);
    free (self->on_connect);
    for (size_t i = 0; i < self->nstmts; i++) {
        free (self->stmts[i].name);
        free (self->stmts[i].sql);
    }
    free (self->stmts);
    free (self->url);
    free (self->app_name);
    free (self->error);
    free (self);
    *self_p = NULL;
}

static int s_flush_begin (gz_db_t *self);

PGconn *
gz_db_conn (gz_db_t *self)
{
    if (self->pending_begin)
        s_flush_begin (self); //  a failure shows as PQTRANS_IDLE to the caller
    return self->conn;
}

bool
gz_db_ok (gz_db_t *self)
{
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

int
gz_db_ensure (gz_db_t *self)
{
    if (gz_db_ok (self))
        return 0;
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    self->pending_begin = false;
    s_connect (self);
    return self->conn ? 0 : -1;
}

int
gz_db_on_connect (gz_db_t *self, const char *sql)
{
    assert (sql);
    free (self->on_connect);
    self->on_connect = strdup (sql);
    assert (self->on_connect);
    return gz_db_ok (self) ? gz_db_command (self, sql) : 0;
}

int
gz_db_prepare (gz_db_t *self, const char *name, const char *sql)
{
    for (size_t i = 0; i < self->nstmts; i++)
        if (strcmp (self->stmts[i].name, name) == 0) {
            assert (strcmp (self->stmts[i].sql, sql) == 0);
            return 0;
        }
    if (self->nstmts == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->stmts = realloc (self->stmts, self->cap * sizeof *self->stmts);
        assert (self->stmts);
    }
    s_stmt_t *s = &self->stmts[self->nstmts++];
    s->name = strdup (name);
    s->sql = strdup (sql);
    s->generation = 0;
    return 0;
}

static s_stmt_t *
s_stmt_ready (gz_db_t *self, const char *name)
{
    s_stmt_t *s = NULL;
    for (size_t i = 0; i < self->nstmts && !s; i++)
        if (strcmp (self->stmts[i].name, name) == 0)
            s = &self->stmts[i];
    assert (s); //  using an unregistered statement is a programmer error
    if (s->generation == self->generation)
        return s;
    PGresult *r = PQprepare (self->conn, s->name, s->sql, 0, NULL);
    if (PQresultStatus (r) != PGRES_COMMAND_OK) {
        s_set_error (self, r);
        gz_error (self->app_name, "msg=\"prepare failed\" stmt=%s error=\"%s\"", name, self->error);
        PQclear (r);
        return NULL;
    }
    PQclear (r);
    s->generation = self->generation;
    return s;
}

//  A COMMIT that succeeded as a command may still have rolled back (an
//  earlier statement failed and the caller went on): PostgreSQL then
//  answers "ROLLBACK". Such a COMMIT failed; say so in the error.
static bool
s_committed (gz_db_t *self, PGresult *r)
{
    if (strcmp (PQcmdStatus (r), "COMMIT") == 0)
        return true;
    snprintf (self->sqlstate, sizeof self->sqlstate, "25P02");
    free (self->error);
    self->error = strdup ("COMMIT rolled back: a statement of the transaction had failed");
    return false;
}

//  Take one query's results in pipeline mode: the result, then NULL. A
//  failed query's result is kept in *bad_p when none is kept yet.
//  Returns the result when it succeeded, else NULL.
static PGresult *
s_pipeline_take (gz_db_t *self, PGresult **bad_p)
{
    PGresult *r = PQgetResult (self->conn), *next;
    if (!r)
        return NULL;
    while ((next = PQgetResult (self->conn)) != NULL)
        PQclear (next); //  a query yields one result, then NULL
    ExecStatusType st = PQresultStatus (r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    if (!*bad_p && st != PGRES_PIPELINE_ABORTED)
        *bad_p = r;
    else
        PQclear (r);
    return NULL;
}

//  In one round trip: BEGIN if one is pending, the prepared statement
//  name, COMMIT if commit, then Sync. Returns the statement's result, or
//  NULL when anything failed (error saved from the failing part; a failed
//  COMMIT frees the statement's result: nothing was committed).
static PGresult *
s_pipeline (gz_db_t *self, const char *name, int nparams, const char *const *values,
            const int *lengths, const int *formats, bool commit)
{
    bool begin = self->pending_begin;
    self->pending_begin = false;
    PGconn *c = self->conn;
    bool sent = PQenterPipelineMode (c) == 1;
    if (sent && begin)
        sent = PQsendQueryParams (c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    if (sent)
        sent = PQsendQueryPrepared (c, name, nparams, values, lengths, formats, 0) == 1;
    if (sent && commit)
        sent = PQsendQueryParams (c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    if (sent)
        sent = PQpipelineSync (c) == 1;
    PGresult *bad = NULL, *r = NULL;
    bool synced = false, rolled_back = false;
    if (sent) {
        PQclear (begin ? s_pipeline_take (self, &bad) : NULL);
        r = s_pipeline_take (self, &bad);
        if (commit) {
            PGresult *k = s_pipeline_take (self, &bad);
            if (k && !s_committed (self, k)) {
                rolled_back = true; //  error already set
                PQclear (r);
                r = NULL;
            }
            PQclear (k);
        }
        //  Up to the Sync's result, which ends the pipeline (NULL: the
        //  connection broke).
        PGresult *x;
        while (!synced && (x = PQgetResult (c)) != NULL) {
            synced = PQresultStatus (x) == PGRES_PIPELINE_SYNC;
            PQclear (x);
        }
    }
    bool off = PQpipelineStatus (c) == PQ_PIPELINE_OFF || PQexitPipelineMode (c) == 1;
    if (!synced || !off || bad || !r) {
        if (!rolled_back || bad)
            s_set_error (self, bad);
        gz_debug (self->app_name, "msg=\"statement failed\" stmt=%s sqlstate=%s error=\"%s\"", name,
                  self->sqlstate, self->error);
        PQclear (bad);
        PQclear (r);
        if (!off) {
            //  Results left unread: the connection cannot be trusted.
            PQfinish (self->conn);
            self->conn = NULL;
        }
        return NULL;
    }
    return r;
}

//  Send the pending BEGIN now. 0 ok, -1 failure.
static int
s_flush_begin (gz_db_t *self)
{
    self->pending_begin = false;
    if (!gz_db_ok (self))
        return -1;
    PGresult *r = PQexec (self->conn, "BEGIN");
    int rc = PQresultStatus (r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        s_set_error (self, r);
    PQclear (r);
    return rc;
}

//  Run a registered statement: on its own, or in one pipeline with a
//  pending BEGIN and, when commit, a COMMIT.
static PGresult *
s_exec (gz_db_t *self, const char *name, int nparams, const char *const *values, const int *lengths,
        const int *formats, bool commit)
{
    self->sqlstate[0] = 0;
    if (!gz_db_ok (self)) {
        s_set_error (self, NULL);
        return NULL;
    }
    if (!s_stmt_ready (self, name))
        return NULL;
    if (self->pending_begin || commit)
        return s_pipeline (self, name, nparams, values, lengths, formats, commit);
    PGresult *r = PQexecPrepared (self->conn, name, nparams, values, lengths, formats, 0);
    ExecStatusType st = PQresultStatus (r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        s_set_error (self, r);
        gz_debug (self->app_name, "msg=\"statement failed\" stmt=%s sqlstate=%s error=\"%s\"", name,
                  self->sqlstate, self->error);
        PQclear (r);
        return NULL;
    }
    return r;
}

PGresult *
gz_db_execb (gz_db_t *self, const char *name, int nparams, const char *const *values,
             const int *lengths, const int *formats)
{
    return s_exec (self, name, nparams, values, lengths, formats, false);
}

PGresult *
gz_db_execb_commit (gz_db_t *self, const char *name, int nparams, const char *const *values,
                    const int *lengths, const int *formats)
{
    return s_exec (self, name, nparams, values, lengths, formats, true);
}

PGresult *
gz_db_exec (gz_db_t *self, const char *name, int nparams, const char *const *values)
{
    return gz_db_execb (self, name, nparams, values, NULL, NULL);
}

int
gz_db_command (gz_db_t *self, const char *sql)
{
    self->sqlstate[0] = 0;
    if (!gz_db_ok (self)) {
        s_set_error (self, NULL);
        return -1;
    }
    if (self->pending_begin && s_flush_begin (self))
        return -1;
    PGresult *r = PQexec (self->conn, sql);
    ExecStatusType st = PQresultStatus (r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        s_set_error (self, r);
        rc = -1;
    }
    PQclear (r);
    return rc;
}

int
gz_db_begin (gz_db_t *self)
{
    self->sqlstate[0] = 0;
    if (!gz_db_ok (self)) {
        s_set_error (self, NULL);
        return -1;
    }
    //  Sent with the next statement (inside a transaction, as before, it
    //  only draws the server's warning).
    self->pending_begin = true;
    return 0;
}

int
gz_db_commit (gz_db_t *self)
{
    if (self->pending_begin) { //  nothing ran: nothing to commit
        self->pending_begin = false;
        return gz_db_ok (self) ? 0 : -1;
    }
    self->sqlstate[0] = 0;
    if (!gz_db_ok (self)) {
        s_set_error (self, NULL);
        return -1;
    }
    PGresult *r = PQexec (self->conn, "COMMIT");
    int rc = 0;
    if (PQresultStatus (r) != PGRES_COMMAND_OK) {
        s_set_error (self, r);
        rc = -1;
    }
    else if (!s_committed (self, r))
        rc = -1;
    PQclear (r);
    return rc;
}

void
gz_db_rollback (gz_db_t *self)
{
    self->pending_begin = false;
    if (gz_db_ok (self) && PQtransactionStatus (self->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec (self->conn, "ROLLBACK");
        PQclear (r);
    }
}

const char *
gz_db_sqlstate (gz_db_t *self)
{
    return self->sqlstate;
}

const char *
gz_db_error (gz_db_t *self)
{
    return self->error;
}

bool
gz_db_retryable (gz_db_t *self)
{
    return strcmp (self->sqlstate, "40001") == 0 || strcmp (self->sqlstate, "40P01") == 0;
}

char *
gz_db_ident (const char *name)
{
    assert (name);
    size_t n = strlen (name);
    char *out = malloc (2 * n + 3);
    assert (out);
    char *p = out;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '"')
            *p++ = '"';
        *p++ = name[i];
    }
    *p++ = '"';
    *p = 0;
    return out;
}

//  sql with every "{schema}" replaced by the quoted identifier of schema.
//  Caller frees.
static char *
s_in_schema (const char *sql, const char *schema)
{
    char *q = gz_db_ident (schema);
    size_t cap = strlen (sql) * 2 + 64, len = 0;
    char *out = malloc (cap);
    assert (out);
    for (const char *p = sql; *p;) {
        const char *hit = strstr (p, "{schema}");
        size_t chunk = hit ? (size_t) (hit - p) : strlen (p);
        size_t need = len + chunk + strlen (q) + 1;
        if (need > cap) {
            cap = need * 2;
            out = realloc (out, cap);
            assert (out);
        }
        memcpy (out + len, p, chunk);
        len += chunk;
        p += chunk;
        if (hit) {
            memcpy (out + len, q, strlen (q));
            len += strlen (q);
            p += strlen ("{schema}");
        }
    }
    out[len] = 0;
    free (q);
    return out;
}

//  Run sql with schema substituted for every "{schema}" (quoted ident).
static int
s_command_in_schema (gz_db_t *self, const char *schema, const char *sql)
{
    char *out = s_in_schema (sql, schema);
    int rc = gz_db_command (self, out);
    free (out);
    return rc;
}

int
gz_db_prepare_schema (gz_db_t *self, const char *name, const char *sql, const char *schema)
{
    char *out = s_in_schema (sql, schema);
    int rc = gz_db_prepare (self, name, out);
    free (out);
    return rc;
}

int
gz_db_migrate (gz_db_t *self, const char *schema, const gz_migration_t *list)
{
    if (gz_db_ensure (self))
        return -1;
    //  One advisory lock for all migrations: starters queue here.
    if (gz_db_command (self, "SELECT pg_advisory_lock(7220001)"))
        return -1;
    int rc = s_command_in_schema (self, schema,
                                  "CREATE SCHEMA IF NOT EXISTS {schema};"
                                  "CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
                                  " name text PRIMARY KEY,"
                                  " applied_at timestamptz NOT NULL DEFAULT now())");
    char *q = gz_db_ident (schema);
    char sel[256];
    snprintf (sel, sizeof sel, "SELECT 1 FROM %s.schema_migrations WHERE name = $1", q);
    char ins[256];
    snprintf (ins, sizeof ins, "INSERT INTO %s.schema_migrations (name) VALUES ($1)", q);
    for (const gz_migration_t *m = list; rc == 0 && m && m->name; m++) {
        const char *v[1] = {m->name};
        PGresult *r = PQexecParams (self->conn, sel, 1, NULL, v, NULL, NULL, 0);
        bool done = PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1;
        if (PQresultStatus (r) != PGRES_TUPLES_OK) {
            s_set_error (self, r);
            rc = -1;
        }
        PQclear (r);
        if (rc || done)
            continue;
        rc = gz_db_begin (self);
        if (rc == 0)
            rc = s_command_in_schema (self, schema, m->sql);
        if (rc == 0) {
            r = PQexecParams (self->conn, ins, 1, NULL, v, NULL, NULL, 0);
            if (PQresultStatus (r) != PGRES_COMMAND_OK) {
                s_set_error (self, r);
                rc = -1;
            }
            PQclear (r);
        }
        if (rc == 0)
            rc = gz_db_commit (self);
        if (rc) {
            gz_error (self->app_name, "msg=\"migration failed\" schema=%s file=%s error=\"%s\"",
                      schema, m->name, self->error);
            gz_db_rollback (self);
        }
        else
            gz_info (self->app_name, "msg=\"migration applied\" schema=%s file=%s", schema,
                     m->name);
    }
    free (q);
    PGresult *r = PQexec (self->conn, "SELECT pg_advisory_unlock(7220001)");
    PQclear (r);
    return rc;
}

bool
gz_db_migrated (gz_db_t *self, const char *schema, const gz_migration_t *list)
{
    if (!gz_db_ok (self))
        return false;
    char *q = gz_db_ident (schema);
    char sel[256];
    snprintf (sel, sizeof sel, "SELECT count(*) FROM %s.schema_migrations WHERE name = ANY($1)", q);
    free (q);
    //  Build a text[] literal of the names (names are ours, no quotes).
    size_t want = 0, cap = 16;
    for (const gz_migration_t *m = list; m && m->name; m++) {
        cap += strlen (m->name) + 3;
        want++;
    }
    char *arr = malloc (cap);
    assert (arr);
    strcpy (arr, "{");
    for (const gz_migration_t *m = list; m && m->name; m++) {
        if (m != list)
            strcat (arr, ",");
        strcat (arr, m->name);
    }
    strcat (arr, "}");
    const char *v[1] = {arr};
    PGresult *r = PQexecParams (self->conn, sel, 1, NULL, v, NULL, NULL, 0);
    bool ok =
        PQresultStatus (r) == PGRES_TUPLES_OK && strtoul (PQgetvalue (r, 0, 0), NULL, 10) == want;
    PQclear (r);
    free (arr);
    return ok;
}
