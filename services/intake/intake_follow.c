/*  intake_follow: intake follows routing's event stream (stream "routing",
    RequestUpdate payloads) so that what residents and Open311 clients see
    - status open/closed, status_notes, agency_responsible,
    expected_datetime, updated_datetime, the /r/{id} timeline and the
    servicerequestupdates feed - follows the request through the closed
    loop. Runs as a durable-bus handler on the actor's connection: each
    update is applied exactly once, in order, with the cursor.  */
#include "intake.h"
#include "gz_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/routing.pb-c.h"

void
intake_follow_prepare (gz_db_t *db, const char *schema)
{
    char *q = gz_db_ident (schema);
    char sql[1024];
    snprintf (sql, sizeof sql,
              "UPDATE %1$s.requests SET status = $2, state = $7,"
              " status_notes = coalesce($3, status_notes),"
              " agency_responsible = coalesce($4, agency_responsible),"
              " expected_at = coalesce(to_timestamp($5::bigint / 1e6), expected_at),"
              " updated_at = greatest(updated_at, to_timestamp($6::bigint / 1e6))"
              " WHERE id = $1::bigint",
              q);
    gz_db_prepare (db, "follow_request", sql);
    snprintf (sql, sizeof sql,
              "INSERT INTO %1$s.timeline (request_id, at, kind, note)"
              " SELECT $1::bigint, to_timestamp($2::bigint / 1e6), $3, $4"
              " WHERE EXISTS (SELECT 1 FROM %1$s.requests WHERE id = $1::bigint)",
              q);
    gz_db_prepare (db, "follow_timeline", sql);
    snprintf (sql, sizeof sql,
              "INSERT INTO %1$s.request_updates"
              " (update_id, request_id, kind, status, note, media_url, at)"
              " SELECT $1::bigint, $2::bigint, $3, $4, $5, $6, to_timestamp($7::bigint / 1e6)"
              " WHERE EXISTS (SELECT 1 FROM %1$s.requests WHERE id = $2::bigint)"
              " ON CONFLICT (update_id) DO NOTHING",
              q);
    gz_db_prepare (db, "follow_update", sql);
    free (q);
}

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
    if (!*u->request_id || *end || id <= 0 || !*u->state) {
        gz_metrics_add (ctx->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        goto done;
    }
    char at[24], due[24], pos[24];
    snprintf (at, sizeof at, "%lld", (long long) (u->at_us ? u->at_us : env->occurred_at_us));
    snprintf (due, sizeof due, "%lld", (long long) u->resolve_due_us);
    snprintf (pos, sizeof pos, "%lld", (long long) env->position);
    const char *agency = u->assignee && *u->assignee->unit_name ? u->assignee->unit_name : NULL;
    const char *note = *u->note ? u->note : NULL;
    const char *v1[7] = {u->request_id, s_open311_status (u->state),    note,
                         agency,        u->resolve_due_us ? due : NULL, at,
                         u->state};
    PGresult *r = gz_db_exec (db, "follow_request", 7, v1);
    if (!r) {
        rc = -1;
        goto done;
    }
    PQclear (r);
    //  Deadline warnings are for staff; the resident's timeline shows the rest.
    if (strcmp (u->kind, "deadline_warning") != 0) {
        const char *v2[4] = {u->request_id, at, u->kind, note};
        r = gz_db_exec (db, "follow_timeline", 4, v2);
        if (!r) {
            rc = -1;
            goto done;
        }
        PQclear (r);
        const char *v3[7] = {pos,     u->request_id,
                             u->kind, s_update_status (u->state),
                             note,    *u->media_url ? u->media_url : NULL,
                             at};
        r = gz_db_exec (db, "follow_update", 7, v3);
        if (!r) {
            rc = -1;
            goto done;
        }
        PQclear (r);
    }
done:
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}
