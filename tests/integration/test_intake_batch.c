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
    a retry with the same key gets the original.

    A key reused with other content, in one batch or in two writers'
    transactions at once, files the first and answers the other 422.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gz_codec.h"
#include "gz_db.h"
#include "gz_org.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "gz_testhttp.h"
#include "intake_server.h"

#define KEY "test-key-batch"

//  The actor's committers that wait for a table lock.
static const char *s_lock_waiters =
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND application_name = 'intake' AND wait_event_type = 'Lock'";

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
    const char *reporter;    //  form-encoded reporter_id, NULL: none
    const char *description; //  form-encoded; NULL for a plain one
    long status;
    char id[32];
    char body[512];
    gz_testfix_call_t call;
} post_t;

//  Start the actor on F.cfg; F.base is its HTTP address.
static void
s_start (void)
{
    F.intake = zactor_new (intake_server, F.cfg);
    assert_non_null (F.intake);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%d", gz_testfix_port (F.intake, "PORT"));
}

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_BUS_HEARTBEAT_MS", "100", 1);
    setenv ("GZ_INTAKE_ANSWER_TIMEOUT_MS", "3000", 1);
    F.tdb = gz_testdb_new ("intake_batch");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    gz_testfix_seed_area (F.db);
    F.cfg = gz_testfix_intake_config (gz_testdb_url (F.tdb), "district=" KEY);
    F.cfg->writers = 1; //  one committer, so the blocked batch is one transaction
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

static void
s_post_start (post_t *p)
{
    snprintf (p->body, sizeof p->body,
              "api_key=" KEY "&service_code=property&address_id=B1&description=%s&phone=%s%s%s",
              p->description ? p->description : "%E6%A5%BC%E9%81%93%E7%81%AF", p->phone,
              p->reporter ? "&reporter_id=" : "", p->reporter ? p->reporter : "");
    p->call = (gz_testfix_call_t){.method = "POST", .body = p->body};
    snprintf (p->call.url, sizeof p->call.url, "%s/open311/v2/requests.json", F.base);
    snprintf (p->call.header, sizeof p->call.header, "Idempotency-Key: %s", p->idem);
    gz_testfix_call_start (&p->call);
}

//  Wait for the answer: its status (-1: none) and request id ("" if none).
static void
s_post_join (post_t *p)
{
    gz_testfix_call_join (&p->call);
    p->status = p->call.rc == 0 ? p->call.response.status : -1;
    char *id = p->call.rc == 0 ? gz_testfix_request_id (p->call.response.body) : NULL;
    snprintf (p->id, sizeof p->id, "%s", id ? id : "");
    free (id);
    gz_testfix_call_free (&p->call);
}

static double
s_metric (const char *name)
{
    return gz_testfix_metric (F.base, name);
}

//  Lock intake.requests in a transaction of a connection of our own and
//  post blocker, whose commit then waits on the lock (returned once it
//  does). ROLLBACK on the returned connection lets it go. *took_ms, when
//  not NULL, is how long the blocker took to reach the lock: how soon a
//  queued submission turns into an INSERT on this machine.
static gz_db_t *
s_block_inserts (post_t *blocker, int64_t *took_ms)
{
    gz_db_t *locker = gz_db_new (gz_testdb_url (F.tdb), "test-locker");
    gz_testfix_exec (locker, "BEGIN");
    gz_testfix_exec (locker, "LOCK TABLE intake.requests IN EXCLUSIVE MODE");
    int64_t start = zclock_mono ();
    s_post_start (blocker);
    gz_testfix_wait_scalar (locker, s_lock_waiters, 1, 10000);
    if (took_ms)
        *took_ms = zclock_mono () - start;
    return locker;
}

//  Fail as soon as the number of the actor's committers waiting on a lock
//  is not n, watching for window_ms.
static void
s_assert_lock_waiters_stay (gz_db_t *db, long long n, int64_t window_ms)
{
    int64_t end = zclock_mono () + window_ms;
    do {
        assert_int_equal (gz_testfix_scalar (db, s_lock_waiters), n);
        zclock_sleep (10);
    } while (zclock_mono () < end);
}

