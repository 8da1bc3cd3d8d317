/*  intake_consume: what comes to intake over the bus. SubmitRequest
    commands on the ROUTER (decoded, authorised, rate-limited and
    validated here; valid ones join the actor's next commit batch), and
    routing's event stream.

    Intake follows routing's event stream (stream "routing",
    RequestUpdate payloads) so that what residents and Open311 clients see
    - status open/closed, status_notes, agency_responsible,
    expected_datetime, updated_datetime, the /r/{id} timeline and the
    servicerequestupdates feed - follows the request through the closed
    loop. Runs as a durable-bus handler on the actor's connection: each
    update is applied exactly once, in order, with the cursor. Its
    statement is intake_store.c's.  */
#include "intake.h"
#include "gz_actor.h"
#include "gz_log.h"
#include "gz_ratelimit.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/routing.pb-c.h"

//  Open311 status (open/closed) for a routing state.
static const char *
s_open311_status (const char *state)
{
    static const char *closed[] = {"resolved", "rated", "closed", "rejected", "merged"};
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++)
        if (strcmp (state, closed[i]) == 0)
            return "closed";
    return "open";
}

//  The status word of mySociety's updates extension (FixMyStreet's states).
static const char *
s_update_status (const char *state)
{
    if (strcmp (state, "verified") == 0 || strcmp (state, "in_progress") == 0)
        return "in_progress";
    if (strcmp (state, "resolved") == 0)
        return "fixed";
    if (strcmp (state, "rated") == 0 || strcmp (state, "closed") == 0)
        return "closed";
    if (strcmp (state, "rejected") == 0)
        return "no_further_action";
    if (strcmp (state, "merged") == 0)
        return "duplicate";
    return "open";
}

int
intake_follow_handler (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    intake_t *ctx = arg;
    Gongzhi__V1__RequestUpdate *u =
        gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    if (!u) {
        //  Count and skip: a payload that does not decode never will.
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        return 0;
    }
    int rc = 0;
    char *end = NULL;
    long long id = strtoll (u->request_id, &end, 10);
    if (!*u->request_id || *end || id <= 0 || !*u->state)
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
    else {
        //  Deadline warnings and views of the resident's phone (routing
        //  publishes none today) are for staff; the resident's timeline
        //  shows the rest.
        intake_follow_t f = {
            .request_id = u->request_id,
            .status = s_open311_status (u->state),
            .note = *u->note ? u->note : NULL,
            .agency = u->assignee && *u->assignee->unit_name ? u->assignee->unit_name : NULL,
            .due_us = u->resolve_due_us,
            .at_us = u->at_us ? u->at_us : env->occurred_at_us,
            .state = u->state,
            .kind = u->kind,
            .position = env->position,
            .public = strcmp (u->kind, "deadline_warning") != 0 &&
                      strcmp (u->kind, "contact_viewed") != 0,
            .update_status = s_update_status (u->state),
            .media_url = *u->media_url ? u->media_url : NULL,
        };
        rc = intake_store_follow (db, &f);
        //  A resolution's photos: the resident's status page shows them.
        if (rc == 0 && u->n_photos && strcmp (u->kind, "resolved") == 0)
            rc = intake_store_photo_after (db, ctx->cfg->base.schema, u->request_id, u->photos,
                                           u->n_photos);
    }
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}

//  ---------------------------------------------------------------- commands

static void
s_bus_error (zsock_t *router, gz_peer_t *peer, int code, const char *message)
{
    Gongzhi__V1__SubmitReply reply = GONGZHI__V1__SUBMIT_REPLY__INIT;
    reply.ok = false;
    reply.error = (Gongzhi__V1__ErrorCode) code;
    reply.message = (char *) message;
    intake_bus_reply (router, peer, &reply);
}

