/*  notify_consume: the followed streams' handlers: who hears what.

    intake's stream says what notify keeps of each request (category,
    place, whether the resident left a contact). routing's stream says
    what happened; matching's offers a volunteer a task. The plan says who
    hears it (its rules for the event's kind); each recipient gets one
    delivery row on the first channel of their order that can reach them.
    All of it inside the consumer's transaction, so the rows commit with
    the cursor: once per event.  */
#include "gz_category.h"
#include "gz_log.h"
#include "notify.h"
#include "notify_policy.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/matching.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"

#define SVC "notify"

//  ---------------------------------------------------------------- intake

int
notify_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    notify_t *self = arg;
    if (strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *s =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!s || !*s->request_id) {
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        if (s)
            gongzhi__v1__request_submitted__free_unpacked (s, NULL);
        return 0;
    }
    atomic_fetch_add (&self->consumed, 1);
    //  The place as a resident knows it: the building's name, else the
    //  address given. The actor owns the directory: no lock to read it.
    const gz_building_t *b =
        *s->building_code ? gz_org_building (self->shared.org, s->building_code) : NULL;
    const char *place = b && b->name ? b->name : s->address;
    int rc = notify_store_request (db, s->request_id, s->service_code, place, s->has_phone);
    gongzhi__v1__request_submitted__free_unpacked (s, NULL);
    return rc;
}

//  ---------------------------------------------------------------- routing

static void
s_set (json_t *vars, const char *name, const char *value)
{
    json_object_set_new (vars, name, json_string (value ? value : ""));
}

//  The template variables of an event (docs/notify-plan.md). No contact
//  data and no status-link secret: the worker adds {status_link} when it
//  sends.
static json_t *
s_vars (const Gongzhi__V1__RequestUpdate *u, const notify_request_t *req)
{
    json_t *vars = json_object ();
    const char *code = *req->service_code ? req->service_code : u->service_code;
    const gz_category_t *cat = gz_category_find (code);
    char when[64], number[16];
    s_set (vars, "request_id", u->request_id);
    s_set (vars, "category", cat ? cat->name : code);
    s_set (vars, "place", req->place);
    if (u->resolve_due_us > 0)
        notify_china_time (u->resolve_due_us, when, sizeof when);
    else
        when[0] = 0;
    s_set (vars, "deadline", when);
    const Gongzhi__V1__Assignee *a = u->assignee;
    s_set (vars, "assignee_unit", a ? a->unit_name : "");
    char *masked = a && *a->staff_name ? notify_mask_name (a->staff_name) : NULL;
    s_set (vars, "assignee_name", masked);
    free (masked);
    s_set (vars, "tier", notify_tier_text (u->tier));
    //  A hard request's lead: the unit that holds it.
    s_set (vars, "lead_unit", u->tier == GONGZHI__V1__TIER__HARD && a ? a->unit_name : "");
    s_set (vars, "result", strcmp (u->kind, "resolved") == 0 ? u->note : "");
    s_set (vars, "note", u->note);
    s_set (vars, "level", u->escalation_level ? notify_level_text (u->escalation_level) : "");
    snprintf (number, sizeof number, "%d", u->score);
    s_set (vars, "score", u->score ? number : "");
    s_set (vars, "deadline_kind",
           strcmp (u->deadline, "response") == 0  ? "响应"
           : strcmp (u->deadline, "resolve") == 0 ? "办结"
                                                  : "");
    return vars;
}

