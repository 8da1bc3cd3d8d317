/*  matching_http: the route table of matching's API (gz_actor answers
    /healthz, /readyz, /metrics). docs/matching.md documents every route.

      POST /api/v1/volunteers               create or update a volunteer (staff)
      GET  /api/v1/volunteers               ?grid= &skill= &after= &limit= (staff)
      POST /api/v1/needs                    a household's need (staff)
      GET  /api/v1/needs[/{id}]             ?state= &community= &limit= (staff)
      POST /api/v1/offers/{id}/accept|decline      the offer's token or staff
      POST /api/v1/services/{id}/checkin|checkout  the offer's token or staff
      POST /api/v1/services/{id}/confirm    {"rating", "comment"} (staff)
      POST /api/v1/match                    run a batch now (operator)
      POST /api/v1/meetings/{id}/attendance {"accounts": [...]} each earns the
                                            meeting's points once (staff)
      GET  /api/v1/points/{account}         balance and statement (staff)
      GET  /api/v1/redlist                  ?month=YYYY-MM &community= (public)
      GET  /api/v1/shop/items               ?community= (public)
      POST /api/v1/shop/items               {"id","community","name","price","stock"} (operator)
      POST /api/v1/shop/redeem              {"account","item","quantity","key"} (staff)
      GET  /internal/v1/offers/{id}         the volunteer's phone and answer link,
                                            for notify alone (GZ_NOTIFY_CONTACT_KEY)
      GET  /o/{id}?t=, POST /o/{id}         the volunteer's offer page and its
                                            answer (matching_pages.c)

    Staff and operators use routing's bearer tokens (checked on a worker
    thread against routing's schema); writes are deferred to the actor
    (matching_ops.c). Errors: {"error": {"code", "message"}} with 400 401
    403 404 405 409 413 422 503.  */
#include "gz_log.h"
#include "gz_text.h"
#include "matching.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LIMIT_MAX 1000

//  ---------------------------------------------------------------- helpers

//  The caller of req: 0 known (who filled), 1 answered (401/503).
//  required false: no token is fine (0, has = false).
static int
s_caller (matching_t *ctx, gz_http_req_t *req, gz_caller_t *who, bool *has, bool required)
{
    const char *token = gz_http_bearer (req);
    *has = false;
    if (!token) {
        if (!required)
            return 0;
        gz_http_reply_error (req, 401, "unauthorized", "a staff or operator bearer token");
        return 1;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    int rc = gz_auth_caller (db, token, who);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    if (rc < 0) {
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        return 1;
    }
    if (rc != 0) {
        gz_http_reply_error (req, 401, "unauthorized", "unknown or expired token");
        return 1;
    }
    *has = true;
    return 0;
}

//  The JSON object body of req, or NULL (answered 400/413).
static json_t *
s_body (gz_http_req_t *req, bool optional)
{
    if (gz_http_too_large (req)) {
        gz_http_reply_error (req, 413, "too_large", "the body is over 64 KiB");
        return NULL;
    }
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    if (optional && len == 0)
        return json_object ();
    json_error_t jerr;
    json_t *o = body ? json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object (o)) {
        json_decref (o);
        gz_http_reply_error (req, 400, "bad_request", "the body must be a JSON object (UTF-8)");
        return NULL;
    }
    return o;
}

static bool
s_method (gz_http_req_t *req, const char *allow)
{
    if (strstr (allow, gz_http_method (req)))
        return true;
    gz_http_set_header (req, "Allow", allow);
    gz_http_reply_error (req, 405, "method_not_allowed", "method not allowed here");
    return false;
}

//  A positive decimal id of at most 18 digits from text up to end. 0: bad.
static int64_t
s_id (const char *text, size_t len)
{
    if (len == 0 || len > 18 || strspn (text, "0123456789") < len)
        return 0;
    return strtoll (text, NULL, 10);
}

