/*  Integration tests for routing: the real actor against a fresh
    PostgreSQL database, fed RequestSubmitted events by a stand-in intake
    publisher (a gz_bus_pub on schema "intake", exactly what intake
    writes), spoken to over real HTTP and ZeroMQ. Covers routing per tier,
    least-loaded and off-duty assignment, merge, idempotent replays, the
    whole loop over the worker API (every transition legal and illegal,
    authorisation, resident rate/reopen), the bus commands, deadline
    warnings and escalation with the test clock, and a restart that loses
    no timer and fires none twice.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <unistd.h>

#include "gongzhi/v1/routing.pb-c.h"
#include "gz_bus.h"
#include "gz_codec.h"
#include "gz_db.h"
#include "gz_org.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "gz_testhttp.h"
#include "routing_server.h"

#define OPTOKEN "op-token-1"
//  2100-01-01T00:00:00Z: ahead of the real clock, so an actor that runs
//  on real time before a test sets its clock fires nothing.
#define T0 4102444800000000LL
#define HOUR 3600000000LL

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *db;  //  the test's own connection (checks)
    gz_db_t *pdb; //  the stand-in intake's connection
    gz_bus_pub_t *intake;
    routing_config_t *cfg;
    zactor_t *routing;
    int http_port;
    char base[64];
    char rules_path[128];
} fixture_t;

static fixture_t F;

static long long
s_scalar (const char *sql)
{
    return gz_testfix_scalar (F.db, sql);
}

static void
s_exec (const char *sql)
{
    gz_testfix_exec (F.db, sql);
}

//  The value fmt (formatted with id) selects is expected.
static void
s_expect (const char *expected, const char *fmt, const char *id)
{
    char *v = gz_testfix_textf (F.db, fmt, id);
    assert_string_equal (v, expected);
    free (v);
}

static void
s_start_routing (void)
{
    F.routing = zactor_new (routing_server, F.cfg);
    assert_non_null (F.routing);
    F.http_port = gz_testfix_port (F.routing, "PORT");
    assert_true (F.http_port > 0);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%d", F.http_port);
}

static void
s_token (const char *staff, const char *token)
{
    zstr_sendx (F.routing, "TOKEN", staff, token, NULL);
    assert_int_equal (zsock_wait (F.routing), 0);
}

static void
s_clock (int64_t us)
{
    zstr_sendf (F.routing, "CLOCK %lld", (long long) us);
    //  zstr_sendf sends one frame: "CLOCK <us>" must be two frames.
    (void) us;
}

static void
s_set_clock (int64_t us)
{
    char t[32];
    snprintf (t, sizeof t, "%lld", (long long) us);
    zstr_sendx (F.routing, "CLOCK", t, NULL);
    assert_int_equal (zsock_wait (F.routing), 0);
}

static int
s_setup (void **state)
{
    (void) state;
    (void) s_clock;
    setenv ("GZ_BUS_HEARTBEAT_MS", "100", 1);
    //  Only RELOAD changes the directory, unless a test says otherwise.
    setenv ("GZ_ORG_CHECK_MS", "0", 1);
    F.tdb = gz_testdb_new ("routing");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    assert_int_equal (gz_db_migrate (F.db, "org", gz_org_migrations), 0);
    s_exec ("INSERT INTO org.units (code, level, parent_code, name) VALUES"
            " ('D1','district',NULL,'示例区'), ('S1','subdistrict','D1','示例街道'),"
            " ('C1','community','S1','示例社区'), ('G1','grid','C1','示例网格1'),"
            " ('G2','grid','C1','示例网格2'), ('DEP1','department','D1','住建局'),"
            " ('DEP2','department','D1','司法局'), ('S2','subdistrict','D1','另一街道'),"
            " ('C2','community','S2','另一社区'), ('G3','grid','C2','另一网格')");
    s_exec ("INSERT INTO org.buildings (code, grid_code, name, address, lat, lon) VALUES"
            " ('B1','G1','示例小区 1栋','示例路1号',26.5650,106.6900),"
            " ('B2','G2','示例小区 2栋','示例路2号',26.5660,106.6910),"
            " ('B3','G3','另一小区 1栋','另一路1号',26.5760,106.7010)");
    s_exec ("INSERT INTO org.staff (id, name, role, unit_code, on_duty, max_open, sort_order)"
            " VALUES ('w1','网格员甲','grid_worker','G1',true,NULL,1),"
            " ('w1b','网格员乙','grid_worker','G1',true,2,2),"
            " ('w2','网格员丙','grid_worker','G2',false,NULL,1),"
            " ('duty1','值班员','community_duty','C1',true,NULL,1),"
            " ('coord1','街道协调员','subdistrict_coordinator','S1',true,NULL,1),"
            " ('dc1','住建联络员','department_contact','DEP1',true,NULL,1),"
            " ('dc2','司法联络员','department_contact','DEP2',true,NULL,1),"
            " ('w3','网格员丁','grid_worker','G3',true,NULL,1),"
            " ('coord2','另一街道协调员','subdistrict_coordinator','S2',true,NULL,1)");
    s_exec ("INSERT INTO org.pairings (department_code, community_code) VALUES ('DEP1','C1')");
    snprintf (F.rules_path, sizeof F.rules_path, "/tmp/gz_test_routing_%d.rules", (int) getpid ());
    FILE *f = fopen (F.rules_path, "w");
    assert_non_null (f);
    fputs ("property  物业纠纷  *  hard  dept:DEP1  dept:DEP2  4h  30d\n"
           "noise     夜间施工  *  upper subdistrict  -  2h  72h\n"
           "*         *         *  local grid  -  10h  100h\n"
           "set merge_window 24h\n"
           "set warn_at 80%\n",
           f);
    fclose (f);

    //  The stand-in intake: its bus tables and publisher.
    F.pdb = gz_db_new (gz_testdb_url (F.tdb), "test-intake");
    assert_int_equal (gz_db_migrate (F.pdb, "intake", gz_bus_migrations ()), 0);
    F.intake = gz_bus_pub_new (F.pdb, "intake", "intake", "tcp://127.0.0.1:*", NULL);
    assert_non_null (F.intake);

    F.cfg = routing_config_from_env ();
    gz_testfix_local (&F.cfg->base.database_url, &F.cfg->base.http_bind, &F.cfg->base.bus_endpoint,
                      &F.cfg->base.events_endpoint, gz_testdb_url (F.tdb));
    F.cfg->base.http_port = 0;
    free (F.cfg->intake_events);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", gz_bus_pub_port (F.intake));
    F.cfg->intake_events = strdup (ep);
    free (F.cfg->rules_path);
    F.cfg->rules_path = strdup (F.rules_path);
    free (F.cfg->operator_token);
    F.cfg->operator_token = strdup (OPTOKEN);
    s_start_routing ();
    s_set_clock (T0);
    s_token ("w1", "tok-w1");
    s_token ("w1b", "tok-w1b");
    s_token ("w2", "tok-w2");
    s_token ("duty1", "tok-duty1");
    s_token ("coord1", "tok-coord1");
    s_token ("dc2", "tok-dc2");
    s_token ("w3", "tok-w3");
    s_token ("coord2", "tok-coord2");
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    zactor_destroy (&F.routing);
    routing_config_destroy (&F.cfg);
    gz_bus_pub_destroy (&F.intake);
    gz_db_destroy (&F.pdb);
    gz_db_destroy (&F.db);
    gz_testdb_destroy (&F.tdb);
    unlink (F.rules_path);
    return 0;
}

//  Stage RequestSubmitted on the stand-in intake (inside its open
//  transaction).
static void
s_stage_submit (const char *id, const char *category, const char *building, const char *description,
                const char *secret)
{
    Gongzhi__V1__RequestSubmitted ev = GONGZHI__V1__REQUEST_SUBMITTED__INIT;
    ev.request_id = (char *) id;
    ev.service_code = (char *) category;
    ev.description = (char *) description;
    ev.channel = GONGZHI__V1__CHANNEL__QR;
    //  B1 in G1, B2 in G2 (both C1, S1); B3 in G3 (C2, S2).
    bool b1 = building && strcmp (building, "B1") == 0;
    bool b3 = building && strcmp (building, "B3") == 0;
    ev.building_code = (char *) (building ? building : "");
    ev.grid_code = (char *) (building ? (b1 ? "G1" : b3 ? "G3" : "G2") : "");
    ev.community_code = (char *) (building ? (b3 ? "C2" : "C1") : "");
    ev.subdistrict_code = (char *) (building ? (b3 ? "S2" : "S1") : "");
    ev.submitted_at_us = T0;
    char *hash =
        gz_testfix_textf (F.db, "SELECT encode(sha256(convert_to('%s','UTF8')),'hex')", secret);
    ev.resident_token_sha256 = hash;
    char topic[128];
    snprintf (topic, sizeof topic, "RequestSubmitted/%s/%s", ev.subdistrict_code,
              ev.community_code);
    gz_bus_pub_stage_msg (F.intake, "RequestSubmitted", id, topic, &ev.base);
    free (hash);
}

//  Publish RequestSubmitted as intake does (outbox + PUB), committed.
static void
s_submit (const char *id, const char *category, const char *building, const char *description,
          const char *secret)
{
    assert_int_equal (gz_db_begin (F.pdb), 0);
    s_stage_submit (id, category, building, description, secret);
    assert_int_equal (gz_bus_pub_write (F.intake), 0);
    assert_int_equal (gz_db_commit (F.pdb), 0);
    gz_bus_pub_committed (F.intake);
}

//  Is the routing row for id there? If not, tick the stand-in intake so
//  heartbeats flow.
static bool
s_routed (void *arg)
{
    const char *id = arg;
    if (gz_testfix_scalarf (F.db, "SELECT count(*) FROM routing.requests WHERE id = '%s'", id) == 1)
        return true;
    gz_bus_pub_tick (F.intake);
    return false;
}

//  Wait until the routing row for id exists.
static void
s_wait_routed (const char *id)
{
    char what[64];
    snprintf (what, sizeof what, "request %s to be routed", id);
    gz_testfix_wait (s_routed, (void *) id, 10000, what);
}

static long
s_call (const char *method, const char *path, const char *token, const char *body, json_t **out)
{
    char url[512];
    snprintf (url, sizeof url, "%s%s", F.base, path);
    char h[128];
    snprintf (h, sizeof h, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {h, NULL};
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp (method, url, body, body ? strlen (body) : 0,
                                   body ? "application/json" : NULL, token ? headers : NULL, &r),
                      0);
    long status = r.status;
    if (out) {
        *out = json_loads (r.body, 0, NULL);
        assert_non_null (*out);
    }
    gz_testhttp_free (&r);
    return status;
}

static long
s_act (const char *id, const char *action, const char *token, const char *body)
{
    char path[256];
    snprintf (path, sizeof path, "/api/v1/requests/%s/%s", id, action);
    return s_call ("POST", path, token, body ? body : "{}", NULL);
}

static const char *
s_state_of (json_t *j)
{
    return json_string_value (json_object_get (j, "state"));
}

//  ---------------------------------------------------------------- tests

static void
test_route_tiers_merge_idempotent (void **state)
{
    (void) state;
    s_submit ("101", "road", "B1", "路灯坏了", "s101");
    s_wait_routed ("101");
    s_expect ("assigned", "SELECT state FROM routing.requests WHERE id = '%s'", "101");
    s_expect ("w1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "101");
    s_expect ("1", "SELECT tier FROM routing.requests WHERE id = '%s'", "101");
    //  Deadlines from the rule (10h / 100h) on the test clock.
    assert_int_equal (s_scalar ("SELECT response_due_us - routed_at_us FROM routing.requests"
                                " WHERE id = '101'"),
                      10 * HOUR);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers WHERE request_id = '101'"), 4);

    //  Least-loaded: w1 has one open request, so the next goes to w1b.
    s_submit ("102", "noise", "B1", "楼下广场舞声音很大", "s102");
    s_wait_routed ("102");
    s_expect ("w1b", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "102");

    //  Upper tier: the sub-district coordinator.
    s_submit ("103", "noise", "B2", "夜间施工太吵", "s103");
    s_wait_routed ("103");
    s_expect ("coord1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "103");
    s_expect ("2", "SELECT tier FROM routing.requests WHERE id = '%s'", "103");

    //  Hard tier: the lead department and its co-handlers.
    s_submit ("104", "property", "B1", "物业纠纷多年", "s104");
    s_wait_routed ("104");
    s_expect ("dc1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "104");
    s_expect ("3", "SELECT tier FROM routing.requests WHERE id = '%s'", "104");
    s_expect ("dc2", "SELECT staff_id FROM routing.co_handlers WHERE request_id = '%s'", "104");

    //  Grid worker off duty: the community duty officer.
    s_submit ("105", "road", "B2", "井盖松动", "s105");
    s_wait_routed ("105");
    s_expect ("duty1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "105");

    //  No building: the dispatcher (first sub-district coordinator).
    s_submit ("106", "other", NULL, "不知道在哪里", "s106");
    s_wait_routed ("106");
    s_expect ("coord1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "106");

    //  A duplicate (same building and category, open): merged, both visible.
    s_submit ("107", "road", "B1", "路灯还是坏的", "s107");
    s_wait_routed ("107");
    s_expect ("merged", "SELECT state FROM routing.requests WHERE id = '%s'", "107");
    s_expect ("101", "SELECT merged_into FROM routing.requests WHERE id = '%s'", "107");
    s_expect ("1", "SELECT followers FROM routing.requests WHERE id = '%s'", "101");
    json_t *j;
    assert_int_equal (s_call ("GET", "/api/v1/requests/101", "tok-w1", NULL, &j), 200);
    assert_int_equal (json_integer_value (json_object_get (j, "followers")), 1);
    assert_string_equal (json_string_value (json_object_get (j, "tier")), "local");
    json_decref (j);
    assert_int_equal (s_call ("GET", "/api/v1/requests/107?t=s107", NULL, NULL, &j), 200);
    assert_string_equal (s_state_of (j), "merged");
    assert_string_equal (json_string_value (json_object_get (j, "merged_into")), "101");
    json_decref (j);

    //  A replayed event (same request id) routes nothing twice.
    long events = s_scalar ("SELECT count(*) FROM routing.outbox");
    assert_int_equal (events, 7);
    s_submit ("101", "road", "B1", "路灯坏了", "s101");
    s_submit ("108", "road", "B2", "another", "s108");
    s_wait_routed ("108");
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox"), 8);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timeline WHERE request_id = '101'"),
                      1);
    s_expect ("RequestRouted", "SELECT type FROM routing.outbox WHERE key = '%s'", "101");
    s_expect ("RequestMerged", "SELECT type FROM routing.outbox WHERE key = '%s'", "107");
    assert_int_equal (
        s_scalar ("SELECT position FROM routing.bus_cursor WHERE consumer = 'routing'"), 9);
}

//  Requests that arrive together are routed as one batch: a duplicate
//  merges into a lead routed earlier in the same batch (its follower
//  count too) or into a stored lead; a repeated request in a batch makes
//  the batch route one by one, with the same result.
static void
test_batch_merges (void **state)
{
    (void) state;
    assert_int_equal (gz_db_begin (F.pdb), 0);
    s_stage_submit ("601", "road", "B1", "路灯坏了", "s601");
    s_stage_submit ("602", "road", "B1", "路灯还是坏的", "s602");
    s_stage_submit ("603", "noise", "B1", "广场舞", "s603");
    s_stage_submit ("604", "road", "B1", "路灯", "s604");
    assert_int_equal (gz_bus_pub_write (F.intake), 0);
    assert_int_equal (gz_db_commit (F.pdb), 0);
    gz_bus_pub_committed (F.intake);
    s_wait_routed ("604");
    s_expect ("assigned", "SELECT state FROM routing.requests WHERE id = '%s'", "601");
    s_expect ("601", "SELECT merged_into FROM routing.requests WHERE id = '%s'", "602");
    s_expect ("601", "SELECT merged_into FROM routing.requests WHERE id = '%s'", "604");
    s_expect ("w1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "604");
    s_expect ("2", "SELECT followers FROM routing.requests WHERE id = '%s'", "601");
    s_expect ("assigned", "SELECT state FROM routing.requests WHERE id = '%s'", "603");
    s_expect ("w1b", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "603");
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers"), 8);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timeline"), 4);
    s_expect ("601,602,603,604",
              "SELECT string_agg (key, ',' ORDER BY position) FROM routing.outbox%s", "");
    s_expect ("RequestRouted,RequestMerged,RequestRouted,RequestMerged",
              "SELECT string_agg (type, ',' ORDER BY position) FROM routing.outbox%s", "");

    //  Stored leads, and a repeated request (602) in the batch.
    assert_int_equal (gz_db_begin (F.pdb), 0);
    s_stage_submit ("605", "road", "B1", "路灯", "s605");
    s_stage_submit ("602", "road", "B1", "路灯还是坏的", "s602");
    s_stage_submit ("606", "noise", "B1", "广场舞", "s606");
    assert_int_equal (gz_bus_pub_write (F.intake), 0);
    assert_int_equal (gz_db_commit (F.pdb), 0);
    gz_bus_pub_committed (F.intake);
    s_wait_routed ("606");
    s_expect ("601", "SELECT merged_into FROM routing.requests WHERE id = '%s'", "605");
    s_expect ("603", "SELECT merged_into FROM routing.requests WHERE id = '%s'", "606");
    s_expect ("3", "SELECT followers FROM routing.requests WHERE id = '%s'", "601");
    s_expect ("1", "SELECT followers FROM routing.requests WHERE id = '%s'", "603");
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timeline"), 6);
    s_expect ("601,602,603,604,605,606",
              "SELECT string_agg (key, ',' ORDER BY position) FROM routing.outbox%s", "");
    assert_int_equal (
        s_scalar ("SELECT position FROM routing.bus_cursor WHERE consumer = 'routing'"), 7);
}

static void
test_worker_loop (void **state)
{
    (void) state;
    s_submit ("201", "road", "B1", "路灯坏了", "secret201");
    s_wait_routed ("201");
    json_t *j;
    //  401 without a token, with a bad one; 403 for another unit; 404.
    assert_int_equal (s_act ("201", "accept", NULL, NULL), 401);
    assert_int_equal (s_act ("201", "accept", "nope", NULL), 401);
    assert_int_equal (s_act ("201", "accept", "tok-w2", NULL), 403);
    assert_int_equal (s_act ("999", "accept", "tok-w1", NULL), 404);
    assert_int_equal (s_act ("201", "fly", "tok-w1", NULL), 404);
    //  Illegal transitions: 409 with the current state.
    assert_int_equal (s_call ("POST", "/api/v1/requests/201/start", "tok-w1", "{}", &j), 409);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (j, "error"), "state")), "assigned");
    json_decref (j);
    assert_int_equal (s_act ("201", "resolve", "tok-w1", "{\"result\":\"修好了\"}"), 409);
    assert_int_equal (
        s_act ("201", "rate", NULL, "{\"score\":5,\"satisfied\":true,\"token\":\"secret201\"}"),
        409);
    //  400: bad JSON, bad fields.
    assert_int_equal (s_act ("201", "accept", "tok-w1", "{not json"), 400);
    //  A note with U+FFFF (which XML cannot carry) is refused.
    assert_int_equal (s_act ("201", "note", "tok-w1", "{\"text\":\"\\uffff\"}"), 400);
    //  media_url is published in the public updates feed: http(s) only.
    assert_int_equal (s_act ("201", "note", "tok-w1", "{\"media_url\":\"javascript:alert(1)\"}"),
                      400);
    //  A repeated key is refused, not "the last one wins".
    assert_int_equal (
        s_act ("201", "verify", "tok-w1", "{\"outcome\":\"reached\",\"outcome\":\"invalid\"}"),
        400);
    assert_int_equal (s_act ("201", "verify", "tok-w1", "{\"outcome\":\"maybe\"}"), 400);
    assert_int_equal (s_act ("201", "resolve", "tok-w1", "{}"), 400);
    //  The loop.
    assert_int_equal (s_act ("201", "accept", "tok-w1", NULL), 200);
    assert_int_equal (s_act ("201", "accept", "tok-w1", NULL), 409);
    assert_int_equal (s_act ("201", "verify", "tok-w1", "{\"outcome\":\"not_reached\"}"), 200);
    s_expect ("accepted", "SELECT state FROM routing.requests WHERE id = '%s'", "201");
    assert_int_equal (s_act ("201", "verify", "tok-w1", "{\"outcome\":\"reached\"}"), 200);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers WHERE request_id = '201'"
                                " AND kind LIKE 'response%' AND fired_at_us IS NULL"),
                      0);
    assert_int_equal (s_act ("201", "start", "tok-w1", NULL), 200);
    assert_int_equal (s_act ("201", "note", "tok-w1",
                             "{\"text\":\"已买灯泡\",\"media_url\":\"https://x/1.jpg\"}"),
                      200);
    assert_int_equal (s_act ("201", "resolve", "tok-w1", "{\"result\":\"已更换灯泡\"}"), 200);
    //  Residents: wrong secret 401, staff 403, bad score 400.
    assert_int_equal (
        s_act ("201", "rate", NULL, "{\"score\":5,\"satisfied\":true,\"token\":\"wrong\"}"), 401);
    assert_int_equal (s_act ("201", "rate", "tok-w1", "{\"score\":5,\"satisfied\":true}"), 403);
    assert_int_equal (
        s_act ("201", "rate", NULL, "{\"score\":9,\"satisfied\":true,\"token\":\"secret201\"}"),
        400);
    assert_int_equal (s_call ("POST", "/api/v1/requests/201/rate?t=secret201", NULL,
                              "{\"score\":5,\"satisfied\":true,\"comment\":\"很快\"}", &j),
                      200);
    assert_string_equal (s_state_of (j), "closed");
    json_t *tl = json_object_get (j, "timeline");
    assert_int_equal (json_array_size (tl), 9); //  routed .. rated, closed
    assert_string_equal (json_string_value (json_object_get (json_array_get (tl, 0), "kind")),
                         "routed");
    assert_non_null (
        strstr (json_string_value (json_object_get (json_object_get (j, "deadlines"), "response")),
                "+08:00"));
    json_decref (j);
    assert_int_equal (s_act ("201", "reopen", NULL, "{\"token\":\"secret201\"}"), 409);
    const char *kinds[] = {"RequestRouted",   "RequestAccepted", "RequestVerified",
                           "RequestVerified", "RequestStarted",  "NoteAdded",
                           "RequestResolved", "RequestRated",    "RequestClosed"};
    PGresult *r = PQexec (gz_db_conn (F.db),
                          "SELECT type FROM routing.outbox WHERE key = '201' ORDER BY position");
    assert_int_equal (PQntuples (r), 9);
    for (int i = 0; i < 9; i++)
        assert_string_equal (PQgetvalue (r, i, 0), kinds[i]);
    PQclear (r);

    //  Not satisfied, reopen: back to the same assignee, counted.
    s_submit ("202", "sanitation", "B1", "垃圾没人收", "secret202");
    s_wait_routed ("202");
    char *who =
        gz_testfix_text (F.db, "SELECT assignee_staff FROM routing.requests WHERE id = '202'");
    char tok[32];
    snprintf (tok, sizeof tok, "tok-%s", who);
    assert_int_equal (s_act ("202", "accept", tok, NULL), 200);
    assert_int_equal (s_act ("202", "verify", tok, "{\"outcome\":\"reached\"}"), 200);
    assert_int_equal (s_act ("202", "start", tok, NULL), 200);
    assert_int_equal (s_act ("202", "resolve", tok, "{\"result\":\"已清运\"}"), 200);
    assert_int_equal (
        s_act ("202", "rate", NULL, "{\"score\":2,\"satisfied\":false,\"token\":\"secret202\"}"),
        200);
    s_expect ("rated", "SELECT state FROM routing.requests WHERE id = '%s'", "202");
    assert_int_equal (
        s_act ("202", "reopen", NULL, "{\"token\":\"secret202\",\"comment\":\"又堆满了\"}"), 200);
    s_expect ("accepted", "SELECT state FROM routing.requests WHERE id = '%s'", "202");
    s_expect ("1", "SELECT reopen_count FROM routing.requests WHERE id = '%s'", "202");
    s_expect (who, "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "202");
    free (who);

    //  Invalid on verify: rejected, closed.
    s_submit ("203", "road", "B2", "测试", "secret203");
    s_wait_routed ("203");
    assert_int_equal (s_act ("203", "accept", "tok-duty1", NULL), 200);
    assert_int_equal (s_act ("203", "verify", "tok-duty1", "{\"outcome\":\"invalid\"}"), 200);
    s_expect ("rejected", "SELECT state FROM routing.requests WHERE id = '%s'", "203");
    s_expect ("RequestRejected",
              "SELECT type FROM routing.outbox WHERE key = '%s' ORDER BY position DESC LIMIT 1",
              "203");
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers WHERE request_id = '203'"
                                " AND fired_at_us IS NULL"),
                      0);

    //  Transfer, escalate, return; the operator acts for any unit and
    //  rates by phone.
    s_submit ("204", "road", "B2", "路面坑洼", "secret204");
    s_wait_routed ("204");
    assert_int_equal (s_act ("204", "transfer", "tok-duty1", "{\"to_unit\":\"G1\"}"), 400);
    assert_int_equal (
        s_act ("204", "transfer", "tok-duty1", "{\"to_unit\":\"NOPE\",\"reason\":\"不是本社区\"}"),
        422);
    assert_int_equal (s_act ("204", "transfer", "tok-duty1",
                             "{\"to_unit\":\"G1\",\"to_staff\":\"w1\",\"reason\":\"属于网格1\"}"),
                      200);
    s_expect ("w1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "204");
    assert_int_equal (s_act ("204", "escalate", "tok-w1", "{\"reason\":\"需要社区协调\"}"), 200);
    s_expect ("duty1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "204");
    assert_int_equal (s_act ("204", "accept", "tok-w1", NULL), 403);
    assert_int_equal (s_act ("204", "return", "tok-duty1", "{\"reason\":\"请重新派单\"}"), 200);
    s_expect ("coord1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "204");
    assert_int_equal (s_act ("204", "return", "tok-coord1", "{\"reason\":\"again\"}"), 422);
    assert_int_equal (s_act ("204", "accept", OPTOKEN, NULL), 200);
    assert_int_equal (s_act ("204", "verify", OPTOKEN, "{\"outcome\":\"reached\"}"), 200);
    assert_int_equal (s_act ("204", "start", OPTOKEN, NULL), 200);
    assert_int_equal (s_act ("204", "resolve", OPTOKEN, "{\"result\":\"已修补\"}"), 200);
    assert_int_equal (s_act ("204", "rate", OPTOKEN, "{\"score\":4,\"satisfied\":true}"), 200);
    s_expect ("closed", "SELECT state FROM routing.requests WHERE id = '%s'", "204");

    //  Hard tier: a co-handler reports by note, cannot resolve.
    s_submit ("205", "property", "B1", "物业纠纷", "secret205");
    s_wait_routed ("205");
    assert_int_equal (s_act ("205", "note", "tok-dc2", "{\"text\":\"司法局已调解\"}"), 200);
    assert_int_equal (s_act ("205", "accept", "tok-dc2", NULL), 403);
    s_expect ("t", "SELECT reported::text::char FROM routing.co_handlers WHERE request_id = '%s'",
              "205");

    //  The queue: the caller's open work, most urgent first.
    assert_int_equal (s_call ("GET", "/api/v1/queue", OPTOKEN, NULL, &j), 200);
    json_t *items = json_object_get (j, "requests");
    assert_true (json_array_size (items) >= 2);
    json_decref (j);
    assert_int_equal (s_call ("GET", "/api/v1/queue", NULL, NULL, &j), 401);
    json_decref (j);
    //  GET: staff, resident with ?t=, else 401; bodies over 64 KiB 413.
    assert_int_equal (s_call ("GET", "/api/v1/requests/205", NULL, NULL, &j), 401);
    json_decref (j);
    assert_int_equal (s_call ("GET", "/api/v1/requests/205?t=secret205", NULL, NULL, &j), 200);
    assert_int_equal (json_array_size (json_object_get (j, "co_handlers")), 1);
    json_decref (j);
    char *big = malloc (70000);
    memset (big, ' ', 69999);
    big[0] = '{';
    big[69998] = '}';
    big[69999] = 0;
    assert_int_equal (s_act ("205", "note", "tok-dc1", big), 413);
    free (big);
    assert_int_equal (s_call ("GET", "/metrics", NULL, NULL, NULL), 200);
}

static void
test_bus_commands (void **state)
{
    (void) state;
    s_submit ("301", "road", "B1", "路灯坏了", "secret301");
    s_wait_routed ("301");
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", gz_testfix_port (F.routing, "BUSPORT"));
    assert_int_equal (zsock_connect (dealer, "%s", ep), 0);
    const char *actions[][3] = {{"accept", "tok-w1", ""},
                                {"start", "tok-w1", ""},
                                {"accept", "tok-w2", ""},
                                {"accept", "", ""},
                                {"verify", "Bearer tok-w1", "reached"}}; //  both forms
    const char *expect[][2] = {{"", "accepted"},
                               {"conflict", "accepted"},
                               {"forbidden", ""},
                               {"unauthorized", ""},
                               {"", "verified"}};
    for (int i = 0; i < 5; i++) {
        Gongzhi__V1__WorkerCommand wc = GONGZHI__V1__WORKER_COMMAND__INIT;
        wc.request_id = "301";
        wc.action = (char *) actions[i][0];
        wc.outcome = (char *) actions[i][2];
        zframe_t *f =
            gz_codec_envelope_frame ("WorkerCommand", "301", NULL, actions[i][1], &wc.base);
        zframe_t *copy = zframe_dup (f);
        zframe_send (&f, dealer, 0);
        zsock_set_rcvtimeo (dealer, 5000);
        zframe_t *reply = zframe_recv (dealer);
        assert_non_null (reply);
        gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (reply), zframe_size (reply));
        assert_non_null (env);
        assert_string_equal (env->type, "CommandReply");
        //  The reply names the command it answers.
        gz_envelope_t *sent = gz_codec_envelope_decode (zframe_data (copy), zframe_size (copy));
        assert_string_equal (env->reply_to, sent->id);
        gz_codec_envelope_free (&sent);
        zframe_destroy (&copy);
        Gongzhi__V1__CommandReply *cr =
            gongzhi__v1__command_reply__unpack (NULL, env->payload.len, env->payload.data);
        assert_non_null (cr);
        assert_string_equal (cr->error, expect[i][0]);
        assert_string_equal (cr->state, expect[i][1]);
        assert_int_equal (cr->ok, *expect[i][0] == 0);
        gongzhi__v1__command_reply__free_unpacked (cr, NULL);
        gz_codec_envelope_free (&env);
        zframe_destroy (&reply);
    }
    zsock_destroy (&dealer);
}

//  A WorkerCommand over GZ_BUS_MAX_COMMAND_BYTES (64 KiB) is answered
//  too_large at once, naming the limit and echoing the command's id.
static void
test_bus_too_large (void **state)
{
    (void) state;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (
        zsock_connect (dealer, "tcp://127.0.0.1:%d", gz_testfix_port (F.routing, "BUSPORT")), 0);
    char *text = malloc (256 * 1024 + 1);
    assert_non_null (text);
    memset (text, 'a', 256 * 1024);
    text[256 * 1024] = 0;
    Gongzhi__V1__WorkerCommand wc = GONGZHI__V1__WORKER_COMMAND__INIT;
    wc.request_id = "301";
    wc.action = "note";
    wc.text = text;
    zframe_t *f = gz_codec_envelope_frame ("WorkerCommand", "301", "big-note", "tok-w1", &wc.base);
    gz_envelope_t *sent = gz_codec_envelope_decode (zframe_data (f), zframe_size (f));
    zframe_send (&f, dealer, 0);
    free (text);
    zsock_set_rcvtimeo (dealer, 5000);
    zframe_t *reply = zframe_recv (dealer);
    assert_non_null (reply);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (reply), zframe_size (reply));
    assert_non_null (env);
    assert_string_equal (env->type, "CommandReply");
    assert_string_equal (env->reply_to, sent->id);
    assert_string_equal (env->idempotency_key, "big-note");
    Gongzhi__V1__CommandReply *cr =
        gongzhi__v1__command_reply__unpack (NULL, env->payload.len, env->payload.data);
    assert_non_null (cr);
    assert_false (cr->ok);
    assert_string_equal (cr->error, "too_large");
    assert_non_null (strstr (cr->message, "GZ_BUS_MAX_COMMAND_BYTES"));
    gongzhi__v1__command_reply__free_unpacked (cr, NULL);
    gz_codec_envelope_free (&env);
    gz_codec_envelope_free (&sent);
    zframe_destroy (&reply);
    zsock_destroy (&dealer);
}

static void
test_timers_escalate_restart (void **state)
{
    (void) state;
    s_submit ("401", "road", "B1", "路灯坏了", "s401"); //  10h response, 100h resolve
    s_wait_routed ("401");
    //  7h: nothing. 8h (80%): a warning. Restart. 10h: past due, the
    //  community duty officer is named, a new 10h deadline.
    s_set_clock (T0 + 7 * HOUR);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'"), 1);
    s_set_clock (T0 + 8 * HOUR);
    s_expect ("DeadlineWarning",
              "SELECT type FROM routing.outbox WHERE key = '%s' ORDER BY position DESC LIMIT 1",
              "401");
    s_set_clock (T0 + 9 * HOUR);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'"), 2);

    //  Restart: the clock is the actor's, set it again after.
    zactor_destroy (&F.routing);
    s_start_routing ();
    s_set_clock (T0 + 9 * HOUR);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'"), 2);
    s_set_clock (T0 + 10 * HOUR);
    s_expect ("RequestEscalated",
              "SELECT type FROM routing.outbox WHERE key = '%s' ORDER BY position DESC LIMIT 1",
              "401");
    s_expect ("duty1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "401");
    s_expect ("1", "SELECT level FROM routing.requests WHERE id = '%s'", "401");
    assert_int_equal (s_scalar ("SELECT (response_due_us - 4102444800000000) / 3600000000"
                                " FROM routing.requests WHERE id = '401'"),
                      20);
    //  Each timer fired once.
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers WHERE request_id = '401'"
                                " AND fired_at_us IS NOT NULL"),
                      2);
    //  Next rung: the sub-district coordinator at 20h, then the paired
    //  department at 30h; then it stays at the top with a warning.
    s_set_clock (T0 + 20 * HOUR);
    s_expect ("coord1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "401");
    s_set_clock (T0 + 30 * HOUR);
    s_expect ("dc1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "401");
    s_expect ("3", "SELECT level FROM routing.requests WHERE id = '%s'", "401");
    assert_int_equal (
        s_scalar (
            "SELECT count(*) FROM routing.outbox WHERE key = '401' AND type = 'RequestEscalated'"),
        3);
    //  The department accepts and verifies: the response deadline is met.
    s_token ("dc1", "tok-dc1");
    assert_int_equal (s_act ("401", "accept", "tok-dc1", NULL), 200);
    assert_int_equal (s_act ("401", "verify", "tok-dc1", "{\"outcome\":\"reached\"}"), 200);
    long before = s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'");
    s_set_clock (T0 + 79 * HOUR);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'"), before);
    s_set_clock (T0 + 80 * HOUR); //  80% of the 100h resolve deadline
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.outbox WHERE key = '401'"),
                      before + 1);
    s_expect ("resolve",
              "SELECT detail->>'deadline' FROM routing.timeline WHERE request_id = '%s'"
              " ORDER BY seq DESC LIMIT 1",
              "401");
    //  No timer is fired twice, none is left behind unfired in the past.
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timers WHERE fired_at_us IS NULL"
                                " AND fire_at_us <= 4102444800000000 + 80 * 3600000000::bigint"),
                      0);
}

static void
s_write_rules (const char *text)
{
    FILE *f = fopen (F.rules_path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

//  RELOAD (SIGHUP in gz-routing): a bad file or an unknown department is
//  refused and the old rules stay in force; a good file takes over.
static void
test_rules_reload (void **state)
{
    (void) state;
    s_write_rules ("noise * * upper subdistrict - 2h\n");
    zstr_send (F.routing, "RELOAD");
    assert_int_equal (zsock_wait (F.routing), 1);
    s_write_rules ("property * * hard dept:NOPE - 4h 30d\n* * * local grid - 10h 100h\n");
    zstr_send (F.routing, "RELOAD");
    assert_int_equal (zsock_wait (F.routing), 1);
    s_submit ("501", "noise", "B1", "夜间施工", "s501");
    s_wait_routed ("501");
    s_expect ("coord1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "501");
    s_write_rules ("* * * local grid - 1h 10h\n");
    zstr_send (F.routing, "RELOAD");
    assert_int_equal (zsock_wait (F.routing), 0);
    s_submit ("502", "noise", "B2", "夜间施工", "s502");
    s_wait_routed ("502");
    s_expect ("1", "SELECT tier FROM routing.requests WHERE id = '%s'", "502");
    assert_int_equal (s_scalar ("SELECT resolve_s FROM routing.requests WHERE id = '502'"), 36000);
}

//  routing's gz_org_reloads_total from /metrics.
static double
s_reloads (void)
{
    return gz_testfix_metric (F.base, "gz_org_reloads_total");
}

//  A staff change made in the database (as gzctl org import makes it) is
//  in force without RELOAD: a grid worker put on duty gets the next
//  request of her grid once routing has seen org.generation move.
static void
test_org_follows_database (void **state)
{
    (void) state;
    zactor_destroy (&F.routing);
    F.cfg->base.org_check_ms = 100;
    s_start_routing ();
    F.cfg->base.org_check_ms = 0;
    s_set_clock (T0);
    assert_true (s_reloads () == 0);
    s_exec ("UPDATE org.staff SET on_duty = true WHERE id = 'w2'");
    gz_testfix_wait_metric (F.base, "gz_org_reloads_total", 1, 5000);
    s_submit ("601", "road", "B2", "路灯坏了", "s601");
    s_wait_routed ("601");
    s_expect ("w2", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "601");
    //  Nothing changed since: no further reload, after two more checks of
    //  org.generation (whatever the first decided is done before the
    //  second starts).
    gz_testfix_wait_org_checks (F.db, "routing", 2, 5000);
    assert_true (s_reloads () == 1);
}

//  Least-loaded assignment reads the actor's cached load counts: they
//  must follow the transitions the actor makes, not only its routings.
static void
test_load_follows_transitions (void **state)
{
    (void) state;
    s_submit ("301", "road", "B1", "路灯坏了", "s301");
    s_wait_routed ("301");
    s_expect ("w1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "301");
    s_submit ("302", "noise", "B1", "楼下广场舞声音很大", "s302");
    s_wait_routed ("302");
    s_expect ("w1b", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "302");
    //  w1b hands 302 to the community (duty1): w1 has one open, w1b none,
    //  so 303 goes to w1b (a count that missed the move would tie, and a
    //  tie goes to w1).
    assert_int_equal (s_act ("302", "transfer", "tok-w1b",
                             "{\"to_unit\":\"C1\",\"to_staff\":\"duty1\",\"reason\":\"交接\"}"),
                      200);
    s_expect ("duty1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "302");
    s_submit ("303", "water", "B1", "水管漏水", "s303");
    s_wait_routed ("303");
    s_expect ("w1b", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "303");
    //  duty1 hands 302 to w1: w1 has two, w1b one, so 304 goes to w1b.
    assert_int_equal (s_act ("302", "transfer", "tok-duty1",
                             "{\"to_unit\":\"G1\",\"to_staff\":\"w1\",\"reason\":\"网格处理\"}"),
                      200);
    s_submit ("304", "waste", "B1", "垃圾没清运", "s304");
    s_wait_routed ("304");
    s_expect ("w1b", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "304");
    //  A hard request's co-handlers, written with it in one statement.
    s_submit ("305", "property", "B2", "物业纠纷多年, \"急\"", "s305");
    s_wait_routed ("305");
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.co_handlers WHERE request_id = '305'"
                                " AND unit_code = 'DEP2' AND staff_id = 'dc2'"
                                " AND staff_name = '司法联络员' AND unit_name = '司法局'"),
                      1);
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.timeline WHERE request_id = '305'"),
                      1);
    //  Its timeline detail (JSON written by hand) names the assignee.
    s_expect ("dc1 住建联络员 DEP1 住建局",
              "SELECT concat_ws (' ', detail->'assignee'->>'staff_id', detail->'assignee'->>'name',"
              " detail->'assignee'->>'unit_code', detail->'assignee'->>'unit_name')"
              " FROM routing.timeline WHERE request_id = '%s'",
              "305");
}

static long
s_read (const char *id, const char *token)
{
    char path[128];
    snprintf (path, sizeof path, "/api/v1/requests/%s", id);
    return s_call ("GET", path, token, NULL, NULL);
}

//  A staff member reads the requests of her area (her unit's subtree), her
//  unit's, her own and those her unit co-handles; 403 for the rest, as the
//  actions answer. An operator reads every request.
static void
test_read_scope (void **state)
{
    (void) state;
    s_submit ("401", "road", "B1", "路灯坏了", "secret401");
    s_submit ("402", "road", "B3", "井盖丢了", "secret402");
    s_wait_routed ("401");
    s_wait_routed ("402");
    s_expect ("w1", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "401");
    s_expect ("w3", "SELECT assignee_staff FROM routing.requests WHERE id = '%s'", "402");
    //  Sub-district S1's people read 401, not S2's 402, and the reverse.
    assert_int_equal (s_read ("401", "tok-w1"), 200);
    assert_int_equal (s_read ("402", "tok-w1"), 403);
    assert_int_equal (s_read ("402", "tok-w3"), 200);
    assert_int_equal (s_read ("401", "tok-w3"), 403);
    assert_int_equal (s_read ("401", "tok-coord1"), 200); //  area: S1
    assert_int_equal (s_read ("402", "tok-coord1"), 403);
    assert_int_equal (s_read ("402", "tok-coord2"), 200); //  area: S2
    assert_int_equal (s_read ("401", "tok-coord2"), 403);
    assert_int_equal (s_read ("401", "tok-duty1"), 200); //  area: C1
    assert_int_equal (s_read ("402", "tok-duty1"), 403);
    //  Another grid of the same community, a department not involved.
    assert_int_equal (s_read ("401", "tok-w2"), 403);
    assert_int_equal (s_read ("401", "tok-dc2"), 403);
    //  The operator reads both; a missing request is still 404.
    assert_int_equal (s_read ("401", OPTOKEN), 200);
    assert_int_equal (s_read ("402", OPTOKEN), 200);
    assert_int_equal (s_read ("999", "tok-w1"), 404);
    //  The resident's secret opens her own request whoever's token comes with it.
    assert_int_equal (s_read ("401?t=secret401", "tok-w3"), 200);
    //  Transferred to DEP2, the request is its unit's to read.
    assert_int_equal (
        s_act ("401", "transfer", "tok-w1", "{\"to_unit\":\"DEP2\",\"reason\":\"司法事项\"}"), 200);
    assert_int_equal (s_read ("401", "tok-dc2"), 200);
}

//  A token past its expiry is refused like an unknown one (401).
static void
test_token_expiry (void **state)
{
    (void) state;
    s_token ("w1", "tok-expiring");
    assert_int_equal (s_call ("GET", "/api/v1/queue", "tok-expiring", NULL, NULL), 200);
    //  Issued for 90 days unless gzctl says otherwise.
    assert_int_equal (s_scalar ("SELECT count(*) FROM routing.tokens WHERE expires_at BETWEEN"
                                " now() + interval '89 days' AND now() + interval '91 days'"
                                " AND token_sha256 = encode(sha256('tok-expiring'), 'hex')"),
                      1);
    s_exec ("UPDATE routing.tokens SET expires_at = now() - interval '1 second'"
            " WHERE token_sha256 = encode(sha256('tok-expiring'), 'hex')");
    assert_int_equal (s_call ("GET", "/api/v1/queue", "tok-expiring", NULL, NULL), 401);
    assert_int_equal (s_call ("GET", "/api/v1/queue", "tok-w1", NULL, NULL), 200);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_route_tiers_merge_idempotent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_merges, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_worker_loop, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bus_commands, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bus_too_large, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_timers_escalate_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rules_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_org_follows_database, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_load_follows_transitions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_token_expiry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read_scope, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