//  The recipients an audience names for this event, added to `to` (a
//  JSON object used as an ordered set: recipient -> audience).
static int
s_recipients (gz_db_t *db, const Gongzhi__V1__RequestUpdate *u, notify_audience_t aud,
              const notify_request_t *req, json_t *to)
{
    char who[160];
    const char *audience = notify_audience_name (aud);
    const Gongzhi__V1__Assignee *a = u->assignee;
    if (aud == NOTIFY_RESIDENT) {
        if (req->has_contact || req->unknown) {
            snprintf (who, sizeof who, "resident:%s", u->request_id);
            if (!json_object_get (to, who))
                json_object_set_new (to, who, json_string (audience));
        }
        json_t *followers = notify_store_followers (db, u->request_id);
        if (!followers)
            return -1;
        size_t i;
        json_t *f;
        json_array_foreach (followers, i, f)
        {
            snprintf (who, sizeof who, "resident:%s", json_string_value (f));
            if (!json_object_get (to, who))
                json_object_set_new (to, who, json_string (audience));
        }
        json_decref (followers);
    }
    else if ((aud == NOTIFY_ASSIGNEE || aud == NOTIFY_NEXT_RUNG || aud == NOTIFY_LEAD) && a &&
             *a->staff_id) {
        //  next_rung: an escalation's update names the new rung as
        //  assignee; lead: a hard request's assignee is its lead's contact.
        snprintf (who, sizeof who, "staff:%s", a->staff_id);
        if (!json_object_get (to, who))
            json_object_set_new (to, who, json_string (audience));
    }
    else if (aud == NOTIFY_CO_HANDLER) {
        for (size_t i = 0; i < u->n_co_handlers; i++)
            if (*u->co_handlers[i]->staff_id) {
                snprintf (who, sizeof who, "staff:%s", u->co_handlers[i]->staff_id);
                if (!json_object_get (to, who))
                    json_object_set_new (to, who, json_string (audience));
            }
    }
    return 0;
}

//  Can channel reach recipient? log and webhook reach anyone; sms needs a
//  phone (a resident's contact is a phone; staff's from the directory).
static bool
s_reaches (notify_t *self, const char *channel, const char *recipient, bool resident)
{
    if (!notify_channel_configured (&self->cfg->chans, channel))
        return false;
    if (strcmp (channel, "log") == 0 || strcmp (channel, "webhook") == 0)
        return true;
    if (strcmp (channel, "sms") == 0) {
        if (resident || strncmp (recipient, "volunteer:", 10) == 0)
            return true; //  intake (has_contact) or matching holds the phone
        const gz_staff_t *st = gz_org_staff (self->shared.org, recipient + strlen ("staff:"));
        return st && st->phone && *st->phone;
    }
    return false; //  e-mail and WeChat addresses are not in the directory yet
}

//  The channel for recipient: the first of their order that reaches them.
static const char *
s_channel (notify_t *self, const char *recipient, const char *prefs, char *buf, size_t size)
{
    bool resident = strncmp (recipient, "resident:", 9) == 0;
    if (*prefs) {
        snprintf (buf, size, "%s", prefs);
        char *save = NULL;
        for (char *c = strtok_r (buf, ",", &save); c; c = strtok_r (NULL, ",", &save))
            if (s_reaches (self, c, recipient, resident))
                return c;
    }
    char *const *order = resident                                     ? self->resident_order
                         : strncmp (recipient, "volunteer:", 10) == 0 ? self->volunteer_order
                                                                      : self->staff_order;
    for (size_t i = 0; order[i]; i++)
        if (s_reaches (self, order[i], recipient, resident))
            return order[i];
    return NULL;
}

//  One event as the rows need it, whichever stream it came from.
typedef struct {
    const gz_envelope_t *env;
    const char *stream; //  "routing" or "matching": the rows' keys start with it
    const char *kind;
    const char *request_id;
    bool urgent; //  an urgent offer (matching)
    const notify_rule_t *rule;
    const char *vars;
    const char *nodes[3]; //  grid, community, sub-district, as the event says
} s_event_t;

