/*  Integration tests for gz_db transactions and session setup: the
    deferred BEGIN (sent in one pipeline with the next statement), failures
    inside such a transaction, the raw connection and plain commands after
    gz_db_begin, gz_db_execb_commit (statement and COMMIT in one round
    trip, including a COMMIT that fails on a deferred constraint), and
    gz_db_on_connect surviving a reconnect, and gz_db_prepare_schema
    (every "{schema}" becomes the quoted schema, odd names included).

    Each test gets a fresh database (gz_testdb) with two tables: "t" (a
    primary key, so a duplicate fails at once) and "d" (a unique key that
    is DEFERRABLE INITIALLY DEFERRED, so a duplicate fails only at COMMIT).
    What is committed is always checked from a second connection.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gz_db.h"
#include "gz_testdb.h"
#include "gz_testfix.h"

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *db;   //  the handle under test
    gz_db_t *peer; //  a second session: sees only what was committed
} fx_t;

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->tdb = gz_testdb_new ("db");
    const char *url = gz_testdb_url (fx->tdb);
    fx->db = gz_db_new (url, "test");
    fx->peer = gz_db_new (url, "test-peer");
    assert_true (gz_db_ok (fx->db) && gz_db_ok (fx->peer));
    assert_int_equal (gz_db_command (fx->peer, "CREATE TABLE t (k int PRIMARY KEY)"), 0);
    assert_int_equal (gz_db_command (fx->peer, "CREATE TABLE d (k int, CONSTRAINT d_k UNIQUE (k)"
                                               " DEFERRABLE INITIALLY DEFERRED)"),
                      0);
    gz_db_prepare (fx->db, "ins", "INSERT INTO t (k) VALUES ($1::int)");
    gz_db_prepare (fx->db, "ins_ret", "INSERT INTO t (k) VALUES ($1::int) RETURNING k");
    gz_db_prepare (fx->db, "ins_d", "INSERT INTO d (k) VALUES ($1::int)");
    gz_db_prepare (fx->db, "ins_d_twice", "INSERT INTO d (k) VALUES ($1::int), ($1::int)");
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    gz_db_destroy (&fx->db);
    gz_db_destroy (&fx->peer);
    gz_testdb_destroy (&fx->tdb);
    free (fx);
    return 0;
}

//  Committed rows of table with key k, as the peer session sees them.
static int
s_count (fx_t *fx, const char *table, int k)
{
    return (int) gz_testfix_scalarf (fx->peer, "SELECT count(*) FROM %s WHERE k = %d", table, k);
}

//  Run registered statement name with the one parameter k.
static PGresult *
s_exec (gz_db_t *db, const char *name, int k)
{
    char key[16];
    snprintf (key, sizeof key, "%d", k);
    const char *v[1] = {key};
    return gz_db_exec (db, name, 1, v);
}

//  Same, then COMMIT, in one round trip (gz_db_execb_commit).
static PGresult *
s_exec_commit (gz_db_t *db, const char *name, int k)
{
    char key[16];
    snprintf (key, sizeof key, "%d", k);
    const char *v[1] = {key};
    return gz_db_execb_commit (db, name, 1, v, NULL, NULL);
}

//  Run the statement and assert it succeeded.
static void
s_exec_ok (gz_db_t *db, const char *name, int k)
{
    PGresult *r = s_exec (db, name, k);
    assert_non_null (r);
    PQclear (r);
}

//  The tests read the transaction status from the PGconn taken before
//  gz_db_begin: calling gz_db_conn later would send a pending BEGIN.

static void
test_begin_sent_with_next_statement (void **state)
{
    fx_t *fx = *state;
    PGconn *raw = gz_db_conn (fx->db);
    assert_non_null (raw);

    //  begin + insert + commit: committed.
    assert_int_equal (gz_db_begin (fx->db), 0);
    //  Nothing sent yet: the session is still outside a transaction.
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    s_exec_ok (fx->db, "ins", 1);
    //  The BEGIN went out with the insert: the row waits for COMMIT.
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_INTRANS);
    assert_int_equal (PQpipelineStatus (raw), PQ_PIPELINE_OFF);
    assert_int_equal (s_count (fx, "t", 1), 0);
    assert_int_equal (gz_db_commit (fx->db), 0);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 1), 1);

    //  begin + insert (two, the second outside the pipeline) + rollback:
    //  nothing committed.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 2);
    s_exec_ok (fx->db, "ins", 3);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_INTRANS);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 2), 0);
    assert_int_equal (s_count (fx, "t", 3), 0);

    //  begin + commit with nothing in between: ok, and no transaction is
    //  left open or pending (the next insert commits on its own).
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_int_equal (gz_db_commit (fx->db), 0);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    s_exec_ok (fx->db, "ins", 4);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 4), 1);

    //  begin + rollback with nothing in between: the same.
    assert_int_equal (gz_db_begin (fx->db), 0);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    s_exec_ok (fx->db, "ins", 5);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 5), 1);
    assert_ptr_equal (gz_db_conn (fx->db), raw); //  never reconnected
}

static void
test_failure_after_begin (void **state)
{
    fx_t *fx = *state;
    PGconn *raw = gz_db_conn (fx->db);
    s_exec_ok (fx->db, "ins", 1);
    assert_int_equal (s_count (fx, "t", 1), 1);

    //  The first statement of the transaction (in the pipeline with the
    //  BEGIN) fails: NULL, 23505, inside the aborted transaction.
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_null (s_exec (fx->db, "ins", 1));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    assert_string_not_equal (gz_db_error (fx->db), "");
    assert_false (gz_db_retryable (fx->db));
    assert_true (gz_db_ok (fx->db));
    assert_int_equal (PQpipelineStatus (raw), PQ_PIPELINE_OFF);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_INERROR);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);

    //  The next transaction on the same handle works.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 2);
    s_exec_ok (fx->db, "ins", 3);
    assert_int_equal (gz_db_commit (fx->db), 0);
    assert_int_equal (s_count (fx, "t", 2), 1);
    assert_int_equal (s_count (fx, "t", 3), 1);

    //  A failure later in a transaction: the rollback undoes the earlier
    //  statement sent with the BEGIN.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 4);
    assert_null (s_exec (fx->db, "ins", 1));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 4), 0);

    //  Plain commands (PQexec, refused in pipeline mode) work too.
    assert_int_equal (gz_db_command (fx->db, "SELECT 1"), 0);
    assert_string_equal (gz_db_sqlstate (fx->db), "");
    s_exec_ok (fx->db, "ins", 5);
    assert_int_equal (s_count (fx, "t", 5), 1);
    assert_ptr_equal (gz_db_conn (fx->db), raw); //  never reconnected
}

static void
test_conn_and_command_after_begin (void **state)
{
    fx_t *fx = *state;
    PGconn *raw = gz_db_conn (fx->db);

    //  Taking the raw connection sends the pending BEGIN: what the caller
    //  runs on it is inside the transaction.
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    PGconn *c = gz_db_conn (fx->db);
    assert_ptr_equal (c, raw);
    assert_int_equal (PQtransactionStatus (c), PQTRANS_INTRANS);
    PGresult *r = PQexec (c, "INSERT INTO t (k) VALUES (1)");
    assert_int_equal (PQresultStatus (r), PGRES_COMMAND_OK);
    PQclear (r);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 1), 0);

    //  gz_db_command after begin runs inside the transaction: rolled back.
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_int_equal (gz_db_command (fx->db, "INSERT INTO t (k) VALUES (2)"), 0);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_INTRANS);
    assert_int_equal (s_count (fx, "t", 2), 0);
    gz_db_rollback (fx->db);
    assert_int_equal (s_count (fx, "t", 2), 0);

    //  ... and committed, mixed with a registered statement.
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_int_equal (gz_db_command (fx->db, "INSERT INTO t (k) VALUES (3)"), 0);
    s_exec_ok (fx->db, "ins", 4);
    assert_int_equal (s_count (fx, "t", 3), 0);
    assert_int_equal (gz_db_commit (fx->db), 0);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 3), 1);
    assert_int_equal (s_count (fx, "t", 4), 1);
}

static void
test_execb_commit (void **state)
{
    fx_t *fx = *state;
    PGconn *raw = gz_db_conn (fx->db);

    //  Success, BEGIN pending: the result is the statement's RETURNING
    //  row, and it is committed.
    assert_int_equal (gz_db_begin (fx->db), 0);
    PGresult *r = s_exec_commit (fx->db, "ins_ret", 10);
    assert_non_null (r);
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (r), 1);
    assert_string_equal (PQgetvalue (r, 0, 0), "10");
    PQclear (r);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 10), 1);

    //  Success after earlier statements: the whole transaction commits.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 11);
    r = s_exec_commit (fx->db, "ins_ret", 12);
    assert_non_null (r);
    assert_string_equal (PQgetvalue (r, 0, 0), "12");
    PQclear (r);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 11), 1);
    assert_int_equal (s_count (fx, "t", 12), 1);

    //  The statement fails: NULL, and the earlier statement of the
    //  transaction is not committed.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 20);
    assert_null (s_exec_commit (fx->db, "ins_ret", 10));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    assert_int_equal (PQpipelineStatus (raw), PQ_PIPELINE_OFF);
    assert_int_equal (s_count (fx, "t", 20), 0);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "t", 20), 0);

    //  The same as the first statement (in the pipeline with the BEGIN).
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_null (s_exec_commit (fx->db, "ins_ret", 10));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);

    //  The COMMIT fails: the deferred unique key is checked only there.
    //  NULL, 23505, and the transaction's earlier row is not committed.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins_d", 1);
    s_exec_ok (fx->db, "ins", 30);
    assert_null (s_exec_commit (fx->db, "ins_d", 1));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    assert_int_equal (PQpipelineStatus (raw), PQ_PIPELINE_OFF);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "d", 1), 0);
    assert_int_equal (s_count (fx, "t", 30), 0);

    //  The same with the BEGIN pending: one pipeline of BEGIN, statement
    //  (inserting the key twice, which the deferred key lets pass) and
    //  the failing COMMIT.
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_null (s_exec_commit (fx->db, "ins_d_twice", 2));
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    assert_int_equal (PQpipelineStatus (raw), PQ_PIPELINE_OFF);
    gz_db_rollback (fx->db);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "d", 2), 0);

    //  gz_db_commit reports a failed COMMIT too.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins_d", 3);
    s_exec_ok (fx->db, "ins_d", 3);
    assert_int_equal (gz_db_commit (fx->db), -1);
    assert_string_equal (gz_db_sqlstate (fx->db), "23505");
    gz_db_rollback (fx->db);
    assert_int_equal (s_count (fx, "d", 3), 0);

    //  The connection is usable afterwards.
    assert_int_equal (gz_db_begin (fx->db), 0);
    r = s_exec_commit (fx->db, "ins_d", 4);
    assert_non_null (r);
    PQclear (r);
    assert_int_equal (PQtransactionStatus (raw), PQTRANS_IDLE);
    assert_int_equal (s_count (fx, "d", 4), 1);
    assert_ptr_equal (gz_db_conn (fx->db), raw); //  never reconnected
}

//  Value of setting on db's session, through a registered statement (so
//  it is prepared again on a new connection).
static void
s_assert_setting (gz_db_t *db, const char *setting, const char *want)
{
    const char *v[1] = {setting};
    PGresult *r = gz_db_exec (db, "setting", 1, v);
    assert_non_null (r);
    assert_int_equal (PQntuples (r), 1);
    assert_string_equal (PQgetvalue (r, 0, 0), want);
    PQclear (r);
}

static void
test_on_connect_after_reconnect (void **state)
{
    fx_t *fx = *state;
    gz_db_prepare (fx->db, "setting", "SELECT current_setting($1)");
    //  Before: the defaults (application_name is gz_db_new's app_name).
    s_assert_setting (fx->db, "application_name", "test");
    s_assert_setting (fx->db, "plan_cache_mode", "auto");

    assert_int_equal (gz_db_on_connect (fx->db, "SET application_name = 'gz-on-connect-test';"
                                                " SET plan_cache_mode = force_generic_plan"),
                      0);
    s_assert_setting (fx->db, "application_name", "gz-on-connect-test");
    s_assert_setting (fx->db, "plan_cache_mode", "force_generic_plan");

    //  A committed row, and "ins" prepared on this session.
    s_exec_ok (fx->db, "ins", 1);

    //  Kill the session from the peer (waiting until it is gone).
    int pid = PQbackendPID (gz_db_conn (fx->db));
    char spid[16];
    snprintf (spid, sizeof spid, "%d", pid);
    const char *v[1] = {spid};
    PGresult *r =
        PQexecParams (gz_db_conn (fx->peer), "SELECT pg_terminate_backend ($1::int, 5000)", 1, NULL,
                      v, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (r, 0, 0), "t");
    PQclear (r);

    //  gz_db_begin sends nothing, so the loss shows at the statement
    //  (sent in the pipeline with the BEGIN).
    assert_int_equal (gz_db_begin (fx->db), 0);
    assert_null (s_exec (fx->db, "ins", 2));
    assert_false (gz_db_ok (fx->db));
    gz_db_rollback (fx->db);

    //  Reconnected: a new session with the settings run again.
    assert_int_equal (gz_db_ensure (fx->db), 0);
    assert_true (gz_db_ok (fx->db));
    assert_int_not_equal (PQbackendPID (gz_db_conn (fx->db)), pid);
    assert_int_equal (PQtransactionStatus (gz_db_conn (fx->db)), PQTRANS_IDLE);
    s_assert_setting (fx->db, "application_name", "gz-on-connect-test");
    s_assert_setting (fx->db, "plan_cache_mode", "force_generic_plan");

    //  Transactions work on the new connection; the lost one left nothing.
    assert_int_equal (gz_db_begin (fx->db), 0);
    s_exec_ok (fx->db, "ins", 3);
    assert_int_equal (gz_db_commit (fx->db), 0);
    assert_int_equal (s_count (fx, "t", 1), 1);
    assert_int_equal (s_count (fx, "t", 2), 0);
    assert_int_equal (s_count (fx, "t", 3), 1);
}

static void
test_prepare_schema (void **state)
{
    fx_t *fx = *state;
    assert_int_equal (gz_db_command (fx->peer, "CREATE SCHEMA \"we\"\"ird\";"
                                               " CREATE TABLE \"we\"\"ird\".t (k int)"),
                      0);
    assert_int_equal (gz_db_prepare_schema (fx->db, "ins_s",
                                            "INSERT INTO {schema}.t (k) SELECT $1::int"
                                            " WHERE (SELECT count(*) FROM {schema}.t) < 9",
                                            "we\"ird"),
                      0);
    //  The same name and text again is harmless.
    assert_int_equal (gz_db_prepare_schema (fx->db, "ins_s",
                                            "INSERT INTO {schema}.t (k) SELECT $1::int"
                                            " WHERE (SELECT count(*) FROM {schema}.t) < 9",
                                            "we\"ird"),
                      0);
    s_exec_ok (fx->db, "ins_s", 7);
    PGresult *r = PQexec (gz_db_conn (fx->peer), "SELECT k FROM \"we\"\"ird\".t");
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (r), 1);
    assert_string_equal (PQgetvalue (r, 0, 0), "7");
    PQclear (r);
    assert_int_equal (s_count (fx, "t", 7), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_begin_sent_with_next_statement, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failure_after_begin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_conn_and_command_after_begin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_execb_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_on_connect_after_reconnect, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_prepare_schema, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
