/*  routing_commands: worker and resident commands (HTTP and bus), each
    applied by the actor in a transaction of its own: who is calling
    (gz_auth), may they (their request, their unit, a co-handler's note,
    the resident's secret), does the table in routing_lifecycle.c allow
    the action in the request's state (409 when not), then the action's
    handler, the row, the timeline row and the event, committed together.  */
#include "gz_auth.h"
#include "gz_log.h"
#include "routing.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "routing"

routing_cmd_t *
routing_cmd_new (void)
{
    routing_cmd_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
routing_cmd_destroy (routing_cmd_t **self_p)
{
    routing_cmd_t *self = *self_p;
    if (!self)
        return;
    free (self->request_id);
    free (self->action);
    free (self->token);
    free (self->resident_token);
    free (self->session);
    free (self->outcome);
    free (self->text);
    free (self->media_url);
    free (self->to_unit);
    free (self->to_staff);
    for (size_t i = 0; i < self->nphotos; i++)
        free (self->photos[i]);
    gz_actor_peer_clear (&self->peer);
    free (self);
    *self_p = NULL;
}

//  Set the command's outcome. Returns 1 (a refusal: the caller rolls back).
static int s_fail (routing_cmd_t *cmd, int status, const char *error, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (routing_cmd_t *cmd, int status, const char *error, const char *fmt, ...)
{
    cmd->status = status;
    snprintf (cmd->error, sizeof cmd->error, "%s", error);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd->message, sizeof cmd->message, fmt, ap);
    va_end (ap);
    return 1;
}

static int
s_conflict (routing_cmd_t *cmd, const routing_req_t *q)
{
    const char *state = routing_state_name (q->state);
    snprintf (cmd->state, sizeof cmd->state, "%s", state);
    return s_fail (cmd, 409, "conflict", "cannot %s a request in state %s", cmd->action, state);
}

static bool
s_nonempty (const char *s)
{
    return s && *s;
}

typedef struct {
    bool known;    //  a valid token
    bool operator; //  may act for any unit
    const gz_staff_t *staff;
    char label[128];
} principal_t;

//  A workbench session's staff member (routing_pages.c): 0 ok (known
//  false when the session is unknown or expired), -1 failure.
static int
s_session_principal (routing_core_t *core, const char *session, principal_t *p)
{
    routing_caller_t c;
    int rc = routing_session_caller (core->db, session, &c, NULL);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        p->staff = gz_org_staff (core->org, c.staff_id);
        p->known = p->staff != NULL;
    }
    return 0;
}

//  0 ok (principal filled; known false when no token), -1 failure.
static int
s_principal (routing_core_t *core, const char *token, const char *session, principal_t *p)
{
    memset (p, 0, sizeof *p);
    if (s_nonempty (session))
        return s_session_principal (core, session, p);
    if (!s_nonempty (token))
        return 0;
    gz_caller_t who;
    int rc = gz_auth_caller (core->db, token, &who);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        snprintf (p->label, sizeof p->label, "%s", who.label);
        if (strcmp (who.role, "operator") == 0)
            p->known = p->operator= true;
        else if (*who.staff_id) {
            p->staff = gz_org_staff (core->org, who.staff_id);
            p->known = p->staff != NULL;
        }
    }
    return 0;
}

static void
s_actor_of (routing_core_t *core, const principal_t *p, bool resident, routing_actor_t *a)
{
    memset (a, 0, sizeof *a);
    if (p->staff) {
        a->id = p->staff->id;
        a->name = p->staff->name;
        a->role = p->staff->role;
        a->unit = p->staff->unit_code;
        a->unit_name = gz_org_unit_name (core->org, p->staff->unit_code);
    }
    else if (p->operator) {
        a->name = *p->label ? p->label : "operator";
        a->role = "operator";
    }
    else if (resident) {
        a->name = "居民";
        a->role = "resident";
    }
}

