/*  The bus writer lock's wait does not follow the wall clock. A writer
    waits for the lock another writer holds between its write and its
    commit, at most 10 s; a step of the wall clock must neither end that
    wait at once nor stretch it.

    The step: this executable defines clock_gettime, which libgz (linked
    statically) calls instead of libc's, and reports CLOCK_REALTIME an
    hour behind while the test says so. A deadline computed from it is an
    hour in the past for the kernel, as if the clock had stepped forward
    an hour during the wait: a wait bounded on the wall clock gives up at
    once. CLOCK_MONOTONIC is reported as it is.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "gz_bus.h"
#include "gz_testdb.h"
#include "gz_testfix.h"

static atomic_llong s_realtime_shift_s;

int
clock_gettime (clockid_t id, struct timespec *ts)
{
    int rc = (int) syscall (SYS_clock_gettime, id, ts);
    if (rc == 0 && id == CLOCK_REALTIME)
        ts->tv_sec += (time_t) atomic_load (&s_realtime_shift_s);
    return rc;
}

typedef struct {
    gz_db_t *db;
    gz_bus_pub_t *pub;
    int rc;            //  gz_bus_pub_write's
    atomic_bool done;  //  the write returned
    int64_t waited_ms; //  how long it took (monotonic)
} writer_t;

static void
s_stage (gz_bus_pub_t *pub, const char *key)
{
    gz_bus_pub_stage (pub, "TestEvent", key, NULL, (const uint8_t *) "p", 1, NULL, NULL);
}

//  A transaction of one event on w's writer: write (waiting for the lock),
//  then commit, or roll back when the write gave up.
static void *
s_writer (void *arg)
{
    writer_t *w = arg;
    int64_t start = zclock_mono ();
    if (gz_db_begin (w->db) == 0) {
        s_stage (w->pub, "w");
        w->rc = gz_bus_pub_write (w->pub);
        w->waited_ms = zclock_mono () - start;
        if (w->rc == 0 && gz_db_commit (w->db) == 0)
            gz_bus_pub_committed (w->pub);
        else {
            gz_db_rollback (w->db);
            gz_bus_pub_aborted (w->pub);
        }
    }
    else
        w->rc = -2;
    atomic_store (&w->done, true);
    return NULL;
}

static void
test_writer_lock_wait_ignores_wall_clock (void **state)
{
    (void) state;
    gz_testdb_t *tdb = gz_testdb_new ("busclock");
    gz_db_t *pdb = gz_db_new (gz_testdb_url (tdb), "test-root");
    gz_db_t *wdb = gz_db_new (gz_testdb_url (tdb), "test-writer");
    assert_int_equal (gz_db_migrate (pdb, "prod", gz_bus_migrations ()), 0);
    gz_bus_pub_t *root = gz_bus_pub_new (pdb, "prod", "s", "tcp://127.0.0.1:*", NULL);
    assert_non_null (root);
    writer_t w = {.db = wdb, .pub = gz_bus_pub_new_writer (root, wdb)};
    assert_non_null (w.pub);

    //  The root writes and holds the lock until it commits.
    assert_int_equal (gz_db_begin (pdb), 0);
    s_stage (root, "r");
    assert_int_equal (gz_bus_pub_write (root), 0);

    atomic_store (&s_realtime_shift_s, -3600);
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_writer, &w), 0);
    //  The writer waits for the lock: a wall-clock deadline would have
    //  given up at once.
    int64_t until = zclock_mono () + 500;
    while (zclock_mono () < until && !atomic_load (&w.done))
        zclock_sleep (10);
    bool gave_up_early = atomic_load (&w.done);
    assert_int_equal (gz_db_commit (pdb), 0);
    gz_bus_pub_committed (root);
    assert_int_equal (pthread_join (t, NULL), 0);
    atomic_store (&s_realtime_shift_s, 0);
    print_message ("writer: write %d after %lld ms\n", w.rc, (long long) w.waited_ms);
    assert_false (gave_up_early);
    assert_int_equal (w.rc, 0);
    assert_true (w.waited_ms >= 400);
    assert_int_equal (gz_testfix_scalar (pdb, "SELECT count(*) FROM prod.outbox"), 2);

    gz_bus_pub_destroy (&w.pub);
    gz_bus_pub_destroy (&root);
    gz_db_destroy (&wdb);
    gz_db_destroy (&pdb);
    gz_testdb_destroy (&tdb);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_writer_lock_wait_ignores_wall_clock),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
