/*  Integration test for intake's group commit: one batch that holds three
    submissions with the same Idempotency-Key, a retry of a request
    committed earlier, and a new request. The batch is written by one
    multi-row statement, so this checks what that statement must keep:
    one row per key and the same id for every duplicate, contacts matched
    to the right request, and exactly one
    RequestSubmitted event per accepted request.

    To make the batch deterministic, a test transaction locks
    intake.requests; a first submission blocks the actor in its INSERT;
    the others queue (watched through the gz_intake_waiting gauge) and,
    once the lock goes, are committed together in the next transaction.

    The same lock, held longer than the answer timeout, checks that
    submissions stuck behind a commit are answered 503 in their own
    format (JSON, XML, the QR page) and are still committed afterwards, so
    a retry with the same key gets the original.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "gz_codec.h"
#include "gz_db.h"
#include "gz_org.h"
#include "gz_testdb.h"
#include "gz_testhttp.h"
#include "intake_server.h"

#define KEY "test-key-batch"

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *db;
    intake_config_t *cfg;
    zactor_t *intake;
    char base[64];
} fixture_t;

static fixture_t F;

//  One POST on its own thread.
typedef struct {
    const char *idem;
    const char *phone;
    const char *description; //  form-encoded; NULL for a plain one
    long status;
    char id[32];
    pthread_t thread;
} post_t;

static long
s_scalar (gz_db_t *db, const char *sql)
{
    PGresult *r = PQexec (gz_db_conn (db), sql);
    if (PQresultStatus (r) != PGRES_TUPLES_OK)
        fprintf (stderr, "query failed: %s: %s\n", sql, PQresultErrorMessage (r));
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    long v = atol (PQgetvalue (r, 0, 0));
    PQclear (r);
    return v;
}

static void
s_exec (gz_db_t *db, const char *sql)
{
    assert_int_equal (gz_db_command (db, sql), 0);
}

//  Start the actor on F.cfg; F.base is its HTTP address.
static void
s_start (void)
{
    F.intake = zactor_new (intake_server, F.cfg);
    assert_non_null (F.intake);
    zstr_send (F.intake, "PORT");
    char *port = zstr_recv (F.intake);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%s", port);
    free (port);
}

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_BUS_HEARTBEAT_MS", "100", 1);
    setenv ("GZ_INTAKE_ANSWER_TIMEOUT_MS", "3000", 1);
    F.tdb = gz_testdb_new ("intake_batch");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    assert_int_equal (gz_db_migrate (F.db, "org", gz_org_migrations), 0);
    s_exec (F.db, "INSERT INTO org.units (code, level, parent_code, name) VALUES"
                  " ('D1','district',NULL,'示例区'), ('S1','subdistrict','D1','示例街道1'),"
                  " ('C1','community','S1','示例社区1'), ('G1','grid','C1','示例网格1')");
    s_exec (F.db, "INSERT INTO org.buildings (code, grid_code, name, address, lat, lon) VALUES"
                  " ('B1','G1','示例小区1 1栋','示例路1号',26.5650,106.6900)");
    F.cfg = intake_config_from_env ();
    free (F.cfg->base.database_url);
    F.cfg->base.database_url = strdup (gz_testdb_url (F.tdb));
    F.cfg->base.http_port = 0;
    F.cfg->writers = 1; //  one committer, so the blocked batch is one transaction
    free (F.cfg->base.http_bind);
    F.cfg->base.http_bind = strdup ("127.0.0.1");
    free (F.cfg->base.bus_endpoint);
    F.cfg->base.bus_endpoint = strdup ("tcp://127.0.0.1:*");
    free (F.cfg->base.events_endpoint);
    F.cfg->base.events_endpoint = strdup ("tcp://127.0.0.1:*");
    free (F.cfg->api_keys);
    F.cfg->api_keys = strdup ("district=" KEY);
    F.cfg->rate = 0;
    s_start ();
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    zactor_destroy (&F.intake);
    intake_config_destroy (&F.cfg);
    gz_db_destroy (&F.db);
    gz_testdb_destroy (&F.tdb);
    return 0;
}

static void *
s_post_run (void *arg)
{
    post_t *p = arg;
    char url[128], body[512], header[128];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", F.base);
    snprintf (body, sizeof body,
              "api_key=" KEY "&service_code=property&address_id=B1&description=%s&phone=%s",
              p->description ? p->description : "%E6%A5%BC%E9%81%93%E7%81%AF", p->phone);
    snprintf (header, sizeof header, "Idempotency-Key: %s", p->idem);
    const char *headers[] = {header, NULL};
    gz_testhttp_t r;
    p->status = -1;
    if (gz_testhttp ("POST", url, body, strlen (body), NULL, headers, &r) == 0) {
        p->status = r.status;
        json_t *j = json_loads (r.body, 0, NULL);
        const char *id =
            json_string_value (json_object_get (json_array_get (j, 0), "service_request_id"));
        snprintf (p->id, sizeof p->id, "%s", id ? id : "");
        json_decref (j);
        gz_testhttp_free (&r);
    }
    return NULL;
}

static void
s_post_start (post_t *p)
{
    assert_int_equal (pthread_create (&p->thread, NULL, s_post_run, p), 0);
}

static void
s_post_join (post_t *p)
{
    assert_int_equal (pthread_join (p->thread, NULL), 0);
}

//  A metric's value from /metrics (the unlabelled series), or -1.
static double
s_metric (const char *name)
{
    char url[128];
    snprintf (url, sizeof url, "%s/metrics", F.base);
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    double v = -1;
    char want[128];
    snprintf (want, sizeof want, "\n%s ", name);
    const char *at = strstr (r.body, want);
    if (at)
        v = atof (at + strlen (want));
    gz_testhttp_free (&r);
    return v;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

//  Poll until the actor's writer waits for our table lock.
static void
s_wait_for_lock_wait (gz_db_t *db)
{
    double deadline = s_now () + 10;
    while (s_scalar (db, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                         " current_database() AND application_name = 'intake'"
                         " AND wait_event_type = 'Lock'") == 0) {
        assert_true (s_now () < deadline);
        usleep (10 * 1000);
    }
}

//  Lock intake.requests in a transaction of a connection of our own and
//  post blocker, whose commit then waits on the lock (returned once it
//  does). ROLLBACK on the returned connection lets it go.
static gz_db_t *
s_block_inserts (post_t *blocker)
{
    gz_db_t *locker = gz_db_new (gz_testdb_url (F.tdb), "test-locker");
    s_exec (locker, "BEGIN");
    s_exec (locker, "LOCK TABLE intake.requests IN EXCLUSIVE MODE");
    s_post_start (blocker);
    s_wait_for_lock_wait (locker);
    return locker;
}

static void
s_wait_for_waiting (double n)
{
    double deadline = s_now () + 10;
    while (s_metric ("gz_intake_waiting") != n) {
        assert_true (s_now () < deadline);
        usleep (10 * 1000);
    }
}

static long
s_count_where (const char *fmt, const char *arg)
{
    char sql[512];
    snprintf (sql, sizeof sql, fmt, arg);
    return s_scalar (F.db, sql);
}

static void
test_batch_with_duplicates (void **state)
{
    (void) state;
    //  A request committed before the batch.
    post_t earlier = {.idem = "k-earlier", .phone = "13800000001"};
    s_post_start (&earlier);
    s_post_join (&earlier);
    assert_int_equal (earlier.status, 201);

    post_t blocker = {.idem = "k-blocker", .phone = "13800000002"};
    gz_db_t *locker = s_block_inserts (&blocker);

    //  The batch travels as text[] literals: descriptions that need
    //  quoting there (quotes, backslashes, braces, commas, the word NULL)
    //  must arrive as sent.
    const char *same = "NULL";
    const char *tricky = "a%20%22quoted%22%20%5C%20back%7Bslash%7D%2C%20NULL";
    post_t batch[] = {
        {.idem = "k-same", .phone = "13800000003", .description = same},
        {.idem = "k-same", .phone = "13800000003", .description = same},
        {.idem = "k-earlier", .phone = "13800000001"},
        {.idem = "k-new", .phone = "13800000004", .description = tricky},
        {.idem = "k-same", .phone = "13800000003", .description = same},
    };
    size_t n = sizeof batch / sizeof batch[0];
    for (size_t i = 0; i < n; i++)
        s_post_start (&batch[i]);
    s_wait_for_waiting ((double) n + 1);
    double commits = s_metric ("gz_intake_commits_total");
    s_exec (locker, "ROLLBACK");
    s_post_join (&blocker);
    for (size_t i = 0; i < n; i++)
        s_post_join (&batch[i]);
    gz_db_destroy (&locker);

    //  The blocker's transaction, then the whole batch in one more.
    assert_true (s_metric ("gz_intake_commits_total") == commits + 2);
    assert_int_equal (blocker.status, 201);

    //  The same key three times: one 201, two 200, one id.
    int created = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp (batch[i].idem, "k-same") == 0) {
            created += batch[i].status == 201;
            assert_true (batch[i].status == 201 || batch[i].status == 200);
            assert_string_equal (batch[i].id, batch[0].id);
        }
    assert_int_equal (created, 1);
    //  A retry of the earlier request: its id, 200.
    assert_int_equal (batch[2].status, 200);
    assert_string_equal (batch[2].id, earlier.id);
    assert_int_equal (batch[3].status, 201);
    assert_string_not_equal (batch[3].id, batch[0].id);

    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests"), 4);
    assert_int_equal (s_count_where ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                     " AND description = 'NULL'",
                                     batch[0].id),
                      1);
    assert_int_equal (s_count_where ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                     " AND description = 'a \"quoted\" \\ back{slash}, NULL'",
                                     batch[3].id),
                      1);
    assert_int_equal (
        s_scalar (F.db, "SELECT count(DISTINCT idempotency_key) FROM intake.requests"), 4);
    //  Each request has its own contact (joined back by secret) and one
    //  event.
    const post_t *each[] = {&earlier, &blocker, &batch[0], &batch[3]};
    for (size_t i = 0; i < 4; i++) {
        char cond[160];
        snprintf (cond, sizeof cond, "%s' AND phone = '%s", each[i]->id, each[i]->phone);
        assert_int_equal (
            s_count_where ("SELECT count(*) FROM intake.contacts WHERE request_id = '%s'", cond),
            1);
        assert_int_equal (s_count_where ("SELECT count(*) FROM intake.outbox WHERE type ="
                                         " 'RequestSubmitted' AND key = '%s'",
                                         each[i]->id),
                          1);
    }
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.contacts"), 4);
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.outbox"), 4);
    assert_int_equal (
        s_scalar (F.db,
                  "SELECT count(*) FROM intake.requests WHERE requests::text LIKE '%1380000%'"),
        0);
    assert_true (s_metric ("gz_intake_waiting") == 0);
}

typedef struct {
    const char *path;
    const char *body;
    const char *idem;
    long status;
    char content_type[64];
    char *text;
    pthread_t thread;
} raw_post_t;

static void *
s_raw_post_run (void *arg)
{
    raw_post_t *p = arg;
    char url[128], header[128];
    snprintf (url, sizeof url, "%s%s", F.base, p->path);
    snprintf (header, sizeof header, "Idempotency-Key: %s", p->idem ? p->idem : "none");
    const char *headers[] = {header, NULL};
    gz_testhttp_t r;
    p->status = -1;
    if (gz_testhttp ("POST", url, p->body, strlen (p->body), NULL, headers, &r) == 0) {
        p->status = r.status;
        p->text = strdup (r.body ? r.body : "");
        gz_testhttp_free (&r);
    }
    return NULL;
}

static void
test_stuck_commit_answers_503 (void **state)
{
    (void) state;
    gz_db_t *locker = gz_db_new (gz_testdb_url (F.tdb), "test-locker");
    s_exec (locker, "BEGIN");
    s_exec (locker, "LOCK TABLE intake.requests IN EXCLUSIVE MODE");
    raw_post_t posts[] = {
        {.path = "/open311/v2/requests.json",
         .idem = "k-stuck",
         .body = "api_key=" KEY "&service_code=property&address_id=B1&description=x&phone="
                 "13800000009"},
        {.path = "/open311/v2/requests.xml",
         .idem = "k-stuck-xml",
         .body = "api_key=" KEY "&service_code=property&address_id=B1&description=y"},
        {.path = "/q/B1",
         .body = "service_code=property&description=%E7%81%AF%E5%9D%8F&nonce=stuck-nonce-1"},
    };
    size_t n = sizeof posts / sizeof posts[0];
    double start = s_now ();
    for (size_t i = 0; i < n; i++)
        assert_int_equal (pthread_create (&posts[i].thread, NULL, s_raw_post_run, &posts[i]), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal (pthread_join (posts[i].thread, NULL), 0);
    double took = s_now () - start;
    //  Answered by the timeout (3 s here), while the actor is still stuck.
    assert_true (took >= 2.5 && took < 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal (posts[i].status, 503);
    assert_non_null (strstr (posts[0].text, "\"code\":503"));
    assert_non_null (strstr (posts[1].text, "<errors><error><code>503</code>"));
    assert_non_null (strstr (posts[2].text, "系统繁忙"));
    assert_non_null (strstr (posts[2].text, "stuck-nonce-1")); //  same key on resubmission
    assert_null (strstr (posts[0].text, "13800000009"));
    for (size_t i = 0; i < n; i++)
        free (posts[i].text);

    //  Once the lock goes they are committed after all: a retry with the
    //  same key gets the original.
    s_exec (locker, "ROLLBACK");
    gz_db_destroy (&locker);
    s_wait_for_waiting (0);
    post_t retry = {.idem = "k-stuck", .phone = "13800000009"};
    s_post_start (&retry);
    s_post_join (&retry);
    assert_int_equal (retry.status, 200);
    assert_int_equal (
        s_scalar (F.db, "SELECT count(*) FROM intake.requests WHERE idempotency_key = 'k-stuck'"),
        1);
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests WHERE idempotency_key ="
                                      " 'qr-form:stuck-nonce-1'"),
                      1);
}

//  Restart the actor with n committing connections.
static void
s_restart (int writers)
{
    zactor_destroy (&F.intake);
    F.cfg->writers = writers;
    s_start ();
}

//  The next [topic][Envelope] from a SUB socket, decoded.
static gz_envelope_t *
s_recv_envelope (zsock_t *sub)
{
    zmsg_t *m = zmsg_recv (sub);
    assert_non_null (m);
    zframe_t *topic = zmsg_pop (m);
    zframe_t *body = zmsg_pop (m);
    assert_non_null (body);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (body), zframe_size (body));
    assert_non_null (env);
    zframe_destroy (&topic);
    zframe_destroy (&body);
    zmsg_destroy (&m);
    return env;
}

//  Three committers take one queue: concurrent submissions, some with the
//  same key racing on different connections. Each key is stored once and
//  every duplicate gets its id; every new request has one event; the
//  events leave the PUB socket as positions 1..n, gap-free and in order,
//  although three transactions commit side by side.
static void
test_writers_keep_order (void **state)
{
    (void) state;
    s_restart (3);
    zstr_send (F.intake, "EVENTSPORT");
    char *eport = zstr_recv (F.intake);
    zsock_t *sub = zsock_new_sub (NULL, "");
    assert_non_null (sub);
    assert_int_equal (zsock_connect (sub, "tcp://127.0.0.1:%s", eport), 0);
    free (eport);
    //  The link is up once a heartbeat (every 100 ms here) arrives.
    zsock_set_rcvtimeo (sub, 5000);
    int64_t head = -1;
    while (head < 0) {
        gz_envelope_t *env = s_recv_envelope (sub);
        if (strcmp (env->type, "Heartbeat") == 0)
            head = env->position;
        gz_codec_envelope_free (&env);
    }

    enum { ROUNDS = 4, PER = 48 };
    long before = s_scalar (F.db, "SELECT count(*) FROM intake.requests");
    int created = 0;
    for (int round = 0; round < ROUNDS; round++) {
        post_t posts[PER];
        char keys[PER][32], phones[PER][16];
        for (int i = 0; i < PER; i++) {
            //  Posts i and i + PER/2 share a key: they race.
            snprintf (keys[i], sizeof keys[i], "w-%d-%d", round, i % (PER / 2));
            snprintf (phones[i], sizeof phones[i], "1380000%04d", round * PER + i % (PER / 2));
            posts[i] = (post_t){.idem = keys[i], .phone = phones[i]};
            s_post_start (&posts[i]);
        }
        for (int i = 0; i < PER; i++)
            s_post_join (&posts[i]);
        for (int i = 0; i < PER / 2; i++) {
            post_t *a = &posts[i], *b = &posts[i + PER / 2];
            assert_true ((a->status == 201 && b->status == 200) ||
                         (a->status == 200 && b->status == 201));
            assert_string_equal (a->id, b->id);
            created++;
        }
    }
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests") - before, created);
    //  One contact and one event per request; positions gap-free.
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests r"
                                      " WHERE idempotency_key LIKE 'w-%' AND (SELECT count(*)"
                                      " FROM intake.contacts c WHERE c.request_id = r.id) <> 1"),
                      0);
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests r"
                                      " WHERE idempotency_key LIKE 'w-%' AND (SELECT count(*)"
                                      " FROM intake.outbox o WHERE o.key = r.id::text) <> 1"),
                      0);
    long total = s_scalar (F.db, "SELECT count(*) FROM intake.outbox");
    assert_int_equal (s_scalar (F.db, "SELECT max(position) FROM intake.outbox"), total);
    assert_int_equal (s_scalar (F.db, "SELECT head FROM intake.bus_stream"), total);

    //  The live stream: head+1 .. total, each once, in order.
    int64_t expect = head + 1;
    while (expect <= total) {
        gz_envelope_t *env = s_recv_envelope (sub);
        if (strcmp (env->type, "Heartbeat") != 0) {
            assert_int_equal (env->position, expect);
            assert_string_equal (env->type, "RequestSubmitted");
            expect++;
        }
        gz_codec_envelope_free (&env);
    }
    zsock_destroy (&sub);
    s_restart (1);
}

//  Two writers take turns: while one is inside its INSERT (here held up
//  by a table lock), the other does not start one of its own but lets
//  submissions pile up, and commits them all in one transaction when its
//  turn comes.
static void
test_writers_take_turns (void **state)
{
    (void) state;
    s_restart (2);
    post_t blocker = {.idem = "t-blocker", .phone = "13800000010"};
    gz_db_t *locker = s_block_inserts (&blocker);
    enum { N = 6 };
    post_t posts[N];
    char keys[N][16], phones[N][16];
    for (int i = 0; i < N; i++) {
        snprintf (keys[i], sizeof keys[i], "t-%d", i);
        snprintf (phones[i], sizeof phones[i], "1380000%04d", 20 + i);
        posts[i] = (post_t){.idem = keys[i], .phone = phones[i]};
        s_post_start (&posts[i]);
    }
    s_wait_for_waiting (N + 1);
    usleep (300 * 1000); //  time enough for a second writer to start its INSERT
    //  Only the blocked writer waits on the lock: the other has no turn.
    assert_int_equal (s_scalar (locker, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                        " current_database() AND application_name = 'intake'"
                                        " AND wait_event_type = 'Lock'"),
                      1);
    double commits = s_metric ("gz_intake_commits_total");
    assert_true (commits >= 0);
    s_exec (locker, "ROLLBACK");
    s_post_join (&blocker);
    for (int i = 0; i < N; i++)
        s_post_join (&posts[i]);
    gz_db_destroy (&locker);
    assert_int_equal (blocker.status, 201);
    for (int i = 0; i < N; i++)
        assert_int_equal (posts[i].status, 201);
    //  The blocker's transaction, then the six together.
    assert_true (s_metric ("gz_intake_commits_total") == commits + 2);
    assert_int_equal (s_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                      " WHERE idempotency_key LIKE 't-%'"),
                      N + 1);
    long total = s_scalar (F.db, "SELECT count(*) FROM intake.outbox");
    assert_int_equal (s_scalar (F.db, "SELECT max(position) FROM intake.outbox"), total);
    s_restart (1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_batch_with_duplicates),
        cmocka_unit_test (test_stuck_commit_answers_503),
        cmocka_unit_test (test_writers_keep_order),
        cmocka_unit_test (test_writers_take_turns),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