//  ---------------------------------------------------------------- handlers
//
//  One handler per action, called once the table allowed the action in
//  the request's state: it moves st->q to its next state (the table's,
//  via s_next), with what goes with it, and fills the note and event.
//  0 applied, 1 refused (cmd result set), -1 failure. The caller saves
//  the row and emits the event.

typedef struct {
    routing_core_t *core;
    routing_cmd_t *cmd;
    routing_action_t action;
    const principal_t *p;
    const routing_actor_t *actor;
    routing_req_t *q;
    routing_emit_t *e;
    char *note;
    size_t note_len;
    int64_t now;
} s_step_t;

typedef int (s_handler_fn) (s_step_t *st);

//  The state the table moves st's request to (choice: see
//  routing_lifecycle_next).
static routing_state_t
s_next (const s_step_t *st, int choice)
{
    return routing_lifecycle_next (st->action, st->q->state, choice);
}

//  The event st's transition emits (envelope type, RequestUpdate.kind).
//  Always 0: a handler's "applied".
static int
s_event (s_step_t *st, const char *type, const char *kind)
{
    st->e->type = type;
    st->e->kind = kind;
    return 0;
}

static int64_t
s_reopen_window_s (routing_core_t *core)
{
    return core->rules ? routing_rules_reopen_window_s (core->rules) : 7 * 86400;
}

static int
s_accept (s_step_t *st)
{
    routing_req_t *q = st->q;
    const gz_staff_t *staff = st->p->staff;
    q->state = s_next (st, 0);
    if (staff && (!q->assignee_staff || strcmp (q->assignee_staff, staff->id) != 0)) {
        //  A colleague of the unit signs for it: it becomes theirs.
        routing_set (&q->assignee_staff, staff->id);
        routing_set (&q->assignee_name, staff->name);
        routing_set (&q->assignee_role, staff->role);
    }
    snprintf (st->note, st->note_len, "%s 已签收", routing_str (q->assignee_name));
    return s_event (st, "RequestAccepted", "accepted");
}

static int
s_verify (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_cmd_t *cmd = st->cmd;
    int outcome = routing_verify_outcome (cmd->outcome);
    st->e->outcome = cmd->outcome;
    q->state = s_next (st, outcome);
    st->e->type = "RequestVerified";
    if (outcome == ROUTING_VERIFY_REACHED) {
        if (q->responded_at_us < 0)
            q->responded_at_us = st->now;
        if (routing_store_timer_cancel (st->core, q->id, "{response_warn,response_due}"))
            return -1;
        snprintf (st->note, st->note_len, "工作人员已电话联系您，核实了情况");
        st->e->kind = "verified";
    }
    else if (outcome == ROUTING_VERIFY_NOT_REACHED) {
        snprintf (st->note, st->note_len, "工作人员致电未能联系上您，将再次联系");
        st->e->kind = "not_reached";
    }
    else {
        q->closed_at_us = st->now;
        if (routing_store_timer_cancel (
                st->core, q->id, "{response_warn,response_due,resolve_warn,resolve_due,close}"))
            return -1;
        snprintf (st->note, st->note_len, "经核实为无效诉求，已关闭%s%s",
                  s_nonempty (cmd->text) ? "：" : "", routing_str (cmd->text));
        st->e->type = "RequestRejected";
        st->e->kind = "rejected";
    }
    return 0;
}

static int
s_start (s_step_t *st)
{
    st->q->state = s_next (st, 0);
    snprintf (st->note, st->note_len, "工作人员已上门处置%s%s",
              s_nonempty (st->cmd->text) ? "：" : "", routing_str (st->cmd->text));
    return s_event (st, "RequestStarted", "started");
}

static int
s_note (s_step_t *st)
{
    routing_req_t *q = st->q;
    const gz_staff_t *staff = st->p->staff;
    bool co = false;
    if (staff && routing_store_is_co_handler (st->core, q->id, staff->unit_code, &co))
        return -1;
    if (co && routing_store_co_report (st->core, q->id, staff->unit_code))
        return -1;
    q->state = s_next (st, 0);
    snprintf (st->note, st->note_len, "%s", routing_str (st->cmd->text));
    st->e->media_url = s_nonempty (st->cmd->media_url) ? st->cmd->media_url : NULL;
    st->e->photos = st->cmd->photos;
    st->e->nphotos = st->cmd->nphotos;
    return s_event (st, "NoteAdded", "note");
}

