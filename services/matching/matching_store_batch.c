/*  matching_store_batch: the SQL of a batch (load the open needs and the
    active volunteers, write the offers) and of offer expiry.  */
#include "gz_log.h"
#include "matching.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

//  Open needs, locked for this batch; a replica's batch skips them. The
//  household's last confirmed volunteer is the need's continuity.
static const char *const s_needs_sql =
    "SELECT n.id, n.lat, n.lon, n.grid_code, n.community_code, n.subdistrict_code,"
    " n.building_code, n.skill, n.urgent, n.windows::text,"
    " coalesce(n.previous_volunteer, (SELECT s.volunteer_id FROM {schema}.services s"
    "   JOIN {schema}.needs m ON m.id = s.need_id WHERE m.household = n.household"
    "   AND s.state = 'confirmed' ORDER BY s.confirmed_at DESC LIMIT 1), ''),"
    " coalesce((SELECT string_agg(DISTINCT o.volunteer_id, ',') FROM {schema}.offers o"
    "   WHERE o.need_id = n.id AND o.state IN ('declined', 'expired')), ''),"
    " coalesce((extract(epoch FROM n.window_from) * 1e6)::bigint, 0),"
    " coalesce((extract(epoch FROM n.window_to) * 1e6)::bigint, 0), n.weekly"
    " FROM {schema}.needs n WHERE n.state = 'open'"
    " AND (n.recurring OR n.window_to > now())"
    " ORDER BY n.urgent DESC, n.id LIMIT $1::integer FOR UPDATE OF n SKIP LOCKED";

//  Capacity: the weekly cap less the offers out or accepted in 7 days.
static const char *const s_volunteers_sql =
    "SELECT v.id, v.name, v.lat, v.lon, v.grid_code, v.skills, v.windows::text,"
    " v.max_per_week - coalesce(w.n, 0), coalesce(m.n, 0), coalesce(r.x10, 0)"
    " FROM {schema}.volunteers v"
    " LEFT JOIN (SELECT volunteer_id, count(*) AS n FROM {schema}.offers"
    "   WHERE state IN ('offered', 'accepted')"
    "   AND created_at > to_timestamp($1::float8 / 1e6) - interval '7 days'"
    "   GROUP BY volunteer_id) w ON w.volunteer_id = v.id"
    " LEFT JOIN (SELECT volunteer_id, count(*) AS n FROM {schema}.offers"
    "   WHERE state = 'accepted'"
    "   AND created_at > to_timestamp($1::float8 / 1e6) - interval '28 days'"
    "   GROUP BY volunteer_id) m ON m.volunteer_id = v.id"
    " LEFT JOIN (SELECT volunteer_id, round(avg(rating) * 10)::integer AS x10"
    "   FROM {schema}.services WHERE rating IS NOT NULL GROUP BY volunteer_id) r"
    "   ON r.volunteer_id = v.id"
    " WHERE v.active AND v.max_per_week > coalesce(w.n, 0) ORDER BY v.id";

static const char *const s_batch_sql =
    "INSERT INTO {schema}.batches (needs, volunteers, pairs, matched, cost, solve_ms)"
    " VALUES ($1::integer, $2::integer, $3::bigint, $4::integer, $5::bigint, $6::float8)"
    " RETURNING id";

static const char *const s_offers_sql =
    "INSERT INTO {schema}.offers (need_id, volunteer_id, batch_id, cost, expires_at)"
    " SELECT u.n, u.v, $3::bigint, u.c, to_timestamp($5::float8 / 1e6)"
    " FROM unnest($1::bigint[], $2::text[], $4::bigint[]) WITH ORDINALITY AS u(n, v, c, k)"
    " ORDER BY u.k RETURNING id";

static const char *const s_secrets_sql = "INSERT INTO {schema}.offer_secrets (offer_id, secret)"
                                         " SELECT * FROM unnest($1::bigint[], $2::text[])";

static const char *const s_offered_sql =
    "UPDATE {schema}.needs SET state = 'offered', updated_at = now()"
    " WHERE id = ANY ($1::bigint[]) AND state = 'open'";

static const char *const s_expire_sql =
    "WITH e AS (UPDATE {schema}.offers o SET state = 'expired', answered_by = 'system',"
    "   answered_at = to_timestamp($1::float8 / 1e6)"
    "   WHERE o.id IN (SELECT id FROM {schema}.offers WHERE state = 'offered'"
    "     AND expires_at <= to_timestamp($1::float8 / 1e6) ORDER BY expires_at"
    "     LIMIT $2::integer FOR UPDATE SKIP LOCKED)"
    "   RETURNING o.id, o.need_id, o.volunteer_id),"
    " n AS (UPDATE {schema}.needs SET state = 'open', updated_at = now() FROM e"
    "   WHERE needs.id = e.need_id AND needs.state = 'offered' RETURNING needs.id)"
    " SELECT e.id, e.need_id, e.volunteer_id, m.skill, m.urgent, m.building_code,"
    "  m.grid_code, m.community_code, m.subdistrict_code, (SELECT count(*) FROM n)"
    " FROM e JOIN {schema}.needs m ON m.id = e.need_id ORDER BY e.id";

