/*  matching_consume: what comes over the bus.

    The ROUTER: MatchCommand (accept or decline an offer with its secret or
    a staff token; solve, an operator's), applied as the HTTP ops are and
    answered with MatchReply after the commit.

    Intake's stream: RequestSubmitted of a need category (the config's
    GZ_MATCHING_NEED_CATEGORIES) or with a reporter is remembered
    (matching.requests). Routing's stream: the first `routed` of a need
    category makes a need (source "request:<id>", once); `rated` satisfied
    earns the reporter points (source "report:<id>", once). Each handler
    runs in the subscriber's transaction with the cursor: exactly once.  */
#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"
#include "gz_log.h"
#include "matching.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

//  ---------------------------------------------------------------- ROUTER

static void
s_reply (matching_t *ctx, matching_op_t *op)
{
    Gongzhi__V1__MatchReply reply = GONGZHI__V1__MATCH_REPLY__INIT;
    reply.ok = op->status >= 200 && op->status < 300;
    reply.error = op->error;
    reply.message = op->message;
    reply.state = op->state;
    char labels[96];
    snprintf (labels, sizeof labels, "source=\"bus\",status=\"%d\"", op->status);
    matching_count (ctx, "gz_matching_commands_total", labels);
    gz_actor_command_reply (gz_actor_router (ctx->actor), &op->peer, "MatchReply", NULL,
                            &reply.base);
}

//  Decode, authenticate and build the op of one command. NULL: answered.
static matching_op_t *
s_command_op (matching_t *ctx, matching_op_t *op, gz_envelope_t *env)
{
    Gongzhi__V1__MatchCommand *cmd = NULL;
    if (strcmp (env->type, "MatchCommand") == 0)
        cmd = gongzhi__v1__match_command__unpack (NULL, env->payload.len, env->payload.data);
    if (!cmd) {
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"bus\"", 1);
        matching_op_fail (op, 400, "bad_request", "not a MatchCommand");
        return NULL;
    }
    const char *action = cmd->action ? cmd->action : "";
    op->kind = strcmp (action, "accept") == 0    ? MT_OP_ACCEPT
               : strcmp (action, "decline") == 0 ? MT_OP_DECLINE
               : strcmp (action, "solve") == 0   ? MT_OP_SOLVE
                                                 : MT_OP_COUNT;
    op->id = cmd->offer_id;
    if (cmd->token && strlen (cmd->token) < sizeof op->token)
        snprintf (op->token, sizeof op->token, "%s", cmd->token);
    gongzhi__v1__match_command__free_unpacked (cmd, NULL);
    if (op->kind == MT_OP_COUNT)
        return matching_op_fail (op, 400, "bad_request", "action: accept, decline or solve"), NULL;
    const char *cred = env->credential;
    if (cred && strncasecmp (cred, "Bearer ", 7) == 0)
        cred += 7;
    if (cred && *cred) {
        int rc = gz_auth_caller (ctx->db, cred, &op->who);
        if (rc < 0)
            return matching_op_fail (op, 503, "unavailable", "database unavailable"), NULL;
        if (rc != 0)
            return matching_op_fail (op, 401, "unauthorized", "unknown or expired token"), NULL;
        op->has_caller = true;
    }
    if (op->kind == MT_OP_SOLVE && (!op->has_caller || strcmp (op->who.role, "operator") != 0))
        return matching_op_fail (op, 403, "forbidden", "operators run a batch by hand"), NULL;
    if (op->kind != MT_OP_SOLVE && (op->id <= 0 || (!op->has_caller && !op->token[0])))
        return matching_op_fail (op, 400, "bad_request",
                                 "offer_id and the offer's token (or a staff credential)"),
               NULL;
    return op;
}

void
matching_on_router (void *state, zsock_t *router)
{
    matching_t *ctx = state;
    //  At most 64 commands a turn, and only those already queued: the
    //  receive blocks, so asking for one more than are there would hold
    //  the actor (batches, writes, $TERM) until the next command came.
    for (int n = 0; n < 64 && (n == 0 || (zsock_events (router) & ZMQ_POLLIN)); n++) {
        matching_op_t *op = matching_op_new (ctx, MT_OP_COUNT);
        gz_envelope_t *env = gz_actor_command_recv (ctx->actor, &op->peer);
        if (!op->peer.from) {
            gz_codec_envelope_free (&env);
            matching_op_destroy (&op);
            return;
        }
        if (op->peer.refused != GZ_PEER_OK)
            matching_op_fail (op, op->peer.refused == GZ_PEER_TOO_LARGE ? 413 : 429,
                              op->peer.refused == GZ_PEER_TOO_LARGE ? "too_large" : "rate_limited",
                              "%s", op->peer.why);
        else if (!env) {
            gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"bus\"", 1);
            matching_op_fail (op, 400, "bad_request", "not an Envelope");
        }
        else if (gz_actor_closing (ctx->actor))
            matching_op_fail (op, 503, "unavailable", "shutting down; retry");
        else if (s_command_op (ctx, op, env))
            matching_op_execute (ctx, op);
        s_reply (ctx, op);
        gz_codec_envelope_free (&env);
        matching_op_destroy (&op);
    }
}