static int
s_resolve (s_step_t *st)
{
    routing_req_t *q = st->q;
    q->state = s_next (st, 0);
    q->resolved_at_us = st->now;
    int64_t window = s_reopen_window_s (st->core);
    if (routing_store_timer_cancel (st->core, q->id,
                                    "{response_warn,response_due,resolve_warn,resolve_due}") ||
        routing_store_timer_arm (st->core, q->id, "close", st->now + window * 1000000))
        return -1;
    snprintf (st->note, st->note_len, "已办结：%s", st->cmd->text);
    st->e->photos = st->cmd->photos;
    st->e->nphotos = st->cmd->nphotos;
    return s_event (st, "RequestResolved", "resolved");
}

//  Rated, and when satisfied closed at once: two events, the rating's
//  emitted here, the closing's by the caller.
static int
s_rate (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_cmd_t *cmd = st->cmd;
    routing_emit_t *e = st->e;
    routing_state_t from = q->state;
    q->state = s_next (st, 0); //  rated: the rating itself
    q->score = cmd->score;
    q->satisfied = cmd->satisfied;
    routing_set (&q->comment, s_nonempty (cmd->text) ? cmd->text : NULL);
    snprintf (st->note, st->note_len, "评价：%d 星，%s%s%s", cmd->score,
              cmd->satisfied ? "满意" : "不满意", s_nonempty (cmd->text) ? "。" : "",
              routing_str (cmd->text));
    e->type = "RequestRated";
    e->kind = "rated";
    e->score = cmd->score;
    e->satisfied = cmd->satisfied;
    if (!cmd->satisfied)
        return 0;
    //  The rating's own event and timeline row go out without the note
    //  (e->note is set by the caller, for the closing): as before.
    if (routing_emit (st->core, q, e, st->actor))
        return -1;
    //  Satisfied: the loop closes now.
    q->state = routing_lifecycle_next (st->action, from, 1);
    q->closed_at_us = st->now;
    if (routing_store_timer_cancel (st->core, q->id, "{close}"))
        return -1;
    memset (e, 0, sizeof *e);
    e->satisfied = -1;
    e->type = "RequestClosed";
    e->kind = "closed";
    snprintf (st->note, st->note_len, "诉求已办结并关闭，感谢您的评价");
    return 0;
}

static int
s_reopen (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_cmd_t *cmd = st->cmd;
    int64_t window = s_reopen_window_s (st->core);
    if (q->resolved_at_us >= 0 && st->now > q->resolved_at_us + window * 1000000)
        return s_fail (cmd, 422, "unprocessable",
                       "the reopen window (%lld days) after the resolution has passed",
                       (long long) (window / 86400));
    q->state = s_next (st, 0);
    q->reopen_count++;
    q->resolved_at_us = -1;
    q->score = 0;
    q->satisfied = -1;
    routing_set (&q->comment, NULL);
    q->resolve_due_us = st->now + q->resolve_s * 1000000;
    if (routing_store_timer_cancel (st->core, q->id, "{close}") ||
        routing_arm_deadline (st->core, q->id, "resolve", q->resolve_due_us, q->resolve_s))
        return -1;
    snprintf (st->note, st->note_len, "居民不满意，诉求已重新交由%s（%s）办理%s%s",
              routing_str (q->assignee_name), routing_str (q->assignee_unit_name),
              s_nonempty (cmd->text) ? "：" : "", routing_str (cmd->text));
    return s_event (st, "RequestReopened", "reopened");
}

//  The rung of a unit of level (grid, community, subdistrict; higher:
//  department).
static int
s_rung (const char *level)
{
    return strcmp (level, "grid") == 0          ? 0
           : strcmp (level, "community") == 0   ? 1
           : strcmp (level, "subdistrict") == 0 ? 2
                                                : 3;
}

