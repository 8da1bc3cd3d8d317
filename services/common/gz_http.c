/*  gz_http: a small HTTP server on libmicrohttpd. See gz_http.h.

    DESIGN: libmicrohttpd runs a few event-loop threads (poll, so
    descriptors above FD_SETSIZE are fine) that serve every connection;
    never a thread per connection. gz_http_guard.c bounds what one client
    may hold (per-address limit, header and body deadlines). Each request
    gets a gz_http_req_t on the first call of the access handler; the body is
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
    "Connection: close" so keep-alive clients go away.

    Deferred requests and offloaded handlers are in gz_http_defer.c, the
    client's address behind trusted proxies in gz_http_proxies.c, form
    bodies in gz_http_form.c; gz_http_private.h holds what they share.  */
#include "gz_http_private.h"
#include "gz_log.h"

#include <czmq.h>

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GZ_HTTP_DEFAULT_THREADS 2   //  gz_http_new's event loops,
#define GZ_HTTP_DEFAULT_WORKERS 16  //  the threads its handlers run on
#define GZ_HTTP_DEFAULT_QUEUE 4096  //  and how many may wait for one
#define GZ_HTTP_LOG_WINDOW_MS 10000 //  libmicrohttpd's lines: at most
#define GZ_HTTP_LOG_LINES 5         //  this many per window
#define GZ_HTTP_DRAIN_MS 15000      //  how long destroy waits for requests
#define GZ_HTTP_CUT_MS 2000         //  then for requests it answered itself

//  ---- logging

