/*  intake internals shared by the files of the intake service. Not a
    public header. The layout follows docs/service-anatomy.md:
    intake_server.c (config and the actor's spec), intake_http.c (the
    route table), intake_open311.c and intake_pages.c (the routes),
    intake_consume.c (the ROUTER's commands and routing's stream),
    intake_commit.c (the group-commit engine), intake_store.c (every SQL
    statement: the commit's, routing's updates, the reads),
    intake_validate.c (pure validation), intake_fingerprint.c (pure: the
    canonical form an idempotency key's fingerprint is computed from).

    DESIGN: HTTP runs on a few libmicrohttpd event-loop threads (a
    gz_http pool server, GZ_HTTP_THREADS, default 8); the actor thread
    owns the writer connection, the PUB and ROUTER sockets. An HTTP
    thread validates a submission, defers its request (gz_http_defer: the
    connection is parked, the thread goes on serving others), puts the
    submission with the deferred handle and its answer function on the
    queue (gz_queue) and wakes the actor (only when the queue was empty).
    The actor drains the queue (and the ROUTER) into one transaction -
    one multi-row INSERT for the whole batch, then the batch's events -
    commits, publishes, then only marks each submission done or failed
    and hands it to the finisher thread, which resumes it with
    gz_http_resume: the answer (JSON, XML or the QR page) is rendered on
    an HTTP thread, so the actor, the serial part, does no rendering. No
    thread sleeps per request. So 64 concurrent POSTs cost a handful of
    commits and round trips, not 64. A request deferred for 15 s
    (GZ_INTAKE_ANSWER_TIMEOUT_MS) is answered 503 by gz_http's watchdog
    (intake_http_timeout), even while the actor is stuck in a commit; the
    actor frees the submission when it finishes it. Reads (GET) and the
    resident's forms (a call to routing) are blocking routes: they run
    on gz_http's worker threads (GZ_INTAKE_WORKERS), never on the HTTP
    threads, so a slow read or a slow routing never holds up a
    submission.  */
#ifndef INTAKE_H_INCLUDED
#define INTAKE_H_INCLUDED

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_actor.h"
#include "gz_category.h"
#include "gz_codec.h"
#include "gz_db.h"
#include "gz_dbpool.h"
#include "gz_http.h"
#include "gz_metrics.h"
#include "gz_org.h"
#include "gz_queue.h"
#include "gz_ratelimit.h"
#include "intake_server.h"

#define INTAKE_MAX_DESCRIPTION 4000 //  characters (code points)
#define INTAKE_MAX_BODY (64 * 1024) //  bytes of any HTTP body
#define INTAKE_MAX_FIELD 1000       //  bytes of any short field

typedef enum { SUB_PENDING = 0, SUB_DONE, SUB_FAILED } intake_sub_state_t;

//  How an answer is written: Open311's JSON or XML, or the resident's
//  HTML pages.
typedef enum {
    INTAKE_FORMAT_JSON = 0,
    INTAKE_FORMAT_XML = 1,
    INTAKE_FORMAT_HTML = 2
} intake_format_t;

typedef struct {
    char *code;
    char *value;
} intake_attr_t;

//  One validated submission on its way to the database.
struct _intake_t;

