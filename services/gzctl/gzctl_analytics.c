/*  gzctl analytics: rebuild analytics' rollups from the streams' history,
    and verify them against the source tables (docs/analytics-rebuild.md).

      gzctl analytics rebuild   replay intake's, routing's, matching's and
                                notify's outboxes in order into fresh facts,
                                rollups, volumes, matching_daily and
                                notify_daily and set
                                analytics' cursors to the last positions
                                replayed, in one transaction
      gzctl analytics verify    recount every rollup and volume from
                                intake's and routing's tables, and
                                matching_daily and notify_daily from
                                matching's and notify's outboxes, and
                                print each difference; exit 1 if there is
                                any

    Both use analytics' own delta logic (analytics_acc.c,
    analytics_matching_apply): the rebuild applies the events as the live
    consumer does; the verify adds each request's fact, recounted from the
    source tables, once. Matching's rollup counts events (offers made,
    declined, expired...) that matching's tables do not keep one row each
    for, so its recount reads matching's outbox: it finds counts the live
    consumer lost, doubled or that were changed by hand.  */
#include "analytics.h"
#include "gz_bus_private.h"
#include "gz_config.h"
#include "gongzhi/v1/routing.pb-c.h"
#include "gzctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *schema, *intake, *routing, *matching, *notify;
} s_schemas_t;

static void
s_schemas (s_schemas_t *s)
{
    s->schema = strdup (gz_config_str ("GZ_ANALYTICS_SCHEMA", "analytics"));
    s->intake = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    s->routing = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    s->matching = strdup (gz_config_str ("GZ_MATCHING_SCHEMA", "matching"));
    s->notify = strdup (gz_config_str ("GZ_NOTIFY_SCHEMA", "notify"));
}

static void
s_schemas_free (s_schemas_t *s)
{
    free (s->schema);
    free (s->intake);
    free (s->routing);
    free (s->matching);
    free (s->notify);
}

//  What a replay feeds: the accumulator (intake's and routing's events)
//  or matching's or notify's rows, with the org directory for their nodes.
typedef struct {
    analytics_acc_t *acc;
    zhashx_t *matching;
    gz_org_t *org;
    zhashx_t *notify;
} s_sink_t;

static zhashx_t *
s_matching_rows (void)
{
    zhashx_t *rows = zhashx_new ();
    zhashx_set_destructor (rows, (zhashx_destructor_fn *) zstr_free);
    return rows;
}

static int
s_apply (s_sink_t *sink, const char *stream, const gz_envelope_t *env)
{
    if (streq (stream, "intake"))
        return analytics_acc_intake (sink->acc, env);
    if (streq (stream, "routing"))
        return analytics_acc_routing (sink->acc, env);
    if (streq (stream, "notify"))
        return analytics_notify_apply (sink->notify, sink->org, env);
    return analytics_matching_apply (sink->matching, sink->org, env);
}

//  ---------------------------------------------------------------- rebuild

//  Replay one stream's outbox into acc. Refuses a history that does not
//  start at position 1 (pruned by retention). Events applied, or -1.
static int64_t
s_replay (gz_db_t *db, s_sink_t *sink, const char *stream, int64_t *last_p)
{
    int64_t first, last, count;
    if (analytics_store_outbox_range (db, stream, &first, &last, &count))
        return -1;
    if (count > 0 && (first != 1 || count != last - first + 1)) {
        fprintf (stderr,
                 "gzctl: %s's outbox holds positions %lld..%lld (%lld rows): the events before "
                 "were pruned (GZ_BUS_RETENTION_S), so a replay would miss them. Nothing changed; "
                 "rebuild needs the whole history (docs/analytics-rebuild.md)\n",
                 stream, (long long) first, (long long) last, (long long) count);
        return -1;
    }
    int64_t at = 0, applied = 0;
    while (at < last) {
        PGresult *r = analytics_store_outbox_page (db, stream, at, last);
        if (!r || PQntuples (r) == 0) {
            PQclear (r);
            return -1;
        }
        for (int i = 0; i < PQntuples (r); i++) {
            gz_envelope_t env;
            unsigned char *payload = NULL;
            if (gz_bus_envelope_from_row (&env, r, i, stream, &payload) == 0) {
                if (s_apply (sink, stream, &env) == 1)
                    fprintf (stderr, "gzctl: %s position %lld does not decode: skipped\n", stream,
                             (long long) env.position);
            }
            PQfreemem (payload);
            at = atoll (PQgetvalue (r, i, 0));
            applied++;
        }
        PQclear (r);
    }
    *last_p = last;
    return applied;
}

