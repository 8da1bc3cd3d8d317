/*  routing_clock: /internal/v1/clock, routing's test clock over HTTP, for
    shell tests of a whole gongzhi (where the CLOCK pipe command is out of
    reach). Off unless GZ_TEST_CLOCK=1: then 404, as for any unknown path.

      GET  /internal/v1/clock   {"now_us", "test_clock"}: routing's now
      POST /internal/v1/clock   {"now_us": N} sets it (0: back to the wall
                                clock), {"advance_s": S} moves it S seconds
                                on from routing's now; answers as GET

    Operator token only (401 without one, 403 for staff). The clock is the
    actor's (gz_actor_now_us), the one routing's deadlines, timers and the
    workbench's pages read: timers that fall due fire at the next timer
    check (GZ_ROUTING_TIMER_MS), as after a step of the wall clock.  */
#include "gz_log.h"
#include "routing.h"

#include <stdlib.h>
#include <string.h>

//  At most ten years either way: a typo must not overflow the clock.
#define S_MAX_ADVANCE_S (10LL * 366 * 24 * 3600)

static void
s_answer (routing_t *ctx, gz_http_req_t *req)
{
    gz_http_reply_json (req, 200,
                        json_pack ("{s:I,s:b}", "now_us", (json_int_t) gz_actor_now_us (ctx->actor),
                                   "test_clock", 1));
}

//  The clock the body asks for into *us. 0 ok, -1 answered 400.
static int
s_wanted (routing_t *ctx, gz_http_req_t *req, int64_t *us)
{
    size_t len = 0;
    const char *body = gz_http_body (req, &len);
    json_error_t jerr;
    json_t *o = body && len ? json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    json_t *now = json_object_get (o, "now_us"), *adv = json_object_get (o, "advance_s");
    int rc = -1;
    if (!json_is_object (o) || json_object_size (o) != 1 || (!now && !adv))
        gz_http_reply_error (req, 400, "bad_request",
                             "send exactly one of {\"now_us\": N} or {\"advance_s\": S}");
    else if (now && (!json_is_integer (now) || json_integer_value (now) < 0))
        gz_http_reply_error (req, 400, "bad_request", "now_us: microseconds since the epoch, >= 0");
    else if (adv && (!json_is_integer (adv) || llabs (json_integer_value (adv)) > S_MAX_ADVANCE_S))
        gz_http_reply_error (req, 400, "bad_request", "advance_s: whole seconds, at most 10 years");
    else {
        *us = now ? (int64_t) json_integer_value (now)
                  : gz_actor_now_us (ctx->actor) + (int64_t) json_integer_value (adv) * 1000000;
        rc = 0;
    }
    json_decref (o);
    return rc;
}

bool
routing_clock_route (void *state, gz_http_req_t *req, const char *rest)
{
    routing_t *ctx = state;
    if (!ctx->cfg->test_clock || *rest) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    const char *method = gz_http_method (req);
    bool post = strcmp (method, "POST") == 0;
    if (!post && strcmp (method, "GET") != 0) {
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET or POST");
        return false;
    }
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    int rc = routing_http_caller (db, req, &c, &had_token);
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (!c.known)
        gz_http_reply_error (req, 401, "unauthorized", "an operator bearer token is required");
    else if (!c.operator)
        gz_http_reply_error (req, 403, "forbidden", "only an operator may move the clock");
    else if (!post)
        s_answer (ctx, req);
    else {
        int64_t us;
        if (s_wanted (ctx, req, &us) == 0) {
            gz_actor_set_clock (ctx->actor, us);
            gz_warn ("routing", "msg=\"test clock set\" now_us=%lld", (long long) us);
            s_answer (ctx, req);
        }
    }
    return false;
}