//  ---------------------------------------------------------------- streams

//  The request's reporter ("rider:<id>", "resident:<id>"), "" when none.
static const char *
s_reporter (const Gongzhi__V1__RequestSubmitted *ev)
{
    return ev->reporter_id ? ev->reporter_id : "";
}

//  The skill a category's requests need, or -1 when it makes no needs.
static int
s_category_skill (matching_t *ctx, const char *service_code)
{
    const char *list = ctx->cfg->need_categories;
    size_t n = strlen (service_code ? service_code : "");
    for (const char *p = list; n && p && *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *eq = strchr (p, '=');
        const char *end = strchr (p, ',');
        if (!end)
            end = p + strlen (p);
        if (eq && eq < end && (size_t) (eq - p) == n && strncmp (p, service_code, n) == 0) {
            char skill[64];
            snprintf (skill, sizeof skill, "%.*s", (int) (end - eq - 1), eq + 1);
            return mt_skill_from_name (skill);
        }
        p = end;
    }
    return -1;
}

int
matching_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    matching_t *ctx = arg;
    if (strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *ev =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev) {
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        return 0; //  counted and skipped: never fatal
    }
    const char *reporter = s_reporter (ev);
    int rc = 0;
    if (s_category_skill (ctx, ev->service_code) >= 0 || (reporter && *reporter))
        rc = matching_store_request_put (db, ev->request_id, ev->service_code, ev->building_code,
                                         ev->community_code, (int) ev->channel,
                                         reporter ? reporter : "", ev->description);
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    return rc;
}

//  A routed request of a need category: its need (once).
static int
s_need_from_request (matching_t *ctx, gz_db_t *db, const Gongzhi__V1__RequestUpdate *u, int skill)
{
    matching_request_t r;
    int found = matching_store_request_get (db, u->request_id, &r);
    if (found <= 0)
        return found; //  not seen from intake (before matching existed): nothing
    const gz_building_t *b = ctx->org ? gz_org_building (ctx->org, r.building) : NULL;
    if (!b)
        return 0;
    mt_need_t need;
    memset (&need, 0, sizeof need);
    snprintf (need.building, sizeof need.building, "%s", b->code);
    snprintf (need.contact_name, sizeof need.contact_name, "诉求 %s 的居民", u->request_id);
    need.skill = skill;
    need.from_us = u->at_us ? u->at_us : gz_now_us ();
    need.to_us = need.from_us + 7 * 86400 * 1000000LL;
    need.n_windows = mt_windows_from_period (need.from_us, need.to_us, need.windows);
    snprintf (need.note, sizeof need.note, "%.1500s", r.description);
    char source[160];
    snprintf (source, sizeof source, "request:%s", u->request_id);
    matching_need_row_t row = {&need, b, source, "system:routing"};
    int64_t id = matching_store_need_insert (db, &row);
    if (id < 0)
        return -1;
    if (id > 0) {
        Gongzhi__V1__MatchingEvent ev = GONGZHI__V1__MATCHING_EVENT__INIT;
        ev.kind = "need_created";
        ev.need_id = id;
        ev.skill = (char *) mt_skill_name (skill);
        ev.skill_label = (char *) mt_skill_label (skill);
        ev.building_code = (char *) b->code;
        ev.grid_code = (char *) b->grid_code;
        ev.community_code = (char *) b->community_code;
        ev.subdistrict_code = (char *) (b->subdistrict_code ? b->subdistrict_code : "");
        ev.place = (char *) b->name;
        ev.request_id = u->request_id;
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long) id);
        matching_emit (ctx, "NeedCreated", key, &ev);
        ctx->dirty = true;
    }
    return 0;
}

//  A report rated satisfied: its reporter's points (once).
static int
s_report_points (matching_t *ctx, gz_db_t *db, const Gongzhi__V1__RequestUpdate *u)
{
    matching_request_t r;
    int found = matching_store_request_get (db, u->request_id, &r);
    if (found <= 0 || !r.reporter[0])
        return found < 0 ? -1 : 0;
    bool rider = r.channel == GONGZHI__V1__CHANNEL__RIDER;
    int64_t points = rider ? ctx->points.rider_report : ctx->points.report;
    if (points <= 0)
        return 0;
    char source[160];
    snprintf (source, sizeof source, "report:%s", u->request_id);
    matching_award_t a = {.account = r.reporter,
                          .community = r.community,
                          .points = points,
                          .reason = rider ? "rider_report" : "report",
                          .source = source,
                          .memo = "上报问题已解决",
                          .request_id = u->request_id};
    if (matching_award (ctx, db, &a, NULL) < 0)
        return -1;
    return 0;
}

int
matching_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    matching_t *ctx = arg;
    Gongzhi__V1__RequestUpdate *u =
        gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    if (!u) {
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        return 0;
    }
    int rc = 0;
    int skill = s_category_skill (ctx, u->service_code);
    if (u->kind && strcmp (u->kind, "routed") == 0 && skill >= 0)
        rc = s_need_from_request (ctx, db, u, skill);
    else if (u->kind && strcmp (u->kind, "rated") == 0 && u->satisfied)
        rc = s_report_points (ctx, db, u);
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}
