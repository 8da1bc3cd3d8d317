/*  matching_ops: the writes the actor applies, from HTTP and the bus
    (docs/service-anatomy.md, "The one request path"). An op is parsed and
    authenticated on an HTTP thread (matching_http.c) or the actor
    (matching_consume.c), queued, applied here in one transaction with its
    events, and answered after the commit. One apply function per kind, in
    a table; the states come from matching_states.c's tables.

    Who may do what: staff and operators (routing's bearer tokens) do
    everything; a volunteer answers an offer, checks in and checks out with
    the offer's secret (the t= of the link notify sent them). Confirming a
    service (hours and rating) is staff's: the social worker or the grid
    worker who asked the household.  */
#include "gz_log.h"
#include "matching.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

matching_op_t *
matching_op_new (matching_t *ctx, matching_op_kind_t kind)
{
    matching_op_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->ctx = ctx;
    self->kind = kind;
    self->minutes = -1;
    self->start_us = zclock_usecs ();
    return self;
}

void
matching_op_destroy (matching_op_t **self_p)
{
    matching_op_t *self = *self_p;
    if (!self)
        return;
    free (self->volunteer);
    free (self->need);
    for (size_t i = 0; i < self->n_accounts; i++)
        free (self->accounts[i]);
    free (self->accounts);
    json_decref (self->reply);
    gz_actor_peer_clear (&self->peer);
    explicit_bzero (self->token, sizeof self->token);
    free (self);
    *self_p = NULL;
}

int
matching_op_fail (matching_op_t *op, int status, const char *error, const char *fmt, ...)
{
    op->status = status;
    snprintf (op->error, sizeof op->error, "%s", error);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (op->message, sizeof op->message, fmt, ap);
    va_end (ap);
    return 1;
}

int
matching_op_defer (matching_t *ctx, matching_op_t **op_p, gz_http_req_t *req)
{
    if (gz_actor_closing (ctx->actor))
        return -1;
    matching_op_t *op = *op_p;
    *op_p = NULL;
    //  Defer before queueing: the actor may finish op at once.
    op->http = gz_http_defer (req);
    atomic_fetch_add (&ctx->inflight, 1);
    if (gz_queue_push (ctx->queue, &op->item))
        gz_actor_wake (ctx->actor);
    return 0;
}

void
matching_op_answer (gz_http_req_t *req, void *arg)
{
    matching_op_t *op = arg;
    if (op->page)
        matching_page_answer (req, op);
    else if (op->status >= 200 && op->status < 300) {
        gz_http_reply_json (req, op->status, op->reply ? op->reply : json_object ());
        op->reply = NULL;
    }
    else if (op->status == 409) {
        json_t *err = json_pack ("{s:{s:s,s:s,s:s}}", "error", "code", op->error, "message",
                                 op->message, "state", op->state);
        gz_http_reply_json (req, 409, err);
    }
    else
        gz_http_reply_error (req, op->status, op->error, op->message);
    gz_actor_observe (op->ctx->actor, op->label ? op->label : "matching", op->start_us);
    matching_op_destroy (&op);
}

//  ---------------------------------------------------------------- events

void
matching_emit (matching_t *ctx, const char *type, const char *key, Gongzhi__V1__MatchingEvent *ev)
{
    char topic[200];
    snprintf (topic, sizeof topic, "%s/%s", type,
              ev->community_code && *ev->community_code ? ev->community_code : "-");
    if (!ev->at_us)
        ev->at_us = matching_now_us (ctx);
    gz_bus_pub_stage_msg (ctx->pub, type, key, topic, &ev->base);
}

//  An event about row's need and offer.
static void
s_emit_row (matching_t *ctx, const char *type, const char *kind, const matching_row_t *row)
{
    Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
    ev.kind = (char *) kind;
    ev.need_id = row->need_id;
    ev.offer_id = row->offer_id;
    ev.service_id = row->service_id;
    ev.volunteer_id = (char *) row->volunteer_id;
    ev.volunteer_name = (char *) row->volunteer_name;
    ev.skill = (char *) (mt_skill_name (row->skill) ? mt_skill_name (row->skill) : "");
    ev.skill_label = (char *) (mt_skill_label (row->skill) ? mt_skill_label (row->skill) : "");
    ev.building_code = (char *) row->building;
    ev.grid_code = (char *) row->grid;
    ev.community_code = (char *) row->community;
    ev.subdistrict_code = (char *) row->subdistrict;
    const gz_building_t *b = ctx->org ? gz_org_building (ctx->org, row->building) : NULL;
    ev.place = (char *) (b ? b->name : "");
    ev.urgent = row->urgent;
    char key[32];
    snprintf (key, sizeof key, "%lld", (long long) row->need_id);
    matching_emit (ctx, type, key, &ev);
}

