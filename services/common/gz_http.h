/*  gz_http: a small HTTP server on libmicrohttpd for every service.

    One handler function sees every request after its body is read
    (bodies over max_body are not kept: gz_http_too_large() is true and the
    handler answers 413 in its own format; when Content-Length already
    says so, the handler runs before the body is sent and the connection
    is closed after the answer). The handler runs on one of
    worker thread (gz_http_new: 16 of them, so a handler may block; more
    requests wait in a queue of 4096, then get 503) or, on a pool server,
    on one of libmicrohttpd's event-loop threads (then it must not block
    for long); never a thread per connection. It must only touch
    thread-safe state. It must call exactly one gz_http_reply*; if it does
    not, gz_http answers 500 {"error":{"code":"internal",...}}.

    Every response carries "Cache-Control: no-store" and
    "X-Content-Type-Options: nosniff" unless the handler set those headers.

    Stopping (gz_http_destroy) stops accepting (new connections are
    refused at once), lets in-flight requests finish (up to 15 s; their
    responses carry "Connection: close"), then returns: that is how
    SIGTERM drains HTTP.

    A pool server (gz_http_new_pool) has no thread per connection: a few
    threads serve every connection from one event loop each, so a handler
    must not block for long. Instead it may defer: gz_http_defer() parks
    the connection, the handler returns, and later any thread answers the
    handle with gz_http_reply* or gz_http_resume. A deferred request that
    stays unanswered past the defer timeout (or past destroy's drain) is
    answered by the timeout handler (default: 503 "unavailable").  */
#ifndef GZ_HTTP_H_INCLUDED
#define GZ_HTTP_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _gz_http_t gz_http_t;
typedef struct _gz_http_req_t gz_http_req_t;

typedef void (gz_http_handler_fn) (gz_http_req_t *req, void *arg);

//  Listen on bind_addr (e.g. "127.0.0.1", "0.0.0.0", "::1"; NULL = all
//  addresses, IPv6 and IPv4 where the host has IPv6) and port (0 = pick a
//  free one). NULL if it cannot listen (logged).
gz_http_t *gz_http_new (const char *bind_addr, int port, size_t max_body,
                        gz_http_handler_fn *handler, void *arg);

//  Like gz_http_new, but served by `threads` (>= 1) event-loop threads;
//  handlers may gz_http_defer.
gz_http_t *gz_http_new_pool (const char *bind_addr, int port, size_t max_body, int threads,
                             gz_http_handler_fn *handler, void *arg);

//  What one client may hold (see gz_http_guard.c). A connection must send
//  a request's whole header within header_timeout_s of the connection
//  (or of the previous response on a keep-alive connection), and its
//  whole body within body_timeout_s of the header: bytes that trickle in
//  do not extend either. Between bytes, idle_timeout_s. One address (an
//  IPv6 client counts by its /64) holds at most max_per_address
//  connections; trusted proxies (gz_http_set_trusted_proxies) are exempt.
//  The server holds at most max_connections (0: sized to the process's
//  file descriptors, see gz_http_fd_budget).
typedef struct {
    int max_connections;
    int max_per_address; //  0: no per-address limit
    int header_timeout_s;
    int body_timeout_s;
    int idle_timeout_s;
} gz_http_limits_t;

//  The defaults: max_connections 0 (sized to descriptors), 64 per address,
//  headers 10 s, body 60 s, idle 30 s.
gz_http_limits_t gz_http_limits_default (void);

//  Like gz_http_new_pool, with limits (NULL: the defaults).
gz_http_t *gz_http_new_limited (const char *bind_addr, int port, size_t max_body, int threads,
                                const gz_http_limits_t *limits, gz_http_handler_fn *handler,
                                void *arg);

//  The connections one server may hold by default: the process's
//  descriptor limit (its soft limit raised to the hard one, at most
//  65,536, once per process) less 512 kept for everything else, shared by
//  the five services one process may host; at least 64.
int gz_http_fd_budget (void);

//  Connections refused so far for the per-address limit, and connections
//  cut for the header or body deadline (for /metrics and tests).
size_t gz_http_refused_total (gz_http_t *self);
size_t gz_http_cut_total (gz_http_t *self);

//  A deferred request unanswered after timeout_ms (0 = never) is answered
//  by fn (NULL: 503 {"error":{"code":"unavailable",...}}), which runs on
//  an HTTP thread with the request's accessors valid and must reply. The
//  same fn answers deferred requests still pending when destroy's drain
//  ends. Set before the server sees traffic.
void gz_http_set_defer_timeout (gz_http_t *self, int timeout_ms, gz_http_handler_fn *fn, void *arg);

