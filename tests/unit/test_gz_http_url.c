/*  Unit tests for gz_http's URL check: libmicrohttpd decodes "%00" and
    cuts the path or query value there, so "/q/HGY-B0001%00x" would reach
    a handler as "/q/HGY-B0001". Such a request gets 400 and no handler
    runs; a literal "%" that is itself encoded ("%2500") is fine.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "gz_http.h"
#include "gz_testhttp.h"

typedef struct {
    atomic_int calls;
} s_state_t;

static void
s_handler (gz_http_req_t *req, void *arg)
{
    s_state_t *st = arg;
    atomic_fetch_add (&st->calls, 1);
    const char *q = gz_http_query (req, "q");
    json_t *answer = json_pack ("{s:s, s:s}", "path", gz_http_path (req), "q", q ? q : "");
    gz_http_reply_json (req, 200, answer);
}

static void
s_get (int port, const char *path_and_query, gz_testhttp_t *resp)
{
    char url[256];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, path_and_query);
    assert_int_equal (gz_testhttp_get (url, resp), 0);
}

static void
test_encoded_nul_refused (void **state)
{
    (void) state;
    s_state_t st = {0};
    gz_http_t *server = gz_http_new ("127.0.0.1", 0, 1024, s_handler, &st);
    assert_non_null (server);
    int port = gz_http_port (server);
    const char *bad[] = {"/q/HGY-B0001%00x", "/open311/v2/requests.json?status=open%00x",
                         "/x?q=%00", "/%00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        gz_testhttp_t resp;
        s_get (port, bad[i], &resp);
        assert_int_equal (resp.status, 400);
        json_t *body = json_loads (resp.body, 0, NULL);
        assert_non_null (body);
        assert_string_equal (
            json_string_value (json_object_get (json_object_get (body, "error"), "code")),
            "bad_request");
        assert_non_null (strstr (resp.body, "NUL"));
        json_decref (body);
        gz_testhttp_free (&resp);
    }
    assert_int_equal (atomic_load (&st.calls), 0);
    //  "%2500" is a percent sign followed by "00": served as such.
    gz_testhttp_t resp;
    s_get (port, "/x?q=a%2500", &resp);
    assert_int_equal (resp.status, 200);
    assert_non_null (strstr (resp.body, "\"q\":\"a%00\""));
    gz_testhttp_free (&resp);
    //  And the same connection pool keeps serving ordinary requests.
    s_get (port, "/q/HGY-B0001", &resp);
    assert_int_equal (resp.status, 200);
    assert_non_null (strstr (resp.body, "/q/HGY-B0001"));
    gz_testhttp_free (&resp);
    assert_int_equal (atomic_load (&st.calls), 2);
    gz_http_destroy (&server);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_encoded_nul_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