//  A SubmitRequest's photos, checked and re-encoded into sub (in order)
//  by intake_photo, as the QR page's are. On the actor thread: the
//  command's size (GZ_BUS_MAX_COMMAND_BYTES) bounds the work, and its
//  cost is measured in docs/photos.md. 0, or -1 with *err filled
//  (BAD_PHOTO or TOO_LARGE, the message naming the photo) and nothing
//  kept in sub.
static int
s_bus_photos (intake_t *ctx, const Gongzhi__V1__SubmitRequest *req, intake_sub_t *sub,
              intake_err_t *err)
{
    if (req->n_photos > INTAKE_PHOTO_MAX_COUNT) {
        err->error = GONGZHI__V1__ERROR_CODE__BAD_PHOTO;
        snprintf (err->message, sizeof err->message, "at most %d photos per request, not %zu",
                  INTAKE_PHOTO_MAX_COUNT, req->n_photos);
        return -1;
    }
    int64_t start = zclock_usecs ();
    for (size_t i = 0; i < req->n_photos; i++) {
        const ProtobufCBinaryData *b = &req->photos[i];
        intake_photo_error_t e =
            intake_photo_process (b->data, b->len, &ctx->cfg->photo, &sub->photos[sub->nphotos]);
        if (e != INTAKE_PHOTO_OK) {
            for (size_t k = 0; k < sub->nphotos; k++)
                intake_photo_clear (&sub->photos[k]);
            sub->nphotos = 0;
            err->error = e == INTAKE_PHOTO_TOO_LARGE ? GONGZHI__V1__ERROR_CODE__TOO_LARGE
                                                     : GONGZHI__V1__ERROR_CODE__BAD_PHOTO;
            const char *why = e == INTAKE_PHOTO_TOO_LARGE
                                  ? "is larger than GZ_INTAKE_PHOTO_MAX_BYTES"
                              : e == INTAKE_PHOTO_TOO_BIG
                                  ? "declares too many pixels (GZ_INTAKE_PHOTO_MAX_PIXELS)"
                              : e == INTAKE_PHOTO_BROKEN ? "is broken or truncated"
                                                         : "is not a JPEG, PNG, WebP or HEIC image";
            snprintf (err->message, sizeof err->message, "photo %zu %s; nothing was stored", i + 1,
                      why);
            gz_info ("intake", "msg=\"bus photo refused\" index=%zu reason=%d bytes=%zu", i,
                     (int) e, b->len);
            return -1;
        }
        sub->nphotos++;
    }
    sub->photos_public = req->photos_public && sub->nphotos > 0;
    intake_sub_fingerprint_photos (sub);
    if (sub->nphotos > 0)
        gz_debug ("intake", "msg=\"bus photos decoded\" count=%zu us=%lld", sub->nphotos,
                  (long long) (zclock_usecs () - start));
    return 0;
}

//  The channels a district may file on over the bus: its own (BUS, the
//  default) and those it relays (meetings, riders, patrols, the hotline);
//  not QR or OPEN311, which are intake's own front doors, nor a value the
//  enum does not have.
static bool
s_bus_channel_ok (int channel)
{
    switch (channel) {
        case GONGZHI__V1__CHANNEL__CHANNEL_UNSPECIFIED:
        case GONGZHI__V1__CHANNEL__BUS:
        case GONGZHI__V1__CHANNEL__MEETING:
        case GONGZHI__V1__CHANNEL__RIDER:
        case GONGZHI__V1__CHANNEL__PATROL:
        case GONGZHI__V1__CHANNEL__HOTLINE:
            return true;
        default:
            return false;
    }
}