static const char *const s_streams[4] = {"intake", "routing", "matching", "notify"};

static int
s_rebuild (gz_db_t *db, const s_schemas_t *s)
{
    gz_org_t *org = gz_org_load (db);
    if (!org) {
        fprintf (stderr, "gzctl: cannot load the org directory: %s\n", gz_db_error (db));
        return 1;
    }
    analytics_store_prepare (db, s->schema);
    analytics_store_matching_prepare (db, s->schema);
    analytics_store_notify_prepare (db, s->schema);
    analytics_store_prepare_rebuild (db, s->schema, s->intake, s->routing, s->matching, s->notify);
    s_sink_t sink = {analytics_acc_new (NULL, NULL), s_matching_rows (), org, s_matching_rows ()};
    analytics_acc_set_org (sink.acc, org);
    int64_t t0 = zclock_usecs (), last[4] = {0, 0, 0, 0}, events[4] = {0, 0, 0, 0};
    int rc = 1;
    int matching = analytics_store_has_outbox (db, s->matching);
    int notify = analytics_store_has_outbox (db, s->notify);
    if (matching < 0 || notify < 0 || gz_db_begin (db) || analytics_store_rebuild_lock (db)) {
        fprintf (stderr, "gzctl: cannot lock analytics' tables (has analytics started once?): %s\n",
                 gz_db_error (db));
        goto done;
    }
    //  Without matching's or notify's outbox (not deployed) its cursor
    //  stays at 0.
    for (int i = 0; i < 4; i++) {
        if ((i == 2 && !matching) || (i == 3 && !notify))
            continue;
        events[i] = s_replay (db, &sink, s_streams[i], &last[i]);
        if (events[i] < 0)
            goto done;
    }
    size_t nfacts = 0;
    free (analytics_acc_dirty (sink.acc, &nfacts));
    size_t nmatching = zhashx_size (sink.matching), nnotify = zhashx_size (sink.notify);
    if (analytics_store_write (db, sink.acc) ||
        analytics_store_matching_add (db, sink.matching, ANALYTICS_MATCHING_COLUMNS) ||
        analytics_store_notify_add (db, sink.notify) ||
        analytics_store_cursor_set (db, "notify", last[3]) ||
        analytics_store_cursor_set (db, "intake", last[0]) ||
        analytics_store_cursor_set (db, "routing", last[1]) ||
        analytics_store_cursor_set (db, "matching", last[2]) || gz_db_commit (db)) {
        fprintf (stderr, "gzctl: rebuild failed, nothing changed: %s\n", gz_db_error (db));
        goto done;
    }
    double s_used = (double) (zclock_usecs () - t0) / 1e6;
    printf (
        "rebuilt from %lld intake, %lld routing, %lld matching and %lld notify events: "
        "%zu facts, %zu rollup rows, %zu matching rows, %zu notify rows, cursors at %lld, "
        "%lld, %lld and %lld, in %.2f s (%.0f events/s)\n",
        (long long) events[0], (long long) events[1], (long long) events[2], (long long) events[3],
        nfacts, zhashx_size (analytics_acc_deltas (sink.acc)), nmatching, nnotify,
        (long long) last[0], (long long) last[1], (long long) last[2], (long long) last[3], s_used,
        (double) (events[0] + events[1] + events[2] + events[3]) / (s_used > 0 ? s_used : 1e-9));
    rc = 0;
done:
    gz_db_rollback (db);
    analytics_acc_destroy (&sink.acc);
    zhashx_destroy (&sink.matching);
    zhashx_destroy (&sink.notify);
    gz_org_destroy (&org);
    return rc;
}

//  ---------------------------------------------------------------- verify

typedef struct {
    int64_t response_due_us, resolve_due_us;
} s_due_t;

