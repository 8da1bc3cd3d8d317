/*  Unit tests for gz_http's multipart/form-data bodies (gz_http_multipart.c)
    over real HTTP (libcurl): text fields through gz_http_form, files in
    order with their bytes and names, an empty file input that is no file,
    each limit (request from Content-Length, request while streaming
    chunked, one file, file count, field count and size) answered 413 by
    the handler, a body with no boundary refused as a malformed form,
    urlencoded bodies as before; and an offloaded handler that defers its
    request, answered later from another thread.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "gz_http.h"
#include "gz_testhttp.h"

#define MAX_BODY 1024
#define BOUNDARY "gzTestBoundary7MA4YWxk"

static const gz_http_multipart_t s_limits = {
    .max_request = 64 * 1024,
    .max_file_bytes = 16 * 1024,
    .max_files = 3,
    .max_fields = 8,
    .max_field = 256,
};

//  The answer on another thread, for the offload-then-defer test.
static void *
s_answer_later (void *arg)
{
    gz_http_req_t *handle = arg;
    usleep (20 * 1000);
    gz_http_reply (handle, 202, "text/plain", "later", 5);
    return NULL;
}

static void
s_worker_defers (gz_http_req_t *req, void *arg)
{
    (void) arg;
    gz_http_req_t *handle = gz_http_defer (req);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_answer_later, handle), 0);
    pthread_detach (thread);
}

//  Echo what arrived as JSON: the form's fields, the files' field, name,
//  length and first byte; 413 when too large, 400 when malformed.
static void
s_handler (gz_http_req_t *req, void *arg)
{
    (void) arg;
    if (strcmp (gz_http_path (req), "/defer") == 0) {
        if (gz_http_offload (req, s_worker_defers, NULL) != 0)
            gz_http_reply_error (req, 503, "busy", "no worker");
        return;
    }
    if (gz_http_too_large (req)) {
        gz_http_reply_error (req, 413, "too_large", "body too large");
        return;
    }
    if (!gz_http_form_parse (req)) {
        gz_http_reply_error (req, 400, "bad_form", "malformed form");
        return;
    }
    json_t *fields = json_object (), *files = json_array ();
    for (size_t i = 0; i < gz_http_form_count (req); i++)
        json_object_set_new (fields, gz_http_form_name (req, i),
                             json_string (gz_http_form_value (req, i)));
    for (size_t i = 0; i < gz_http_file_count (req); i++) {
        size_t len = 0;
        const unsigned char *data = gz_http_file_data (req, i, &len);
        json_array_append_new (files,
                               json_pack ("{s:s,s:s,s:I,s:i}", "field", gz_http_file_field (req, i),
                                          "name", gz_http_file_name (req, i), "len",
                                          (json_int_t) len, "first", len ? data[0] : -1));
    }
    gz_http_reply_json (req, 200,
                        json_pack ("{s:o,s:o,s:b}", "fields", fields, "files", files, "multipart",
                                   gz_http_multipart (req)));
}

static int
s_setup (void **state)
{
    gz_http_t *http = gz_http_new_pool ("127.0.0.1", 0, MAX_BODY, 2, s_handler, NULL);
    assert_non_null (http);
    gz_http_set_workers (http, 2, 16);
    gz_http_set_multipart (http, &s_limits);
    *state = http;
    return 0;
}

static int
s_teardown (void **state)
{
    gz_http_t *http = *state;
    gz_http_destroy (&http);
    return 0;
}

//  A multipart body under construction.
typedef struct {
    char *data;
    size_t len;
} s_body_t;

static void
s_add (s_body_t *b, const void *data, size_t len)
{
    b->data = realloc (b->data, b->len + len + 1);
    assert_non_null (b->data);
    memcpy (b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

static void
s_field (s_body_t *b, const char *name, const char *value)
{
    char head[256];
    snprintf (head, sizeof head,
              "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n", name);
    s_add (b, head, strlen (head));
    s_add (b, value, strlen (value));
    s_add (b, "\r\n", 2);
}

static void
s_file (s_body_t *b, const char *name, const char *filename, char fill, size_t len)
{
    char head[256];
    snprintf (head, sizeof head,
              "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
              "Content-Type: application/octet-stream\r\n\r\n",
              name, filename);
    s_add (b, head, strlen (head));
    char *bytes = malloc (len + 1);
    assert_non_null (bytes);
    memset (bytes, fill, len);
    s_add (b, bytes, len);
    free (bytes);
    s_add (b, "\r\n", 2);
}

static void
s_end (s_body_t *b)
{
    s_add (b, "--" BOUNDARY "--\r\n", strlen ("--" BOUNDARY "--\r\n"));
}

static json_t *
s_post (gz_http_t *http, const char *path, s_body_t *b, const char *content_type, long *status)
{
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", gz_http_port (http), path);
    gz_testhttp_t out;
    assert_int_equal (
        gz_testhttp ("POST", url, b->data, b->len,
                     content_type ? content_type : "multipart/form-data; boundary=" BOUNDARY, NULL,
                     &out),
        0);
    *status = out.status;
    json_t *json = out.body ? json_loads (out.body, 0, NULL) : NULL;
    gz_testhttp_free (&out);
    free (b->data);
    b->data = NULL;
    b->len = 0;
    return json;
}

static void
test_fields_and_files (void **state)
{
    s_body_t b = {0};
    s_field (&b, "description", "楼道灯不亮");
    s_field (&b, "phone", "");
    s_file (&b, "photo", "a.jpg", 'A', 10000);
    s_file (&b, "photo", "", 'x', 0); //  an empty file input: no file
    s_file (&b, "photo", "b.png", 'B', 3);
    s_field (&b, "nonce", "n-1");
    s_end (&b);
    long status = 0;
    json_t *j = s_post (*state, "/up", &b, NULL, &status);
    assert_int_equal (status, 200);
    assert_non_null (j);
    assert_true (json_is_true (json_object_get (j, "multipart")));
    json_t *fields = json_object_get (j, "fields");
    assert_string_equal (json_string_value (json_object_get (fields, "description")), "楼道灯不亮");
    assert_string_equal (json_string_value (json_object_get (fields, "phone")), "");
    assert_string_equal (json_string_value (json_object_get (fields, "nonce")), "n-1");
    json_t *files = json_object_get (j, "files");
    assert_int_equal (json_array_size (files), 2);
    json_t *f0 = json_array_get (files, 0), *f1 = json_array_get (files, 1);
    assert_string_equal (json_string_value (json_object_get (f0, "name")), "a.jpg");
    assert_string_equal (json_string_value (json_object_get (f0, "field")), "photo");
    assert_int_equal (json_integer_value (json_object_get (f0, "len")), 10000);
    assert_int_equal (json_integer_value (json_object_get (f0, "first")), 'A');
    assert_string_equal (json_string_value (json_object_get (f1, "name")), "b.png");
    assert_int_equal (json_integer_value (json_object_get (f1, "len")), 3);
    json_decref (j);
}

static void
test_limits (void **state)
{
    gz_http_t *http = *state;
    long status = 0;
    s_body_t b = {0};
    //  One file over max_file_bytes (the request is within max_request).
    s_file (&b, "photo", "big.jpg", 'A', s_limits.max_file_bytes + 1);
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 413);
    //  Exactly max_file_bytes is fine.
    s_file (&b, "photo", "ok.jpg", 'A', s_limits.max_file_bytes);
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 200);
    //  A fourth file.
    for (int i = 0; i < 4; i++)
        s_file (&b, "photo", "p.jpg", 'A', 100);
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 413);
    //  A text field longer than max_field; too many fields.
    char long_value[400];
    memset (long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = 0;
    s_field (&b, "description", long_value);
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 413);
    for (int i = 0; i < 9; i++)
        s_field (&b, "f", "1");
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 413);
    //  Over max_request in all (from its Content-Length): 413 though each
    //  file is within its limit and the body is far beyond max_body.
    for (int i = 0; i < 5; i++)
        s_file (&b, "photo", "p.jpg", 'A', s_limits.max_file_bytes);
    s_end (&b);
    json_decref (s_post (http, "/up", &b, NULL, &status));
    assert_int_equal (status, 413);
}

//  A multipart Content-Type without a boundary is a malformed form; an
//  urlencoded body still goes through max_body and the form decoder.
static void
test_malformed_and_urlencoded (void **state)
{
    gz_http_t *http = *state;
    long status = 0;
    s_body_t b = {0};
    s_field (&b, "a", "1");
    s_end (&b);
    json_decref (s_post (http, "/up", &b, "multipart/form-data", &status));
    assert_int_equal (status, 400);
    s_add (&b, "a=1&b=%E4%BD%A0", strlen ("a=1&b=%E4%BD%A0"));
    json_t *j = s_post (http, "/up", &b, "application/x-www-form-urlencoded", &status);
    assert_int_equal (status, 200);
    assert_false (json_is_true (json_object_get (j, "multipart")));
    assert_string_equal (json_string_value (json_object_get (json_object_get (j, "fields"), "b")),
                         "你");
    json_decref (j);
}

//  A chunked upload (no Content-Length) over max_request is stopped once
//  the limit is crossed, not read to its end: a 200 MB stream ends fast.
typedef struct {
    size_t sent, total;
} s_stream_t;

static size_t
s_read_stream (char *buf, size_t size, size_t n, void *arg)
{
    s_stream_t *st = arg;
    size_t want = size * n;
    if (st->sent == 0) {
        const char *head = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"photo\"; "
                           "filename=\"huge.jpg\"\r\n\r\n";
        size_t len = strlen (head);
        assert_true (want >= len);
        memcpy (buf, head, len);
        st->sent += len;
        return len;
    }
    if (st->sent >= st->total)
        return 0;
    if (want > st->total - st->sent)
        want = st->total - st->sent;
    memset (buf, 'Z', want);
    st->sent += want;
    return want;
}

static void
test_chunked_over_limit (void **state)
{
    gz_http_t *http = *state;
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/up", gz_http_port (http));
    s_stream_t st = {0, (size_t) 200 * 1024 * 1024};
    CURL *c = curl_easy_init ();
    assert_non_null (c);
    struct curl_slist *h = curl_slist_append (NULL, "Transfer-Encoding: chunked");
    h = curl_slist_append (h, "Content-Type: multipart/form-data; boundary=" BOUNDARY);
    h = curl_slist_append (h, "Expect:");
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_POST, 1L);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (c, CURLOPT_READFUNCTION, s_read_stream);
    curl_easy_setopt (c, CURLOPT_READDATA, &st);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    //  The answer (413) or a closed connection: either way, early.
    (void) curl_easy_perform (c);
    curl_slist_free_all (h);
    curl_easy_cleanup (c);
    assert_true (st.sent < (size_t) 20 * 1024 * 1024);
}

static void
test_offloaded_handler_defers (void **state)
{
    gz_http_t *http = *state;
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/defer", gz_http_port (http));
    for (int i = 0; i < 5; i++) {
        gz_testhttp_t out;
        assert_int_equal (gz_testhttp_get (url, &out), 0);
        assert_int_equal (out.status, 202);
        assert_string_equal (out.body, "later");
        gz_testhttp_free (&out);
    }
}

int
main (void)
{
    curl_global_init (CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_fields_and_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_and_urlencoded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_chunked_over_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_offloaded_handler_defers, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return rc;
}
