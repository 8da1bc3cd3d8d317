/*  routing internals shared by the actor (routing_server.c), the state
    machine (routing_flow.c) and the HTTP front (routing_http.c). Not a
    public header.

    DESIGN: like intake. The actor thread owns the writer connection, the
    bus consumer of intake's stream, the publisher of stream "routing"
    (chained to the consumer with gz_bus_sub_set_outbox, so the events a
    RequestSubmitted causes commit with the cursor), the ROUTER for
    WorkerCommand, and the deadline timers. HTTP threads parse and check a
    command, queue it, wake the actor through an eventfd and wait on a
    condition variable; the actor applies it in a transaction with its
    event and timeline row, commits, then wakes the waiter. Reads (GET)
    use a small pool of their own connections.

    Hot path (RequestSubmitted, inside the consumer's batch transaction):
    two round trips per request, one to find and lock an open duplicate
    (rt_merge_lead), one to write the request with its timers,
    co-handlers, timeline row and the lead's follower count (rt_route, a
    data-modifying CTE that does nothing for a replayed id). Least-loaded
    assignment reads open-request counts per staff from the actor's load
    cache (routing_flow.c): PostgreSQL stays the truth; a count only
    picks among candidates and may lag another replica's transitions by
    a couple of seconds.

    State machine (state after each action):
      routed        -> assigned         merged (a follower of an open duplicate)
      accept        assigned -> accepted
      verify        accepted -> verified (reached; the response deadline is met)
                    accepted -> accepted (not_reached, logged)
                    accepted -> rejected (invalid; closed)
      start         verified -> in_progress
      note          any open state or resolved/rated -> unchanged
      resolve       in_progress -> resolved (only the lead; co-handlers note)
      rate          resolved -> closed (satisfied) or rated (not satisfied)
      reopen        resolved|rated -> accepted, same assignee, reopen_count+1
                    (within reopen_window of the resolution)
      transfer      assigned..in_progress -> assigned (another person/unit)
      escalate      assigned..in_progress -> one rung up; accepted falls back
                    to assigned (the new person signs), later states stay
      return        assigned|accepted -> assigned to the dispatcher (the
                    sub-district coordinator)
      timers        response/resolve warn (80%) -> DeadlineWarning;
                    due -> escalate one rung, same-length deadline again;
                    close (reopen_window after resolve) -> closed  */
#ifndef ROUTING_H_INCLUDED
#define ROUTING_H_INCLUDED

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_actor.h"
#include "gz_bus.h"
#include "gz_codec.h"
#include "gz_db.h"
#include "gz_dbpool.h"
#include "gz_http.h"
#include "gz_metrics.h"
#include "gz_org.h"
#include "gz_queue.h"
#include "routing_rules.h"
#include "routing_server.h"

#define ROUTING_MAX_BODY (64 * 1024) //  bytes of any HTTP body
#define ROUTING_MAX_TEXT 4000        //  characters of a note, result or reason

//  One command (HTTP or bus) on its way to the actor.
typedef struct _routing_cmd_t {
    gz_qitem_t item; //  first: on the actor's queue
    //  input (owned strings; NULL = absent)
    char *request_id;
    char *action; //  accept verify start note resolve transfer escalate return
                  //  rate reopen
    char *token;  //  staff/operator bearer token
    char *resident_token;
    char *outcome, *text, *media_url, *to_unit, *to_staff;
    int score;
    bool satisfied;
    //  result, set by the actor
    int status;     //  HTTP status: 200, 400, 401, 403, 404, 409, 422, 503
    char error[32]; //  "" or bad_request, unauthorized, forbidden, not_found,
                    //  conflict, unprocessable, unavailable
    char message[256];
    char state[16]; //  the request's state after (or, on conflict, now)
    //  bus replies
    zframe_t *reply_to;
    bool reply_delim;
    //  HTTP: the deferred request, resumed when the actor is done
    gz_http_req_t *http;
    struct _routing_t *ctx;
    int64_t start_us; //  for the latency histogram
} routing_cmd_t;

routing_cmd_t *routing_cmd_new (void);
void routing_cmd_destroy (routing_cmd_t **self_p);