//  request id -> the first routing's deadlines, from routing's outbox.
static zhashx_t *
s_first_deadlines (gz_db_t *db)
{
    PGresult *r = analytics_store_verify_query (db, "routed");
    if (!r)
        return NULL;
    zhashx_t *dues = zhashx_new ();
    zhashx_set_destructor (dues, (zhashx_destructor_fn *) zstr_free);
    for (int i = 0; i < PQntuples (r); i++) {
        size_t len = 0;
        unsigned char *p = PQunescapeBytea ((const unsigned char *) PQgetvalue (r, i, 0), &len);
        Gongzhi__V1__RequestUpdate *u =
            p ? gongzhi__v1__request_update__unpack (NULL, len, p) : NULL;
        if (u && u->request_id && !zhashx_lookup (dues, u->request_id)) {
            s_due_t *d = calloc (1, sizeof *d);
            d->response_due_us = u->response_due_us;
            d->resolve_due_us = u->resolve_due_us;
            zhashx_insert (dues, u->request_id, d);
        }
        gongzhi__v1__request_update__free_unpacked (u, NULL);
        PQfreemem (p);
    }
    PQclear (r);
    return dues;
}

//  The facts recounted from the source tables, summed into acc. The
//  number of requests, or -1.
static int64_t
s_recount (gz_db_t *db, analytics_acc_t *acc)
{
    zhashx_t *dues = s_first_deadlines (db);
    PGresult *r = dues ? analytics_store_verify_query (db, "source") : NULL;
    if (!r) {
        zhashx_destroy (&dues);
        return -1;
    }
    for (int i = 0; i < PQntuples (r); i++) {
        analytics_fact_t f;
        const char *id = PQgetvalue (r, i, 0);
        analytics_fact_init (&f, id);
        analytics_fact_submitted (&f, PQgetvalue (r, i, 1), atoi (PQgetvalue (r, i, 2)),
                                  PQgetvalue (r, i, 4), PQgetvalue (r, i, 5), PQgetvalue (r, i, 6),
                                  PQgetvalue (r, i, 7), PQgetvalue (r, i, 8),
                                  atoll (PQgetvalue (r, i, 10)));
        f.tier = atoi (PQgetvalue (r, i, 3));
        snprintf (f.department, sizeof f.department, "%s", PQgetvalue (r, i, 9));
        f.reached_us = atoll (PQgetvalue (r, i, 11));
        f.resolved_us = atoll (PQgetvalue (r, i, 12));
        f.resolved = PQgetvalue (r, i, 13)[0] == 't';
        f.merged = PQgetvalue (r, i, 14)[0] == 't';
        f.invalid = PQgetvalue (r, i, 15)[0] == 't';
        f.satisfied = atoi (PQgetvalue (r, i, 16));
        f.reopens = atoi (PQgetvalue (r, i, 17));
        f.escalations = atoi (PQgetvalue (r, i, 18));
        s_due_t *d = zhashx_lookup (dues, id);
        if (d) {
            f.response_due_us = d->response_due_us;
            f.resolve_due_us = d->resolve_due_us;
        }
        analytics_acc_add_fact (acc, &f);
    }
    int64_t n = PQntuples (r);
    PQclear (r);
    zhashx_destroy (&dues);
    return n;
}

static const char *const s_cols[13] = {
    "requests", "reached",   "reached_on_time",  "resolved", "resolved_on_time",
    "rated",    "satisfied", "escalated",        "reopened", "merged",
    "invalid",  "disputes",  "disputes_resolved"};

static int64_t
s_diff (const char *node, const char *day, const char *col, int64_t rollup, int64_t source)
{
    if (rollup == source)
        return 0;
    printf ("%s %s %s: rollup %lld, source %lld\n", node, day, col, (long long) rollup,
            (long long) source);
    return 1;
}

//  One rollup row (node, day, 13 counters, two histograms as text)
//  against the expected counts e. Differences found.
static int64_t
s_compare_row (PGresult *r, int i, const analytics_counts_t *e)
{
    const char *node = PQgetvalue (r, i, 0), *day = PQgetvalue (r, i, 1);
    const int64_t *ev = (const int64_t *) e;
    int64_t diffs = 0;
    for (int c = 0; c < 13; c++)
        diffs += s_diff (node, day, s_cols[c], atoll (PQgetvalue (r, i, 2 + c)), ev[c]);
    for (int h = 0; h < 2; h++) {
        const char *p = PQgetvalue (r, i, 15 + h);
        const int64_t *want = h ? e->resolve_hist : e->contact_hist;
        for (int b = 0; b < ANALYTICS_HIST; b++) {
            char col[32];
            snprintf (col, sizeof col, "%s[%d]", h ? "resolve_hist" : "contact_hist", b + 1);
            int64_t v = strtoll (p, (char **) &p, 10);
            if (*p == ',')
                p++;
            diffs += s_diff (node, day, col, v, want[b]);
        }
    }
    return diffs;
}

