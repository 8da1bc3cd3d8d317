/*  Integration tests for idempotency keys reused with different content.
    A key names one request (per client: per API key, the QR page's form
    nonce): the same submission again is a duplicate (the same id), a
    different one is refused with nothing stored - Open311 422 in JSON and
    XML, the bus IDEMPOTENCY_MISMATCH, the QR page a message in Chinese -
    and a key's request filed before fingerprints existed keeps today's
    answer. A reporter_id (issue 10) is part of the request: stored, in
    the event, and a bad one refused. The real actor, PostgreSQL, HTTP and ZeroMQ; the batch case
    (two such submissions in one transaction) is in test_intake_batch.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gz_codec.h"
#include "gz_db.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "gz_testhttp.h"
#include "intake_server.h"

#include "gongzhi/v1/intake.pb-c.h"

#define KEY "test-key-idem"
#define KEY2 "test-key-other"
#define O311 "/open311/v2/requests"

typedef struct {
    gz_testdb_t *tdb;
    gz_db_t *db;
    intake_config_t *cfg;
    zactor_t *intake;
    int bus_port;
    char base[64];
} fixture_t;

static fixture_t F;

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_BUS_HEARTBEAT_MS", "100", 1);
    setenv ("GZ_ORG_CHECK_MS", "0", 1);
    F.tdb = gz_testdb_new ("intake_idem");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    gz_testfix_seed_area (F.db);
    F.cfg = gz_testfix_intake_config (gz_testdb_url (F.tdb), "district=" KEY ",other=" KEY2);
    F.cfg->rate = 0;
    F.intake = zactor_new (intake_server, F.cfg);
    assert_non_null (F.intake);
    snprintf (F.base, sizeof F.base, "http://127.0.0.1:%d", gz_testfix_port (F.intake, "PORT"));
    F.bus_port = gz_testfix_port (F.intake, "BUSPORT");
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

static long long
s_scalarf (const char *fmt, const char *arg)
{
    return gz_testfix_scalarf (F.db, fmt, arg);
}

//  POST body to path with an Idempotency-Key (NULL: none); the status.
static long
s_post (const char *path, const char *body, const char *idem, gz_testhttp_t *out)
{
    char url[256], h[256];
    snprintf (url, sizeof url, "%s%s", F.base, path);
    snprintf (h, sizeof h, "Idempotency-Key: %s", idem ? idem : "");
    const char *headers[] = {h, NULL};
    assert_int_equal (
        gz_testhttp ("POST", url, body, strlen (body), NULL, idem ? headers : NULL, out), 0);
    return out->status;
}

//  POST and expect status; the request id of a JSON answer (caller
//  frees), or NULL for another answer.
static char *
s_post_expect (const char *path, const char *body, const char *idem, long status)
{
    gz_testhttp_t r;
    long got = s_post (path, body, idem, &r);
    if (got != status)
        fail_msg ("POST %s with key %s: %ld, expected %ld: %s", path, idem ? idem : "(none)", got,
                  status, r.body);
    char *id = strstr (path, ".json") ? gz_testfix_request_id (r.body) : NULL;
    gz_testhttp_free (&r);
    return id;
}

#define BODY(desc) "api_key=" KEY "&service_code=noise&address_id=B2&description=" desc

static void
test_open311_same_key_same_body_is_a_duplicate (void **state)
{
    (void) state;
    char *a = s_post_expect (O311 ".json", BODY ("loud") "&phone=13800001234", "o-same", 201);
    char *b = s_post_expect (O311 ".json", BODY ("loud") "&phone=13800001234", "o-same", 200);
    assert_string_equal (a, b);
    //  The XML format is the same request: same answer.
    assert_null (s_post_expect (O311 ".xml", BODY ("loud") "&phone=13800001234", "o-same", 200));
    //  Where intake stores the same thing, the same request: the
    //  description is trimmed.
    free (s_post_expect (O311 ".json", BODY ("%20loud%0A") "&phone=13800001234", "o-same", 200));
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE idempotency_key"
                                 " = '%s' AND fingerprint IS NOT NULL",
                                 "o-same"),
                      1);
    free (a);
    free (b);
}

static void
test_open311_same_key_different_body_is_422 (void **state)
{
    (void) state;
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    char *a = s_post_expect (O311 ".json", BODY ("first"), "o-diff", 201);
    gz_testhttp_t r;
    assert_int_equal (s_post (O311 ".json", BODY ("second"), "o-diff", &r), 422);
    assert_non_null (strstr (r.content_type, "application/json"));
    assert_non_null (strstr (r.body, "\"code\":422"));
    assert_non_null (strstr (r.body, "Idempotency-Key was already used for a different request"));
    //  Not the first request's id.
    assert_null (strstr (r.body, a));
    gz_testhttp_free (&r);
    //  XML when the request was .xml, in the spec's error shape.
    assert_int_equal (s_post (O311 ".xml", BODY ("second") "&phone=13800001234", "o-diff", &r),
                      422);
    assert_non_null (strstr (r.content_type, "text/xml"));
    assert_non_null (strstr (r.body, "<errors><error><code>422</code><description>this "
                                     "Idempotency-Key was already used for a different"));
    gz_testhttp_free (&r);
    //  A different attribute, location or contact is a different request.
    assert_null (
        s_post_expect (O311 ".json", BODY ("first") "&email=a%40example.cn", "o-diff", 422));
    assert_null (s_post_expect (
        O311 ".json", "api_key=" KEY "&service_code=noise&address_id=B1&description=first",
        "o-diff", 422));
    //  Only the first is stored, with its content; no contact, no event
    //  for the others.
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 1);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                 " AND description = 'first' AND building_code = 'B2'",
                                 a),
                      1);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.contacts WHERE request_id = %s", a),
                      0);
    assert_int_equal (
        s_scalarf ("SELECT count(*) FROM intake.outbox WHERE type = 'RequestSubmitted'"
                   " AND key = '%s'",
                   a),
        1);
    //  The same request again is still a duplicate.
    char *b = s_post_expect (O311 ".json", BODY ("first"), "o-diff", 200);
    assert_string_equal (a, b);
    //  Keys are per client: another API key may use the same key.
    char *c = s_post_expect (O311 ".json",
                             "api_key=" KEY2 "&service_code=noise&address_id=B2&description=second",
                             "o-diff", 201);
    assert_string_not_equal (a, c);
    assert_true (gz_testfix_metric (F.base, "gz_intake_submissions_total{channel=\"open311\","
                                            "outcome=\"mismatch\"}") >= 4);
    free (a);
    free (b);
    free (c);
}

//  A request filed before fingerprints were kept (NULL): a reused key is
//  answered as a duplicate, as before.
static void
test_old_rows_keep_todays_answer (void **state)
{
    (void) state;
    char *a = s_post_expect (O311 ".json", BODY ("old"), "o-old", 201);
    gz_testfix_exec (
        F.db, "UPDATE intake.requests SET fingerprint = NULL WHERE idempotency_key = 'o-old'");
    char *b = s_post_expect (O311 ".json", BODY ("other"), "o-old", 200);
    assert_string_equal (a, b);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE idempotency_key"
                                 " = '%s'",
                                 "o-old"),
                      1);
    free (a);
    free (b);
}

//  The form's nonce from a QR page.
static void
s_nonce (const char *body, char nonce[40])
{
    const char *n = strstr (body, "name=\"nonce\" value=\"");
    assert_non_null (n);
    nonce[0] = 0;
    sscanf (n + strlen ("name=\"nonce\" value=\""), "%36[0-9a-f-]", nonce);
    assert_int_equal (strlen (nonce), 36);
}

static void
test_qr_form_sent_again_with_other_content (void **state)
{
    (void) state;
    gz_testhttp_t r;
    char url[128], nonce[40], again[40];
    snprintf (url, sizeof url, "%s/q/B1", F.base);
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_int_equal (r.status, 200);
    s_nonce (r.body, nonce);
    gz_testhttp_free (&r);
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    char body[256];
    snprintf (body, sizeof body, "nonce=%s&service_code=road&description=first", nonce);
    assert_int_equal (s_post ("/q/B1", body, NULL, &r), 201);
    assert_non_null (strstr (r.body, "诉求编号"));
    gz_testhttp_free (&r);
    //  The same form sent again with other content: a clear message, the
    //  content kept in the form, and a new nonce so sending it files it.
    snprintf (body, sizeof body, "nonce=%s&service_code=road&description=changed", nonce);
    assert_int_equal (s_post ("/q/B1", body, NULL, &r), 422);
    assert_non_null (strstr (r.body, "已经提交过一条内容不同的诉求"));
    //  Neither the first request's number nor its status link.
    assert_null (strstr (r.body, "class=\"num\""));
    assert_null (strstr (r.body, "href=\"/r/"));
    assert_non_null (strstr (r.body, ">changed</textarea>"));
    s_nonce (r.body, again);
    assert_string_not_equal (again, nonce);
    gz_testhttp_free (&r);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 1);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"
                                               " WHERE description = 'changed'"),
                      0);
    snprintf (body, sizeof body, "nonce=%s&service_code=road&description=changed", again);
    assert_int_equal (s_post ("/q/B1", body, NULL, &r), 201);
    gz_testhttp_free (&r);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 2);
}

//  One SubmitRequest over the bus; the reply (caller frees).
static Gongzhi__V1__SubmitReply *
s_bus_submit (zsock_t *dealer, const char *credential, const char *idem,
              Gongzhi__V1__SubmitRequest *req)
{
    zframe_t *f = gz_codec_envelope_frame ("SubmitRequest", NULL, idem, credential, &req->base);
    assert_int_equal (zframe_send (&f, dealer, 0), 0);
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

static void
test_bus_same_key_different_payload (void **state)
{
    (void) state;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", F.bus_port), 0);
    zsock_set_rcvtimeo (dealer, 10000);
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B1";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "road";
    req.description = "路灯坏了";
    req.location = &loc;
    req.external_id = "ticket-7";
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    Gongzhi__V1__SubmitReply *rep = s_bus_submit (dealer, KEY, "b-diff", &req);
    assert_true (rep->ok);
    assert_false (rep->duplicate);
    char *id = strdup (rep->service_request_id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    //  The same payload: ok, duplicate, the same id.
    rep = s_bus_submit (dealer, KEY, "b-diff", &req);
    assert_true (rep->ok);
    assert_true (rep->duplicate);
    assert_string_equal (rep->service_request_id, id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    //  Another payload: IDEMPOTENCY_MISMATCH, no id, nothing stored.
    req.description = "路灯又坏了";
    rep = s_bus_submit (dealer, KEY, "b-diff", &req);
    assert_false (rep->ok);
    assert_false (rep->duplicate);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    assert_string_equal (rep->service_request_id, "");
    assert_non_null (strstr (rep->message, "already used for a different request"));
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.description = "路灯坏了";
    req.channel = GONGZHI__V1__CHANNEL__HOTLINE;
    rep = s_bus_submit (dealer, KEY, "b-diff", &req);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 1);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                 " AND description = '路灯坏了' AND channel = 'BUS'",
                                 id),
                      1);
    //  Another API key's key space: the same key files its own request.
    rep = s_bus_submit (dealer, KEY2, "b-diff", &req);
    assert_true (rep->ok);
    assert_false (rep->duplicate);
    assert_string_not_equal (rep->service_request_id, id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    free (id);
    zsock_destroy (&dealer);
}

//  The RequestSubmitted event intake staged for request id (caller frees
//  with gongzhi__v1__request_submitted__free_unpacked).
static Gongzhi__V1__RequestSubmitted *
s_event (const char *id)
{
    char *hex = gz_testfix_textf (F.db,
                                  "SELECT encode(payload, 'hex') FROM intake.outbox"
                                  " WHERE type = 'RequestSubmitted' AND key = '%s'",
                                  id);
    size_t len = strlen (hex) / 2;
    uint8_t *bytes = malloc (len + 1);
    assert_non_null (bytes);
    for (size_t i = 0; i < len; i++) {
        unsigned int b;
        assert_int_equal (sscanf (hex + 2 * i, "%2x", &b), 1);
        bytes[i] = (uint8_t) b;
    }
    Gongzhi__V1__RequestSubmitted *ev = gongzhi__v1__request_submitted__unpack (NULL, len, bytes);
    assert_non_null (ev);
    free (bytes);
    free (hex);
    return ev;
}

#define RIDER "rider%3AMT-7788" //  rider:MT-7788, form-encoded

//  Open311's reporter_id extension (issue 10): stored and in the event;
//  part of what a key names; a bad one is 400 with nothing stored.
static void
test_open311_reporter_id (void **state)
{
    (void) state;
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    char *a = s_post_expect (O311 ".json", BODY ("rider") "&reporter_id=" RIDER, "o-rep", 201);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                 " AND reporter_id = 'rider:MT-7788' AND channel = 'OPEN311'",
                                 a),
                      1);
    Gongzhi__V1__RequestSubmitted *ev = s_event (a);
    assert_string_equal (ev->reporter_id, "rider:MT-7788");
    assert_int_equal (ev->channel, GONGZHI__V1__CHANNEL__OPEN311);
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    //  The same request again: a duplicate. Another reporter, or none, is
    //  another request: 422.
    char *b = s_post_expect (O311 ".json", BODY ("rider") "&reporter_id=" RIDER, "o-rep", 200);
    assert_string_equal (a, b);
    assert_null (
        s_post_expect (O311 ".json", BODY ("rider") "&reporter_id=rider%3AMT-7789", "o-rep", 422));
    assert_null (s_post_expect (O311 ".json", BODY ("rider"), "o-rep", 422));
    //  A bad one: 400 naming the field, in JSON and XML; nothing stored.
    const char *bad[] = {"courier%3AMT-7788", "rider%3A", "MT-7788", "rider%3AMT%207788",
                         "rider%3A%E9%AA%91%E6%89%8B"};
    gz_testhttp_t r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[256];
        snprintf (body, sizeof body, "%s&reporter_id=%s", BODY ("bad"), bad[i]);
        assert_int_equal (s_post (O311 ".json", body, NULL, &r), 400);
        assert_non_null (strstr (r.body, "\"code\":400"));
        assert_non_null (strstr (r.body, "\"description\":\"reporter_id must be"));
        gz_testhttp_free (&r);
    }
    assert_int_equal (s_post (O311 ".xml", BODY ("bad") "&reporter_id=rider%3A", NULL, &r), 400);
    assert_non_null (strstr (r.body, "<errors><error><code>400</code><description>reporter_id"));
    gz_testhttp_free (&r);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 1);
    //  Empty is none.
    char *c = s_post_expect (O311 ".json", BODY ("none") "&reporter_id=", NULL, 201);
    assert_int_equal (
        s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s AND reporter_id IS NULL", c),
        1);
    ev = s_event (c);
    assert_string_equal (ev->reporter_id, "");
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    free (a);
    free (b);
    free (c);
}

//  SubmitRequest.reporter_id likewise; it never sets the channel.
static void
test_bus_reporter_id (void **state)
{
    (void) state;
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", F.bus_port), 0);
    zsock_set_rcvtimeo (dealer, 10000);
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B1";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "road";
    req.description = "井盖松了";
    req.location = &loc;
    req.channel = GONGZHI__V1__CHANNEL__RIDER;
    req.reporter_id = "rider:MT-7788";
    long before = gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests");
    Gongzhi__V1__SubmitReply *rep = s_bus_submit (dealer, KEY, "b-rep", &req);
    assert_true (rep->ok);
    assert_false (rep->duplicate);
    char *id = strdup (rep->service_request_id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                 " AND reporter_id = 'rider:MT-7788' AND channel = 'RIDER'",
                                 id),
                      1);
    Gongzhi__V1__RequestSubmitted *ev = s_event (id);
    assert_string_equal (ev->reporter_id, "rider:MT-7788");
    assert_int_equal (ev->channel, GONGZHI__V1__CHANNEL__RIDER);
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    //  The same reporter: a duplicate; another: IDEMPOTENCY_MISMATCH.
    rep = s_bus_submit (dealer, KEY, "b-rep", &req);
    assert_true (rep->ok);
    assert_true (rep->duplicate);
    assert_string_equal (rep->service_request_id, id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    req.reporter_id = "rider:MT-7789";
    rep = s_bus_submit (dealer, KEY, "b-rep", &req);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    //  A bad one: BAD_FIELD naming it, nothing stored.
    req.reporter_id = "rider:";
    rep = s_bus_submit (dealer, KEY, "b-rep-bad", &req);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_FIELD);
    assert_non_null (strstr (rep->message, "reporter_id"));
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (gz_testfix_scalar (F.db, "SELECT count(*) FROM intake.requests"), before + 1);
    //  A rider's id with another channel: the channel stays as given.
    req.reporter_id = "rider:MT-7788";
    req.channel = GONGZHI__V1__CHANNEL__CHANNEL_UNSPECIFIED;
    rep = s_bus_submit (dealer, KEY, "b-rep-bus", &req);
    assert_true (rep->ok);
    assert_int_equal (s_scalarf ("SELECT count(*) FROM intake.requests WHERE id = %s"
                                 " AND reporter_id = 'rider:MT-7788' AND channel = 'BUS'",
                                 rep->service_request_id),
                      1);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    free (id);
    zsock_destroy (&dealer);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_open311_same_key_same_body_is_a_duplicate),
        cmocka_unit_test (test_open311_same_key_different_body_is_422),
        cmocka_unit_test (test_old_rows_keep_todays_answer),
        cmocka_unit_test (test_qr_form_sent_again_with_other_content),
        cmocka_unit_test (test_bus_same_key_different_payload),
        cmocka_unit_test (test_open311_reporter_id),
        cmocka_unit_test (test_bus_reporter_id),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
