/*  Integration tests for intake: the real actor against a fresh
    PostgreSQL database, spoken to over real HTTP (libcurl) and real
    ZeroMQ sockets. Covers Open311 (every endpoint, both formats, valid,
    idempotent, every bad input), the QR page round trip, the status page,
    bus submits, events on the bus, phone masking and metrics.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "gz_bus.h"
#include "gz_codec.h"
#include "gz_db.h"
#include "gz_http.h"
#include "gz_org.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "gz_testhttp.h"
#include "intake_server.h"

#include "gongzhi/v1/routing.pb-c.h"

#define KEY "test-key-123"
#define PHONE "13812348000"

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *db;
    intake_config_t *cfg;
    zactor_t *intake;
    int http_port, bus_port, events_port;
    char base[64];
} fixture_t;

static fixture_t F;

static long long
s_scalar (const char *sql)
{
    return gz_testfix_scalar (F.db, sql);
}

static long long
s_count (void)
{
    return s_scalar ("SELECT count(*) FROM intake.requests");
}

static void
s_exec (const char *sql)
{
    gz_testfix_exec (F.db, sql);
}

static zactor_t *
s_start (intake_config_t *cfg, int *http, int *bus, int *events)
{
    zactor_t *a = zactor_new (intake_server, cfg);
    assert_non_null (a);
    *http = gz_testfix_port (a, "PORT");
    assert_true (*http > 0);
    *bus = gz_testfix_port (a, "BUSPORT");
    *events = gz_testfix_port (a, "EVENTSPORT");
    return a;
}

//  An intake configuration on the test database (any free ports): the
//  fixture's, and that of tests that start an intake of their own.
static intake_config_t *
s_config (void)
{
    return gz_testfix_intake_config (gz_testdb_url (F.tdb), "district=" KEY);
}

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_BUS_HEARTBEAT_MS", "100", 1);
    //  Only RELOAD changes the directory, unless a test says otherwise.
    setenv ("GZ_ORG_CHECK_MS", "0", 1);
    F.tdb = gz_testdb_new ("intake");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    //  A tiny area: one grid, two buildings near the Huaguoyuan centre.
    gz_testfix_seed_area (F.db);
    F.cfg = s_config ();
    F.cfg->rate = 0; //  unlimited here; the rate test starts its own actor
    F.intake = s_start (F.cfg, &F.http_port, &F.bus_port, &F.events_port);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%d", F.http_port);
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

static long
s_post (const char *path, const char *body, const char *idem, gz_testhttp_t *out)
{
    char url[256];
    snprintf (url, sizeof url, "%s%s", F.base, path);
    char h[256];
    snprintf (h, sizeof h, "Idempotency-Key: %s", idem ? idem : "");
    const char *headers[] = {h, NULL};
    assert_int_equal (
        gz_testhttp ("POST", url, body, strlen (body), NULL, idem ? headers : NULL, out), 0);
    return out->status;
}

static long
s_get (const char *path, gz_testhttp_t *out)
{
    char url[512];
    snprintf (url, sizeof url, "%s%s", F.base, path);
    assert_int_equal (gz_testhttp_get (url, out), 0);
    return out->status;
}

//  service_request_id from a JSON POST answer (caller frees).
static char *
s_request_id (const char *body)
{
    char *id = gz_testfix_request_id (body);
    assert_non_null (id);
    return id;
}

//  ---------------------------------------------------------------- tests

static void
test_discovery_and_services (void **state)
{
    (void) state;
    gz_testhttp_t r;
    assert_int_equal (s_get ("/open311/v2/discovery.json", &r), 200);
    assert_non_null (strstr (r.body, "\"specification\":\"http://wiki.open311.org/GeoReport_v2\""));
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/discovery.xml", &r), 200);
    assert_non_null (strstr (r.body, "<discovery><changeset>"));
    assert_non_null (strstr (r.body, "<formats><format>text/xml</format>"));
    gz_testhttp_free (&r);

    assert_int_equal (s_get ("/open311/v2/services.json", &r), 200);
    json_t *j = json_loads (r.body, 0, NULL);
    assert_true (json_array_size (j) >= 12);
    bool saw_utilities = false;
    size_t i;
    json_t *s;
    json_array_foreach (j, i, s)
    {
        const char *code = json_string_value (json_object_get (s, "service_code"));
        assert_non_null (json_object_get (s, "service_name"));
        if (strcmp (code, "utilities") == 0) {
            saw_utilities = true;
            assert_true (json_is_true (json_object_get (s, "metadata")));
            assert_string_equal (json_string_value (json_object_get (s, "service_name")),
                                 "水电气暖");
        }
    }
    assert_true (saw_utilities);
    json_decref (j);
    gz_testhttp_free (&r);

    assert_int_equal (s_get ("/open311/v2/services.xml", &r), 200);
    assert_non_null (strstr (r.body, "<services><service><service_code>road</service_code>"));
    assert_non_null (strstr (r.content_type, "text/xml"));
    gz_testhttp_free (&r);

    assert_int_equal (s_get ("/open311/v2/services/utilities.json", &r), 200);
    assert_non_null (strstr (r.body, "\"code\":\"utility_type\""));
    assert_non_null (strstr (r.body, "\"datatype\":\"singlevaluelist\""));
    assert_non_null (strstr (r.body, "\"key\":\"water\""));
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/services/utilities.xml", &r), 200);
    assert_non_null (strstr (r.body, "<service_definition><service_code>utilities"));
    assert_non_null (strstr (r.body, "<values><value><key>water</key><name>供水</name>"));
    gz_testhttp_free (&r);

    assert_int_equal (s_get ("/open311/v2/services/nope.json", &r), 404);
    assert_non_null (strstr (r.body, "[{\"code\":404,\"description\":"));
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/services/nope.xml", &r), 404);
    assert_non_null (strstr (r.body, "<errors><error><code>404</code><description>"));
    gz_testhttp_free (&r);
}

static void
test_post_and_get_request (void **state)
{
    (void) state;
    gz_testhttp_t r;
    long before = s_count ();
    assert_int_equal (
        s_post ("/open311/v2/requests.json",
                "api_key=" KEY "&service_code=property&lat=26.5651&long=106.6901"
                "&description=%E6%A5%BC%E9%81%93%E7%81%AF%E5%9D%8F%E4%BA%86&phone=" PHONE
                "&first_name=%E5%BC%A0&email=a%40b.cn",
                NULL, &r),
        201);
    char *id = s_request_id (r.body);
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before + 1);

    char path[128];
    snprintf (path, sizeof path, "/open311/v2/requests/%s.json", id);
    assert_int_equal (s_get (path, &r), 200);
    json_t *j = json_loads (r.body, 0, NULL);
    json_t *o = json_array_get (j, 0);
    assert_string_equal (json_string_value (json_object_get (o, "service_request_id")), id);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "open");
    assert_string_equal (json_string_value (json_object_get (o, "service_code")), "property");
    assert_string_equal (json_string_value (json_object_get (o, "description")), "楼道灯坏了");
    assert_string_equal (json_string_value (json_object_get (o, "address_id")), "B1");
    const char *ts = json_string_value (json_object_get (o, "requested_datetime"));
    assert_non_null (ts);
    assert_int_equal (strlen (ts), 25); //  2026-11-29T10:00:00+08:00
    assert_string_equal (ts + 19, "+08:00");
    assert_true (json_real_value (json_object_get (o, "lat")) > 26.56);
    assert_null (strstr (r.body, PHONE));
    assert_null (strstr (r.body, "a@b.cn"));
    json_decref (j);
    gz_testhttp_free (&r);

    snprintf (path, sizeof path, "/open311/v2/requests/%s.xml", id);
    assert_int_equal (s_get (path, &r), 200);
    char want[128];
    snprintf (want, sizeof want, "<service_requests><request><service_request_id>%s<", id);
    assert_non_null (strstr (r.body, want));
    assert_non_null (strstr (r.body, "<status>open</status>"));
    gz_testhttp_free (&r);

    //  The phone is stored apart and only there.
    char sql[256];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.contacts WHERE request_id = %s"
              " AND phone = '" PHONE "'",
              id);
    assert_int_equal (s_scalar (sql), 1);
    assert_int_equal (
        s_scalar ("SELECT count(*) FROM intake.requests WHERE requests::text LIKE '%" PHONE "%'"),
        0);
    free (id);

    assert_int_equal (s_get ("/open311/v2/requests/999999999.json", &r), 404);
    gz_testhttp_free (&r);
}

static void
test_idempotency (void **state)
{
    (void) state;
    gz_testhttp_t r;
    const char *body = "api_key=" KEY "&service_code=noise&address_id=B2&description=noise";
    long before = s_count ();
    assert_int_equal (s_post ("/open311/v2/requests.json", body, "idem-1", &r), 201);
    char *a = s_request_id (r.body);
    gz_testhttp_free (&r);
    assert_int_equal (s_post ("/open311/v2/requests.json", body, "idem-1", &r), 200);
    char *b = s_request_id (r.body);
    gz_testhttp_free (&r);
    assert_string_equal (a, b);
    assert_int_equal (s_count (), before + 1);
    assert_int_equal (s_post ("/open311/v2/requests.json", body, "idem-2", &r), 201);
    char *c = s_request_id (r.body);
    gz_testhttp_free (&r);
    assert_string_not_equal (a, c);
    assert_int_equal (s_count (), before + 2);
    free (a);
    free (b);
    free (c);
}

typedef struct {
    const char *body;
    long status;
    const char *needle;
} s_bad_t;

static void
test_bad_input_changes_nothing (void **state)
{
    (void) state;
    static char big[70 * 1024];
    memset (big, 'a', sizeof big - 1);
    memcpy (big, "api_key=" KEY "&service_code=road&address_id=B1&description=", 61);
    //  4,001 Chinese characters: too long (each %E6%A5%BC is one character).
    size_t n4001 = 4001 * 9 + 128;
    char *long_desc = malloc (n4001);
    strcpy (long_desc, "api_key=" KEY "&service_code=road&address_id=B1&description=");
    for (int i = 0; i < 4001; i++)
        strcat (long_desc, "%E6%A5%BC");
    s_bad_t cases[] = {
        {"service_code=road&address_id=B1&description=x", 403, "api_key is required"},
        {"api_key=wrong&service_code=road&address_id=B1&description=x", 403, "not valid"},
        {"api_key=" KEY "&service_code=bogus&address_id=B1&description=x", 400, "service_code"},
        {"api_key=" KEY "&address_id=B1&description=x", 400, "service_code"},
        {"api_key=" KEY "&service_code=road&description=x", 400, "location"},
        {"api_key=" KEY "&service_code=road&lat=39.9&long=116.4&description=x", 422,
         "outside the served area"},
        {"api_key=" KEY "&service_code=road&lat=26.565&description=x", 400, "together"},
        {"api_key=" KEY "&service_code=road&lat=abc&long=106.69&description=x", 400, "lat"},
        {"api_key=" KEY "&service_code=road&address_id=NOPE&description=x", 400, "address_id"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=", 400, "description"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=%20%20", 400, "description"},
        {long_desc, 400, "4000"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=%FF%FE", 400, "UTF-8"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=%ZZ", 400,
         "x-www-form-urlencoded"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=x&phone=abc", 400, "phone"},
        {"api_key=" KEY "&service_code=road&address_id=B1&description=x&media_url=ftp://x", 400,
         "media_url"},
        {"api_key=" KEY "&service_code=utilities&address_id=B1&description=x", 400, "utility_type"},
        {"api_key=" KEY
         "&service_code=utilities&address_id=B1&description=x&attribute[utility_type]=beer",
         400, "utility_type"},
        {big, 413, "64 KiB"},
    };
    long before = s_count ();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gz_testhttp_t r;
        long st = s_post ("/open311/v2/requests.json", cases[i].body, NULL, &r);
        if (st != cases[i].status || !strstr (r.body, cases[i].needle))
            fprintf (stderr, "case %zu: status %ld body %s\n", i, st, r.body);
        assert_int_equal (st, cases[i].status);
        assert_non_null (strstr (r.body, cases[i].needle));
        assert_non_null (strstr (r.body, "[{\"code\":"));
        gz_testhttp_free (&r);
    }
    //  XML errors use the spec's element names.
    gz_testhttp_t r;
    assert_int_equal (s_post ("/open311/v2/requests.xml", "service_code=road", NULL, &r), 403);
    assert_non_null (strstr (r.body, "<errors><error><code>403</code>"));
    gz_testhttp_free (&r);
    //  A valid 4,000-character description is accepted.
    long_desc[strlen (long_desc) - 9] = 0;
    assert_int_equal (s_post ("/open311/v2/requests.json", long_desc, NULL, &r), 201);
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before + 1);
    free (long_desc);
}

static void
test_get_filters (void **state)
{
    (void) state;
    gz_testhttp_t r;
    assert_int_equal (s_post ("/open311/v2/requests.json",
                              "api_key=" KEY "&service_code=parking&address_id=B2"
                              "&description=car&attribute[x]=",
                              NULL, &r),
                      400); //  unknown attribute
    gz_testhttp_free (&r);
    assert_int_equal (s_post ("/open311/v2/requests.json",
                              "api_key=" KEY "&service_code=parking&address_id=B2"
                              "&description=car",
                              NULL, &r),
                      201);
    char *id = s_request_id (r.body);
    gz_testhttp_free (&r);

    assert_int_equal (s_get ("/open311/v2/requests.json?service_code=parking", &r), 200);
    json_t *j = json_loads (r.body, 0, NULL);
    assert_int_equal (json_array_size (j), 1);
    json_decref (j);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?service_code=parking,noise", &r), 200);
    j = json_loads (r.body, 0, NULL);
    assert_true (json_array_size (j) >= 2);
    json_decref (j);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?status=closed", &r), 200);
    assert_string_equal (r.body, "[]");
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?start_date=2099-01-01T00:00:00Z", &r), 200);
    assert_string_equal (r.body, "[]");
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?start_date=2020-01-01T00:00:00%2B08:00"
                             "&end_date=2099-01-01T00:00:00Z&service_code=parking",
                             &r),
                      200);
    assert_non_null (strstr (r.body, id));
    gz_testhttp_free (&r);
    char path[128];
    snprintf (path, sizeof path, "/open311/v2/requests.json?service_request_id=%s,1", id);
    assert_int_equal (s_get (path, &r), 200);
    j = json_loads (r.body, 0, NULL);
    assert_int_equal (json_array_size (j), 1);
    json_decref (j);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?start_date=yesterday-ish", &r), 400);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?status=lost", &r), 400);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/requests.json?service_request_id=1;drop", &r), 400);
    gz_testhttp_free (&r);
    free (id);
}

//  A building added to the org directory (gzctl org import) is unknown
//  until RELOAD (SIGHUP), then its QR page and its code work.
static void
test_org_reload (void **state)
{
    (void) state;
    s_exec ("INSERT INTO org.buildings (code, grid_code, name, address, lat, lon) VALUES"
            " ('B9','G1','示例小区1 9栋','示例路9号',26.5655,106.6905)");
    gz_testhttp_t r;
    assert_int_equal (s_get ("/q/B9", &r), 404);
    gz_testhttp_free (&r);
    const char *body = "api_key=" KEY "&service_code=property&address_id=B9&description=reload";
    assert_int_equal (s_post ("/open311/v2/requests.json", body, NULL, &r), 400);
    gz_testhttp_free (&r);

    zstr_send (F.intake, "RELOAD");
    assert_int_equal (zsock_wait (F.intake), 0);
    assert_int_equal (s_get ("/q/B9", &r), 200);
    assert_non_null (strstr (r.body, "示例小区1 9栋"));
    gz_testhttp_free (&r);
    assert_int_equal (s_post ("/open311/v2/requests.json", body, NULL, &r), 201);
    gz_testhttp_free (&r);
    assert_int_equal (s_scalar ("SELECT count(*) FROM intake.requests WHERE building_code = 'B9'"),
                      1);
    //  Buildings already known still are.
    assert_int_equal (s_get ("/q/B1", &r), 200);
    gz_testhttp_free (&r);
}

typedef struct {
    char url[256];
    const char *want;
} s_page_t;

//  Does GET page->url answer 200 with page->want in it?
static bool
s_page_shows (void *arg)
{
    s_page_t *page = arg;
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp_get (page->url, &r), 0);
    bool found = r.status == 200 && strstr (r.body, page->want);
    gz_testhttp_free (&r);
    return found;
}

//  Wait (up to 5 s) until GET base+path answers 200 with want in it.
static void
s_wait_page (const char *base, const char *path, const char *want)
{
    s_page_t page = {.want = want};
    snprintf (page.url, sizeof page.url, "%s%s", base, path);
    char what[256];
    snprintf (what, sizeof what, "%s to show %s", path, want);
    gz_testfix_wait (s_page_shows, &page, 5000, what);
}

//  Without RELOAD or SIGHUP: a change to the directory in the database
//  (here by hand; gzctl org import makes its change the same way, in one
//  transaction) moves org.generation, and an intake checking it
//  (GZ_ORG_CHECK_MS) loads the directory again. One that does not check
//  keeps its copy.
static void
test_org_follows_database (void **state)
{
    (void) state;
    intake_config_t *cfg = s_config ();
    cfg->base.org_check_ms = 100;
    int http, bus, events;
    zactor_t *a = s_start (cfg, &http, &bus, &events);
    char base[64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", http);

    long gen = s_scalar ("SELECT value FROM org.generation");
    s_exec ("INSERT INTO org.buildings (code, grid_code, name, address, lat, lon) VALUES"
            " ('B7','G1','示例小区1 7栋','示例路7号',26.5680,106.6930)");
    assert_true (s_scalar ("SELECT value FROM org.generation") > gen);
    s_wait_page (base, "/q/B7", "示例小区1 7栋");
    s_exec ("UPDATE org.buildings SET name = '示例小区1 7栋东' WHERE code = 'B7'");
    s_wait_page (base, "/q/B7", "示例小区1 7栋东");
    //  Two reloads, one per change; none while nothing changes: two more
    //  checks of org.generation (the second starts after whatever the
    //  first decided is done) find nothing to reload.
    gz_testfix_wait_org_checks (F.db, "intake", 2, 5000);
    assert_true (gz_testfix_metric (base, "gz_org_reloads_total") == 2);
    //  F.intake does not check (GZ_ORG_CHECK_MS=0).
    gz_testhttp_t r;
    assert_int_equal (s_get ("/q/B7", &r), 404);
    gz_testhttp_free (&r);

    zactor_destroy (&a);
    intake_config_destroy (&cfg);
    s_exec ("DELETE FROM org.buildings WHERE code = 'B7'");
}

static void
test_qr_page_round_trip (void **state)
{
    (void) state;
    gz_testhttp_t r;
    assert_int_equal (s_get ("/q/B1", &r), 200);
    assert_non_null (strstr (r.content_type, "text/html"));
    assert_non_null (strstr (r.body, "示例小区1 1栋"));
    assert_non_null (strstr (r.body, "name=\"service_code\""));
    assert_null (strstr (r.body, "<script"));
    //  The form carries a nonce: the idempotency key of this filing.
    const char *n = strstr (r.body, "name=\"nonce\" value=\"");
    assert_non_null (n);
    char nonce[40] = "";
    sscanf (n + strlen ("name=\"nonce\" value=\""), "%36[0-9a-f-]", nonce);
    assert_int_equal (strlen (nonce), 36);
    gz_testhttp_free (&r);

    long before = s_count ();
    char body[512];
    snprintf (body, sizeof body,
              "nonce=%s&service_code=utilities&attr_utilities_utility_type=water"
              "&description=%%E5%%81%%9C%%E6%%B0%%B4%%E4%%BA%%86&phone=" PHONE,
              nonce);
    assert_int_equal (s_post ("/q/B1", body, NULL, &r), 201);
    assert_non_null (strstr (r.body, "诉求编号"));
    const char *link = strstr (r.body, "href=\"/r/");
    assert_non_null (link);
    char rpath[128] = "";
    sscanf (link + 6, "%127[^\"]", rpath);
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before + 1);
    //  A double tap files once.
    assert_int_equal (s_post ("/q/B1", body, NULL, &r), 201);
    assert_non_null (strstr (r.body, rpath));
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before + 1);

    //  The status page: timeline in Chinese, phone masked for the owner.
    assert_int_equal (s_get (rpath, &r), 200);
    assert_non_null (strstr (r.body, "已提交"));
    assert_non_null (strstr (r.body, "停水了"));
    assert_non_null (strstr (r.body, "138****8000"));
    assert_null (strstr (r.body, PHONE));
    gz_testhttp_free (&r);
    char *q = strchr (rpath, '?');
    *q = 0;
    assert_int_equal (s_get (rpath, &r), 200);
    assert_null (strstr (r.body, "138****8000"));
    gz_testhttp_free (&r);

    //  Errors re-show the form in Chinese and file nothing.
    assert_int_equal (s_post ("/q/B1", "nonce=x&service_code=road&description=", NULL, &r), 422);
    assert_non_null (strstr (r.body, "请填写问题描述"));
    gz_testhttp_free (&r);
    assert_int_equal (
        s_post ("/q/B1", "nonce=y&service_code=road&description=x&phone=12", NULL, &r), 422);
    assert_non_null (strstr (r.body, "联系电话格式不正确"));
    gz_testhttp_free (&r);
    assert_int_equal (s_post ("/q/B1", "description=%ZZ", NULL, &r), 400);
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before + 1);
    assert_int_equal (s_get ("/q/NOPE", &r), 404);
    assert_non_null (strstr (r.body, "未找到"));
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/r/123abc", &r), 404);
    gz_testhttp_free (&r);
}

//  Send one SubmitRequest over the bus and return the reply (caller frees).
static Gongzhi__V1__SubmitReply *
s_bus_submit (zsock_t *dealer, const char *credential, const char *idem,
              Gongzhi__V1__SubmitRequest *req)
{
    zframe_t *f = gz_codec_envelope_frame ("SubmitRequest", NULL, idem, credential, &req->base);
    assert_int_equal (zframe_send (&f, dealer, 0), 0);
    zsock_set_rcvtimeo (dealer, 10000);
    zframe_t *reply = zframe_recv (dealer);
    assert_non_null (reply);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (reply), zframe_size (reply));
    zframe_destroy (&reply);
    assert_non_null (env);
    assert_string_equal (env->type, "SubmitReply");
    Gongzhi__V1__SubmitReply *out =
        gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data);
    gz_codec_envelope_free (&env);
    assert_non_null (out);
    return out;
}

//  Send a SubmitRequest without waiting; its envelope id into id[37].
static void
s_bus_send (zsock_t *dealer, const char *credential, const char *idem,
            Gongzhi__V1__SubmitRequest *req, char id[37])
{
    zframe_t *f = gz_codec_envelope_frame ("SubmitRequest", NULL, idem, credential, &req->base);
    gz_envelope_t *sent = gz_codec_envelope_decode (zframe_data (f), zframe_size (f));
    snprintf (id, 37, "%s", sent->id);
    gz_codec_envelope_free (&sent);
    assert_int_equal (zframe_send (&f, dealer, 0), 0);
}

//  Several commands in flight on one DEALER: an error is answered at
//  once, a success after its commit, so replies can overtake each other.
//  Each reply names the command it answers (reply_to = its id) and echoes
//  its idempotency key.
static void
test_bus_replies_match_commands (void **state)
{
    (void) state;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", F.bus_port), 0);
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B1";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "road";
    req.description = "路灯坏了";
    req.location = &loc;
    char ok_id[37], bad_id[37];
    s_bus_send (dealer, KEY, "match-ok", &req, ok_id);
    s_bus_send (dealer, "wrong", "match-bad", &req, bad_id);
    zsock_set_rcvtimeo (dealer, 10000);
    int matched = 0;
    for (int i = 0; i < 2; i++) {
        zframe_t *reply = zframe_recv (dealer);
        assert_non_null (reply);
        gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (reply), zframe_size (reply));
        zframe_destroy (&reply);
        assert_non_null (env);
        Gongzhi__V1__SubmitReply *rep =
            gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data);
        assert_non_null (rep);
        if (strcmp (env->reply_to, ok_id) == 0) {
            assert_true (rep->ok);
            assert_string_equal (env->idempotency_key, "match-ok");
            matched |= 1;
        }
        else {
            assert_string_equal (env->reply_to, bad_id);
            assert_string_equal (env->idempotency_key, "match-bad");
            assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__UNAUTHORIZED);
            matched |= 2;
        }
        gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
        gz_codec_envelope_free (&env);
    }
    assert_int_equal (matched, 3);
    zsock_destroy (&dealer);
}

static void
test_bus_submit_and_events (void **state)
{
    (void) state;
    char ep[64];
    //  Listen to intake's events first; wait for a heartbeat so we are joined.
    zsock_t *sub = zsock_new (ZMQ_SUB);
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", F.events_port);
    assert_int_equal (zsock_connect (sub, "%s", ep), 0);
    zsock_set_subscribe (sub, "");
    zsock_set_rcvtimeo (sub, 5000);
    char *topic = NULL;
    zframe_t *frame = NULL;
    assert_int_equal (zsock_recv (sub, "sf", &topic, &frame), 0);
    assert_non_null (strstr (topic, "Heartbeat/intake"));
    free (topic);
    zframe_destroy (&frame);

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", F.bus_port);
    assert_int_equal (zsock_connect (dealer, "%s", ep), 0);

    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B2";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "dispute";
    req.description = "邻里纠纷";
    req.location = &loc;
    req.phone = PHONE;
    req.external_id = "district-42";
    long before = s_count ();
    Gongzhi__V1__SubmitReply *rep = s_bus_submit (dealer, KEY, "bus-1", &req);
    assert_true (rep->ok);
    assert_false (rep->duplicate);
    char *id = strdup (rep->service_request_id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    rep = s_bus_submit (dealer, KEY, "bus-1", &req);
    assert_true (rep->ok);
    assert_true (rep->duplicate);
    assert_string_equal (rep->service_request_id, id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (s_count (), before + 1);

    //  The event: RequestSubmitted with the ladder, and no phone number.
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        assert_int_equal (zsock_recv (sub, "sf", &topic, &frame), 0);
        gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (frame), zframe_size (frame));
        assert_non_null (env);
        if (strcmp (env->type, "RequestSubmitted") == 0 && strcmp (env->key, id) == 0) {
            seen = true;
            assert_string_equal (topic, "RequestSubmitted/S1/C1");
            assert_true (env->position > 0);
            assert_string_equal (env->stream, "intake");
            assert_null (memmem (zframe_data (frame), zframe_size (frame), PHONE, strlen (PHONE)));
            Gongzhi__V1__RequestSubmitted *ev =
                gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
            assert_non_null (ev);
            assert_string_equal (ev->grid_code, "G1");
            assert_string_equal (ev->community_code, "C1");
            assert_int_equal (ev->channel, GONGZHI__V1__CHANNEL__BUS);
            assert_true (ev->has_phone);
            assert_string_equal (ev->external_id, "district-42");
            assert_int_equal (strlen (ev->resident_token_sha256), 64);
            gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
        }
        gz_codec_envelope_free (&env);
        free (topic);
        zframe_destroy (&frame);
    }
    assert_true (seen);
    assert_int_equal (s_scalar ("SELECT count(*) FROM intake.outbox WHERE position("
                                "convert_to('" PHONE "', 'UTF8') IN payload) > 0"),
                      0);

    //  Typed errors.
    rep = s_bus_submit (dealer, "wrong", "bus-2", &req);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__UNAUTHORIZED);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.description = "";
    rep = s_bus_submit (dealer, KEY, "bus-3", &req);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_DESCRIPTION);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.description = "x";
    loc.building_code = "";
    loc.has_latlon = true;
    loc.lat = 39.9;
    loc.lon = 116.4;
    rep = s_bus_submit (dealer, KEY, "bus-4", &req);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__OUT_OF_AREA);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    //  A channel out of range, or one of intake's own front doors, is
    //  not a district's to claim.
    loc.building_code = "B1";
    loc.has_latlon = false;
    req.channel = (Gongzhi__V1__Channel) 99;
    rep = s_bus_submit (dealer, KEY, "bus-5", &req);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_FIELD);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.channel = GONGZHI__V1__CHANNEL__QR;
    rep = s_bus_submit (dealer, KEY, "bus-6", &req);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_FIELD);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.channel = GONGZHI__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    zstr_send (dealer, "not a protobuf envelope \xff\xff");
    zframe_t *raw = zframe_recv (dealer);
    assert_non_null (raw);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (raw), zframe_size (raw));
    zframe_destroy (&raw);
    rep = gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_MESSAGE);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    gz_codec_envelope_free (&env);
    assert_int_equal (s_count (), before + 1);
    free (id);
    zsock_destroy (&dealer);
    zsock_destroy (&sub);
}

static void
test_rate_limit (void **state)
{
    (void) state;
    intake_config_t *cfg = s_config ();
    cfg->rate = 1;
    cfg->burst = 2;
    int http, bus, events;
    zactor_t *a = s_start (cfg, &http, &bus, &events);
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", http);
    const char *body = "api_key=" KEY "&service_code=road&address_id=B1&description=x";
    long st[3];
    gz_testhttp_t r;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, NULL, &r), 0);
        st[i] = r.status;
        if (i == 2) {
            assert_non_null (r.retry_after);
            assert_true (atoi (r.retry_after) >= 1);
            assert_non_null (strstr (r.body, "429"));
        }
        gz_testhttp_free (&r);
    }
    assert_int_equal (st[0], 201);
    assert_int_equal (st[1], 201);
    assert_int_equal (st[2], 429);
    zactor_destroy (&a);
    intake_config_destroy (&cfg);
}

//  POST the QR form of B1 with an X-Forwarded-For header; the status.
static long
s_qr_post_from (int http, const char *forwarded_for, const char *nonce)
{
    char url[128], body[256], header[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/q/B1", http);
    snprintf (body, sizeof body, "service_code=road&description=x&nonce=%s", nonce);
    snprintf (header, sizeof header, "X-Forwarded-For: %s", forwarded_for);
    const char *headers[] = {header, NULL};
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, headers, &r), 0);
    long status = r.status;
    gz_testhttp_free (&r);
    return status;
}

//  Behind a reverse proxy (an ingress), every resident arrives from the
//  proxy's address: with GZ_TRUSTED_PROXIES naming it, the QR page's rate
//  limit counts each resident by X-Forwarded-For (the nearest address that
//  is not a trusted proxy); without it, the header is ignored, so a client
//  cannot escape its limit by sending one.
static void
test_trusted_proxies (void **state)
{
    (void) state;
    intake_config_t *cfg = s_config ();
    cfg->rate = 0.05; //  one every 20 s: no refill while the test runs
    cfg->burst = 1;
    int http, bus, events;
    free (cfg->base.trusted_proxies);
    cfg->base.trusted_proxies = strdup ("10.9.0.0/16, 127.0.0.1");
    zactor_t *a = s_start (cfg, &http, &bus, &events);
    //  Two residents behind the proxy: one each.
    assert_int_equal (s_qr_post_from (http, "203.0.113.7", "tp-1"), 201);
    assert_int_equal (s_qr_post_from (http, "203.0.113.8", "tp-2"), 201);
    assert_int_equal (s_qr_post_from (http, "203.0.113.7", "tp-3"), 429);
    //  Through a second trusted hop, and with a spoofed address on the left:
    //  the resident is the first untrusted address from the right.
    assert_int_equal (s_qr_post_from (http, "198.51.100.1, 203.0.113.9, 10.9.4.4", "tp-4"), 201);
    assert_int_equal (s_qr_post_from (http, "198.51.100.2, 203.0.113.9", "tp-5"), 429);
    //  A malformed entry ends the walk: the request counts as the proxy's,
    //  whatever stands further left.
    assert_int_equal (s_qr_post_from (http, "203.0.113.10, bogus", "tp-6"), 201);
    assert_int_equal (s_qr_post_from (http, "203.0.113.11, bogus", "tp-9"), 429);
    zactor_destroy (&a);

    //  Not trusted: the header means nothing, all of it is one client.
    free (cfg->base.trusted_proxies);
    cfg->base.trusted_proxies = strdup ("");
    a = s_start (cfg, &http, &bus, &events);
    assert_int_equal (s_qr_post_from (http, "203.0.113.20", "tp-7"), 201);
    assert_int_equal (s_qr_post_from (http, "203.0.113.21", "tp-8"), 429);
    zactor_destroy (&a);

    //  A malformed setting stops the start with a clear error.
    free (cfg->base.trusted_proxies);
    cfg->base.trusted_proxies = strdup ("10.0.0.0/33");
    zactor_t *bad = zactor_new (intake_server, cfg);
    assert_non_null (bad);
    zstr_send (bad, "PORT");
    char *port = zstr_recv (bad);
    assert_true (port == NULL || atoi (port) <= 0);
    free (port);
    zactor_destroy (&bad);
    intake_config_destroy (&cfg);
}

static void
test_ops_endpoints (void **state)
{
    (void) state;
    gz_testhttp_t r;
    assert_int_equal (s_get ("/healthz", &r), 200);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/readyz", &r), 200);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/metrics", &r), 200);
    assert_non_null (
        strstr (r.body, "gz_intake_submissions_total{channel=\"open311\",outcome=\"accepted\"}"));
    assert_non_null (strstr (r.body, "gz_http_request_duration_seconds_bucket"));
    assert_non_null (strstr (r.body, "gz_bus_published_total"));
    //  promtool accepts it.
    char path[] = "/tmp/gz-metrics-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, r.body, r.len), (ssize_t) r.len);
    close (fd);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "promtool check metrics < %s", path);
    assert_int_equal (system (cmd), 0);
    unlink (path);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/nope", &r), 404);
    assert_non_null (strstr (r.body, "\"error\""));
    gz_testhttp_free (&r);
}

//  Publish one routing update the way routing does: outbox in a
//  transaction, then the live send.
static void
s_routing_update (gz_db_t *db, gz_bus_pub_t *pub, const char *type, const char *id,
                  const char *kind, const char *state, const char *note)
{
    Gongzhi__V1__Assignee who = GONGZHI__V1__ASSIGNEE__INIT;
    who.unit_name = "示例社区1";
    who.staff_name = "示例网格员";
    Gongzhi__V1__RequestUpdate u = GONGZHI__V1__REQUEST_UPDATE__INIT;
    u.request_id = (char *) id;
    u.kind = (char *) kind;
    u.state = (char *) state;
    u.note = (char *) note;
    u.assignee = &who;
    u.at_us = gz_now_us ();
    u.resolve_due_us = gz_now_us () + 72LL * 3600 * 1000000;
    assert_int_equal (gz_db_begin (db), 0);
    gz_bus_pub_stage_msg (pub, type, id, type, &u.base);
    assert_int_equal (gz_bus_pub_write (pub), 0);
    assert_int_equal (gz_db_commit (db), 0);
    gz_bus_pub_committed (pub);
}

//  A stand-in for routing's HTTP API: records the last call, answers with
//  the status the test sets, counts the calls it has begun to answer.
typedef struct {
    char path[256];
    char body[1024];
    int answer;
    int delay_ms;       //  answer this late (a slow routing)
    atomic_int started; //  calls that reached the handler
} s_stub_t;

static void
s_stub_handler (gz_http_req_t *req, void *arg)
{
    s_stub_t *stub = arg;
    atomic_fetch_add (&stub->started, 1);
    if (stub->delay_ms)
        usleep ((useconds_t) stub->delay_ms * 1000);
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    snprintf (stub->path, sizeof stub->path, "%s", gz_http_path (req));
    snprintf (stub->body, sizeof stub->body, "%s", body ? body : "");
    gz_http_reply_json (req, stub->answer, json_pack ("{s:s}", "state", "rated"));
}

static void
test_follows_routing (void **state)
{
    (void) state;
    //  A stand-in for routing: its schema, outbox and PUB socket.
    gz_db_t *rdb = gz_db_new (gz_testdb_url (F.tdb), "routing-standin");
    assert_int_equal (gz_db_migrate (rdb, "routing", gz_bus_migrations ()), 0);
    gz_bus_pub_t *pub = gz_bus_pub_new (rdb, "routing", "routing", "tcp://127.0.0.1:*", NULL);
    assert_non_null (pub);
    intake_config_t *cfg = s_config ();
    s_stub_t stub = {"", "", 200, 0, 0};
    gz_http_t *routing_api = gz_http_new ("127.0.0.1", 0, 65536, s_stub_handler, &stub);
    assert_non_null (routing_api);
    free (cfg->routing_url);
    char rurl[64];
    snprintf (rurl, sizeof rurl, "http://127.0.0.1:%d", gz_http_port (routing_api));
    cfg->routing_url = strdup (rurl);
    free (cfg->routing_events);
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", gz_bus_pub_port (pub));
    cfg->routing_events = strdup (ep);
    int http, bus, events;
    zactor_t *a = s_start (cfg, &http, &bus, &events);
    char base[64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", http);

    gz_testhttp_t r;
    char url[256];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", base);
    const char *body = "api_key=" KEY "&service_code=property&address_id=B1&description=light";
    assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 201);
    char *id = s_request_id (r.body);
    gz_testhttp_free (&r);

    s_routing_update (rdb, pub, "RequestRouted", id, "routed", "assigned", "已分派给网格员");
    s_routing_update (rdb, pub, "DeadlineWarning", id, "deadline_warning", "accepted",
                      "INTERNAL-WARNING");
    s_routing_update (rdb, pub, "RequestResolved", id, "resolved", "resolved", "已更换灯泡");

    //  Intake's view follows: closed, with notes, agency and deadline.
    char path[128];
    snprintf (path, sizeof path, "/open311/v2/requests/%s.json", id);
    s_wait_page (base, path, "\"status\":\"closed\"");
    snprintf (url, sizeof url, "%s%s", base, path);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_non_null (strstr (r.body, "\"status\":\"closed\""));
    assert_non_null (strstr (r.body, "\"status_notes\":\"已更换灯泡\""));
    assert_non_null (strstr (r.body, "\"agency_responsible\":\"示例社区1\""));
    assert_null (strstr (r.body, "\"expected_datetime\":null"));
    gz_testhttp_free (&r);

    snprintf (url, sizeof url, "%s/open311/v2/servicerequestupdates.json", base);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_int_equal (r.status, 200);
    json_t *j = json_loads (r.body, 0, NULL);
    json_t *list = json_object_get (j, "service_request_updates");
    assert_int_equal (json_array_size (list), 2); //  the warning is not public
    json_t *last = json_array_get (list, 1);
    assert_string_equal (json_string_value (json_object_get (last, "service_request_id")), id);
    assert_string_equal (json_string_value (json_object_get (last, "status")), "fixed");
    assert_string_equal (json_string_value (json_object_get (last, "description")), "已更换灯泡");
    json_decref (j);
    gz_testhttp_free (&r);
    snprintf (url, sizeof url,
              "%s/open311/v2/servicerequestupdates.xml?start_date=2020-01-01T00:00:00Z", base);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_non_null (strstr (r.body, "<service_requests_updates><request_update><update_id>"));
    gz_testhttp_free (&r);
    snprintf (url, sizeof url, "%s/open311/v2/servicerequestupdates.json?end_date=nonsense", base);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_int_equal (r.status, 400);
    gz_testhttp_free (&r);

    snprintf (url, sizeof url, "%s/r/%s", base, id);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_non_null (strstr (r.body, "已办结"));
    assert_non_null (strstr (r.body, "已更换灯泡"));
    assert_null (strstr (r.body, "INTERNAL-WARNING"));
    assert_null (strstr (r.body, "提交评价")); //  no form without the secret
    gz_testhttp_free (&r);

    //  The resident (with the secret) rates from the page; intake passes it on.
    char sql0[160];
    snprintf (sql0, sizeof sql0, "SELECT secret FROM intake.requests WHERE id = %s", id);
    PGresult *sr = PQexec (gz_db_conn (F.db), sql0);
    char *secret = strdup (PQgetvalue (sr, 0, 0));
    PQclear (sr);
    snprintf (url, sizeof url, "%s/r/%s?t=%s", base, id, secret);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_non_null (strstr (r.body, "提交评价"));
    assert_non_null (strstr (r.body, "申请重新办理"));
    gz_testhttp_free (&r);
    snprintf (url, sizeof url, "%s/r/%s/rate?t=%s", base, id, secret);
    const char *rate = "score=4&satisfied=yes&comment=%E5%BE%88%E5%BF%AB";
    assert_int_equal (gz_testhttp ("POST", url, rate, strlen (rate), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "感谢您的评价"));
    gz_testhttp_free (&r);
    char want[128];
    snprintf (want, sizeof want, "/api/v1/requests/%s/rate", id);
    assert_string_equal (stub.path, want);
    json_t *sent = json_loads (stub.body, 0, NULL);
    assert_string_equal (json_string_value (json_object_get (sent, "token")), secret);
    assert_int_equal (json_integer_value (json_object_get (sent, "score")), 4);
    assert_true (json_is_true (json_object_get (sent, "satisfied")));
    assert_string_equal (json_string_value (json_object_get (sent, "comment")), "很快");
    json_decref (sent);
    //  Routing refuses (already rated): the resident is told why.
    stub.answer = 409;
    assert_int_equal (gz_testhttp ("POST", url, rate, strlen (rate), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 409);
    assert_non_null (strstr (r.body, "不能评价"));
    gz_testhttp_free (&r);
    //  A wrong secret or a bad score never reaches routing.
    stub.path[0] = 0;
    snprintf (url, sizeof url, "%s/r/%s/rate?t=wrong", base, id);
    assert_int_equal (gz_testhttp ("POST", url, rate, strlen (rate), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 403);
    gz_testhttp_free (&r);
    snprintf (url, sizeof url, "%s/r/%s/rate?t=%s", base, id, secret);
    assert_int_equal (gz_testhttp ("POST", url, "score=9&satisfied=yes", 21, NULL, NULL, &r), 0);
    assert_int_equal (r.status, 422);
    gz_testhttp_free (&r);
    assert_string_equal (stub.path, "");
    snprintf (url, sizeof url, "%s/r/%s/reopen?t=%s", base, id, secret);
    stub.answer = 200;
    assert_int_equal (
        gz_testhttp ("POST", url, "reason=%E6%B2%A1%E4%BF%AE%E5%A5%BD", 34, NULL, NULL, &r), 0);
    assert_int_equal (r.status, 200);
    gz_testhttp_free (&r);
    snprintf (want, sizeof want, "/api/v1/requests/%s/reopen", id);
    assert_string_equal (stub.path, want);
    free (secret);
    //  Applied once, even with two intakes following the same stream.
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM intake.timeline WHERE request_id = %s", id);
    assert_int_equal (s_scalar (sql), 2); //  routed, resolved (submitted: requests row)

    free (id);
    zactor_destroy (&a);
    gz_http_destroy (&routing_api);
    intake_config_destroy (&cfg);
    gz_bus_pub_destroy (&pub);
    gz_db_destroy (&rdb);
}

//  POST the reopen form url on a thread of its own.
static void
s_reopen_start (gz_testfix_call_t *call, const char *url)
{
    *call = (gz_testfix_call_t){.method = "POST", .body = "reason=x"};
    snprintf (call->url, sizeof call->url, "%s", url);
    gz_testfix_call_start (call);
}

typedef struct {
    s_stub_t *stub;
    int calls;
} s_stub_calls_t;

static bool
s_stub_reached (void *arg)
{
    s_stub_calls_t *c = arg;
    return atomic_load (&c->stub->started) >= c->calls;
}

//  Wait until routing's stand-in has begun to answer calls calls.
static void
s_wait_stub_calls (s_stub_t *stub, int calls)
{
    s_stub_calls_t c = {stub, calls};
    gz_testfix_wait (s_stub_reached, &c, 5000, "calls to the stand-in for routing");
}

//  An intake whose routing answers delay_ms late, with its own HTTP
//  threads, workers and worker queue, and one request filed on it.
typedef struct {
    s_stub_t stub;
    gz_http_t *routing_api;
    intake_config_t *cfg;
    zactor_t *actor;
    char base[64];
    char *id;
    char reopen[256]; //  the request's reopen form URL, with its secret
} s_slow_t;

static void
s_slow_start (s_slow_t *f, int delay_ms, const char *threads, const char *workers,
              const char *queue)
{
    memset (f, 0, sizeof *f);
    f->stub = (s_stub_t){"", "", 200, delay_ms, 0};
    f->routing_api = gz_http_new ("127.0.0.1", 0, 65536, s_stub_handler, &f->stub);
    assert_non_null (f->routing_api);
    f->cfg = s_config ();
    free (f->cfg->routing_url);
    char rurl[64];
    snprintf (rurl, sizeof rurl, "http://127.0.0.1:%d", gz_http_port (f->routing_api));
    f->cfg->routing_url = strdup (rurl);
    f->cfg->base.http_threads = atoi (threads);
    f->cfg->base.workers = atoi (workers);
    f->cfg->base.worker_queue = atol (queue);
    int http, bus, events;
    f->actor = s_start (f->cfg, &http, &bus, &events);
    snprintf (f->base, sizeof f->base, "http://127.0.0.1:%d", http);
    char url[256];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", f->base);
    const char *body = "api_key=" KEY "&service_code=property&address_id=B1&description=slow";
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 201);
    f->id = s_request_id (r.body);
    gz_testhttp_free (&r);
    char sql[128];
    snprintf (sql, sizeof sql, "SELECT secret FROM intake.requests WHERE id = %s", f->id);
    PGresult *q = PQexec (gz_db_conn (F.db), sql);
    assert_int_equal (PQntuples (q), 1);
    snprintf (f->reopen, sizeof f->reopen, "%s/r/%s/reopen?t=%s", f->base, f->id,
              PQgetvalue (q, 0, 0));
    PQclear (q);
}

static void
s_slow_stop (s_slow_t *f)
{
    free (f->id);
    zactor_destroy (&f->actor);
    gz_http_destroy (&f->routing_api);
    intake_config_destroy (&f->cfg);
}

//  Routing answers slowly: residents' forms that wait on it run on the
//  workers, not on the HTTP threads, so a submission still goes through
//  at once, and the forms are all answered once routing is.
static void
test_slow_routing_leaves_room (void **state)
{
    (void) state;
    s_slow_t f;
    s_slow_start (&f, 2000, "2", "2", "1000");
    char url[256];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", f.base);
    const char *body = "api_key=" KEY "&service_code=property&address_id=B1&description=slow";
    gz_testhttp_t r;

    enum { N = 4 };
    gz_testfix_call_t posts[N];
    for (int i = 0; i < N; i++)
        s_reopen_start (&posts[i], f.reopen);
    //  Two wait on routing (both workers busy), two for a worker.
    s_wait_stub_calls (&f.stub, 2);
    assert_int_equal (atomic_load (&f.stub.started), 2);
    double t0 = zclock_mono ();
    assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, NULL, &r), 0);
    double took = zclock_mono () - t0;
    assert_int_equal (r.status, 201);
    gz_testhttp_free (&r);
    assert_true (took < 1000);
    //  A status page (a read) too: it waits for a worker, not longer.
    char surl[256];
    snprintf (surl, sizeof surl, "%s/r/%s", f.base, f.id);
    assert_int_equal (gz_testhttp_get (surl, &r), 0);
    assert_int_equal (r.status, 200);
    gz_testhttp_free (&r);
    for (int i = 0; i < N; i++) {
        gz_testfix_call_join (&posts[i]);
        assert_int_equal (posts[i].rc, 0);
        assert_int_equal (posts[i].response.status, 200);
        gz_testfix_call_free (&posts[i]);
    }
    assert_true (zclock_mono () - t0 >= 3000); //  two rounds of 2 s on two workers
    assert_int_equal (atomic_load (&f.stub.started), N);
    s_slow_stop (&f);
}

static bool
s_either_done (void *arg)
{
    gz_testfix_call_t **pair = arg;
    return atomic_load (&pair[0]->done) || atomic_load (&pair[1]->done);
}

//  Every worker busy and the queue full: the next request that would wait
//  is answered 503 at once (in the page's language or Open311's format,
//  with Retry-After) instead of holding its connection; the ones already
//  taken are still answered.
static void
test_workers_full_answers_503 (void **state)
{
    (void) state;
    s_slow_t f;
    s_slow_start (&f, 1500, "8", "1", "1");
    char url[256];
    gz_testhttp_t r;

    //  One runs (1.5 s at routing) ...
    gz_testfix_call_t running, queued, status;
    s_reopen_start (&running, f.reopen);
    s_wait_stub_calls (&f.stub, 1);
    //  ... one waits in the queue, and the third finds no room: 503 at
    //  once. Which of the next two comes first is theirs to race (no
    //  event tells the test when one is queued), so both go together and
    //  exactly one of them must be the one refused, at once: both are
    //  resident pages, answered alike.
    s_reopen_start (&queued, f.reopen);
    status = (gz_testfix_call_t){.method = "GET"};
    snprintf (status.url, sizeof status.url, "%s/r/%s", f.base, f.id);
    gz_testfix_call_start (&status);
    gz_testfix_call_t *pair[] = {&queued, &status};
    gz_testfix_wait (s_either_done, pair, 5000, "an answer to one of the two");
    gz_testfix_call_t *refused = atomic_load (&status.done) ? &status : &queued;
    gz_testfix_call_t *taken = refused == &status ? &queued : &status;
    assert_int_equal (refused->rc, 0);
    assert_int_equal (refused->response.status, 503);
    assert_true (refused->took_ms < 1000);
    assert_string_equal (refused->response.retry_after ? refused->response.retry_after : "", "1");
    assert_non_null (strstr (refused->response.body, "系统繁忙"));
    //  An Open311 read answers in Open311's error format.
    snprintf (url, sizeof url, "%s/open311/v2/requests/%s.json", f.base, f.id);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_int_equal (r.status, 503);
    assert_non_null (strstr (r.body, "\"code\":503"));
    gz_testhttp_free (&r);
    //  The ones taken are answered.
    gz_testfix_call_t *answered[] = {&running, taken};
    for (int i = 0; i < 2; i++) {
        gz_testfix_call_join (answered[i]);
        assert_int_equal (answered[i]->rc, 0);
        assert_int_equal (answered[i]->response.status, 200);
    }
    gz_testfix_call_join (refused);
    gz_testfix_call_free (&running);
    gz_testfix_call_free (&queued);
    gz_testfix_call_free (&status);
    s_slow_stop (&f);
}

//  xmllint over an XML answer: 0 when it is well-formed.
static int
s_xmllint (const char *xml)
{
    if (system ("command -v xmllint >/dev/null 2>&1") != 0) {
        //  scripts/test installs it (libxml2-utils) and says it must be there.
        const char *require = getenv ("GZ_REQUIRE_XMLLINT");
        if (require && strcmp (require, "1") == 0)
            fail_msg ("GZ_REQUIRE_XMLLINT=1 but xmllint is missing");
        return 0;
    }
    FILE *f = popen ("xmllint --noout - 2>/dev/null", "w");
    assert_non_null (f);
    fputs (xml, f);
    return pclose (f);
}

//  U+FFFF (and the other characters XML 1.0 forbids) is refused on the
//  way in, with a clear error and nothing stored; one already stored
//  (before the rule) still leaves both XML feeds well-formed.
static void
test_xml_forbidden_characters (void **state)
{
    (void) state;
    gz_testhttp_t r;
    long before = s_count ();
    //  Open311: U+FFFF (EF BF BF) in the description.
    assert_int_equal (s_post ("/open311/v2/requests.json",
                              "api_key=" KEY "&service_code=road&address_id=B1"
                              "&description=%E7%81%AF%EF%BF%BF",
                              NULL, &r),
                      400);
    assert_non_null (strstr (r.body, "XML"));
    gz_testhttp_free (&r);
    //  A 5,000-character name is too long, and says so (it was cut mid-character
    //  and refused as "not valid UTF-8").
    static char body[48 * 1024];
    int off =
        snprintf (body, sizeof body,
                  "api_key=" KEY "&service_code=road&address_id=B1&description=x&first_name=");
    for (int i = 0; i < 5000 && off < (int) sizeof body - 10; i++)
        off += snprintf (body + off, sizeof body - (size_t) off, "%%E5%%BC%%A0"); //  张
    assert_int_equal (s_post ("/open311/v2/requests.json", body, NULL, &r), 400);
    assert_non_null (strstr (r.body, "name is longer than"));
    gz_testhttp_free (&r);
    //  A hex float is not a coordinate (strtod would take it).
    assert_int_equal (s_post ("/open311/v2/requests.json",
                              "api_key=" KEY "&service_code=road&lat=0x1A.9p0&long=106.6901"
                              "&description=x",
                              NULL, &r),
                      400);
    gz_testhttp_free (&r);
    assert_int_equal (s_count (), before);
    //  Stored anyway (as before the rule): the feeds still parse.
    gz_testfix_exec (F.db, "INSERT INTO intake.requests (channel, service_code, description,"
                           " building_code, secret, client_id) VALUES ('OPEN311', 'road',"
                           " E'\\uFFFF\\uFFFE灯', 'B1', 'xml-secret-1', 'apikey:district')");
    assert_int_equal (s_get ("/open311/v2/requests.xml", &r), 200);
    assert_non_null (strstr (r.body, "\xef\xbf\xbd"));
    assert_int_equal (s_xmllint (r.body), 0);
    gz_testhttp_free (&r);
    assert_int_equal (s_get ("/open311/v2/servicerequestupdates.xml", &r), 200);
    assert_int_equal (s_xmllint (r.body), 0);
    gz_testhttp_free (&r);
}

//  Frames over GZ_BUS_MAX_MSG_BYTES (1 MiB): a peer that announces a
//  huge frame is disconnected at once instead of holding that much memory,
//  and a 2 MiB frame gets no answer; intake goes on serving others.
static void
test_bus_frame_limit (void **state)
{
    (void) state;
    long rss0 = gz_testfix_rss_kib ();
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = gz_testfix_zmtp_frame (F.bus_port, 512u << 20, 64 * 1024, 0);
    for (int i = 0; i < 3; i++) {
        assert_true (gz_testfix_closed_by_server (fds[i], 3000));
        close (fds[i]);
    }
    long grown = gz_testfix_rss_kib () - rss0;
    printf ("rss grew by %ld KiB while 3 peers announced 512 MiB frames\n", grown);
    assert_true (grown < 64 * 1024);
    //  A whole 2 MiB frame: dropped with its peer, no answer.
    zsock_t *big = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (big, "tcp://127.0.0.1:%d", F.bus_port), 0);
    zframe_t *f = zframe_new (NULL, 2 * 1024 * 1024);
    memset (zframe_data (f), 'x', zframe_size (f));
    assert_int_equal (zframe_send (&f, big, 0), 0);
    zsock_set_rcvtimeo (big, 1000);
    zframe_t *none = zframe_recv (big);
    assert_null (none);
    zsock_destroy (&big);
    //  Others are still served.
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", F.bus_port), 0);
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B1";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "road";
    req.description = "路灯坏了";
    req.location = &loc;
    Gongzhi__V1__SubmitReply *rep = s_bus_submit (dealer, KEY, "after-big", &req);
    assert_true (rep->ok);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    zsock_destroy (&dealer);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_discovery_and_services),
        cmocka_unit_test (test_post_and_get_request),
        cmocka_unit_test (test_idempotency),
        cmocka_unit_test (test_bad_input_changes_nothing),
        cmocka_unit_test (test_get_filters),
        cmocka_unit_test (test_qr_page_round_trip),
        cmocka_unit_test (test_org_reload),
        cmocka_unit_test (test_org_follows_database),
        cmocka_unit_test (test_bus_submit_and_events),
        cmocka_unit_test (test_bus_replies_match_commands),
        cmocka_unit_test (test_xml_forbidden_characters),
        cmocka_unit_test (test_bus_frame_limit),
        cmocka_unit_test (test_rate_limit),
        cmocka_unit_test (test_trusted_proxies),
        cmocka_unit_test (test_ops_endpoints),
        cmocka_unit_test (test_follows_routing),
        cmocka_unit_test (test_slow_routing_leaves_room),
        cmocka_unit_test (test_workers_full_answers_503),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