//  One recipient's row: preferences, channel, quiet hours.
static int
s_queue_one (notify_t *self, gz_db_t *db, const s_event_t *e, const char *recipient,
             const char *audience)
{
    char prefs[256], buf[256];
    bool opt_out = false;
    if (notify_store_prefs (db, recipient, prefs, sizeof prefs, &opt_out) < 0)
        return -1;
    if (!notify_wanted (e->rule, opt_out))
        return 0;
    const char *channel = s_channel (self, recipient, prefs, buf, sizeof buf);
    if (!channel) {
        gz_debug (SVC, "msg=\"no channel reaches the recipient\" recipient=\"%s\"", recipient);
        return 0;
    }
    //  Quiet hours: the rule may ignore them (urgent), and so may an
    //  urgent offer; no request is marked urgent yet, so staff's other
    //  messages wait as residents' do.
    int64_t due = 0;
    if (!notify_bypass_quiet (e->rule, e->urgent)) {
        int start, end;
        notify_quiet_window (self, &start, &end);
        int64_t now = notify_now_us (self);
        int64_t release = notify_quiet_release_us (now, start, end);
        due = release > now ? release : 0;
    }
    //  Digests: a staff member's non-essential messages within the window
    //  of the last one sent wait for the window's end and go as one.
    bool digest = strncmp (recipient, "staff:", 6) == 0 && !e->rule->essential &&
                  !e->rule->urgent && notify_digest_window_ms (self) > 0;
    if (digest) {
        int64_t at =
            notify_store_digest_due (db, recipient, channel, notify_digest_window_ms (self));
        if (at < 0)
            return -1;
        if (at > notify_now_us (self) + 1000 && at > due)
            due = at;
    }
    //  At most GZ_NOTIFY_RECIPIENT_PER_HOUR non-essential messages to a
    //  person in any hour; more wait (digests have their own window).
    if (!digest && !e->rule->essential && self->cfg->recipient_per_hour > 0) {
        int64_t want = due ? due : notify_now_us (self);
        int64_t at = notify_store_rate_due (db, recipient, self->cfg->recipient_per_hour, want);
        if (at < 0)
            return -1;
        if (at > want + 1000)
            due = at;
    }
    char key[400];
    snprintf (key, sizeof key, "%s:%lld:%s:%s", e->stream, (long long) e->env->position, recipient,
              channel);
    notify_row_t row = {.key = key,
                        .stream = e->stream,
                        .event = e->kind,
                        .request_id = e->request_id,
                        .audience = audience,
                        .recipient = recipient,
                        .channel = channel,
                        .tmpl = e->rule->template_name,
                        .position = e->env->position,
                        .vars = e->vars,
                        .essential = e->rule->essential,
                        .digest = digest,
                        .due_us = due,
                        .nodes = {e->nodes[0], e->nodes[1], e->nodes[2]}};
    return notify_store_insert (db, &row);
}

static int
s_plan_event (notify_t *self, gz_db_t *db, const gz_envelope_t *env,
              const Gongzhi__V1__RequestUpdate *u)
{
    const notify_rule_t *rules = NULL;
    size_t n = notify_plan_match (self->shared.plan, u->kind, &rules);
    if (n == 0)
        return 0;
    notify_request_t req;
    int rc = notify_store_request_get (db, u->request_id, &req);
    if (rc < 0)
        return -1;
    //  Routing's event may come before intake's (two streams, each in
    //  order, not with each other): then whether the resident left a
    //  contact is not known yet, and the row is planned anyway; the worker
    //  asks intake and marks it skipped when there is none.
    req.unknown = rc == 1;
    json_t *vars = s_vars (u, &req);
    char *vars_text = json_dumps (vars, JSON_COMPACT);
    json_decref (vars);
    if (!vars_text)
        return -1;
    rc = 0;
    //  One message per person and event: the first rule that names them.
    json_t *to = json_object ();
    for (size_t i = 0; i < n && rc == 0; i++) {
        const notify_rule_t *rule = &rules[i];
        if (!notify_rule_applies (rule, u->tier))
            continue;
        size_t before = json_object_size (to);
        rc = s_recipients (db, u, rule->audience, &req, to);
        s_event_t e = {
            env,   "routing", u->kind,   u->request_id,
            false, rule,      vars_text, {u->grid_code, u->community_code, u->subdistrict_code}};
        //  The recipients this rule added (a JSON object keeps order).
        size_t k = 0;
        const char *who;
        json_t *aud;
        json_object_foreach (to, who, aud)
        {
            if (rc == 0 && k++ >= before)
                rc = s_queue_one (self, db, &e, who, json_string_value (aud));
        }
    }
    json_decref (to);
    free (vars_text);
    return rc;
}