//  ?limit=: 1..1000, default dflt; -1 answered 400.
static int
s_limit (gz_http_req_t *req, int dflt)
{
    const char *text = gz_http_query (req, "limit");
    if (!text)
        return dflt;
    char *end = NULL;
    long l = strtol (text, &end, 10);
    if (!*text || *end || l < 1 || l > S_LIMIT_MAX) {
        gz_http_reply_error (req, 400, "bad_request", "limit must be 1 to 1000");
        return -1;
    }
    return (int) l;
}

//  The fields of a flat body against their types ('s' string, 'I'
//  integer, 'b' boolean, 'o' any), named in why when unknown or of the
//  wrong type: jansson's own unpack errors do not name the field.
typedef struct {
    const char *key;
    char type;
} s_field_t;

static const char *
s_fields_check (json_t *body, const s_field_t *fields, char *why, size_t size)
{
    const char *key;
    json_t *v;
    json_object_foreach (body, key, v)
    {
        const s_field_t *f = fields;
        while (f->key && strcmp (f->key, key) != 0)
            f++;
        bool ok = f->key && (f->type == 'o' || (f->type == 's' && json_is_string (v)) ||
                             (f->type == 'I' && json_is_integer (v)) ||
                             (f->type == 'b' && json_is_boolean (v)));
        if (!ok) {
            snprintf (why, size, "%.64s: %s", key,
                      !f->key          ? "unknown field"
                      : f->type == 's' ? "must be a string"
                      : f->type == 'I' ? "must be an integer"
                                       : "must be true or false");
            return why;
        }
    }
    return NULL;
}

//  Writes: the bearer token goes with the op, checked on the actor
//  (matching_ops.c); none given: 401 when required.
static bool
s_bearer (gz_http_req_t *req, matching_op_t *op, bool required)
{
    const char *token = gz_http_bearer (req);
    if (token && strlen (token) < sizeof op->bearer)
        snprintf (op->bearer, sizeof op->bearer, "%s", token);
    else if (token || required) {
        gz_http_reply_error (req, 401, "unauthorized", "a staff or operator bearer token");
        return false;
    }
    return true;
}

//  Queue op, or answer 503 when closing. Always true when deferred.
static bool
s_defer (matching_t *ctx, matching_op_t *op, gz_http_req_t *req, const char *label)
{
    op->label = label;
    if (matching_op_defer (ctx, &op, req) == 0)
        return true;
    matching_op_destroy (&op);
    gz_http_reply_error (req, 503, "unavailable", "shutting down; retry");
    return false;
}

//  Reply with rows from a read, or 503.
static void
s_reply_rows (gz_http_req_t *req, json_t *rows)
{
    if (!rows)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (json_is_null (rows)) {
        json_decref (rows);
        gz_http_reply_error (req, 404, "not_found", "no such resource");
    }
    else
        gz_http_reply_json (req, 200, rows);
}

//  ---------------------------------------------------------------- registry

static bool
s_volunteers (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    gz_caller_t who;
    bool has;
    if (*rest) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    if (!s_method (req, "GET, POST") || s_caller (ctx, req, &who, &has, true))
        return false;
    int limit = s_limit (req, 100);
    if (limit < 0)
        return false;
    const char *skill = gz_http_query (req, "skill");
    if (skill && mt_skill_from_name (skill) < 0) {
        gz_http_reply_error (req, 400, "bad_request", "unknown skill");
        return false;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *rows = matching_store_volunteers (db, gz_http_query (req, "grid"), skill, limit,
                                              gz_http_query (req, "after"));
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, rows);
    return false;
}

//  POST a volunteer or a need: the body parsed here, the write deferred.
static bool
s_registry_post (matching_t *ctx, gz_http_req_t *req, matching_op_kind_t kind)
{
    matching_op_t *op = matching_op_new (ctx, kind);
    json_t *body = s_bearer (req, op, true) ? s_body (req, false) : NULL;
    if (!body) {
        matching_op_destroy (&op);
        return false;
    }
    char err[256];
    int rc;
    if (kind == MT_OP_VOLUNTEER) {
        op->volunteer = calloc (1, sizeof *op->volunteer);
        rc = mt_volunteer_from_json (body, op->volunteer, err, sizeof err);
    }
    else {
        op->need = calloc (1, sizeof *op->need);
        rc = mt_need_from_json (body, op->need, err, sizeof err);
    }
    json_decref (body);
    if (rc != 0) {
        matching_op_destroy (&op);
        gz_http_reply_error (req, 422, "bad_field", err);
        return false;
    }
    return s_defer (ctx, op, req, kind == MT_OP_VOLUNTEER ? "volunteers" : "needs");
}

