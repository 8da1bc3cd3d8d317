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
    char sql[2048];
    //  One round trip per update: the request's view, the resident's
    //  timeline and the updates feed move together (the latter two only
    //  for public updates, $10), and only for a request intake knows.
    snprintf (sql, sizeof sql,
              "WITH upd AS (UPDATE %1$s.requests SET status = $2, state = $7,"
              "  status_notes = coalesce($3, status_notes),"
              "  agency_responsible = coalesce($4, agency_responsible),"
              "  expected_at = coalesce(to_timestamp($5::bigint / 1e6), expected_at),"
              "  updated_at = greatest(updated_at, to_timestamp($6::bigint / 1e6))"
              "  WHERE id = $1::bigint RETURNING id),"
              " tl AS (INSERT INTO %1$s.timeline (request_id, at, kind, note)"
              "  SELECT id, to_timestamp($6::bigint / 1e6), $8, $3 FROM upd WHERE $10::bool),"
              " ru AS (INSERT INTO %1$s.request_updates"
              "  (update_id, request_id, kind, status, note, media_url, at)"
              "  SELECT $9::bigint, id, $8, $11, $3, $12, to_timestamp($6::bigint / 1e6)"
              "  FROM upd WHERE $10::bool ON CONFLICT (update_id) DO NOTHING)"
              " SELECT count(*) FROM upd",
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
    //  Deadline warnings are for staff; the resident's timeline shows the rest.
    bool public = strcmp (u->kind, "deadline_warning") != 0;
    const char *v[12] = {u->request_id,
                         s_open311_status (u->state),
                         note,
                         agency,
                         u->resolve_due_us ? due : NULL,
                         at,
                         u->state,
                         u->kind,
                         pos,
                         public ? "t" : "f",
                         s_update_status (u->state),
                         *u->media_url ? u->media_url : NULL};
    PGresult *r = gz_db_exec (db, "follow_update", 12, v);
    if (!r)
        rc = -1;
    PQclear (r);
done:
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}