//  The rollup and volumes against acc (entries consumed). Differences, or
//  -1; *rows_p: the rollup rows read.
static int64_t
s_compare (gz_db_t *db, analytics_acc_t *acc, int64_t *rows_p)
{
    zhashx_t *want = analytics_acc_deltas (acc), *vols = analytics_acc_volumes (acc);
    PGresult *r = analytics_store_verify_query (db, "rollup");
    if (!r)
        return -1;
    int64_t diffs = 0;
    analytics_counts_t zero = {0};
    for (int i = 0; i < PQntuples (r); i++) {
        char key[ANALYTICS_CODE_MAX + 16];
        snprintf (key, sizeof key, "%s|%s", PQgetvalue (r, i, 0), PQgetvalue (r, i, 1));
        analytics_counts_t *e = zhashx_lookup (want, key);
        diffs += s_compare_row (r, i, e ? e : &zero);
        zhashx_delete (want, key);
    }
    *rows_p = PQntuples (r);
    PQclear (r);
    for (analytics_counts_t *e = zhashx_first (want); e; e = zhashx_next (want))
        if (!analytics_counts_zero (e)) {
            const char *key = zhashx_cursor (want);
            printf ("%s: no rollup row, source counts %lld requests\n", key,
                    (long long) e->requests);
            diffs++;
        }
    r = analytics_store_verify_query (db, "volumes");
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples (r); i++) {
        const char *key = PQgetvalue (r, i, 0);
        int64_t *n = zhashx_lookup (vols, key);
        diffs += s_diff (key, "volume", "n", atoll (PQgetvalue (r, i, 1)), n ? *n : 0);
        zhashx_delete (vols, key);
    }
    PQclear (r);
    for (int64_t *n = zhashx_first (vols); n; n = zhashx_next (vols))
        diffs += s_diff (zhashx_cursor (vols), "volume", "n", 0, *n);
    return diffs;
}

static const char *const s_matching_cols[ANALYTICS_MATCHING_COLUMNS] = {
    "needs",    "offers",  "accepted",      "declined",       "expired",
    "services", "minutes", "points_earned", "points_redeemed"};

//  matching_daily against matching's outbox replayed (without matching's
//  outbox, against nothing). Differences, or -1.
static int64_t
s_verify_matching (gz_db_t *db, const s_schemas_t *s, gz_org_t *org)
{
    s_sink_t sink = {NULL, s_matching_rows (), org, NULL};
    int has = analytics_store_has_outbox (db, s->matching);
    int64_t last = 0, diffs = -1;
    PGresult *r = NULL;
    if (has < 0 || (has && s_replay (db, &sink, "matching", &last) < 0))
        goto done;
    r = analytics_store_verify_query (db, "matching");
    if (!r)
        goto done;
    diffs = 0;
    const int64_t zero[ANALYTICS_MATCHING_COLUMNS] = {0};
    for (int i = 0; i < PQntuples (r); i++) {
        const char *key = PQgetvalue (r, i, 0);
        const int64_t *want = zhashx_lookup (sink.matching, key);
        for (int c = 0; c < ANALYTICS_MATCHING_COLUMNS; c++)
            diffs += s_diff (key, "matching", s_matching_cols[c], atoll (PQgetvalue (r, i, 1 + c)),
                             (want ? want : zero)[c]);
        zhashx_delete (sink.matching, key);
    }
    for (int64_t *want = zhashx_first (sink.matching); want; want = zhashx_next (sink.matching))
        for (int c = 0; c < ANALYTICS_MATCHING_COLUMNS; c++)
            diffs +=
                s_diff (zhashx_cursor (sink.matching), "matching", s_matching_cols[c], 0, want[c]);
done:
    PQclear (r);
    zhashx_destroy (&sink.matching);
    return diffs;
}

