/*  Unit tests for gz_http: a server on a free port with a test handler,
    spoken to by a tiny HTTP/1.1 client over raw sockets (every request
    says "Connection: close" and the response is read to EOF). Covers
    query args and headers, form bodies, size limits, the 500 fallback,
    JSON replies, concurrency, slow clients and draining on destroy, for
    both the default server (gz_http_new) and a pool server; and, on pool servers,
    deferred replies (from another thread, many at once, client gone,
    timeouts, destroy with requests still deferred).  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "gz_http.h"

#define MAX_BODY 1024

//  ---- test handler

#define MAX_DEFERRED 512

typedef struct {
    atomic_int slow_entered;
    atomic_int slow_release;
    //  deferred requests, with what the handler read before deferring
    pthread_mutex_t lock;
    gz_http_req_t *deferred[MAX_DEFERRED];
    char *deferred_q[MAX_DEFERRED];
    size_t ndeferred;
    atomic_int deferred_total;
} s_handler_state_t;

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

static json_t *
s_string_or_null (const char *s)
{
    return s ? json_string (s) : json_null ();
}

static void
s_handler (gz_http_req_t *req, void *arg)
{
    s_handler_state_t *st = arg;
    const char *path = gz_http_path (req);
    if (strcmp (path, "/echo") == 0) {
        size_t len = 0;
        gz_http_body (req, &len);
        json_t *reply = json_object ();
        json_object_set_new (reply, "method", json_string (gz_http_method (req)));
        json_object_set_new (reply, "path", json_string (path));
        json_object_set_new (reply, "q", s_string_or_null (gz_http_query (req, "q")));
        json_object_set_new (reply, "Q", s_string_or_null (gz_http_query (req, "Q")));
        json_object_set_new (reply, "flag", s_string_or_null (gz_http_query (req, "flag")));
        json_object_set_new (reply, "missing", s_string_or_null (gz_http_query (req, "missing")));
        json_object_set_new (reply, "x_test", s_string_or_null (gz_http_header (req, "x-test")));
        json_object_set_new (reply, "ip", json_string (gz_http_client_ip (req)));
        json_object_set_new (reply, "body_len", json_integer ((json_int_t) len));
        gz_http_reply_json (req, 200, reply);
    }
    else if (strcmp (path, "/form") == 0) {
        if (gz_http_too_large (req)) {
            gz_http_reply_error (req, 413, "too_large", "body too large");
            return;
        }
        //  (No cmocka asserts here: this runs on a server thread.)
        if (!gz_http_form_parse (req)) {
            if (gz_http_form_count (req) != 0 || gz_http_form (req, "title"))
                gz_http_reply_error (req, 500, "fields_left", "fields after a failed parse");
            else
                gz_http_reply_error (req, 400, "bad_form", "malformed form");
            return;
        }
        json_t *fields = json_object ();
        for (size_t i = 0; i < gz_http_form_count (req); i++)
            json_object_set_new (fields, gz_http_form_name (req, i),
                                 json_string (gz_http_form_value (req, i)));
        json_t *reply =
            json_pack ("{s:o,s:i,s:o}", "fields", fields, "count", (int) gz_http_form_count (req),
                       "title", s_string_or_null (gz_http_form (req, "title")));
        gz_http_reply_json (req, 200, reply);
    }
    else if (strcmp (path, "/upload") == 0) {
        if (gz_http_too_large (req)) {
            size_t len = 99;
            if (gz_http_body (req, &len) || len != 0)
                gz_http_reply_error (req, 500, "body_kept", "too large but kept");
            else
                gz_http_reply_error (req, 413, "too_large", "body too large");
            return;
        }
        size_t len = 0;
        const char *body = gz_http_body (req, &len);
        char text[64];
        snprintf (text, sizeof text, "got %zu %s", len,
                  body && body[len] == 0 ? "terminated" : "-");
        gz_http_reply (req, 200, "text/plain; charset=utf-8", text, strlen (text));
    }
    else if (strcmp (path, "/headers") == 0) {
        gz_http_set_header (req, "X-Custom", "yes");
        gz_http_set_header (req, "Cache-Control", "max-age=60");
        gz_http_set_header (req, "X-Injected", "a\r\nSet-Cookie: evil=1"); //  dropped
        gz_http_reply (req, 201, "text/html; charset=utf-8", "<p>ok</p>", 9);
    }
    else if (strcmp (path, "/slow") == 0) {
        atomic_store (&st->slow_entered, 1);
        int64_t deadline = s_now_ms () + 10000;
        while (!atomic_load (&st->slow_release) && s_now_ms () < deadline)
            s_sleep_ms (1);
        gz_http_reply (req, 200, "text/plain", "slow done", 9);
    }
    else if (strcmp (path, "/defer") == 0) {
        const char *q = gz_http_query (req, "q");
        char *copy = strdup (q ? q : "");
        gz_http_req_t *handle = gz_http_defer (req);
        pthread_mutex_lock (&st->lock);
        if (st->ndeferred < MAX_DEFERRED) {
            st->deferred[st->ndeferred] = handle;
            st->deferred_q[st->ndeferred++] = copy;
            handle = NULL;
        }
        pthread_mutex_unlock (&st->lock);
        atomic_fetch_add (&st->deferred_total, 1);
        if (handle) { //  no room: answer at once (from this thread)
            gz_http_reply_error (handle, 507, "full", "too many deferred");
            free (copy);
        }
    }
    else if (strcmp (path, "/noreply") == 0) {
        //  forgets to reply
    }
    else
        gz_http_reply_error (req, 404, "not_found", "无此页面");
}

//  ---- raw HTTP client

typedef struct {
    int status;
    char head[8192]; //  status line and headers
    char *body;
    size_t body_len;
} s_resp_t;

static int
s_connect (int family, int port)
{
    int fd = socket (family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {10, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons ((uint16_t) port);
        inet_pton (AF_INET, "127.0.0.1", &sin->sin_addr);
        len = sizeof *sin;
    }
    else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons ((uint16_t) port);
        inet_pton (AF_INET6, "::1", &sin6->sin6_addr);
        len = sizeof *sin6;
    }
    if (connect (fd, (struct sockaddr *) &ss, len) != 0) {
        int err = errno;
        close (fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int
s_send_all (int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t) n;
    }
    return 0;
}

//  Read to EOF and split the response. 0 or -1.
static int
s_read_response (int fd, s_resp_t *resp)
{
    memset (resp, 0, sizeof *resp);
    size_t cap = 65536, len = 0;
    char *data = malloc (cap);
    assert_non_null (data);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            data = realloc (data, cap);
            assert_non_null (data);
        }
        ssize_t n = recv (fd, data + len, cap - len - 1, 0);
        if (n < 0) {
            free (data);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    data[len] = 0;
    char *end = strstr (data, "\r\n\r\n");
    if (!end || sscanf (data, "HTTP/1.%*d %d", &resp->status) != 1 ||
        (size_t) (end - data) + 3 > sizeof resp->head) {
        free (data);
        return -1;
    }
    memcpy (resp->head, data, (size_t) (end - data) + 2); //  keep the last CRLF
    resp->body_len = len - (size_t) (end + 4 - data);
    resp->body = malloc (resp->body_len + 1);
    memcpy (resp->body, end + 4, resp->body_len);
    resp->body[resp->body_len] = 0;
    free (data);
    return 0;
}

static int
s_roundtrip_family (int family, int port, const char *request, size_t len, s_resp_t *resp)
{
    int fd = s_connect (family, port);
    if (fd < 0)
        return -1;
    int rc = s_send_all (fd, request, len);
    if (rc == 0)
        rc = s_read_response (fd, resp);
    close (fd);
    return rc;
}

static int
s_roundtrip (int port, const char *request, s_resp_t *resp)
{
    return s_roundtrip_family (AF_INET, port, request, strlen (request), resp);
}

//  A response header's value (copied into buf), or NULL.
static const char *
s_header (s_resp_t *resp, const char *name, char *buf, size_t size)
{
    size_t name_len = strlen (name);
    for (const char *line = strstr (resp->head, "\r\n"); line && line[2];
         line = strstr (line + 2, "\r\n")) {
        const char *p = line + 2;
        if (strncasecmp (p, name, name_len) == 0 && p[name_len] == ':') {
            p += name_len + 1;
            while (*p == ' ')
                p++;
            const char *e = strstr (p, "\r\n");
            snprintf (buf, size, "%.*s", (int) (e - p), p);
            return buf;
        }
    }
    return NULL;
}

static json_t *
s_json_body (s_resp_t *resp)
{
    json_error_t error;
    json_t *json = json_loadb (resp->body, resp->body_len, 0, &error);
    if (!json)
        fail_msg ("not JSON (%s): %s", error.text, resp->body);
    return json;
}

static void
s_resp_free (s_resp_t *resp)
{
    free (resp->body);
    resp->body = NULL;
}

//  A POST with a body and a content type.
static int
s_post (int port, const char *path, const char *content_type, const char *body, s_resp_t *resp)
{
    char request[4096];
    snprintf (request, sizeof request,
              "POST %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
              "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
              path, content_type, strlen (body), body);
    return s_roundtrip (port, request, resp);
}

//  ---- deferred requests

//  Take the oldest deferred request, waiting up to 5 s. NULL if none.
static gz_http_req_t *
s_deferred_take (s_handler_state_t *st, char **q_p)
{
    int64_t deadline = s_now_ms () + 5000;
    while (s_now_ms () < deadline) {
        pthread_mutex_lock (&st->lock);
        if (st->ndeferred > 0) {
            gz_http_req_t *req = st->deferred[0];
            *q_p = st->deferred_q[0];
            st->ndeferred--;
            memmove (st->deferred, st->deferred + 1, st->ndeferred * sizeof st->deferred[0]);
            memmove (st->deferred_q, st->deferred_q + 1, st->ndeferred * sizeof (char *));
            pthread_mutex_unlock (&st->lock);
            return req;
        }
        pthread_mutex_unlock (&st->lock);
        s_sleep_ms (1);
    }
    return NULL;
}

//  Resume function: runs on an HTTP thread with the request readable.
static void
s_resume_echo (gz_http_req_t *req, void *arg)
{
    char text[128];
    const char *q = gz_http_query (req, "q");
    snprintf (text, sizeof text, "resumed %s %s", q ? q : "-", (const char *) arg);
    gz_http_reply (req, 200, "text/plain", text, strlen (text));
}

static void
s_timeout_answer (gz_http_req_t *req, void *arg)
{
    (void) arg;
    const char *q = gz_http_query (req, "q");
    char text[128];
    snprintf (text, sizeof text, "timeout %s", q ? q : "-");
    gz_http_reply (req, 504, "text/plain", text, strlen (text));
}

//  ---- fixture

typedef struct {
    s_handler_state_t handler;
    gz_http_t *server;
    int port;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    fx->server = gz_http_new ("127.0.0.1", 0, MAX_BODY, s_handler, &fx->handler);
    if (!fx->server)
        return -1;
    fx->port = gz_http_port (fx->server);
    *state = fx;
    return fx->port > 0 ? 0 : -1;
}

static int
s_setup_pool (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    pthread_mutex_init (&fx->handler.lock, NULL);
    //  No per-address limit: 200 clients on 127.0.0.1 defer at once
    //  (test_gz_http_guard tests the limit).
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.max_per_address = 0;
    fx->server =
        gz_http_new_limited ("127.0.0.1", 0, MAX_BODY, 2, &limits, s_handler, &fx->handler);
    if (!fx->server)
        return -1;
    fx->port = gz_http_port (fx->server);
    *state = fx;
    return fx->port > 0 ? 0 : -1;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    gz_http_destroy (&fx->server);
    gz_http_destroy (&fx->server); //  harmless twice
    free (fx);
    return 0;
}

//  ---- tests

static void
test_get_query_and_headers (void **state)
{
    s_fixture_t *fx = *state;
    s_resp_t resp;
    assert_int_equal (s_roundtrip (fx->port,
                                   "GET /echo?q=%E6%A5%BC+x&Q=upper&flag HTTP/1.1\r\n"
                                   "Host: test\r\nX-Test: hello\r\nConnection: close\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 200);
    char buf[256];
    assert_non_null (s_header (&resp, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "application/json");
    assert_non_null (s_header (&resp, "Cache-Control", buf, sizeof buf));
    assert_string_equal (buf, "no-store");
    json_t *json = s_json_body (&resp);
    assert_string_equal (json_string_value (json_object_get (json, "method")), "GET");
    assert_string_equal (json_string_value (json_object_get (json, "path")), "/echo");
    assert_string_equal (json_string_value (json_object_get (json, "q")), "楼 x");
    assert_string_equal (json_string_value (json_object_get (json, "Q")), "upper");
    assert_string_equal (json_string_value (json_object_get (json, "flag")), "");
    assert_true (json_is_null (json_object_get (json, "missing")));
    assert_string_equal (json_string_value (json_object_get (json, "x_test")), "hello");
    assert_string_equal (json_string_value (json_object_get (json, "ip")), "127.0.0.1");
    //  Compact JSON, UTF-8 as is.
    assert_null (strstr (resp.body, ": "));
    assert_non_null (strstr (resp.body, "\"楼 x\""));
    json_decref (json);
    s_resp_free (&resp);

    //  Unknown path: the handler's own 404, error body in UTF-8.
    assert_int_equal (
        s_roundtrip (fx->port, "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &resp),
        0);
    assert_int_equal (resp.status, 404);
    assert_string_equal (resp.body,
                         "{\"error\":{\"code\":\"not_found\",\"message\":\"无此页面\"}}");
    s_resp_free (&resp);
}

static void
test_post_form (void **state)
{
    s_fixture_t *fx = *state;
    s_resp_t resp;
    const char *type = "application/x-www-form-urlencoded";
    assert_int_equal (s_post (fx->port, "/form", type,
                              "title=%E6%A5%BC%E9%81%93%e7%81%AF+light&empty=&note=a%2Bb%26c"
                              "&&title=second",
                              &resp),
                      0);
    assert_int_equal (resp.status, 200);
    json_t *json = s_json_body (&resp);
    assert_int_equal (json_integer_value (json_object_get (json, "count")), 4);
    assert_string_equal (json_string_value (json_object_get (json, "title")), "楼道灯 light");
    json_t *fields = json_object_get (json, "fields");
    assert_string_equal (json_string_value (json_object_get (fields, "empty")), "");
    assert_string_equal (json_string_value (json_object_get (fields, "note")), "a+b&c");
    json_decref (json);
    s_resp_free (&resp);

    //  With a charset parameter and raw UTF-8 (as curl -d sends it).
    assert_int_equal (s_post (fx->port, "/form", "application/x-www-form-urlencoded; charset=UTF-8",
                              "title=楼道灯坏了", &resp),
                      0);
    assert_int_equal (resp.status, 200);
    json = s_json_body (&resp);
    assert_string_equal (json_string_value (json_object_get (json, "title")), "楼道灯坏了");
    json_decref (json);
    s_resp_free (&resp);

    //  An empty body is an empty form.
    assert_int_equal (s_post (fx->port, "/form", type, "", &resp), 0);
    assert_int_equal (resp.status, 200);
    json = s_json_body (&resp);
    assert_int_equal (json_integer_value (json_object_get (json, "count")), 0);
    json_decref (json);
    s_resp_free (&resp);
}

static void
test_malformed_forms (void **state)
{
    s_fixture_t *fx = *state;
    const char *type = "application/x-www-form-urlencoded";
    const char *bad[] = {
        "title=%ZZ",         "title=%E6%A5%B", "title=%",     "title=%4",  "title",
        "a=1&title",         "=value",         "title=a%00b", "title=a b", "title=a\nb",
        "{\"title\":\"x\"}", "title=<b>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_resp_t resp;
        assert_int_equal (s_post (fx->port, "/form", type, bad[i], &resp), 0);
        if (resp.status != 400)
            fail_msg ("body %s: status %d", bad[i], resp.status);
        s_resp_free (&resp);
    }
    //  JSON is not a form, whatever it contains.
    s_resp_t resp;
    assert_int_equal (s_post (fx->port, "/form", "application/json", "title=x", &resp), 0);
    assert_int_equal (resp.status, 400);
    json_t *json = s_json_body (&resp);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (json, "error"), "code")), "bad_form");
    json_decref (json);
    s_resp_free (&resp);
}

//  The decoding step alone (gz_http_form_decode, also what tests/fuzz
//  drives): the same answers as through a server, and nothing returned or
//  leaked for a refused body, whatever field it fails on.
static void
test_form_decode (void **state)
{
    (void) state;
    char **names, **values;
    size_t count;
    const char *body = "title=%E6%A5%BC+x&empty=&&note=a%2Bb%26c";
    assert_int_equal (gz_http_form_decode (body, strlen (body), &names, &values, &count), 0);
    assert_int_equal (count, 3);
    assert_string_equal (names[0], "title");
    assert_string_equal (values[0], "楼 x");
    assert_string_equal (names[1], "empty");
    assert_string_equal (values[1], "");
    assert_string_equal (values[2], "a+b&c");
    gz_http_form_free (&names, &values, count);
    assert_null (names);
    assert_null (values);

    //  Only len bytes count, and an empty body may be NULL.
    assert_int_equal (gz_http_form_decode ("a=1&b=2", 3, &names, &values, &count), 0);
    assert_int_equal (count, 1);
    assert_string_equal (values[0], "1");
    gz_http_form_free (&names, &values, count);
    assert_int_equal (gz_http_form_decode (NULL, 0, &names, &values, &count), 0);
    assert_int_equal (count, 0);
    assert_null (names);

    const char *bad[] = {"a=1&b=%ZZ", "a=1&b=2&=3", "a=1&b",  "a=1&b=%00",
                         "a=1&b=%4",  "a=1&b=%",    "a=1 b=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        count = 99;
        if (gz_http_form_decode (bad[i], strlen (bad[i]), &names, &values, &count) != -1)
            fail_msg ("body %s: accepted", bad[i]);
        assert_null (names);
        assert_null (values);
        assert_int_equal (count, 0);
    }
}

static void
test_body_limits (void **state)
{
    s_fixture_t *fx = *state;
    s_resp_t resp;
    //  Exactly max_body is fine and NUL-terminated.
    char *body = malloc (MAX_BODY + 1);
    memset (body, 'x', MAX_BODY);
    body[MAX_BODY] = 0;
    assert_int_equal (s_post (fx->port, "/upload", "text/plain", body, &resp), 0);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, "got 1024 terminated");
    s_resp_free (&resp);
    free (body);

    //  Content-Length over the limit: answered before the body is sent.
    assert_int_equal (s_roundtrip (fx->port,
                                   "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   "Content-Type: text/plain\r\nContent-Length: 5000000\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 413);
    json_t *json = s_json_body (&resp);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (json, "error"), "code")), "too_large");
    json_decref (json);
    s_resp_free (&resp);

    //  The same with Expect: 100-continue: no 100, straight to 413.
    assert_int_equal (s_roundtrip (fx->port,
                                   "POST /form HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   "Expect: 100-continue\r\nContent-Length: 2048\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 413);
    s_resp_free (&resp);

    //  Chunked, no length known up front: read, discarded, then 413.
    char request[4096];
    int n = snprintf (request, sizeof request,
                      "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf (request + n, sizeof request - (size_t) n, "258\r\n"); //  600 bytes
        memset (request + n, 'y', 600);
        n += 600;
        n += snprintf (request + n, sizeof request - (size_t) n, "\r\n");
    }
    n += snprintf (request + n, sizeof request - (size_t) n, "0\r\n\r\n");
    assert_int_equal (s_roundtrip_family (AF_INET, fx->port, request, (size_t) n, &resp), 0);
    assert_int_equal (resp.status, 413);
    s_resp_free (&resp);

    //  Chunked within the limit is kept.
    assert_int_equal (s_roundtrip (fx->port,
                                   "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n"
                                   "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, "got 7 terminated");
    s_resp_free (&resp);
}

static void
test_handler_without_reply_gets_500 (void **state)
{
    s_fixture_t *fx = *state;
    s_resp_t resp;
    assert_int_equal (s_roundtrip (fx->port,
                                   "GET /noreply HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 500);
    char buf[256];
    assert_non_null (s_header (&resp, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "application/json");
    json_t *json = s_json_body (&resp);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (json, "error"), "code")), "internal");
    json_decref (json);
    s_resp_free (&resp);
}

static void
test_response_headers (void **state)
{
    s_fixture_t *fx = *state;
    s_resp_t resp;
    assert_int_equal (s_roundtrip (fx->port,
                                   "GET /headers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 201);
    char buf[256];
    assert_non_null (s_header (&resp, "X-Custom", buf, sizeof buf));
    assert_string_equal (buf, "yes");
    assert_non_null (s_header (&resp, "Cache-Control", buf, sizeof buf));
    assert_string_equal (buf, "max-age=60"); //  the handler's, not the default
    assert_non_null (s_header (&resp, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "text/html; charset=utf-8");
    assert_null (s_header (&resp, "X-Injected", buf, sizeof buf));
    assert_null (s_header (&resp, "Set-Cookie", buf, sizeof buf));
    assert_string_equal (resp.body, "<p>ok</p>");
    s_resp_free (&resp);
}

typedef struct {
    int port;
    int index;
    int status;
    bool matched;
} s_client_t;

static void *
s_client_thread (void *arg)
{
    s_client_t *client = arg;
    char request[256];
    snprintf (request, sizeof request,
              "GET /echo?q=n%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", client->index);
    s_resp_t resp;
    if (s_roundtrip (client->port, request, &resp) == 0) {
        client->status = resp.status;
        char expected[32];
        snprintf (expected, sizeof expected, "\"q\":\"n%d\"", client->index);
        client->matched = strstr (resp.body, expected) != NULL;
        s_resp_free (&resp);
    }
    return NULL;
}

static void
test_concurrent_requests (void **state)
{
    s_fixture_t *fx = *state;
    enum { CLIENTS = 32 };
    s_client_t clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (s_client_t){fx->port, i, 0, false};
        assert_int_equal (pthread_create (&threads[i], NULL, s_client_thread, &clients[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (clients[i].status, 200);
        assert_true (clients[i].matched);
    }
}

static void
test_slow_clients_do_not_block (void **state)
{
    s_fixture_t *fx = *state;
    //  32 clients that send half a request and stall (under the limit of
    //  64 connections per address: test_gz_http_guard tests that one).
    enum { SLOW = 32 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = s_connect (AF_INET, fx->port);
        assert_true (fds[i] >= 0);
        const char *partial = "GET /echo HTTP/1.1\r\nHost: t\r\n";
        assert_int_equal (s_send_all (fds[i], partial, strlen (partial)), 0);
    }
    s_resp_t resp;
    int64_t start = s_now_ms ();
    assert_int_equal (
        s_roundtrip (fx->port, "GET /echo?q=fast HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     &resp),
        0);
    assert_int_equal (resp.status, 200);
    assert_true (s_now_ms () - start < 5000);
    s_resp_free (&resp);
    //  The stalled ones still get their answer when they finish.
    for (int i = 0; i < SLOW; i++) {
        const char *rest = "Connection: close\r\n\r\n";
        assert_int_equal (s_send_all (fds[i], rest, strlen (rest)), 0);
        assert_int_equal (s_read_response (fds[i], &resp), 0);
        assert_int_equal (resp.status, 200);
        s_resp_free (&resp);
        close (fds[i]);
    }
}

static void
test_keep_alive_and_aborted_uploads (void **state)
{
    s_fixture_t *fx = *state;
    //  Two requests on one connection: each is its own request.
    const char *two = "POST /form HTTP/1.1\r\nHost: t\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: 7\r\n\r\ntitle=a"
                      "GET /echo?q=second HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    s_resp_t resp;
    assert_int_equal (s_roundtrip (fx->port, two, &resp), 0);
    assert_int_equal (resp.status, 200);
    assert_non_null (strstr (resp.body, "\"title\":\"a\""));
    const char *second = strstr (resp.body, "HTTP/1.1 200");
    assert_non_null (second);
    assert_non_null (strstr (second, "\"q\":\"second\""));
    assert_null (strstr (second, "\"title\""));
    s_resp_free (&resp);

    //  Clients that vanish halfway through a body leave nothing behind
    //  (the ASan build checks for leaks) and do not disturb others.
    for (int i = 0; i < 8; i++) {
        int fd = s_connect (AF_INET, fx->port);
        assert_true (fd >= 0);
        const char *partial = "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
                              "only ten..";
        assert_int_equal (s_send_all (fd, partial, strlen (partial)), 0);
        close (fd);
    }
    assert_int_equal (
        s_roundtrip (fx->port, "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &resp),
        0);
    assert_int_equal (resp.status, 200);
    s_resp_free (&resp);
}

static void
test_large_body_within_limit (void **state)
{
    (void) state;
    //  Bigger than the initial buffer: it grows up to max_body.
    enum { BIG = 150000 };
    s_handler_state_t st = {0};
    gz_http_t *server = gz_http_new ("127.0.0.1", 0, BIG, s_handler, &st);
    assert_non_null (server);
    char *request = malloc (BIG + 256);
    int n = snprintf (request, 256,
                      "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n",
                      BIG);
    memset (request + n, 'z', BIG);
    s_resp_t resp;
    assert_int_equal (
        s_roundtrip_family (AF_INET, gz_http_port (server), request, (size_t) n + BIG, &resp), 0);
    assert_int_equal (resp.status, 200);
    assert_string_equal (resp.body, "got 150000 terminated");
    s_resp_free (&resp);
    free (request);
    gz_http_destroy (&server);
}

static void
test_port_in_use_fails (void **state)
{
    s_fixture_t *fx = *state;
    gz_http_t *other = gz_http_new ("127.0.0.1", fx->port, MAX_BODY, s_handler, NULL);
    assert_null (other);
    other = gz_http_new ("127.0.0.1", 70000, MAX_BODY, s_handler, NULL);
    assert_null (other);
    other = gz_http_new ("not an address", 0, MAX_BODY, s_handler, NULL);
    assert_null (other);
}

static void
test_ipv6_client_address (void **state)
{
    (void) state;
    s_handler_state_t st = {0};
    gz_http_t *server = gz_http_new ("::1", 0, MAX_BODY, s_handler, &st);
    if (!server)
        skip (); //  no IPv6 on this host
    s_resp_t resp;
    const char *request = "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal (
        s_roundtrip_family (AF_INET6, gz_http_port (server), request, strlen (request), &resp), 0);
    assert_int_equal (resp.status, 200);
    json_t *json = s_json_body (&resp);
    assert_string_equal (json_string_value (json_object_get (json, "ip")), "::1");
    json_decref (json);
    s_resp_free (&resp);
    gz_http_destroy (&server);
}

static void
test_all_addresses (void **state)
{
    (void) state;
    //  NULL: every address; an IPv4 client is still reported as IPv4.
    s_handler_state_t st = {0};
    gz_http_t *server = gz_http_new (NULL, 0, MAX_BODY, s_handler, &st);
    assert_non_null (server);
    s_resp_t resp;
    assert_int_equal (s_roundtrip (gz_http_port (server),
                                   "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 200);
    json_t *json = s_json_body (&resp);
    assert_string_equal (json_string_value (json_object_get (json, "ip")), "127.0.0.1");
    json_decref (json);
    s_resp_free (&resp);
    gz_http_destroy (&server);
}

typedef struct {
    int port;
    s_resp_t resp;
    int rc;
} s_slow_client_t;

static void *
s_slow_client (void *arg)
{
    s_slow_client_t *client = arg;
    client->rc = s_roundtrip (client->port,
                              "GET /slow HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
                              &client->resp);
    return NULL;
}

static void *
s_destroyer (void *arg)
{
    gz_http_destroy ((gz_http_t **) arg);
    return NULL;
}

//  Wait (up to 5 s) until connections to port are refused: a server
//  being destroyed refuses them as soon as it starts draining.
static void
s_wait_refused (int port)
{
    bool refused = false;
    int64_t deadline = s_now_ms () + 5000;
    while (!refused && s_now_ms () < deadline) {
        int fd = s_connect (AF_INET, port);
        if (fd < 0)
            refused = errno == ECONNREFUSED;
        else {
            close (fd);
            s_sleep_ms (1);
        }
    }
    assert_true (refused);
}

static void
test_destroy_drains_in_flight (void **state)
{
    (void) state;
    s_handler_state_t st = {0};
    gz_http_t *server = gz_http_new ("127.0.0.1", 0, MAX_BODY, s_handler, &st);
    assert_non_null (server);
    int port = gz_http_port (server);

    s_slow_client_t client = {.port = port};
    pthread_t client_thread, destroy_thread;
    assert_int_equal (pthread_create (&client_thread, NULL, s_slow_client, &client), 0);
    int64_t deadline = s_now_ms () + 5000;
    while (!atomic_load (&st.slow_entered) && s_now_ms () < deadline)
        s_sleep_ms (1);
    assert_true (atomic_load (&st.slow_entered));

    assert_int_equal (pthread_create (&destroy_thread, NULL, s_destroyer, &server), 0);
    //  New connections are refused as soon as draining starts.
    s_wait_refused (port);

    //  The request in flight still completes.
    atomic_store (&st.slow_release, 1);
    pthread_join (client_thread, NULL);
    assert_int_equal (client.rc, 0);
    assert_int_equal (client.resp.status, 200);
    assert_string_equal (client.resp.body, "slow done");
    char buf[64];
    assert_non_null (s_header (&client.resp, "Connection", buf, sizeof buf));
    assert_string_equal (buf, "close");
    s_resp_free (&client.resp);
    pthread_join (destroy_thread, NULL);
    assert_null (server);
}

//  ---- deferred replies (pool server)

typedef struct {
    int port;
    char path[64];
    s_resp_t resp;
    int rc;
} s_async_client_t;

static void *
s_async_client (void *arg)
{
    s_async_client_t *client = arg;
    char request[256];
    snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
              client->path);
    client->rc = s_roundtrip (client->port, request, &client->resp);
    return NULL;
}

static void
test_defer_reply_from_another_thread (void **state)
{
    s_fixture_t *fx = *state;
    s_async_client_t a = {.port = fx->port, .path = "/defer?q=one"};
    s_async_client_t b = {.port = fx->port, .path = "/defer?q=two"};
    pthread_t ta, tb;
    assert_int_equal (pthread_create (&ta, NULL, s_async_client, &a), 0);
    char *q = NULL;
    gz_http_req_t *handle = s_deferred_take (&fx->handler, &q);
    assert_non_null (handle);
    assert_string_equal (q, "one");
    //  This thread is not one of the server's: reply on the handle.
    gz_http_reply_json (handle, 201, json_pack ("{s:s}", "q", q));
    free (q);
    pthread_join (ta, NULL);
    assert_int_equal (a.rc, 0);
    assert_int_equal (a.resp.status, 201);
    assert_string_equal (a.resp.body, "{\"q\":\"one\"}");
    char buf[64];
    assert_non_null (s_header (&a.resp, "Cache-Control", buf, sizeof buf));
    s_resp_free (&a.resp);

    //  Or hand it back to an HTTP thread to render.
    assert_int_equal (pthread_create (&tb, NULL, s_async_client, &b), 0);
    handle = s_deferred_take (&fx->handler, &q);
    assert_non_null (handle);
    assert_int_equal (gz_http_resume (&handle, s_resume_echo, "arg"), 0);
    assert_null (handle);
    free (q);
    pthread_join (tb, NULL);
    assert_int_equal (b.rc, 0);
    assert_int_equal (b.resp.status, 200);
    assert_string_equal (b.resp.body, "resumed two arg");
    s_resp_free (&b.resp);

    //  Inline handlers still work on a pool server.
    s_resp_t resp;
    assert_int_equal (s_roundtrip (fx->port,
                                   "GET /echo?q=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                                   &resp),
                      0);
    assert_int_equal (resp.status, 200);
    s_resp_free (&resp);
}

typedef struct {
    s_handler_state_t *st;
    int count;
} s_replier_t;

//  Answers deferred requests as they come, alternating reply and resume.
static void *
s_replier (void *arg)
{
    s_replier_t *r = arg;
    for (int i = 0; i < r->count; i++) {
        char *q = NULL;
        gz_http_req_t *handle = s_deferred_take (r->st, &q);
        if (!handle)
            break;
        if (i % 2 == 0) {
            char text[64];
            snprintf (text, sizeof text, "resumed %s arg", q);
            gz_http_reply (handle, 200, "text/plain", text, strlen (text));
        }
        else
            gz_http_resume (&handle, s_resume_echo, "arg");
        free (q);
    }
    return NULL;
}

static void
test_defer_many_at_once (void **state)
{
    s_fixture_t *fx = *state;
    enum { CLIENTS = 200 };
    s_async_client_t *clients = calloc (CLIENTS, sizeof *clients);
    pthread_t threads[CLIENTS], replier;
    s_replier_t r = {&fx->handler, CLIENTS};
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].port = fx->port;
        snprintf (clients[i].path, sizeof clients[i].path, "/defer?q=n%d", i);
        assert_int_equal (pthread_create (&threads[i], NULL, s_async_client, &clients[i]), 0);
    }
    //  Let many pile up before anyone answers.
    int64_t deadline = s_now_ms () + 5000;
    while (atomic_load (&fx->handler.deferred_total) < CLIENTS / 2 && s_now_ms () < deadline)
        s_sleep_ms (1);
    assert_int_equal (pthread_create (&replier, NULL, s_replier, &r), 0);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (clients[i].rc, 0);
        assert_int_equal (clients[i].resp.status, 200);
        char expected[64];
        snprintf (expected, sizeof expected, "resumed n%d arg", i);
        assert_string_equal (clients[i].resp.body, expected);
        s_resp_free (&clients[i].resp);
    }
    pthread_join (replier, NULL);
    free (clients);
}

static void
test_defer_client_gone (void **state)
{
    s_fixture_t *fx = *state;
    //  Clients that hang up while their request is deferred: answering
    //  them later must neither crash nor leak (ASan build).
    for (int i = 0; i < 4; i++) {
        int fd = s_connect (AF_INET, fx->port);
        assert_true (fd >= 0);
        const char *request = "GET /defer?q=gone HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_int_equal (s_send_all (fd, request, strlen (request)), 0);
        char *q = NULL;
        gz_http_req_t *handle = s_deferred_take (&fx->handler, &q);
        assert_non_null (handle);
        close (fd);
        s_sleep_ms (5);
        if (i % 2 == 0)
            gz_http_reply (handle, 200, "text/plain", "late", 4);
        else
            assert_int_equal (gz_http_resume (&handle, s_resume_echo, "late"), 0);
        free (q);
    }
    s_resp_t resp;
    assert_int_equal (
        s_roundtrip (fx->port, "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &resp),
        0);
    assert_int_equal (resp.status, 200);
    s_resp_free (&resp);
}

static void
test_defer_timeout (void **state)
{
    (void) state;
    s_handler_state_t st = {0};
    pthread_mutex_init (&st.lock, NULL);
    gz_http_t *server = gz_http_new_pool ("127.0.0.1", 0, MAX_BODY, 2, s_handler, &st);
    assert_non_null (server);
    gz_http_set_defer_timeout (server, 200, s_timeout_answer, NULL);
    s_async_client_t a = {.port = gz_http_port (server), .path = "/defer?q=slow"};
    s_async_client_t b = {.port = gz_http_port (server), .path = "/defer?q=slow2"};
    pthread_t ta, tb;
    assert_int_equal (pthread_create (&ta, NULL, s_async_client, &a), 0);
    assert_int_equal (pthread_create (&tb, NULL, s_async_client, &b), 0);
    pthread_join (ta, NULL);
    pthread_join (tb, NULL);
    assert_int_equal (a.rc, 0);
    assert_int_equal (a.resp.status, 504);
    assert_string_equal (a.resp.body, "timeout slow");
    assert_int_equal (b.resp.status, 504);
    s_resp_free (&a.resp);
    s_resp_free (&b.resp);
    //  The owners answer late: nothing is sent, the handles are freed.
    char *q = NULL;
    gz_http_req_t *handle = s_deferred_take (&st, &q);
    assert_non_null (handle);
    assert_int_equal (gz_http_resume (&handle, s_resume_echo, "late"), -1);
    assert_null (handle);
    free (q);
    handle = s_deferred_take (&st, &q);
    assert_non_null (handle);
    gz_http_reply (handle, 200, "text/plain", "late", 4);
    free (q);
    gz_http_destroy (&server);
    pthread_mutex_destroy (&st.lock);
}

static void
test_destroy_with_deferred (void **state)
{
    (void) state;
    s_handler_state_t st = {0};
    pthread_mutex_init (&st.lock, NULL);
    gz_http_t *server = gz_http_new_pool ("127.0.0.1", 0, MAX_BODY, 2, s_handler, &st);
    assert_non_null (server);
    gz_http_set_drain_ms (server, 1000);
    enum { N = 3 };
    s_async_client_t clients[N];
    pthread_t threads[N], destroy_thread;
    for (int i = 0; i < N; i++) {
        clients[i] = (s_async_client_t){.port = gz_http_port (server)};
        snprintf (clients[i].path, sizeof clients[i].path, "/defer?q=d%d", i);
        assert_int_equal (pthread_create (&threads[i], NULL, s_async_client, &clients[i]), 0);
    }
    gz_http_req_t *handles[N];
    char *qs[N];
    for (int i = 0; i < N; i++) {
        handles[i] = s_deferred_take (&st, &qs[i]);
        assert_non_null (handles[i]);
    }
    int port = gz_http_port (server);
    int64_t start = s_now_ms ();
    assert_int_equal (pthread_create (&destroy_thread, NULL, s_destroyer, &server), 0);
    //  One is answered while destroy drains (once it refuses new
    //  connections): it gets its answer.
    s_wait_refused (port);
    gz_http_reply (handles[0], 200, "text/plain", "answered", 8);
    handles[0] = NULL;
    //  The others are never answered in time: destroy answers them 503
    //  and returns.
    pthread_join (destroy_thread, NULL);
    assert_null (server);
    assert_true (s_now_ms () - start < 5000);
    int answered = 0, unavailable = 0;
    for (int i = 0; i < N; i++) {
        pthread_join (threads[i], NULL);
        assert_int_equal (clients[i].rc, 0);
        if (clients[i].resp.status == 200)
            answered++;
        if (clients[i].resp.status == 503)
            unavailable++;
        char buf[64];
        assert_non_null (s_header (&clients[i].resp, "Connection", buf, sizeof buf));
        assert_string_equal (buf, "close");
        s_resp_free (&clients[i].resp);
    }
    assert_int_equal (answered, 1);
    assert_int_equal (unavailable, N - 1);
    //  Their owners answer after the server is gone: only the handles go.
    assert_int_equal (gz_http_resume (&handles[1], s_resume_echo, "late"), -1);
    gz_http_reply (handles[2], 200, "text/plain", "late", 4);
    for (int i = 0; i < N; i++)
        free (qs[i]);
    pthread_mutex_destroy (&st.lock);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_get_query_and_headers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_post_form, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_forms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_body_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handler_without_reply_gets_500, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_response_headers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_requests, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_slow_clients_do_not_block, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_keep_alive_and_aborted_uploads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_port_in_use_fails, s_setup, s_teardown),
        cmocka_unit_test (test_large_body_within_limit),
        cmocka_unit_test (test_form_decode),
        cmocka_unit_test (test_ipv6_client_address),
        cmocka_unit_test (test_all_addresses),
        cmocka_unit_test (test_destroy_drains_in_flight),
        cmocka_unit_test_setup_teardown (test_get_query_and_headers, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_post_form, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_forms, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_body_limits, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_handler_without_reply_gets_500, s_setup_pool,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_response_headers, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_concurrent_requests, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_slow_clients_do_not_block, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_keep_alive_and_aborted_uploads, s_setup_pool,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_defer_reply_from_another_thread, s_setup_pool,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_defer_many_at_once, s_setup_pool, s_teardown),
        cmocka_unit_test_setup_teardown (test_defer_client_gone, s_setup_pool, s_teardown),
        cmocka_unit_test (test_defer_timeout),
        cmocka_unit_test (test_destroy_with_deferred),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