static void
s_wait_for_waiting (double n)
{
    gz_testfix_wait_metric (F.base, "gz_intake_waiting", n, 10000);
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
    gz_db_t *locker = s_block_inserts (&blocker, NULL);

    //  The batch travels as text[] literals: descriptions that need
    //  quoting there (quotes, backslashes, braces, commas, the word NULL)
    //  must arrive as sent.
    const char *same = "NULL";
    const char *tricky = "a%20%22quoted%22%20%5C%20back%7Bslash%7D%2C%20NULL";
    post_t batch[] = {
        {.idem = "k-same", .phone = "13800000003", .description = same},
        {.idem = "k-same", .phone = "13800000003", .description = same},
        {.idem = "k-earlier", .phone = "13800000001"},
        {.idem = "k-new",
         .phone = "13800000004",
         .description = tricky,
         .reporter = "rider%3AMT-7788"},
        {.idem = "k-same", .phone = "13800000003", .description = same},
    };
    size_t n = sizeof batch / sizeof batch[0];
    for (size_t i = 0; i < n; i++)
        s_post_start (&batch[i]);
    s_wait_for_waiting ((double) n + 1);
    double commits = s_metric ("gz_intake_commits_total");
    gz_testfix_exec (locker, "ROLLBACK");
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

    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), 4);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND description = 'NULL'",
                                          batch[0].id),
                      1);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND description = 'a \"quoted\" \\ back{slash}, NULL'",
                                          batch[3].id),
                      1);
    assert_int_equal (
        gz_testfix_scalar (F.db, "SELECT count(DISTINCT idempotency_key) FROM intake.requests"), 4);
    //  The reporter_id column of the batch lands on its own row only.
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                               " WHERE reporter_id IS NOT NULL"),
                      1);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND reporter_id = 'rider:MT-7788'",
                                          batch[3].id),
                      1);
    //  Each request has its own contact (joined back by secret) and one
    //  event.
    const post_t *each[] = {&earlier, &blocker, &batch[0], &batch[3]};
    for (size_t i = 0; i < 4; i++) {
        char cond[160];
        snprintf (cond, sizeof cond, "%s' AND phone = '%s", each[i]->id, each[i]->phone);
        assert_int_equal (
            gz_testfix_scalarf (
                F.db, "SELECT count(*) FROM intake.contacts WHERE request_id = '%s'", cond),
            1);
        assert_int_equal (gz_testfix_scalarf (F.db,
                                              "SELECT count(*) FROM intake.outbox WHERE type ="
                                              " 'RequestSubmitted' AND key = '%s'",
                                              each[i]->id),
                          1);
    }
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.contacts"), 4);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.outbox"), 4);
    assert_int_equal (
        gz_testfix_scalar (
            F.db, "SELECT count(*) FROM intake.requests WHERE requests::text LIKE '%1380000%'"),
        0);
    assert_true (s_metric ("gz_intake_waiting") == 0);
}

//  A key reused with other content inside one batch (one statement):
//  the first in the batch is filed, the later one is answered 422 with
//  nothing of it stored; so is a retry, in the same batch, of a request
//  committed earlier but with other content, while the same content is
//  still a duplicate.
static void
test_batch_key_reused_with_other_content (void **state)
{
    (void) state;
    post_t earlier = {.idem = "m-earlier", .phone = "13800000011"};
    s_post_start (&earlier);
    s_post_join (&earlier);
    assert_int_equal (earlier.status, 201);
    long long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    long long events = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.outbox");

    post_t blocker = {.idem = "m-blocker", .phone = "13800000012"};
    gz_db_t *locker = s_block_inserts (&blocker, NULL);
    post_t batch[] = {
        {.idem = "m-pair", .phone = "13800000013", .description = "one"},
        {.idem = "m-pair", .phone = "13800000014", .description = "two"},
        {.idem = "m-earlier", .phone = "13800000011", .description = "changed"},
        {.idem = "m-earlier", .phone = "13800000011"},
        {.idem = "m-rider", .phone = "13800000015", .reporter = "rider%3AR1"},
        {.idem = "m-rider", .phone = "13800000015", .reporter = "rider%3AR2"},
    };
    size_t n = sizeof batch / sizeof batch[0];
    //  One at a time into the queue, so the batch's order is known.
    for (size_t i = 0; i < n; i++) {
        s_post_start (&batch[i]);
        s_wait_for_waiting ((double) i + 2);
    }
    double commits = s_metric ("gz_intake_commits_total");
    gz_testfix_exec (locker, "ROLLBACK");
    s_post_join (&blocker);
    for (size_t i = 0; i < n; i++)
        s_post_join (&batch[i]);
    gz_db_destroy (&locker);
    //  The blocker's transaction, then the batch in one more.
    assert_true (s_metric ("gz_intake_commits_total") == commits + 2);
    assert_int_equal (blocker.status, 201);
    assert_int_equal (batch[0].status, 201);
    assert_int_equal (batch[1].status, 422);
    assert_string_equal (batch[1].id, "");
    assert_int_equal (batch[2].status, 422);
    assert_int_equal (batch[3].status, 200);
    assert_string_equal (batch[3].id, earlier.id);
    //  The same but for the reporter: another request.
    assert_int_equal (batch[4].status, 201);
    assert_int_equal (batch[5].status, 422);

    //  Stored: the blocker and each pair's first, with its own content and
    //  contact; one event each.
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 3);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND reporter_id = 'rider:R1'",
                                          batch[4].id),
                      1);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND idempotency_key = 'm-pair' AND description = 'one'",
                                          batch[0].id),
                      1);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.contacts"
                                               " WHERE phone = '13800000014'"),
                      0);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                               " WHERE description IN ('two', 'changed')"),
                      0);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.outbox"), events + 3);
    assert_true (s_metric ("gz_intake_waiting") == 0);
}