typedef struct _intake_sub_t {
    gz_qitem_t item; //  first: on the commit queue
    //  input
    int channel; //  GONGZHI__V1__CHANNEL__*
    char *service_code;
    char *description;
    struct _intake_org_t *org;     //  the directory building points into (a reference)
    const gz_building_t *building; //  borrowed from org; NULL if unresolved
    bool has_latlon;
    double lat, lon;
    char *address;
    char *media_url;
    char *phone, *name, *email; //  personal: contacts table only
    char *meeting_id, *external_id;
    char *reporter_id; //  "rider:<id>" or "resident:<id>"; NULL = none
    char *client_id;
    char *idempotency_key;
    //  What the key's fingerprint is computed from (intake_canonical_form);
    //  NULL without a key.
    char *canonical;
    intake_attr_t *attrs;
    size_t nattrs;
    char secret[33];
    //  result, set by the actor
    intake_sub_state_t state;
    int64_t id;
    bool duplicate;
    //  The key was already used for a different request (a duplicate whose
    //  fingerprint differs): refused, nothing stored.
    bool mismatch;
    //  bus replies: routing id and whether the peer used a REQ delimiter
    gz_peer_t peer; //  peer.from NULL: not a bus command
    //  a deferred HTTP request (intake_submit_defer): the handle, and the
    //  function that answers it on an HTTP thread once the actor is done
    gz_http_req_t *http;
    void (*answer) (gz_http_req_t *req, struct _intake_sub_t *sub);
    intake_format_t format;           //  how to answer (the answerer's)
    const gz_building_t *qr_building; //  QR page: the building (borrowed)
    //  QR page: the photos, checked and re-encoded on an HTTP worker;
    //  stored and linked with the request in its transaction (not for a
    //  duplicate: the original has its own).
    intake_photo_t photos[INTAKE_PHOTO_MAX_COUNT];
    size_t nphotos;
    bool photos_public;    //  允许公开照片 ticked
    int64_t http_start_us; //  for the latency histogram
    struct _intake_t *ctx;
    struct _intake_sub_t *next;
} intake_sub_t;

typedef struct {
    char *name;
    char *key;
} intake_key_t;

//  One loaded org directory and the requests using it.
typedef struct _intake_org_t {
    gz_org_t *org;
    atomic_int refs;
} intake_org_t;

//  State shared between the actor and HTTP threads. Everything here is
//  either read-only after start, internally synchronised (metrics,
//  ratelimit, queue), or guarded by its own lock.
typedef struct _intake_t {
    intake_config_t *cfg; //  read-only: the actor's copy
    gz_actor_t *actor;
    //  The org directory in force; RELOAD swaps it while requests still use
    //  the one they took (intake_org_take), freed when the last lets go.
    pthread_mutex_t org_lock;
    struct _intake_org_t *org_cur;
    gz_metrics_t *metrics;
    gz_ratelimit_t *ratelimit;
    intake_key_t *keys;
    size_t nkeys;
    gz_dbpool_t *pool; //  read connections for HTTP threads
    gz_queue_t *queue; //  HTTP submissions on their way to a committer
    //  With several writer threads, the one holding this takes the queue
    //  and inserts; it lets go before its outbox write and COMMIT, so the
    //  next batch is inserted while this one commits.
    pthread_mutex_t insert_turn;
    atomic_bool writer_threads; //  HTTP submissions go to writer threads, not the actor
    atomic_int inflight;        //  HTTP submissions waiting for a commit
} intake_t;

//  ---- intake_validate.c
//  Raw fields of a submission from any channel (borrowed strings; NULL =
//  absent). lat_s/long_s are text as received.
typedef struct {
    int channel;
    const char *service_code, *description, *lat_s, *long_s, *address_id, *address_string;
    const char *phone, *name, *email, *media_url, *meeting_id, *external_id;
    const char *reporter_id;
    const char *client_id, *idempotency_key;
    const char **attr_codes, **attr_values;
    size_t nattrs;
} intake_raw_t;

//  Validation outcome: error is a GONGZHI__V1__ERROR_CODE__*; message is a
//  static English sentence naming the field.
typedef struct {
    int error;
    const char *field;
    char message[160];
} intake_err_t;

//  Validate raw against the categories and the org directory. Returns a new
//  submission, or NULL with *err filled.
intake_sub_t *intake_sub_new (intake_t *ctx, const intake_raw_t *raw, intake_err_t *err);
void intake_sub_destroy (intake_sub_t **self_p);

