/*  notify_http: the route table of notify's API (gz_actor answers
    /healthz, /readyz, /metrics). One blocking route on the read pool:

      GET /api/v1/notifications?request_id=ID | ?recipient=staff:ID|resident:ID [&limit=N]
          the deliveries of a request or a person, newest first (at most
          limit, default 100, up to 1000): event, audience, recipient,
          channel, template, state (queued sending sent failed dead),
          attempts, the last error, when created and sent. Never a
          message's text or anyone's contact. Operators read every
          delivery; staff only their own (recipient staff:<their id>).

    A staff or operator bearer token, the same as routing's (the tokens
    live in routing's schema). Errors: {"error": {"code", "message"}} with
    400 401 403 503. docs/notify.md documents it.  */
#include "gz_auth.h"
#include "gz_dbpool.h"
#include "gz_log.h"
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LIMIT 100
#define S_LIMIT_MAX 1000

static bool
s_route_list (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    notify_t *ctx = state;
    if (strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_set_header (req, "Allow", "GET");
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
        return false;
    }
    const char *request_id = gz_http_query (req, "request_id");
    const char *recipient = gz_http_query (req, "recipient");
    const char *limit_text = gz_http_query (req, "limit");
    int limit = S_LIMIT;
    if (limit_text) {
        char *end = NULL;
        long l = strtol (limit_text, &end, 10);
        if (!*limit_text || *end || l < 1 || l > S_LIMIT_MAX) {
            gz_http_reply_error (req, 400, "bad_request", "limit must be 1 to 1000");
            return false;
        }
        limit = (int) l;
    }
    if ((!request_id || !*request_id) && (!recipient || !*recipient)) {
        gz_http_reply_error (req, 400, "bad_request", "give request_id or recipient");
        return false;
    }
    const char *token = gz_http_bearer (req);
    if (!token) {
        gz_http_reply_error (req, 401, "unauthorized", "a staff or operator bearer token");
        return false;
    }
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    gz_caller_t who;
    int rc = gz_auth_caller (db, token, &who);
    json_t *rows = NULL;
    char own[128];
    if (rc == 0 && strcmp (who.role, "operator") != 0) {
        //  Staff: only their own deliveries.
        snprintf (own, sizeof own, "staff:%s", who.staff_id);
        if (recipient && *recipient && strcmp (recipient, own) != 0)
            rc = 2;
        recipient = own;
    }
    if (rc == 0)
        rows = notify_store_list (db, request_id && *request_id ? request_id : NULL,
                                  recipient && *recipient ? recipient : NULL, limit);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    if (rc == 1)
        gz_http_reply_error (req, 401, "unauthorized", "unknown or expired token");
    else if (rc == 2)
        gz_http_reply_error (req, 403, "forbidden", "staff read only their own notifications");
    else if (rc < 0 || !rows)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else
        gz_http_reply_json (req, 200, rows), rows = NULL;
    json_decref (rows);
    return false;
}

const gz_route_t notify_routes[] = {
    {NULL, "/api/v1/notifications", "notifications", s_route_list, true},
    {NULL, NULL, NULL, NULL, false},
};