//  libmicrohttpd logs one line per aborted or refused connection; a
//  flood of them is shown as a few lines and a count of the rest.
static bool
s_log_allowed (gz_http_t *self, unsigned *suppressed_p)
{
    int64_t now = zclock_mono ();
    bool allowed;
    pthread_mutex_lock (&self->log_mutex);
    *suppressed_p = 0;
    if (now - self->log_window_ms >= GZ_HTTP_LOG_WINDOW_MS) {
        *suppressed_p = self->log_suppressed;
        self->log_window_ms = now;
        self->log_lines = 0;
        self->log_suppressed = 0;
    }
    allowed = self->log_lines < GZ_HTTP_LOG_LINES;
    if (allowed)
        self->log_lines++;
    else
        self->log_suppressed++;
    pthread_mutex_unlock (&self->log_mutex);
    return allowed;
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    gz_http_t *self = cls;
    unsigned suppressed = 0;
    bool allowed = s_log_allowed (self, &suppressed);
    if (suppressed > 0)
        gz_warn ("http", "msg=\"libmicrohttpd: similar lines suppressed\" lines=%u window_s=%d",
                 suppressed, GZ_HTTP_LOG_WINDOW_MS / 1000);
    if (!allowed)
        return;
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

static gz_http_req_t *
s_req_new (gz_http_t *server, struct MHD_Connection *conn, const char *url, const char *method)
{
    gz_http_req_t *req = calloc (1, sizeof *req);
    assert (req);
    req->server = server;
    req->conn = conn;
    req->method = method;
    req->path = url;
    atomic_init (&req->state, GZ_HTTP_INLINE);
    atomic_init (&req->refs, 1);
    gz_http_client_ip_fill (req);
    return req;
}

static void
s_req_destroy (gz_http_req_t **req_p)
{
    gz_http_req_t *req = *req_p;
    if (!req)
        return;
    free (req->body);
    gz_http_mp_free (req);
    gz_http_form_free (&req->form_names, &req->form_values, req->form_count);
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

//  Drop one reference; the last frees the request.
void
gz_http_req_release (gz_http_req_t **req_p)
{
    gz_http_req_t *req = *req_p;
    *req_p = NULL;
    if (req && atomic_fetch_sub (&req->refs, 1) == 1)
        s_req_destroy (&req);
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

//  Queue what the handler (or the resume function) answered.
static enum MHD_Result
s_queue (gz_http_req_t *req)
{
    if (!req->replied) {
        gz_error ("http", "msg=\"handler did not reply\" status=500");
        gz_http_reply_error (req, 500, "internal", "handler did not reply");
    }
    enum MHD_Result ret = MHD_queue_response (req->conn, req->status, req->response);
    MHD_destroy_response (req->response);
    req->response = NULL;
    if (ret != MHD_YES)
        gz_warn ("http", "msg=\"could not queue response\" status=%u", req->status);
    req->queued = true;
    return ret;
}

//  Run the handler; queue its answer unless it deferred.
static enum MHD_Result
s_respond (gz_http_t *self, gz_http_req_t *req)
{
    req->handled = true;
    gz_http_guard_phase (self, req->conn, GZ_HTTP_CONN_BUSY);
    //  gz_http_new's handlers may block: on a worker, never on the loop.
    if (!self->offload_all)
        self->handler (req, self->arg);
    else if (gz_http_offload (req, self->handler, self->arg) == 0)
        return MHD_YES;
    else
        gz_http_reply_error (req, 503, "unavailable", "every worker is busy; retry later");
    if (atomic_load (&req->state) != GZ_HTTP_INLINE)
        return MHD_YES; //  suspended, or already claimed: s_access runs again on resume
    return s_queue (req);
}

//  The access handler's call after a deferred request was resumed.
static enum MHD_Result
s_resumed (gz_http_req_t *req)
{
    if (!req->replied && req->resume_fn)
        req->resume_fn (req, req->resume_arg);
    return s_queue (req);
}

//  What the URI log callback hands the access handler for a request whose
//  raw URL holds an encoded NUL: libmicrohttpd decodes "%00" and the path
//  or query value is cut there ("/q/HGY-B0001%00x" would serve
//  HGY-B0001), so the request is refused before anyone reads it.
static char s_nul_uri;

static void *
s_uri_log (void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void) cls;
    (void) conn;
    return uri && strstr (uri, "%00") ? &s_nul_uri : NULL;
}

//  Answer a request whose URL holds "%00": 400, the handler never runs.
static enum MHD_Result
s_refuse_nul (gz_http_t *self, gz_http_req_t *req)
{
    req->handled = true;
    gz_http_guard_phase (self, req->conn, GZ_HTTP_CONN_BUSY);
    gz_http_reply_error (req, 400, "bad_request", "the URL holds an encoded NUL (%00)");
    return s_queue (req);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    gz_http_t *self = cls;
    gz_http_req_t *req = *con_cls;
    bool nul = req == (void *) &s_nul_uri;
    if (!req || nul) {
        //  First call: headers are in, no body yet.
        req = s_req_new (self, conn, url, method);
        *con_cls = req;
        gz_http_guard_phase (self, conn, GZ_HTTP_CONN_BODY);
        s_in_flight_add (self, 1);
        if (nul)
            return s_refuse_nul (self, req);
        //  A multipart body is streamed (gz_http_multipart.c), within its
        //  own limit.
        bool mp = gz_http_mp_begin (req);
        size_t max = mp ? self->multipart.max_request : self->max_body;
        const char *cl =
            MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            //  libmicrohttpd has validated it; an overflow still reads as huge.
            errno = 0;
            unsigned long long length = strtoull (cl, NULL, 10);
            if (errno == ERANGE || length > max) {
                s_body_discard (req);
                return s_respond (self, req);
            }
            if (mp)
                return MHD_YES;
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
    if (*upload_data_size > 0 && req->mp) {
        //  Answered early (a limit crossed): the rest is discarded.
        bool more = req->handled || gz_http_mp_feed (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (more)
            return MHD_YES;
        //  Over max_request: stop reading now. libmicrohttpd 0.9.75 cannot
        //  queue an answer in the middle of a body, so the handler's answer
        //  is dropped and the connection closed.
        return s_respond (self, req);
    }
    if (*upload_data_size > 0) {
        s_body_append (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->handled) {
        if (!req->queued && atomic_load (&req->state) == GZ_HTTP_CLAIMED)
            return s_resumed (req);
        return MHD_YES;
    }
    if (req->mp)
        gz_http_mp_end (req);
    return s_respond (self, req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) toe;
    gz_http_t *self = cls;
    gz_http_req_t *req = *con_cls;
    if (req == (void *) &s_nul_uri)
        *con_cls = req = NULL; //  ended before its first access call
    if (!req)
        return;
    //  A keep-alive connection now waits for the next request's header.
    gz_http_guard_phase (self, conn, GZ_HTTP_CONN_HEADER);
    gz_http_req_release (&req);
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
    //  poll, not epoll: with libmicrohttpd 0.9.75's edge-triggered epoll
    //  a client that hangs up in the middle of a body went unnoticed (the
    //  request stayed in flight until the connection timeout).
    flags |=
        MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    const gz_http_limits_t *l = &self->limits;
    //  The logger goes first so every message reaches it. An absent
    //  MHD_OPTION_SOCK_ADDR ends the list early instead (it must not be
    //  NULL).
    return MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        self, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) l->idle_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) l->max_connections, MHD_OPTION_NOTIFY_COMPLETED,
        s_completed, self, MHD_OPTION_NOTIFY_CONNECTION, gz_http_guard_notify, self,
        MHD_OPTION_URI_LOG_CALLBACK, s_uri_log, self,
        //  A pool only for more than one thread (libmicrohttpd warns about
        //  a pool of 0); otherwise the timeout again, which is harmless.
        self->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int) (self->threads > 1 ? self->threads : l->idle_timeout_s),
        addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, addr, MHD_OPTION_END);
}

static gz_http_t *
s_new (const char *bind_addr, int port, size_t max_body, int threads,
       const gz_http_limits_t *limits, gz_http_handler_fn *handler, void *arg)
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
    self->threads = threads;
    self->drain_ms = GZ_HTTP_DRAIN_MS;
    //  Room for the terminating NUL without overflow.
    self->max_body = max_body < SIZE_MAX / 4 ? max_body : SIZE_MAX / 4;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->idle, &attr);
    pthread_cond_init (&self->watch, &attr);
    pthread_condattr_destroy (&attr);
    atomic_init (&self->draining, false);
    pthread_mutex_init (&self->jobs_mutex, NULL);
    pthread_cond_init (&self->jobs_ready, NULL);
    pthread_mutex_init (&self->log_mutex, NULL);
    self->log_window_ms = zclock_mono ();
    gz_http_guard_init (self, limits);

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
    int rc = pthread_create (&self->watchdog, NULL, gz_http_watchdog, self);
    assert (rc == 0);
    self->watchdog_started = true;
    return self;
}