//  Is reporter (not NULL, not empty) a reporter id: "rider:" or
//  "resident:", then 1 to 64 of [A-Za-z0-9._-]? Pure.
bool intake_reporter_valid (const char *reporter);

//  Channel enum <-> text ("QR", "OPEN311", ...).
const char *intake_channel_name (int channel);
const char *intake_channel_label (int channel); //  lowercase, for metrics

//  ---- intake_fingerprint.c
//  The canonical form of what the client sent in raw (a validated
//  submission): the text whose SHA-256 is the request's fingerprint.
//  Returns a new string (the caller's).
char *intake_canonical_form (const intake_raw_t *raw);
//  The form with the submission's photos added: the SHA-256 (hex) of each
//  as stored, in order, and whether the resident let them be public.
//  Without photos the form is left as it is (the fingerprints stored
//  before photos stay valid). Replaces *form_p (NULL: nothing to do).
void intake_canonical_add_photos (char **form_p, const char (*sha256)[65], size_t n, bool public_);
//  The same for a submission whose photos are decoded (sub->photos).
void intake_sub_fingerprint_photos (intake_sub_t *sub);

//  ---- intake_server.c
//  Check an API key; returns the key's name (borrowed) or NULL.
const char *intake_api_key_name (intake_t *ctx, const char *key);
//  The org directory in force, as a reference the caller drops (so a
//  RELOAD meanwhile cannot free what it reads).
intake_org_t *intake_org_take (intake_t *ctx);
void intake_org_drop (intake_org_t **org_p);
//  Put org in force (takes it); the old one goes once no request holds it.
void intake_org_set (intake_t *ctx, gz_org_t *org);

//  ---- intake_commit.c
//  Called by the answer function of a deferred submission.
typedef void (intake_answer_fn) (gz_http_req_t *req, intake_sub_t *sub);
//  Queue sub for commit and defer req (the handler must return without
//  replying): once a committer has finished sub (state DONE or FAILED),
//  answer (req, sub) runs on an HTTP thread and must reply; sub is freed
//  after it. Returns 0 and takes sub; -1 when closing (sub stays the
//  caller's, req is not deferred: answer 503).
int intake_submit_defer (intake_t *ctx, intake_sub_t **sub_p, gz_http_req_t *req,
                         intake_answer_fn *answer);
//  The engine: the actor's committer (db, pub and router are the
//  actor's, borrowed), the finisher thread and GZ_INTAKE_WRITERS writer
//  threads when 2 or more.
typedef struct _intake_engine_t intake_engine_t;
intake_engine_t *intake_engine_new (intake_t *ctx, gz_db_t *db, gz_bus_pub_t *pub, zsock_t *router);
//  Stop the writer threads once the queue is empty, commit what is left,
//  answer everything, free.
void intake_engine_destroy (intake_engine_t **self_p);
//  On the actor: commit bus_list (taken) with what HTTP threads queued
//  (unless writer threads take those), in one transaction.
void intake_engine_cycle (intake_engine_t *self, intake_sub_t *bus_list);
//  HTTP submissions wait for the actor.
bool intake_engine_pending (intake_engine_t *self);
//  Send a SubmitReply to a bus peer (clears peer).
void intake_bus_reply (zsock_t *router, gz_peer_t *peer, const Gongzhi__V1__SubmitReply *reply);

//  ---- intake_store.c
//  Register the insert statements on a committer's connection.
void intake_store_prepare (gz_db_t *db, const char *schema);
//  Insert list inside the open transaction on db in one round trip, and
//  stage each new request's event on pub. Sets each submission's id,
//  secret and duplicate flag. 0 ok, -1 failure.
int intake_store_insert (gz_db_t *db, gz_bus_pub_t *pub, intake_sub_t *list);