static bool
s_volunteer_post (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    return s_registry_post (state, req, MT_OP_VOLUNTEER);
}

static bool
s_needs (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    gz_caller_t who;
    bool has;
    if (!s_method (req, *rest ? "GET" : "GET, POST") || s_caller (ctx, req, &who, &has, true))
        return false;
    int64_t id = *rest ? s_id (rest + 1, strlen (rest + 1)) : 0;
    int limit = s_limit (req, 100);
    if (limit < 0)
        return false;
    if (*rest && (rest[0] != '/' || id <= 0)) {
        gz_http_reply_error (req, 404, "not_found", "no such need");
        return false;
    }
    const char *st = gz_http_query (req, "state");
    static const char *const states[] = {"open", "offered", "matched", "done", "cancelled"};
    bool known = !st;
    for (size_t i = 0; st && i < 5; i++)
        known |= strcmp (st, states[i]) == 0;
    if (!known) {
        gz_http_reply_error (req, 400, "bad_request",
                             "state: open, offered, matched, done or cancelled");
        return false;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *rows = id ? matching_store_need_get (db, id)
                      : matching_store_needs (db, st, gz_http_query (req, "community"), limit);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, rows);
    return false;
}

static bool
s_need_post (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    return s_registry_post (state, req, MT_OP_NEED);
}

//  ---------------------------------------------------------------- offers, services

typedef struct {
    const char *action;
    matching_op_kind_t kind;
} s_action_t;

static const s_action_t s_offer_actions[] = {
    {"accept", MT_OP_ACCEPT}, {"decline", MT_OP_DECLINE}, {NULL, MT_OP_COUNT}};
static const s_action_t s_service_actions[] = {{"checkin", MT_OP_CHECKIN},
                                               {"checkout", MT_OP_CHECKOUT},
                                               {"confirm", MT_OP_CONFIRM},
                                               {NULL, MT_OP_COUNT}};

//  Fields of an action's body: token, minutes, rating, comment.
static int
s_action_body (json_t *body, matching_op_t *op, char *err, size_t size)
{
    const char *key;
    json_t *v;
    json_object_foreach (body, key, v)
    {
        if (strcmp (key, "token") == 0 && json_is_string (v) &&
            strlen (json_string_value (v)) < sizeof op->token)
            snprintf (op->token, sizeof op->token, "%s", json_string_value (v));
        else if (strcmp (key, "minutes") == 0 && op->kind == MT_OP_CHECKOUT &&
                 json_is_integer (v) && json_integer_value (v) >= 0 &&
                 json_integer_value (v) <= 24 * 60)
            op->minutes = (int) json_integer_value (v);
        else if (strcmp (key, "rating") == 0 && op->kind == MT_OP_CONFIRM && json_is_integer (v) &&
                 json_integer_value (v) >= 1 && json_integer_value (v) <= 5)
            op->rating = (int) json_integer_value (v);
        else if (strcmp (key, "comment") == 0 && op->kind == MT_OP_CONFIRM && json_is_string (v) &&
                 json_string_length (v) < sizeof op->comment)
            snprintf (op->comment, sizeof op->comment, "%s", json_string_value (v));
        else {
            snprintf (err, size, "%s: unknown field or bad value", key);
            return -1;
        }
    }
    return 0;
}

