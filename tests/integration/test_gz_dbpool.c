/*  Integration test for gz_dbpool: many threads share few connections,
    each query runs on a connection no other thread holds, and a lost
    connection is reconnected on the next borrow.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "gz_dbpool.h"
#include "gz_testdb.h"

static gz_dbpool_t *s_pool;
static int s_errors;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
s_worker (void *arg)
{
    (void) arg;
    for (int i = 0; i < 50; i++) {
        gz_db_t *db = gz_dbpool_get (s_pool);
        //  Within one borrow the session is ours: a session variable set
        //  here must read back unchanged.
        gz_db_prepare (db, "set", "SELECT set_config('gz.mark', $1, false)");
        gz_db_prepare (db, "get", "SELECT current_setting('gz.mark')");
        char mark[32];
        snprintf (mark, sizeof mark, "%lu-%d", (unsigned long) pthread_self (), i);
        const char *v[1] = {mark};
        PGresult *r = gz_db_exec (db, "set", 1, v);
        PQclear (r);
        r = gz_db_exec (db, "get", 0, NULL);
        bool ok = r && strcmp (PQgetvalue (r, 0, 0), mark) == 0;
        PQclear (r);
        gz_dbpool_put (s_pool, db);
        if (!ok) {
            pthread_mutex_lock (&s_lock);
            s_errors++;
            pthread_mutex_unlock (&s_lock);
        }
    }
    return NULL;
}

static void
test_threads_share_connections (void **state)
{
    (void) state;
    gz_testdb_t *tdb = gz_testdb_new ("dbpool");
    s_pool = gz_dbpool_new (gz_testdb_url (tdb), "test", 3);
    pthread_t t[12];
    for (int i = 0; i < 12; i++)
        pthread_create (&t[i], NULL, s_worker, NULL);
    for (int i = 0; i < 12; i++)
        pthread_join (t[i], NULL);
    assert_int_equal (s_errors, 0);

    //  Kill the pool's sessions: the next borrow reconnects.
    gz_db_t *admin = gz_db_new (gz_testdb_url (tdb), "admin");
    assert_int_equal (gz_db_command (admin, "SELECT pg_terminate_backend(pid) FROM "
                                            "pg_stat_activity WHERE application_name = 'test'"
                                            " AND datname = current_database()"),
                      0);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        gz_db_t *db = gz_dbpool_get (s_pool);
        //  A dead connection is noticed on use; the borrow after reconnects.
        if (gz_db_command (db, "SELECT 1") != 0) {
            gz_dbpool_put (s_pool, db);
            db = gz_dbpool_get (s_pool);
        }
        ok += gz_db_command (db, "SELECT 1") == 0;
        gz_dbpool_put (s_pool, db);
    }
    assert_int_equal (ok, 3);
    gz_db_destroy (&admin);
    gz_dbpool_destroy (&s_pool);
    gz_dbpool_destroy (&s_pool); //  harmless twice
    gz_testdb_destroy (&tdb);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test (test_threads_share_connections)};
    return cmocka_run_group_tests (tests, NULL, NULL);
}