//  One of routing's updates as intake applies it (strings borrowed; a
//  NULL note, agency or media_url keeps or leaves out what is there).
typedef struct {
    const char *request_id, *status, *note, *agency, *state, *kind;
    const char *update_status, *media_url;
    int64_t due_us; //  0: no deadline
    int64_t at_us, position;
    bool public; //  also on the resident's timeline and the updates feed
} intake_follow_t;
//  Register the statement of routing's updates (on the actor's
//  connection).
void intake_follow_prepare (gz_db_t *db, const char *schema);
//  Apply u to the request it names, if intake knows it, in one round
//  trip. 0 ok, -1 failure (gz_db_sqlstate says why).
int intake_store_follow (gz_db_t *db, const intake_follow_t *u);

//  Filters of an Open311 requests search (borrowed; a NULL list or date
//  is no filter). Lists are NULL-terminated; ids, when set, is the whole
//  query.
typedef struct {
    const char *const *ids; //  each 1 to 18 digits
    const char *const *service_codes;
    const char *const *statuses;
    const char *start_date, *end_date; //  as received: the database reads them
    long limit;
} intake_request_query_t;
//  Requests matching q, on a read connection. 0 and *list_p an array of
//  Open311 request objects (the caller's), -1 when the database failed,
//  -2 when it refused a parameter (SQLSTATE class 22: a bad date).
int intake_store_find_requests (intake_t *ctx, const intake_request_query_t *q, json_t **list_p);
//  The updates feed (start/end as received, NULL = none), likewise: 0
//  and *list_p an array of Open311 update objects (the caller's), -1, -2.
int intake_store_find_updates (intake_t *ctx, const char *start, const char *end, long limit,
                               json_t **list_p);

//  One line of the resident's timeline: local time, kind, note ("" = none).
typedef struct {
    char *at, *kind, *note;
} intake_status_line_t;
//  What the resident's status page shows of a request. Every string is
//  set ("" for a NULL column) but phone, NULL when none is on record.
typedef struct {
    char *id, *service_code, *description, *status, *address, *submitted_at;
    char *secret, *phone, *state;
    intake_status_line_t *timeline;
    size_t ntimeline;
} intake_status_t;
//  Load request id (digits), with its timeline when asked, on a read
//  connection. 0 and *status_p the request (the caller's, freed with
//  intake_status_destroy) or NULL when there is none; -1 when the
//  database failed.
int intake_store_status (intake_t *ctx, const char *id, bool timeline, intake_status_t **status_p);
void intake_status_destroy (intake_status_t **self_p);

//  A resident's contact and status-link secret, for notify only (GET
//  /internal/v1/contacts/{id}). Callers wipe it after use.
typedef struct {
    char phone[64], email[256], secret[80];
} intake_contact_t;
//  Load request id's contact on a read connection: 0 found, 1 the request
//  has none (or does not exist), -1 the database failed.
int intake_store_contact (intake_t *ctx, const char *id, intake_contact_t *out);

//  ---- intake_store_photo.c
//  A stored photo (or its thumbnail) that the caller may see: one a
//  request refers to as public, or, given secret (NULL: none), one a
//  request whose status-link secret it is refers to. 0 and *bytes_p (the
//  caller frees) and *len_p; 1 when there is no such photo or the caller
//  may not see it (the two are not told apart); -1 the database failed.
//  Register the photo statements on a committer's connection.
void intake_store_photo_prepare (gz_db_t *db, const char *schema);
//  Inside the committer's open transaction: store sub's photos (once per
//  SHA-256) and link them to sub->id in order. 0 ok, -1 failure.
int intake_store_photo_link (gz_db_t *db, const intake_sub_t *sub);
//  The SHA-256 names of request id's photos in order (at most max), with
//  whether each is public in public_[]. How many,
//  or -1 on a database failure.
//  kind: "filing" (the resident's) or "after" (the resolution's).
int intake_store_photo_list (intake_t *ctx, const char *id, const char *kind, char (*sha256)[65],
                             bool *public_, int max);