//  ---------------------------------------------------------------- auth

static bool
s_staff (const matching_op_t *op)
{
    return op->has_caller;
}

//  A volunteer with the offer's secret, or staff.
static bool
s_may_answer (const matching_op_t *op, const matching_row_t *row)
{
    return s_staff (op) ||
           (op->token[0] && row->secret[0] && gz_auth_secret_equal (op->token, row->secret));
}

static const char *
s_by (const matching_op_t *op, const matching_row_t *row)
{
    static __thread char by[256];
    if (op->has_caller)
        snprintf (by, sizeof by, "%s:%s", op->who.role,
                  op->who.staff_id[0] ? op->who.staff_id : op->who.label);
    else
        snprintf (by, sizeof by, "volunteer:%s", row ? row->volunteer_id : "-");
    return by;
}

//  ---------------------------------------------------------------- appliers

//  Load and check an offer (or a service) for action in machine: 0 go on,
//  1 refused (op says why), -1 failure.
static int
s_load (matching_t *ctx, matching_op_t *op, mt_machine_t machine, const char *action,
        matching_row_t *row, const char **next)
{
    int found = machine == MT_OFFER ? matching_store_offer_lock (ctx->db, op->id, row)
                                    : matching_store_service_lock (ctx->db, op->id, row);
    if (found < 0)
        return -1;
    const char *what = machine == MT_OFFER ? "offer" : "service";
    if (found == 0)
        return matching_op_fail (op, 404, "not_found", "no %s %lld", what, (long long) op->id);
    bool allowed = strcmp (action, "confirm") == 0 ? s_staff (op) : s_may_answer (op, row);
    if (!allowed)
        return matching_op_fail (op, 403, "forbidden",
                                 strcmp (action, "confirm") == 0
                                     ? "a staff token confirms a service"
                                     : "the offer's token or a staff token is required");
    const char *state = machine == MT_OFFER ? row->offer_state : row->service_state;
    *next = mt_state_next (machine, state, action);
    if (!*next) {
        snprintf (op->state, sizeof op->state, "%s", state);
        return matching_op_fail (op, 409, "conflict", "the %s is %s: cannot %s", what, state,
                                 action);
    }
    return 0;
}

static int
s_answer (matching_t *ctx, matching_op_t *op, const char *action)
{
    matching_row_t row;
    const char *next = NULL;
    int rc = s_load (ctx, op, MT_OFFER, action, &row, &next);
    if (rc)
        return rc;
    int64_t now = matching_now_us (ctx);
    if (matching_store_offer_set (ctx->db, row.offer_id, next, s_by (op, &row), now))
        return -1;
    const char *need_next = mt_state_next (MT_NEED, row.need_state, action);
    if (need_next && matching_store_need_set (ctx->db, row.need_id, need_next, NULL))
        return -1;
    if (strcmp (action, "accept") == 0) {
        row.service_id = matching_store_service_insert (ctx->db, &row);
        if (row.service_id <= 0)
            return -1;
        s_emit_row (ctx, "MatchAccepted", "accepted", &row);
    }
    else {
        ctx->dirty = true;
        s_emit_row (ctx, "MatchDeclined", "declined", &row);
    }
    snprintf (op->state, sizeof op->state, "%s", next);
    op->status = 200;
    op->reply = json_pack ("{s:I,s:I,s:s,s:s}", "offer", (json_int_t) row.offer_id, "need",
                           (json_int_t) row.need_id, "state", next, "volunteer", row.volunteer_id);
    if (row.service_id)
        json_object_set_new (op->reply, "service", json_integer (row.service_id));
    return 0;
}

static int
s_accept (matching_t *ctx, matching_op_t *op)
{
    return s_answer (ctx, op, "accept");
}

static int
s_decline (matching_t *ctx, matching_op_t *op)
{
    return s_answer (ctx, op, "decline");
}

static int
s_service_reply (matching_op_t *op, const matching_row_t *row, const char *state, int minutes)
{
    snprintf (op->state, sizeof op->state, "%s", state);
    op->status = 200;
    op->reply =
        json_pack ("{s:I,s:I,s:s,s:s}", "service", (json_int_t) row->service_id, "need",
                   (json_int_t) row->need_id, "state", state, "volunteer", row->volunteer_id);
    if (minutes >= 0)
        json_object_set_new (op->reply, "minutes", json_integer (minutes));
    return 0;
}

static int
s_checkin (matching_t *ctx, matching_op_t *op)
{
    matching_row_t row;
    const char *next = NULL;
    int rc = s_load (ctx, op, MT_SERVICE, "checkin", &row, &next);
    if (rc)
        return rc;
    if (matching_store_service_checkin (ctx->db, row.service_id, matching_now_us (ctx)))
        return -1;
    return s_service_reply (op, &row, next, -1);
}