//  State shared between the actor and HTTP threads: read-only after
//  start, internally synchronised (metrics), or guarded by lock.
typedef struct _routing_t {
    routing_config_t *cfg; //  the actor's copy
    gz_actor_t *actor;
    gz_metrics_t *metrics;
    gz_dbpool_t *pool;   //  read connections for HTTP threads
    gz_queue_t *queue;   //  commands on their way to the actor
    atomic_int inflight; //  HTTP commands queued or being applied
} routing_t;

//  The actor thread's world: everything the state machine touches.
typedef struct {
    gz_db_t *db;
    gz_bus_pub_t *pub;
    gz_org_t *org;
    routing_rules_t *rules;
    gz_metrics_t *metrics;
    const char *schema;
    int64_t clock_us; //  test clock; 0 = real time
    zhashx_t *loads;  //  staff id -> open requests (routing_flow.c, "load cache")
    //  metrics counted inside a consumer transaction, added after commit
    double pending_routed[4]; //  by tier
    double pending_merged;
    //  transitions staged in the open transaction, by kind; added to
    //  gz_routing_transitions_total only once it commits
    struct {
        char kind[24];
        double n;
    } pending_kinds[32];
    int npending_kinds;
    //  RequestSubmitted batching (routing_flow.c, "batches"): on when the
    //  consumer calls routing_on_flush; direct retries a batch one
    //  request at a time after a conflict.
    bool batched;
    bool direct;
    struct _routing_batch_t *batch;
} routing_core_t;

//  ---- routing_server.c
//  Queue cmd for the actor and defer req (the handler must return without
//  replying): once the actor has applied cmd, routing_http_answer answers
//  req on an HTTP thread. 0 and takes cmd; -1 when closing (cmd stays the
//  caller's, req is not deferred).
int routing_cmd_defer (routing_t *ctx, routing_cmd_t **cmd_p, gz_http_req_t *req);

//  ---- routing_flow.c
//  The clock all routing time is read from (microseconds since the epoch).
int64_t routing_now (routing_core_t *core);
//  Register the writer's statements on core->db (and create the load cache).
void routing_core_prepare (routing_core_t *core);
//  Forget the cached open-request counts per staff: after any rollback
//  of the writer's transaction (counts moved in it did not happen) or a
//  reload of the org directory.
void routing_core_forget_loads (routing_core_t *core);
//  The transaction committed: count its transitions. Rolled back: forget
//  them.
void routing_core_count_committed (routing_core_t *core);
void routing_core_forget_counts (routing_core_t *core);
//  Free what routing_core_prepare created.
void routing_core_release (routing_core_t *core);
//  The consumer handler for intake's stream (arg = routing_core_t *).
//  With core->batched it only collects the requests; routing_on_flush
//  (the consumer's batch flush hook) routes them and writes each table
//  with one statement per batch.
int routing_on_event (gz_db_t *db, const gz_envelope_t *env, void *arg);
int routing_on_flush (gz_db_t *db, void *arg);
//  Apply one command in its own transaction; fills the result fields.
void routing_execute (routing_core_t *core, routing_cmd_t *cmd);
//  Fire the timers that are due. Returns how many fired, -1 on failure.
int routing_timers_run (routing_core_t *core);
//  Install a bearer token (role "staff" with staff_id, or "operator").
//  0 ok, -1 failure.
int routing_token_install (routing_core_t *core, const char *token, const char *staff_id,
                           const char *role, const char *label);
//  Department codes named by rules that are not departments in org:
//  0 when all are known, else -1 with err "<line>: unknown department X".
int routing_rules_check_org (const routing_rules_t *rules, gz_org_t *org, char *err, size_t errlen);

//  ---- routing_http.c
//  Field checks common to HTTP and the bus: NULL when cmd is well formed,
//  else a static English sentence (answered as 400 bad_request).
const char *routing_cmd_check (const routing_cmd_t *cmd);
//  The route table (the actor's spec).
extern const gz_route_t routing_routes[];
//  Answer an applied command's request (a gz_http_resume_fn; arg is the
//  routing_cmd_t, freed here).
void routing_http_answer (gz_http_req_t *req, void *arg);
//  Register the read statements on a pool connection.
void routing_http_prepare (gz_db_t *db, const char *schema);

//  Helpers shared by the views.
//  ISO 8601 in China time ("2025-03-04T09:30:00+08:00") into out[32].
void routing_iso8601 (int64_t us, char out[32]);
const char *routing_tier_name (int tier); //  local, upper, hard

#endif
