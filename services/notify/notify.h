/*  notify internals shared by the files of the notify service. Not a
    public header. The layout follows docs/service-anatomy.md:
    notify_server.c (config and the actor's spec), notify_http.c (the
    route table: the deliveries API), notify_consume.c (intake's,
    routing's and matching's streams: who hears what), notify_deliver.c
    (the channel workers: claim, send, record), notify_store.c (every SQL
    statement),
    and the pure parts: notify_plan.c and notify_template.c (the plan and
    its texts), notify_policy.c (quiet hours, masks, backoff),
    notify_channel*.c (the protocols).

    DESIGN: the actor thread consumes the streams; in the consumer's
    transaction each event becomes delivery rows (notify.deliveries), so
    a row exists exactly once per (event, recipient, channel) and before
    any attempt. After the commit the actor wakes the workers. Each
    configured channel has its own workers (GZ_NOTIFY_CHANNEL_WORKERS),
    each with its own database connection: a worker claims due rows of
    its channel (FOR UPDATE SKIP LOCKED, leased for a while, so a worker
    or process that dies leaves them to be claimed again), renders them
    with the plan's template, asks intake for a resident's contact (or
    matching for a volunteer's phone and answer link), sends, and records the outcome: sent, failed
   (retried with backoff and jitter) or dead. An outcome that ends the row (sent, dead, skipped)
   commits with its event on the stream `notify` (the worker's writer of the actor's publisher),
   so each delivery ends once on the stream, however many attempts it took. A slow channel holds up
   only its own workers. What the workers share with the actor (the plan, the org directory) sits
   behind a read-write lock and is swapped whole on reload.  */
#ifndef NOTIFY_H_INCLUDED
#define NOTIFY_H_INCLUDED

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_actor.h"
#include "gz_bus.h"
#include "gz_db.h"
#include "gz_metrics.h"
#include "gz_org.h"
#include "notify_channel.h"
#include "notify_plan.h"
#include "notify_server.h"

#define NOTIFY_MAX_CHANNELS 8
#define NOTIFY_LEASE_S 60 //  a claimed row is someone's for this long

//  What the actor and the workers share: swapped whole under the lock.
typedef struct {
    pthread_rwlock_t lock;
    notify_plan_t *plan;
    gz_org_t *org;
} notify_shared_t;

typedef struct _notify_deliver_t notify_deliver_t;

//  The service's state (the actor's).
typedef struct {
    gz_actor_t *actor;
    const notify_config_t *cfg;
    gz_metrics_t *metrics;
    notify_shared_t shared;
    notify_deliver_t *deliver;
    bool quiet_env;             //  GZ_NOTIFY_QUIET_HOURS set: it, not the plan's
    int quiet_start, quiet_end; //  minutes after midnight, China time
    //  The default channel orders, parsed: names, NULL-terminated.
    char *resident_order[NOTIFY_MAX_CHANNELS + 1];
    char *staff_order[NOTIFY_MAX_CHANNELS + 1];
    char *volunteer_order[NOTIFY_MAX_CHANNELS + 1];
    atomic_llong consumed;
} notify_t;

//  notify_server.c: now, by the test clock when set (microseconds).
int64_t notify_now_us (notify_t *self);
//  notify_server.c: the quiet hours in force (minutes after China-time
//  midnight; start == end: none): GZ_NOTIFY_QUIET_HOURS, else the plan's.
//  The actor's thread.
void notify_quiet_window (notify_t *self, int *start_p, int *end_p);
//  notify_server.c: the digest window in force (ms; 0: no digests):
//  GZ_NOTIFY_DIGEST_WINDOW_MS, else the plan's. The actor's thread.
int notify_digest_window_ms (notify_t *self);

//  ---------------------------------------------------------------- notify_consume.c
//  The handlers of the followed streams (gz_bus_handler_fn).
int notify_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg);
int notify_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg);
int notify_on_matching (gz_db_t *db, const gz_envelope_t *env, void *arg);
//  After a batch: wake the workers when it committed (gz_actor_after_fn).
void notify_on_batch (void *arg, bool committed);

//  ---------------------------------------------------------------- notify_deliver.c
//  Start the workers of every configured channel. NULL on failure.
notify_deliver_t *notify_deliver_start (notify_t *ctx);
//  New rows are committed: look now.
void notify_deliver_wake (notify_deliver_t *self);
//  A delivery that ended (sent, dead, skipped), as the notify stream
//  tells it. Strings borrowed.
typedef struct {
    int64_t id;
    const char *state, *channel, *recipient_kind, *event, *request_id;
    const char *nodes[3]; //  grid, community, sub-district ("" unknown)
    int attempts;
    int64_t at_us;
} notify_ended_t;
//  Stage its event (DeliverySent, DeliveryDead, DeliverySkipped with a
//  NotifyEvent) on pub for the open transaction.
void notify_deliver_stage (gz_bus_pub_t *pub, const notify_ended_t *e);
//  Deliveries sent by this process so far.
int64_t notify_deliver_sent (notify_deliver_t *self);
//  Finish the sends in progress, stop, free.
void notify_deliver_stop (notify_deliver_t **self_p);