static int
s_checkout (matching_t *ctx, matching_op_t *op)
{
    matching_row_t row;
    const char *next = NULL;
    int rc = s_load (ctx, op, MT_SERVICE, "checkout", &row, &next);
    if (rc)
        return rc;
    if (!row.checkin_us && op->minutes < 0)
        return matching_op_fail (op, 422, "bad_request", "not checked in: give the minutes served");
    int minutes = matching_store_service_checkout (ctx->db, row.service_id, matching_now_us (ctx),
                                                   op->minutes);
    if (minutes < 0)
        return -1;
    return s_service_reply (op, &row, next, minutes);
}

//  Confirmed: the event, the points for the hours, the need done (or
//  open again for its next week, with this volunteer remembered).
static int
s_confirm (matching_t *ctx, matching_op_t *op)
{
    matching_row_t row;
    const char *next = NULL;
    int rc = s_load (ctx, op, MT_SERVICE, "confirm", &row, &next);
    if (rc)
        return rc;
    int64_t now = matching_now_us (ctx);
    int minutes = matching_store_service_confirm (ctx->db, row.service_id, op->rating, op->comment,
                                                  s_by (op, &row), now);
    if (minutes < 0)
        return -1;
    const char *need_next =
        mt_state_next (MT_NEED, row.need_state, row.recurring ? "repeat" : "complete");
    if (need_next && matching_store_need_set (ctx->db, row.need_id, need_next, row.volunteer_id))
        return -1;
    if (row.recurring)
        ctx->dirty = true;
    Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
    char key[32], account[100], source[64];
    snprintf (key, sizeof key, "%lld", (long long) row.need_id);
    ev.kind = "service_completed";
    ev.need_id = row.need_id;
    ev.offer_id = row.offer_id;
    ev.service_id = row.service_id;
    ev.volunteer_id = row.volunteer_id;
    ev.community_code = row.community;
    ev.grid_code = row.grid;
    ev.minutes = minutes;
    ev.rating = op->rating;
    matching_emit (ctx, "ServiceCompleted", key, &ev);
    int64_t points = matching_points_for_minutes (&ctx->points, minutes);
    int64_t balance = 0;
    matching_points_account (account, sizeof account, "volunteer", row.volunteer_id);
    snprintf (source, sizeof source, "service:%lld", (long long) row.service_id);
    matching_award_t award = {.account = account,
                              .community = row.community,
                              .points = points,
                              .reason = "service",
                              .source = source,
                              .memo = "志愿服务时长",
                              .service_id = row.service_id,
                              .volunteer_id = row.volunteer_id};
    if (points > 0 && matching_award (ctx, ctx->db, &award, &balance) < 0)
        return -1;
    s_service_reply (op, &row, next, minutes);
    json_object_set_new (op->reply, "points", json_integer (points));
    json_object_set_new (op->reply, "balance", json_integer (balance));
    return 0;
}

//  Registry writes: a volunteer (created or updated) and a need.
static int
s_volunteer (matching_t *ctx, matching_op_t *op)
{
    const mt_volunteer_t *v = op->volunteer;
    if (!ctx->org || !gz_org_unit_level (ctx->org, v->grid) ||
        strcmp (gz_org_unit_level (ctx->org, v->grid), "grid") != 0)
        return matching_op_fail (op, 422, "bad_field", "grid: no grid %s", v->grid);
    int rc = matching_store_volunteer_put (ctx->db, v, s_by (op, NULL));
    if (rc < 0)
        return -1;
    ctx->dirty = true;
    op->status = rc == 1 ? 201 : 200;
    op->reply = mt_volunteer_to_json (v);
    return 0;
}

static int
s_need (matching_t *ctx, matching_op_t *op)
{
    const gz_building_t *b = ctx->org ? gz_org_building (ctx->org, op->need->building) : NULL;
    if (!b)
        return matching_op_fail (op, 422, "bad_field", "building: no building %s",
                                 op->need->building);
    matching_need_row_t nr = {op->need, b, "api", s_by (op, NULL)};
    int64_t id = matching_store_need_insert (ctx->db, &nr);
    if (id <= 0)
        return -1;
    matching_row_t row;
    memset (&row, 0, sizeof row);
    row.need_id = id;
    row.skill = op->need->skill;
    row.urgent = op->need->urgent;
    snprintf (row.building, sizeof row.building, "%s", b->code);
    snprintf (row.grid, sizeof row.grid, "%s", b->grid_code);
    snprintf (row.community, sizeof row.community, "%s", b->community_code);
    snprintf (row.subdistrict, sizeof row.subdistrict, "%s", b->subdistrict_code);
    s_emit_row (ctx, "NeedCreated", "need_created", &row);
    ctx->dirty = true;
    op->status = 201;
    op->reply = matching_store_need_get (ctx->db, id);
    if (!op->reply)
        return -1;
    return 0;
}

