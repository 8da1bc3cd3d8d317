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
    "Connection: close" so keep-alive clients go away.

    Pool servers (gz_http_new_pool) run libmicrohttpd's internal epoll
    threads instead, with suspend/resume. gz_http_defer suspends the
    connection and puts the request on the deferred list; whoever answers
    first claims it (an atomic state change from DEFERRED to CLAIMED):
    the owner (gz_http_reply* / gz_http_resume on the handle), the
    watchdog thread (defer timeout) or destroy (drain over). The claimer
    resumes the connection; the access handler then runs once more,
    calls the resume function if no response is built yet, and queues
    the response. A deferred request holds two references, one for
    libmicrohttpd (dropped on completion) and one for the owner's handle
    (dropped by the owner's answer), so a handle answered by the watchdog
    stays valid until its owner lets go. In-flight counting is unchanged
    (first access to completion), so destroy still waits for deferred
    requests, and never stops the daemon with a connection suspended.  */
#include "gz_config.h"
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
#define GZ_HTTP_CUT_MS 2000             //  then for requests it answered itself
#define GZ_HTTP_WATCH_MS 100            //  watchdog period (defer timeouts)

enum { S_INLINE = 0, S_DEFERRED, S_CLAIMED };

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
    int threads; //  0: thread per connection
    int drain_ms;
    int defer_timeout_ms; //  guarded by mutex
    gz_http_handler_fn *timeout_fn;
    void *timeout_arg;
    gz_http_req_t *deferred; //  guarded by mutex: unclaimed deferred requests
    pthread_t watchdog;
    bool watchdog_started;
    bool stopping; //  guarded by mutex
    pthread_cond_t watch;
    //  Offloaded handlers (gz_http_offload): a queue and worker threads.
    pthread_mutex_t jobs_mutex;
    pthread_cond_t jobs_ready;
    struct s_job *jobs_head, *jobs_tail;
    size_t jobs_queued, jobs_max;
    pthread_t *workers;
    int nworkers;
    bool jobs_stop; //  guarded by jobs_mutex
    //  GZ_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client.
    struct s_net *proxies;
    size_t nproxies;
};

//  An address or a network: family, address bytes, prefix length.
typedef struct s_net {
    int family; //  AF_INET or AF_INET6
    uint8_t addr[16];
    int bits;
} s_net_t;

//  One offloaded handler call: the request (a reference) and what to run.
typedef struct s_job {
    gz_http_req_t *req;
    gz_http_handler_fn *fn;
    void *arg;
    struct s_job *next;
} s_job_t;

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
    //  deferral
    atomic_int state; //  S_INLINE, S_DEFERRED, S_CLAIMED
    atomic_int refs;
    bool queued; //  the response went to libmicrohttpd
    int64_t deadline_ms;
    gz_http_resume_fn *resume_fn;
    void *resume_arg;
    gz_http_req_t *prev, *next; //  on server->deferred
    gz_http_req_t *target;      //  set on a handle from gz_http_defer: the request
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

//  ---- trusted proxies

