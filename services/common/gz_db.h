/*  gz_db: one PostgreSQL connection owned by one thread (an actor, or a
    writer thread), with named prepared statements, reconnects and
    migrations.

    Statements are registered once with gz_db_prepare and prepared lazily
    on the current connection, again after every reconnect. Callers never
    build SQL from data: values go as parameters.

    Errors: functions return -1 or NULL, log once, and leave the SQLSTATE
    in gz_db_sqlstate() so the caller can classify (40001/40P01 retry,
    23505 duplicate, "08..." or "" with !gz_db_ok() connection lost).  */
#ifndef GZ_DB_H_INCLUDED
#define GZ_DB_H_INCLUDED

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct _gz_db_t gz_db_t;

//  One migration: file name (e.g. "001_init.sql", applied in order) and
//  its SQL text. Lists end with {NULL, NULL}. Build-time embedded by
//  cmake/GzEmbed.cmake.
typedef struct {
    const char *name;
    const char *sql;
} gz_migration_t;

//  Create a handle and try to connect to url (a libpq URI or conninfo).
//  app_name becomes fallback_application_name. Never NULL; check
//  gz_db_ok() and call gz_db_ensure() from a timer when it is down.
gz_db_t *gz_db_new (const char *url, const char *app_name);

//  Close and free; nulls *self_p. Harmless on NULL.
void gz_db_destroy (gz_db_t **self_p);

//  The live connection (borrowed; may be NULL when down).
PGconn *gz_db_conn (gz_db_t *self);

//  True when connected.
bool gz_db_ok (gz_db_t *self);

//  Reconnect if the connection is down. 0 when connected, -1 otherwise.
//  Does not sleep: backoff is the caller's timer.
int gz_db_ensure (gz_db_t *self);

//  Run sql (session settings: SET ...) now if connected, and again after
//  every reconnect. 0 ok, -1 when it failed now.
int gz_db_on_connect (gz_db_t *self, const char *sql);

//  Register a named statement. Returns 0; -1 if the name is taken with
//  other SQL (programmer error is asserted instead).
int gz_db_prepare (gz_db_t *self, const char *name, const char *sql);

//  gz_db_prepare of sql with every "{schema}" replaced by the quoted
//  identifier of schema (gz_db_ident), as in migrations. Same result.
int gz_db_prepare_schema (gz_db_t *self, const char *name, const char *sql, const char *schema);

//  Execute a registered statement with text parameters (NULL = SQL NULL).
//  Returns a result with status COMMAND_OK or TUPLES_OK, which the caller
//  PQclear()s, or NULL on failure (sqlstate saved, logged at debug).
PGresult *gz_db_exec (gz_db_t *self, const char *name, int nparams, const char *const *values);

//  Same, with per-parameter lengths and formats (1 = binary) for bytea.
PGresult *gz_db_execb (gz_db_t *self, const char *name, int nparams, const char *const *values,
                       const int *lengths, const int *formats);

//  Execute a registered statement and COMMIT the open transaction in one
//  round trip. Returns the statement's result (the caller PQclear()s)
//  once both succeeded, or NULL when either failed (then roll back: the
//  transaction may still be open, aborted). As with a COMMIT, a lost
//  connection leaves it unknown whether it committed.
PGresult *gz_db_execb_commit (gz_db_t *self, const char *name, int nparams,
                              const char *const *values, const int *lengths, const int *formats);

//  Run SQL without parameters (BEGIN, COMMIT, DDL). 0 ok, -1 failure.
int gz_db_command (gz_db_t *self, const char *sql);

//  Transactions. gz_db_rollback is harmless outside a transaction.
//  gz_db_begin sends nothing: the BEGIN goes out with the next statement
//  (one round trip for both), so a dead server shows there, not here.
//  gz_db_commit (and gz_db_execb_commit) fail with sqlstate 25P02 when the
//  server rolled back instead: a statement of the transaction had failed.
int gz_db_begin (gz_db_t *self);
int gz_db_commit (gz_db_t *self);
void gz_db_rollback (gz_db_t *self);

//  SQLSTATE of the last failure ("" if none or connection-level), and its
//  message. Borrowed, valid until the next call.
const char *gz_db_sqlstate (gz_db_t *self);
const char *gz_db_error (gz_db_t *self);

//  True if the last failure is worth retrying the transaction
//  (serialization failure or deadlock).
bool gz_db_retryable (gz_db_t *self);

//  Apply migrations to schema, in order, each once, under an advisory lock
//  so concurrent starters do not race. Records them in
//  <schema>.schema_migrations. 0 ok, -1 failure (nothing half-applied: each
//  migration runs in its own transaction).
int gz_db_migrate (gz_db_t *self, const char *schema, const gz_migration_t *list);

//  True if every migration in list is recorded in schema (for /readyz).
bool gz_db_migrated (gz_db_t *self, const char *schema, const gz_migration_t *list);

//  Quote an identifier (schema or table name from configuration) for SQL.
//  Caller frees. Asserts on NULL input.
char *gz_db_ident (const char *name);

#endif