//  Peers whose X-Forwarded-For names the client (GZ_TRUSTED_PROXIES:
//  comma- or space-separated addresses and networks, e.g. "10.0.0.0/8,
//  127.0.0.1"); replaces the list; "" or NULL trusts none. Set before the
//  server sees traffic. 0 ok, -1 on a malformed entry (logged; then none
//  is trusted).
int gz_http_set_trusted_proxies (gz_http_t *self, const char *list);

//  How long gz_http_destroy waits for in-flight requests (default 15 s).
void gz_http_set_drain_ms (gz_http_t *self, int drain_ms);

//  Drain in-flight requests, stop, free; nulls *self_p. Harmless on NULL.
void gz_http_destroy (gz_http_t **self_p);

//  The port actually bound.
int gz_http_port (gz_http_t *self);

//  ---- request (all strings borrowed, valid during the handler)
const char *gz_http_method (gz_http_req_t *req);
//  Path without the query string, percent-decoded by libmicrohttpd.
const char *gz_http_path (gz_http_req_t *req);
//  A query-string argument (decoded, '+' is a space; the name is
//  case-sensitive; first occurrence), "" for a bare "?name", or NULL.
const char *gz_http_query (gz_http_req_t *req, const char *name);
//  A request header (case-insensitive name), or NULL.
const char *gz_http_header (gz_http_req_t *req, const char *name);
//  The token of an "Authorization: Bearer <token>" header, or NULL when
//  there is none (or it is empty).
const char *gz_http_bearer (gz_http_req_t *req);
//  The raw body, NUL-terminated; *len_p its length. NULL and 0 when empty
//  or too large.
const char *gz_http_body (gz_http_req_t *req, size_t *len_p);
//  True when the body exceeded max_body (the body was discarded).
bool gz_http_too_large (gz_http_req_t *req);
//  The client's address as text ("127.0.0.1", "::1"; an IPv4 client on
//  an IPv6 socket is shown as IPv4).
const char *gz_http_client_ip (gz_http_req_t *req);

//  True when the client reached us over HTTPS: gz_http serves plain HTTP,
//  so only through a trusted proxy (gz_http_set_trusted_proxies) whose
//  X-Forwarded-Proto says "https". For the Secure flag of a cookie.
bool gz_http_https (gz_http_req_t *req);

//  False when the browser says the request comes from another site: its
//  Origin (or, without one, its Referer) names a host other than the one
//  the request was sent to (Host; X-Forwarded-Host through a trusted
//  proxy), or is "null". A request naming neither (curl, scripts) is
//  let through: the check stops cross-site forms (login CSRF), not
//  clients that choose their headers.
bool gz_http_same_origin (gz_http_req_t *req);

//  Parse the body as application/x-www-form-urlencoded (once, lazily).
//  Returns false when it is malformed: a bad percent escape or one that
//  decodes to NUL, a field with no '=' or an empty name, a byte that is
//  never left unencoded (controls, space, " < > \ ^ ` { | }), a
//  Content-Type other than the form type, or a body that was too large.
//  Then no field is available. Raw UTF-8 is accepted as sent; empty
//  fields ("a=1&&b=2") are skipped; an empty body is an empty form.
//  Decoded values are not checked for UTF-8: use gz_utf8_valid.
bool gz_http_form_parse (gz_http_req_t *req);
//  A decoded form field (first occurrence), or NULL. Parses if needed.
const char *gz_http_form (gz_http_req_t *req, const char *name);
//  Number of form fields and the i-th one (decoded), for iteration.
size_t gz_http_form_count (gz_http_req_t *req);
const char *gz_http_form_name (gz_http_req_t *req, size_t i);
const char *gz_http_form_value (gz_http_req_t *req, size_t i);

//  The decoding step of gz_http_form_parse on its own, with no request
//  (for tests and the fuzz harness): body[0..len) (NULL when len is 0)
//  by the same rules, less the Content-Type and size checks. Returns 0
//  and sets *names_p and *values_p to *count_p decoded, NUL-terminated
//  strings (both NULL when the form is empty), or -1 when the body is
//  malformed (then they are NULL and 0). Free with gz_http_form_free.
int gz_http_form_decode (const char *body, size_t len, char ***names_p, char ***values_p,
                         size_t *count_p);
//  Free what gz_http_form_decode returned; nulls both pointers.
void gz_http_form_free (char ***names_p, char ***values_p, size_t count);