//  Parse an address ("10.1.2.3", "fd00::1"; an IPv4-mapped IPv6 address
//  counts as IPv4) into *out with a full-length prefix. 0 ok, -1 not one.
static int
s_addr_parse (const char *text, s_net_t *out)
{
    memset (out, 0, sizeof *out);
    if (inet_pton (AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = 32;
        return 0;
    }
    struct in6_addr a6;
    if (inet_pton (AF_INET6, text, &a6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED (&a6)) {
        out->family = AF_INET;
        memcpy (out->addr, &a6.s6_addr[12], 4);
        out->bits = 32;
    }
    else {
        out->family = AF_INET6;
        memcpy (out->addr, a6.s6_addr, 16);
        out->bits = 128;
    }
    return 0;
}

//  Parse "addr" or "addr/bits". 0 ok, -1 malformed.
static int
s_net_parse (const char *text, s_net_t *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen (text) >= sizeof buf)
        return -1;
    snprintf (buf, sizeof buf, "%s", text);
    char *slash = strchr (buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        bits = strtol (slash + 1, &end, 10);
        if (slash[1] == 0 || *end || bits < 0)
            return -1;
    }
    if (s_addr_parse (buf, out))
        return -1;
    if (bits >= 0) {
        if (bits > out->bits)
            return -1;
        out->bits = (int) bits;
    }
    return 0;
}

static bool
s_net_contains (const s_net_t *net, const s_net_t *addr)
{
    if (net->family != addr->family)
        return false;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp (net->addr, addr->addr, (size_t) full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t) (0xff << (8 - rest));
    return (net->addr[full] & mask) == (addr->addr[full] & mask);
}

static bool
s_trusted (gz_http_t *self, const s_net_t *addr)
{
    for (size_t i = 0; i < self->nproxies; i++)
        if (s_net_contains (&self->proxies[i], addr))
            return true;
    return false;
}

//  Read GZ_TRUSTED_PROXIES (comma- or space-separated addresses and
//  networks). 0 ok, -1 on a malformed entry (logged).
static int
s_proxies_load (gz_http_t *self)
{
    const char *list = gz_config_str ("GZ_TRUSTED_PROXIES", "");
    char *copy = strdup (list ? list : "");
    assert (copy);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r (copy, ", ", &save); tok; tok = strtok_r (NULL, ", ", &save)) {
        s_net_t net;
        if (s_net_parse (tok, &net)) {
            gz_error ("http", "msg=\"GZ_TRUSTED_PROXIES: not an address or network\" entry=\"%s\"",
                      tok);
            rc = -1;
            break;
        }
        s_net_t *grown = realloc (self->proxies, (self->nproxies + 1) * sizeof *grown);
        assert (grown);
        self->proxies = grown;
        self->proxies[self->nproxies++] = net;
    }
    free (copy);
    return rc;
}

//  The client behind trusted proxies: walk X-Forwarded-For from the right
//  (the hop nearest us) past every trusted address; the first one that is
//  not trusted is the client. A malformed entry ends the walk at the last
//  trusted hop read (the request then counts as that proxy's), so nothing
//  left of it can pass for the client.
static void
s_forwarded_client (gz_http_req_t *req)
{
    const char *xff = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff || strlen (xff) > 4096)
        return;
    char *copy = strdup (xff);
    assert (copy);
    char *p = copy + strlen (copy);
    while (p > copy) {
        char *comma = p;
        while (comma > copy && comma[-1] != ',')
            comma--;
        char *start = comma, *end = p;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = 0;
        s_net_t a;
        if (s_addr_parse (start, &a))
            break;
        inet_ntop (a.family, a.addr, req->client_ip, sizeof req->client_ip);
        if (!s_trusted (req->server, &a))
            break;
        p = comma > copy ? comma - 1 : copy;
    }
    free (copy);
}

//  ---- requests

static void s_client_peer (gz_http_req_t *req);

static void
s_client_ip (gz_http_req_t *req)
{
    s_client_peer (req);
    s_net_t peer;
    if (req->server->nproxies > 0 && s_addr_parse (req->client_ip, &peer) == 0 &&
        s_trusted (req->server, &peer))
        s_forwarded_client (req);
}

//  The connection's peer address.
static void
s_client_peer (gz_http_req_t *req)
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
    atomic_init (&req->state, S_INLINE);
    atomic_init (&req->refs, 1);
    s_client_ip (req);
    return req;
}

static void
s_req_destroy (gz_http_req_t **req_p)
{
    gz_http_req_t *req = *req_p;
    if (!req)
        return;
    free (req->body);
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
static void
s_req_release (gz_http_req_t **req_p)
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
    self->handler (req, self->arg);
    if (atomic_load (&req->state) != S_INLINE)
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
    if (req->handled) {
        if (!req->queued && atomic_load (&req->state) == S_CLAIMED)
            return s_resumed (req);
        return MHD_YES;
    }
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
    s_req_release (&req);
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
    flags |= MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (self->threads > 0)
        //  poll, not epoll: with libmicrohttpd 0.9.75's edge-triggered epoll
        //  a client that hangs up in the middle of a body went unnoticed
        //  (the request stayed in flight until the connection timeout).
        flags |= MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    else
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    //  The logger goes first so every message reaches it. An absent
    //  MHD_OPTION_SOCK_ADDR ends the list early instead (it must not be
    //  NULL).
    return MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_access, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        self, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) GZ_HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) GZ_HTTP_CONNECTION_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        //  A pool only for more than one thread (libmicrohttpd warns about
        //  a pool of 0); otherwise the timeout again, which is harmless.
        self->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int) (self->threads > 1 ? self->threads : GZ_HTTP_CONNECTION_TIMEOUT_S),
        addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, addr, MHD_OPTION_END);
}