//  POST /{id}/{action} under offers or services.
static bool
s_act (matching_t *ctx, gz_http_req_t *req, const char *rest, const s_action_t *actions,
       const char *label)
{
    if (!s_method (req, "POST"))
        return false;
    const char *slash = strchr (rest, '/');
    int64_t id = slash ? s_id (rest, (size_t) (slash - rest)) : 0;
    const s_action_t *a = actions;
    while (slash && a->action && strcmp (a->action, slash + 1) != 0)
        a++;
    if (id <= 0 || !slash || !a->action) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    matching_op_t *op = matching_op_new (ctx, a->kind);
    json_t *body = s_bearer (req, op, false) ? s_body (req, true) : NULL;
    if (!body) {
        matching_op_destroy (&op);
        return false;
    }
    op->id = id;
    char err[160];
    int rc = s_action_body (body, op, err, sizeof err);
    json_decref (body);
    const char *t = gz_http_query (req, "t");
    if (t && strlen (t) < sizeof op->token)
        snprintf (op->token, sizeof op->token, "%s", t);
    if (rc == 0 && !op->bearer[0] && !op->token[0]) {
        matching_op_destroy (&op);
        gz_http_reply_error (req, 401, "unauthorized", "the offer's token or a staff token");
        return false;
    }
    if (rc != 0) {
        matching_op_destroy (&op);
        gz_http_reply_error (req, 422, "bad_field", err);
        return false;
    }
    return s_defer (ctx, op, req, label);
}

static bool
s_offers (void *state, gz_http_req_t *req, const char *rest)
{
    return s_act (state, req, rest, s_offer_actions, "offers");
}

static bool
s_services (void *state, gz_http_req_t *req, const char *rest)
{
    return s_act (state, req, rest, s_service_actions, "services");
}

static bool
s_match (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    (void) rest;
    if (!s_method (req, "POST"))
        return false;
    matching_op_t *op = matching_op_new (ctx, MT_OP_SOLVE);
    //  No fields: an empty body or {}; anything else is refused, not ignored.
    json_t *body = s_bearer (req, op, true) ? s_body (req, true) : NULL;
    if (!body) {
        matching_op_destroy (&op);
        return false;
    }
    if (json_object_size (body) > 0) {
        char why[96];
        snprintf (why, sizeof why, "%.64s: unknown field",
                  json_object_iter_key (json_object_iter (body)));
        gz_http_reply_error (req, 422, "bad_field", why);
        json_decref (body);
        matching_op_destroy (&op);
        return false;
    }
    json_decref (body);
    return s_defer (ctx, op, req, "match");
}

//  ---------------------------------------------------------------- points, shop

static bool
s_points (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    gz_caller_t who;
    bool has;
    if (!s_method (req, "GET") || s_caller (ctx, req, &who, &has, true))
        return false;
    int limit = s_limit (req, 100);
    if (limit < 0)
        return false;
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *rows = matching_ledger_statement (db, rest, limit);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, rows);
    return false;
}

static bool
s_redlist (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    (void) rest;
    if (!s_method (req, "GET"))
        return false;
    const char *month = gz_http_query (req, "month");
    int y, m;
    char tail;
    if (!month || sscanf (month, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 ||
        strlen (month) != 7) {
        gz_http_reply_error (req, 400, "bad_request", "month=YYYY-MM is required");
        return false;
    }
    int limit = s_limit (req, 10);
    if (limit < 0)
        return false;
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *rows = matching_ledger_redlist (db, month, gz_http_query (req, "community"), limit);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, rows);
    return false;
}