//  One command from the ROUTER. A valid submission joins the batch; every
//  other outcome is answered at once.
void
intake_on_command (intake_t *ctx, zsock_t *router, intake_sub_t **head, intake_sub_t **tail)
{
    gz_peer_t peer;
    gz_envelope_t *env = gz_actor_command_recv (ctx->actor, &peer);
    if (!peer.from) {
        gz_codec_envelope_free (&env);
        return;
    }
    if (peer.refused) {
        bool large = peer.refused == GZ_PEER_TOO_LARGE;
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        large ? "channel=\"bus\",outcome=\"rejected\""
                              : "channel=\"bus\",outcome=\"rate_limited\"",
                        1);
        s_bus_error (router, &peer,
                     large ? GONGZHI__V1__ERROR_CODE__TOO_LARGE
                           : GONGZHI__V1__ERROR_CODE__RATE_LIMITED,
                     peer.why);
        gz_codec_envelope_free (&env);
        return;
    }
    Gongzhi__V1__SubmitRequest *req = NULL;
    if (env && strcmp (env->type, "SubmitRequest") == 0)
        req = gongzhi__v1__submit_request__unpack (NULL, env->payload.len, env->payload.data);
    if (!req) {
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"bus\"", 1);
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"bus\",outcome=\"rejected\"", 1);
        s_bus_error (router, &peer, GONGZHI__V1__ERROR_CODE__BAD_MESSAGE,
                     "expected an Envelope of type SubmitRequest with a valid payload");
        gz_codec_envelope_free (&env);
        return;
    }
    const char *keyname = intake_api_key_name (ctx, env->credential);
    char client[160];
    snprintf (client, sizeof client, "apikey:%s", keyname ? keyname : "");
    int retry = 0;
    if (!keyname)
        s_bus_error (router, &peer, GONGZHI__V1__ERROR_CODE__UNAUTHORIZED,
                     "missing or unknown credential");
    else if (!gz_ratelimit_take (ctx->ratelimit, client, &retry)) {
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"bus\",outcome=\"rate_limited\"", 1);
        s_bus_error (router, &peer, GONGZHI__V1__ERROR_CODE__RATE_LIMITED,
                     "too many requests; slow down and retry");
    }
    else if (gz_actor_closing (ctx->actor))
        s_bus_error (router, &peer, GONGZHI__V1__ERROR_CODE__UNAVAILABLE,
                     "shutting down; retry with the same idempotency key");
    else if (!s_bus_channel_ok (req->channel)) {
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"bus\",outcome=\"rejected\"", 1);
        s_bus_error (router, &peer, GONGZHI__V1__ERROR_CODE__BAD_FIELD,
                     "channel must be BUS, MEETING, RIDER, PATROL or HOTLINE (unset: BUS)");
    }
    else {
        intake_raw_t raw = {0};
        raw.channel = req->channel ? (int) req->channel : GONGZHI__V1__CHANNEL__BUS;
        raw.service_code = req->service_code;
        raw.description = req->description;
        char lat[40] = "", lon[40] = "";
        if (req->location && req->location->has_latlon) {
            snprintf (lat, sizeof lat, "%.9g", req->location->lat);
            snprintf (lon, sizeof lon, "%.9g", req->location->lon);
            raw.lat_s = lat;
            raw.long_s = lon;
        }
        if (req->location) {
            raw.address_id = req->location->building_code;
            raw.address_string = req->location->address;
        }
        raw.phone = req->phone;
        raw.name = req->submitter_name;
        raw.media_url = req->media_url;
        raw.meeting_id = req->meeting_id;
        raw.external_id = req->external_id;
        raw.reporter_id = req->reporter_id;
        raw.client_id = client;
        raw.idempotency_key = env->idempotency_key;
        const char **codes = calloc (req->n_attributes + 1, sizeof *codes);
        const char **vals = calloc (req->n_attributes + 1, sizeof *vals);
        assert (codes && vals);
        for (size_t i = 0; i < req->n_attributes; i++) {
            codes[i] = req->attributes[i]->code;
            vals[i] = req->attributes[i]->value;
        }
        raw.attr_codes = codes;
        raw.attr_values = vals;
        raw.nattrs = req->n_attributes;
        intake_err_t err;
        intake_sub_t *sub = intake_sub_new (ctx, &raw, &err);
        free (codes);
        free (vals);
        if (!sub) {
            gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                            "channel=\"bus\",outcome=\"rejected\"", 1);
            s_bus_error (router, &peer, err.error, err.message);
        }
        else if (s_bus_photos (ctx, req, sub, &err) != 0) {
            gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                            "channel=\"bus\",outcome=\"rejected\"", 1);
            s_bus_error (router, &peer, err.error, err.message);
            intake_sub_destroy (&sub);
        }
        else {
            sub->peer = peer; //  answered after the commit
            memset (&peer, 0, sizeof peer);
            if (*tail)
                (*tail)->next = sub;
            else
                *head = sub;
            *tail = sub;
        }
    }
    gz_actor_peer_clear (&peer);
    gongzhi__v1__submit_request__free_unpacked (req, NULL);
    gz_codec_envelope_free (&env);
}
