/*  routing_http: the route table of routing's worker and resident JSON
    API (gz_actor answers /healthz, /readyz, /metrics). Reads are blocking
    routes (worker threads, the read pool); a command is deferred, queued
    for the actor (routing_cmd_defer) and answered after its commit
    (routing_http_answer).

      GET  /api/v1/requests/{id}           staff/operator bearer, or ?t=<resident secret>;
                                           staff: their area's, unit's, own or
                                           co-handled requests (s_may_read)
      GET  /api/v1/queue                   the caller's open work, most urgent first
      POST /api/v1/requests/{id}/{action}  accept verify start note resolve transfer
                                           escalate return (staff); rate reopen
                                           (resident {"token"} or ?t=, or operator)
      POST /api/v1/meetings, GET /api/v1/meetings[/{id}]   逢四说事 (routing_meetings.c)
      GET/POST /internal/v1/clock          the test clock, GZ_TEST_CLOCK=1 only (routing_clock.c)

    Errors: {"error": {"code", "message"}} with 400 401 403 404 405 409 413
    422 503. docs/routing.md documents every endpoint.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "gz_log.h"
#include "gz_text.h"
#include "routing.h"
#include "routing_pages.h"
#include "routing_meetings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
routing_iso8601 (int64_t us, char out[32])
{
    time_t t = (time_t) (us / 1000000) + 8 * 3600;
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, 32, "%Y-%m-%dT%H:%M:%S+08:00", &tm);
}

const char *
routing_tier_name (int tier)
{
    return tier == 3 ? "hard" : tier == 2 ? "upper" : "local";
}

void
routing_http_prepare (gz_db_t *db, const char *schema)
{
    routing_store_prepare_reads (db, schema);
    routing_meetings_prepare (db, schema);
    routing_sessions_prepare (db, schema);
    routing_callback_prepare (db, schema);
    routing_coord_prepare (db, schema);
}

//  ---------------------------------------------------------------- helpers

int
routing_http_caller (gz_db_t *db, gz_http_req_t *req, routing_caller_t *c, bool *had_token)
{
    memset (c, 0, sizeof *c);
    const char *token = gz_http_bearer (req);
    *had_token = token != NULL;
    if (!token)
        return 0;
    gz_caller_t who;
    int rc = gz_auth_caller (db, token, &who);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        c->operator= strcmp (who.role, "operator") == 0;
        c->known = c->operator|| who.in_org;
        snprintf (c->staff_id, sizeof c->staff_id, "%s", who.staff_id);
        snprintf (c->unit, sizeof c->unit, "%s", who.unit_code);
        if (strcmp (who.unit_level, "community") == 0)
            snprintf (c->community, sizeof c->community, "%s", who.unit_code);
        else if (strcmp (who.unit_level, "grid") == 0)
            snprintf (c->community, sizeof c->community, "%s", who.unit_parent);
    }
    return 0;
}

//  ---------------------------------------------------------------- handlers

static bool
s_is (json_t *o, const char *member, const char *code)
{
    const char *v = json_string_value (json_object_get (o, member));
    return v && *v && *code && strcmp (v, code) == 0;
}

//  May c (a known caller) read view, a request's full view? An operator
//  reads every request; a staff member those in her own area (her unit is
//  the request's grid, community or sub-district: the subtree under her
//  node), those assigned to her or her unit, and those her unit co-handles.
//  The same people the actions and the queue serve, plus the area's own
//  staff, who answer for what happens in it.
bool
routing_may_read (const routing_caller_t *c, json_t *view)
{
    if (c->operator)
        return true;
    json_t *assignee = json_object_get (view, "assignee");
    if (s_is (view, "grid_code", c->unit) || s_is (view, "community_code", c->unit) ||
        s_is (view, "subdistrict_code", c->unit) || s_is (assignee, "staff_id", c->staff_id) ||
        s_is (assignee, "unit_code", c->unit))
        return true;
    size_t i;
    json_t *co;
    json_array_foreach (json_object_get (view, "co_handlers"), i, co)
    {
        if (s_is (co, "unit_code", c->unit))
            return true;
    }
    return false;
}

//  The resident's copy of a view: without the timeline rows only staff
//  may see (routing_timeline_resident_hidden), e.g. who looked at their
//  phone, or a deadline's reminder.
static void
s_resident_view (json_t *view)
{
    json_t *tl = json_object_get (view, "timeline");
    for (size_t i = json_array_size (tl); i-- > 0;) {
        const char *kind = json_string_value (json_object_get (json_array_get (tl, i), "kind"));
        if (routing_timeline_resident_hidden (kind))
            json_array_remove (tl, i);
    }
}

static void
s_get_request (routing_t *ctx, gz_http_req_t *req, const char *id)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    json_t *view = NULL;
    bool resident_ok = false;
    const char *t = gz_http_query (req, "t");
    int rc = routing_http_caller (db, req, &c, &had_token);
    if (rc == 0)
        rc = routing_store_view (db, id, t, &view, &resident_ok);
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (had_token && !c.known)
        gz_http_reply_error (req, 401, "unauthorized", "unknown or revoked token");
    else if (rc == 0)
        gz_http_reply_error (req, 404, "not_found", "no such request");
    else if (!c.known && !resident_ok)
        gz_http_reply_error (req, 401, "unauthorized",
                             "a staff bearer token or the status-link secret (?t=) is required");
    else if (!resident_ok && !routing_may_read (&c, view))
        //  403 as the actions answer: request ids are public (Open311).
        gz_http_reply_error (req, 403, "forbidden",
                             "not a request of your area, your unit or yours");
    else {
        //  Served on the status-link secret alone: the resident's view.
        if (!c.known || !routing_may_read (&c, view))
            s_resident_view (view);
        gz_http_reply_json (req, 200, view);
        view = NULL;
    }
    json_decref (view);
}

static void
s_get_queue (routing_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    int rc = routing_http_caller (db, req, &c, &had_token);
    json_t *items = NULL;
    if (rc == 0 && c.known) {
        items = routing_store_queue (db, c.operator? NULL : c.staff_id, c.operator? NULL : c.unit);
        if (!items)
            rc = -1;
    }
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0) {
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        return;
    }
    if (!c.known) {
        gz_http_reply_error (req, 401, "unauthorized", "a staff bearer token is required");
        return;
    }
    gz_http_reply_json (req, 200, json_pack ("{s:o}", "requests", items));
}

static bool
s_text_ok (const char *s)
{
    return !s ||
           (gz_utf8_valid (s, strlen (s)) && gz_utf8_chars (s, strlen (s)) <= ROUTING_MAX_TEXT);
}

const char *
routing_json_error (const json_error_t *err)
{
    return strstr (err->text, "duplicate object key") ? "the body repeats a key"
                                                      : "the body is not a JSON object";
}

//  What a command needs besides its action, per action: NULL when cmd
//  has it.
static const char *
s_fields_check (routing_action_t action, const routing_cmd_t *cmd)
{
    switch (action) {
        case ROUTING_ACTION_VERIFY:
            if (!cmd->outcome ||
                (strcmp (cmd->outcome, "reached") && strcmp (cmd->outcome, "not_reached") &&
                 strcmp (cmd->outcome, "invalid")))
                return "verify needs outcome: reached, not_reached or invalid";
            return NULL;
        case ROUTING_ACTION_NOTE:
            return !cmd->text && !cmd->media_url && !cmd->nphotos
                       ? "note needs text (or media_url, or photos)"
                       : NULL;
        case ROUTING_ACTION_RESOLVE:
            return !cmd->text ? "resolve needs result" : NULL;
        case ROUTING_ACTION_TRANSFER:
            return !cmd->to_unit || !cmd->text ? "transfer needs to_unit and reason" : NULL;
        case ROUTING_ACTION_RETURN:
            return !cmd->text ? "return needs reason" : NULL;
        case ROUTING_ACTION_REASSIGN:
            return !cmd->to_staff ? "reassign needs to_staff" : NULL;
        case ROUTING_ACTION_RATE:
            return cmd->score < 1 || cmd->score > 5 ? "rate needs score 1-5" : NULL;
        default:
            return NULL;
    }
}

const char *
routing_cmd_check (const routing_cmd_t *cmd)
{
    if (!cmd->request_id || strlen (cmd->request_id) > 64)
        return "request_id is missing or too long";
    routing_action_t action = routing_action_from_name (cmd->action);
    if (action == ROUTING_ACTION_NONE)
        return "unknown action";
    if (!s_text_ok (cmd->text) || !s_text_ok (cmd->media_url) || !s_text_ok (cmd->to_unit) ||
        !s_text_ok (cmd->to_staff) || !s_text_ok (cmd->outcome))
        return "a text field is not valid UTF-8, holds a character XML forbids (a control,"
               " U+FFFE, U+FFFF) or is longer than 4000 characters";
    //  The same rule as intake's: a link shown to the public is http(s).
    if (cmd->media_url && !gz_url_http (cmd->media_url))
        return "media_url must be an http or https URL";
    return s_fields_check (action, cmd);
}

//  The JSON member an action's text comes in.
static const char *
s_text_field (routing_action_t action)
{
    switch (action) {
        case ROUTING_ACTION_RESOLVE:
            return "result";
        case ROUTING_ACTION_NOTE:
        case ROUTING_ACTION_START:
        case ROUTING_ACTION_VERIFY:
            return "text";
        case ROUTING_ACTION_RATE:
        case ROUTING_ACTION_REOPEN:
            return "comment";
        default:
            return "reason";
    }
}

//  A string member (NULL when absent or empty); *bad when present but not
//  a string.
static char *
s_member (json_t *o, const char *name, bool *bad)
{
    json_t *v = json_object_get (o, name);
    if (!v || json_is_null (v))
        return NULL;
    if (!json_is_string (v)) {
        *bad = true;
        return NULL;
    }
    const char *s = json_string_value (v);
    return *s ? strdup (s) : NULL;
}

//  Parse and check a command; defer it to the actor (true) or answer now.
static bool
s_post_action (routing_t *ctx, gz_http_req_t *req, const char *id, const char *action,
               int64_t start_us)
{
    if (gz_http_too_large (req)) {
        gz_http_reply_error (req, 413, "too_large", "body over 64 KiB");
        return false;
    }
    routing_action_t act = routing_action_from_name (action);
    if (act == ROUTING_ACTION_NONE) {
        gz_http_reply_error (req, 404, "not_found", "no such action");
        return false;
    }
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    json_t *o = NULL;
    if (body && len) {
        json_error_t jerr;
        //  A repeated key is refused, not resolved by "the last one wins".
        o = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object (o)) {
            json_decref (o);
            gz_http_reply_error (req, 400, "bad_request", routing_json_error (&jerr));
            return false;
        }
    }
    else
        o = json_object ();
    routing_cmd_t *cmd = routing_cmd_new ();
    bool bad = false;
    cmd->request_id = strdup (id);
    cmd->action = strdup (action);
    const char *bearer = gz_http_bearer (req);
    if (bearer)
        cmd->token = strdup (bearer);
    cmd->resident_token = s_member (o, "token", &bad);
    const char *t = gz_http_query (req, "t");
    if (!cmd->resident_token && t && *t)
        cmd->resident_token = strdup (t);
    cmd->outcome = s_member (o, "outcome", &bad);
    cmd->media_url = s_member (o, "media_url", &bad);
    cmd->to_unit = s_member (o, "to_unit", &bad);
    cmd->to_staff = s_member (o, "to_staff", &bad);
    cmd->text = s_member (o, s_text_field (act), &bad);
    if (act == ROUTING_ACTION_RATE) {
        json_t *sc = json_object_get (o, "score"), *sa = json_object_get (o, "satisfied");
        if (!json_is_integer (sc) || !json_is_boolean (sa))
            bad = true;
        else {
            json_int_t v = json_integer_value (sc);
            cmd->score = v >= 1 && v <= 5 ? (int) v : 0;
            cmd->satisfied = json_is_true (sa);
        }
    }
    json_decref (o);
    const char *why = bad ? "a field has the wrong type" : routing_cmd_check (cmd);
    if (why) {
        routing_cmd_destroy (&cmd);
        gz_http_reply_error (req, 400, "bad_request", why);
        return false;
    }
    cmd->start_us = start_us;
    if (routing_cmd_defer (ctx, &cmd, req) == 0)
        return true;
    routing_cmd_destroy (&cmd);
    gz_http_reply_error (req, 503, "unavailable", "shutting down; retry");
    return false;
}

void
routing_http_answer (gz_http_req_t *req, void *arg)
{
    routing_cmd_t *cmd = arg;
    routing_t *ctx = cmd->ctx;
    if (cmd->page) {
        routing_pages_answer (req, cmd);
        return;
    }
    if (cmd->status != 200) {
        if (cmd->status == 409) {
            json_t *err = json_pack ("{s:{s:s,s:s,s:s}}", "error", "code", cmd->error, "message",
                                     cmd->message, "state", cmd->state);
            gz_http_reply_json (req, 409, err);
        }
        else
            gz_http_reply_error (req, cmd->status, cmd->error, cmd->message);
    }
    else {
        //  The view after the change: one indexed read on a pool connection.
        gz_db_t *db = gz_dbpool_get (ctx->pool);
        json_t *view = NULL;
        bool ok;
        int found = routing_store_view (db, cmd->request_id, NULL, &view, &ok);
        gz_dbpool_put (ctx->pool, db);
        if (found == 1)
            gz_http_reply_json (req, 200, view);
        else
            gz_http_reply_json (
                req, 200, json_pack ("{s:s,s:s}", "id", cmd->request_id, "state", cmd->state));
    }
    gz_actor_observe (ctx->actor, "action", cmd->start_us);
    routing_cmd_destroy (&cmd);
}

//  ---------------------------------------------------------------- routes

//  GET /api/v1/requests/{id}: the request's view.
static bool
s_route_request (void *state, gz_http_req_t *req, const char *rest)
{
    if (!*rest || strlen (rest) >= 80)
        gz_http_reply_error (req, 404, "not_found", "no such request");
    else if (strchr (rest, '/'))
        gz_http_reply_error (req, 405, "method_not_allowed", "use POST");
    else
        s_get_request (state, req, rest);
    return false;
}

//  POST /api/v1/requests/{id}/{action}: a command, deferred until applied.
static bool
s_route_action (void *state, gz_http_req_t *req, const char *rest)
{
    int64_t start = zclock_usecs ();
    const char *slash = strchr (rest, '/');
    size_t n = slash ? (size_t) (slash - rest) : strlen (rest);
    if (!*rest || n >= 80) {
        gz_http_reply_error (req, 404, "not_found", "no such request");
        return false;
    }
    if (!slash) {
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
        return false;
    }
    char id[80];
    snprintf (id, sizeof id, "%.*s", (int) n, rest);
    return s_post_action (state, req, id, slash + 1, start);
}

static bool
s_route_queue (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    s_get_queue (state, req);
    return false;
}

static bool
s_route_meetings (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    const char *route = NULL;
    if (!routing_meetings_handle (state, req, gz_http_path (req), gz_http_method (req), &route))
        gz_http_reply_error (req, 404, "not_found", "no such resource");
    return false;
}

//  First match wins. Reads and meetings wait on a pool connection:
//  blocking. A command is deferred until the actor has applied it.
const gz_route_t routing_routes[] = {
    {"POST", "/api/v1/requests/", "action", s_route_action, false},
    {NULL, "/api/v1/requests/", "request", s_route_request, true},
    {NULL, "/api/v1/meetings", "meetings", s_route_meetings, true},
    {NULL, "/api/v1/meetings/", "meeting", s_route_meetings, true},
    {NULL, "/api/v1/queue", "queue", s_route_queue, true},
    {"POST", "/w/r/", "page_action", routing_page_action_route, false},
    {"POST", "/w/callback/", "page_action", routing_callback_rate_route, false},
    {"GET", "/w/callback", "page", routing_callback_route, true},
    {NULL, "/w/", "page", routing_page_route, true},
    {NULL, "/internal/v1/clock", "clock", routing_clock_route, true},
    {NULL, NULL, NULL, NULL, false},
};