static void
test_stuck_commit_answers_503 (void **state)
{
    (void) state;
    gz_db_t *locker = gz_db_new (gz_testdb_url (F.tdb), "test-locker");
    gz_testfix_exec (locker, "BEGIN");
    gz_testfix_exec (locker, "LOCK TABLE intake.requests IN EXCLUSIVE MODE");
    struct {
        const char *path, *idem, *body;
    } what[] = {
        {"/open311/v2/requests.json", "k-stuck",
         "api_key=" KEY "&service_code=property&address_id=B1&description=x&phone=13800000009"},
        {"/open311/v2/requests.xml", "k-stuck-xml",
         "api_key=" KEY "&service_code=property&address_id=B1&description=y"},
        {"/q/B1", "none",
         "service_code=property&description=%E7%81%AF%E5%9D%8F&nonce=stuck-nonce-1"},
    };
    enum { N = sizeof what / sizeof what[0] };
    gz_testfix_call_t posts[N];
    int64_t start = zclock_mono ();
    for (size_t i = 0; i < N; i++) {
        posts[i] = (gz_testfix_call_t){.method = "POST", .body = what[i].body};
        snprintf (posts[i].url, sizeof posts[i].url, "%s%s", F.base, what[i].path);
        snprintf (posts[i].header, sizeof posts[i].header, "Idempotency-Key: %s", what[i].idem);
        gz_testfix_call_start (&posts[i]);
    }
    for (size_t i = 0; i < N; i++)
        gz_testfix_call_join (&posts[i]);
    int64_t took = zclock_mono () - start;
    //  Answered by the timeout (3 s here), while the actor is still stuck.
    assert_true (took >= 2500 && took < 10000);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal (posts[i].rc, 0);
        assert_int_equal (posts[i].response.status, 503);
    }
    assert_non_null (strstr (posts[0].response.body, "\"code\":503"));
    assert_non_null (strstr (posts[1].response.body, "<errors><error><code>503</code>"));
    assert_non_null (strstr (posts[2].response.body, "系统繁忙"));
    //  Same key on resubmission.
    assert_non_null (strstr (posts[2].response.body, "stuck-nonce-1"));
    assert_null (strstr (posts[0].response.body, "13800000009"));
    for (size_t i = 0; i < N; i++)
        gz_testfix_call_free (&posts[i]);

    //  Once the lock goes they are committed after all: a retry with the
    //  same key (and the same content) gets the original.
    gz_testfix_exec (locker, "ROLLBACK");
    gz_db_destroy (&locker);
    s_wait_for_waiting (0);
    post_t retry = {.idem = "k-stuck", .phone = "13800000009", .description = "x"};
    s_post_start (&retry);
    s_post_join (&retry);
    assert_int_equal (retry.status, 200);
    assert_int_equal (
        gz_testfix_scalar (
            F.db, "SELECT count(*) FROM intake.requests WHERE idempotency_key = 'k-stuck'"),
        1);
    assert_int_equal (
        gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests WHERE idempotency_key ="
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
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
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
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests") - before,
                      created);
    //  One contact and one event per request; positions gap-free.
    assert_int_equal (gz_testfix_scalar (F.db,
                                         "SELECT count(*) FROM intake.requests r"
                                         " WHERE idempotency_key LIKE 'w-%' AND (SELECT count(*)"
                                         " FROM intake.contacts c WHERE c.request_id = r.id) <> 1"),
                      0);
    assert_int_equal (gz_testfix_scalar (F.db,
                                         "SELECT count(*) FROM intake.requests r"
                                         " WHERE idempotency_key LIKE 'w-%' AND (SELECT count(*)"
                                         " FROM intake.outbox o WHERE o.key = r.id::text) <> 1"),
                      0);
    long total = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.outbox");
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT max(position) FROM intake.outbox"), total);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT head FROM intake.bus_stream"), total);

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
    int64_t blocked_ms;
    gz_db_t *locker = s_block_inserts (&blocker, &blocked_ms);
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
    //  Only the blocked writer waits on the lock: the other has no turn.
    //  That is an absence, which no event announces; so watch for a
    //  second waiter over twice the time the blocker took from its POST
    //  to the lock (a writer that did not wait for its turn would take
    //  less: the six are queued already), failing the moment one shows.
    s_assert_lock_waiters_stay (locker, 1, 2 * blocked_ms + 50);
    //  The actor (new with s_restart) has committed nothing yet: the
    //  blocker's transaction is stuck, and no other writer got to commit
    //  any of the six on the side.
    double commits = s_metric ("gz_intake_commits_total");
    assert_true (commits == 0);
    gz_testfix_exec (locker, "ROLLBACK");
    s_post_join (&blocker);
    for (int i = 0; i < N; i++)
        s_post_join (&posts[i]);
    gz_db_destroy (&locker);
    assert_int_equal (blocker.status, 201);
    for (int i = 0; i < N; i++)
        assert_int_equal (posts[i].status, 201);
    //  The blocker's transaction, then the six together.
    assert_true (s_metric ("gz_intake_commits_total") == commits + 2);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                               " WHERE idempotency_key LIKE 't-%'"),
                      N + 1);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(DISTINCT xmin::text)"
                                               " FROM intake.requests WHERE idempotency_key"
                                               " LIKE 't-%' AND idempotency_key <> 't-blocker'"),
                      1);
    long total = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.outbox");
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT max(position) FROM intake.outbox"), total);
    s_restart (1);
}