int intake_store_photo_get (intake_t *ctx, const char *sha256, bool thumb, const char *secret,
                            unsigned char **bytes_p, size_t *len_p);
//  A staff photo (POST /internal/v1/photos): store ph once per SHA-256,
//  linked to no request yet. 0 ok, -1 failure.
int intake_store_photo_put (intake_t *ctx, const intake_photo_t *ph);
//  Any stored photo (or thumbnail), for the keyed internal path: as
//  intake_store_photo_get, without a check of who asks.
int intake_store_photo_staff_get (intake_t *ctx, const char *sha256, bool thumb,
                                  unsigned char **bytes_p, size_t *len_p);
//  Routing's consumer (db in its transaction): link the n photos of a
//  resolution to request_id as kind 'after'. 0 ok, -1 failure.
int intake_store_photo_after (gz_db_t *db, const char *schema, const char *request_id,
                              char *const *sha256, size_t n);

//  ---- intake_media.c
//  GET /media/{sha256} and /media/{sha256}/thumb (rest: what follows
//  "/media/"): the photo as image/jpeg, to whoever may see it (see
//  intake_store_photo_get; ?t= the status-link secret), else 404.
void intake_media (intake_t *ctx, gz_http_req_t *req, const char *rest);
//  The keyed internal paths of photos for routing's workbench:
//  POST /internal/v1/photos, GET /internal/v1/photos/{sha256}[/thumb],
//  GET /internal/v1/requests/{id}/photos (rest: what follows
//  "/internal/v1/"). 404 unless the key is given.
void intake_media_internal (intake_t *ctx, gz_http_req_t *req, const char *rest);

//  ---- intake_consume.c
//  The handler of routing's stream (arg = intake_t *).
int intake_follow_handler (gz_db_t *db, const gz_envelope_t *env, void *arg);
//  One command from the ROUTER: a valid submission is appended to
//  head/tail (the next commit's batch); every other outcome is answered
//  at once.
void intake_on_command (intake_t *ctx, zsock_t *router, intake_sub_t **head, intake_sub_t **tail);

//  ---- intake_http.c
//  The route table (the actor's spec).
extern const gz_route_t intake_routes[];
//  Answers a submission deferred too long (gz_http's defer timeout): 503
//  in the format of its path. state is the intake_t.
void intake_http_timeout (gz_http_req_t *req, void *state);
//  A blocking route found no free worker: 503 in the route's format.
void intake_http_busy (gz_http_req_t *req, void *state, const gz_route_t *route);
//  Count a deferred request answered, with its latency since start_us.
void intake_http_observe (intake_t *ctx, const char *route, int64_t start_us);
//  Is client over its submission rate? Answers 429 with Retry-After (in
//  format) and returns true when limited.
bool intake_rate_limited (intake_t *ctx, gz_http_req_t *req, const char *client,
                          intake_format_t format);

//  ---- intake_open311.c
//  Handles /open311/v2/... (path relative after the prefix). True when the
//  request was deferred (a POST waiting for its commit).
bool intake_open311 (intake_t *ctx, gz_http_req_t *req, const char *rest);
//  The 503 answer for an Open311 path (rest as above).
void intake_open311_unavailable (gz_http_req_t *req, const char *rest);

//  ---- intake_pages.c
//  True when the request was deferred (a POST waiting for its commit).
bool intake_page_qr (intake_t *ctx, gz_http_req_t *req, const char *building_code);
//  The 503 page for a QR form POST (the form filled in again).
void intake_page_qr_unavailable (intake_t *ctx, gz_http_req_t *req, const char *building_code);
void intake_page_status (intake_t *ctx, gz_http_req_t *req, const char *id);
//  POST /r/{id}/rate and /r/{id}/reopen: the resident's forms, passed on to
//  routing's API with the status-link secret.
void intake_page_resident (intake_t *ctx, gz_http_req_t *req, const char *id, const char *action);

#endif