//  ---------------------------------------------------------------- notify_http.c
extern const gz_route_t notify_routes[];

//  ---------------------------------------------------------------- notify_store.c
//  What notify knows of a request (notify.requests).
typedef struct {
    char service_code[72];
    char place[256];
    bool has_contact;
    bool unknown; //  intake's event not consumed yet (the streams are apart)
} notify_request_t;

//  A delivery row to insert (the actor's transaction).
typedef struct {
    const char *key, *stream, *event, *request_id, *audience, *recipient, *channel, *tmpl;
    int64_t position;
    const char *vars; //  JSON object text
    bool essential;
    bool digest;          //  may be carried in a digest
    int64_t due_us;       //  0: now
    const char *nodes[3]; //  the event's grid, community, sub-district (NULL: "")
} notify_row_t;

//  A claimed delivery (a worker's). Strings owned; free with
//  notify_job_clear.
typedef struct {
    char *id, *key, *event, *request_id, *audience, *recipient, *tmpl;
    json_t *vars;
    int attempts;
    bool digest;  //  a digest row: it carries its group (maybe only itself)
    bool grouped; //  its group was formed at an earlier claim
} notify_job_t;
void notify_job_clear (notify_job_t *job);

int notify_store_prepare (gz_db_t *db, const char *schema);
//  Record what intake's stream says of a request (an upsert).
int notify_store_request (gz_db_t *db, const char *id, const char *service_code, const char *place,
                          bool has_contact);
//  A follower merged into lead.
int notify_store_merge (gz_db_t *db, const char *follower, const char *lead);
//  0 found (*out filled), 1 unknown, -1 failure.
int notify_store_request_get (gz_db_t *db, const char *id, notify_request_t *out);
//  The merged followers of lead whose resident left a contact: a JSON
//  array of ids (NULL on failure).
json_t *notify_store_followers (gz_db_t *db, const char *lead);
//  A person's preferences: 0 found, 1 none (defaults), -1 failure.
//  channels gets the comma-separated order ("" for the default).
int notify_store_prefs (gz_db_t *db, const char *person, char *channels, size_t size,
                        bool *opt_out);
//  Insert a delivery unless its key exists. 0 ok, -1 failure.
int notify_store_insert (gz_db_t *db, const notify_row_t *row);
//  When a digest row for recipient on channel is due: now when no digest
//  row of theirs was made within window_ms; with the latest of those when
//  it still waits; else a window after it. Microseconds; -1 failure.
int64_t notify_store_digest_due (gz_db_t *db, const char *recipient, const char *channel,
                                 int window_ms);
//  The earliest time recipient may get one more non-essential message
//  due at due_us (microseconds) with at most per_hour in any hour: due_us,
//  or an hour after the earliest of their last per_hour. -1 failure.
int64_t notify_store_rate_due (gz_db_t *db, const char *recipient, int per_hour, int64_t due_us);

//  The workers' statements.
int notify_store_prepare_worker (gz_db_t *db, const char *schema);
//  Claim up to max due rows of channel (leased for NOTIFY_LEASE_S).
//  Returns how many (jobs[0..n-1] filled), -1 on failure.
int notify_store_claim (gz_db_t *db, const char *channel, notify_job_t *jobs, int max);
//  Record a claimed row's outcome: sent; failed, due again in retry_ms;
//  or dead. 0 ok, -1 failure.
typedef enum {
    NOTIFY_ROW_SENT,
    NOTIFY_ROW_FAILED,
    NOTIFY_ROW_DEAD,
    NOTIFY_ROW_SKIPPED
} notify_row_state_t;
//  In one transaction with the stream's events (NotifyEvent, staged on
//  pub, a writer of the notify stream; NULL: none) of the rows it ends
//  (the row and its digest's members, when sent, dead or skipped).
int notify_store_done (gz_db_t *db, gz_bus_pub_t *pub, const char *id, notify_row_state_t state,
                       int64_t retry_ms, const char *error);
//  A digest row's group: formed now (the due digest rows of its
//  recipient and channel join it) or read back (formed at an earlier
//  claim). The members' templates and variables as a JSON array of
//  [template, vars] in id order (empty: the row goes alone); NULL on
//  failure.
json_t *notify_store_group (gz_db_t *db, const notify_job_t *leader, const char *channel);

//  The API's read (a read-pool connection; its statements registered by
//  notify_store_prepare_read): deliveries of a request or of a
//  recipient (either may be NULL, not both), newest first, at most
//  limit. A JSON array, NULL on failure.
int notify_store_prepare_read (gz_db_t *db, const char *schema);
json_t *notify_store_list (gz_db_t *db, const char *request_id, const char *recipient, int limit);

#endif
