/*  gz_actor: the skeleton every service runs on (docs/service-anatomy.md).

    A service is a spec (gz_actor_spec_t: its name, migrations, stream,
    HTTP routes and callbacks) plus its handlers. gz_actor_run is the
    CZMQ actor function: it copies nothing from the environment (the
    service read it in its *_config_from_env), and

    - opens the writer connection and applies the migrations (the org
      directory's, the bus's when the service has a stream, its own);
    - binds the service's PUB (its stream, gz_actor_pub) and ROUTER
      (commands, gz_actor_router), opens the read pool and the HTTP server
      with /healthz, /readyz and /metrics and the service's route table;
    - calls spec->start, then runs the loop: the pipe (the standard
      commands $TERM, PORT, BUSPORT, EVENTSPORT, RELOAD, STATS, VERBOSE,
      then spec->command for the rest, then CLOCK US: the test clock of
      gz_actor_now_us, 0 for the wall clock; signals), the wake eventfd
      (gz_actor_wake), the ROUTER, the subscribers it follows
      (gz_actor_follow), the heartbeat tick (publisher and subscribers
      tick, the common bus metrics), the org-directory check
      (GZ_ORG_CHECK_MS: spec->reload when the directory changed) and
      the service's timers (gz_actor_every);
    - on a failed start answers the pipe until $TERM so the caller sees it;
    - on $TERM stops taking work (gz_actor_closing), waits until
      spec->idle says nothing is in flight (at most 10 s), stops HTTP,
      calls spec->stop, ticks once more (publishes the tail) and frees.

    DESIGN: one thread (the actor's) owns the writer connection, the
    sockets and everything the spec's callbacks touch, unless a service
    documents otherwise. HTTP threads run route handlers: a handler that
    needs the actor queues work (gz_queue), defers its request
    (gz_http_defer) and wakes the actor; the actor resumes the request
    when the work is committed (gz_http_resume). No thread waits on
    another. Routes that wait on the database or another service
    (blocking routes) run on the HTTP server's worker threads.  */
#ifndef GZ_ACTOR_H_INCLUDED
#define GZ_ACTOR_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_bus.h"
#include "gz_codec.h"
#include "gz_db.h"
#include "gz_dbpool.h"
#include "gz_http.h"
#include "gz_metrics.h"

typedef struct _gz_actor_t gz_actor_t;

//  ---------------------------------------------------------------- config

//  What every service is configured with: the first member of each
//  service's config struct. prefix below is the service's variable
//  prefix ("INTAKE" for GZ_INTAKE_*).
typedef struct {
    char *database_url;            //  GZ_DATABASE_URL
    char *schema;                  //  GZ_<P>_SCHEMA
    char *http_bind;               //  GZ_HTTP_BIND (default 0.0.0.0)
    int http_port;                 //  GZ_<P>_HTTP_PORT (default base + offset; 0 = any)
    int http_threads;              //  GZ_HTTP_THREADS (default 8)
    gz_http_limits_t http_limits;  //  GZ_HTTP_MAX_CONNECTIONS, _MAX_PER_ADDRESS, _*_TIMEOUT_S
    gz_http_multipart_t multipart; //  multipart/form-data uploads; max_request 0: not taken
                                   //  (a service's start may set it: HTTP opens after start)
    int workers;                   //  GZ_<P>_WORKERS: threads for blocking routes (8)
    long worker_queue;             //  GZ_<P>_WORKER_QUEUE: waiting for one (1000)
    int answer_timeout_ms;         //  GZ_<P>_ANSWER_TIMEOUT_MS: deferred requests (15000)
    int read_conns;                //  GZ_<P>_READ_CONNS: the read pool (4)
    char *bus_endpoint;            //  GZ_<P>_BUS: ROUTER bind; NULL: none
    char *events_endpoint;         //  GZ_<P>_EVENTS: PUB bind; NULL: none
    char *trusted_proxies;         //  GZ_TRUSTED_PROXIES ("": none)
    int org_check_ms;              //  GZ_ORG_CHECK_MS (5000; 0: only RELOAD)
    gz_bus_opts_t bus;             //  GZ_BUS_* (heartbeat, high-water marks, retention)
    //  Commands on the ROUTER (proto/README.md, "Limits"):
    int max_command_bytes;     //  GZ_BUS_MAX_COMMAND_BYTES (64 KiB): larger: TOO_LARGE
    int max_inflight_per_peer; //  GZ_BUS_MAX_INFLIGHT_PER_PEER (256): more: RATE_LIMITED
} gz_actor_config_t;