//  Two writers hold one key with different content in two transactions:
//  the second's INSERT waits for the first's COMMIT (held up here by a
//  lock on the stream's row, which the outbox write takes), then finds
//  the row only when asked again in a new statement. The first is filed,
//  the second answered 422.
static void
test_writers_key_reused_with_other_content (void **state)
{
    (void) state;
    s_restart (2);
    gz_db_t *locker = gz_db_new (gz_testdb_url (F.tdb), "test-locker");
    gz_testfix_exec (locker, "BEGIN");
    gz_testfix_exec (locker, "SELECT * FROM intake.bus_stream FOR UPDATE");
    post_t first = {.idem = "x-pair", .phone = "13800000031", .description = "first"};
    post_t second = {.idem = "x-pair", .phone = "13800000032", .description = "second"};
    s_post_start (&first);
    gz_testfix_wait_scalar (locker, s_lock_waiters, 1, 10000);
    s_post_start (&second);
    gz_testfix_wait_scalar (locker, s_lock_waiters, 2, 10000);
    gz_testfix_exec (locker, "ROLLBACK");
    gz_db_destroy (&locker);
    s_post_join (&first);
    s_post_join (&second);
    assert_int_equal (first.status, 201);
    assert_int_equal (second.status, 422);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                               " WHERE idempotency_key = 'x-pair'"),
                      1);
    assert_int_equal (gz_testfix_scalarf (F.db,
                                          "SELECT count(*) FROM intake.requests WHERE id = %s"
                                          " AND description = 'first'",
                                          first.id),
                      1);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.contacts"
                                               " WHERE phone = '13800000032'"),
                      0);
    s_restart (1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_batch_with_duplicates),
        cmocka_unit_test (test_batch_key_reused_with_other_content),
        cmocka_unit_test (test_stuck_commit_answers_503),
        cmocka_unit_test (test_writers_keep_order),
        cmocka_unit_test (test_writers_take_turns),
        cmocka_unit_test (test_writers_key_reused_with_other_content),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
