/*  routing_meetings: 逢四说事 (talk things over on the 4th). A community
    records a meeting (date, place, participants, hosting cadres) and the
    demands residents raised in it; each demand becomes a request with
    channel MEETING tied to the meeting, filed with intake like any other
    submission, and comes back through intake's stream to be routed like
    any other.

      POST /api/v1/meetings            record a meeting and file its demands
      GET  /api/v1/meetings            list (?community=&from=&to=)
      GET  /api/v1/meetings/{id}       one meeting, its demands and their state

    Staff or operator bearer token; a staff member only for their own
    community (their unit is the community or one of its grids).

    DESIGN. Runs on the HTTP thread, not the actor: a meeting touches no
    request row and emits no event of routing's own, so it needs neither
    the writer connection nor the actor's queue. The steps:
      1. check everything (token, shape, community, hosts, buildings,
         service codes, attributes, phones) against the org directory in
         PostgreSQL (the actor's gz_org_t is swapped on RELOAD and is not
         ours to read) and answer 400/401/403/422 with nothing changed;
      2. claim the meeting row (status 'filing') by its key: the caller's
         "key" (or Idempotency-Key header), else the SHA-256 of the
         canonical body, so a replay finds the same row and the same id;
      3. file each demand with intake over its bus (SubmitRequest, DEALER
         -> intake's ROUTER, one socket per HTTP request so no socket
         crosses threads, a receive timeout), idempotency key
         "meeting:<id>:<index>": a retry gets the original request ids;
      4. record the accepted demands (request ids) and, when all are in,
         mark the meeting 'recorded'.
    A meeting never claims a demand intake did not accept. When filing
    stops half way (intake down, timed out, rate limited) the row stays
    'filing' with what was accepted and the answer is 503 with the id; the
    same POST again finishes it. Only when intake definitely accepted
    nothing (its first answer was a refusal) is the row removed.

    The body's checks that need no database are in
    routing_meetings_parse.c, the statements in routing_meetings_store.c.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "gz_log.h"
#include "gz_text.h"
#include "routing_meetings.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "routing"

void
routing_meetings_describe (gz_metrics_t *metrics)
{
    gz_metrics_describe (metrics, "gz_routing_meetings_total", GZ_COUNTER,
                         "Meetings (逢四说事) recorded with all their demands filed");
    gz_metrics_describe (metrics, "gz_routing_meeting_demands_total", GZ_COUNTER,
                         "Meeting demands filed with intake as requests (channel MEETING)");
}

//  ---------------------------------------------------------------- helpers

static bool
s_may (const routing_caller_t *c, const char *community)
{
    return c->operator|| (*c->community && strcmp (c->community, community) == 0);
}

//  Authenticate; on failure answer and return false.
static bool
s_authenticate (gz_http_req_t *req, int rc, bool had_token, const routing_caller_t *c)
{
    if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (!c->known)
        gz_http_reply_error (req, 401, "unauthorized",
                             had_token ? "unknown or revoked token"
                                       : "a staff bearer token is required");
    else
        return true;
    return false;
}

static int
s_check_refs (gz_db_t *db, const routing_caller_t *c, routing_meeting_t *m,
              routing_meeting_answer_t *a)
{
    int known = routing_meetings_community_known (db, m->community);
    if (known < 0)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    if (!known)
        return routing_meeting_fail (a, 422, "unprocessable", "community %s is not a community",
                                     m->community);
    if (!s_may (c, m->community))
        return routing_meeting_fail (a, 403, "forbidden",
                                     "you may record meetings of your own community only");

    char *arr = routing_meeting_hosts (m->hosts, m->nhosts);
    char host[80];
    int unknown = routing_meetings_unknown_host (db, arr, host, sizeof host);
    free (arr);
    if (unknown < 0)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    if (unknown)
        return routing_meeting_fail (a, 422, "unprocessable", "host %.64s is not a staff member",
                                     host);

    char *first = NULL;
    bool failed = false;
    for (size_t i = 0; i < m->ndemands && !failed; i++) {
        routing_demand_t *d = &m->demands[i];
        if (d->building) {
            char *parent;
            int exists = routing_meetings_building_parent (db, d->building, &parent);
            if (exists < 0) {
                failed = true;
                break;
            }
            bool ours = exists && strcmp (parent, m->community) == 0;
            free (parent);
            if (!ours) {
                free (first);
                return routing_meeting_fail (
                    a, 422, "unprocessable", "demands[%zu].building %s %s", i, d->building,
                    exists ? "is not in the meeting's community" : "is not a known building");
            }
            d->resolved_building = strdup (d->building);
            continue;
        }
        if (!first) {
            if (routing_meetings_first_building (db, m->community, &first) < 0) {
                failed = true;
                break;
            }
            if (!first && !d->address)
                return routing_meeting_fail (
                    a, 422, "unprocessable",
                    "demands[%zu] needs a building or an address: community %s has "
                    "no buildings",
                    i, m->community);
        }
        d->resolved_building = first ? strdup (first) : NULL;
    }
    free (first);
    if (failed)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    return 0;
}

//  ---------------------------------------------------------------- claim

enum { CLAIM_NEW, CLAIM_FILING, CLAIM_RECORDED };

//  Insert the meeting row or find it by key. CLAIM_* with id[] set, or -1
//  with a (409 key reused for another meeting, 503).
static int
s_claim (gz_db_t *db, const routing_caller_t *c, const routing_meeting_t *m, json_t *body,
         char id[32], routing_meeting_answer_t *a)
{
    //  The canonical body (keys sorted, no blanks; "key" left out).
    json_t *copy = json_deep_copy (body);
    json_object_del (copy, "key");
    char *canon = json_dumps (copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (copy);
    assert (canon);
    char sha[80], key[ROUTING_MEETING_MAX_KEY + 8];
    int rc = routing_meetings_sha (db, canon, sha);
    free (canon);
    if (rc)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    if (m->key)
        snprintf (key, sizeof key, "key:%s", m->key);
    else
        snprintf (key, sizeof key, "body:%.64s", sha);

    char *arr = routing_meeting_hosts (m->hosts, m->nhosts);
    char participants[16], total[16];
    snprintf (participants, sizeof participants, "%d", m->participants);
    snprintf (total, sizeof total, "%zu", m->ndemands);
    const char *v[10] = {m->community,
                         m->date,
                         m->place,
                         participants,
                         arr,
                         c->operator? NULL : c->staff_id,
                         c->operator? "operator" : "staff",
                         key,
                         sha,
                         total};
    int inserted = routing_meetings_claim (db, v, id);
    free (arr);
    if (inserted < 0)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    if (inserted)
        return CLAIM_NEW;
    bool same = false, recorded = false;
    if (routing_meetings_by_key (db, m->community, key, sha, id, &same, &recorded) != 1)
        return routing_meeting_fail (a, 503, "unavailable", "database unavailable; retry");
    if (!same)
        return routing_meeting_fail (a, 409, "conflict",
                                     "key %.64s was used for another meeting (%s)",
                                     m->key ? m->key : "", id);
    return recorded ? CLAIM_RECORDED : CLAIM_FILING;
}

//  ---------------------------------------------------------------- filing

//  File the demands with intake, in order, until one fails. ids[i] gets
//  intake's request id of each accepted demand (caller frees). Returns
//  how many were accepted; *refused is true when intake definitely
//  refused the first one that failed (so nothing of it was filed).
static size_t
s_file (routing_t *ctx, const routing_meeting_t *m, const char *meeting_id, char **ids,
        bool *refused, routing_meeting_answer_t *a)
{
    *refused = false;
    const char *endpoint = ctx->cfg->intake_bus;
    int timeout = ctx->cfg->intake_timeout_ms;
    const char *cred = ctx->cfg->intake_key;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, timeout);
    zsock_set_sndtimeo (sock, timeout);
    size_t done = 0;
    if (zsock_connect (sock, "%s", endpoint) < 0) {
        gz_error (SVC, "msg=\"cannot connect to intake's bus\" endpoint=%s", endpoint);
        routing_meeting_fail (a, 503, "unavailable", "cannot reach intake; retry");
        *refused = true;
    }
    for (; !a->status && done < m->ndemands; done++) {
        if (gz_actor_closing (ctx->actor)) {
            routing_meeting_fail (a, 503, "unavailable", "shutting down; retry with the same body");
            break;
        }
        const routing_demand_t *d = &m->demands[done];
        Gongzhi__V1__SubmitRequest sr = GONGZHI__V1__SUBMIT_REQUEST__INIT;
        Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
        loc.building_code = (char *) (d->resolved_building ? d->resolved_building : "");
        loc.address = (char *) (d->address ? d->address : "");
        sr.location = &loc;
        sr.service_code = (char *) d->service_code;
        sr.description = (char *) d->description;
        sr.phone = (char *) (d->phone ? d->phone : "");
        sr.channel = GONGZHI__V1__CHANNEL__MEETING;
        sr.meeting_id = (char *) meeting_id;
        size_t nattrs = d->attributes ? json_object_size (d->attributes) : 0;
        Gongzhi__V1__Attribute *attrs = calloc (nattrs + 1, sizeof *attrs);
        Gongzhi__V1__Attribute **attrp = calloc (nattrs + 1, sizeof *attrp);
        assert (attrs && attrp);
        const char *code;
        json_t *val;
        size_t k = 0;
        if (d->attributes)
            json_object_foreach (d->attributes, code, val)
            {
                gongzhi__v1__attribute__init (&attrs[k]);
                attrs[k].code = (char *) code;
                attrs[k].value = (char *) json_string_value (val);
                attrp[k] = &attrs[k];
                k++;
            }
        sr.n_attributes = k;
        sr.attributes = attrp;
        char idem[96];
        snprintf (idem, sizeof idem, "meeting:%s:%zu", meeting_id, done);
        zframe_t *frame = gz_codec_envelope_frame ("SubmitRequest", NULL, idem, cred, &sr.base);
        free (attrs);
        free (attrp);
        if (zframe_send (&frame, sock, 0) < 0) {
            zframe_destroy (&frame);
            routing_meeting_fail (a, 503, "unavailable",
                                  "cannot reach intake; retry with the same body");
            *refused = true;
            break;
        }
        zmsg_t *msg = zmsg_recv (sock);
        zframe_t *last = msg ? zmsg_last (msg) : NULL;
        gz_envelope_t *env =
            last ? gz_codec_envelope_decode (zframe_data (last), zframe_size (last)) : NULL;
        zmsg_destroy (&msg);
        Gongzhi__V1__SubmitReply *reply = NULL;
        if (env && env->type && strcmp (env->type, "SubmitReply") == 0)
            reply = gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data);
        gz_codec_envelope_free (&env);
        if (!reply) {
            gz_warn (SVC, "msg=\"no answer from intake\" meeting=%s demand=%zu timeout_ms=%d",
                     meeting_id, done, timeout);
            routing_meeting_fail (
                a, 503, "unavailable",
                "intake did not answer for demands[%zu]; retry with the same body", done);
            break;
        }
        if (reply->ok && reply->service_request_id && *reply->service_request_id)
            ids[done] = strdup (reply->service_request_id);
        else {
            int e = reply->error;
            *refused = true;
            gz_warn (SVC, "msg=\"intake refused a meeting demand\" meeting=%s demand=%zu error=%d",
                     meeting_id, done, e);
            if (e == GONGZHI__V1__ERROR_CODE__UNAVAILABLE ||
                e == GONGZHI__V1__ERROR_CODE__RATE_LIMITED)
                routing_meeting_fail (a, 503, "unavailable",
                                      "intake is busy (demands[%zu]): %.120s; retry", done,
                                      reply->message ? reply->message : "");
            else if (e == GONGZHI__V1__ERROR_CODE__UNAUTHORIZED)
                routing_meeting_fail (
                    a, 503, "unavailable",
                    "intake refused routing's credential (GZ_ROUTING_INTAKE_KEY)");
            else
                routing_meeting_fail (a, 422, "unprocessable",
                                      "intake refused demands[%zu]: %.160s", done,
                                      reply->message ? reply->message : "");
        }
        gongzhi__v1__submit_reply__free_unpacked (reply, NULL);
        if (a->status)
            break;
    }
    zsock_destroy (&sock);
    return done;
}

//  ---------------------------------------------------------------- handlers

static void
s_reply (gz_http_req_t *req, const routing_meeting_answer_t *a, const char *id, char **ids,
         size_t n)
{
    if (!id) {
        gz_http_reply_error (req, a->status, a->code, a->message);
        return;
    }
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (list, json_string (ids[i]));
    json_t *o;
    if (a->status && a->status != 200 && a->status != 201)
        o = json_pack ("{s:{s:s,s:s,s:s,s:o}}", "error", "code", a->code, "message", a->message,
                       "id", id, "requests", list);
    else
        o = json_pack ("{s:s,s:s,s:o}", "id", id, "status", "recorded", "requests", list);
    gz_http_reply_json (req, a->status ? a->status : 201, o);
}

static void
s_post (routing_t *ctx, gz_http_req_t *req)
{
    if (gz_http_too_large (req)) {
        gz_http_reply_error (req, 413, "too_large", "body over 64 KiB");
        return;
    }
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    int rc = routing_http_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    size_t len = 0;
    const char *text = gz_http_body (req, &len);
    json_error_t jerr = {.text = ""};
    json_t *body = text && len ? json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    routing_meeting_answer_t a = {0};
    routing_meeting_t m = {0};
    char id[32] = "";
    int claim = -1;
    if (!json_is_object (body))
        routing_meeting_fail (&a, 400, "bad_request", routing_json_error (&jerr));
    else if (routing_meeting_parse (body, req, &m, &a) == 0 && s_check_refs (db, &c, &m, &a) == 0) {
        if (m.ndemands && !ctx->cfg->intake_key)
            routing_meeting_fail (&a, 503, "unavailable",
                                  "no credential to file with intake: set GZ_ROUTING_INTAKE_KEY");
        else
            claim = s_claim (db, &c, &m, body, id, &a);
    }
    //  The pool connection goes back while intake files: filing may take
    //  a while and the pool is small.
    gz_dbpool_put (ctx->pool, db);
    if (claim < 0) {
        gz_http_reply_error (req, a.status, a.code, a.message);
        routing_meeting_clear (&m);
        json_decref (body);
        return;
    }
    char **ids = calloc (m.ndemands + 1, sizeof *ids);
    assert (ids);
    size_t accepted = 0;
    bool refused = false;
    if (claim == CLAIM_RECORDED || m.ndemands == 0)
        accepted = m.ndemands; //  a replay: intake answers the original ids
    if (claim == CLAIM_RECORDED) {
        //  Read the recorded ids rather than asking intake again.
        db = gz_dbpool_get (ctx->pool);
        int rc = routing_meetings_demand_ids (db, id, ids, m.ndemands);
        gz_dbpool_put (ctx->pool, db);
        if (rc)
            routing_meeting_fail (&a, 503, "unavailable", "database unavailable; retry");
        if (!a.status)
            a.status = 200;
    }
    else {
        if (m.ndemands)
            accepted = s_file (ctx, &m, id, ids, &refused, &a);
        db = gz_dbpool_get (ctx->pool);
        bool nothing = claim == CLAIM_NEW && accepted == 0 && refused;
        if (routing_meetings_record (db, &m, id, ids, accepted, nothing)) {
            gz_error (SVC, "msg=\"cannot record a meeting's demands\" meeting=%s error=\"%s\"", id,
                      gz_db_error (db));
            if (!a.status || a.status < 400) {
                a.status = 0;
                routing_meeting_fail (&a, 503, "unavailable",
                                      "database unavailable; retry with the same body");
            }
        }
        else if (nothing)
            id[0] = 0; //  gone: nothing was filed, nothing is left
        gz_dbpool_put (ctx->pool, db);
        if (!a.status) {
            routing_meetings_describe (ctx->metrics);
            gz_metrics_add (ctx->metrics, "gz_routing_meetings_total", NULL, 1);
            gz_metrics_add (ctx->metrics, "gz_routing_meeting_demands_total", NULL,
                            (double) accepted);
            gz_info (SVC, "msg=\"meeting recorded\" meeting=%s community=%s demands=%zu", id,
                     m.community, accepted);
        }
    }
    s_reply (req, &a, *id ? id : NULL, ids, accepted);
    for (size_t i = 0; i < m.ndemands; i++)
        free (ids[i]);
    free (ids);
    routing_meeting_clear (&m);
    json_decref (body);
}

static void
s_get_one (routing_t *ctx, gz_http_req_t *req, const char *id)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    int rc = routing_http_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    json_t *o = NULL;
    int found = routing_meetings_view (db, id, &o);
    gz_dbpool_put (ctx->pool, db);
    const char *community = o ? json_string_value (json_object_get (o, "community_code")) : NULL;
    if (found < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (found == 0)
        gz_http_reply_error (req, 404, "not_found", "no such meeting");
    else if (!s_may (&c, community ? community : ""))
        gz_http_reply_error (req, 403, "forbidden", "a meeting of another community");
    else {
        gz_http_reply_json (req, 200, o);
        o = NULL;
    }
    json_decref (o);
}

static void
s_list (routing_t *ctx, gz_http_req_t *req)
{
    const char *community = gz_http_query (req, "community");
    const char *from = gz_http_query (req, "from"), *to = gz_http_query (req, "to");
    community = community && *community ? community : NULL;
    from = from && *from ? from : NULL;
    to = to && *to ? to : NULL;
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_caller_t c;
    bool had_token;
    int rc = routing_http_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    if (!community && !c.operator)
        community = *c.community ? c.community : NULL;
    json_t *items = NULL;
    if ((from && !routing_meeting_date_ok (from)) || (to && !routing_meeting_date_ok (to)))
        gz_http_reply_error (req, 400, "bad_request", "from and to must be dates YYYY-MM-DD");
    else if (community && !routing_meeting_code_ok (community, 64))
        gz_http_reply_error (req, 400, "bad_request", "community is not a community code");
    else if (!c.operator&& (!community || !s_may (&c, community)))
        gz_http_reply_error (req, 403, "forbidden", "meetings of your own community only");
    else {
        items = routing_meetings_list (db, community, from, to);
        if (!items)
            gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    }
    gz_dbpool_put (ctx->pool, db);
    if (!items)
        return;
    gz_http_reply_json (req, 200, json_pack ("{s:o}", "meetings", items));
}

bool
routing_meetings_handle (routing_t *ctx, gz_http_req_t *req, const char *path, const char *method,
                         const char **route)
{
    if (strcmp (path, "/api/v1/meetings") == 0) {
        *route = "meetings";
        if (strcmp (method, "POST") == 0)
            s_post (ctx, req);
        else if (strcmp (method, "GET") == 0)
            s_list (ctx, req);
        else
            gz_http_reply_error (req, 405, "method_not_allowed", "use GET or POST");
        return true;
    }
    if (strncmp (path, "/api/v1/meetings/", 17) != 0)
        return false;
    *route = "meeting";
    const char *id = path + 17;
    if (strcmp (method, "GET") != 0)
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
    else if (!routing_meeting_code_ok (id, 32) || strchr (id, '/'))
        gz_http_reply_error (req, 404, "not_found", "no such meeting");
    else
        s_get_one (ctx, req, id);
    return true;
}