//  Fill cfg from the environment. http_offset is the service's
//  GZ_PORT_BASE offset; bus_offset and events_offset are too, or -1
//  when the service has no ROUTER or no stream.
void gz_actor_config_from_env (gz_actor_config_t *cfg, const char *prefix,
                               const char *default_schema, int http_offset, int bus_offset,
                               int events_offset);
//  Deep copy src into dst (which holds nothing yet).
void gz_actor_config_copy (gz_actor_config_t *dst, const gz_actor_config_t *src);
//  Free what cfg holds (not cfg itself).
void gz_actor_config_clear (gz_actor_config_t *cfg);

//  ---------------------------------------------------------------- spec

//  An HTTP route. A path ending in '/' (other than "/" itself) or '*'
//  matches as a prefix (the '*' itself is not matched); rest is what
//  follows the prefix, else "". The first route that matches method (NULL:
//  any) and path wins. handler returns true when it deferred the request
//  (then it counts the request itself when it answers, with
//  gz_actor_observe); otherwise the skeleton counts it.
typedef bool (gz_route_fn) (void *state, gz_http_req_t *req, const char *rest);
typedef struct {
    const char *method;
    const char *path;
    const char *label; //  route="..." in gz_http_requests_total
    gz_route_fn *handler;
    bool blocking; //  waits on the database or another service: on a worker
} gz_route_t;

typedef struct {
    const char *name;                 //  logs, application_name, metrics
    const gz_migration_t *migrations; //  the service's schema
    const char *stream;               //  its event stream; NULL: none
    const gz_route_t *routes;         //  ended by a route with path NULL
    size_t max_body;                  //  bytes of any HTTP body
    void (*describe_metrics) (gz_metrics_t *metrics);
    //  After the skeleton started: the service's state, or NULL (failed
    //  start, logged). cfg is the service's config (the actor's copy).
    void *(*start) (gz_actor_t *actor, const void *cfg);
    //  After the loop: finish what is left and free the state.
    void (*stop) (void **state_p);
    //  RELOAD (SIGHUP), and when the org directory changed. 0 ok; -1 it
    //  could not (tried again at the next change or RELOAD); -2 refused
    //  (not tried again until the directory changes again).
    int (*reload) (void *state);
    //  Every heartbeat, after the publisher and subscribers ticked.
    void (*tick) (void *state);
    //  The ROUTER is readable: take what is there (bounded).
    void (*router) (void *state, zsock_t *router);
    //  After every wake-up of the loop: do the queued work.
    void (*cycle) (void *state);
    //  Work is queued: poll without waiting. NULL: never.
    bool (*pending) (void *state);
    //  Nothing is in flight (after $TERM). NULL: always.
    bool (*idle) (void *state);
    //  A pipe command beyond the standard ones. Must answer it if it
    //  expects an answer. False: unknown (logged).
    bool (*command) (void *state, const char *cmd, zmsg_t *msg, zsock_t *pipe);
    //  A deferred request unanswered after answer_timeout_ms. NULL: 503.
    void (*timeout) (gz_http_req_t *req, void *state);
    //  A blocking route found every worker busy and the queue full: answer
    //  503 in the route's format (Retry-After is set). NULL: JSON.
    void (*busy) (gz_http_req_t *req, void *state, const gz_route_t *route);
} gz_actor_spec_t;

//  Everything gz_actor_run needs: the spec and the service's config,
//  whose first member is its gz_actor_config_t. config_dup and
//  config_destroy copy and free the service's whole config.
typedef struct {
    const gz_actor_spec_t *spec;
    const void *config;
    void *(*config_dup) (const void *config);
    void (*config_destroy) (void *config);
} gz_actor_args_t;

//  The actor function (zactor_new (gz_actor_run, &args)): args is a
//  gz_actor_args_t *, borrowed until the actor signals. Signals 0 when
//  ready, 1 on a failed start.
void gz_actor_run (zsock_t *pipe, void *args);

//  ---------------------------------------------------------------- for services
//  What the skeleton owns, for the service's callbacks. Borrowed.
gz_db_t *gz_actor_db (gz_actor_t *self);       //  writer connection (actor thread)
gz_dbpool_t *gz_actor_pool (gz_actor_t *self); //  read connections (any thread)
//  Now in microseconds since the epoch: the test clock the pipe command
//  CLOCK set, else the wall clock (gz_now_us). Any thread.
int64_t gz_actor_now_us (gz_actor_t *self);
//  Set the test clock (0: back to the wall clock), as CLOCK does: for a
//  service whose own CLOCK command does more (spec->command sees it first).
void gz_actor_set_clock (gz_actor_t *self, int64_t us);
gz_metrics_t *gz_actor_metrics (gz_actor_t *self); //  thread-safe
gz_bus_pub_t *gz_actor_pub (gz_actor_t *self);     //  the stream's publisher, or NULL
zsock_t *gz_actor_router (gz_actor_t *self);       //  the commands' ROUTER, or NULL
gz_http_t *gz_actor_http (gz_actor_t *self);
const char *gz_actor_name (gz_actor_t *self);