static int
s_transfer (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_cmd_t *cmd = st->cmd;
    gz_org_t *org = st->core->org;
    const char *level = gz_org_unit_level (org, cmd->to_unit);
    if (!level)
        return s_fail (cmd, 422, "unprocessable", "unknown unit %s", cmd->to_unit);
    const gz_staff_t *s = NULL;
    if (s_nonempty (cmd->to_staff)) {
        s = gz_org_staff (org, cmd->to_staff);
        if (!s || strcmp (s->unit_code, cmd->to_unit) != 0)
            return s_fail (cmd, 422, "unprocessable", "staff %s does not serve unit %s",
                           cmd->to_staff, cmd->to_unit);
    }
    //  A sub-district's work goes to its coordinator, never to its
    //  call-back operator (who rates, and is assigned nothing).
    else if (routing_pick_staff (st->core, cmd->to_unit,
                                 strcmp (level, "subdistrict") == 0 ? "subdistrict_coordinator"
                                                                    : NULL,
                                 false, &s) < 0)
        return -1;
    routing_pick_t to = {s ? s->id : NULL, s ? s->name : NULL, cmd->to_unit,
                         gz_org_unit_name (org, cmd->to_unit), s ? s->role : level};
    routing_assign_to (q, &to, s_rung (level));
    q->state = s_next (st, 0);
    char suffix[600];
    snprintf (suffix, sizeof suffix, "办理。原因：%s", cmd->text);
    routing_assignee_note (q, "已转派给", suffix, st->note, st->note_len);
    return s_event (st, "RequestTransferred", "transferred");
}

//  The next state comes from routing_climb (the table's escalate row).
static int
s_escalate (s_step_t *st)
{
    routing_req_t *q = st->q;
    int c = routing_climb (st->core, q, st->note, st->note_len, "已上报至");
    if (c < 0)
        return -1;
    if (c == 1)
        return s_fail (st->cmd, 422, "unprocessable", "request %s is at the top of the ladder",
                       q->id);
    if (s_nonempty (st->cmd->text)) {
        size_t n = strlen (st->note);
        snprintf (st->note + n, st->note_len - n, "。原因：%s", st->cmd->text);
    }
    st->e->type = "RequestEscalated";
    st->e->kind = "escalated";
    st->e->escalation_level = q->level;
    return 0;
}

static int
s_return (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_pick_t d;
    int f = routing_pick_dispatcher (st->core, q, &d);
    if (f < 0)
        return -1;
    if (f == 0 || (d.staff_id && q->assignee_staff && strcmp (d.staff_id, q->assignee_staff) == 0))
        return s_fail (st->cmd, 422, "unprocessable", "request %s is already with the dispatcher",
                       q->id);
    routing_assign_to (q, &d, 2);
    q->state = s_next (st, 0);
    char suffix[600];
    snprintf (suffix, sizeof suffix, "重新派单。原因：%s", st->cmd->text);
    routing_assignee_note (q, "已退回", suffix, st->note, st->note_len);
    return s_event (st, "RequestReturned", "returned");
}

//  A coordinator hands the request to another person of the units under
//  them (routing_coord.c); s_authorize checked that it lies in their
//  area. The new person signs again (the table's next state).
static int
s_reassign (s_step_t *st)
{
    routing_req_t *q = st->q;
    routing_cmd_t *cmd = st->cmd;
    gz_org_t *org = st->core->org;
    const gz_staff_t *s = gz_org_staff (org, cmd->to_staff);
    const char *level = s ? gz_org_unit_level (org, s->unit_code) : NULL;
    if (!s || !level)
        return s_fail (cmd, 422, "unprocessable", "unknown staff %s", cmd->to_staff);
    const gz_staff_t *me = st->p->staff;
    if (me && !routing_unit_under (org, s->unit_code, me->unit_code))
        return s_fail (cmd, 422, "outside_area", "staff %s (%s) is outside your area %s", s->id,
                       s->unit_code, me->unit_code);
    if (q->assignee_staff && strcmp (q->assignee_staff, s->id) == 0)
        return s_fail (cmd, 422, "unprocessable", "request %s is already assigned to %s", q->id,
                       s->id);
    routing_pick_t to = {s->id, s->name, s->unit_code, gz_org_unit_name (org, s->unit_code),
                         s->role};
    routing_assign_to (q, &to, s_rung (level));
    q->state = s_next (st, 0);
    char suffix[600] = "办理";
    if (s_nonempty (cmd->text))
        snprintf (suffix, sizeof suffix, "办理。原因：%s", cmd->text);
    routing_assignee_note (q, "已改派给", suffix, st->note, st->note_len);
    return s_event (st, "RequestReassigned", "reassigned");
}