//  POST /api/v1/shop/items: an operator adds or updates an item.
static bool
s_item_put (matching_t *ctx, gz_http_req_t *req)
{
    json_t *body = gz_http_bearer (req) ? s_body (req, false) : NULL;
    if (!gz_http_bearer (req))
        gz_http_reply_error (req, 401, "unauthorized", "an operator's bearer token");
    if (!body)
        return false;
    const char *id = NULL, *community = NULL, *name = NULL;
    json_int_t price = 0, stock = 0;
    int active = 1;
    json_error_t jerr;
    int rc = json_unpack_ex (body, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:I, s:I, s?b}", "id", &id,
                             "community", &community, "name", &name, "price", &price, "stock",
                             &stock, "active", &active);
    matching_op_t *op = matching_op_new (ctx, MT_OP_ITEM);
    static const s_field_t fields[] = {{"id", 's'},    {"community", 's'}, {"name", 's'},
                                       {"price", 'I'}, {"stock", 'I'},     {"active", 'b'},
                                       {NULL, 0}};
    char named[160];
    const char *why =
        s_fields_check (body, fields, named, sizeof named) ? named
        : rc != 0                                          ? jerr.text
        : !*id || strlen (id) > 64 ||
                strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                    strlen (id)
            ? "id: 1 to 64 of [A-Za-z0-9._-]"
        : strlen (community) >= sizeof op->community ? "community: too long"
        : !*name || strlen (name) >= 300 || !gz_utf8_valid (name, strlen (name))
            ? "name: 1 to 100 characters"
        : price < 1 || price > 1000000000 ? "price: 1 to 10^9 points"
        : stock < 0 || stock > 1000000    ? "stock: 0 to 10^6"
                                          : NULL;
    if (why) {
        gz_http_reply_error (req, 422, "bad_field", why);
        matching_op_destroy (&op);
        json_decref (body);
        return false;
    }
    snprintf (op->item_id, sizeof op->item_id, "%s", id);
    snprintf (op->community, sizeof op->community, "%s", community);
    snprintf (op->comment, sizeof op->comment, "%s", name);
    op->price = price, op->stock = (int) stock, op->active = active;
    if (!s_bearer (req, op, true)) {
        matching_op_destroy (&op);
        json_decref (body);
        return false;
    }
    json_decref (body);
    return s_defer (ctx, op, req, "shop");
}

static bool
s_items (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    (void) rest;
    if (!s_method (req, "GET, POST"))
        return false;
    if (strcmp (gz_http_method (req), "POST") == 0)
        return s_item_put (ctx, req);
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *rows = matching_ledger_items (db, gz_http_query (req, "community"));
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, rows);
    return false;
}

static bool
s_redeem (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    (void) rest;
    if (!s_method (req, "POST"))
        return false;
    json_t *body = gz_http_bearer (req) ? s_body (req, false) : NULL;
    if (!gz_http_bearer (req))
        gz_http_reply_error (req, 401, "unauthorized", "a staff or operator bearer token");
    if (!body)
        return false;
    const char *account = NULL, *item = NULL, *key = gz_http_header (req, "Idempotency-Key");
    json_int_t qty = 1;
    json_t *extra = NULL;
    json_error_t jerr;
    int rc =
        json_unpack_ex (body, &jerr, JSON_STRICT, "{s:s, s:s, s?I, s?s, s?o}", "account", &account,
                        "item", &item, "quantity", &qty, "key", &key, "note", &extra);
    matching_op_t *op = matching_op_new (ctx, MT_OP_REDEEM);
    static const s_field_t fields[] = {{"account", 's'}, {"item", 's'}, {"quantity", 'I'},
                                       {"key", 's'},     {"note", 'o'}, {NULL, 0}};
    char named[160];
    const char *why = s_fields_check (body, fields, named, sizeof named) ? named
                      : rc != 0                                          ? jerr.text
                      : !key || !*key || strlen (key) >= sizeof op->key
                          ? "key (or Idempotency-Key) is required, at most 200 bytes"
                      : strlen (account) >= sizeof op->account ? "account: too long"
                      : strlen (item) >= sizeof op->item_id    ? "item: too long"
                      : qty < 1 || qty > 100                   ? "quantity: 1 to 100"
                                                               : NULL;
    if (why) {
        gz_http_reply_error (req, 422, "bad_field", why);
        matching_op_destroy (&op);
        json_decref (body);
        return false;
    }
    snprintf (op->account, sizeof op->account, "%s", account);
    snprintf (op->item_id, sizeof op->item_id, "%s", item);
    snprintf (op->key, sizeof op->key, "%s", key);
    op->quantity = (int) qty;
    json_decref (body);
    if (!s_bearer (req, op, true)) {
        matching_op_destroy (&op);
        return false;
    }
    return s_defer (ctx, op, req, "redeem");
}

