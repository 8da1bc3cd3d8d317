/*  gz_http_private: what gz_http's files share, and no one else.

    gz_http.c          the server, requests, draining, accessors, responses
    gz_http_defer.c    deferred requests, offloaded handlers, the watchdog
    gz_http_proxies.c  the client's address (GZ_TRUSTED_PROXIES)
    gz_http_form.c     form bodies
    gz_http_multipart.c  multipart/form-data bodies, streamed
    gz_http_guard.c    connection limits: per address, header and body deadlines  */
#ifndef GZ_HTTP_PRIVATE_H_INCLUDED
#define GZ_HTTP_PRIVATE_H_INCLUDED

#include "gz_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

//  A request's state: answered on its own thread, deferred (parked), or
//  claimed by whoever answers it.
enum { GZ_HTTP_INLINE = 0, GZ_HTTP_DEFERRED, GZ_HTTP_CLAIMED };

typedef struct {
    char *name;
    char *value;
} gz_http_header_t;

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
    int threads;      //  event-loop threads (>= 1)
    bool offload_all; //  gz_http_new: every handler runs on a worker
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
    struct gz_http_job *jobs_head, *jobs_tail;
    size_t jobs_queued, jobs_max;
    pthread_t *workers;
    int nworkers;
    bool jobs_stop; //  guarded by jobs_mutex
    //  GZ_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client.
    struct gz_http_net *proxies;
    size_t nproxies;
    //  Connection limits (gz_http_guard.c).
    gz_http_limits_t limits;
    pthread_mutex_t guard_mutex; //  guards conns, per_address
    struct gz_http_conn *conns;  //  every open connection
    struct _zhashx_t *per_address;
    atomic_size_t refused, cut;
    int64_t next_sweep_ms, cut_logged_ms; //  watchdog thread only
    int64_t refused_logged_ms;            //  guarded by guard_mutex
    //  multipart/form-data (gz_http_multipart.c); set before traffic.
    gz_http_multipart_t multipart;
    atomic_bool multipart_on;
    //  libmicrohttpd's log lines, at most a few per interval.
    pthread_mutex_t log_mutex;
    int64_t log_window_ms;
    unsigned log_lines, log_suppressed;
};

//  One open connection, as the guard sees it: which part of a request it
//  is reading (GZ_HTTP_CONN_*) and since when (monotonic ms).
enum { GZ_HTTP_CONN_HEADER = 0, GZ_HTTP_CONN_BODY, GZ_HTTP_CONN_BUSY, GZ_HTTP_CONN_CUT };
typedef struct gz_http_conn {
    struct gz_http_conn *prev, *next;
    int fd;
    int phase;
    int64_t since_ms;
    bool counted; //  holds one of its address's slots
    char key[64]; //  the address (an IPv6 one by its /64)
} gz_http_conn_t;

//  An address or a network: family, address bytes, prefix length.
typedef struct gz_http_net {
    int family; //  AF_INET or AF_INET6
    uint8_t addr[16];
    int bits;
} gz_http_net_t;

//  One offloaded handler call: the request (a reference) and what to run.
typedef struct gz_http_job {
    gz_http_req_t *req;
    gz_http_handler_fn *fn;
    void *arg;
    struct gz_http_job *next;
} gz_http_job_t;

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
    bool via_proxy; //  the peer is a trusted proxy (gz_http_https)
    int form_state; //  0 not parsed, 1 parsed, -1 malformed
    char **form_names;
    char **form_values;
    size_t form_count;
    gz_http_header_t *headers;
    size_t nheaders, headers_cap;
    struct gz_http_mp *mp; //  a multipart body being streamed, or NULL
    bool in_worker;        //  an offloaded handler runs it now
    bool worker_deferred;  //  ... and deferred it
    bool replied;
    unsigned status;
    struct MHD_Response *response;
    //  deferral
    atomic_int state; //  GZ_HTTP_INLINE, GZ_HTTP_DEFERRED, GZ_HTTP_CLAIMED
    atomic_int refs;
    bool queued; //  the response went to libmicrohttpd
    int64_t deadline_ms;
    gz_http_resume_fn *resume_fn;
    void *resume_arg;
    gz_http_req_t *prev, *next; //  on server->deferred
    gz_http_req_t *target;      //  set on a handle from gz_http_defer: the request
};

//  gz_http.c: drop one reference to req; the last frees it.
void gz_http_req_release (gz_http_req_t **req_p);

//  gz_http_defer.c: the watchdog thread's body (arg is the server): it
//  answers deferred requests past the defer timeout.
void *gz_http_watchdog (void *arg);

//  gz_http_defer.c: answering a handle from gz_http_defer (any thread):
//  take the request it holds and claim it. The request, still holding the
//  handle's reference, or NULL when another answer claimed it first (the
//  reference then dropped).
gz_http_req_t *gz_http_handle_claim (gz_http_req_t **handle_p);

//  gz_http_defer.c: after the claimed request's answer is built, hand the
//  connection back to libmicrohttpd and drop the handle's reference.
void gz_http_handle_done (gz_http_req_t **req_p);

//  gz_http_defer.c: claim every deferred request that is due (all when
//  every is set) and answer it with the timeout handler. How many.
size_t gz_http_expire (gz_http_t *self, bool every);

//  gz_http_defer.c: let the offload workers finish the queue, join them.
void gz_http_workers_stop (gz_http_t *self);

//  gz_http_guard.c: libmicrohttpd's connection callback (STARTED, CLOSED).
void gz_http_guard_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
//  gz_http_guard.c: the connection's request moved to phase (its header
//  is in: GZ_HTTP_CONN_BODY; its handler runs: BUSY; answered: HEADER).
void gz_http_guard_phase (gz_http_t *self, struct MHD_Connection *conn, int phase);
//  gz_http_guard.c: cut connections past their deadline (watchdog thread).
void gz_http_guard_sweep (gz_http_t *self);
//  gz_http_guard.c: set up and free the guard's state.
void gz_http_guard_init (gz_http_t *self, const gz_http_limits_t *limits);
void gz_http_guard_fini (gz_http_t *self);
//  gz_http_proxies.c: is the address (text) a trusted proxy?
bool gz_http_trusted_text (gz_http_t *self, const char *addr);

//  gz_http_multipart.c: on a request's first access call: start
//  streaming its body when it is multipart/form-data and the server takes
//  those. true when it does (then req->mp is set).
bool gz_http_mp_begin (gz_http_req_t *req);
//  gz_http_multipart.c: feed size bytes of the body. false once the body
//  is over max_request (req->too_large: answer now, read no more); past
//  a file or field limit (req->too_large) or a malformed body (the form
//  marked malformed) the rest is read, dropped, and answered at its end.
bool gz_http_mp_feed (gz_http_req_t *req, const char *data, size_t size);
//  gz_http_multipart.c: the body is complete: finish parsing.
void gz_http_mp_end (gz_http_req_t *req);
//  gz_http_multipart.c: free req->mp (harmless when NULL).
void gz_http_mp_free (gz_http_req_t *req);

//  gz_http_proxies.c: set req->client_ip: the peer, or behind trusted
//  proxies the client X-Forwarded-For names.
void gz_http_client_ip_fill (gz_http_req_t *req);

#endif
