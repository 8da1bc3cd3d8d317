/*  matching: the internals shared by the matching service's files
    (docs/service-anatomy.md). Each declaration sits under a banner naming
    the file that defines it.  */
#ifndef MATCHING_H_INCLUDED
#define MATCHING_H_INCLUDED

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gongzhi/v1/matching.pb-c.h"
#include "gz_actor.h"
#include "gz_auth.h"
#include "gz_org.h"
#include "gz_queue.h"
#include "matching_ledger.h"
#include "matching_model.h"
#include "matching_points.h"
#include "matching_server.h"
#include "matching_states.h"

#define MATCHING_MAX_BODY (64 * 1024)

//  The context the HTTP threads and the actor share. The routes' state.
typedef struct {
    gz_actor_t *actor;
    const matching_config_t *cfg;
    gz_metrics_t *metrics;
    gz_queue_t *queue;   //  ops for the actor
    atomic_int inflight; //  ops queued or being applied
    //  The actor's alone:
    gz_db_t *db;
    gz_bus_pub_t *pub;
    gz_org_t *org;
    matching_points_rules_t points;
    mt_pairs_weights_t weights;
    bool dirty; //  open needs may have a match: batch soon
    int64_t last_batch_us;
} matching_t;

//  What an op does (the table in matching_ops.c).
typedef enum {
    MT_OP_VOLUNTEER,
    MT_OP_NEED,
    MT_OP_ACCEPT,
    MT_OP_DECLINE,
    MT_OP_CHECKIN,
    MT_OP_CHECKOUT,
    MT_OP_CONFIRM,
    MT_OP_REDEEM,
    MT_OP_SOLVE,
    MT_OP_ITEM,
    MT_OP_MEETING,
    MT_OP_COUNT
} matching_op_kind_t;

//  A write to apply on the actor, from HTTP or the bus. item first.
typedef struct {
    gz_qitem_t item;
    matching_t *ctx;
    matching_op_kind_t kind;
    char bearer[160]; //  HTTP: the bearer token, checked on the actor
    gz_caller_t who;  //  the caller when has_caller
    bool has_caller;
    int64_t id;     //  the offer or service
    char token[96]; //  an offer's secret (volunteers answer with it)
    bool page;      //  answered with the volunteer's page, not JSON
    mt_volunteer_t *volunteer;
    mt_need_t *need;
    int rating;  //  confirm: 0..5 (0: none)
    int minutes; //  checkout: given by hand (-1: from the clock)
    char comment[1024];
    char account[100]; //  redeem
    char item_id[72];
    int quantity;
    char key[208];      //  redeem's idempotency key
    char community[72]; //  item: its community; name in comment
    char **accounts;    //  meeting: who attended (malloc'd)
    size_t n_accounts;
    int64_t price; //  item
    int stock;     //  item
    bool active;   //  item
    //  The outcome.
    int status; //  HTTP status
    char error[32];
    char message[256];
    char state[24];
    json_t *reply; //  the 2xx body, or NULL
    //  Who waits.
    gz_http_req_t *http;
    gz_peer_t peer;
    const char *label;
    int64_t start_us;
} matching_op_t;

//  ---------------------------------------------------------------- matching_server.c

int64_t matching_now_us (matching_t *self);
//  GZ_MATCHING_WEIGHTS ("name=value,...") over the defaults. 0 or -1 (err).
int matching_weights_parse (const char *text, mt_pairs_weights_t *w, char *err, size_t err_size);
//  Count a committed change for /metrics.
void matching_count (matching_t *self, const char *metric, const char *labels);

//  ---------------------------------------------------------------- matching_http.c

extern const gz_route_t matching_routes[];

//  ---------------------------------------------------------------- matching_pages.c

//  /o/{id}: the volunteer's offer page (GET, ?t=) and its form (POST t,
//  action), in Simplified Chinese. A route handler: true when deferred.
bool matching_page_offer (void *state, gz_http_req_t *req, const char *rest);
//  Answer a page's op (op->page) with HTML, on an HTTP thread. op stays
//  the caller's.
void matching_page_answer (gz_http_req_t *req, const matching_op_t *op);

//  ---------------------------------------------------------------- matching_ops.c

