/*  gz_http: a small HTTP server on libmicrohttpd. See gz_http.h.

    DESIGN: libmicrohttpd runs one internal thread that accepts (poll, so
    descriptors above FD_SETSIZE are fine) and one thread per connection,
    so slow clients only ever block their own thread. Each request gets a
    gz_http_req_t on the first call of the access handler; the body is
    collected up to max_body, then our handler runs once (on the last
    call, or at once when Content-Length already says the body is too
    large: then the answer goes out before the body is read and the
    connection is closed). The handler only records its reply; the
    response is queued after it returns. The request is freed in the
    request-completed callback, which libmicrohttpd calls once the
    response is sent or the connection dropped.

    Draining: MHD_stop_daemon shuts down every connection socket, which
    would cut off a handler still working. So destroy first quiesces
    (stop accepting), shuts the listening socket down so new clients are
    refused at once, then waits (up to GZ_HTTP_DRAIN_MS) until no request
    is between its first access call and its completion, and only then
    stops the daemon. Responses sent while draining carry
    "Connection: close" so keep-alive clients go away.  */
#include "gz_http.h"
#include "gz_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GZ_HTTP_CONNECTION_TIMEOUT_S 30 //  idle or stalled connections
#define GZ_HTTP_CONNECTION_LIMIT 1024   //  threads, hence connections
#define GZ_HTTP_DRAIN_MS 15000          //  how long destroy waits for requests

typedef struct {
    char *name;
    char *value;
} s_header_t;

struct _gz_http_t {
    struct MHD_Daemon *daemon;
    gz_http_handler_fn *handler;
    void *arg;
    size_t max_body;
    int port;
    pthread_mutex_t mutex; //  guards in_flight
    pthread_cond_t idle;   //  signalled when in_flight drops to 0
    size_t in_flight;
    atomic_bool draining;
};

struct _gz_http_req_t {
    gz_http_t *server;
    struct MHD_Connection *conn;
    const char *method; //  owned by libmicrohttpd for the request
    const char *path;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool handled; //  our handler ran
    char client_ip[INET6_ADDRSTRLEN];
    int form_state; //  0 not parsed, 1 parsed, -1 malformed
    char **form_names;
    char **form_values;
    size_t form_count;
    s_header_t *headers;
    size_t nheaders, headers_cap;
    bool replied;
    unsigned status;
    struct MHD_Response *response;
};

//  ---- logging

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char text[512];
    vsnprintf (text, sizeof text, fmt, ap);
    //  Keep the logfmt line on one line and the quoting intact.
    size_t len = strlen (text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        text[--len] = 0;
    for (char *p = text; *p; p++)
        if (*p == '"' || *p == '\n' || *p == '\r' || *p == '\\')
            *p = ' ';
    gz_warn ("http", "msg=\"libmicrohttpd\" detail=\"%s\"", text);
}

//  ---- requests

static void
s_client_ip (gz_http_req_t *req)
{
    snprintf (req->client_ip, sizeof req->client_ip, "unknown");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
        inet_ntop (AF_INET, &sin->sin_addr, req->client_ip, sizeof req->client_ip);
    }
    else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
        //  An IPv4 client on a dual-stack socket: show it as IPv4, so the
        //  same client has one spelling (rate limits, logs).
        if (IN6_IS_ADDR_V4MAPPED (&sin6->sin6_addr))
            inet_ntop (AF_INET, &sin6->sin6_addr.s6_addr[12], req->client_ip,
                       sizeof req->client_ip);
        else
            inet_ntop (AF_INET6, &sin6->sin6_addr, req->client_ip, sizeof req->client_ip);
    }
}

static gz_http_req_t *
s_req_new (gz_http_t *server, struct MHD_Connection *conn, const char *url, const char *method)
{
    gz_http_req_t *req = calloc (1, sizeof *req);
    assert (req);
    req->server = server;
    req->conn = conn;
    req->method = method;
    req->path = url;
    s_client_ip (req);
    return req;
}

static void
s_form_clear (gz_http_req_t *req)
{
    for (size_t i = 0; i < req->form_count; i++) {
        free (req->form_names[i]);
        free (req->form_values[i]);
    }
    free (req->form_names);
    free (req->form_values);
    req->form_names = req->form_values = NULL;
    req->form_count = 0;
}