//  POST /api/v1/meetings/{id}/attendance {"accounts": [...]}: who attended
//  a 逢四说事 meeting (staff); each earns the meeting's points once.
static bool
s_attendance (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    const char *slash = strchr (rest, '/');
    size_t n = slash ? (size_t) (slash - rest) : 0;
    if (!slash || strcmp (slash, "/attendance") != 0 || n == 0 || n > 64) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    matching_op_t *op = matching_op_new (ctx, MT_OP_MEETING);
    json_t *body = s_bearer (req, op, true) ? s_body (req, false) : NULL;
    json_t *list = body ? json_object_get (body, "accounts") : NULL;
    const char *why = !body ? NULL
                      : json_object_size (body) != 1 || !json_is_array (list)
                          ? "accounts: an array of accounts is required"
                      : json_array_size (list) < 1 || json_array_size (list) > 500
                          ? "accounts: 1 to 500"
                          : NULL;
    snprintf (op->item_id, sizeof op->item_id, "%.*s", (int) n, rest);
    op->accounts = calloc (json_array_size (list) + 1, sizeof *op->accounts);
    for (size_t i = 0; !why && i < json_array_size (list); i++) {
        const char *a = json_string_value (json_array_get (list, i));
        if (!a || !matching_points_person_valid (a))
            why = "accounts: each 'volunteer:ID', 'rider:ID', 'resident:ID' or 'staff:ID'";
        else
            op->accounts[op->n_accounts++] = strdup (a);
    }
    if (!body || why) {
        if (why)
            gz_http_reply_error (req, 422, "bad_field", why);
        matching_op_destroy (&op);
        json_decref (body);
        return false;
    }
    json_decref (body);
    return s_defer (ctx, op, req, "attendance");
}

//  ---------------------------------------------------------------- internal

//  /internal/v1/offers/{id}: the volunteer's phone and the offer's answer
//  link, for notify alone (its GZ_NOTIFY_CONTACT_KEY as a bearer token).
//  404 when the key is not set, not given or wrong. Never logged.
static bool
s_internal_offer (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    const char *key = ctx->cfg->contact_key;
    const char *given = gz_http_bearer (req);
    int64_t id = s_id (rest, strlen (rest));
    if (!key || !given || !gz_auth_secret_equal (given, key) || id <= 0 ||
        strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    json_t *o = matching_store_offer_contact (db, id, ctx->cfg->public_url);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    s_reply_rows (req, o);
    return false;
}

//  First match wins. Writes (POST) are deferred to the actor: never
//  blocking. Reads wait on a pool connection: blocking.
const gz_route_t matching_routes[] = {
    {"POST", "/api/v1/volunteers", "volunteers", s_volunteer_post, false},
    {NULL, "/api/v1/volunteers*", "volunteers", s_volunteers, true},
    {"POST", "/api/v1/needs", "needs", s_need_post, false},
    {NULL, "/api/v1/needs*", "needs", s_needs, true},
    {NULL, "/api/v1/offers/", "offers", s_offers, false},
    {NULL, "/api/v1/services/", "services", s_services, false},
    {NULL, "/api/v1/match", "match", s_match, false},
    {"POST", "/api/v1/meetings/", "attendance", s_attendance, false},
    {NULL, "/api/v1/points/", "points", s_points, true},
    {NULL, "/api/v1/redlist", "redlist", s_redlist, true},
    {"POST", "/api/v1/shop/items", "shop", s_items, false},
    {NULL, "/api/v1/shop/items", "shop", s_items, true},
    {NULL, "/api/v1/shop/redeem", "redeem", s_redeem, false},
    {NULL, "/internal/v1/offers/", "internal", s_internal_offer, true},
    {"POST", "/o/", "offer_page", matching_page_offer, false},
    {NULL, "/o/", "offer_page", matching_page_offer, true},
    {NULL, NULL, NULL, NULL, false},
};
