/*  routing_http: the worker and resident JSON API of routing, plus the
    operational endpoints (/healthz, /readyz, /metrics). Runs on
    libmicrohttpd threads: reads go to the read pool, commands are queued
    for the actor (routing_cmd_wait) and answered after its commit.

      GET  /api/v1/requests/{id}           staff/operator bearer, or ?t=<resident secret>
      GET  /api/v1/queue                   the caller's open work, most urgent first
      POST /api/v1/requests/{id}/{action}  accept verify start note resolve transfer
                                           escalate return (staff); rate reopen
                                           (resident {"token"} or ?t=, or operator)
      POST /api/v1/meetings, GET /api/v1/meetings[/{id}]   逢四说事 (routing_meetings.c)

    Errors: {"error": {"code", "message"}} with 400 401 403 404 405 409 413
    422 503. docs/routing.md documents every endpoint.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "gz_log.h"
#include "gz_text.h"
#include "routing.h"
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
}

//  ---------------------------------------------------------------- helpers

static json_t *
s_jstr (PGresult *r, int row, int col)
{
    return PQgetisnull (r, row, col) ? json_null () : json_string (PQgetvalue (r, row, col));
}

static json_t *
s_jtime (PGresult *r, int row, int col)
{
    if (PQgetisnull (r, row, col))
        return json_null ();
    char iso[32];
    routing_iso8601 (strtoll (PQgetvalue (r, row, col), NULL, 10), iso);
    return json_string (iso);
}

typedef struct {
    bool known, operator;
    char staff_id[80], unit[80];
} caller_t;

//  The bearer token's owner. 0 ok (known false: none/unknown), -1 failure.
static int
s_caller (gz_db_t *db, gz_http_req_t *req, caller_t *c, bool *had_token)
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
        snprintf (c->staff_id, sizeof c->staff_id, "%s", who.staff_id);
        snprintf (c->unit, sizeof c->unit, "%s", who.unit_code);
        c->known = c->operator|| who.in_org;
    }
    return 0;
}

static json_t *
s_person (const char *staff_id, const char *name, const char *unit, const char *unit_name,
          const char *role)
{
    return json_pack ("{s:o,s:s,s:s,s:s,s:s}", "staff_id",
                      staff_id && *staff_id ? json_string (staff_id) : json_null (), "name",
                      name ? name : "", "unit_code", unit ? unit : "", "unit_name",
                      unit_name ? unit_name : "", "role", role ? role : "");
}

//  The full view of a request. 1 found (*out set; *resident_ok), 0 not
//  found, -1 failure.
static int
s_view (gz_db_t *db, const char *id, const char *resident_token, json_t **out, bool *resident_ok)
{
    const char *v[2] = {id, resident_token};
    PGresult *r = gz_db_exec (db, "rh_request", 2, v);
    if (!r)
        return -1;
    if (PQntuples (r) != 1) {
        PQclear (r);
        return 0;
    }
    *resident_ok = PQgetvalue (r, 0, 31)[0] == 't';
    const gz_category_t *cat = gz_category_find (PQgetvalue (r, 0, 3));
    json_t *o = json_object ();
    json_object_set_new (o, "id", s_jstr (r, 0, 0));
    json_object_set_new (o, "state", s_jstr (r, 0, 1));
    json_object_set_new (o, "tier", json_string (routing_tier_name (atoi (PQgetvalue (r, 0, 2)))));
    json_object_set_new (o, "category", s_jstr (r, 0, 3));
    json_object_set_new (o, "category_name", json_string (cat ? cat->name : ""));
    json_object_set_new (o, "description", s_jstr (r, 0, 4));
    json_object_set_new (o, "channel", s_jstr (r, 0, 5));
    json_object_set_new (o, "building_code", s_jstr (r, 0, 6));
    json_object_set_new (o, "grid_code", s_jstr (r, 0, 7));
    json_object_set_new (o, "community_code", s_jstr (r, 0, 8));
    json_object_set_new (o, "subdistrict_code", s_jstr (r, 0, 9));
    json_object_set_new (o, "meeting_id", s_jstr (r, 0, 10));
    json_object_set_new (o, "media_url", s_jstr (r, 0, 30));
    json_object_set_new (o, "assignee",
                         s_person (PQgetvalue (r, 0, 11), PQgetvalue (r, 0, 12),
                                   PQgetvalue (r, 0, 13), PQgetvalue (r, 0, 14),
                                   PQgetvalue (r, 0, 15)));
    json_object_set_new (o, "escalation_level", json_integer (atoi (PQgetvalue (r, 0, 16))));
    json_object_set_new (o, "merged_into", s_jstr (r, 0, 17));
    json_object_set_new (o, "followers", json_integer (atoi (PQgetvalue (r, 0, 18))));
    json_object_set_new (
        o, "deadlines",
        json_pack ("{s:o,s:o}", "response", s_jtime (r, 0, 19), "resolve", s_jtime (r, 0, 20)));
    json_object_set_new (o, "submitted_at", s_jtime (r, 0, 29));
    json_object_set_new (o, "routed_at", s_jtime (r, 0, 28));
    json_object_set_new (o, "responded_at", s_jtime (r, 0, 21));
    json_object_set_new (o, "resolved_at", s_jtime (r, 0, 22));
    json_object_set_new (o, "closed_at", s_jtime (r, 0, 23));
    json_object_set_new (o, "reopen_count", json_integer (atoi (PQgetvalue (r, 0, 24))));
    if (PQgetisnull (r, 0, 25))
        json_object_set_new (o, "rating", json_null ());
    else
        json_object_set_new (o, "rating",
                             json_pack ("{s:i,s:b,s:o}", "score", atoi (PQgetvalue (r, 0, 25)),
                                        "satisfied", PQgetvalue (r, 0, 26)[0] == 't', "comment",
                                        s_jstr (r, 0, 27)));
    PQclear (r);

    const char *v1[1] = {id};
    json_t *co = json_array ();
    r = gz_db_exec (db, "rh_co", 1, v1);
    for (int i = 0; r && i < PQntuples (r); i++) {
        json_t *c = s_person (PQgetvalue (r, i, 2), PQgetvalue (r, i, 3), PQgetvalue (r, i, 0),
                              PQgetvalue (r, i, 1), "department_contact");
        json_object_set_new (c, "reported", json_boolean (PQgetvalue (r, i, 4)[0] == 't'));
        json_array_append_new (co, c);
    }
    PQclear (r);
    json_object_set_new (o, "co_handlers", co);
    json_t *tl = json_array ();
    r = gz_db_exec (db, "rh_timeline", 1, v1);
    for (int i = 0; r && i < PQntuples (r); i++) {
        json_t *t = json_object ();
        json_object_set_new (t, "at", s_jtime (r, i, 0));
        json_object_set_new (t, "kind", s_jstr (r, i, 1));
        json_object_set_new (t, "state", s_jstr (r, i, 2));
        json_object_set_new (t, "actor",
                             json_pack ("{s:o,s:s,s:s}", "staff_id", s_jstr (r, i, 3), "name",
                                        PQgetvalue (r, i, 4), "role", PQgetvalue (r, i, 5)));
        json_object_set_new (t, "note", s_jstr (r, i, 6));
        json_t *d = PQgetisnull (r, i, 7) ? NULL : json_loads (PQgetvalue (r, i, 7), 0, NULL);
        json_object_set_new (t, "detail", d ? d : json_object ());
        json_array_append_new (tl, t);
    }
    bool failed = r == NULL;
    PQclear (r);
    json_object_set_new (o, "timeline", tl);
    if (failed) {
        json_decref (o);
        return -1;
    }
    *out = o;
    return 1;
}

//  ---------------------------------------------------------------- handlers

static void
s_get_request (routing_t *ctx, gz_http_req_t *req, const char *id)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    caller_t c;
    bool had_token;
    json_t *view = NULL;
    bool resident_ok = false;
    const char *t = gz_http_query (req, "t");
    int rc = s_caller (db, req, &c, &had_token);
    if (rc == 0)
        rc = s_view (db, id, t, &view, &resident_ok);
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
    else {
        gz_http_reply_json (req, 200, view);
        view = NULL;
    }
    json_decref (view);
}

static void
s_get_queue (routing_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    caller_t c;
    bool had_token;
    int rc = s_caller (db, req, &c, &had_token);
    PGresult *r = NULL;
    if (rc == 0 && c.known) {
        const char *v[2] = {c.operator? NULL : c.staff_id, c.operator? NULL : c.unit };
        r = gz_db_exec (db, "rh_queue", 2, v);
        if (!r)
            rc = -1;
    }
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0) {
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        return;
    }
    if (!c.known) {
        PQclear (r);
        gz_http_reply_error (req, 401, "unauthorized", "a staff bearer token is required");
        return;
    }
    json_t *items = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *o = json_object ();
        json_object_set_new (o, "id", s_jstr (r, i, 0));
        json_object_set_new (o, "state", s_jstr (r, i, 1));
        json_object_set_new (o, "tier",
                             json_string (routing_tier_name (atoi (PQgetvalue (r, i, 2)))));
        json_object_set_new (o, "category", s_jstr (r, i, 3));
        json_object_set_new (o, "building_code", s_jstr (r, i, 4));
        json_object_set_new (o, "assignee",
                             json_pack ("{s:o,s:s,s:s}", "staff_id", s_jstr (r, i, 5), "name",
                                        PQgetvalue (r, i, 6), "unit_name", PQgetvalue (r, i, 7)));
        json_object_set_new (
            o, "deadlines",
            json_pack ("{s:o,s:o}", "response", s_jtime (r, i, 8), "resolve", s_jtime (r, i, 9)));
        json_object_set_new (o, "next_due", s_jtime (r, i, 10));
        json_array_append_new (items, o);
    }
    PQclear (r);
    gz_http_reply_json (req, 200, json_pack ("{s:o}", "requests", items));
}

static const char *const s_actions[] = {"accept",  "verify",   "start",    "note",
                                        "resolve", "transfer", "escalate", "return",
                                        "rate",    "reopen",   NULL};

static bool
s_text_ok (const char *s)
{
    return !s ||
           (gz_utf8_valid (s, strlen (s)) && gz_utf8_chars (s, strlen (s)) <= ROUTING_MAX_TEXT);
}

const char *
routing_cmd_check (const routing_cmd_t *cmd)
{
    if (!cmd->request_id || strlen (cmd->request_id) > 64)
        return "request_id is missing or too long";
    bool known = false;
    for (size_t i = 0; cmd->action && s_actions[i]; i++)
        known = known || strcmp (cmd->action, s_actions[i]) == 0;
    if (!known)
        return "unknown action";
    const char *a = cmd->action;
    if (!s_text_ok (cmd->text) || !s_text_ok (cmd->media_url) || !s_text_ok (cmd->to_unit) ||
        !s_text_ok (cmd->to_staff) || !s_text_ok (cmd->outcome))
        return "a text field is not UTF-8 or longer than 4000 characters";
    if (strcmp (a, "verify") == 0 && (!cmd->outcome || (strcmp (cmd->outcome, "reached") &&
                                                        strcmp (cmd->outcome, "not_reached") &&
                                                        strcmp (cmd->outcome, "invalid"))))
        return "verify needs outcome: reached, not_reached or invalid";
    if (strcmp (a, "note") == 0 && !cmd->text && !cmd->media_url)
        return "note needs text (or media_url)";
    if (strcmp (a, "resolve") == 0 && !cmd->text)
        return "resolve needs result";
    if (strcmp (a, "transfer") == 0 && (!cmd->to_unit || !cmd->text))
        return "transfer needs to_unit and reason";
    if (strcmp (a, "return") == 0 && !cmd->text)
        return "return needs reason";
    if (strcmp (a, "rate") == 0 && (cmd->score < 1 || cmd->score > 5))
        return "rate needs score 1-5";
    return NULL;
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

static void
s_post_action (routing_t *ctx, gz_http_req_t *req, const char *id, const char *action)
{
    if (gz_http_too_large (req)) {
        gz_http_reply_error (req, 413, "too_large", "body over 64 KiB");
        return;
    }
    bool known = false;
    for (size_t i = 0; s_actions[i]; i++)
        known = known || strcmp (action, s_actions[i]) == 0;
    if (!known) {
        gz_http_reply_error (req, 404, "not_found", "no such action");
        return;
    }
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    json_t *o = NULL;
    if (body && len) {
        o = json_loadb (body, len, 0, NULL);
        if (!json_is_object (o)) {
            json_decref (o);
            gz_http_reply_error (req, 400, "bad_request", "the body is not a JSON object");
            return;
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
    const char *text_field = strcmp (action, "resolve") == 0 ? "result"
                             : strcmp (action, "note") == 0  ? "text"
                             : strcmp (action, "rate") == 0 || strcmp (action, "reopen") == 0
                                 ? "comment"
                             : strcmp (action, "start") == 0  ? "text"
                             : strcmp (action, "verify") == 0 ? "text"
                                                              : "reason";
    cmd->text = s_member (o, text_field, &bad);
    if (strcmp (action, "rate") == 0) {
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
        return;
    }
    int rc = routing_cmd_wait (ctx, cmd);
    if (rc == -2)
        gz_http_reply_error (req, 503, "unavailable", "timed out waiting for the database; retry");
    else if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "shutting down; retry");
    else if (cmd->status != 200) {
        if (cmd->status == 409) {
            json_t *err = json_pack ("{s:{s:s,s:s,s:s}}", "error", "code", cmd->error, "message",
                                     cmd->message, "state", cmd->state);
            gz_http_reply_json (req, 409, err);
        }
        else
            gz_http_reply_error (req, cmd->status, cmd->error, cmd->message);
    }
    else {
        gz_db_t *db = gz_dbpool_get (ctx->pool);
        json_t *view = NULL;
        bool ok;
        int found = s_view (db, id, NULL, &view, &ok);
        gz_dbpool_put (ctx->pool, db);
        if (found == 1)
            gz_http_reply_json (req, 200, view);
        else
            gz_http_reply_json (req, 200, json_pack ("{s:s,s:s}", "id", id, "state", cmd->state));
    }
    if (rc != -2)
        routing_cmd_destroy (&cmd);
}

static void
s_readyz (routing_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    extern const gz_migration_t routing_migrations[];
    bool ok =
        ctx->migrated && gz_db_ok (db) && gz_db_migrated (db, ctx->cfg->schema, routing_migrations);
    gz_dbpool_put (ctx->pool, db);
    if (ok)
        gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ready"));
    else
        gz_http_reply_error (req, 503, "not_ready",
                             "database unreachable or migrations not applied");
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void
routing_http_handler (gz_http_req_t *req, void *arg)
{
    routing_t *ctx = arg;
    double start = s_now ();
    const char *path = gz_http_path (req);
    const char *method = gz_http_method (req);
    const char *route = "other";
    if (strncmp (path, "/api/v1/requests/", 17) == 0) {
        const char *rest = path + 17;
        const char *slash = strchr (rest, '/');
        char id[80];
        if (!*rest || (slash ? (size_t) (slash - rest) : strlen (rest)) >= sizeof id) {
            gz_http_reply_error (req, 404, "not_found", "no such request");
            route = "request";
        }
        else if (!slash) {
            route = "request";
            if (strcmp (method, "GET") != 0)
                gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
            else
                s_get_request (ctx, req, rest);
        }
        else {
            route = "action";
            snprintf (id, sizeof id, "%.*s", (int) (slash - rest), rest);
            if (strcmp (method, "POST") != 0)
                gz_http_reply_error (req, 405, "method_not_allowed", "use POST");
            else
                s_post_action (ctx, req, id, slash + 1);
        }
    }
    else if (routing_meetings_handle (ctx, req, path, method, &route))
        ;
    else if (strcmp (path, "/api/v1/queue") == 0) {
        route = "queue";
        s_get_queue (ctx, req);
    }
    else if (strcmp (path, "/healthz") == 0) {
        route = "healthz";
        gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ok"));
    }
    else if (strcmp (path, "/readyz") == 0) {
        route = "readyz";
        s_readyz (ctx, req);
    }
    else if (strcmp (path, "/metrics") == 0) {
        route = "metrics";
        routing_meetings_describe (ctx->metrics);
        char *text = gz_metrics_render (ctx->metrics);
        gz_http_reply (req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text));
        free (text);
    }
    else
        gz_http_reply_error (req, 404, "not_found", "no such resource");
    char labels[64];
    snprintf (labels, sizeof labels, "route=\"%s\"", route);
    gz_metrics_observe (ctx->metrics, "gz_http_request_duration_seconds", labels, s_now () - start);
    gz_metrics_add (ctx->metrics, "gz_http_requests_total", labels, 1);
}