static void
s_req_destroy (gz_http_req_t **req_p)
{
    gz_http_req_t *req = *req_p;
    if (!req)
        return;
    free (req->body);
    s_form_clear (req);
    for (size_t i = 0; i < req->nheaders; i++) {
        free (req->headers[i].name);
        free (req->headers[i].value);
    }
    free (req->headers);
    if (req->response)
        MHD_destroy_response (req->response);
    free (req);
    *req_p = NULL;
}

static void
s_body_discard (gz_http_req_t *req)
{
    req->too_large = true;
    free (req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
}

static void
s_body_append (gz_http_req_t *req, const char *data, size_t size)
{
    if (req->too_large)
        return;
    size_t max = req->server->max_body;
    if (size > max - req->body_len) {
        s_body_discard (req);
        return;
    }
    size_t need = req->body_len + size + 1;
    if (need > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        req->body = realloc (req->body, cap);
        assert (req->body);
        req->body_cap = cap;
    }
    memcpy (req->body + req->body_len, data, size);
    req->body_len += size;
    req->body[req->body_len] = 0;
}

static void
s_in_flight_add (gz_http_t *self, int delta)
{
    pthread_mutex_lock (&self->mutex);
    if (delta > 0)
        self->in_flight++;
    else {
        assert (self->in_flight > 0);
        if (--self->in_flight == 0)
            pthread_cond_broadcast (&self->idle);
    }
    pthread_mutex_unlock (&self->mutex);
}

//  Run the handler and queue what it answered.
static enum MHD_Result
s_respond (gz_http_t *self, gz_http_req_t *req)
{
    req->handled = true;
    self->handler (req, self->arg);
    if (!req->replied) {
        gz_error ("http", "msg=\"handler did not reply\" status=500");
        gz_http_reply_error (req, 500, "internal", "handler did not reply");
    }
    enum MHD_Result ret = MHD_queue_response (req->conn, req->status, req->response);
    MHD_destroy_response (req->response);
    req->response = NULL;
    if (ret != MHD_YES)
        gz_warn ("http", "msg=\"could not queue response\" status=%u", req->status);
    return ret;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    gz_http_t *self = cls;
    gz_http_req_t *req = *con_cls;
    if (!req) {
        //  First call: headers are in, no body yet.
        req = s_req_new (self, conn, url, method);
        *con_cls = req;
        s_in_flight_add (self, 1);
        const char *cl =
            MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            //  libmicrohttpd has validated it; an overflow still reads as huge.
            errno = 0;
            unsigned long long length = strtoull (cl, NULL, 10);
            if (errno == ERANGE || length > self->max_body) {
                s_body_discard (req);
                return s_respond (self, req);
            }
            //  Size the buffer for the announced body, but not beyond
            //  64 KiB before the bytes arrive: a client that announces
            //  and then stalls should not pin max_body of memory.
            if (length > 0) {
                req->body_cap = length < 65536 ? (size_t) length + 1 : 65536;
                req->body = malloc (req->body_cap);
                assert (req->body);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        s_body_append (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->handled)
        return MHD_YES;
    return s_respond (self, req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) conn;
    (void) toe;
    gz_http_t *self = cls;
    gz_http_req_t *req = *con_cls;
    if (!req)
        return;
    s_req_destroy (&req);
    *con_cls = NULL;
    s_in_flight_add (self, -1);
}

//  ---- server

//  Fill addr for bind_addr and port; 0 or -1 when bind_addr does not
//  resolve.
static int
s_resolve (const char *bind_addr, int port, struct sockaddr_storage *addr, socklen_t *addr_len)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf (service, sizeof service, "%d", port);
    struct addrinfo *res = NULL;
    int rc = getaddrinfo (bind_addr, service, &hints, &res);
    if (rc != 0 || !res) {
        gz_error ("http", "msg=\"cannot resolve bind address\" addr=\"%s\" error=\"%s\"", bind_addr,
                  gai_strerror (rc));
        return -1;
    }
    assert (res->ai_addrlen <= sizeof *addr);
    memcpy (addr, res->ai_addr, res->ai_addrlen);
    *addr_len = res->ai_addrlen;
    freeaddrinfo (res);
    return 0;
}

static struct MHD_Daemon *
s_start (gz_http_t *self, unsigned int flags, int port, const struct sockaddr *addr)
{
    flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
             MHD_USE_ERROR_LOG;
    //  The logger goes first so every message reaches it. An absent
    //  MHD_OPTION_SOCK_ADDR ends the list early instead (it must not be
    //  NULL).
    return MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        self, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) GZ_HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) GZ_HTTP_CONNECTION_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, addr, MHD_OPTION_END);
}