void
matching_store_batch_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "mt_batch_needs", s_needs_sql, schema);
    gz_db_prepare_schema (db, "mt_batch_vols", s_volunteers_sql, schema);
    gz_db_prepare_schema (db, "mt_batch_insert", s_batch_sql, schema);
    gz_db_prepare_schema (db, "mt_batch_offers", s_offers_sql, schema);
    gz_db_prepare_schema (db, "mt_batch_secrets", s_secrets_sql, schema);
    gz_db_prepare_schema (db, "mt_batch_offered", s_offered_sql, schema);
    gz_db_prepare_schema (db, "mt_expire", s_expire_sql, schema);
}

//  "{"[540,720)","[1980,2160)"}" into windows.
static size_t
s_windows (const char *text, mt_window_t *out, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (n < max && (p = strchr (p, '[')) != NULL) {
        int a, b;
        if (sscanf (p, "[%d,%d)", &a, &b) == 2 && a < b)
            out[n++] = (mt_window_t){a, b};
        p++;
    }
    return n;
}

long
matching_store_batch_needs (gz_db_t *db, long max, matching_batch_need_t **out)
{
    char lim[32];
    snprintf (lim, sizeof lim, "%ld", max);
    const char *values[] = {lim};
    *out = NULL;
    PGresult *r = gz_db_exec (db, "mt_batch_needs", 1, values);
    if (!r)
        return -1;
    long n = PQntuples (r);
    matching_batch_need_t *needs = calloc ((size_t) n + 1, sizeof *needs);
    assert (needs);
    for (long i = 0; i < n; i++) {
        matching_batch_need_t *d = &needs[i];
        d->id = atoll (PQgetvalue (r, (int) i, 0));
        d->lat = atof (PQgetvalue (r, (int) i, 1));
        d->lon = atof (PQgetvalue (r, (int) i, 2));
        matching_store_copy (d->grid, sizeof d->grid, r, (int) i, 3);
        matching_store_copy (d->community, sizeof d->community, r, (int) i, 4);
        matching_store_copy (d->subdistrict, sizeof d->subdistrict, r, (int) i, 5);
        matching_store_copy (d->building, sizeof d->building, r, (int) i, 6);
        d->skill = atoi (PQgetvalue (r, (int) i, 7));
        d->urgent = strcmp (PQgetvalue (r, (int) i, 8), "t") == 0;
        d->n_windows = s_windows (PQgetvalue (r, (int) i, 9), d->windows, MT_WINDOWS_MAX);
        matching_store_copy (d->previous, sizeof d->previous, r, (int) i, 10);
        d->excluded = strdup (PQgetvalue (r, (int) i, 11));
        d->from_us = atoll (PQgetvalue (r, (int) i, 12));
        d->to_us = atoll (PQgetvalue (r, (int) i, 13));
        matching_store_copy (d->weekly, sizeof d->weekly, r, (int) i, 14);
    }
    PQclear (r);
    *out = needs;
    return n;
}

void
matching_store_batch_needs_free (matching_batch_need_t *needs, long n)
{
    for (long i = 0; needs && i < n; i++)
        free (needs[i].excluded);
    free (needs);
}

long
matching_store_batch_volunteers (gz_db_t *db, int64_t now_us, matching_batch_vol_t **out)
{
    char now[32];
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {now};
    *out = NULL;
    PGresult *r = gz_db_exec (db, "mt_batch_vols", 1, values);
    if (!r)
        return -1;
    long n = PQntuples (r);
    matching_batch_vol_t *vols = calloc ((size_t) n + 1, sizeof *vols);
    assert (vols);
    for (long i = 0; i < n; i++) {
        matching_batch_vol_t *v = &vols[i];
        int row = (int) i;
        matching_store_copy (v->id, sizeof v->id, r, row, 0);
        matching_store_copy (v->name, sizeof v->name, r, row, 1);
        v->has_location = !PQgetisnull (r, row, 2);
        v->lat = atof (PQgetvalue (r, row, 2));
        v->lon = atof (PQgetvalue (r, row, 3));
        matching_store_copy (v->grid, sizeof v->grid, r, row, 4);
        v->skills = (uint32_t) strtoul (PQgetvalue (r, row, 5), NULL, 10);
        v->n_windows = s_windows (PQgetvalue (r, row, 6), v->windows, MT_WINDOWS_MAX);
        v->capacity = atoi (PQgetvalue (r, row, 7));
        v->recent_load = atoi (PQgetvalue (r, row, 8));
        v->rating_x10 = atoi (PQgetvalue (r, row, 9));
    }
    PQclear (r);
    *out = vols;
    return n;
}