//  ---- multipart/form-data uploads (gz_http_multipart.c)
//  What one multipart request may hold. Bodies are streamed through
//  libmicrohttpd's post processor, never held whole: text fields go into
//  the form table (gz_http_form), each file into its own buffer. Crossing
//  any limit makes gz_http_too_large() true; the fields read so far stay
//  available, no file does. A body whose Content-Length is over
//  max_request is answered before it is read; one streamed (chunked) past
//  max_request is cut there (the connection closed: libmicrohttpd 0.9.75
//  cannot answer in the middle of a body); past a file or field limit the
//  rest (at most max_request in all) is read and dropped, then answered.
typedef struct {
    size_t max_request;    //  bytes of the whole body, as sent
    size_t max_file_bytes; //  bytes of one file
    size_t max_files;      //  files with content (an empty file input is not one)
    size_t max_fields;     //  text fields
    size_t max_field;      //  bytes of one text field's value
} gz_http_multipart_t;

//  Accept multipart/form-data bodies on this server within limits (their
//  max_request replaces max_body for them). Without this call they are
//  ordinary bodies (max_body). Call once, before traffic.
void gz_http_set_multipart (gz_http_t *self, const gz_http_multipart_t *limits);

//  True when the request's body was multipart/form-data and streamed.
bool gz_http_multipart (gz_http_req_t *req);
//  Files received (parts with a file name and content), in order.
size_t gz_http_file_count (gz_http_req_t *req);
//  The i-th file's bytes (borrowed, valid during the handler; *len_p its
//  length), its form field name and its file name as sent ("" when none).
const unsigned char *gz_http_file_data (gz_http_req_t *req, size_t i, size_t *len_p);
const char *gz_http_file_field (gz_http_req_t *req, size_t i);
const char *gz_http_file_name (gz_http_req_t *req, size_t i);

//  ---- deferred replies (pool servers only)
//  Called in the handler instead of replying: the connection is parked and
//  the handler returns. Returns the handle to answer later, from any
//  thread, with exactly one gz_http_reply* or gz_http_resume; the handle
//  is gone after that call. Until then only those calls may touch it (no
//  accessors, no gz_http_set_header: set headers before deferring). If the
//  request was already answered by the timeout handler, that call only
//  frees the handle.
gz_http_req_t *gz_http_defer (gz_http_req_t *req);

typedef void (gz_http_resume_fn) (gz_http_req_t *req, void *arg);
//  Answer a deferred request on an HTTP thread: fn (req, arg) runs there,
//  with the accessors valid again, and must reply (else 500). Returns 0;
//  -1 when the request was already answered (timeout, destroy): fn is
//  then not called and arg stays the caller's. Nulls *req_p either way.
int gz_http_resume (gz_http_req_t **req_p, gz_http_resume_fn *fn, void *arg);

//  ---- offloaded handlers (pool servers only)
//  Start `workers` threads that run offloaded handlers, with at most
//  max_queued waiting for one. Call once, before traffic.
void gz_http_set_workers (gz_http_t *self, int workers, size_t max_queued);

//  Called in a handler for work that waits (database reads, calls to
//  other services), so the HTTP thread and the other connections it
//  serves never wait with it: the connection is parked and fn (req, arg)
//  runs on a worker thread, with the accessors valid, and must reply
//  there (else 500). Returns 0; -1 when no worker is free to take it (no
//  workers, the queue full, stopping): then nothing happened and the
//  handler replies itself (503, say). Not for a deferred request. fn may
//  itself gz_http_defer the request (work that goes on to the actor after
//  the worker's part, e.g. decoding uploads before a commit).
int gz_http_offload (gz_http_req_t *req, gz_http_handler_fn *fn, void *arg);

//  ---- response
//  Add a response header (before the reply). Copies. A header whose name
//  is not an HTTP token or whose value holds CR, LF or another control
//  character is dropped (logged), so data from outside cannot split the
//  response.
void gz_http_set_header (gz_http_req_t *req, const char *name, const char *value);
//  Reply with a body (copied). On a deferred handle: from any thread, and
//  the handle is gone after the call. content_type e.g. "text/html; charset=utf-8"
//  (NULL: none, unless set as a header). status 200..599.
void gz_http_reply (gz_http_req_t *req, int status, const char *content_type, const char *body,
                    size_t len);
//  Reply with JSON (takes ownership of json; encodes compact UTF-8 as
//  "application/json"). If json is NULL or cannot be encoded, answers
//  500 {"error":{"code":"internal",...}} instead.
void gz_http_reply_json (gz_http_req_t *req, int status, json_t *json);
//  Reply {"error": {"code": code, "message": message}} with status.
//  code and message must be UTF-8 (else the reply is that 500).
void gz_http_reply_error (gz_http_req_t *req, int status, const char *code, const char *message);

#endif