gz_http_t *
gz_http_new (const char *bind_addr, int port, size_t max_body, gz_http_handler_fn *handler,
             void *arg)
{
    assert (handler);
    if (port < 0 || port > 65535) {
        gz_error ("http", "msg=\"invalid port\" port=%d", port);
        return NULL;
    }
    gz_http_t *self = calloc (1, sizeof *self);
    assert (self);
    self->handler = handler;
    self->arg = arg;
    //  Room for the terminating NUL without overflow.
    self->max_body = max_body < SIZE_MAX / 4 ? max_body : SIZE_MAX / 4;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->idle, &attr);
    pthread_condattr_destroy (&attr);
    atomic_init (&self->draining, false);

    if (bind_addr) {
        struct sockaddr_storage addr;
        socklen_t addr_len = 0;
        if (s_resolve (bind_addr, port, &addr, &addr_len) == 0) {
            unsigned int flags = addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0;
            self->daemon = s_start (self, flags, port, (const struct sockaddr *) &addr);
        }
    }
    else {
        //  All addresses: IPv6 and IPv4 on one socket where the host has
        //  IPv6, else IPv4 only.
        self->daemon = s_start (self, MHD_USE_DUAL_STACK, port, NULL);
        if (!self->daemon)
            self->daemon = s_start (self, 0, port, NULL);
    }
    if (!self->daemon) {
        gz_error ("http", "msg=\"cannot listen\" addr=\"%s\" port=%d", bind_addr ? bind_addr : "*",
                  port);
        gz_http_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    return self;
}

void
gz_http_destroy (gz_http_t **self_p)
{
    assert (self_p);
    gz_http_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon) {
        atomic_store (&self->draining, true);
        MHD_socket fd = MHD_quiesce_daemon (self->daemon);
        //  Refuse new connections now instead of leaving them in the
        //  backlog until the socket is closed. libmicrohttpd no longer
        //  accepts on it (an accept racing this fails with EINVAL, which
        //  it ignores); the descriptor stays open until the daemon is
        //  stopped, so its number cannot be reused meanwhile.
        if (fd != MHD_INVALID_SOCKET)
            shutdown (fd, SHUT_RDWR);

        struct timespec deadline;
        clock_gettime (CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += GZ_HTTP_DRAIN_MS / 1000;
        deadline.tv_nsec += (long) (GZ_HTTP_DRAIN_MS % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock (&self->mutex);
        int rc = 0;
        while (self->in_flight > 0 && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait (&self->idle, &self->mutex, &deadline);
        size_t left = self->in_flight;
        pthread_mutex_unlock (&self->mutex);
        if (left > 0)
            gz_warn ("http", "msg=\"drain timed out, cutting requests\" requests=%zu", left);

        MHD_stop_daemon (self->daemon);
        self->daemon = NULL;
        if (fd != MHD_INVALID_SOCKET)
            close (fd);
    }
    pthread_cond_destroy (&self->idle);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

int
gz_http_port (gz_http_t *self)
{
    assert (self);
    return self->port;
}

//  ---- request accessors

const char *
gz_http_method (gz_http_req_t *req)
{
    assert (req);
    return req->method;
}

const char *
gz_http_path (gz_http_req_t *req)
{
    assert (req);
    return req->path;
}

typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
} s_query_t;

static enum MHD_Result
s_query_match (void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
               const char *value, size_t value_size)
{
    (void) kind;
    (void) value_size;
    s_query_t *query = cls;
    if (key_size == query->name_len && memcmp (key, query->name, key_size) == 0) {
        query->value = value ? value : "";
        return MHD_NO; //  first occurrence wins
    }
    return MHD_YES;
}

const char *
gz_http_query (gz_http_req_t *req, const char *name)
{
    assert (req);
    assert (name);
    //  Iterate rather than MHD_lookup_connection_value, which compares
    //  names case-insensitively: query names are case-sensitive.
    s_query_t query = {name, strlen (name), NULL};
    MHD_get_connection_values_n (req->conn, MHD_GET_ARGUMENT_KIND, s_query_match, &query);
    return query.value;
}

const char *
gz_http_header (gz_http_req_t *req, const char *name)
{
    assert (req);
    assert (name);
    return MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, name);
}

const char *
gz_http_body (gz_http_req_t *req, size_t *len_p)
{
    assert (req);
    bool empty = req->too_large || req->body_len == 0;
    if (len_p)
        *len_p = empty ? 0 : req->body_len;
    return empty ? NULL : req->body;
}

bool
gz_http_too_large (gz_http_req_t *req)
{
    assert (req);
    return req->too_large;
}

const char *
gz_http_client_ip (gz_http_req_t *req)
{
    assert (req);
    return req->client_ip;
}

//  ---- forms

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Decode s[0..len): '+' is a space, %XX a byte. NULL when an escape is
//  malformed or decodes to NUL (which would silently cut the string).
static char *
s_form_decode (const char *s, size_t len)
{
    char *out = malloc (len + 1);
    assert (out);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+')
            out[n++] = ' ';
        else if (s[i] == '%') {
            int hi = i + 2 < len ? s_hex (s[i + 1]) : -1;
            int lo = hi >= 0 ? s_hex (s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                free (out);
                return NULL;
            }
            out[n++] = (char) (hi * 16 + lo);
            i += 2;
        }
        else
            out[n++] = s[i];
    }
    out[n] = 0;
    return out;
}

