/*  Integration tests for residents' photos as intake serves them (GET
    /media/{sha256}[/thumb]) against a real intake and PostgreSQL: a
    photo re-encoded by intake_photo (from a JPEG carrying GPS EXIF) and
    stored in intake.photos comes back byte for byte, as image/jpeg with
    private immutable caching and nosniff, to the holder of the request's
    status-link secret only; to anyone once the resident made it public;
    never with a wrong or another request's secret.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <vips/vips.h>

#include "gz_db.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "gz_testhttp.h"
#include "intake_photo.h"
#include "intake_server.h"

#define KEY "test-key-123"
#define PUBLIC_URL "https://gongzhi.example.cn"

static struct {
    gz_testdb_t *tdb;
    gz_db_t *db;
    intake_config_t *cfg;
    zactor_t *intake;
    char base[64];
} F;

typedef struct {
    long status;
    char *body, *headers;
    size_t len, hlen;
} s_resp_t;

static size_t
s_append (char **buf, size_t *len, const char *p, size_t n)
{
    *buf = realloc (*buf, *len + n + 1);
    memcpy (*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
    return n;
}

static size_t
s_on_body (char *p, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    return s_append (&r->body, &r->len, p, size * n);
}

static size_t
s_on_header (char *p, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    return s_append (&r->headers, &r->hlen, p, size * n);
}

static void
s_request (const char *method, const char *path, s_resp_t *r)
{
    memset (r, 0, sizeof *r);
    char url[512];
    snprintf (url, sizeof url, "%s%s", F.base, path);
    CURL *c = curl_easy_init ();
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal (curl_easy_perform (c), CURLE_OK);
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup (c);
}

static void
s_resp_free (s_resp_t *r)
{
    free (r->body);
    free (r->headers);
    memset (r, 0, sizeof *r);
}

static bool
s_has_header (const s_resp_t *r, const char *line)
{
    return r->headers && strcasestr (r->headers, line) != NULL;
}

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_ORG_CHECK_MS", "0", 1);
    F.tdb = gz_testdb_new ("intake");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    gz_testfix_seed_area (F.db);
    F.cfg = gz_testfix_intake_config (gz_testdb_url (F.tdb), "district=" KEY);
    F.cfg->rate = 0;
    free (F.cfg->public_url);
    F.cfg->public_url = strdup (PUBLIC_URL "/"); //  a trailing slash is not doubled
    F.intake = zactor_new (intake_server, F.cfg);
    assert_non_null (F.intake);
    int port = gz_testfix_port (F.intake, "PORT");
    assert_true (port > 0);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%d", port);
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

//  File a request over Open311; its id (caller frees).
static char *
s_file (void)
{
    char url[256];
    snprintf (url, sizeof url, "%s/open311/v2/requests.json", F.base);
    const char *body = "api_key=" KEY "&service_code=property&lat=26.5651&long=106.6901"
                       "&description=%E4%BA%95%E7%9B%96%E5%9D%8F%E4%BA%86";
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp ("POST", url, body, strlen (body), NULL, NULL, &r), 0);
    assert_int_equal (r.status, 201);
    char *id = gz_testfix_request_id (r.body);
    assert_non_null (id);
    gz_testhttp_free (&r);
    return id;
}

//  A photo as intake_photo makes it from a phone JPEG (150 x 100).
static void
s_photo_sized (intake_photo_t *p, int width)
{
    VipsImage *im = NULL;
    assert_int_equal (vips_black (&im, width, 100, "bands", 3, NULL), 0);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal (vips_jpegsave_buffer (im, &buf, &len, NULL), 0);
    g_object_unref (im);
    intake_photo_limits_t l = {INTAKE_PHOTO_MAX_BYTES_DEFAULT, INTAKE_PHOTO_MAX_PIXELS_DEFAULT};
    assert_int_equal (intake_photo_process (buf, len, &l, p), INTAKE_PHOTO_OK);
    g_free (buf);
}

static void
s_photo (intake_photo_t *p)
{
    s_photo_sized (p, 150);
}

static void
s_store (const intake_photo_t *p, const char *id)
{
    char w[16], h[16];
    snprintf (w, sizeof w, "%d", p->width);
    snprintf (h, sizeof h, "%d", p->height);
    const char *v[5] = {p->sha256, (const char *) p->jpeg, (const char *) p->thumb, w, h};
    int lengths[5] = {0, (int) p->jpeg_len, (int) p->thumb_len, 0, 0};
    int formats[5] = {0, 1, 1, 0, 0};
    PGresult *r = PQexecParams (gz_db_conn (F.db),
                                "INSERT INTO intake.photos (sha256, bytes, thumb, width, height)"
                                " VALUES ($1, $2, $3, $4::int, $5::int)",
                                5, NULL, v, lengths, formats, 0);
    assert_int_equal (PQresultStatus (r), PGRES_COMMAND_OK);
    PQclear (r);
    const char *v2[2] = {id, p->sha256};
    r = PQexecParams (gz_db_conn (F.db),
                      "INSERT INTO intake.request_photos (request_id, sha256, idx)"
                      " VALUES ($1::bigint, $2, 0)",
                      2, NULL, v2, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (r), PGRES_COMMAND_OK);
    PQclear (r);
}

static void
test_media_served_to_who_may_see (void **state)
{
    (void) state;
    char *id = s_file (), *other = s_file ();
    char *secret = gz_testfix_textf (F.db, "SELECT secret FROM intake.requests WHERE id = %s", id);
    char *other_secret =
        gz_testfix_textf (F.db, "SELECT secret FROM intake.requests WHERE id = %s", other);
    intake_photo_t p;
    s_photo (&p);
    s_store (&p, id);

    char path[512];
    s_resp_t r;
    snprintf (path, sizeof path, "/media/%s?t=%s", p.sha256, secret);
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 200);
    assert_int_equal (r.len, p.jpeg_len);
    assert_memory_equal (r.body, p.jpeg, p.jpeg_len);
    assert_true (s_has_header (&r, "content-type: image/jpeg"));
    assert_true (s_has_header (&r, "cache-control: private, max-age=31536000, immutable"));
    assert_true (s_has_header (&r, "x-content-type-options: nosniff"));
    s_resp_free (&r);
    snprintf (path, sizeof path, "/media/%s/thumb?t=%s", p.sha256, secret);
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 200);
    assert_int_equal (r.len, p.thumb_len);
    assert_memory_equal (r.body, p.thumb, p.thumb_len);
    s_resp_free (&r);

    //  No secret, a wrong one, another request's: the same 404.
    const char *denied[] = {"", "?t=", "?t=wrong", NULL};
    for (int i = 0; denied[i]; i++) {
        snprintf (path, sizeof path, "/media/%s%s", p.sha256, denied[i]);
        s_request ("GET", path, &r);
        assert_int_equal (r.status, 404);
        s_resp_free (&r);
    }
    snprintf (path, sizeof path, "/media/%s?t=%s", p.sha256, other_secret);
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 404);
    s_resp_free (&r);
    //  Not a photo's name; a method that is not GET.
    s_request ("GET", "/media/../etc/passwd", &r);
    assert_int_equal (r.status, 404);
    s_resp_free (&r);
    snprintf (path, sizeof path, "/media/%s/other?t=%s", p.sha256, secret);
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 404);
    s_resp_free (&r);
    snprintf (path, sizeof path, "/media/%s?t=%s", p.sha256, secret);
    s_request ("DELETE", path, &r);
    assert_int_equal (r.status, 405);
    s_resp_free (&r);

    //  The resident allowed it public: anyone sees it.
    gz_testfix_exec (F.db, "UPDATE intake.request_photos SET public = true");
    snprintf (path, sizeof path, "/media/%s", p.sha256);
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 200);
    assert_int_equal (r.len, p.jpeg_len);
    s_resp_free (&r);

    intake_photo_clear (&p);
    free (secret);
    free (other_secret);
    free (id);
    free (other);
}

//  GET path; the body (caller frees), status 200 asserted.
static char *
s_get_body (const char *path)
{
    s_resp_t r;
    s_request ("GET", path, &r);
    assert_int_equal (r.status, 200);
    char *body = r.body;
    free (r.headers);
    return body;
}

static void
s_update (long long update_id, const char *id, const char *media_url)
{
    char *sql = NULL;
    assert_true (asprintf (&sql,
                           "INSERT INTO intake.request_updates (update_id, request_id, kind,"
                           " status, note, media_url, at) VALUES (%lld, %s, 'note', 'in_progress',"
                           " '处置中', '%s', now())",
                           update_id, id, media_url) > 0);
    gz_testfix_exec (F.db, sql);
    free (sql);
}

//  Open311's media_url: the first public photo's absolute URL, else what
//  the client sent, else null; a private photo never; the updates feed
//  likewise for updates that name a photo.
static void
test_open311_media_url (void **state)
{
    (void) state;
    char *id = s_file ();
    char *secret = gz_testfix_textf (F.db, "SELECT secret FROM intake.requests WHERE id = %s", id);
    intake_photo_t p;
    s_photo_sized (&p, 170);
    s_store (&p, id);
    char path[512], url[256], tagged[300], feedurl[600];
    snprintf (url, sizeof url, PUBLIC_URL "/media/%s", p.sha256);
    snprintf (tagged, sizeof tagged, "<media_url>%s</media_url>", url);
    //  A worker's note naming the photo with the resident's link, a thumb
    //  URL, and a photo elsewhere.
    snprintf (feedurl, sizeof feedurl, "http://127.0.0.1:1/media/%s?t=%s", p.sha256, secret);
    s_update (900000001, id, feedurl);
    snprintf (feedurl, sizeof feedurl, "/media/%s/thumb", p.sha256);
    s_update (900000002, id, feedurl);
    s_update (900000003, id, "https://cdn.example.org/after.jpg");

    //  Private: not in any answer, in any form.
    snprintf (path, sizeof path, "/open311/v2/requests/%s.json", id);
    char *body = s_get_body (path);
    assert_non_null (strstr (body, "\"media_url\":null"));
    assert_null (strstr (body, p.sha256));
    free (body);
    snprintf (path, sizeof path, "/open311/v2/requests/%s.xml", id);
    body = s_get_body (path);
    assert_null (strstr (body, p.sha256));
    free (body);
    body = s_get_body ("/open311/v2/requests.json");
    assert_null (strstr (body, p.sha256));
    free (body);
    body = s_get_body ("/open311/v2/servicerequestupdates.json");
    assert_null (strstr (body, p.sha256));
    assert_null (strstr (body, secret));
    assert_non_null (strstr (body, "\"media_url\":\"https://cdn.example.org/after.jpg\""));
    free (body);

    //  Public: its absolute URL, in JSON and XML, single and list; the
    //  feed carries it without the secret.
    char sql[256];
    snprintf (sql, sizeof sql,
              "UPDATE intake.request_photos SET public = true WHERE request_id = %s", id);
    gz_testfix_exec (F.db, sql);
    char quoted[300];
    snprintf (quoted, sizeof quoted, "\"media_url\":\"%s\"", url);
    snprintf (path, sizeof path, "/open311/v2/requests/%s.json", id);
    body = s_get_body (path);
    assert_non_null (strstr (body, quoted));
    free (body);
    snprintf (path, sizeof path, "/open311/v2/requests/%s.xml", id);
    body = s_get_body (path);
    assert_non_null (strstr (body, tagged));
    free (body);
    snprintf (path, sizeof path, "/open311/v2/requests.json?service_request_id=%s", id);
    body = s_get_body (path);
    assert_non_null (strstr (body, quoted));
    free (body);
    body = s_get_body ("/open311/v2/servicerequestupdates.json");
    assert_null (strstr (body, secret));
    char *first = strstr (body, quoted);
    assert_non_null (first);
    assert_non_null (strstr (first + 1, quoted)); //  the thumb's update too
    free (body);
    body = s_get_body ("/open311/v2/servicerequestupdates.xml");
    assert_non_null (strstr (body, tagged));
    free (body);

    intake_photo_clear (&p);
    free (secret);
    free (id);
}

int
main (void)
{
    assert_int_equal (intake_photo_init (), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_media_served_to_who_may_see),
        cmocka_unit_test (test_open311_media_url),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