gz_http_t *
gz_http_new (const char *bind_addr, int port, size_t max_body, gz_http_handler_fn *handler,
             void *arg)
{
    gz_http_t *self =
        s_new (bind_addr, port, max_body, GZ_HTTP_DEFAULT_THREADS, NULL, handler, arg);
    if (self) {
        gz_http_set_workers (self, GZ_HTTP_DEFAULT_WORKERS, GZ_HTTP_DEFAULT_QUEUE);
        self->offload_all = true;
    }
    return self;
}

gz_http_t *
gz_http_new_pool (const char *bind_addr, int port, size_t max_body, int threads,
                  gz_http_handler_fn *handler, void *arg)
{
    assert (threads >= 1);
    return s_new (bind_addr, port, max_body, threads, NULL, handler, arg);
}

gz_http_t *
gz_http_new_limited (const char *bind_addr, int port, size_t max_body, int threads,
                     const gz_http_limits_t *limits, gz_http_handler_fn *handler, void *arg)
{
    assert (threads >= 1);
    return s_new (bind_addr, port, max_body, threads, limits, handler, arg);
}

void
gz_http_set_drain_ms (gz_http_t *self, int drain_ms)
{
    assert (self);
    self->drain_ms = drain_ms > 0 ? drain_ms : 0;
}

//  Wait up to ms for no request in flight; returns how many are left.
static size_t
s_wait_idle (gz_http_t *self, int ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long) (ms % 1000) * 1000000L;
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
    return left;
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

        size_t left = s_wait_idle (self, self->drain_ms);
        //  Deferred requests nobody answered: answer them now (the daemon
        //  must not stop with a connection suspended), then wait for those.
        if (left > 0 && gz_http_expire (self, true) > 0)
            left = s_wait_idle (self, GZ_HTTP_CUT_MS);
        if (left > 0)
            gz_warn ("http", "msg=\"drain timed out, cutting requests\" requests=%zu", left);
        gz_http_workers_stop (self); //  they finish what is queued (they resume connections)
        if (self->watchdog_started) {
            pthread_mutex_lock (&self->mutex);
            self->stopping = true;
            pthread_cond_signal (&self->watch);
            pthread_mutex_unlock (&self->mutex);
            pthread_join (self->watchdog, NULL);
            self->watchdog_started = false;
        }

        MHD_stop_daemon (self->daemon);
        self->daemon = NULL;
        if (fd != MHD_INVALID_SOCKET)
            close (fd);
    }
    gz_http_workers_stop (self);
    pthread_cond_destroy (&self->idle);
    pthread_cond_destroy (&self->watch);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->jobs_ready);
    pthread_mutex_destroy (&self->jobs_mutex);
    pthread_mutex_destroy (&self->log_mutex);
    gz_http_guard_fini (self);
    free (self->proxies);
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
gz_http_bearer (gz_http_req_t *req)
{
    const char *h = gz_http_header (req, "Authorization");
    if (!h || strncasecmp (h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
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
    assert (!req->target); //  not on a deferred handle
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

//  Pages for people (the QR page, the status page with its secret link):
//  nothing but their own inline style may load or run, forms post only
//  back here, no other site may frame them, and a link followed from one
//  never carries its address (the status page's holds the resident's
//  token) in a Referer.
static void
s_html_headers (gz_http_req_t *req)
{
    static const char *const headers[][2] = {
        {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
        {"Referrer-Policy", "no-referrer"},
        {"X-Frame-Options", "DENY"},
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        if (!s_header_set (req, headers[i][0]))
            s_add_header (req->response, headers[i][0], headers[i][1]);
}

void
gz_http_reply (gz_http_req_t *req, int status, const char *content_type, const char *body,
               size_t len)
{
    assert (req);
    //  A handle from gz_http_defer, answered from any thread: claim the
    //  request first.
    bool remote = req->target != NULL;
    if (remote) {
        req = gz_http_handle_claim (&req);
        if (!req)
            return; //  the timeout handler answered it
    }
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
    if (content_type && strncmp (content_type, "text/html", 9) == 0)
        s_html_headers (req);
    if (atomic_load (&req->server->draining))
        s_add_header (req->response, MHD_HTTP_HEADER_CONNECTION, "close");
    if (remote)
        gz_http_handle_done (&req);
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