static const char *const s_notify_cols[ANALYTICS_NOTIFY_COLUMNS] = {"sent", "dead", "skipped"};

//  notify_daily against notify's outbox replayed (each event is one
//  delivery's end; without notify's outbox, against nothing).
//  Differences, or -1.
static int64_t
s_verify_notify (gz_db_t *db, const s_schemas_t *s, gz_org_t *org)
{
    s_sink_t sink = {NULL, NULL, org, s_matching_rows ()};
    int has = analytics_store_has_outbox (db, s->notify);
    int64_t last = 0, diffs = -1;
    PGresult *r = NULL;
    if (has < 0 || (has && s_replay (db, &sink, "notify", &last) < 0))
        goto done;
    r = analytics_store_verify_query (db, "notify");
    if (!r)
        goto done;
    diffs = 0;
    const int64_t zero[ANALYTICS_NOTIFY_COLUMNS] = {0};
    for (int i = 0; i < PQntuples (r); i++) {
        const char *key = PQgetvalue (r, i, 0);
        const int64_t *want = zhashx_lookup (sink.notify, key);
        for (int c = 0; c < ANALYTICS_NOTIFY_COLUMNS; c++)
            diffs += s_diff (key, "notify", s_notify_cols[c], atoll (PQgetvalue (r, i, 1 + c)),
                             (want ? want : zero)[c]);
        zhashx_delete (sink.notify, key);
    }
    for (int64_t *want = zhashx_first (sink.notify); want; want = zhashx_next (sink.notify))
        for (int c = 0; c < ANALYTICS_NOTIFY_COLUMNS; c++)
            diffs += s_diff (zhashx_cursor (sink.notify), "notify", s_notify_cols[c], 0, want[c]);
done:
    PQclear (r);
    zhashx_destroy (&sink.notify);
    return diffs;
}

static int
s_verify (gz_db_t *db, const s_schemas_t *s)
{
    gz_org_t *org = gz_org_load (db);
    if (!org) {
        fprintf (stderr, "gzctl: cannot load the org directory: %s\n", gz_db_error (db));
        return 1;
    }
    analytics_store_prepare_rebuild (db, s->schema, s->intake, s->routing, s->matching, s->notify);
    analytics_acc_t *acc = analytics_acc_new (NULL, NULL);
    int64_t rows = 0, diffs = -1, requests = -1;
    //  The reads are not one snapshot: verify a quiet system (every
    //  event consumed), or in-flight events show as differences.
    requests = s_recount (db, acc);
    if (requests >= 0)
        diffs = s_compare (db, acc, &rows);
    PGresult *r = diffs >= 0 ? analytics_store_verify_query (db, "facts") : NULL;
    if (r) {
        diffs += s_diff ("facts", "all", "count", atoll (PQgetvalue (r, 0, 0)), requests);
        PQclear (r);
        //  Every month the sum of its days.
        r = analytics_store_verify_query (db, "months");
    }
    if (r) {
        diffs += s_diff ("rollup_month", "all", "rows not the sum of their days",
                         atoll (PQgetvalue (r, 0, 0)), 0);
        PQclear (r);
        int64_t m = s_verify_matching (db, s, org);
        int64_t n = m < 0 ? -1 : s_verify_notify (db, s, org);
        diffs = m < 0 || n < 0 ? -1 : diffs + m + n;
    }
    analytics_acc_destroy (&acc);
    gz_org_destroy (&org);
    if (!r || diffs < 0) {
        fprintf (stderr, "gzctl: cannot verify (has analytics started once?): %s\n",
                 gz_db_error (db));
        return 1;
    }
    printf ("verified %lld rollup rows, %lld differences\n", (long long) rows, (long long) diffs);
    return diffs ? 1 : 0;
}

int
gzctl_analytics (int argc, char **argv)
{
    bool rebuild = argc == 1 && strcmp (argv[0], "rebuild") == 0;
    if (!rebuild && !(argc == 1 && strcmp (argv[0], "verify") == 0))
        return gzctl_usage ();
    gz_db_t *db = gzctl_connect (false);
    if (!db)
        return 1;
    s_schemas_t s;
    s_schemas (&s);
    int rc = rebuild ? s_rebuild (db, &s) : s_verify (db, &s);
    s_schemas_free (&s);
    gz_db_destroy (&db);
    return rc;
}