static void *s_watchdog (void *arg);

static gz_http_t *
s_new (const char *bind_addr, int port, size_t max_body, int threads, gz_http_handler_fn *handler,
       void *arg)
{
    assert (handler);
    if (port < 0 || port > 65535) {
        gz_error ("http", "msg=\"invalid port\" port=%d", port);
        return NULL;
    }
    gz_http_t *self = calloc (1, sizeof *self);
    assert (self);
    if (s_proxies_load (self)) {
        free (self->proxies);
        free (self);
        return NULL;
    }
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
    if (threads > 0) {
        int rc = pthread_create (&self->watchdog, NULL, s_watchdog, self);
        assert (rc == 0);
        self->watchdog_started = true;
    }
    return self;
}

gz_http_t *
gz_http_new (const char *bind_addr, int port, size_t max_body, gz_http_handler_fn *handler,
             void *arg)
{
    return s_new (bind_addr, port, max_body, 0, handler, arg);
}

gz_http_t *
gz_http_new_pool (const char *bind_addr, int port, size_t max_body, int threads,
                  gz_http_handler_fn *handler, void *arg)
{
    assert (threads >= 1);
    return s_new (bind_addr, port, max_body, threads, handler, arg);
}

void
gz_http_set_defer_timeout (gz_http_t *self, int timeout_ms, gz_http_handler_fn *fn, void *arg)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    self->defer_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    self->timeout_fn = fn;
    self->timeout_arg = arg;
    pthread_mutex_unlock (&self->mutex);
}

