/*  Unit tests for notify's channels against real local peers: an
    in-process HTTP receiver (gz_http) for the webhook, the SMS gateway
    and the WeChat-style API, a raw TCP server that answers garbage, a
    port nobody listens on, and an SMTP sink (gz_testsmtp). Each outcome
    (sent, retry, refused) as the channel must report it, and what went
    over the wire: the webhook's signature verifies, the e-mail's subject
    and body decode to the Chinese text exactly. A channel keeps its
    connection: two sends, one TCP connection at the receiver.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <jansson.h>

#include "gz_http.h"
#include "gz_testsmtp.h"
#include "gz_text.h"
#include "notify_channel.h"

//  ---- a receiver that records the last request and answers as told

typedef struct {
    pthread_mutex_t lock;
    int status;       //  what to answer
    char answer[256]; //  and with which body
    int delay_ms;     //  before answering
    size_t big;       //  when set: answer this many bytes instead
    char body[8192], path[256], query[256], key[256], sig[256], auth[256];
    atomic_int calls;
} s_rx_t;

static void
s_copy (char *dst, size_t size, const char *src)
{
    snprintf (dst, size, "%s", src ? src : "");
}

static void
s_rx_handler (gz_http_req_t *req, void *arg)
{
    s_rx_t *rx = arg;
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    pthread_mutex_lock (&rx->lock);
    s_copy (rx->body, sizeof rx->body, body);
    s_copy (rx->path, sizeof rx->path, gz_http_path (req));
    s_copy (rx->query, sizeof rx->query, gz_http_query (req, "access_token"));
    s_copy (rx->key, sizeof rx->key, gz_http_header (req, "Idempotency-Key"));
    s_copy (rx->sig, sizeof rx->sig, gz_http_header (req, "X-Gongzhi-Signature"));
    s_copy (rx->auth, sizeof rx->auth, gz_http_header (req, "Authorization"));
    int status = rx->status, delay = rx->delay_ms;
    size_t big = rx->big;
    char answer[256];
    s_copy (answer, sizeof answer, rx->answer);
    pthread_mutex_unlock (&rx->lock);
    atomic_fetch_add (&rx->calls, 1);
    if (delay)
        usleep ((useconds_t) delay * 1000);
    if (big) {
        char *text = malloc (big);
        memset (text, ' ', big);
        gz_http_reply (req, status, "text/plain", text, big);
        free (text);
        return;
    }
    gz_http_reply (req, status, "application/json", answer, strlen (answer));
}

static void
s_rx_set (s_rx_t *rx, int status, const char *answer)
{
    pthread_mutex_lock (&rx->lock);
    rx->status = status;
    s_copy (rx->answer, sizeof rx->answer, answer);
    pthread_mutex_unlock (&rx->lock);
}

static json_t *
s_params (void)
{
    return json_pack ("{s:s, s:s}", "request_id", "100001", "category", "物业管理");
}

static notify_msg_t
s_msg (const json_t *params)
{
    return (notify_msg_t){.key = "routing:7:resident:100001:webhook",
                          .event = "routed",
                          .template_name = "routed.resident",
                          .request_id = "100001",
                          .recipient = "resident:100001",
                          .phone = "13800005678",
                          .email = "zhang@example.com",
                          .openid = "oOPENID123",
                          .subject = "您的诉求已受理：100001号，物业管理，请点击链接查看办理进度",
                          .text = "您的诉求（100001号）已由示例社区网格员张**办理。",
                          .params = params,
                          .link = "http://127.0.0.1/r/100001?t=abc"};
}

//  ---- pure pieces

static void
test_signature_known_value (void **state)
{
    (void) state;
    //  printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
    char *sig = notify_webhook_signature ("secret", 1700000000, "{\"a\":1}", 7);
    assert_string_equal (
        sig, "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
    free (sig);
}

//  Base64 of [p, end) decoded into buf; its length.
static int
s_unbase64 (const char *p, const char *end, unsigned char *buf)
{
    int len = EVP_DecodeBlock (buf, (const unsigned char *) p, (int) (end - p));
    assert_true (len >= 0);
    for (const char *q = end; q > p && q[-1] == '='; q--)
        len--; //  EVP_DecodeBlock counts the padding as zero bytes
    return len;
}

//  Decode "=?UTF-8?B?...?=" words (folded) back into text.
static char *
s_unwords (const char *words)
{
    char *out = calloc (1, strlen (words) + 1);
    size_t n = 0;
    for (const char *p = strstr (words, "=?UTF-8?B?"); p; p = strstr (p, "=?UTF-8?B?")) {
        p += 10;
        const char *end = strstr (p, "?=");
        assert_non_null (end);
        assert_true (end - p + 12 <= 75); //  each word at most 75 characters
        unsigned char buf[128];
        int len = s_unbase64 (p, end, buf);
        //  Each word's bytes are whole UTF-8 on their own.
        assert_true (gz_utf8_valid ((const char *) buf, (size_t) len));
        memcpy (out + n, buf, (size_t) len);
        n += (size_t) len;
        p = end + 2;
    }
    out[n] = 0;
    return out;
}

//  Each line of a header (folded at CRLF) within limit characters.
static void
s_assert_lines_within (const char *header, size_t limit)
{
    for (const char *p = header; p;) {
        const char *end = strstr (p, "\r\n");
        size_t n = end ? (size_t) (end - p) : strlen (p);
        if (n > limit)
            fail_msg ("a header line of %zu characters: %.*s", n, (int) n, p);
        p = end ? end + 2 : NULL;
    }
}

static void
test_mime_words (void **state)
{
    (void) state;
    const char *subjects[] = {
        "您的诉求已受理：100001号，物业管理，请点击链接查看办理进度。谢谢！",
        "Your request 100001 was accepted and routed to the property management office today",
        "a混合😀mixed文字 with 4-byte 😀😀😀😀😀😀😀😀😀😀😀😀 characters", "短"};
    for (size_t i = 0; i < sizeof subjects / sizeof *subjects; i++) {
        char *words = notify_mime_words (subjects[i]);
        if (i < 3)
            assert_non_null (strstr (words, "\r\n ")); //  long enough to fold
        //  RFC 2047: a line holding encoded-words within 76, "Subject: " too.
        char line[1024];
        snprintf (line, sizeof line, "Subject: %s", words);
        s_assert_lines_within (line, 76);
        char *back = s_unwords (words);
        assert_string_equal (back, subjects[i]);
        free (back);
        free (words);
    }
    char *none = notify_mime_words ("");
    assert_string_equal (none, "");
    free (none);
}

//  ---- HTTP channels against a receiver

typedef struct {
    s_rx_t rx;
    gz_http_t *server;
    char url[128];
    notify_channels_config_t cfg;
} s_fx_t;

static int
s_setup (void **state)
{
    s_fx_t *fx = calloc (1, sizeof *fx);
    pthread_mutex_init (&fx->rx.lock, NULL);
    fx->rx.status = 200;
    snprintf (fx->rx.answer, sizeof fx->rx.answer, "{}");
    fx->server = gz_http_new ("127.0.0.1", 0, 65536, s_rx_handler, &fx->rx);
    if (!fx->server)
        return -1;
    snprintf (fx->url, sizeof fx->url, "http://127.0.0.1:%d/in", gz_http_port (fx->server));
    fx->cfg.webhook_url = strdup (fx->url);
    fx->cfg.webhook_secret = strdup ("hook-secret");
    fx->cfg.sms_url = strdup (fx->url);
    fx->cfg.sms_token = strdup ("sms-token");
    fx->cfg.wechat_url = strdup (fx->url);
    fx->cfg.wechat_token = strdup ("wx token");
    fx->cfg.timeout_ms = 500;
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fx_t *fx = *state;
    gz_http_set_drain_ms (fx->server, 100);
    gz_http_destroy (&fx->server);
    notify_channels_config_clear (&fx->cfg);
    pthread_mutex_destroy (&fx->rx.lock);
    free (fx);
    return 0;
}

static notify_outcome_t
s_send (s_fx_t *fx, const char *channel, const notify_msg_t *msg, char *err, size_t errlen)
{
    notify_channel_t *ch = notify_channel_new (&fx->cfg, channel);
    assert_non_null (ch);
    notify_outcome_t o = notify_channel_send (ch, msg, err, errlen);
    notify_channel_destroy (&ch);
    return o;
}

static void
test_webhook (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_SENT);
    assert_string_equal (fx->rx.key, msg.key);
    //  The signature verifies with the secret over "<t>.<body>".
    long long t = 0;
    assert_int_equal (sscanf (fx->rx.sig, "t=%lld,", &t), 1);
    assert_true (llabs ((long long) time (NULL) - t) < 5);
    char *expected = notify_webhook_signature ("hook-secret", t, fx->rx.body, strlen (fx->rx.body));
    assert_string_equal (fx->rx.sig, expected);
    free (expected);
    json_t *body = json_loads (fx->rx.body, 0, NULL);
    assert_string_equal (json_string_value (json_object_get (body, "text")), msg.text);
    assert_string_equal (json_string_value (json_object_get (body, "event")), "routed");
    assert_string_equal (json_string_value (json_object_get (body, "link")), msg.link);
    //  No contact data goes to the webhook.
    assert_null (strstr (fx->rx.body, "13800005678"));
    assert_null (strstr (fx->rx.body, "zhang@example.com"));
    json_decref (body);
    //  What each answer means.
    int statuses[] = {500, 503, 408, 429, 400, 404, 201};
    notify_outcome_t outcomes[] = {NOTIFY_RETRY,   NOTIFY_RETRY,   NOTIFY_RETRY, NOTIFY_RETRY,
                                   NOTIFY_REFUSED, NOTIFY_REFUSED, NOTIFY_SENT};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        s_rx_set (&fx->rx, statuses[i], "{}");
        assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), outcomes[i]);
        if (outcomes[i] != NOTIFY_SENT) {
            char want[32];
            snprintf (want, sizeof want, "HTTP %d", statuses[i]);
            assert_string_equal (err, want);
        }
    }
    json_decref (params);
}

static void
test_webhook_slow_receiver_retried (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    pthread_mutex_lock (&fx->rx.lock);
    fx->rx.delay_ms = 3000; //  far past the 500 ms timeout
    pthread_mutex_unlock (&fx->rx.lock);
    struct timespec a, b;
    clock_gettime (CLOCK_MONOTONIC, &a);
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_RETRY);
    clock_gettime (CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    //  Given up at the timeout, well before the receiver would answer
    //  (a loaded machine may add a second).
    assert_true (ms >= 400 && ms < 2500);
    assert_non_null (strstr (err, "imeout"));
    json_decref (params);
}

//  A TCP server that answers one connection with text that is not HTTP.
static void *
s_garbage (void *arg)
{
    int lfd = *(int *) arg;
    int fd = accept (lfd, NULL, NULL);
    if (fd >= 0) {
        char buf[4096];
        if (recv (fd, buf, sizeof buf, 0) > 0 &&
            send (fd, "SSH-2.0-nope\r\n\r\n", 16, MSG_NOSIGNAL) < 0)
            buf[0] = 0;
        close (fd);
    }
    return NULL;
}

static void
test_webhook_garbage_and_nobody_retried (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof sin;
    assert_int_equal (bind (lfd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal (listen (lfd, 4), 0);
    getsockname (lfd, (struct sockaddr *) &sin, &len);
    pthread_t t;
    pthread_create (&t, NULL, s_garbage, &lfd);
    free (fx->cfg.webhook_url);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/in", ntohs (sin.sin_port));
    fx->cfg.webhook_url = strdup (url);
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_RETRY);
    pthread_join (t, NULL);
    close (lfd);
    //  Now nobody listens there.
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_RETRY);
    assert_true (strlen (err) > 0);
    json_decref (params);
}

//  A message without variables, subject or link: the channels still send
//  it, with an empty params object and null fields.
static void
test_without_params (void **state)
{
    s_fx_t *fx = *state;
    notify_msg_t msg = s_msg (NULL);
    msg.subject = NULL;
    msg.link = NULL;
    char err[256];
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_SENT);
    json_t *body = json_loads (fx->rx.body, 0, NULL);
    assert_true (json_is_object (json_object_get (body, "params")));
    assert_int_equal (json_object_size (json_object_get (body, "params")), 0);
    assert_true (json_is_null (json_object_get (body, "link")));
    json_decref (body);
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_SENT);
    s_rx_set (&fx->rx, 200, "{\"errcode\":0}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_SENT);
    body = json_loads (fx->rx.body, 0, NULL);
    assert_null (json_object_get (body, "url"));
    assert_string_equal (json_string_value (json_object_get (
                             json_object_get (json_object_get (body, "data"), "remark"), "value")),
                         msg.text);
    json_decref (body);
}

//  A receiver whose 2xx answer is longer than the channel keeps: still sent.
static void
test_webhook_long_answer_sent (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    pthread_mutex_lock (&fx->rx.lock);
    fx->rx.big = 300000;
    pthread_mutex_unlock (&fx->rx.lock);
    assert_int_equal (s_send (fx, "webhook", &msg, err, sizeof err), NOTIFY_SENT);
    json_decref (params);
}

//  ---- a keep-alive HTTP/1.1 receiver that counts its TCP connections

typedef struct {
    int lfd;
    atomic_int accepts, requests;
    atomic_bool stop;
    pthread_t thread;
} s_ka_t;

//  Answer every complete request buffered on fd; false when it closed.
static bool
s_ka_serve (s_ka_t *ka, int fd, char *buf, size_t *len, size_t cap)
{
    ssize_t got = recv (fd, buf + *len, cap - *len - 1, 0);
    if (got <= 0)
        return false;
    *len += (size_t) got;
    buf[*len] = 0;
    char *end;
    while ((end = strstr (buf, "\r\n\r\n"))) {
        const char *cl = strcasestr (buf, "\r\ncontent-length:");
        size_t body = cl && cl < end ? (size_t) strtoul (cl + 17, NULL, 10) : 0;
        size_t whole = (size_t) (end + 4 - buf) + body;
        if (*len < whole)
            break;
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\n\r\n{}";
        //  Counted before the answer: the client may check the count as
        //  soon as it has read it.
        atomic_fetch_add (&ka->requests, 1);
        if (send (fd, ok, strlen (ok), MSG_NOSIGNAL) < 0)
            return false;
        memmove (buf, buf + whole, *len - whole + 1);
        *len -= whole;
    }
    return *len + 1 < cap;
}

static void *
s_ka_run (void *arg)
{
    s_ka_t *ka = arg;
    struct pollfd fds[8] = {{ka->lfd, POLLIN, 0}};
    char bufs[8][8192];
    size_t lens[8] = {0};
    nfds_t n = 1;
    while (!atomic_load (&ka->stop)) {
        if (poll (fds, n, 50) <= 0)
            continue;
        for (nfds_t i = n; i-- > 1;)
            if (fds[i].revents && !s_ka_serve (ka, fds[i].fd, bufs[i], &lens[i], sizeof bufs[i])) {
                close (fds[i].fd);
                fds[i] = fds[n - 1];
                memcpy (bufs[i], bufs[n - 1], lens[n - 1] + 1);
                lens[i] = lens[n - 1];
                n--;
            }
        if (fds[0].revents & POLLIN) {
            int fd = accept (ka->lfd, NULL, NULL);
            if (fd >= 0 && n < 8) {
                atomic_fetch_add (&ka->accepts, 1);
                fds[n] = (struct pollfd){fd, POLLIN, 0};
                lens[n++] = 0;
            }
            else if (fd >= 0)
                close (fd);
        }
    }
    for (nfds_t i = 1; i < n; i++)
        close (fds[i].fd);
    return NULL;
}

//  A listening socket on 127.0.0.1 (a free port); its port in *port.
static int
s_listen (int *port)
{
    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof sin;
    assert_int_equal (bind (lfd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal (listen (lfd, 8), 0);
    getsockname (lfd, (struct sockaddr *) &sin, &len);
    *port = ntohs (sin.sin_port);
    return lfd;
}

static void
test_connection_reused (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256], url[64];
    s_ka_t ka = {0};
    int port = 0;
    ka.lfd = s_listen (&port);
    pthread_create (&ka.thread, NULL, s_ka_run, &ka);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/in", port);
    free (fx->cfg.webhook_url);
    fx->cfg.webhook_url = strdup (url);
    free (fx->cfg.sms_url);
    fx->cfg.sms_url = strdup (url);
    //  One channel, three messages: one connection.
    notify_channel_t *ch = notify_channel_new (&fx->cfg, "webhook");
    for (int i = 0; i < 3; i++)
        assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_SENT);
    assert_int_equal (atomic_load (&ka.requests), 3);
    assert_int_equal (atomic_load (&ka.accepts), 1);
    //  A second channel (another worker) has its own.
    notify_channel_t *sms = notify_channel_new (&fx->cfg, "sms");
    assert_int_equal (notify_channel_send (sms, &msg, err, sizeof err), NOTIFY_SENT);
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_SENT);
    assert_int_equal (atomic_load (&ka.requests), 5);
    assert_int_equal (atomic_load (&ka.accepts), 2);
    notify_channel_destroy (&sms);
    notify_channel_destroy (&ch);
    atomic_store (&ka.stop, true);
    pthread_join (ka.thread, NULL);
    close (ka.lfd);
    json_decref (params);
}

static void
test_sms (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    s_rx_set (&fx->rx, 200, "{\"code\":\"OK\",\"message\":\"OK\"}");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_SENT);
    assert_string_equal (fx->rx.auth, "Bearer sms-token");
    json_t *body = json_loads (fx->rx.body, 0, NULL);
    assert_string_equal (json_string_value (json_object_get (body, "phone")), "13800005678");
    assert_string_equal (json_string_value (json_object_get (body, "template_code")),
                         "routed.resident");
    assert_string_equal (json_string_value (json_object_get (body, "out_id")), msg.key);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (body, "params"), "category")),
        "物业管理");
    json_decref (body);
    s_rx_set (&fx->rx, 200, "{\"code\":\"isv.BUSINESS_LIMIT_CONTROL\"}");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_RETRY);
    assert_non_null (strstr (err, "isv.BUSINESS_LIMIT_CONTROL"));
    s_rx_set (&fx->rx, 200, "{\"code\":\"ERR\",\"message\":\"gateway error\"}");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_RETRY);
    assert_string_equal (err, "the gateway answered code ERR");
    //  Codes as other gateways spell them.
    const char *answers[] = {"{\"code\":0}",      "{\"code\":\"0\"}",
                             "{\"Code\":\"OK\"}", "{\"code\":\"Ok\"}",
                             "{\"code\":1001}",   "{\"Code\":\"isv.MOBILE_NUMBER_ILLEGAL\"}"};
    notify_outcome_t outcomes[] = {NOTIFY_SENT, NOTIFY_SENT,  NOTIFY_SENT,
                                   NOTIFY_SENT, NOTIFY_RETRY, NOTIFY_RETRY};
    for (size_t i = 0; i < sizeof answers / sizeof *answers; i++) {
        s_rx_set (&fx->rx, 200, answers[i]);
        assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), outcomes[i]);
    }
    //  A 2xx without a code (a gateway that answers with its status only).
    s_rx_set (&fx->rx, 202, "accepted");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_SENT);
    s_rx_set (&fx->rx, 401, "{\"code\":\"Unauthorized\"}");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_REFUSED);
    s_rx_set (&fx->rx, 503, "{}");
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_RETRY);
    int before = atomic_load (&fx->rx.calls);
    msg.phone = NULL;
    assert_int_equal (s_send (fx, "sms", &msg, err, sizeof err), NOTIFY_REFUSED);
    assert_int_equal (atomic_load (&fx->rx.calls), before); //  nothing sent
    json_decref (params);
}

static void
test_wechat (void **state)
{
    s_fx_t *fx = *state;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    char err[256];
    s_rx_set (&fx->rx, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":1}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_SENT);
    assert_string_equal (fx->rx.query, "wx token"); //  escaped on the way, decoded here
    json_t *body = json_loads (fx->rx.body, 0, NULL);
    assert_string_equal (json_string_value (json_object_get (body, "touser")), "oOPENID123");
    assert_string_equal (json_string_value (json_object_get (body, "template_id")),
                         "routed.resident");
    assert_string_equal (json_string_value (json_object_get (body, "url")), msg.link);
    json_t *data = json_object_get (body, "data");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (data, "request_id"), "value")),
        "100001");
    json_decref (body);
    s_rx_set (&fx->rx, 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_RETRY);
    s_rx_set (&fx->rx, 200, "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_RETRY);
    s_rx_set (&fx->rx, 200, "{\"errmsg\":\"ok\"}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_RETRY);
    s_rx_set (&fx->rx, 200, "{\"errcode\":40003,\"errmsg\":\"invalid openid\"}");
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_REFUSED);
    assert_string_equal (err, "errcode 40003");
    msg.openid = NULL;
    assert_int_equal (s_send (fx, "wechat", &msg, err, sizeof err), NOTIFY_REFUSED);
    json_decref (params);
}

//  ---- e-mail against the SMTP sink

//  The value of header name in a message, or NULL (a copy).
static char *
s_header (const char *data, const char *name)
{
    size_t n = strlen (name);
    for (const char *p = data; p && *p; p = strstr (p, "\r\n") ? strstr (p, "\r\n") + 2 : NULL) {
        if (strncmp (p, "\r\n", 2) == 0)
            break; //  end of headers
        if (strncasecmp (p, name, n) == 0 && p[n] == ':') {
            //  Unfold continuation lines.
            const char *v = p + n + 1, *end = v;
            while ((end = strstr (end, "\r\n")) && (end[2] == ' ' || end[2] == '\t'))
                end += 2;
            return strndup (v, end ? (size_t) (end - v) : strlen (v));
        }
    }
    return NULL;
}

static void
test_email (void **state)
{
    (void) state;
    gz_testsmtp_t *smtp = gz_testsmtp_new (false);
    assert_non_null (smtp);
    notify_channels_config_t cfg = {0};
    char url[64];
    snprintf (url, sizeof url, "smtp://127.0.0.1:%d", gz_testsmtp_port (smtp));
    cfg.smtp_url = strdup (url);
    cfg.smtp_from = strdup ("gongzhi@example.org");
    cfg.timeout_ms = 2000;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    notify_channel_t *ch = notify_channel_new (&cfg, "email");
    assert_non_null (ch);
    char err[256];
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_SENT);
    assert_int_equal (gz_testsmtp_count (smtp), 1);
    assert_string_equal (gz_testsmtp_rcpt (smtp, 0), "zhang@example.com");
    assert_string_equal (gz_testsmtp_from (smtp, 0), "gongzhi@example.org");
    const char *data = gz_testsmtp_data (smtp, 0);
    char *subject = s_header (data, "Subject");
    char *decoded = s_unwords (subject);
    assert_string_equal (decoded, msg.subject);
    free (decoded);
    free (subject);
    char *id = s_header (data, "Message-ID");
    assert_non_null (id);
    assert_non_null (strstr (id, "@gongzhi>"));
    free (id);
    //  The body: base64 lines of at most 76, decoding to the text.
    const char *b = strstr (data, "\r\n\r\n") + 4;
    char joined[4096] = "";
    for (const char *line = b; *line;) {
        const char *end = strstr (line, "\r\n");
        size_t n = end ? (size_t) (end - line) : strlen (line);
        assert_true (n <= 76);
        strncat (joined, line, n);
        line += n + (end ? 2 : 0);
    }
    unsigned char text[4096];
    int len = s_unbase64 (joined, joined + strlen (joined), text);
    text[len] = 0;
    assert_string_equal ((char *) text, msg.text);
    //  No address: refused, nothing sent.
    msg.email = NULL;
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_REFUSED);
    assert_int_equal (gz_testsmtp_count (smtp), 1);
    notify_channel_destroy (&ch);
    gz_testsmtp_destroy (&smtp);
    //  The server refuses the recipient (550): for good. Nobody there: retry.
    smtp = gz_testsmtp_new (true);
    free (cfg.smtp_url);
    snprintf (url, sizeof url, "smtp://127.0.0.1:%d", gz_testsmtp_port (smtp));
    cfg.smtp_url = strdup (url);
    ch = notify_channel_new (&cfg, "email");
    msg.email = "nobody@example.com";
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_REFUSED);
    notify_channel_destroy (&ch);
    gz_testsmtp_destroy (&smtp);
    ch = notify_channel_new (&cfg, "email");
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_RETRY);
    notify_channel_destroy (&ch);
    notify_channels_config_clear (&cfg);
    json_decref (params);
}

//  The header section of a message (up to the blank line), a copy.
static char *
s_headers (const char *data)
{
    const char *end = strstr (data, "\r\n\r\n");
    assert_non_null (end);
    return strndup (data, (size_t) (end - data));
}

static void
test_email_headers_and_reuse (void **state)
{
    (void) state;
    gz_testsmtp_t *smtp = gz_testsmtp_new (false);
    assert_non_null (smtp);
    notify_channels_config_t cfg = {0};
    char url[64];
    snprintf (url, sizeof url, "smtp://127.0.0.1:%d", gz_testsmtp_port (smtp));
    cfg.smtp_url = strdup (url);
    cfg.smtp_from = strdup ("共治平台通知中心 <gongzhi@example.org>");
    cfg.timeout_ms = 2000;
    json_t *params = s_params ();
    notify_msg_t msg = s_msg (params);
    notify_channel_t *ch = notify_channel_new (&cfg, "email");
    char err[256];
    //  The same delivery twice (a retry), then another one whose key
    //  differs only at its end: all on one connection.
    const char *other = "routing:7:staff:HGY-W0001-a-rather-long-staff-identifier-from-the-"
                        "directory-of-the-district:email2";
    for (int i = 0; i < 3; i++) {
        msg.key = i < 2 ? "routing:7:staff:HGY-W0001-a-rather-long-staff-identifier-from-the-"
                          "directory-of-the-district:email"
                        : other;
        assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_SENT);
    }
    assert_int_equal (gz_testsmtp_count (smtp), 3);
    assert_int_equal (gz_testsmtp_sessions (smtp), 1);
    //  The envelope has the bare address; the header the encoded name.
    assert_string_equal (gz_testsmtp_from (smtp, 0), "gongzhi@example.org");
    char *from = s_header (gz_testsmtp_data (smtp, 0), "From");
    assert_non_null (strstr (from, "<gongzhi@example.org>"));
    char *name = s_unwords (from);
    assert_string_equal (name, "共治平台通知中心");
    free (name);
    free (from);
    //  Header lines within RFC 5322's 78, those with encoded-words 76.
    for (size_t i = 0; i < 3; i++) {
        char *headers = s_headers (gz_testsmtp_data (smtp, i));
        s_assert_lines_within (headers, 78);
        for (char *line = strtok (headers, "\r\n"); line; line = strtok (NULL, "\r\n"))
            if (strstr (line, "=?"))
                assert_true (strlen (line) <= 76);
        free (headers);
    }
    //  One Message-ID per delivery: a retry repeats it, another key not.
    char *id0 = s_header (gz_testsmtp_data (smtp, 0), "Message-ID");
    char *id1 = s_header (gz_testsmtp_data (smtp, 1), "Message-ID");
    char *id2 = s_header (gz_testsmtp_data (smtp, 2), "Message-ID");
    assert_string_equal (id0, id1);
    assert_string_not_equal (id0, id2);
    char *date = s_header (gz_testsmtp_data (smtp, 0), "Date");
    struct tm tm = {0};
    assert_non_null (strptime (date, " %a, %d %b %Y %H:%M:%S +0000", &tm));
    free (date);
    free (id0);
    free (id1);
    free (id2);
    //  An address that would break the envelope or the headers: refused.
    const char *bad[] = {"zhang@example.com>\r\nBcc: x@y", "no-at-sign", "a b@example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        msg.email = bad[i];
        assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_REFUSED);
    }
    assert_int_equal (gz_testsmtp_count (smtp), 3);
    //  A From that is no address: the operator's mistake, retried.
    free (cfg.smtp_from);
    cfg.smtp_from = strdup ("not an address");
    msg.email = "zhang@example.com";
    assert_int_equal (notify_channel_send (ch, &msg, err, sizeof err), NOTIFY_RETRY);
    assert_non_null (strstr (err, "GZ_NOTIFY_SMTP_FROM"));
    notify_channel_destroy (&ch);
    gz_testsmtp_destroy (&smtp);
    notify_channels_config_clear (&cfg);
    json_decref (params);
}

static void
test_configured (void **state)
{
    (void) state;
    notify_channels_config_t cfg = {0};
    assert_true (notify_channel_configured (&cfg, "log"));
    assert_false (notify_channel_configured (&cfg, "webhook"));
    assert_false (notify_channel_configured (&cfg, "pigeon"));
    assert_null (notify_channel_new (&cfg, "sms"));
    cfg.smtp_url = "smtp://127.0.0.1:25"; //  no From: still off
    assert_false (notify_channel_configured (&cfg, "email"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_signature_known_value),
        cmocka_unit_test (test_mime_words),
        cmocka_unit_test_setup_teardown (test_webhook, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_webhook_slow_receiver_retried, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_webhook_garbage_and_nobody_retried, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_without_params, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_webhook_long_answer_sent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_connection_reused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_sms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wechat, s_setup, s_teardown),
        cmocka_unit_test (test_email),
        cmocka_unit_test (test_email_headers_and_reuse),
        cmocka_unit_test (test_configured),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