//  Follow a stream: events of `stream` from schema source_schema's
//  outbox, published at endpoint, applied by handler in transactions
//  that also store this service's cursor. When wait is true the
//  subscriber starts once the source outbox exists (its service may
//  start later); else now, and NULL on failure. Ticked, polled, counted
//  (gz_bus_consumed_total{stream=...}) and freed by the skeleton.
//  after, if set, runs (after_arg, committed) after each batch the
//  subscriber applied or failed to.
typedef void (gz_actor_after_fn) (void *arg, bool committed);
gz_bus_sub_t *gz_actor_follow (gz_actor_t *self, const char *source_schema, const char *stream,
                               const char *endpoint, bool wait, gz_bus_handler_fn *handler,
                               void *arg, gz_actor_after_fn *after, void *after_arg);

//  The handler of the followed stream stages events on the service's own
//  stream (consume-transform-produce): they are written in the consumer's
//  transaction with its cursor and sent after its commit, now or once the
//  subscriber starts (gz_bus_sub_set_outbox).
void gz_actor_follow_produces (gz_actor_t *self, const char *stream);

//  The followed stream's batches end with flush (gz_bus_flush_fn: the
//  handler's collected effects written in a few multi-row statements,
//  inside the batch's transaction), now or once the subscriber starts.
void gz_actor_follow_flush (gz_actor_t *self, const char *stream, gz_bus_flush_fn *flush,
                            void *arg);

//  Commands on the ROUTER (DEALER or REQ peers). Who sent a command, and
//  what its reply must echo so the peer can match it (proto/README.md):
typedef enum {
    GZ_PEER_OK,        //  taken: counted in flight until answered or cleared
    GZ_PEER_TOO_LARGE, //  over max_command_bytes: answer TOO_LARGE
    GZ_PEER_TOO_MANY,  //  max_inflight_per_peer unanswered: answer RATE_LIMITED
} gz_peer_refusal_t;

typedef struct {
    zframe_t *from;        //  the peer's routing id; NULL: nothing came
    bool delim;            //  it sent a REQ delimiter
    char *command_id;      //  the command envelope's id (NULL: none)
    char *idempotency_key; //  its idempotency key (NULL: none)
    char *trace_id;        //  its trace id (NULL: none)
    gz_peer_refusal_t refused;
    char why[160];  //  when refused: the message for the reply
    void *inflight; //  the count this command is in (skeleton's)
} gz_peer_t;

//  Receive one command from the actor's ROUTER into *peer (cleared
//  first) and return its envelope, or NULL when the body is not one (the
//  caller counts it and answers a typed error; peer->from is NULL when
//  nothing was there). When peer->refused is set the caller answers at
//  once with the matching typed error and peer->why, without looking at
//  the command (the envelope, when there is one, is only for its ids).
gz_envelope_t *gz_actor_command_recv (gz_actor_t *self, gz_peer_t *peer);
//  Answer peer's command with an Envelope of type carrying reply (key:
//  the envelope's key, may be NULL), echoing the command's id as
//  reply_to, its idempotency key and trace id; clears peer.
void gz_actor_command_reply (zsock_t *router, gz_peer_t *peer, const char *type, const char *key,
                             const ProtobufCMessage *reply);
//  Free what peer holds (a command that will not be answered).
void gz_actor_peer_clear (gz_peer_t *peer);

//  Run fn (arg) every interval_ms on the actor thread (at most 8 timers).
void gz_actor_every (gz_actor_t *self, int interval_ms, void (*fn) (void *arg), void *arg);

//  Wake the loop (any thread): spec->cycle runs soon.
void gz_actor_wake (gz_actor_t *self);

//  True once $TERM came: take no new work (answer 503 / UNAVAILABLE).
bool gz_actor_closing (gz_actor_t *self);

//  Count an answered HTTP request in gz_http_requests_total and the
//  latency histogram (start from zclock_usecs).
void gz_actor_observe (gz_actor_t *self, const char *route, int64_t start_us);

#endif