//  The handler column of the table in routing_lifecycle.c, by action.
static s_handler_fn *const s_handlers[ROUTING_ACTIONS] = {
    [ROUTING_ACTION_ACCEPT] = s_accept,     [ROUTING_ACTION_VERIFY] = s_verify,
    [ROUTING_ACTION_START] = s_start,       [ROUTING_ACTION_NOTE] = s_note,
    [ROUTING_ACTION_RESOLVE] = s_resolve,   [ROUTING_ACTION_RATE] = s_rate,
    [ROUTING_ACTION_REOPEN] = s_reopen,     [ROUTING_ACTION_TRANSFER] = s_transfer,
    [ROUTING_ACTION_ESCALATE] = s_escalate, [ROUTING_ACTION_RETURN] = s_return,
    [ROUTING_ACTION_REASSIGN] = s_reassign,
};

//  ---------------------------------------------------------------- apply

//  May p reassign q? Only a coordinator (routing_coordinator_role) whose
//  unit is above the request: its place or its assignee's unit lies under
//  it. 0 yes, 1 refused (cmd result set).
static int
s_authorize_reassign (routing_core_t *core, routing_cmd_t *cmd, const principal_t *p,
                      const routing_req_t *q)
{
    const char *area = p->staff->unit_code;
    if (!routing_coordinator_role (p->staff->role))
        return s_fail (cmd, 403, "forbidden",
                       "only a sub-district or community coordinator may reassign");
    gz_org_t *org = core->org;
    if (routing_unit_under (org, q->grid_code, area) ||
        routing_unit_under (org, q->community_code, area) ||
        routing_unit_under (org, q->subdistrict_code, area) ||
        routing_unit_under (org, q->assignee_unit, area))
        return 0;
    return s_fail (cmd, 403, "forbidden", "request %s is not in your area %s", q->id, area);
}

//  May p act on q? 0 yes, 1 refused (cmd result set), -1 failure.
static int
s_authorize (routing_core_t *core, routing_cmd_t *cmd, const routing_transition_t *t,
             const principal_t *p, const routing_req_t *q)
{
    if (t && t->resident) {
        if (q->resident_ok || p->operator)
            return 0;
        //  A call-back operator (回访员) records the rating the resident
        //  gave by phone, for the requests of her sub-district (the
        //  workbench's 回访 page, docs/workbench.md).
        if (t->action == ROUTING_ACTION_RATE && p->staff &&
            strcmp (p->staff->role, "callback_operator") == 0 && q->subdistrict_code &&
            strcmp (q->subdistrict_code, p->staff->unit_code) == 0)
            return 0;
        if (p->known)
            return s_fail (cmd, 403, "forbidden",
                           "only the resident (status-link secret) or an operator may %s",
                           cmd->action);
        return s_fail (cmd, 401, "unauthorized", "the secret from the status link is required");
    }
    if (p->operator)
        return 0;
    if (t && t->action == ROUTING_ACTION_REASSIGN)
        return s_authorize_reassign (core, cmd, p, q);
    bool mine = (q->assignee_staff && strcmp (q->assignee_staff, p->staff->id) == 0) ||
                (q->assignee_unit && strcmp (q->assignee_unit, p->staff->unit_code) == 0);
    bool co = false;
    if (!mine && t && t->action == ROUTING_ACTION_NOTE &&
        routing_store_is_co_handler (core, q->id, p->staff->unit_code, &co))
        return -1;
    if (!mine && !co)
        return s_fail (cmd, 403, "forbidden", "request %s is not assigned to you or your unit",
                       q->id);
    return 0;
}