//  True for a byte a form encoder may leave as is. Besides what browsers
//  send, hand-made bodies carry raw UTF-8 and URL punctuation; what is
//  never in a query string (controls, space, quotes, braces...) means the
//  body is something else, e.g. JSON.
static bool
s_form_byte_ok (unsigned char c)
{
    if (c <= 0x20 || c == 0x7F)
        return false;
    return !strchr ("\"<>\\^`{|}", c);
}

static bool
s_form_content_type_ok (gz_http_req_t *req)
{
    const char *type = gz_http_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type)
        return true;
    static const char form[] = "application/x-www-form-urlencoded";
    size_t len = strlen (form);
    return strncasecmp (type, form, len) == 0 &&
           (type[len] == 0 || type[len] == ';' || type[len] == ' ' || type[len] == '\t');
}

bool
gz_http_form_parse (gz_http_req_t *req)
{
    assert (req);
    if (req->form_state != 0)
        return req->form_state > 0;
    req->form_state = -1;
    if (req->too_large || !s_form_content_type_ok (req))
        return false;
    for (size_t i = 0; i < req->body_len; i++)
        if (!s_form_byte_ok ((unsigned char) req->body[i]))
            return false;
    size_t cap = 0;
    const char *p = req->body;
    const char *end = req->body + req->body_len;
    while (p < end) {
        const char *amp = memchr (p, '&', (size_t) (end - p));
        const char *field_end = amp ? amp : end;
        if (field_end > p) { //  empty fields ("a=1&&b=2") are skipped
            const char *eq = memchr (p, '=', (size_t) (field_end - p));
            if (!eq || eq == p) {
                s_form_clear (req);
                return false;
            }
            char *name = s_form_decode (p, (size_t) (eq - p));
            char *value = s_form_decode (eq + 1, (size_t) (field_end - eq - 1));
            if (!name || !value) {
                free (name);
                free (value);
                s_form_clear (req);
                return false;
            }
            if (req->form_count == cap) {
                cap = cap ? cap * 2 : 8;
                req->form_names = realloc (req->form_names, cap * sizeof (char *));
                req->form_values = realloc (req->form_values, cap * sizeof (char *));
                assert (req->form_names && req->form_values);
            }
            req->form_names[req->form_count] = name;
            req->form_values[req->form_count] = value;
            req->form_count++;
        }
        p = field_end + 1;
    }
    req->form_state = 1;
    return true;
}