static int
s_solve (matching_t *ctx, matching_op_t *op)
{
    (void) ctx;
    //  The batch runs in its own transaction after this one (see execute).
    op->status = 200;
    return 0;
}

typedef int (s_apply_fn) (matching_t *ctx, matching_op_t *op);

static s_apply_fn *const s_apply[MT_OP_COUNT] = {
    [MT_OP_VOLUNTEER] = s_volunteer,
    [MT_OP_NEED] = s_need,
    [MT_OP_ACCEPT] = s_accept,
    [MT_OP_DECLINE] = s_decline,
    [MT_OP_CHECKIN] = s_checkin,
    [MT_OP_CHECKOUT] = s_checkout,
    [MT_OP_CONFIRM] = s_confirm,
    [MT_OP_REDEEM] = matching_op_redeem,
    [MT_OP_SOLVE] = s_solve,
    [MT_OP_ITEM] = matching_op_item,
    [MT_OP_MEETING] = matching_op_meeting,
};

//  Who may run each kind: 0 anyone with the offer's token or staff, 1
//  staff or operators, 2 operators.
static const int s_who[MT_OP_COUNT] = {
    [MT_OP_VOLUNTEER] = 1, [MT_OP_NEED] = 1,     [MT_OP_ACCEPT] = 0,  [MT_OP_DECLINE] = 0,
    [MT_OP_CHECKIN] = 0,   [MT_OP_CHECKOUT] = 0, [MT_OP_CONFIRM] = 1, [MT_OP_REDEEM] = 1,
    [MT_OP_SOLVE] = 2,     [MT_OP_ITEM] = 2,     [MT_OP_MEETING] = 1,
};

//  The HTTP caller's bearer token, checked on the writer connection as
//  routing checks its commands'. 0 go on, 1 refused.
static int
s_authenticate (matching_t *ctx, matching_op_t *op)
{
    if (op->bearer[0]) {
        int rc = gz_db_ensure (ctx->db) ? -1 : gz_auth_caller (ctx->db, op->bearer, &op->who);
        explicit_bzero (op->bearer, sizeof op->bearer);
        if (rc < 0)
            return matching_op_fail (op, 503, "unavailable", "database unavailable; retry");
        if (rc != 0)
            return matching_op_fail (op, 401, "unauthorized", "unknown or expired token");
        op->has_caller = true;
    }
    if (s_who[op->kind] >= 1 && !op->has_caller)
        return matching_op_fail (op, 401, "unauthorized", "a staff or operator bearer token");
    if (s_who[op->kind] == 2 && strcmp (op->who.role, "operator") != 0)
        return matching_op_fail (op, 403, "forbidden", "an operator's token is required");
    return 0;
}

void
matching_op_execute (matching_t *ctx, matching_op_t *op)
{
    op->status = 0;
    if (s_authenticate (ctx, op))
        return;
    if (op->kind == MT_OP_SOLVE) {
        int made = matching_batch_run (ctx);
        if (made < 0)
            matching_op_fail (op, 503, "unavailable", "database unavailable; retry");
        else {
            op->status = 200;
            op->reply = json_pack ("{s:i}", "offers", made);
        }
        return;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        op->error[0] = op->message[0] = op->state[0] = 0;
        json_decref (op->reply);
        op->reply = NULL;
        if (gz_db_ensure (ctx->db) || gz_db_begin (ctx->db))
            break;
        int rc = s_apply[op->kind](ctx, op);
        if (rc == 0 && gz_bus_pub_write (ctx->pub) == 0 && gz_db_commit (ctx->db) == 0) {
            gz_bus_pub_committed (ctx->pub);
            return;
        }
        gz_db_rollback (ctx->db);
        gz_bus_pub_aborted (ctx->pub);
        if (rc == 1)
            return; //  refused: op says why
        if (!gz_db_retryable (ctx->db))
            break;
    }
    gz_metrics_add (ctx->metrics, "gz_db_errors_total", NULL, 1);
    gz_warn (SVC, "msg=\"op failed\" kind=%d sqlstate=%s error=\"%s\"", (int) op->kind,
             gz_db_sqlstate (ctx->db), gz_db_error (ctx->db));
    json_decref (op->reply);
    op->reply = NULL;
    matching_op_fail (op, 503, "unavailable", "database unavailable; retry");
}