//  Apply t to q (authorized), save q and emit its event. 0 applied, 1
//  refused, -1 failure.
static int
s_transition (routing_core_t *core, routing_cmd_t *cmd, const routing_transition_t *t,
              const principal_t *p, routing_req_t *q)
{
    if (!t)
        return s_fail (cmd, 404, "not_found", "no action %s", cmd->action);
    bool resident = t->resident && q->resident_ok && !p->operator;
    routing_actor_t actor;
    s_actor_of (core, resident ? &(principal_t){0} : p, t->resident && q->resident_ok, &actor);
    if (!routing_transition_allows (t, q->state))
        return s_conflict (cmd, q);
    char note[1024] = "";
    routing_emit_t e = {0};
    e.satisfied = -1;
    s_step_t st = {core, cmd, t->action, p, &actor, q, &e, note, sizeof note, routing_now (core)};
    int rc = s_handlers[t->action](&st);
    if (rc)
        return rc;
    e.note = note;
    if (routing_req_save (core, q) || routing_emit (core, q, &e, &actor))
        return -1;
    cmd->status = 200;
    snprintf (cmd->state, sizeof cmd->state, "%s", routing_state_name (q->state));
    return 0;
}

//  The command inside the open transaction. 0 applied (commit), 1
//  refused (cmd result set; roll back), -1 failure.
static int
s_apply (routing_core_t *core, routing_cmd_t *cmd)
{
    const routing_transition_t *t = routing_transition (routing_action_from_name (cmd->action));
    bool resident_action = t && t->resident;
    principal_t p;
    if (s_principal (core, cmd->token, cmd->session, &p))
        return -1;
    if ((s_nonempty (cmd->token) || s_nonempty (cmd->session)) && !p.known)
        return s_fail (cmd, 401, "unauthorized", "unknown or revoked token");
    if (!resident_action && !p.known)
        return s_fail (cmd, 401, "unauthorized", "a staff bearer token is required");
    routing_req_t q;
    int found = routing_store_load (core, cmd->request_id, cmd->resident_token, &q);
    if (found < 0)
        return -1;
    if (found == 0)
        return s_fail (cmd, 404, "not_found", "no request %s", cmd->request_id);
    int rc = s_authorize (core, cmd, t, &p, &q);
    if (rc == 0)
        rc = s_transition (core, cmd, t, &p, &q);
    routing_req_clear (&q);
    return rc;
}

void
routing_execute (routing_core_t *core, routing_cmd_t *cmd)
{
    cmd->status = 0;
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        cmd->error[0] = cmd->message[0] = cmd->state[0] = 0;
        if (gz_db_ensure (core->db) || gz_db_begin (core->db))
            break;
        rc = s_apply (core, cmd);
        if (rc == 0 && gz_bus_pub_write (core->pub) == 0 && gz_db_commit (core->db) == 0) {
            gz_bus_pub_committed (core->pub);
            routing_core_count_committed (core);
            return;
        }
        gz_db_rollback (core->db);
        gz_bus_pub_aborted (core->pub);
        routing_core_forget_loads (core);
        routing_core_forget_counts (core);
        if (rc == 1)
            return; //  refused: the result says why
        rc = -1;
        if (!gz_db_retryable (core->db))
            break;
    }
    gz_metrics_add (core->metrics, "gz_db_errors_total", NULL, 1);
    gz_warn (SVC, "msg=\"command failed\" action=%s sqlstate=%s error=\"%s\"", cmd->action,
             gz_db_sqlstate (core->db), gz_db_error (core->db));
    s_fail (cmd, 503, "unavailable", "database unavailable; retry");
}
