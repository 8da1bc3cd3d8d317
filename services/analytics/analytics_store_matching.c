/*  analytics_store_matching: the SQL of matching's rollup
    (analytics.matching_daily, sql/002_matching.sql).  */
#include "analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_add_sql =
    "INSERT INTO {schema}.matching_daily AS m (node, day, needs, offers, accepted, declined,"
    " expired, services, minutes, points_earned, points_redeemed)"
    " SELECT u.node, u.day::date, u.c0, u.c1, u.c2, u.c3, u.c4, u.c5, u.c6, u.c7, u.c8"
    " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],"
    "  $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])"
    "  AS u(node, day, c0, c1, c2, c3, c4, c5, c6, c7, c8)"
    " ON CONFLICT (node, day) DO UPDATE SET needs = m.needs + EXCLUDED.needs,"
    "  offers = m.offers + EXCLUDED.offers, accepted = m.accepted + EXCLUDED.accepted,"
    "  declined = m.declined + EXCLUDED.declined, expired = m.expired + EXCLUDED.expired,"
    "  services = m.services + EXCLUDED.services, minutes = m.minutes + EXCLUDED.minutes,"
    "  points_earned = m.points_earned + EXCLUDED.points_earned,"
    "  points_redeemed = m.points_redeemed + EXCLUDED.points_redeemed";

static const char *const s_sums_sql =
    "SELECT coalesce(sum(needs), 0), coalesce(sum(offers), 0), coalesce(sum(accepted), 0),"
    " coalesce(sum(declined), 0), coalesce(sum(expired), 0), coalesce(sum(services), 0),"
    " coalesce(sum(minutes), 0), coalesce(sum(points_earned), 0),"
    " coalesce(sum(points_redeemed), 0) FROM {schema}.matching_daily"
    " WHERE node = $1 AND day BETWEEN $2::date AND $3::date";

void
analytics_store_matching_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_matching_add", s_add_sql, schema);
}

void
analytics_store_matching_prepare_read (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_matching_sums", s_sums_sql, schema);
}

//  text appended to a growing buffer (an array literal).
static void
s_cat (char **buf, size_t *len, size_t *size, const char *text)
{
    size_t n = strlen (text);
    if (*len + n + 2 > *size) {
        *size = (*len + n + 2) * 2 + 64;
        *buf = realloc (*buf, *size);
        if (!*buf)
            abort ();
    }
    memcpy (*buf + *len, text, n + 1);
    *len += n;
}

int
analytics_store_matching_add (gz_db_t *db, zhashx_t *rows, int columns)
{
    if (zhashx_size (rows) == 0)
        return 0;
    enum { S_PARAMS = 11 };
    char *buf[S_PARAMS] = {NULL};
    size_t len[S_PARAMS] = {0}, size[S_PARAMS] = {0};
    for (int p = 0; p < S_PARAMS; p++)
        s_cat (&buf[p], &len[p], &size[p], "{");
    bool first = true;
    for (int64_t *row = zhashx_first (rows); row; row = zhashx_next (rows)) {
        const char *key = zhashx_cursor (rows);
        const char *bar = strchr (key, '|');
        char item[160];
        snprintf (item, sizeof item, "%s\"%.*s\"", first ? "" : ",", (int) (bar - key), key);
        s_cat (&buf[0], &len[0], &size[0], item);
        snprintf (item, sizeof item, "%s\"%s\"", first ? "" : ",", bar + 1);
        s_cat (&buf[1], &len[1], &size[1], item);
        for (int c = 0; c < columns && c < S_PARAMS - 2; c++) {
            snprintf (item, sizeof item, "%s%lld", first ? "" : ",", (long long) row[c]);
            s_cat (&buf[2 + c], &len[2 + c], &size[2 + c], item);
        }
        first = false;
    }
    for (int p = 0; p < S_PARAMS; p++)
        s_cat (&buf[p], &len[p], &size[p], "}");
    PGresult *r = gz_db_exec (db, "an_matching_add", S_PARAMS, (const char *const *) buf);
    for (int p = 0; p < S_PARAMS; p++)
        free (buf[p]);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

int
analytics_store_matching_sums (gz_db_t *db, const char *node, const char *from, const char *to,
                               int64_t *sums, int columns)
{
    const char *values[] = {node, from, to};
    PGresult *r = gz_db_exec (db, "an_matching_sums", 3, values);
    if (!r)
        return -1;
    for (int c = 0; c < columns; c++)
        sums[c] = atoll (PQgetvalue (r, 0, c));
    PQclear (r);
    return 0;
}