void
gz_http_set_drain_ms (gz_http_t *self, int drain_ms)
{
    assert (self);
    self->drain_ms = drain_ms > 0 ? drain_ms : 0;
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  ---- deferral

static void
s_unlink (gz_http_t *self, gz_http_req_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        self->deferred = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

//  Take a deferred request for answering. True if we won it.
static bool
s_claim (gz_http_req_t *req)
{
    int expected = S_DEFERRED;
    return atomic_compare_exchange_strong (&req->state, &expected, S_CLAIMED);
}

gz_http_req_t *
gz_http_defer (gz_http_req_t *req)
{
    assert (req);
    gz_http_t *self = req->server;
    assert (self->threads > 0); //  thread-per-connection servers cannot suspend
    assert (!req->replied);
    assert (atomic_load (&req->state) == S_INLINE);
    //  The handle is a separate object, so a call on it is told apart from
    //  a resume function's call on the request itself.
    gz_http_req_t *handle = calloc (1, sizeof *handle);
    assert (handle);
    handle->server = self;
    handle->target = req;
    atomic_fetch_add (&req->refs, 1); //  the handle's
    MHD_suspend_connection (req->conn);
    pthread_mutex_lock (&self->mutex);
    req->deadline_ms = self->defer_timeout_ms ? s_now_ms () + self->defer_timeout_ms : 0;
    req->next = self->deferred;
    if (req->next)
        req->next->prev = req;
    self->deferred = req;
    atomic_store (&req->state, S_DEFERRED);
    pthread_mutex_unlock (&self->mutex);
    return handle;
}

//  Let go of a handle: the request it held may be freed.
static gz_http_req_t *
s_handle_take (gz_http_req_t **handle_p)
{
    gz_http_req_t *handle = *handle_p;
    *handle_p = NULL;
    gz_http_req_t *req = handle->target;
    free (handle);
    return req;
}

//  After a successful claim: off the list, hand the connection back to
//  libmicrohttpd. The request must not be touched after this by anyone
//  but libmicrohttpd's thread (and the owner's reference drop).
static void
s_wake (gz_http_req_t *req, bool unlink)
{
    gz_http_t *self = req->server;
    if (unlink) {
        pthread_mutex_lock (&self->mutex);
        s_unlink (self, req);
        pthread_mutex_unlock (&self->mutex);
    }
    MHD_resume_connection (req->conn);
}

int
gz_http_resume (gz_http_req_t **req_p, gz_http_resume_fn *fn, void *arg)
{
    assert (req_p);
    assert (*req_p && (*req_p)->target); //  a handle from gz_http_defer
    assert (fn);
    gz_http_req_t *req = s_handle_take (req_p);
    int rc = -1;
    if (s_claim (req)) {
        req->resume_fn = fn;
        req->resume_arg = arg;
        s_wake (req, true);
        rc = 0;
    }
    s_req_release (&req);
    return rc;
}

//  ---- offloaded handlers

static void *
s_worker (void *arg)
{
    gz_http_t *self = arg;
    pthread_mutex_lock (&self->jobs_mutex);
    while (true) {
        while (!self->jobs_head && !self->jobs_stop)
            pthread_cond_wait (&self->jobs_ready, &self->jobs_mutex);
        s_job_t *job = self->jobs_head;
        if (!job)
            break; //  stopping, nothing left
        self->jobs_head = job->next;
        if (!self->jobs_head)
            self->jobs_tail = NULL;
        self->jobs_queued--;
        pthread_mutex_unlock (&self->jobs_mutex);
        //  The connection is suspended: nobody else touches the request,
        //  so the handler sees it as on an HTTP thread and replies; the
        //  resumed connection then queues that reply (s_resumed).
        gz_http_req_t *req = job->req;
        job->fn (req, job->arg);
        free (job);
        MHD_resume_connection (req->conn);
        s_req_release (&req);
        pthread_mutex_lock (&self->jobs_mutex);
    }
    pthread_mutex_unlock (&self->jobs_mutex);
    return NULL;
}

void
gz_http_set_workers (gz_http_t *self, int workers, size_t max_queued)
{
    assert (self && self->threads > 0 && !self->workers && workers > 0);
    self->workers = calloc ((size_t) workers, sizeof *self->workers);
    assert (self->workers);
    self->jobs_max = max_queued;
    for (int i = 0; i < workers; i++) {
        if (pthread_create (&self->workers[i], NULL, s_worker, self) != 0) {
            gz_error ("http", "msg=\"cannot start a worker thread\"");
            break;
        }
        self->nworkers++;
    }
}

int
gz_http_offload (gz_http_req_t *req, gz_http_handler_fn *fn, void *arg)
{
    assert (req && fn && !req->target);
    gz_http_t *self = req->server;
    assert (!req->replied && atomic_load (&req->state) == S_INLINE);
    s_job_t *job = calloc (1, sizeof *job);
    assert (job);
    pthread_mutex_lock (&self->jobs_mutex);
    bool room = self->nworkers > 0 && !self->jobs_stop && self->jobs_queued < self->jobs_max;
    if (room) {
        job->req = req;
        job->fn = fn;
        job->arg = arg;
        atomic_fetch_add (&req->refs, 1); //  the job's
        //  Claimed from the start: the watchdog and destroy's expiry leave
        //  it alone; the worker answers it.
        atomic_store (&req->state, S_CLAIMED);
        MHD_suspend_connection (req->conn);
        if (self->jobs_tail)
            self->jobs_tail->next = job;
        else
            self->jobs_head = job;
        self->jobs_tail = job;
        self->jobs_queued++;
        pthread_cond_signal (&self->jobs_ready);
    }
    pthread_mutex_unlock (&self->jobs_mutex);
    if (!room)
        free (job);
    return room ? 0 : -1;
}

//  Let the workers finish the queue, then join them.
static void
s_workers_stop (gz_http_t *self)
{
    if (!self->workers)
        return;
    pthread_mutex_lock (&self->jobs_mutex);
    self->jobs_stop = true;
    pthread_cond_broadcast (&self->jobs_ready);
    pthread_mutex_unlock (&self->jobs_mutex);
    for (int i = 0; i < self->nworkers; i++)
        pthread_join (self->workers[i], NULL);
    free (self->workers);
    self->workers = NULL;
    self->nworkers = 0;
}

static void
s_timeout_default (gz_http_req_t *req, void *arg)
{
    (void) arg;
    gz_http_reply_error (req, 503, "unavailable", "timed out; retry later");
}

static void
s_timeout_resume (gz_http_req_t *req, void *arg)
{
    gz_http_t *self = arg;
    gz_http_handler_fn *fn = self->timeout_fn ? self->timeout_fn : s_timeout_default;
    fn (req, self->timeout_arg);
}

//  Claim every deferred request that is due (all when every is set) and
//  answer it with the timeout handler. Returns how many.
static size_t
s_expire (gz_http_t *self, bool every)
{
    int64_t now = s_now_ms ();
    gz_http_req_t *due = NULL;
    size_t n = 0;
    pthread_mutex_lock (&self->mutex);
    gz_http_req_t *req = self->deferred;
    while (req) {
        gz_http_req_t *next = req->next;
        if ((every || (req->deadline_ms && now >= req->deadline_ms)) && s_claim (req)) {
            s_unlink (self, req);
            req->next = due;
            due = req;
            n++;
        }
        req = next;
    }
    pthread_mutex_unlock (&self->mutex);
    while (due) {
        req = due;
        due = req->next;
        req->next = NULL;
        req->resume_fn = s_timeout_resume;
        req->resume_arg = self;
        if (every)
            gz_warn ("http", "msg=\"deferred request unanswered at stop\" status=timeout");
        s_wake (req, false);
    }
    return n;
}

static void *
s_watchdog (void *arg)
{
    gz_http_t *self = arg;
    pthread_mutex_lock (&self->mutex);
    while (!self->stopping) {
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += GZ_HTTP_WATCH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->watch, &self->mutex, &ts);
        if (self->stopping || !self->deferred || !self->defer_timeout_ms)
            continue;
        pthread_mutex_unlock (&self->mutex);
        s_expire (self, false);
        pthread_mutex_lock (&self->mutex);
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
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
        if (left > 0 && self->threads > 0 && s_expire (self, true) > 0)
            left = s_wait_idle (self, GZ_HTTP_CUT_MS);
        if (left > 0)
            gz_warn ("http", "msg=\"drain timed out, cutting requests\" requests=%zu", left);
        s_workers_stop (self); //  they finish what is queued (they resume connections)
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
    s_workers_stop (self);
    pthread_cond_destroy (&self->idle);
    pthread_cond_destroy (&self->watch);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->jobs_ready);
    pthread_mutex_destroy (&self->jobs_mutex);
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

void
gz_http_form_free (char ***names_p, char ***values_p, size_t count)
{
    assert (names_p && values_p);
    for (size_t i = 0; i < count; i++) {
        free ((*names_p)[i]);
        free ((*values_p)[i]);
    }
    free (*names_p);
    free (*values_p);
    *names_p = *values_p = NULL;
}

int
gz_http_form_decode (const char *body, size_t len, char ***names_p, char ***values_p,
                     size_t *count_p)
{
    assert (names_p && values_p && count_p);
    assert (body || len == 0);
    *names_p = *values_p = NULL;
    *count_p = 0;
    for (size_t i = 0; i < len; i++)
        if (!s_form_byte_ok ((unsigned char) body[i]))
            return -1;
    char **names = NULL, **values = NULL;
    size_t count = 0, cap = 0;
    //  An empty body may come as NULL, and NULL + 0 is undefined.
    const char *p = body;
    const char *end = len ? body + len : body;
    while (p < end) {
        const char *amp = memchr (p, '&', (size_t) (end - p));
        const char *field_end = amp ? amp : end;
        if (field_end > p) { //  empty fields ("a=1&&b=2") are skipped
            const char *eq = memchr (p, '=', (size_t) (field_end - p));
            char *name = eq && eq > p ? s_form_decode (p, (size_t) (eq - p)) : NULL;
            char *value = name ? s_form_decode (eq + 1, (size_t) (field_end - eq - 1)) : NULL;
            if (!name || !value) {
                free (name);
                gz_http_form_free (&names, &values, count);
                return -1;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                names = realloc (names, cap * sizeof (char *));
                values = realloc (values, cap * sizeof (char *));
                assert (names && values);
            }
            names[count] = name;
            values[count] = value;
            count++;
        }
        //  Stop at the last field rather than step past the end: a
        //  pointer beyond one past the end is undefined even unread.
        if (!amp)
            break;
        p = amp + 1;
    }
    *names_p = names;
    *values_p = values;
    *count_p = count;
    return 0;
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
    if (gz_http_form_decode (req->body, req->body_len, &req->form_names, &req->form_values,
                             &req->form_count) != 0)
        return false;
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
        req = s_handle_take (&req);
        if (!s_claim (req)) {
            s_req_release (&req); //  the timeout handler answered it
            return;
        }
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
    if (remote) {
        s_wake (req, true);
        s_req_release (&req);
    }
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