const char *
gz_http_form (gz_http_req_t *req, const char *name)
{
    assert (name);
    if (!gz_http_form_parse (req))
        return NULL;
    for (size_t i = 0; i < req->form_count; i++)
        if (strcmp (req->form_names[i], name) == 0)
            return req->form_values[i];
    return NULL;
}

size_t
gz_http_form_count (gz_http_req_t *req)
{
    return gz_http_form_parse (req) ? req->form_count : 0;
}

const char *
gz_http_form_name (gz_http_req_t *req, size_t i)
{
    gz_http_form_parse (req);
    return i < req->form_count ? req->form_names[i] : NULL;
}

const char *
gz_http_form_value (gz_http_req_t *req, size_t i)
{
    gz_http_form_parse (req);
    return i < req->form_count ? req->form_values[i] : NULL;
}

//  ---- responses

//  A header name is an HTTP token; a value holds no CR, LF or other
//  control but tab (it may carry data from outside: never let it split
//  the response).
static bool
s_header_ok (const char *name, const char *value)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7F ||
            strchr ("()<>@,;:\\\"/[]?={}", *p))
            return false;
    for (const char *p = value; *p; p++)
        if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7F)
            return false;
    return true;
}

void
gz_http_set_header (gz_http_req_t *req, const char *name, const char *value)
{
    assert (req);
    assert (name);
    assert (value);
    assert (!req->replied);
    if (!s_header_ok (name, value)) {
        gz_warn ("http", "msg=\"invalid response header dropped\"");
        return;
    }
    if (req->nheaders == req->headers_cap) {
        req->headers_cap = req->headers_cap ? req->headers_cap * 2 : 8;
        req->headers = realloc (req->headers, req->headers_cap * sizeof *req->headers);
        assert (req->headers);
    }
    req->headers[req->nheaders].name = strdup (name);
    req->headers[req->nheaders].value = strdup (value);
    req->nheaders++;
}

static bool
s_header_set (gz_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp (req->headers[i].name, name) == 0)
            return true;
    return false;
}

static void
s_add_header (struct MHD_Response *response, const char *name, const char *value)
{
    if (MHD_add_response_header (response, name, value) != MHD_YES)
        gz_warn ("http", "msg=\"response header refused\" name=%s", name);
}

void
gz_http_reply (gz_http_req_t *req, int status, const char *content_type, const char *body,
               size_t len)
{
    assert (req);
    assert (!req->replied); //  exactly one reply per request
    assert (status >= 200 && status <= 599);
    assert (body || len == 0);
    if (req->replied) {
        gz_error ("http", "msg=\"second reply ignored\" status=%d", status);
        return;
    }
    req->replied = true;
    req->status = (unsigned) status;
    req->response =
        MHD_create_response_from_buffer (len, (void *) (body ? body : ""), MHD_RESPMEM_MUST_COPY);
    assert (req->response);
    for (size_t i = 0; i < req->nheaders; i++)
        s_add_header (req->response, req->headers[i].name, req->headers[i].value);
    if (content_type && !s_header_set (req, MHD_HTTP_HEADER_CONTENT_TYPE))
        s_add_header (req->response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (!s_header_set (req, MHD_HTTP_HEADER_CACHE_CONTROL))
        s_add_header (req->response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (!s_header_set (req, "X-Content-Type-Options"))
        s_add_header (req->response, "X-Content-Type-Options", "nosniff");
    if (atomic_load (&req->server->draining))
        s_add_header (req->response, MHD_HTTP_HEADER_CONNECTION, "close");
}

void
gz_http_reply_json (gz_http_req_t *req, int status, json_t *json)
{
    char *text = json ? json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref (json);
    if (!text) {
        gz_error ("http", "msg=\"JSON reply could not be encoded\" status=%d", status);
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}";
        gz_http_reply (req, 500, "application/json", fallback, sizeof fallback - 1);
        return;
    }
    gz_http_reply (req, status, "application/json", text, strlen (text));
    free (text);
}

void
gz_http_reply_error (gz_http_req_t *req, int status, const char *code, const char *message)
{
    assert (code);
    //  json_pack fails on invalid UTF-8; reply_json then answers 500.
    json_t *json =
        json_pack ("{s:{s:s,s:s}}", "error", "code", code, "message", message ? message : "");
    gz_http_reply_json (req, status, json);
}
