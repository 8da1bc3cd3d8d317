/*  Unit tests for gz_http's connection limits (gz_http_guard.c): what one
    client may hold. Raw sockets from 127.0.0.2 play the hostile client;
    127.0.0.1 is everyone else. Covers the per-address limit (and trusted
    proxies' exemption), the header deadline that bytes do not extend,
    the body deadline, and a keep-alive connection waiting for its next
    request. And gz_http_same_origin (login CSRF), which trusts
    X-Forwarded-Host only from a trusted proxy.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "gz_http.h"

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

static void
s_handler (gz_http_req_t *req, void *arg)
{
    (void) arg;
    gz_http_reply (req, 200, "text/plain", "ok", 2);
}

//  A TCP connection from src (NULL: any) to 127.0.0.1:port, or -1.
static int
s_connect_from (const char *src, int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    if (src) {
        inet_pton (AF_INET, src, &sin.sin_addr);
        if (bind (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
            close (fd);
            return -1;
        }
    }
    sin.sin_port = htons ((uint16_t) port);
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    if (connect (fd, (struct sockaddr *) &sin, sizeof sin) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

static void
s_send (int fd, const char *text)
{
    assert_int_equal (send (fd, text, strlen (text), MSG_NOSIGNAL), (ssize_t) strlen (text));
}

//  True when the server ended the connection within ms (EOF or reset);
//  bytes that arrive meanwhile are read and dropped.
static bool
s_closed_within (int fd, int ms)
{
    int64_t end = s_now_ms () + ms;
    for (int64_t now = s_now_ms (); now < end; now = s_now_ms ()) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, (int) (end - now)) <= 0)
            continue;
        char buf[512];
        ssize_t n = recv (fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

//  Send a whole request on fd and read until the "ok" body: true if it
//  came within 2 s.
static bool
s_request_ok (int fd, const char *connection)
{
    char req[128];
    snprintf (req, sizeof req, "GET /x HTTP/1.1\r\nHost: t\r\nConnection: %s\r\n\r\n", connection);
    s_send (fd, req);
    char buf[1024];
    size_t len = 0;
    int64_t end = s_now_ms () + 2000;
    while (s_now_ms () < end && len < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv (fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
        buf[len] = 0;
        if (strstr (buf, "\r\n\r\nok"))
            return strncmp (buf, "HTTP/1.1 200", 12) == 0;
    }
    return false;
}

//  Someone else (127.0.0.1) gets an answer at once.
static void
s_assert_others_served (int port)
{
    int64_t start = s_now_ms ();
    int fd = s_connect_from ("127.0.0.1", port);
    assert_true (fd >= 0);
    assert_true (s_request_ok (fd, "close"));
    close (fd);
    assert_true (s_now_ms () - start < 1000);
}

static gz_http_t *
s_server (gz_http_limits_t limits)
{
    gz_http_t *server = gz_http_new_limited ("127.0.0.1", 0, 1024, 2, &limits, s_handler, NULL);
    assert_non_null (server);
    return server;
}

static void
test_per_address_limit (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.max_per_address = 4;
    gz_http_t *server = s_server (limits);
    int port = gz_http_port (server);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = s_connect_from ("127.0.0.2", port);
        assert_true (fds[i] >= 0);
    }
    //  (Accepted by then: two threads accept, in no fixed order.)
    s_sleep_ms (300);
    //  The fifth from that address is shut at once; the four stay.
    int extra = s_connect_from ("127.0.0.2", port);
    assert_true (extra >= 0);
    assert_true (s_closed_within (extra, 1000));
    close (extra);
    assert_int_equal (gz_http_refused_total (server), 1);
    s_assert_others_served (port);
    //  The four still work, and a freed slot can be taken again.
    assert_true (s_request_ok (fds[0], "keep-alive"));
    close (fds[1]);
    s_sleep_ms (300);
    int again = s_connect_from ("127.0.0.2", port);
    assert_true (again >= 0);
    assert_true (s_request_ok (again, "close"));
    close (again);
    assert_int_equal (gz_http_refused_total (server), 1);
    for (int i = 0; i < 4; i++)
        if (i != 1)
            close (fds[i]);
    gz_http_destroy (&server);
}

static void
test_trusted_proxy_exempt (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.max_per_address = 2;
    gz_http_t *server = s_server (limits);
    assert_int_equal (gz_http_set_trusted_proxies (server, "127.0.0.2"), 0);
    int port = gz_http_port (server);
    int fds[6];
    for (int i = 0; i < 6; i++) {
        fds[i] = s_connect_from ("127.0.0.2", port);
        assert_true (fds[i] >= 0);
    }
    assert_true (s_request_ok (fds[5], "close"));
    assert_int_equal (gz_http_refused_total (server), 0);
    for (int i = 0; i < 6; i++)
        close (fds[i]);
    gz_http_destroy (&server);
}

static void
test_header_deadline_not_extended (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.header_timeout_s = 1;
    gz_http_t *server = s_server (limits);
    int port = gz_http_port (server);
    int fd = s_connect_from ("127.0.0.2", port);
    assert_true (fd >= 0);
    int64_t start = s_now_ms ();
    s_send (fd, "GET /x HTTP/1.1\r\nHost: t\r\n");
    //  A header line every 200 ms: each would reset an idle timeout.
    bool closed = false;
    while (!closed && s_now_ms () - start < 4000) {
        if (send (fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) != 11)
            break;
        closed = s_closed_within (fd, 200);
    }
    int64_t took = s_now_ms () - start;
    close (fd);
    assert_true (took >= 900);
    assert_true (took < 2500);
    assert_true (gz_http_cut_total (server) >= 1);
    s_assert_others_served (port);
    gz_http_destroy (&server);
}

static void
test_body_deadline (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.body_timeout_s = 1;
    gz_http_t *server = s_server (limits);
    int port = gz_http_port (server);
    int fd = s_connect_from ("127.0.0.2", port);
    assert_true (fd >= 0);
    int64_t start = s_now_ms ();
    s_send (fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
    bool closed = false;
    while (!closed && s_now_ms () - start < 4000) {
        if (send (fd, "a", 1, MSG_NOSIGNAL) != 1)
            break;
        closed = s_closed_within (fd, 200);
    }
    int64_t took = s_now_ms () - start;
    close (fd);
    assert_true (took >= 900);
    assert_true (took < 2500);
    assert_true (gz_http_cut_total (server) >= 1);
    gz_http_destroy (&server);
}

static void
test_keep_alive_waits_with_header_deadline (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    limits.header_timeout_s = 1;
    gz_http_t *server = s_server (limits);
    int port = gz_http_port (server);
    int fd = s_connect_from ("127.0.0.2", port);
    assert_true (fd >= 0);
    //  Two requests well within the deadline, 600 ms apart: both served
    //  (the deadline starts again after each answer).
    assert_true (s_request_ok (fd, "keep-alive"));
    s_sleep_ms (600);
    assert_true (s_request_ok (fd, "keep-alive"));
    s_sleep_ms (600);
    assert_true (s_request_ok (fd, "keep-alive"));
    //  Then idle: closed after about the header deadline, not the idle one.
    int64_t start = s_now_ms ();
    assert_true (s_closed_within (fd, 3000));
    assert_true (s_now_ms () - start < 2500);
    close (fd);
    gz_http_destroy (&server);
}

static void
test_limits_default_sized_to_descriptors (void **state)
{
    (void) state;
    gz_http_limits_t d = gz_http_limits_default ();
    assert_int_equal (d.max_per_address, 64);
    assert_int_equal (d.header_timeout_s, 10);
    assert_int_equal (d.body_timeout_s, 60);
    assert_int_equal (d.idle_timeout_s, 30);
    //  At least 64, and never more than the descriptors allow.
    int budget = gz_http_fd_budget ();
    assert_true (budget >= 64);
    assert_true (budget <= 65536 / 5);
}

static void
s_origin_handler (gz_http_req_t *req, void *arg)
{
    (void) arg;
    bool same = gz_http_same_origin (req);
    gz_http_reply (req, 200, "text/plain", same ? "same" : "other", same ? 4 : 5);
}

//  What the server says of a request from src with headers: "same" or
//  "other" (or "" when no answer came).
static void
s_origin (int port, const char *src, const char *headers, char *out, size_t size)
{
    int fd = s_connect_from (src, port);
    assert_true (fd >= 0);
    char req[512];
    snprintf (req, sizeof req,
              "POST /login HTTP/1.1\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n", headers);
    s_send (fd, req);
    char buf[1024];
    size_t len = 0;
    int64_t end = s_now_ms () + 2000;
    while (s_now_ms () < end && len < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv (fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    buf[len] = 0;
    close (fd);
    const char *body = strstr (buf, "\r\n\r\n");
    snprintf (out, size, "%s", body ? body + 4 : "");
}

static void
test_same_origin (void **state)
{
    (void) state;
    gz_http_limits_t limits = gz_http_limits_default ();
    gz_http_t *server =
        gz_http_new_limited ("127.0.0.1", 0, 1024, 2, &limits, s_origin_handler, NULL);
    assert_non_null (server);
    assert_int_equal (gz_http_set_trusted_proxies (server, "127.0.0.2"), 0);
    int port = gz_http_port (server);
    static const struct {
        const char *src, *headers, *want;
    } cases[] = {
        {NULL, "Host: wb.example:8081\r\n", "same"}, //  no Origin, no Referer: curl
        {NULL, "Host: wb.example:8081\r\nOrigin: http://wb.example:8081\r\n", "same"},
        {NULL, "Host: wb.example:8081\r\nOrigin: https://WB.example:8081\r\n", "same"},
        {NULL, "Host: wb.example:8081\r\nOrigin: http://evil.example\r\n", "other"},
        {NULL, "Host: wb.example:8081\r\nOrigin: http://wb.example\r\n", "other"}, //  port
        {NULL, "Host: wb.example:8081\r\nOrigin: null\r\n", "other"},
        {NULL, "Host: wb.example:8081\r\nReferer: http://wb.example:8081/w/login\r\n", "same"},
        {NULL, "Host: wb.example:8081\r\nReferer: http://evil.example/wb.example:8081\r\n",
         "other"},
        {NULL, "Host: wb.example:8081\r\nOrigin: http://wb.example:8081@evil.example\r\n", "other"},
        //  Origin wins over Referer.
        {NULL,
         "Host: wb.example:8081\r\nOrigin: http://evil.example\r\nReferer: "
         "http://wb.example:8081/\r\n",
         "other"},
        //  Behind the trusted proxy, the host the browser used.
        {"127.0.0.2",
         "Host: 10.0.0.5:8081\r\nX-Forwarded-Host: gongzhi.example\r\nOrigin: "
         "https://gongzhi.example\r\n",
         "same"},
        //  Not from the proxy: its X-Forwarded-Host is not believed.
        {"127.0.0.1",
         "Host: 10.0.0.5:8081\r\nX-Forwarded-Host: gongzhi.example\r\nOrigin: "
         "https://gongzhi.example\r\n",
         "other"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[16];
        s_origin (port, cases[i].src, cases[i].headers, got, sizeof got);
        if (strcmp (got, cases[i].want) != 0)
            fail_msg ("case %zu (%s): %s, want %s", i, cases[i].headers, got, cases[i].want);
    }
    gz_http_destroy (&server);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_per_address_limit),
        cmocka_unit_test (test_trusted_proxy_exempt),
        cmocka_unit_test (test_same_origin),
        cmocka_unit_test (test_header_deadline_not_extended),
        cmocka_unit_test (test_body_deadline),
        cmocka_unit_test (test_keep_alive_waits_with_header_deadline),
        cmocka_unit_test (test_limits_default_sized_to_descriptors),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
