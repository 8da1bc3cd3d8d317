/*  routing internals shared by the actor (routing_server.c), the state
    machine's files and the HTTP front (routing_http.c). Not a public
    header. Each declaration sits under a banner naming the file that
    defines it:
      routing_server.c     the spec on gz_actor: config, rules and directory,
                           the WorkerCommand ROUTER, the command queue
      routing_lifecycle.c  the state machine as a table (pure)
      routing_store.c      every SQL statement of routing (the only file
                           that speaks SQL, with routing_meetings_store.c)
      routing_events.c     what a transition records: its event, its
                           timeline detail, the transition counts
      routing_assign.c     who gets a request: the ladder, the dispatcher,
                           the load cache
      routing_timers.c     deadline and close timers, the clock
      routing_consume.c    RequestSubmitted from intake's stream: routing,
                           merging, batches
      routing_commands.c   worker and resident commands, one handler per
                           action, looked up in the table
      routing_http.c       the route table and the worker API
      routing_meetings*.c  逢四说事 meetings on the HTTP API
      routing_coord.c      the units under a coordinator (reassign, /w/coord)
      routing_pages*.c     the staff's workbench (/w/: HTML pages, sessions)
      routing_store_sessions.c  the workbench's SQL (sign-in codes, sessions)
      routing_store_coord.c     the coordinator page's SQL
      routing_rules.c      the routing rules file (routing_rules.h)

    DESIGN: like intake. The actor thread owns the writer connection, the
    bus consumer of intake's stream, the publisher of stream "routing"
    (chained to the consumer with gz_bus_sub_set_outbox, so the events a
    RequestSubmitted causes commit with the cursor), the ROUTER for
    WorkerCommand, and the deadline timers (docs/service-anatomy.md). HTTP
    threads parse and check a command, defer their request, queue the
    command (gz_queue) and wake the actor; the actor applies it in a
    transaction with its event and timeline row, commits, then resumes the
    request, which is answered on an HTTP thread (routing_http_answer). No
    thread waits. Reads (GET) and meetings are blocking routes: they run
    on gz_http's worker threads with a small pool of read connections.

    Hot path (RequestSubmitted, inside the consumer's batch transaction):
    two round trips per request, one to find and lock an open duplicate
    (rt_merge_lead), one to write the request with its timers,
    co-handlers, timeline row and the lead's follower count (rt_route, a
    data-modifying CTE that does nothing for a replayed id). Least-loaded
    assignment reads open-request counts per staff from the actor's load
    cache (routing_assign.c): PostgreSQL stays the truth; a count only
    picks among candidates and may lag another replica's transitions by
    a couple of seconds.

    State machine (state after each action; the table in
    routing_lifecycle.c is its one source in C, and
    tests/unit/test_routing_lifecycle.c checks it against this):
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
      reassign      assigned..in_progress -> assigned (another person of
                    the units under a coordinator; only coordinators)
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

#include "gongzhi/v1/routing.pb-c.h"

#define ROUTING_MAX_BODY (64 * 1024) //  bytes of any HTTP body
#define ROUTING_MAX_TEXT 4000        //  characters of a note, result or reason
#define ROUTING_MAX_PHOTOS 3         //  photos of one note or resolution (workbench)

//  One command (HTTP or bus) on its way to the actor.
typedef struct _routing_cmd_t {
    gz_qitem_t item; //  first: on the actor's queue
    //  input (owned strings; NULL = absent)
    char *request_id;
    char *action; //  accept verify start note resolve transfer escalate return
                  //  reassign rate reopen
    char *token;  //  staff/operator bearer token
    char *resident_token;
    char *outcome, *text, *media_url, *to_unit, *to_staff;
    char *session; //  a workbench session id (instead of token), routing_pages.c
    //  note, resolve: SHA-256 names of the photos stored in intake first
    //  (routing_pages_photos.c), carried by the event and the timeline row
    char *photos[ROUTING_MAX_PHOTOS];
    size_t nphotos;
    bool page; //  answer as the workbench does (routing_pages_answer), not JSON
    int score;
    bool satisfied;
    //  result, set by the actor
    int status;     //  HTTP status: 200, 400, 401, 403, 404, 409, 413, 422, 429, 503
    char error[32]; //  "" or bad_request, unauthorized, forbidden, not_found,
                    //  conflict, unprocessable, outside_area (reassign), unavailable
                    //  (bus: too_large, rate_limited)
    char message[256];
    char state[16]; //  the request's state after (or, on conflict, now)
    //  bus replies
    gz_peer_t peer; //  peer.from NULL: not a bus command
    //  HTTP: the deferred request, resumed when the actor is done
    gz_http_req_t *http;
    struct _routing_t *ctx;
    int64_t start_us; //  for the latency histogram
} routing_cmd_t;

//  routing_commands.c
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
    gz_actor_t *actor; //  its clock (gz_actor_now_us: CLOCK, /internal/v1/clock)
    zhashx_t *loads;   //  staff id -> open requests (routing_assign.c, "load cache")
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
    //  RequestSubmitted batching (routing_consume.c, "batches"): on when the
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

//  ---- routing_lifecycle.c (pure: no SQL, no I/O)

//  The states of a request row. The names (routing_state_name) are the
//  values of requests.state: the database's spelling.
typedef enum {
    ROUTING_STATE_NONE = 0, //  not a state: an unknown name
    ROUTING_STATE_ASSIGNED,
    ROUTING_STATE_ACCEPTED,
    ROUTING_STATE_VERIFIED,
    ROUTING_STATE_IN_PROGRESS,
    ROUTING_STATE_RESOLVED,
    ROUTING_STATE_RATED,
    ROUTING_STATE_CLOSED,
    ROUTING_STATE_REJECTED,
    ROUTING_STATE_MERGED,
    ROUTING_STATES,        //  how many (with NONE)
    ROUTING_NEXT_SAME,     //  a transition's next: the state stays
    ROUTING_NEXT_COMPUTED, //  a transition's next: routing_lifecycle_next decides
} routing_state_t;

//  The worker and resident actions; the names are the URL's
//  (POST /api/v1/requests/{id}/{action}).
typedef enum {
    ROUTING_ACTION_NONE = 0, //  not an action: an unknown name
    ROUTING_ACTION_ACCEPT,
    ROUTING_ACTION_VERIFY,
    ROUTING_ACTION_START,
    ROUTING_ACTION_NOTE,
    ROUTING_ACTION_RESOLVE,
    ROUTING_ACTION_RATE,
    ROUTING_ACTION_REOPEN,
    ROUTING_ACTION_TRANSFER,
    ROUTING_ACTION_ESCALATE,
    ROUTING_ACTION_RETURN,
    ROUTING_ACTION_REASSIGN,
    ROUTING_ACTIONS
} routing_action_t;

//  verify's outcomes (routing_lifecycle_next's choice for verify).
enum { ROUTING_VERIFY_REACHED, ROUTING_VERIFY_NOT_REACHED, ROUTING_VERIFY_INVALID };

//  One row of the table: in which states action applies (a bit per
//  state), the state that follows (or ROUTING_NEXT_SAME/COMPUTED), and
//  whether it is a resident's action (status-link secret or operator).
//  The handler of each row is routing_commands.c's, indexed by action.
typedef struct {
    routing_action_t action;
    const char *name;
    unsigned allowed;
    routing_state_t next;
    bool resident;
} routing_transition_t;

const char *routing_state_name (routing_state_t state);     //  "unknown" for NONE
routing_state_t routing_state_from_name (const char *name); //  NONE when unknown or NULL
//  Work in hand: assigned, accepted, verified, in_progress.
bool routing_state_open (routing_state_t state);
//  Its response deadline still runs: assigned, accepted.
bool routing_state_responding (routing_state_t state);
//  Handled, within the reopen window: resolved, rated.
bool routing_state_done (routing_state_t state);
//  The row of action; NULL for NONE or out of range.
const routing_transition_t *routing_transition (routing_action_t action);
const char *routing_action_name (routing_action_t action);    //  "unknown" for NONE
routing_action_t routing_action_from_name (const char *name); //  NONE when unknown or NULL
//  True when t applies in state.
bool routing_transition_allows (const routing_transition_t *t, routing_state_t state);
//  The state action leaves a request in that was in from; NONE when the
//  table refuses it. choice picks a computed outcome: verify
//  ROUTING_VERIFY_*, rate 1 satisfied (closed) or 0 (rated); ignored
//  otherwise.
routing_state_t routing_lifecycle_next (routing_action_t action, routing_state_t from, int choice);
//  verify's outcome field as ROUTING_VERIFY_*: anything but reached and
//  not_reached is invalid (routing_cmd_check refuses other values).
int routing_verify_outcome (const char *outcome);
//  Whether role (org.staff.role) coordinates the units under it: the
//  sub-district coordinator and the community's duty and secretary roles
//  (the coordinator page, reassign).
bool routing_coordinator_role (const char *role);

//  ---- routing_store.c (every statement of the writer; the only SQL)

//  A request row as the state machine sees it (owned strings).
typedef struct {
    char *id, *service_code, *building_code, *grid_code, *community_code;
    char *subdistrict_code, *assignee_staff, *assignee_name, *assignee_unit;
    char *assignee_unit_name, *assignee_role, *merged_into, *lead_code, *comment;
    routing_state_t state;
    routing_state_t saved_state;                     //  as stored: for the load cache's moves
    char *saved_staff;                               //  as stored: for the load cache's moves
    int tier, level, reopen_count, score, satisfied; //  satisfied -1 = unknown
    int64_t response_s, resolve_s, response_due_us, resolve_due_us;
    int64_t responded_at_us, resolved_at_us, closed_at_us, routed_at_us; //  -1 = never
    bool resident_ok;
} routing_req_t;

//  Free q's strings and zero it.
void routing_req_clear (routing_req_t *q);
//  Replace *field with a copy of value (NULL stays NULL).
void routing_set (char **field, const char *value);
//  A copy of s, NULL when s is NULL or "".
char *routing_dup_or_null (const char *s);
//  s, or "" for NULL.
const char *routing_str (const char *s);

//  Register the writer's statements (and gz_auth's) on core->db.
void routing_store_prepare (routing_core_t *core);
//  Register the read statements of routing_http.c on a pool connection.
void routing_store_prepare_reads (gz_db_t *db, const char *schema);
//  Load and lock a request. 1 found, 0 not found, -1 failure.
int routing_store_load (routing_core_t *core, const char *id, const char *resident_token,
                        routing_req_t *out);
//  Write q's changing columns. 0 ok, -1 failure.
int routing_store_save (routing_core_t *core, const routing_req_t *q);
//  One timeline row. 0 ok, -1 failure.
int routing_store_timeline (routing_core_t *core, const char *id, int64_t at_us, const char *kind,
                            routing_state_t state, const char *actor_id, const char *actor_name,
                            const char *actor_role, const char *note, const char *detail);
//  Arm the next generation of timer kind; cancel the unfired timers of
//  the kinds in a text[] literal. 0 ok, -1 failure.
int routing_store_timer_arm (routing_core_t *core, const char *id, const char *kind, int64_t at_us);
int routing_store_timer_cancel (routing_core_t *core, const char *id, const char *kinds);
//  A due timer (rt_timers_due's row; strings as stored).
typedef struct {
    const char *request_id, *kind, *generation;
} routing_timer_t;
//  Up to 100 timers due at now, locked, skipping locked ones: *out one
//  block (the array and its strings) the caller free()s, *n timers. 0
//  ok, -1 failure (*out NULL).
int routing_store_timers_due (routing_core_t *core, const char *now, routing_timer_t **out,
                              size_t *n);
//  Mark one timer fired: 1 marked, 0 fired or cancelled already, -1
//  failure.
int routing_store_timer_mark (routing_core_t *core, const char *id, const char *kind,
                              const char *generation, const char *now);
//  How many open requests a staff member has.
typedef struct {
    const char *staff_id;
    long open;
} routing_count_t;
//  The open requests of each staff id in the text[] literal ids: *out one
//  block (the array and its strings) the caller free()s, *n counts. 0
//  ok, -1 failure (*out NULL).
int routing_store_load_counts (routing_core_t *core, const char *ids, routing_count_t **out,
                               size_t *n);
//  The district's first sub-district coordinator in core->org. 1 found,
//  0 none, -1 failure.
int routing_store_dispatcher (routing_core_t *core, const gz_staff_t **out);
//  Whether unit co-handles request id (*yes). 0 ok, -1 failure.
int routing_store_is_co_handler (routing_core_t *core, const char *id, const char *unit, bool *yes);
//  Mark unit's co-handling of id reported. 0 ok, -1 failure.
int routing_store_co_report (routing_core_t *core, const char *id, const char *unit);
//  The open duplicate of q (q->building_code, q->service_code) routed
//  since, locked (rt_merge_lead), copied into q: merged_into (its id),
//  tier, level, lead_code, the assignee, the deadlines' lengths and due
//  times. 1 found, 0 none (q unchanged), -1 failure.
int routing_store_merge_lead (routing_core_t *core, routing_req_t *q, const char *since);
//  rt_merge_lead for a batch: the lead of every (building, category)
//  pair of two text[] literals, locked (rt_merge_leads), each as a
//  request with its id, the pair in building_code and service_code and
//  what a follower copies (as above). *out the caller's (routing_req_clear
//  each, then free), *n leads. 0 ok, -1 failure (*out NULL).
int routing_store_merge_leads (routing_core_t *core, const char *buildings, const char *categories,
                               const char *since, routing_req_t **out, size_t *n);
//  rt_route's 37 parameters: *inserted false when the request existed.
//  0 ok, -1 failure.
int routing_store_route (routing_core_t *core, const char *const *v, bool *inserted);
//  rt_route_batch's n parameters: *inserted requests. 0 ok, -1 failure.
int routing_store_route_batch (routing_core_t *core, int n, const char *const *v,
                               long long *inserted);

//  The reads of routing_http.c, on a pool connection (statements of
//  routing_store_prepare_reads), as the JSON it answers.
//  Request id's full view: 1 found (*out the caller's; *resident_ok when
//  resident_token is its status-link secret), 0 not found, -1 failure.
int routing_store_view (gz_db_t *db, const char *id, const char *resident_token, json_t **out,
                        bool *resident_ok);
//  The open requests of staff_id or unit (NULL, NULL: everyone's), most
//  urgent first: a JSON array, the caller's; NULL on failure.
json_t *routing_store_queue (gz_db_t *db, const char *staff_id, const char *unit);
//  One cell of r for the *_store*.c files' views, a new reference: the
//  string, or null for SQL NULL; jtime: microseconds as routing_iso8601.
json_t *routing_store_jstr (PGresult *r, int row, int col);
json_t *routing_store_jtime (PGresult *r, int row, int col);
//  Run statement name with its n parameters v on db and make each row of
//  the result a JSON value with row: a JSON array, the caller's; NULL on
//  failure.
json_t *routing_store_jrows (gz_db_t *db, const char *name, int n, const char *const *v,
                             json_t *(*row) (PGresult *r, int i));

//  ---- routing_events.c (what a transition records)

//  A PostgreSQL array literal (or any text) built piece by piece.
typedef struct {
    char *text;
    size_t len, cap;
    size_t n; //  elements
} routing_array_t;

//  Append one character.
void routing_array_put (routing_array_t *a, char c);
//  Append value as a quoted element.
void routing_array_add (routing_array_t *a, const char *value);
//  value, or an SQL NULL element when value is NULL.
void routing_array_add_or_null (routing_array_t *a, const char *value);
//  Append the elements of the literal src.
void routing_array_cat (routing_array_t *a, const routing_array_t *src);
//  The literal; "{}" when nothing was added. Borrowed.
const char *routing_array_text (const routing_array_t *a);

//  Who made a transition: all NULL for the system.
typedef struct {
    const char *id, *name, *role, *unit, *unit_name;
} routing_actor_t;

//  What one transition emits.
typedef struct {
    const char *type; //  envelope type, e.g. "RequestAccepted"
    const char *kind; //  RequestUpdate.kind
    const char *note; //  Chinese, for the resident's timeline
    const char *outcome, *deadline, *media_url;
    char *const *photos; //  note, resolved: SHA-256 names (intake's)
    size_t nphotos;
    int score, satisfied, escalation_level; //  satisfied -1 = n/a
    Gongzhi__V1__Assignee **co;             //  routed: co-handlers
    size_t nco;
} routing_emit_t;

//  Stage the event of one transition of q (already in its new state) at
//  now, and count it (committed with its transaction only).
void routing_stage_event (routing_core_t *core, const routing_req_t *q, const routing_emit_t *e,
                          const routing_actor_t *actor, int64_t now);
//  The timeline row's detail (a JSON object) of one transition. Caller
//  frees.
char *routing_timeline_detail (const routing_req_t *q, const routing_emit_t *e);
//  Whether timeline rows of kind are for staff only (contact_viewed: who
//  looked at the resident's phone), never shown to the resident. NULL: no.
bool routing_timeline_staff_only (const char *kind);
//  Whether the resident's view leaves rows of kind out: the staff-only
//  ones and the internal deadline_warning (a deadline's reminder to staff;
//  intake's status page leaves it out too).
bool routing_timeline_resident_hidden (const char *kind);
//  Stage the event and write the timeline row of one transition of q.
//  0 ok, -1 failure.
int routing_emit (routing_core_t *core, const routing_req_t *q, const routing_emit_t *e,
                  const routing_actor_t *actor);
//  The transaction committed: count its transitions. Rolled back: forget
//  them.
void routing_core_count_committed (routing_core_t *core);
void routing_core_forget_counts (routing_core_t *core);

//  ---- routing_assign.c (who gets a request)

//  Someone to assign: a staff member, or a unit (staff_id NULL).
typedef struct {
    const char *staff_id;
    const char *name, *unit, *unit_name, *role;
} routing_pick_t;

//  The load cache (staff id -> open requests), for core->loads.
zhashx_t *routing_loads_new (void);
//  Forget the cached open-request counts per staff: after any rollback
//  of the writer's transaction (counts moved in it did not happen) or a
//  reload of the org directory.
void routing_core_forget_loads (routing_core_t *core);
//  One request more (delta 1) or less (-1) in hand for staff_id.
void routing_load_move (routing_core_t *core, const char *staff_id, int delta);
//  Store q's row (routing_store_save) and move the load cache from what
//  was stored to q. 0 ok, -1 failure.
int routing_req_save (routing_core_t *core, routing_req_t *q);
//  Least-loaded staff of unit with role (NULL: any). strict: on duty and
//  under max_open only; otherwise on duty preferred. 1 found, 0 none, -1
//  failure.
int routing_pick_staff (routing_core_t *core, const char *unit, const char *role, bool strict,
                        const gz_staff_t **out);
//  The dispatcher of q: its sub-district's coordinator, else the
//  district's first. 1 found, 0 none, -1 failure.
int routing_pick_dispatcher (routing_core_t *core, const routing_req_t *q, routing_pick_t *p);
//  Assign q at rung level or the first rung above with someone; the
//  dispatcher when the ladder has no one. The rung, -1 when nobody (q
//  unchanged), -2 on failure.
int routing_assign_from (routing_core_t *core, routing_req_t *q, int level);
//  Make p q's assignee at rung level (p's name, else its unit's name).
void routing_assign_to (routing_req_t *q, const routing_pick_t *p, int level);
//  Climb one rung (note: why + the new assignee). 0 done, 1 at the top
//  already, -1 failure.
int routing_climb (routing_core_t *core, routing_req_t *q, char *note, size_t len, const char *why);
//  "<prefix><name>（<unit>）<suffix>" into out.
void routing_assignee_note (const routing_req_t *q, const char *prefix, const char *suffix,
                            char *out, size_t len);
//  Department codes named by rules that are not departments in org:
//  0 when all are known, else -1 with err "<line>: unknown department X".
int routing_rules_check_org (const routing_rules_t *rules, gz_org_t *org, char *err, size_t errlen);

//  ---- routing_clock.c: GET/POST /internal/v1/clock (GZ_TEST_CLOCK=1)
bool routing_clock_route (void *state, gz_http_req_t *req, const char *rest);

//  ---- routing_timers.c (deadlines and the clock)

//  The clock all routing time is read from (microseconds since the epoch).
int64_t routing_now (routing_core_t *core);
//  When the warning of a deadline ending at due_us that lasts length_s
//  fires.
int64_t routing_warn_at (routing_core_t *core, int64_t due_us, int64_t length_s);
//  (Re-)arm the warning and due timers of deadline which ("response" or
//  "resolve") ending at due_us. 0 ok, -1 failure.
int routing_arm_deadline (routing_core_t *core, const char *id, const char *which, int64_t due_us,
                          int64_t length_s);
//  Fire the timers that are due. Returns how many fired, -1 on failure.
int routing_timers_run (routing_core_t *core);

//  ---- routing_consume.c (intake's stream)

//  Register the writer's statements on core->db (and create the load
//  cache and the batch). routing_core_release frees what it created.
void routing_core_prepare (routing_core_t *core);
void routing_core_release (routing_core_t *core);
//  The consumer handler for intake's stream (arg = routing_core_t *).
//  With core->batched it only collects the requests; routing_on_flush
//  (the consumer's batch flush hook) routes them and writes each table
//  with one statement per batch.
int routing_on_event (gz_db_t *db, const gz_envelope_t *env, void *arg);
int routing_on_flush (gz_db_t *db, void *arg);

//  ---- routing_commands.c (worker and resident commands)

//  Apply one command in its own transaction; fills the result fields.
void routing_execute (routing_core_t *core, routing_cmd_t *cmd);
//  Install a bearer token (role "staff" with staff_id, or "operator").
//  0 ok, -1 failure.
int routing_token_install (routing_core_t *core, const char *token, const char *staff_id,
                           const char *role, const char *label);

//  ---- routing_http.c
//  Field checks common to HTTP and the bus: NULL when cmd is well formed,
//  else a static English sentence (answered as 400 bad_request).
const char *routing_cmd_check (const routing_cmd_t *cmd);
//  The 400 message for a body jansson refused (err from json_loadb with
//  JSON_REJECT_DUPLICATES): a repeated key, or not a JSON object.
const char *routing_json_error (const json_error_t *err);
//  Who sent an HTTP request: the owner of its bearer token (gz_auth).
typedef struct {
    bool known, operator; //  known: an operator, or staff in the directory
    char staff_id[80];
    char unit[80];      //  the staff member's unit
    char community[80]; //  the community served ("" when none)
    char role[40];      //  org.staff.role: a session's only ("" for a bearer token)
} routing_caller_t;
//  Look up req's bearer token on db. 0 (c->known false when there is no
//  token or it is unknown; *had_token says which), -1 database failure.
int routing_http_caller (gz_db_t *db, gz_http_req_t *req, routing_caller_t *c, bool *had_token);
//  The route table (the actor's spec).
extern const gz_route_t routing_routes[];
//  Answer an applied command's request (a gz_http_resume_fn; arg is the
//  routing_cmd_t, freed here).
void routing_http_answer (gz_http_req_t *req, void *arg);
//  Register the read statements on a pool connection.
void routing_http_prepare (gz_db_t *db, const char *schema);

//  May c (a known caller) read view, a request's full view (the rule of
//  GET /api/v1/requests/{id}: an operator every request; staff their
//  area's, their unit's, their own and co-handled ones).
bool routing_may_read (const routing_caller_t *c, json_t *view);

//  ---- routing_coord.c (the units under a coordinator)
//  Whether unit is area or lies under it on the org ladder (walking up
//  unit's parents). False when either is NULL or unknown.
bool routing_unit_under (gz_org_t *org, const char *unit, const char *area);

//  ---- routing_store_coord.c (the coordinator page's SQL)
//  Register the statements on a pool connection.
void routing_coord_prepare (gz_db_t *db, const char *schema);
//  The open requests of area (a unit code: placed in it, or assigned to a
//  unit under it), most urgent first, as rh_queue's rows with the
//  assignee's unit_code: a JSON array, the caller's; NULL on failure.
json_t *routing_coord_open (gz_db_t *db, const char *area);
//  The staff of area and the units under it ({staff_id, name, unit_code,
//  unit_name, role}): a JSON array, the caller's; NULL on failure.
json_t *routing_coord_people (gz_db_t *db, const char *area);

//  ---- routing_pages.c (the workbench, docs/workbench.md)
//  POST /w/r/{id}/{action} (deferred) and every other /w/ path (blocking).
bool routing_page_action_route (void *state, gz_http_req_t *req, const char *rest);
bool routing_page_route (void *state, gz_http_req_t *req, const char *rest);
//  Answer an applied command that came from a workbench form (cmd->page):
//  a 303 to the request's page with the outcome, never an error page.
void routing_pages_answer (gz_http_req_t *req, routing_cmd_t *cmd);

//  ---- routing_store_sessions.c (the workbench's SQL)
//  Register the statements on db (pool connections and the writer).
void routing_sessions_prepare (gz_db_t *db, const char *schema);
//  Spend a one-time sign-in code (valid, unused, not expired) and open
//  session (a new random id) for its staff member: 1 (staff_id filled),
//  0 refused, -1 failure.
int routing_session_from_code (gz_db_t *db, const char *code, const char *session,
                               char staff_id[80]);
//  The same with a staff bearer token: 1, 0 refused, -1 failure.
int routing_session_from_token (gz_db_t *db, const char *token, const char *session,
                                char staff_id[80]);
//  End session (sign out). 0 ok, -1 failure.
int routing_session_end (gz_db_t *db, const char *session);
//  Who holds session: 1 (c filled as routing_http_caller does; name the
//  person's name when not NULL), 0 unknown or expired, -1 failure.
int routing_session_caller (gz_db_t *db, const char *session, routing_caller_t *c, char name[80]);

//  Helpers shared by the views.
//  ISO 8601 in China time ("2025-03-04T09:30:00+08:00") into out[32].
void routing_iso8601 (int64_t us, char out[32]);
const char *routing_tier_name (int tier); //  local, upper, hard

#endif