matching_op_t *matching_op_new (matching_t *ctx, matching_op_kind_t kind);
void matching_op_destroy (matching_op_t **self_p);
//  Mark op failed: status, error code and message. Returns 1 (refused).
int matching_op_fail (matching_op_t *op, int status, const char *error, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
//  Queue op for the actor, deferring req. 0, or -1 when closing (op kept).
int matching_op_defer (matching_t *ctx, matching_op_t **op_p, gz_http_req_t *req);
//  The actor: apply op in a transaction with its events (retried when the
//  database allows), filling its outcome.
void matching_op_execute (matching_t *ctx, matching_op_t *op);
//  Answer op's HTTP request (on an HTTP thread) and free it.
void matching_op_answer (gz_http_req_t *req, void *arg);

//  ---------------------------------------------------------------- matching_ops_points.c

//  Points earned: once per source key, with its PointsAwarded event.
typedef struct {
    const char *account, *community, *reason, *source, *memo;
    int64_t points;
    int64_t service_id;       //  a service's, or 0
    const char *volunteer_id; //  may be NULL
    const char *request_id;   //  a report's, or NULL
} matching_award_t;
//  1 earned, 0 already (the source key was used), -1 failure.
int matching_award (matching_t *ctx, gz_db_t *db, const matching_award_t *a, int64_t *balance);
//  The appliers (matching_ops.c's table): 0 ok, 1 refused, -1 failure.
int matching_op_redeem (matching_t *ctx, matching_op_t *op);
int matching_op_item (matching_t *ctx, matching_op_t *op);
int matching_op_meeting (matching_t *ctx, matching_op_t *op);

//  ---------------------------------------------------------------- matching_batch.c

//  One batch: open needs x active volunteers -> offers, in one
//  transaction with their events. The number of offers made, or -1.
int matching_batch_run (matching_t *ctx);
//  Offers past their time: expired (a decline), in one transaction. The
//  number expired, or -1.
int matching_expire_due (matching_t *ctx);
//  Stage a MatchingEvent for the current transaction.
void matching_emit (matching_t *ctx, const char *type, const char *key,
                    Gongzhi__V1__MatchingEvent *ev);

//  ---------------------------------------------------------------- matching_consume.c

//  The ROUTER: MatchCommand, answered after its commit.
void matching_on_router (void *state, zsock_t *router);
//  Followed streams.
int matching_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg);
int matching_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg);

//  ---------------------------------------------------------------- matching_store.c

//  An offer or a service record with its need, as the ops see it.
typedef struct {
    int64_t offer_id, need_id, service_id; //  service_id 0: none yet
    char offer_state[16], need_state[16], service_state[16];
    char volunteer_id[72];
    char volunteer_name[304];
    char secret[96];
    int skill;
    bool urgent, recurring;
    char building[72], grid[72], community[72], subdistrict[72];
    int64_t checkin_us; //  0: not checked in
} matching_row_t;

//  Lock and load (actor's transaction). 1 found, 0 not, -1 failure.
int matching_store_offer_lock (gz_db_t *db, int64_t offer_id, matching_row_t *out);
int matching_store_service_lock (gz_db_t *db, int64_t service_id, matching_row_t *out);
int matching_store_offer_set (gz_db_t *db, int64_t offer_id, const char *state, const char *by,
                              int64_t now_us);
//  previous: the volunteer to remember for continuity, or NULL.
int matching_store_need_set (gz_db_t *db, int64_t need_id, const char *state, const char *previous);
int64_t matching_store_service_insert (gz_db_t *db, const matching_row_t *row);
int matching_store_service_checkin (gz_db_t *db, int64_t id, int64_t now_us);
//  minutes < 0: from check-in to now. The minutes recorded, or -1.
int matching_store_service_checkout (gz_db_t *db, int64_t id, int64_t now_us, int minutes);
int matching_store_service_confirm (gz_db_t *db, int64_t id, int rating, const char *comment,
                                    const char *by, int64_t now_us);

void matching_store_prepare (gz_db_t *db, const char *schema);
void matching_store_prepare_read (gz_db_t *db, const char *schema);
//  Volunteers: insert or update (by id), with the phone into
//  volunteer_contacts. 1 created, 0 updated, -1 failure.
int matching_store_volunteer_put (gz_db_t *db, const mt_volunteer_t *v, const char *by);
//  A page of volunteers as JSON (read pool). NULL on failure.
//  grid, skill_name: filters or NULL; after: the last id of the page before.
json_t *matching_store_volunteers (gz_db_t *db, const char *grid, const char *skill_name, int limit,
                                   const char *after);
//  Routing's meetings (in its schema), on the actor's connection.
void matching_store_prepare_meetings (gz_db_t *db, const char *routing_schema);
//  A meeting routing recorded: its participants and community; -1 when
//  there is none, -2 on failure.
int matching_store_meeting (gz_db_t *db, const char *id, char *community, size_t size);
//  Copy a result's text into dst (truncated to size).
void matching_store_copy (char *dst, size_t size, PGresult *r, int row, int col);
//  Windows as a PostgreSQL int4range[] literal (malloc'd).
char *matching_windows_sql (const mt_window_t *w, size_t n);
//  A need: inserted, id returned (0 when source already made one), -1 failure.
typedef struct {
    const mt_need_t *need;
    const gz_building_t *building;
    const char *source; //  "api" or "request:<id>"
    const char *created_by;
} matching_need_row_t;
int64_t matching_store_need_insert (gz_db_t *db, const matching_need_row_t *row);
json_t *matching_store_needs (gz_db_t *db, const char *state, const char *community, int limit);
json_t *matching_store_need_get (gz_db_t *db, int64_t id);