int
notify_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    notify_t *self = arg;
    Gongzhi__V1__RequestUpdate *u =
        gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    if (!u || !*u->request_id || !*u->kind) {
        //  Count and skip: a payload that does not decode never will.
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        if (u)
            gongzhi__v1__request_update__free_unpacked (u, NULL);
        return 0;
    }
    atomic_fetch_add (&self->consumed, 1);
    int rc = 0;
    if (strcmp (u->kind, "merged") == 0 && *u->merged_into)
        rc = notify_store_merge (db, u->request_id, u->merged_into);
    if (rc == 0)
        rc = s_plan_event (self, db, env, u);
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}

//  ---------------------------------------------------------------- matching

//  An offer's template variables (docs/notify-plan.md). No phone, no
//  answer link and no name: the worker asks matching for them when it
//  sends, and whether the offer is still open.
static json_t *
s_offer_vars (const Gongzhi__V1__MatchingEvent *m)
{
    json_t *vars = json_object ();
    char text[160], number[32];
    snprintf (number, sizeof number, "%lld", (long long) m->offer_id);
    s_set (vars, "offer_id", number);
    s_set (vars, "request_id", m->request_id);
    s_set (vars, "task", m->skill_label);
    s_set (vars, "place", m->place);
    notify_task_time (m->window_from_us, m->window_to_us, m->weekly, text, sizeof text);
    s_set (vars, "when", text);
    if (m->expires_at_us > 0)
        notify_china_time (m->expires_at_us, text, sizeof text);
    else
        text[0] = 0;
    s_set (vars, "expires", text);
    return vars;
}

//  An offer: the plan's volunteer rules name the volunteer offered it.
static int
s_plan_offer (notify_t *self, gz_db_t *db, const gz_envelope_t *env,
              const Gongzhi__V1__MatchingEvent *m)
{
    const notify_rule_t *rules = NULL;
    size_t n = notify_plan_match (self->shared.plan, m->kind, &rules);
    char who[160];
    snprintf (who, sizeof who, "volunteer:%s", m->volunteer_id);
    char *vars_text = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (rules[i].audience != NOTIFY_VOLUNTEER)
            continue;
        if (!vars_text) {
            json_t *vars = s_offer_vars (m);
            vars_text = json_dumps (vars, JSON_COMPACT);
            json_decref (vars);
            if (!vars_text)
                return -1;
        }
        s_event_t e = {env,       "matching",
                       m->kind,   m->request_id,
                       m->urgent, &rules[i],
                       vars_text, {m->grid_code, m->community_code, m->subdistrict_code}};
        rc = s_queue_one (self, db, &e, who, notify_audience_name (NOTIFY_VOLUNTEER));
        break; //  one message per person and event
    }
    free (vars_text);
    return rc;
}

int
notify_on_matching (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    notify_t *self = arg;
    //  Offers only: matching's other events (accepted, expired, points)
    //  concern nobody notify tells, and their kinds must not meet
    //  routing's rules of the same name ("accepted").
    if (strcmp (env->type, "MatchOffered") != 0)
        return 0;
    Gongzhi__V1__MatchingEvent *m =
        gongzhi__v1__matching_event__unpack (NULL, env->payload.len, env->payload.data);
    if (!m || strcmp (m->kind, "offered") != 0 || m->offer_id <= 0 || !*m->volunteer_id) {
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"matching\"", 1);
        if (m)
            gongzhi__v1__matching_event__free_unpacked (m, NULL);
        return 0;
    }
    atomic_fetch_add (&self->consumed, 1);
    int rc = s_plan_offer (self, db, env, m);
    gongzhi__v1__matching_event__free_unpacked (m, NULL);
    return rc;
}

void
notify_on_batch (void *arg, bool committed)
{
    notify_t *self = arg;
    if (committed && self->deliver)
        notify_deliver_wake (self->deliver);
}
