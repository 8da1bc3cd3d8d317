/*  analytics_store_notify: the SQL of notify's rollup
    (analytics.notify_daily, sql/005_notify.sql).  */
#include "analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_add_sql =
    "INSERT INTO {schema}.notify_daily AS n (node, day, channel, sent, dead, skipped)"
    " SELECT u.node, u.day::date, u.channel, u.sent, u.dead, u.skipped"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])"
    "  AS u(node, day, channel, sent, dead, skipped)"
    " ON CONFLICT (node, day, channel) DO UPDATE SET sent = n.sent + EXCLUDED.sent,"
    "  dead = n.dead + EXCLUDED.dead, skipped = n.skipped + EXCLUDED.skipped";

//  Per channel over the period, the totals, and the daily series (every
//  day with an ended delivery, channels summed), as one JSON object.
static const char *const s_json_sql =
    "WITH d AS (SELECT day, channel, sent, dead, skipped FROM {schema}.notify_daily"
    "  WHERE node = $1 AND day BETWEEN $2::date AND $3::date)"
    " SELECT json_build_object('node', $1::text, 'from', $2::text, 'to', $3::text,"
    "  'sent', coalesce((SELECT sum(sent) FROM d), 0),"
    "  'dead', coalesce((SELECT sum(dead) FROM d), 0),"
    "  'skipped', coalesce((SELECT sum(skipped) FROM d), 0),"
    "  'channels', coalesce((SELECT json_object_agg(channel, json_build_object('sent', s,"
    "   'dead', x, 'skipped', k) ORDER BY channel) FROM (SELECT channel, sum(sent) AS s,"
    "   sum(dead) AS x, sum(skipped) AS k FROM d GROUP BY channel) c), '{}'::json),"
    "  'daily', coalesce((SELECT json_agg(json_build_object('day', to_char(day, 'YYYY-MM-DD'),"
    "   'sent', s, 'dead', x, 'skipped', k) ORDER BY day) FROM (SELECT day, sum(sent) AS s,"
    "   sum(dead) AS x, sum(skipped) AS k FROM d GROUP BY day) y), '[]'::json))::text";

void
analytics_store_notify_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_notify_add", s_add_sql, schema);
}

void
analytics_store_notify_prepare_read (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_notify_json", s_json_sql, schema);
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
analytics_store_notify_add (gz_db_t *db, zhashx_t *rows)
{
    if (zhashx_size (rows) == 0)
        return 0;
    enum { S_PARAMS = 6 };
    char *buf[S_PARAMS] = {NULL};
    size_t len[S_PARAMS] = {0}, size[S_PARAMS] = {0};
    for (int p = 0; p < S_PARAMS; p++)
        s_cat (&buf[p], &len[p], &size[p], "{");
    bool first = true;
    for (int64_t *row = zhashx_first (rows); row; row = zhashx_next (rows)) {
        //  "node|day|channel": codes and channel names hold no quote,
        //  backslash or bar (checked where the rows are made).
        const char *key = zhashx_cursor (rows);
        const char *bar1 = strchr (key, '|');
        const char *bar2 = bar1 ? strchr (bar1 + 1, '|') : NULL;
        if (!bar2)
            continue;
        char item[160];
        const char *sep = first ? "" : ",";
        snprintf (item, sizeof item, "%s\"%.*s\"", sep, (int) (bar1 - key), key);
        s_cat (&buf[0], &len[0], &size[0], item);
        snprintf (item, sizeof item, "%s\"%.*s\"", sep, (int) (bar2 - bar1 - 1), bar1 + 1);
        s_cat (&buf[1], &len[1], &size[1], item);
        snprintf (item, sizeof item, "%s\"%s\"", sep, bar2 + 1);
        s_cat (&buf[2], &len[2], &size[2], item);
        for (int c = 0; c < ANALYTICS_NOTIFY_COLUMNS; c++) {
            snprintf (item, sizeof item, "%s%lld", sep, (long long) row[c]);
            s_cat (&buf[3 + c], &len[3 + c], &size[3 + c], item);
        }
        first = false;
    }
    for (int p = 0; p < S_PARAMS; p++)
        s_cat (&buf[p], &len[p], &size[p], "}");
    PGresult *r = gz_db_exec (db, "an_notify_add", S_PARAMS, (const char *const *) buf);
    for (int p = 0; p < S_PARAMS; p++)
        free (buf[p]);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

json_t *
analytics_store_notify_json (gz_db_t *db, const char *node, const char *from, const char *to)
{
    const char *values[] = {node, from, to};
    PGresult *r = gz_db_exec (db, "an_notify_json", 3, values);
    if (!r)
        return NULL;
    json_t *j = PQntuples (r) == 1 ? json_loads (PQgetvalue (r, 0, 0), 0, NULL) : NULL;
    PQclear (r);
    return j;
}