//  What matching keeps of a request (from intake's stream).
typedef struct {
    char building[72], community[72];
    char reporter[100]; //  "rider:<id>", "resident:<id>" or ""
    int channel;
    char description[4096];
} matching_request_t;

int matching_store_request_put (gz_db_t *db, const char *id, const char *service_code,
                                const char *building, const char *community, int channel,
                                const char *reporter, const char *description);
//  1 found, 0 not, -1 failure.
int matching_store_request_get (gz_db_t *db, const char *id, matching_request_t *out);
//  {"offer", "volunteer", "name", "phone", "link"} of an offer (read
//  pool), json null when unknown, NULL on failure.
json_t *matching_store_offer_contact (gz_db_t *db, int64_t offer_id, const char *public_url);

//  What the volunteer's page shows of an offer (matching_pages.c), with
//  its secret for the page to compare.
typedef struct {
    int64_t offer_id, service_id; //  service_id 0: none
    char state[16];               //  the offer's
    char secret[96];
    int skill;
    bool urgent, recurring;
    bool past_due; //  offered, but its time to answer has passed
    char building[608], address[1504], community[608];
    char contact_name[608];
    char window_from[24], window_to[24]; //  China time, "" when weekly
    char weekly[1024];
    char note[4096];
    char expires[24]; //  China time
    char volunteer_name[304];
} matching_offer_page_t;

//  The offer for its page (read pool), as of now_us. 1 found, 0 not, -1
//  failure. out's secret is the caller's to wipe.
int matching_store_offer_page (gz_db_t *db, int64_t offer_id, int64_t now_us,
                               matching_offer_page_t *out);

//  ---------------------------------------------------------------- matching_store_batch.c

//  An open need as a batch sees it.
typedef struct {
    int64_t id;
    double lat, lon;
    char grid[72], community[72], subdistrict[72], building[72];
    int skill;
    bool urgent;
    mt_window_t windows[MT_WINDOWS_MAX];
    size_t n_windows;
    char previous[72];      //  who served the household last ("": nobody)
    char *excluded;         //  the volunteers who declined or let it expire: "a,b" (malloc'd)
    int64_t from_us, to_us; //  a one-off need's window (0: weekly)
    char weekly[160];       //  a weekly need's slot ("sat 09:00-11:00")
} matching_batch_need_t;

//  An active volunteer as a batch sees it.
typedef struct {
    char id[72];
    char name[304];
    bool has_location;
    double lat, lon;
    char grid[72];
    uint32_t skills;
    mt_window_t windows[MT_WINDOWS_MAX];
    size_t n_windows;
    int32_t capacity, recent_load, rating_x10;
} matching_batch_vol_t;

//  One offer a batch makes.
typedef struct {
    int64_t need_id;
    const char *volunteer_id;
    int64_t cost;
    int64_t offer_id; //  filled by the insert
    char secret[40];
} matching_batch_offer_t;

void matching_store_batch_prepare (gz_db_t *db, const char *schema);
//  Inside the batch's transaction: the open needs (locked, skipping those
//  another replica holds), at most max. The count, or -1. Free with
//  matching_store_batch_needs_free.
long matching_store_batch_needs (gz_db_t *db, long max, matching_batch_need_t **out);
void matching_store_batch_needs_free (matching_batch_need_t *needs, long n);
//  The active volunteers with their load this week and in 28 days.
long matching_store_batch_volunteers (gz_db_t *db, int64_t now_us, matching_batch_vol_t **out);
//  Record a batch; its id, or -1.
int64_t matching_store_batch_insert (gz_db_t *db, long needs, long vols, long pairs, long matched,
                                     int64_t cost, double solve_ms);
//  Insert the offers (and their secrets), mark their needs offered. 0 or -1.
int matching_store_batch_offers (gz_db_t *db, int64_t batch_id, int64_t expires_us,
                                 matching_batch_offer_t *offers, size_t n);
//  Expire due offers (at most 500): their needs open again. rows (at most
//  500) get each expired offer. The count, or -1.
int matching_store_expire (gz_db_t *db, int64_t now_us, matching_row_t *rows, int max);

#endif