int64_t
matching_store_batch_insert (gz_db_t *db, long needs, long vols, long pairs, long matched,
                             int64_t cost, double solve_ms)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    snprintf (a, sizeof a, "%ld", needs);
    snprintf (b, sizeof b, "%ld", vols);
    snprintf (c, sizeof c, "%ld", pairs);
    snprintf (d, sizeof d, "%ld", matched);
    snprintf (e, sizeof e, "%lld", (long long) cost);
    snprintf (f, sizeof f, "%.3f", solve_ms);
    const char *values[] = {a, b, c, d, e, f};
    PGresult *r = gz_db_exec (db, "mt_batch_insert", 6, values);
    if (!r)
        return -1;
    int64_t id = atoll (PQgetvalue (r, 0, 0));
    PQclear (r);
    return id;
}

//  A growing string for array literals.
typedef struct {
    char *s;
    size_t len, size;
} s_buf_t;

static void
s_add (s_buf_t *b, const char *text)
{
    size_t n = strlen (text);
    if (b->len + n + 1 > b->size) {
        b->size = (b->len + n + 1) * 2;
        b->s = realloc (b->s, b->size);
        assert (b->s);
    }
    memcpy (b->s + b->len, text, n + 1);
    b->len += n;
}

int
matching_store_batch_offers (gz_db_t *db, int64_t batch_id, int64_t expires_us,
                             matching_batch_offer_t *offers, size_t n)
{
    s_buf_t needs = {0}, vols = {0}, costs = {0}, ids = {0}, secrets = {0};
    char item[128];
    s_add (&needs, "{");
    s_add (&vols, "{");
    s_add (&costs, "{");
    for (size_t i = 0; i < n; i++) {
        snprintf (item, sizeof item, "%s%lld", i ? "," : "", (long long) offers[i].need_id);
        s_add (&needs, item);
        snprintf (item, sizeof item, "%s\"%s\"", i ? "," : "", offers[i].volunteer_id);
        s_add (&vols, item);
        snprintf (item, sizeof item, "%s%lld", i ? "," : "", (long long) offers[i].cost);
        s_add (&costs, item);
    }
    s_add (&needs, "}");
    s_add (&vols, "}");
    s_add (&costs, "}");
    char batch[32], exp[32];
    snprintf (batch, sizeof batch, "%lld", (long long) batch_id);
    snprintf (exp, sizeof exp, "%lld", (long long) expires_us);
    const char *values[] = {needs.s, vols.s, batch, costs.s, exp};
    PGresult *r = gz_db_exec (db, "mt_batch_offers", 5, values);
    int rc = -1;
    if (r && (size_t) PQntuples (r) == n) {
        s_add (&ids, "{");
        s_add (&secrets, "{");
        for (size_t i = 0; i < n; i++) {
            offers[i].offer_id = atoll (PQgetvalue (r, (int) i, 0));
            snprintf (item, sizeof item, "%s%lld", i ? "," : "", (long long) offers[i].offer_id);
            s_add (&ids, item);
            snprintf (item, sizeof item, "%s%s", i ? "," : "", offers[i].secret);
            s_add (&secrets, item);
        }
        s_add (&ids, "}");
        s_add (&secrets, "}");
        const char *sv[] = {ids.s, secrets.s};
        PGresult *r2 = gz_db_exec (db, "mt_batch_secrets", 2, sv);
        const char *nv[] = {needs.s};
        PGresult *r3 = r2 ? gz_db_exec (db, "mt_batch_offered", 1, nv) : NULL;
        rc = r2 && r3 ? 0 : -1;
        PQclear (r2);
        PQclear (r3);
    }
    PQclear (r);
    free (needs.s);
    free (vols.s);
    free (costs.s);
    free (ids.s);
    free (secrets.s);
    return rc;
}

int
matching_store_expire (gz_db_t *db, int64_t now_us, matching_row_t *rows, int max)
{
    char now[32], lim[16];
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    snprintf (lim, sizeof lim, "%d", max);
    const char *values[] = {now, lim};
    PGresult *r = gz_db_exec (db, "mt_expire", 2, values);
    if (!r)
        return -1;
    int n = PQntuples (r);
    for (int i = 0; i < n && i < max; i++) {
        matching_row_t *o = &rows[i];
        memset (o, 0, sizeof *o);
        o->offer_id = atoll (PQgetvalue (r, i, 0));
        o->need_id = atoll (PQgetvalue (r, i, 1));
        matching_store_copy (o->volunteer_id, sizeof o->volunteer_id, r, i, 2);
        o->skill = atoi (PQgetvalue (r, i, 3));
        o->urgent = strcmp (PQgetvalue (r, i, 4), "t") == 0;
        matching_store_copy (o->building, sizeof o->building, r, i, 5);
        matching_store_copy (o->grid, sizeof o->grid, r, i, 6);
        matching_store_copy (o->community, sizeof o->community, r, i, 7);
        matching_store_copy (o->subdistrict, sizeof o->subdistrict, r, i, 8);
        snprintf (o->offer_state, sizeof o->offer_state, "expired");
    }
    PQclear (r);
    return n;
}
