/*  Integration tests for gz_bus, the durable bus: outbox positions,
    live delivery, duplicates, gaps, catch-up, crash re-publish, handler
    failures, replicas and a lost database connection. Each test gets a
    fresh database (gz_testdb) and synchronises by polling with deadlines.

    Schemas: "prod" holds the producer's bus tables, "cons" the consumer's
    cursor and the table the test handler writes ("cons.applied", one row
    per applied position, so applying a position twice fails loudly).  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "gz_bus.h"
#include "gz_testdb.h"
#include "gz_testfix.h"

#define STREAM "s"
#define LOCAL "tcp://127.0.0.1:*"
#define S_HEARTBEAT_MS 100 //  the consumers' heartbeat interval (silence: 3 of them)

static const gz_migration_t s_test_migrations[] = {
    {"t_001_applied.sql", "CREATE TABLE {schema}.applied ("
                          "  position bigint PRIMARY KEY,"
                          "  id uuid NOT NULL,"
                          "  stream text NOT NULL,"
                          "  type text NOT NULL,"
                          "  key text NOT NULL,"
                          "  topic text NOT NULL,"
                          "  occurred_at_us bigint NOT NULL,"
                          "  payload bytea NOT NULL)"},
    {NULL, NULL},
};

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *pdb;       //  producer's connection
    gz_db_t *cdb;       //  consumer's connection
    gz_db_t *qdb;       //  the test's own queries
    gz_bus_opts_t opts; //  the consumers': the defaults, but a heartbeat of S_HEARTBEAT_MS
} fx_t;

//  What the test handler does and saw.
typedef struct {
    int fail_call;      //  this call (1, 2, ...) fails, as a transient failure
    int64_t failed_pos; //  the position it failed on
    int calls;
    int errors; //  an insert that failed (e.g. a position applied twice)
} handler_t;

static int
s_handler (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    handler_t *h = arg;
    if (++h->calls == h->fail_call) {
        h->failed_pos = env->position;
        return -1;
    }
    gz_db_prepare (db, "t_apply",
                   "INSERT INTO cons.applied (position, id, stream, type, key, topic,"
                   " occurred_at_us, payload) VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8)");
    char pos[24], occ[24];
    snprintf (pos, sizeof pos, "%lld", (long long) env->position);
    snprintf (occ, sizeof occ, "%lld", (long long) env->occurred_at_us);
    const char *v[8] = {pos,      env->id,    env->stream, env->type,
                        env->key, env->topic, occ,         (const char *) env->payload.data};
    int lengths[8] = {0, 0, 0, 0, 0, 0, 0, (int) env->payload.len};
    int formats[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    PGresult *r = gz_db_execb (db, "t_apply", 8, v, lengths, formats);
    if (!r) {
        h->errors++;
        return -1;
    }
    PQclear (r);
    return 0;
}

//  One integer from constant SQL (no data in it), on the checking
//  connection; -1 for NULL.
static long long
s_q (fx_t *fx, const char *sql)
{
    return gz_testfix_scalar (fx->qdb, sql);
}

static int
s_setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->tdb = gz_testdb_new ("bus");
    const char *url = gz_testdb_url (fx->tdb);
    fx->pdb = gz_db_new (url, "test-producer");
    fx->cdb = gz_db_new (url, "test-consumer");
    fx->qdb = gz_db_new (url, "test");
    assert_true (gz_db_ok (fx->pdb) && gz_db_ok (fx->cdb) && gz_db_ok (fx->qdb));
    assert_int_equal (gz_db_migrate (fx->qdb, "prod", gz_bus_migrations ()), 0);
    assert_int_equal (gz_db_migrate (fx->qdb, "cons", gz_bus_migrations ()), 0);
    assert_int_equal (gz_db_migrate (fx->qdb, "cons", s_test_migrations), 0);
    assert_true (gz_db_migrated (fx->qdb, "prod", gz_bus_migrations ()));
    gz_bus_opts_default (&fx->opts);
    fx->opts.heartbeat_ms = S_HEARTBEAT_MS;
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fx_t *fx = *state;
    gz_db_destroy (&fx->pdb);
    gz_db_destroy (&fx->cdb);
    gz_db_destroy (&fx->qdb);
    gz_testdb_destroy (&fx->tdb);
    free (fx);
    return 0;
}

static char *
s_endpoint_of (gz_bus_pub_t *pub)
{
    char *ep = NULL;
    assert_true (asprintf (&ep, "tcp://127.0.0.1:%d", gz_bus_pub_port (pub)) > 0);
    return ep;
}

//  Commit one transaction of n events (keys "k<i>", payload "p<i>").
static void
s_produce (gz_db_t *db, gz_bus_pub_t *pub, int n, bool publish)
{
    assert_int_equal (gz_db_begin (db), 0);
    for (int i = 0; i < n; i++) {
        char key[16], payload[16];
        snprintf (key, sizeof key, "k%d", i % 3);
        snprintf (payload, sizeof payload, "p%d", i);
        gz_bus_pub_stage (pub, "TestEvent", key, i % 2 ? "TestEvent/a/b" : NULL,
                          (const uint8_t *) payload, strlen (payload), NULL, NULL);
    }
    assert_int_equal (gz_bus_pub_write (pub), 0);
    assert_int_equal (gz_db_commit (db), 0);
    if (publish)
        gz_bus_pub_committed (pub);
}

//  Drive the sockets and timers: poll the subscribers' sockets, apply
//  what is readable; every 50 ms tick the publisher and, when tick_subs,
//  the subscribers. Returns when every sub reached target, or false at
//  the deadline.
static bool
s_pump (gz_bus_pub_t *pub, gz_bus_sub_t *a, gz_bus_sub_t *b, bool tick_subs, int64_t target,
        int timeout_ms)
{
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (a), NULL);
    if (b)
        zpoller_add (poller, gz_bus_sub_sock (b));
    int64_t deadline = zclock_mono () + timeout_ms, last_tick = 0;
    bool done = false;
    while (!done && zclock_mono () < deadline) {
        zsock_t *which = zpoller_wait (poller, 10);
        if (which && !b)
            gz_bus_sub_on_readable (a);
        else if (which) {
            //  Two replicas: both read, in turns first, so both win some.
            bool a_first = (zclock_mono () / 10) % 2;
            gz_bus_sub_on_readable (a_first ? a : b);
            gz_bus_sub_on_readable (a_first ? b : a);
        }
        if (zclock_mono () - last_tick >= 50) {
            last_tick = zclock_mono ();
            if (pub)
                gz_bus_pub_tick (pub);
            if (tick_subs) {
                gz_bus_sub_tick (a);
                if (b)
                    gz_bus_sub_tick (b);
            }
        }
        done = gz_bus_sub_position (a) >= target && (!b || gz_bus_sub_position (b) >= target);
    }
    zpoller_destroy (&poller);
    return done;
}

//  Wait until sub has heard a heartbeat from pub: the subscription is
//  then in place and nothing published afterwards is dropped.
static void
s_wait_link (gz_bus_pub_t *pub, gz_bus_sub_t *sub)
{
    int64_t deadline = zclock_mono () + 10000;
    uint64_t before = gz_bus_sub_heartbeats (sub);
    while (gz_bus_sub_heartbeats (sub) == before && zclock_mono () < deadline) {
        gz_bus_pub_tick (pub);
        zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
        if (zpoller_wait (poller, 50))
            gz_bus_sub_on_readable (sub);
        zpoller_destroy (&poller);
    }
    assert_true (gz_bus_sub_heartbeats (sub) > before);
}

//  Every applied row matches its outbox row field for field (live and
//  caught-up envelopes are built alike), and there are exactly n.
static void
s_assert_applied (fx_t *fx, long long n)
{
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.applied"), n);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.applied a JOIN prod.outbox o"
                               " ON o.stream = a.stream AND o.position = a.position"
                               " AND o.id = a.id AND o.type = a.type AND o.key = a.key"
                               " AND o.topic = a.topic AND o.occurred_at_us = a.occurred_at_us"
                               " AND o.payload = a.payload"),
                      n);
    if (n > 0) {
        assert_int_equal (s_q (fx, "SELECT min(position) FROM cons.applied"), 1);
        assert_int_equal (s_q (fx, "SELECT max(position) FROM cons.applied"), n);
    }
}

//  ---------------------------------------------------------------- tests

static void
test_rollback_leaves_no_gap (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    assert_true (gz_bus_pub_port (pub) > 0);

    //  Nothing staged: write is a no-op.
    assert_int_equal (gz_bus_pub_write (pub), 0);

    assert_int_equal (gz_db_begin (fx->pdb), 0);
    for (int i = 0; i < 3; i++)
        gz_bus_pub_stage (pub, "TestEvent", "k", NULL, (const uint8_t *) "x", 1, "idem", "trace");
    assert_int_equal (gz_bus_pub_write (pub), 0);
    gz_db_rollback (fx->pdb);
    gz_bus_pub_aborted (pub);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 0);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 0);

    s_produce (fx->pdb, pub, 2, true);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 2);
    assert_int_equal (s_q (fx, "SELECT min(position) FROM prod.outbox"), 1);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), 2);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 2);
    assert_int_equal (gz_bus_pub_head (pub), 2);
    assert_int_equal (gz_bus_pub_published (pub), 2);

    //  Two writes in one transaction continue the positions.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    gz_bus_pub_stage (pub, "A", "k", NULL, NULL, 0, NULL, NULL);
    assert_int_equal (gz_bus_pub_write (pub), 0);
    gz_bus_pub_stage (pub, "B", "k", NULL, NULL, 0, NULL, NULL);
    assert_int_equal (gz_bus_pub_write (pub), 0);
    assert_int_equal (gz_db_commit (fx->pdb), 0);
    gz_bus_pub_committed (pub);
    assert_int_equal (s_q (fx, "SELECT position FROM prod.outbox WHERE type = 'B'"), 4);

    //  The tick advances the published watermark lazily.
    assert_int_equal (s_q (fx, "SELECT published FROM prod.bus_stream WHERE stream = 's'"), 0);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (s_q (fx, "SELECT published FROM prod.bus_stream WHERE stream = 's'"), 4);
    assert_int_equal (gz_bus_pub_republished (pub), 0); //  it sent them all itself
    gz_bus_pub_destroy (&pub);
    gz_bus_pub_destroy (&pub);
    assert_null (pub);
}

typedef struct {
    const char *url;
    int thread;
    int events;
    int failures;
} writer_t;

static void *
s_writer (void *arg)
{
    writer_t *w = arg;
    gz_db_t *db = gz_db_new (w->url, "test-writer");
    gz_bus_pub_t *pub = gz_bus_pub_new (db, "prod", STREAM, LOCAL, NULL);
    char key[16];
    snprintf (key, sizeof key, "t%d", w->thread);
    unsigned seed = (unsigned) w->thread + 1;
    int seq = 0;
    for (int tx = 0; tx < 150 && pub; tx++) {
        int n = 1 + rand_r (&seed) % 10;
        int rc = gz_db_begin (db);
        for (int i = 0; i < n; i++) {
            char payload[16];
            snprintf (payload, sizeof payload, "%d", seq + i + 1);
            gz_bus_pub_stage (pub, "TestEvent", key, NULL, (const uint8_t *) payload,
                              strlen (payload), NULL, NULL);
        }
        if (rc == 0)
            rc = gz_bus_pub_write (pub);
        if (rc == 0)
            rc = gz_db_commit (db);
        if (rc == 0) {
            gz_bus_pub_committed (pub);
            seq += n;
        }
        else {
            gz_db_rollback (db);
            gz_bus_pub_aborted (pub);
            w->failures++;
        }
    }
    w->events = seq;
    if (!pub)
        w->failures++;
    gz_bus_pub_destroy (&pub);
    gz_db_destroy (&db);
    return NULL;
}

static void
test_positions_concurrent (void **state)
{
    fx_t *fx = *state;
    writer_t w[2] = {{gz_testdb_url (fx->tdb), 0, 0, 0}, {gz_testdb_url (fx->tdb), 1, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&t[i], NULL, s_writer, &w[i]), 0);
    //  While they run, a reader must only ever see a gap-free prefix:
    //  positions commit in order.
    int checks = 0, torn = 0;
    for (int i = 0; i < 200; i++) {
        PGresult *r = PQexecParams (gz_db_conn (fx->qdb),
                                    "SELECT count(*), coalesce(max(position), 0)"
                                    " FROM prod.outbox WHERE stream = 's'",
                                    0, NULL, NULL, NULL, NULL, 0);
        assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
        if (strcmp (PQgetvalue (r, 0, 0), PQgetvalue (r, 0, 1)) != 0)
            torn++;
        PQclear (r);
        checks++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join (t[i], NULL);
    assert_int_equal (torn, 0);
    assert_int_equal (w[0].failures + w[1].failures, 0);
    long long total = w[0].events + w[1].events;
    assert_true (total >= 300);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), total);
    assert_int_equal (s_q (fx, "SELECT min(position) FROM prod.outbox"), 1);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), total);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), total);
    //  Each writer's events are in its own order.
    assert_int_equal (s_q (fx, "SELECT count(*) FROM (SELECT convert_from (payload, 'UTF8')::int"
                               " AS seq, row_number () OVER (PARTITION BY key ORDER BY position)"
                               " AS rn FROM prod.outbox) x WHERE seq <> rn"),
                      0);
    //  Both writers interleaved (the lock, not luck, kept the order).
    assert_true (s_q (fx, "SELECT count(*) FROM (SELECT key, lag (key) OVER (ORDER BY position)"
                          " AS prev FROM prod.outbox) x WHERE key <> prev") > 0);
    print_message ("concurrent: %lld events, %d reader checks\n", total, checks);
}

static void
test_live_delivery (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    s_wait_link (pub, sub);

    for (int i = 0; i < 5; i++)
        s_produce (fx->pdb, pub, 10, true);
    assert_true (s_pump (pub, sub, NULL, true, 50, 10000));
    assert_int_equal (gz_bus_sub_position (sub), 50);
    assert_int_equal (gz_bus_sub_consumed (sub), 50);
    assert_int_equal (gz_bus_sub_caught_up (sub), 0); //  all of it live
    assert_int_equal (gz_bus_sub_duplicates (sub), 0);
    assert_int_equal (gz_bus_sub_bad (sub), 0);
    assert_int_equal (h.calls, 50);
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 50);
    assert_int_equal (s_q (fx, "SELECT position FROM cons.bus_cursor"
                               " WHERE consumer = 'c1' AND stream = 's'"),
                      50);

    //  Throughput through pub -> sub, for the record.
    int64_t start = zclock_mono ();
    for (int i = 0; i < 20; i++)
        s_produce (fx->pdb, pub, 100, true);
    assert_true (s_pump (pub, sub, NULL, true, 2050, 30000));
    int64_t ms = zclock_mono () - start;
    assert_int_equal (gz_bus_sub_caught_up (sub), 0);
    s_assert_applied (fx, 2050);
    print_message ("live: 2000 events committed, published and applied in %lld ms\n",
                   (long long) ms);

    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  Receive the next non-heartbeat message from a plain SUB socket.
static zmsg_t *
s_capture (zsock_t *tap)
{
    zpoller_t *poller = zpoller_new (tap, NULL);
    zmsg_t *msg = NULL;
    int64_t deadline = zclock_mono () + 5000;
    while (!msg && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, 100))
            continue;
        msg = zmsg_recv (tap);
        char *topic = msg ? zframe_strdup (zmsg_first (msg)) : NULL;
        if (topic && strncmp (topic, "Heartbeat/", 10) == 0)
            zmsg_destroy (&msg);
        free (topic);
    }
    zpoller_destroy (&poller);
    assert_non_null (msg);
    return msg;
}

static void
s_forward (zsock_t *relay, zmsg_t *msg)
{
    zmsg_t *copy = zmsg_dup (msg);
    assert_int_equal (zmsg_send (&copy, relay), 0);
}

//  Poll sub's socket (no ticks: only what arrives may act) until cond.
static void
s_read_until (gz_bus_sub_t *sub, uint64_t (*counter) (gz_bus_sub_t *), uint64_t want)
{
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t deadline = zclock_mono () + 5000;
    while (counter (sub) < want && zclock_mono () < deadline)
        if (zpoller_wait (poller, 20))
            gz_bus_sub_on_readable (sub);
    zpoller_destroy (&poller);
    assert_true (counter (sub) >= want);
}

static uint64_t
s_position_of (gz_bus_sub_t *sub)
{
    return (uint64_t) gz_bus_sub_position (sub);
}

//  A relay between the real publisher and the consumer decides what the
//  consumer gets: duplicates, garbage, a gap, a heartbeat past it.
static void
test_duplicates_bad_and_gaps (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    zsock_t *tap = zsock_new_sub (ep, "");
    zsock_t *relay = zsock_new (ZMQ_PUB);
    assert_non_null (tap);
    assert_non_null (relay);
    zsock_set_rcvtimeo (tap, 5000);
    int relay_port = zsock_bind (relay, LOCAL);
    assert_true (relay_port > 0);
    char *relay_ep = NULL;
    assert_true (asprintf (&relay_ep, "tcp://127.0.0.1:%d", relay_port) > 0);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, relay_ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);

    //  Link both hops: the tap hears the publisher's heartbeat, the
    //  consumer hears the relay's copies of heartbeats.
    zpoller_t *poller = zpoller_new (tap, NULL);
    zpoller_t *p2 = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t deadline = zclock_mono () + 10000;
    while (gz_bus_sub_heartbeats (sub) == 0 && zclock_mono () < deadline) {
        gz_bus_pub_tick (pub);
        if (zpoller_wait (poller, 50)) {
            zmsg_t *hb = zmsg_recv (tap);
            zmsg_send (&hb, relay);
        }
        if (zpoller_wait (p2, 20))
            gz_bus_sub_on_readable (sub);
    }
    zpoller_destroy (&p2);
    zpoller_destroy (&poller);
    assert_true (gz_bus_sub_heartbeats (sub) > 0);

    s_produce (fx->pdb, pub, 6, true);
    zmsg_t *m[6];
    for (int i = 0; i < 6; i++)
        m[i] = s_capture (tap);

    //  1 and 2 arrive live.
    s_forward (relay, m[0]);
    s_forward (relay, m[1]);
    s_read_until (sub, s_position_of, 2);
    assert_int_equal (gz_bus_sub_caught_up (sub), 0);

    //  A re-sent message is dropped.
    s_forward (relay, m[1]);
    s_read_until (sub, gz_bus_sub_duplicates, 1);
    assert_int_equal (gz_bus_sub_position (sub), 2);
    assert_int_equal (h.calls, 2);

    //  Undecodable: garbage in the envelope frame, and a lone frame.
    zstr_sendx (relay, "TestEvent", "not a protobuf \xff\xff\xff", NULL);
    s_read_until (sub, gz_bus_sub_bad, 1);
    zstr_send (relay, "one frame only");
    s_read_until (sub, gz_bus_sub_bad, 2);
    assert_int_equal (gz_bus_sub_position (sub), 2);

    //  5 arrives without 3 and 4: the gap is filled from PostgreSQL (and
    //  the catch-up takes 6 too, as it is committed).
    s_forward (relay, m[4]);
    s_read_until (sub, s_position_of, 6);
    assert_int_equal (gz_bus_sub_caught_up (sub), 4);
    s_forward (relay, m[5]);
    s_read_until (sub, gz_bus_sub_duplicates, 2);

    //  A heartbeat past the cursor makes it catch up: 7..9 were never
    //  relayed.
    s_produce (fx->pdb, pub, 3, true);
    gz_bus_pub_tick (pub);
    zmsg_t *hb = NULL;
    for (int i = 0; i < 50 && !hb; i++) {
        zmsg_t *msg = zmsg_recv (tap);
        char *topic = msg ? zframe_strdup (zmsg_first (msg)) : NULL;
        if (topic && strcmp (topic, "Heartbeat/" STREAM) == 0)
            hb = msg;
        else
            zmsg_destroy (&msg);
        free (topic);
    }
    assert_non_null (hb);
    zmsg_send (&hb, relay);
    s_read_until (sub, s_position_of, 9);
    assert_int_equal (gz_bus_sub_caught_up (sub), 7);
    assert_int_equal (gz_bus_sub_consumed (sub), 9);
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 9);

    for (int i = 0; i < 6; i++)
        zmsg_destroy (&m[i]);
    gz_bus_sub_destroy (&sub);
    zsock_destroy (&relay);
    zsock_destroy (&tap);
    gz_bus_pub_destroy (&pub);
    free (relay_ep);
    free (ep);
}

static void
test_late_consumer_catches_up (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    for (int i = 0; i < 3; i++)
        s_produce (fx->pdb, pub, 10, true); //  nobody listens yet

    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    assert_int_equal (gz_bus_sub_tick (sub), 0); //  the first tick catches up
    assert_int_equal (gz_bus_sub_position (sub), 30);
    assert_int_equal (gz_bus_sub_caught_up (sub), 30);
    s_assert_applied (fx, 30);

    //  Restart: events committed while it was away, then new live ones.
    gz_bus_sub_destroy (&sub);
    s_produce (fx->pdb, pub, 10, true);
    sub = gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    assert_int_equal (gz_bus_sub_position (sub), 30); //  the stored cursor
    assert_true (s_pump (pub, sub, NULL, true, 40, 10000));
    assert_int_equal (gz_bus_sub_consumed (sub), 10);
    assert_int_equal (gz_bus_sub_caught_up (sub), 10);
    s_wait_link (pub, sub);
    s_produce (fx->pdb, pub, 5, true);
    assert_true (s_pump (pub, sub, NULL, true, 45, 10000));
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 45);
    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  A publisher that is never heard from: the consumer notices the silence
//  and reads the outbox.
static void
test_silent_publisher (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, "inproc://silent-unused", NULL);
    assert_non_null (pub);
    zsock_t *mute = zsock_new (ZMQ_PUB); //  connected to, says nothing
    assert_non_null (mute);
    int port = zsock_bind (mute, LOCAL);
    assert_true (port > 0);
    char *ep = NULL;
    assert_true (asprintf (&ep, "tcp://127.0.0.1:%d", port) > 0);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    assert_int_equal (gz_bus_sub_tick (sub), 0);
    s_produce (fx->pdb, pub, 7, true);
    int64_t start = zclock_mono ();
    assert_true (s_pump (NULL, sub, NULL, true, 7, 10000));
    //  Silence is 3 heartbeat intervals (S_HEARTBEAT_MS here).
    assert_true (zclock_mono () - start >= 200);
    assert_int_equal (gz_bus_sub_caught_up (sub), 7);
    s_assert_applied (fx, 7);
    gz_bus_sub_destroy (&sub);
    zsock_destroy (&mute);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  Events committed to the outbox but never published (the process died
//  between COMMIT and gz_bus_pub_committed).
static void
test_publisher_crash_republished (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    int port = gz_bus_pub_port (pub);
    char *ep = s_endpoint_of (pub);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    s_wait_link (pub, sub);
    s_produce (fx->pdb, pub, 5, true);
    assert_true (s_pump (pub, sub, NULL, false, 5, 10000));

    //  "Crash": 20 events committed, never sent.
    s_produce (fx->pdb, pub, 12, false);
    s_produce (fx->pdb, pub, 8, false);
    gz_bus_pub_destroy (&pub);
    assert_int_equal (s_q (fx, "SELECT published FROM prod.bus_stream"), 5);

    //  The next publisher (same endpoint) re-sends them on its first tick.
    char bind[64];
    snprintf (bind, sizeof bind, "tcp://127.0.0.1:%d", port);
    //  ZeroMQ closes the old listener in its I/O thread, a moment after
    //  zsock_destroy (a killed process frees it at once): retry the bind.
    int64_t deadline = zclock_mono () + 5000;
    while (!(pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, bind, NULL)) &&
           zclock_mono () < deadline)
        zclock_sleep (20);
    assert_non_null (pub);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (gz_bus_pub_republished (pub), 20);
    assert_int_equal (gz_bus_pub_head (pub), 25);
    assert_int_equal (s_q (fx, "SELECT published FROM prod.bus_stream"), 25);
    //  The consumer gets them: live if its reconnect beat the first tick,
    //  else through the heartbeat's head (never lost either way).
    assert_true (s_pump (pub, sub, NULL, false, 25, 10000));
    s_assert_applied (fx, 25);
    //  Later ticks re-send nothing.
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (gz_bus_pub_republished (pub), 20);
    print_message ("crash: %llu of 20 re-sent events arrived live\n",
                   (unsigned long long) (20 - gz_bus_sub_caught_up (sub)));

    //  Left behind by another writer on the stream (a replica that died
    //  after COMMIT): the live publisher's next tick re-sends them over the
    //  link that is already up, so they arrive live.
    s_wait_link (pub, sub);
    uint64_t caught = gz_bus_sub_caught_up (sub);
    gz_db_t *odb = gz_db_new (gz_testdb_url (fx->tdb), "test-other");
    gz_bus_pub_t *other = gz_bus_pub_new (odb, "prod", STREAM, "inproc://other-replica", NULL);
    assert_non_null (other);
    s_produce (odb, other, 10, false);
    gz_bus_pub_destroy (&other);
    gz_db_destroy (&odb);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (gz_bus_pub_republished (pub), 30);
    assert_true (s_pump (pub, sub, NULL, false, 35, 10000));
    assert_int_equal (gz_bus_sub_caught_up (sub), caught);
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 35);

    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

static void
test_handler_failure_rolls_back (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    s_wait_link (pub, sub);
    gz_bus_sub_tick (sub);

    s_produce (fx->pdb, pub, 3, true);
    assert_true (s_pump (pub, sub, NULL, false, 3, 10000));

    //  The 3rd call of the next batch fails: the whole batch rolls back,
    //  the effects of the events before it included.
    h.fail_call = h.calls + 3;
    s_produce (fx->pdb, pub, 10, true);
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t deadline = zclock_mono () + 5000;
    int rc = 0;
    while (h.failed_pos == 0 && zclock_mono () < deadline)
        if (zpoller_wait (poller, 20))
            rc = gz_bus_sub_on_readable (sub);
    zpoller_destroy (&poller);
    assert_int_equal (rc, -1);
    assert_true (h.failed_pos > 3);
    int64_t at = gz_bus_sub_position (sub);
    assert_true (at < h.failed_pos);
    assert_int_equal (s_q (fx, "SELECT position FROM cons.bus_cursor WHERE consumer = 'c1'"), at);
    s_assert_applied (fx, at); //  nothing of the failed batch stayed
    print_message ("handler failure at position %lld, cursor stayed at %lld\n",
                   (long long) h.failed_pos, (long long) at);

    //  Retried later (the tick), applied once.
    assert_true (s_pump (pub, sub, NULL, true, 13, 10000));
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 13);
    assert_int_equal (s_q (fx, "SELECT position FROM cons.bus_cursor WHERE consumer = 'c1'"), 13);
    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  Consume-transform-produce: a handler that stages a derived event on a
//  publisher chained with gz_bus_sub_set_outbox.
typedef struct {
    handler_t h;
    gz_bus_pub_t *out;
} chain_t;

static int
s_chain_handler (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    chain_t *c = arg;
    if (s_handler (db, env, &c->h))
        return -1;
    char payload[24];
    snprintf (payload, sizeof payload, "from %lld", (long long) env->position);
    gz_bus_pub_stage (c->out, "Derived", env->key, NULL, (const uint8_t *) payload,
                      strlen (payload), NULL, NULL);
    return 0;
}

//  Events staged by the handler commit with the cursor and are sent after
//  the commit; a rolled-back batch leaves no outbox rows and sends nothing.
static void
test_outbox_chain (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    chain_t c = {{0}, NULL};
    c.out = gz_bus_pub_new (fx->cdb, "cons", "out", LOCAL, NULL);
    assert_non_null (c.out);
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_chain_handler, &c, &fx->opts);
    assert_non_null (sub);
    gz_bus_sub_set_outbox (sub, c.out);
    s_wait_link (pub, sub);
    gz_bus_sub_tick (sub);

    s_produce (fx->pdb, pub, 3, true);
    assert_true (s_pump (pub, sub, NULL, false, 3, 10000));
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.outbox WHERE stream = 'out'"), 3);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM cons.outbox WHERE stream = 'out'"), 3);
    assert_int_equal (gz_bus_pub_published (c.out), 3);
    assert_int_equal (gz_bus_pub_head (c.out), 3);

    //  A batch that fails on its 3rd event rolls back whole: none of its
    //  derived events stays in the outbox or goes out.
    c.h.fail_call = c.h.calls + 3;
    s_produce (fx->pdb, pub, 10, true);
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t deadline = zclock_mono () + 5000;
    while (c.h.failed_pos == 0 && zclock_mono () < deadline)
        if (zpoller_wait (poller, 20))
            gz_bus_sub_on_readable (sub);
    zpoller_destroy (&poller);
    assert_true (c.h.failed_pos > 3);
    int64_t at = gz_bus_sub_position (sub);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.outbox WHERE stream = 'out'"), at);
    assert_int_equal ((int64_t) gz_bus_pub_published (c.out), at);
    assert_int_equal (s_q (fx, "SELECT head FROM cons.bus_stream WHERE stream = 'out'"), at);

    //  Retried: every input once, every derived event once, gap-free.
    assert_true (s_pump (pub, sub, NULL, true, 13, 10000));
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.outbox WHERE stream = 'out'"), 13);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM cons.outbox WHERE stream = 'out'"), 13);
    assert_int_equal (s_q (fx, "SELECT count(DISTINCT payload) FROM cons.outbox"
                               " WHERE stream = 'out'"),
                      13);
    assert_int_equal (gz_bus_pub_published (c.out), 13);
    s_assert_applied (fx, 13);
    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&c.out);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  The batch flush hook: called once per batch after the handler saw all
//  of it, inside the transaction. Counts what it saw; fails on request.
typedef struct {
    chain_t c;
    int pending;    //  events the handler saw since the last flush
    int flushes;    //  flush calls
    int flushed;    //  events covered by successful flushes
    int fail_flush; //  this flush call (1, 2, ...) fails
    bool failed;
} flush_t;

static int
s_flush_handler (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    flush_t *f = arg;
    if (s_chain_handler (db, env, &f->c))
        return -1;
    f->pending++;
    return 0;
}

static int
s_flush (gz_db_t *db, void *arg)
{
    flush_t *f = arg;
    assert_int_equal (PQtransactionStatus (gz_db_conn (db)), PQTRANS_INTRANS);
    int seen = f->pending;
    f->pending = 0;
    if (++f->flushes == f->fail_flush) {
        f->failed = true;
        return -1;
    }
    f->flushed += seen;
    return 0;
}

//  The flush sees every event of a batch; its failure rolls the batch
//  back (effects, cursor and derived events) and nothing is published.
static void
test_batch_flush (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    flush_t f;
    memset (&f, 0, sizeof f);
    f.c.out = gz_bus_pub_new (fx->cdb, "cons", "out", LOCAL, NULL);
    assert_non_null (f.c.out);
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_flush_handler, &f, &fx->opts);
    assert_non_null (sub);
    gz_bus_sub_set_outbox (sub, f.c.out);
    gz_bus_sub_set_flush (sub, s_flush, &f);
    s_wait_link (pub, sub);
    gz_bus_sub_tick (sub);

    s_produce (fx->pdb, pub, 7, true);
    assert_true (s_pump (pub, sub, NULL, false, 7, 10000));
    assert_int_equal (f.flushed, 7);
    assert_int_equal (f.pending, 0);
    assert_true (f.flushes >= 1 && f.flushes <= 7);
    assert_int_equal (gz_bus_pub_published (f.c.out), 7);

    //  The next flush fails: its whole batch rolls back.
    f.fail_flush = f.flushes + 1;
    s_produce (fx->pdb, pub, 10, true);
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t deadline = zclock_mono () + 5000;
    while (!f.failed && zclock_mono () < deadline)
        if (zpoller_wait (poller, 20))
            gz_bus_sub_on_readable (sub);
    zpoller_destroy (&poller);
    assert_true (f.failed);
    int64_t at = gz_bus_sub_position (sub);
    assert_int_equal (at, 7);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.applied"), 7);
    assert_int_equal (s_q (fx, "SELECT position FROM cons.bus_cursor WHERE consumer = 'c1'"), 7);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.outbox WHERE stream = 'out'"), 7);
    assert_int_equal (gz_bus_pub_published (f.c.out), 7);

    //  Retried: every input once, every derived event once.
    assert_true (s_pump (pub, sub, NULL, true, 17, 10000));
    assert_int_equal (f.flushed, 17);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM cons.outbox WHERE stream = 'out'"), 17);
    assert_int_equal (gz_bus_pub_published (f.c.out), 17);
    assert_int_equal (f.c.h.errors, 0);
    s_assert_applied (fx, 17);
    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&f.c.out);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  Two replicas of one consumer share its cursor: every position is
//  applied once in all, whoever gets it first.
static void
test_replicas_apply_once (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    gz_db_t *cdb2 = gz_db_new (gz_testdb_url (fx->tdb), "test-consumer-2");
    handler_t ha = {0}, hb = {0};
    gz_bus_sub_t *a =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &ha, &fx->opts);
    gz_bus_sub_t *b =
        gz_bus_sub_new (cdb2, "c1", "cons", "prod", STREAM, ep, s_handler, &hb, &fx->opts);
    assert_non_null (a);
    assert_non_null (b);
    s_wait_link (pub, a);
    s_wait_link (pub, b);
    for (int i = 0; i < 20; i++) {
        s_produce (fx->pdb, pub, 10, true);
        if (i % 5 == 0)
            s_pump (pub, a, b, true, 10 * (i + 1), 20);
    }
    assert_true (s_pump (pub, a, b, true, 200, 20000));
    assert_int_equal (ha.errors + hb.errors, 0);
    assert_int_equal (gz_bus_sub_consumed (a) + gz_bus_sub_consumed (b), 200);
    s_assert_applied (fx, 200);
    print_message ("replicas: a applied %llu, b applied %llu\n",
                   (unsigned long long) gz_bus_sub_consumed (a),
                   (unsigned long long) gz_bus_sub_consumed (b));
    gz_bus_sub_destroy (&a);
    gz_bus_sub_destroy (&b);
    gz_db_destroy (&cdb2);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  The consumer's connection dies: on_readable fails (returns -1, no
//  crash), the tick reconnects and catches up.
static void
test_database_lost (void **state)
{
    fx_t *fx = *state;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    s_wait_link (pub, sub);
    s_produce (fx->pdb, pub, 4, true);
    assert_true (s_pump (pub, sub, NULL, true, 4, 10000));

    char pid[16];
    snprintf (pid, sizeof pid, "%d", PQbackendPID (gz_db_conn (fx->cdb)));
    const char *v[1] = {pid};
    PGresult *r = PQexecParams (gz_db_conn (fx->qdb), "SELECT pg_terminate_backend ($1::int)", 1,
                                NULL, v, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    PQclear (r);

    s_produce (fx->pdb, pub, 6, true);
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int failed = 0;
    int64_t deadline = zclock_mono () + 5000;
    while (!failed && zclock_mono () < deadline)
        if (zpoller_wait (poller, 20))
            failed = gz_bus_sub_on_readable (sub) == -1;
    zpoller_destroy (&poller);
    assert_true (failed);
    assert_false (gz_db_ok (fx->cdb));

    assert_true (s_pump (pub, sub, NULL, true, 10, 10000));
    assert_true (gz_db_ok (fx->cdb));
    assert_int_equal (h.errors, 0);
    s_assert_applied (fx, 10);

    //  The producer's connection too: the write fails cleanly, the tick
    //  reports -1, and after gz_db_ensure all is well again.
    snprintf (pid, sizeof pid, "%d", PQbackendPID (gz_db_conn (fx->pdb)));
    r = PQexecParams (gz_db_conn (fx->qdb), "SELECT pg_terminate_backend ($1::int)", 1, NULL, v,
                      NULL, NULL, 0);
    PQclear (r);
    //  BEGIN goes out with the write (one round trip), so that fails.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    gz_bus_pub_stage (pub, "TestEvent", "k", NULL, NULL, 0, NULL, NULL);
    assert_int_equal (gz_bus_pub_write (pub), -1);
    gz_db_rollback (fx->pdb);
    gz_bus_pub_aborted (pub);
    assert_int_equal (gz_bus_pub_tick (pub), -1);
    assert_int_equal (gz_db_ensure (fx->pdb), 0);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    s_produce (fx->pdb, pub, 2, true);
    assert_true (s_pump (pub, sub, NULL, true, 12, 10000));
    s_assert_applied (fx, 12);

    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

//  ---------------------------------------------------------------- writers

//  A plain SUB socket on pub's stream (everything, heartbeats included),
//  with no receive limit so a busy test never loses a message to the
//  high-water mark. Returns once a heartbeat arrived: the subscription is
//  then in place and nothing published afterwards is dropped.
static zsock_t *
s_tap_new (gz_bus_pub_t *pub)
{
    char *ep = s_endpoint_of (pub);
    zsock_t *tap = zsock_new (ZMQ_SUB);
    assert_non_null (tap);
    zsock_set_rcvhwm (tap, 0);
    zsock_set_subscribe (tap, "");
    assert_int_equal (zsock_connect (tap, "%s", ep), 0);
    free (ep);
    zpoller_t *poller = zpoller_new (tap, NULL);
    int64_t deadline = zclock_mono () + 10000;
    bool linked = false;
    while (!linked && zclock_mono () < deadline) {
        gz_bus_pub_tick (pub);
        if (!zpoller_wait (poller, 50))
            continue;
        zmsg_t *msg = zmsg_recv (tap);
        char *topic = msg ? zframe_strdup (zmsg_first (msg)) : NULL;
        linked = topic && strncmp (topic, "Heartbeat/", 10) == 0;
        free (topic);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    assert_true (linked);
    return tap;
}

//  The next envelope on tap (heartbeats included), or NULL when none
//  arrives within timeout_ms. Anything else than [topic][Envelope] fails.
static gz_envelope_t *
s_tap_recv (zsock_t *tap, int timeout_ms)
{
    zsock_set_rcvtimeo (tap, timeout_ms);
    zmsg_t *msg = zmsg_recv (tap);
    if (!msg)
        return NULL;
    assert_int_equal (zmsg_size (msg), 2);
    zframe_t *body = zmsg_last (msg);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (body), zframe_size (body));
    zmsg_destroy (&msg);
    assert_non_null (env);
    return env;
}

static bool
s_is_heartbeat (const gz_envelope_t *env)
{
    return strcmp (env->type, "Heartbeat") == 0;
}

#define SHARE_WRITERS 3
#define SHARE_TXS 200
#define SHARE_MAX_EVENTS 4096 //  more than the writers and the root can commit

//  One writer thread of test_writers_share_socket.
typedef struct {
    gz_bus_pub_t *root;
    const char *url;
    int thread;
    int mode;      //  0: write + gz_db_commit, 1: write_commit, 2: either, at random
    int events;    //  committed (its payloads are 1..events in commit order)
    int committed; //  committed transactions
    int effects;   //  committed transactions with a row of the caller's own
    int rollbacks; //  written, then rolled back on purpose
    int failures;  //  anything that failed unexpectedly
    atomic_int *running;
} share_t;

static void *
s_share_writer (void *arg)
{
    share_t *s = arg;
    gz_db_t *db = gz_db_new (s->url, "test-writer");
    gz_bus_pub_t *w = gz_db_ok (db) ? gz_bus_pub_new_writer (s->root, db) : NULL;
    gz_db_prepare (db, "t_share", "INSERT INTO prod.share_effects (writer, seq) VALUES ($1, $2)");
    char key[16], thread[16];
    snprintf (key, sizeof key, "t%d", s->thread);
    snprintf (thread, sizeof thread, "%d", s->thread);
    unsigned seed = (unsigned) s->thread * 7919 + 17;
    int seq = 0;
    for (int tx = 0; tx < SHARE_TXS && w; tx++) {
        int n = 1 + (int) (rand_r (&seed) % 5);
        bool rollback = rand_r (&seed) % 10 == 0;
        bool one_trip = s->mode == 2 ? rand_r (&seed) % 2 : s->mode == 1;
        //  Mostly a row of the caller's own first (then the BEGIN goes
        //  with it), else the BEGIN goes with the write (and the COMMIT).
        bool effect = s->mode != 2 || rand_r (&seed) % 2;
        //  Then its events: payloads continue the writer's sequence
        //  (rolled-back ones are typed "Aborted").
        int rc = gz_db_begin (db);
        if (rc == 0 && effect) {
            char txseq[16];
            snprintf (txseq, sizeof txseq, "%d", rollback ? -tx - 1 : seq + 1);
            const char *v[2] = {thread, txseq};
            PGresult *r = gz_db_exec (db, "t_share", 2, v);
            rc = r ? 0 : -1;
            PQclear (r);
        }
        for (int i = 0; i < n; i++) {
            char payload[16];
            snprintf (payload, sizeof payload, "%d", seq + i + 1);
            gz_bus_pub_stage (w, rollback ? "Aborted" : "TestEvent", key, NULL,
                              (const uint8_t *) payload, strlen (payload), NULL, NULL);
        }
        if (rollback) {
            if (rc == 0)
                rc = gz_bus_pub_write (w);
            gz_db_rollback (db);
            gz_bus_pub_aborted (w);
            if (rc == 0)
                s->rollbacks++;
        }
        else if (rc == 0 && one_trip)
            rc = gz_bus_pub_write_commit (w);
        else if (rc == 0) {
            rc = gz_bus_pub_write (w);
            if (rc == 0)
                rc = gz_db_commit (db);
        }
        if (rc == 0 && !rollback) {
            gz_bus_pub_committed (w);
            seq += n;
            s->committed++;
            s->effects += effect;
        }
        else if (rc != 0) {
            gz_db_rollback (db);
            gz_bus_pub_aborted (w);
            s->failures++;
        }
    }
    if (!w)
        s->failures++;
    s->events = seq;
    gz_bus_pub_destroy (&w);
    gz_db_destroy (&db);
    atomic_fetch_sub (s->running, 1);
    return NULL;
}

//  What the tap saw of the live stream.
typedef struct {
    int64_t last;    //  last position of the gap-free run from 1
    int64_t anomaly; //  first position out of order (0: none)
    int64_t after;   //  the last position before it
    int duplicates;  //  positions received again (<= last)
    int gaps;        //  positions past last + 1
    int heartbeats;  //  heartbeats received
    int hb_mismatch; //  heartbeats whose head was not the last event sent
    char (*ids)[37]; //  ids[p]: the id received at position p
} live_t;

//  Take what is on tap now (waiting up to wait_ms for the first message).
static void
s_live_drain (zsock_t *tap, live_t *l, int wait_ms)
{
    gz_envelope_t *env;
    while ((env = s_tap_recv (tap, wait_ms)) != NULL) {
        wait_ms = 0;
        if (s_is_heartbeat (env)) {
            //  Sent under the lock after every committed event was sent:
            //  its head is the last position before it on the wire.
            l->heartbeats++;
            if (env->position != l->last)
                l->hb_mismatch++;
        }
        else if (env->position == l->last + 1 && env->position < SHARE_MAX_EVENTS) {
            l->last = env->position;
            snprintf (l->ids[l->last], sizeof l->ids[l->last], "%s", env->id);
        }
        else {
            if (!l->anomaly) {
                l->anomaly = env->position;
                l->after = l->last;
            }
            if (env->position <= l->last)
                l->duplicates++;
            else
                l->gaps++;
        }
        gz_codec_envelope_free (&env);
    }
}

//  A root publisher and three writers on their own connections and
//  threads commit concurrently (write + COMMIT, write_commit, rollbacks
//  after a write) while the root ticks and commits now and then: the live
//  stream on the shared socket carries 1..N exactly once each, in order,
//  with no catch-up, and N is what committed.
static void
test_writers_share_socket (void **state)
{
    fx_t *fx = *state;
    assert_int_equal (gz_db_command (fx->qdb, "CREATE TABLE prod.share_effects ("
                                              "  writer int NOT NULL, seq int NOT NULL,"
                                              "  PRIMARY KEY (writer, seq))"),
                      0);
    gz_bus_pub_t *root = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (root);
    zsock_t *tap = s_tap_new (root);
    live_t live = {0};
    live.ids = calloc (SHARE_MAX_EVENTS, sizeof *live.ids);
    assert_non_null (live.ids);
    s_live_drain (tap, &live, 0); //  heartbeats of the link, head 0

    atomic_int running = SHARE_WRITERS;
    share_t s[SHARE_WRITERS];
    pthread_t t[SHARE_WRITERS];
    for (int i = 0; i < SHARE_WRITERS; i++) {
        s[i] = (share_t){.root = root,
                         .url = gz_testdb_url (fx->tdb),
                         .thread = i,
                         .mode = i % 3,
                         .running = &running};
        assert_int_equal (pthread_create (&t[i], NULL, s_share_writer, &s[i]), 0);
    }
    //  Meanwhile: read the live stream, tick, and commit on the root too.
    int ticks = 0, tick_failures = 0, root_txs = 0;
    long long root_events = 0;
    int64_t deadline = zclock_mono () + 60000;
    int64_t start = zclock_mono ();
    while (atomic_load (&running) > 0 && zclock_mono () < deadline) {
        s_live_drain (tap, &live, 2);
        tick_failures += gz_bus_pub_tick (root) != 0;
        ticks++;
        if (ticks % 2 == 0 && root_txs < 30) {
            int n = 1 + root_txs % 3;
            s_produce (fx->pdb, root, n, true);
            root_events += n;
            root_txs++;
        }
    }
    int64_t ms = zclock_mono () - start;
    for (int i = 0; i < SHARE_WRITERS; i++)
        assert_int_equal (pthread_join (t[i], NULL), 0);

    long long total = root_events, txs = 0, effects = 0;
    int rollbacks = 0, failures = 0;
    for (int i = 0; i < SHARE_WRITERS; i++) {
        total += s[i].events;
        txs += s[i].committed;
        effects += s[i].effects;
        rollbacks += s[i].rollbacks;
        failures += s[i].failures;
    }
    assert_int_equal (failures, 0);
    assert_int_equal (tick_failures, 0);
    assert_true (rollbacks > 0);
    assert_true (ticks >= 3);
    assert_true (total < SHARE_MAX_EVENTS);

    //  The rest of the live stream, then one more tick: it re-sends
    //  nothing (its heartbeat comes right after position total).
    deadline = zclock_mono () + 10000;
    while (live.last < total && !live.anomaly && zclock_mono () < deadline)
        s_live_drain (tap, &live, 50);
    int before = live.heartbeats;
    assert_int_equal (gz_bus_pub_tick (root), 0);
    deadline = zclock_mono () + 5000;
    while (live.heartbeats == before && zclock_mono () < deadline)
        s_live_drain (tap, &live, 50);
    print_message ("writers: %lld events in %lld transactions (+%d rolled back, %d by the root)"
                   " in %lld ms, %d ticks, %d heartbeats\n",
                   total, txs + root_txs, rollbacks, root_txs, (long long) ms, ticks,
                   live.heartbeats);
    if (live.anomaly)
        print_message ("live stream: position %lld after %lld (%d duplicates, %d gaps)\n",
                       (long long) live.anomaly, (long long) live.after, live.duplicates,
                       live.gaps);
    assert_int_equal (live.anomaly, 0);
    assert_int_equal (live.duplicates, 0);
    assert_int_equal (live.gaps, 0);
    assert_int_equal (live.last, total);
    assert_true (live.heartbeats > before);
    assert_int_equal (live.hb_mismatch, 0);

    //  What went out is what committed: N rows, head N, all sent once.
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), total);
    assert_int_equal (s_q (fx, "SELECT min(position) FROM prod.outbox"), 1);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), total);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), total);
    assert_int_equal (s_q (fx, "SELECT published FROM prod.bus_stream WHERE stream = 's'"), total);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox WHERE type = 'Aborted'"), 0);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.share_effects"), effects);
    assert_true (effects < txs); //  some transactions had no row of their own
    assert_int_equal ((long long) gz_bus_pub_published (root), total);
    assert_int_equal (gz_bus_pub_republished (root), 0);
    assert_int_equal (gz_bus_pub_head (root), total);
    //  Each position carried the event that committed there (never one
    //  rolled back with the same position).
    char *arr = malloc ((size_t) total * 37 + 3);
    assert_non_null (arr);
    size_t len = 0;
    arr[len++] = '{';
    for (long long p = 1; p <= total; p++)
        len += (size_t) sprintf (arr + len, "%s%s", p > 1 ? "," : "", live.ids[p]);
    arr[len++] = '}';
    arr[len] = 0;
    const char *v[1] = {arr};
    PGresult *r = PQexecParams (gz_db_conn (fx->qdb),
                                "SELECT count(*) FROM prod.outbox o JOIN unnest ($1::uuid[])"
                                " WITH ORDINALITY AS l (id, position)"
                                " ON o.position = l.position AND o.id = l.id",
                                1, NULL, v, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    assert_int_equal (strtoll (PQgetvalue (r, 0, 0), NULL, 10), total);
    PQclear (r);
    free (arr);
    //  Each writer's events are in its own commit order, and the writers
    //  interleaved (the shared lock, not luck, kept the order).
    assert_int_equal (s_q (fx, "SELECT count(*) FROM (SELECT convert_from (payload, 'UTF8')::int"
                               " AS seq, row_number () OVER (PARTITION BY key ORDER BY position)"
                               " AS rn FROM prod.outbox WHERE key LIKE 't%') x WHERE seq <> rn"),
                      0);
    assert_true (s_q (fx, "SELECT count(*) FROM (SELECT key, lag (key) OVER (ORDER BY position)"
                          " AS prev FROM prod.outbox) x WHERE key <> prev") > SHARE_WRITERS);

    free (live.ids);
    zsock_destroy (&tap);
    gz_bus_pub_destroy (&root);
}

//  ---------------------------------------------------------------- write_commit

//  The caller's own row in its transaction: prod.effects (id, parent),
//  parent checked only at COMMIT (a deferred foreign key), so a row with
//  a missing parent makes the COMMIT, and only the COMMIT, fail.
static void
s_effect (gz_db_t *db, const char *id, const char *parent)
{
    gz_db_prepare (db, "t_effect", "INSERT INTO prod.effects (id, parent) VALUES ($1, $2)");
    const char *v[2] = {id, parent};
    PGresult *r = gz_db_exec (db, "t_effect", 2, v);
    assert_non_null (r);
    PQclear (r);
}

static void
s_stage_n (gz_bus_pub_t *pub, const char *type, int n)
{
    for (int i = 0; i < n; i++)
        gz_bus_pub_stage (pub, type, "k", NULL, (const uint8_t *) type, strlen (type), NULL, NULL);
}

//  The transaction is over (committed or rolled back) on db's connection.
static void
s_assert_idle (gz_db_t *db)
{
    assert_int_equal (PQtransactionStatus (gz_db_conn (db)), PQTRANS_IDLE);
}

//  gz_bus_pub_write_commit commits the caller's row and the events in one
//  go, on the root and on a writer, on the first call (the stream row not
//  yet known: write, then COMMIT) and later ones (one pipeline); a COMMIT
//  that fails returns -1 and leaves nothing behind, and the next
//  transaction takes the next position.
static void
test_write_commit (void **state)
{
    fx_t *fx = *state;
    assert_int_equal (gz_db_command (fx->qdb, "CREATE TABLE prod.effects ("
                                              "  id int PRIMARY KEY,"
                                              "  parent int REFERENCES prod.effects (id)"
                                              "    DEFERRABLE INITIALLY DEFERRED)"),
                      0);
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    zsock_t *tap = s_tap_new (pub);
    gz_db_t *wdb = gz_db_new (gz_testdb_url (fx->tdb), "test-writer");
    assert_true (gz_db_ok (wdb));
    gz_bus_pub_t *w = gz_bus_pub_new_writer (pub, wdb);
    assert_non_null (w);

    //  The writer's first write_commit fails at COMMIT (write, then COMMIT).
    assert_int_equal (gz_db_begin (wdb), 0);
    s_effect (wdb, "100", "999");
    s_stage_n (w, "Bad", 2);
    assert_int_equal (gz_bus_pub_write_commit (w), -1);
    assert_string_equal (gz_db_sqlstate (wdb), "23503");
    gz_db_rollback (wdb);
    gz_bus_pub_aborted (w);
    s_assert_idle (wdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 0);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects"), 0);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 0);
    assert_int_equal (gz_bus_pub_published (pub), 0);
    assert_int_equal (gz_bus_pub_tick (pub), 0); //  the shared lock was let go

    //  The root's first write_commit: both committed, visible elsewhere
    //  before gz_bus_pub_committed.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "1", NULL);
    s_stage_n (pub, "Good", 2);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    s_assert_idle (fx->pdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects WHERE id = 1"), 1);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 2);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 2);
    gz_bus_pub_committed (pub);
    assert_int_equal (gz_bus_pub_published (pub), 2);
    assert_int_equal (gz_bus_pub_head (pub), 2);

    //  Later ones (one round trip: BEGIN, the caller's row, then the write
    //  and COMMIT in one pipeline).
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "2", "1");
    s_stage_n (pub, "Good", 3);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    s_assert_idle (fx->pdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects WHERE id = 2"), 1);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), 5);
    gz_bus_pub_committed (pub);

    //  A COMMIT that fails in the pipeline: -1, nothing of it stays.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "3", "999");
    s_stage_n (pub, "Bad", 2);
    assert_int_equal (gz_bus_pub_write_commit (pub), -1);
    assert_string_equal (gz_db_sqlstate (fx->pdb), "23503");
    gz_db_rollback (fx->pdb);
    gz_bus_pub_aborted (pub);
    s_assert_idle (fx->pdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 5);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects"), 2);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 5);
    assert_int_equal (gz_bus_pub_published (pub), 5);
    assert_int_equal (gz_bus_pub_head (pub), 5);

    //  The writer: a success (its first: write, then COMMIT), a failure
    //  in the pipeline, a success in the pipeline; positions go on.
    assert_int_equal (gz_db_begin (wdb), 0);
    s_effect (wdb, "4", "2");
    s_stage_n (w, "Good", 1);
    assert_int_equal (gz_bus_pub_write_commit (w), 0);
    gz_bus_pub_committed (w);
    assert_int_equal (s_q (fx, "SELECT position FROM prod.outbox WHERE position > 5"), 6);
    assert_int_equal (gz_db_begin (wdb), 0);
    s_effect (wdb, "5", "999");
    s_stage_n (w, "Bad", 1);
    assert_int_equal (gz_bus_pub_write_commit (w), -1);
    gz_db_rollback (wdb);
    gz_bus_pub_aborted (w);
    s_assert_idle (wdb);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 6);
    assert_int_equal (gz_db_begin (wdb), 0);
    s_effect (wdb, "6", "4");
    s_stage_n (w, "Good", 2);
    assert_int_equal (gz_bus_pub_write_commit (w), 0);
    gz_bus_pub_committed (w);
    s_assert_idle (wdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 8);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), 8);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 8);
    assert_int_equal (gz_bus_pub_published (pub), 8);
    assert_int_equal (gz_bus_pub_head (w), 8); //  the root's, read through the writer

    //  Nothing staged: write_commit just commits the caller's row, and
    //  with nothing run at all it commits nothing and succeeds.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "7", NULL);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    s_assert_idle (fx->pdb);
    gz_bus_pub_committed (pub);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects WHERE id = 7"), 1);
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    gz_bus_pub_committed (pub);
    s_assert_idle (fx->pdb);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 8);
    assert_int_equal (gz_bus_pub_published (pub), 8);

    //  Everything staged already written: write_commit only commits.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "8", "7");
    s_stage_n (pub, "Good", 1);
    assert_int_equal (gz_bus_pub_write (pub), 0);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    s_assert_idle (fx->pdb);
    gz_bus_pub_committed (pub);

    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 9);
    assert_int_equal (s_q (fx, "SELECT max(position) FROM prod.outbox"), 9);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox WHERE type = 'Bad'"), 0);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects"), 6);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects WHERE id IN (3, 5, 100)"), 0);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream WHERE stream = 's'"), 9);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (gz_bus_pub_published (pub), 9);
    assert_int_equal (gz_bus_pub_republished (pub), 0);

    //  On the wire: 1..9 once each, in order, then the last tick's
    //  heartbeat with head 9.
    int64_t expect = 1;
    bool done = false;
    gz_envelope_t *env;
    while (!done && (env = s_tap_recv (tap, 5000)) != NULL) {
        if (s_is_heartbeat (env))
            done = env->position == 9;
        else {
            assert_int_equal (env->position, expect);
            assert_string_equal (env->type, "Good");
            expect++;
        }
        gz_codec_envelope_free (&env);
    }
    assert_true (done);
    assert_int_equal (expect, 10);

    gz_bus_pub_destroy (&w);
    gz_db_destroy (&wdb);
    zsock_destroy (&tap);
    gz_bus_pub_destroy (&pub);
}

//  A publisher made while the database was down has no stream row. Its
//  first write creates the row inside the caller's transaction; when that
//  rolls back, the row is gone again, and a later write_commit must still
//  not commit the caller's effects without their events. And a COMMIT
//  after a failed statement the caller ignored rolls back: it must fail,
//  so no event goes out for it.
static void
test_write_commit_missing_stream_row (void **state)
{
    fx_t *fx = *state;
    assert_int_equal (gz_db_command (fx->qdb, "CREATE TABLE prod.effects ("
                                              "  id int PRIMARY KEY, parent int)"),
                      0);
    //  Take the producer's connection away, so gz_bus_pub_new cannot
    //  create the stream row.
    char pid[16];
    snprintf (pid, sizeof pid, "%d", PQbackendPID (gz_db_conn (fx->pdb)));
    const char *v[1] = {pid};
    PGresult *r = PQexecParams (gz_db_conn (fx->qdb), "SELECT pg_terminate_backend ($1::int, 5000)",
                                1, NULL, v, NULL, NULL, 0);
    PQclear (r);
    assert_int_equal (gz_db_command (fx->pdb, "SELECT 1"), -1);
    assert_false (gz_db_ok (fx->pdb));
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, NULL);
    assert_non_null (pub);
    assert_int_equal (gz_db_ensure (fx->pdb), 0);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.bus_stream"), 0);

    //  First write: creates the row in the transaction; rolled back.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "1", NULL);
    s_stage_n (pub, "Bad", 1);
    assert_int_equal (gz_bus_pub_write (pub), 0);
    gz_db_rollback (fx->pdb);
    gz_bus_pub_aborted (pub);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.bus_stream"), 0);

    //  write_commit now: the effect and its event commit together.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "2", NULL);
    s_stage_n (pub, "Good", 1);
    assert_int_equal (gz_bus_pub_write_commit (pub), 0);
    gz_bus_pub_committed (pub);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects"), 1);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox WHERE type = 'Good'"), 1);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream"), 1);

    //  An ignored failure, then write and COMMIT: both forms fail, and
    //  nothing is published or stored.
    for (int pipelined = 0; pipelined < 2; pipelined++) {
        assert_int_equal (gz_db_begin (fx->pdb), 0);
        s_effect (fx->pdb, "3", NULL);
        assert_int_equal (gz_db_command (fx->pdb, "SELECT 1/0"), -1);
        s_stage_n (pub, "Bad", 1);
        int rc = gz_bus_pub_write (pub);
        if (rc == 0)
            rc = pipelined ? gz_bus_pub_write_commit (pub) : gz_db_commit (fx->pdb);
        assert_int_equal (rc, -1);
        gz_db_rollback (fx->pdb);
        gz_bus_pub_aborted (pub);
    }
    //  A plain COMMIT of an aborted transaction reports it, too.
    assert_int_equal (gz_db_begin (fx->pdb), 0);
    s_effect (fx->pdb, "4", NULL);
    assert_int_equal (gz_db_command (fx->pdb, "SELECT 1/0"), -1);
    assert_int_equal (gz_db_commit (fx->pdb), -1);
    assert_string_equal (gz_db_sqlstate (fx->pdb), "25P02");
    gz_db_rollback (fx->pdb);
    assert_int_equal (gz_bus_pub_published (pub), 1);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.effects"), 1);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 1);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream"), 1);
    gz_bus_pub_destroy (&pub);
}

//  Retention: the tick deletes published rows older than
//  the retention (opts retention_s), oldest first, and keeps the rest; a consumer that
//  started after them stops at the gap rather than skipping it.
static void
test_prune_old_rows (void **state)
{
    fx_t *fx = *state;
    gz_bus_opts_t opts;
    gz_bus_opts_default (&opts);
    opts.retention_s = 3600;
    opts.prune_every_ms = 10;
    gz_bus_pub_t *pub = gz_bus_pub_new (fx->pdb, "prod", STREAM, LOCAL, &opts);
    assert_non_null (pub);
    char *ep = s_endpoint_of (pub);
    s_produce (fx->pdb, pub, 10, true);
    //  Positions 1..6 are two hours old, 7..10 new.
    assert_int_equal (gz_db_command (fx->qdb, "UPDATE prod.outbox"
                                              " SET occurred_at_us = occurred_at_us - 7200000000"
                                              " WHERE position <= 6"),
                      0);
    //  A prune is due GZ_BUS_PRUNE_EVERY_MS (10 ms) after the last one (or
    //  1 ms after the start): after 20 ms the next tick prunes, for sure.
    usleep (20 * 1000);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (s_q (fx, "SELECT count(*) FROM prod.outbox"), 4);
    assert_int_equal (s_q (fx, "SELECT min(position) FROM prod.outbox"), 7);
    assert_int_equal (gz_bus_pub_pruned (pub), 6);
    //  Nothing else is old: a later tick, due to prune again (20 ms after
    //  the prune above returned), deletes nothing; head stays.
    usleep (20 * 1000);
    assert_int_equal (gz_bus_pub_tick (pub), 0);
    assert_int_equal (gz_bus_pub_pruned (pub), 6);
    assert_int_equal (s_q (fx, "SELECT head FROM prod.bus_stream"), 10);

    //  A consumer from position 0 cannot have 1..6: it applies nothing.
    handler_t h = {0};
    gz_bus_sub_t *sub =
        gz_bus_sub_new (fx->cdb, "c1", "cons", "prod", STREAM, ep, s_handler, &h, &fx->opts);
    assert_non_null (sub);
    assert_int_equal (gz_bus_sub_tick (sub), 0);
    assert_int_equal (gz_bus_sub_position (sub), 0);
    assert_int_equal (gz_bus_sub_consumed (sub), 0);
    gz_bus_sub_destroy (&sub);
    gz_bus_pub_destroy (&pub);
    free (ep);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_rollback_leaves_no_gap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_positions_concurrent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_live_delivery, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_duplicates_bad_and_gaps, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_late_consumer_catches_up, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_silent_publisher, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_publisher_crash_republished, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handler_failure_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_replicas_apply_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_outbox_chain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_flush, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_database_lost, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_writers_share_socket, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_write_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_write_commit_missing_stream_row, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_prune_old_rows, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
