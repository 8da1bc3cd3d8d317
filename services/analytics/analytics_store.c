/*  analytics_store: every SQL statement of the analytics service. The
    consumer's (the actor's connection, inside the subscriber's
    transaction): a fact by id, and the batch's facts, rollup deltas and
    volume deltas, each one multi-row statement over unnest()ed arrays.
    The reads (the pool): sums, trends, volumes, rankings, hot spots.  */
#include "analytics.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COUNTS 13 //  the scalar members of analytics_counts_t, in order

static const char *const s_count_cols[S_COUNTS] = {
    "requests", "reached",   "reached_on_time",  "resolved", "resolved_on_time",
    "rated",    "satisfied", "escalated",        "reopened", "merged",
    "invalid",  "disputes",  "disputes_resolved"};

#define S_FACT_COLS                                                                                \
    "request_id, category, channel, tier, building, grid, community, subdistrict, district,"       \
    " department, submitted_us, response_due_us, resolve_due_us, reached_us, resolved_us,"         \
    " resolved, merged, invalid, satisfied, reopens, escalations"

static const char *const s_fact_get_sql =
    "SELECT " S_FACT_COLS " FROM {schema}.facts WHERE request_id = $1";

static const char *const s_facts_put_sql =
    "INSERT INTO {schema}.facts AS f (" S_FACT_COLS ", day)"
    " SELECT u.*, CASE WHEN u.submitted_us > 0 THEN (to_timestamp(u.submitted_us / 1e6)"
    "   AT TIME ZONE 'Asia/Shanghai')::date END"
    " FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::text[], $6::text[],"
    "  $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[],"
    "  $13::bigint[], $14::bigint[], $15::bigint[], $16::boolean[], $17::boolean[],"
    "  $18::boolean[], $19::smallint[], $20::integer[], $21::integer[]) AS u (" S_FACT_COLS ")"
    " ON CONFLICT (request_id) DO UPDATE SET category = EXCLUDED.category,"
    "  channel = EXCLUDED.channel, tier = EXCLUDED.tier, building = EXCLUDED.building,"
    "  grid = EXCLUDED.grid, community = EXCLUDED.community, subdistrict = EXCLUDED.subdistrict,"
    "  district = EXCLUDED.district, department = EXCLUDED.department,"
    "  submitted_us = EXCLUDED.submitted_us, day = EXCLUDED.day,"
    "  response_due_us = EXCLUDED.response_due_us, resolve_due_us = EXCLUDED.resolve_due_us,"
    "  reached_us = EXCLUDED.reached_us, resolved_us = EXCLUDED.resolved_us,"
    "  resolved = EXCLUDED.resolved, merged = EXCLUDED.merged, invalid = EXCLUDED.invalid,"
    "  satisfied = EXCLUDED.satisfied, reopens = EXCLUDED.reopens,"
    "  escalations = EXCLUDED.escalations";

static const char *const s_volumes_add_sql =
    "INSERT INTO {schema}.volumes AS v (node, day, dim, value, n)"
    " SELECT u.node, u.day::date, u.dim, u.value, u.n"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
    "  AS u(node, day, dim, value, n)"
    " ON CONFLICT (node, day, dim, value) DO UPDATE SET n = v.n + EXCLUDED.n";

//  Requests not reached whose deadline has passed, filed on the recent
//  days (from $5 on: older days are counted from the rollup). A node's
//  code is in one column only (codes are unique across levels): one
//  count per column, each an index-only range of that column's partial
//  index (migration 004), so a grid reads its own few rows and never the
//  whole area's.
#define S_OVERDUE_AT(col, now, recent)                                                             \
    "(SELECT count(*) FROM {schema}.facts WHERE " col " = $1 AND reached_us = 0"                   \
    " AND NOT merged AND NOT invalid AND submitted_us > 0 AND response_due_us > 0"                 \
    " AND response_due_us < " now "::bigint AND day BETWEEN greatest ($2::date, " recent           \
    "::date) AND $3::date)"
#define S_OVERDUE_BY(col) S_OVERDUE_AT (col, "$4", "$5")
static const char *const s_overdue_sql =
    "SELECT " S_OVERDUE_BY ("grid") " + " S_OVERDUE_BY ("community") " + " S_OVERDUE_BY (
        "subdistrict") " + " S_OVERDUE_BY ("district") " + " S_OVERDUE_BY ("department");
//  For a node whose level is known, the rates read in one statement
//  (an_rates_<level>): the sums (s_sums_sql) with that level's overdue
//  count as one more column ($8 the time, $4 the first recent day). One
//  index range, and a plan that costs nothing to make (the five-column
//  statement is planned anew for every call, about a millisecond at 10 M
//  requests); one round trip instead of two.
#define S_RATES_OVERDUE(col) ", " S_OVERDUE_AT (col, "$8", "$4")
static const struct {
    const char *level, *name, *overdue;
} s_rates_by[] = {
    {"grid", "an_rates_grid", S_RATES_OVERDUE ("grid")},
    {"community", "an_rates_community", S_RATES_OVERDUE ("community")},
    {"subdistrict", "an_rates_subdistrict", S_RATES_OVERDUE ("subdistrict")},
    {"district", "an_rates_district", S_RATES_OVERDUE ("district")},
    {"department", "an_rates_department", S_RATES_OVERDUE ("department")},
};

static const char *const s_trend_sql =
    "SELECT coalesce(json_agg(json_build_object('day', day, 'requests', requests,"
    " 'reached', reached, 'reached_on_time', reached_on_time, 'resolved', resolved,"
    " 'rated', rated, 'satisfied', satisfied) ORDER BY day), '[]')::text"
    " FROM {schema}.rollup WHERE node = $1 AND day BETWEEN $2::date AND $3::date";

static const char *const s_volumes_sql =
    "SELECT coalesce(json_object_agg(dim, m), '{}')::text FROM (SELECT dim,"
    " json_object_agg(value, n ORDER BY value) AS m FROM (SELECT dim, value, sum(n) AS n"
    "  FROM {schema}.volumes WHERE node = $1 AND day BETWEEN $2::date AND $3::date"
    "  GROUP BY dim, value HAVING sum(n) <> 0) x GROUP BY dim) y";

static const char *const s_hotspots_sql =
    "SELECT coalesce(json_agg(json_build_object('building', building, 'category', category,"
    " 'requests', n) ORDER BY n DESC, building, category), '[]')::text FROM ("
    " SELECT building, category, count(*) AS n FROM {schema}.facts"
    " WHERE day BETWEEN $2::date AND $3::date AND NOT merged AND NOT invalid"
    " AND submitted_us > 0 AND $1 IN (grid, community, subdistrict, district, department)"
    " GROUP BY building, category HAVING count(*) >= $4::integer"
    " ORDER BY n DESC LIMIT 200) x";

//  ARRAY[r.col[1] + EXCLUDED.col[1], ...]: a histogram delta added.
static void
s_hist_add (char *out, size_t size, const char *col)
{
    size_t n = (size_t) snprintf (out, size, "ARRAY[");
    for (int b = 1; b <= ANALYTICS_HIST; b++)
        n += (size_t) snprintf (out + n, size - n,
                                "%scoalesce(r.%s[%d], 0) + coalesce(EXCLUDED.%s[%d], 0)",
                                b > 1 ? ", " : "", col, b, col, b);
    snprintf (out + n, size - n, "]");
}

//  ARRAY[sum(u.col[1]), ...]::bigint[]: a group's histograms summed.
static void
s_hist_sum (char *out, size_t size, const char *col)
{
    size_t n = (size_t) snprintf (out, size, "ARRAY[");
    for (int b = 1; b <= ANALYTICS_HIST; b++)
        n += (size_t) snprintf (out + n, size - n, "%scoalesce(sum(u.%s[%d]), 0)",
                                b > 1 ? ", " : "", col, b);
    snprintf (out + n, size - n, "]::bigint[]");
}

//  The rollup's add and sums statements, from the column list.
static char *
s_rollup_add_sql (void)
{
    char cols[512] = "", vals[512] = "", sets[2048] = "", types[512] = "";
    for (int i = 0; i < 13; i++) {
        size_t n = strlen (cols);
        snprintf (cols + n, sizeof cols - n, ", %s", s_count_cols[i]);
        n = strlen (types);
        snprintf (types + n, sizeof types - n, ", $%d::bigint[]", i + 3);
        n = strlen (vals);
        snprintf (vals + n, sizeof vals - n, ", u.c%d", i);
        n = strlen (sets);
        snprintf (sets + n, sizeof sets - n, "%s = r.%s + EXCLUDED.%s, ", s_count_cols[i],
                  s_count_cols[i], s_count_cols[i]);
    }
    char *sql = malloc (32768);
    assert (sql);
    char names[256] = "", vals_u[256] = "";
    for (int i = 0; i < 13; i++) {
        size_t n = strlen (names);
        snprintf (names + n, sizeof names - n, ", c%d", i);
        n = strlen (vals_u);
        snprintf (vals_u + n, sizeof vals_u - n, ", u.c%d", i);
    }
    char sums[1024] = "";
    for (int i = 0; i < 13; i++) {
        size_t n = strlen (sums);
        snprintf (sums + n, sizeof sums - n, ", sum(u.c%d)", i);
    }
    //  The histograms added element by element as plain expressions:
    //  array_add (a SQL function, planned and started per call) took
    //  about a fifth of the consumer's backend time.
    char add_c[2048], add_r[2048], sum_c[1024], sum_r[1024];
    s_hist_add (add_c, sizeof add_c, "contact_hist");
    s_hist_add (add_r, sizeof add_r, "resolve_hist");
    s_hist_sum (sum_c, sizeof sum_c, "ch");
    s_hist_sum (sum_r, sizeof sum_r, "rh");
    //  The days, and the months (rollup_month: one row per node and month,
    //  the sum of its days) in the same statement; a batch's rows of one
    //  month are summed first (ON CONFLICT touches a row once).
    int used = snprintf (
        sql, 32768,
        "WITH u AS (SELECT u.node, u.day%s, u.ch::bigint[] AS ch, u.rh::bigint[] AS rh"
        "  FROM unnest($1::text[], $2::text[]%s, $16::text[],"
        "  $17::text[]) AS u(node, day%s, ch, rh)),"
        " d AS (INSERT INTO {schema}.rollup AS r (node, day%s, contact_hist, resolve_hist)"
        "  SELECT u.node, u.day::date%s, u.ch, u.rh FROM u"
        "  ON CONFLICT (node, day) DO UPDATE SET %s"
        "  contact_hist = %s, resolve_hist = %s)"
        " INSERT INTO {schema}.rollup_month AS r (node, day%s, contact_hist, resolve_hist)"
        " SELECT u.node, date_trunc('month', u.day::date)::date%s, %s, %s"
        " FROM u GROUP BY 1, 2"
        " ON CONFLICT (node, day) DO UPDATE SET %s"
        " contact_hist = %s, resolve_hist = %s",
        vals_u, types, names, cols, vals, sets, add_c, add_r, cols, sums, sum_c, sum_r, sets, add_c,
        add_r);
    assert (used > 0 && used < 32768);
    (void) used;
    return sql;
}

//  The node's rows: its days before the months read whole and after them
//  (two index ranges, so a long period never walks the days in between),
//  and those months' rows ($5..$7, by their first day; none when $5 is
//  after $6, and then the first range is the whole period): the 13
//  counters, both histograms bucket by bucket, and the cohort requests
//  not reached on days before $4 (the days whose every response deadline
//  has passed: see analytics_store_sums); then extra, more columns
//  ("" for none).
static char *
s_sums_sql (const char *extra)
{
    char sums[4096] = "", cols[1024] = "";
    for (int i = 0; i < 13; i++) {
        size_t n = strlen (sums);
        snprintf (sums + n, sizeof sums - n, "%scoalesce(sum(%s), 0)", i ? ", " : "",
                  s_count_cols[i]);
        n = strlen (cols);
        snprintf (cols + n, sizeof cols - n, "%s, ", s_count_cols[i]);
    }
    for (int h = 0; h < 2; h++)
        for (int b = 1; b <= ANALYTICS_HIST; b++) {
            size_t n = strlen (sums);
            snprintf (sums + n, sizeof sums - n, ", coalesce(sum(%s[%d]), 0)",
                      h ? "resolve_hist" : "contact_hist", b);
        }
    size_t n = strlen (sums);
    snprintf (sums + n, sizeof sums - n,
              ", coalesce(sum(requests - reached) FILTER (WHERE day < $4::date), 0)%s", extra);
    assert (strlen (sums) + 1 < sizeof sums);
    char *sql = malloc (12288);
    assert (sql);
    int used =
        snprintf (sql, 12288,
                  "SELECT %s FROM ("
                  " SELECT %sday, contact_hist, resolve_hist FROM {schema}.rollup WHERE node = $1"
                  "  AND day BETWEEN $2::date AND least ($3::date, $5::date - 1)"
                  " UNION ALL"
                  " SELECT %sday, contact_hist, resolve_hist FROM {schema}.rollup WHERE node = $1"
                  "  AND day BETWEEN greatest ($2::date, $6::date + 1) AND $3::date"
                  "  AND $5::date <= $6::date"
                  " UNION ALL"
                  " SELECT %sday, contact_hist, resolve_hist FROM {schema}.rollup_month"
                  "  WHERE node = $1 AND day BETWEEN $5::date AND $7::date) t",
                  sums, cols, cols, cols);
    assert (used > 0 && used < 12288);
    (void) used;
    return sql;
}

static int
s_days_in (int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

//  The whole months of [from, to] that also end before recent: the first
//  one's first day (first), the last one's first (last_start) and last
//  day (last_end). None: first after last_end.
static void
s_whole_months (const char *from, const char *to, const char *recent, char first[11],
                char last_start[11], char last_end[11])
{
    int fy, fm, fd, ty, tm, td, ry, rm, rd;
    sscanf (from, "%d-%d-%d", &fy, &fm, &fd);
    sscanf (to, "%d-%d-%d", &ty, &tm, &td);
    sscanf (recent, "%d-%d-%d", &ry, &rm, &rd);
    int a = fy * 12 + fm - 1 + (fd > 1); //  months since year 0
    int b = ty * 12 + tm - 1 - (td < s_days_in (ty, tm));
    int r = ry * 12 + rm - 2; //  the month before recent's
    if (b > r)
        b = r;
    if (a > b) {
        snprintf (first, 11, "3000-01-01");
        snprintf (last_start, 11, "1000-01-01");
        snprintf (last_end, 11, "1000-01-01");
        return;
    }
    //  Years are 2000..2100 (analytics_period_parse): 10 characters each.
    unsigned ua = (unsigned) a, ub = (unsigned) b;
    unsigned last_day = (unsigned) s_days_in ((int) (ub / 12), (int) (ub % 12) + 1);
    snprintf (first, 11, "%04u-%02u-01", ua / 12 % 10000u, ua % 12u + 1u);
    snprintf (last_start, 11, "%04u-%02u-01", ub / 12 % 10000u, ub % 12u + 1u);
    snprintf (last_end, 11, "%04u-%02u-%02u", ub / 12 % 10000u, ub % 12u + 1u, last_day % 32u);
}

void
analytics_store_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_fact_get", s_fact_get_sql, schema);
    gz_db_prepare_schema (db, "an_facts_put", s_facts_put_sql, schema);
    char *sql = s_rollup_add_sql ();
    gz_db_prepare_schema (db, "an_rollup_add", sql, schema);
    free (sql);
    gz_db_prepare_schema (db, "an_volumes_add", s_volumes_add_sql, schema);
}

static const char *const s_node_sql = "SELECT level FROM org.units WHERE code = $1";
//  The units one rung down the ladder (not the departments under the
//  district: they are not its parts), or with $2 true the departments.
static const char *const s_children_sql =
    "SELECT coalesce(json_agg(code ORDER BY sort_order, code), '[]')::text FROM org.units"
    " WHERE parent_code = $1 AND (level = 'department') = $2::boolean";

//  A unit with its path from the district down (itself last) and its
//  children, for the dashboard's labels and drill-down; $1 NULL: the
//  district. Zero rows when there is no such unit.
static const char *const s_unit_sql =
    "WITH RECURSIVE me AS ("
    "  SELECT code, name, level FROM org.units"
    "  WHERE code = coalesce($1::text,"
    "    (SELECT code FROM org.units WHERE level = 'district' ORDER BY sort_order, code LIMIT 1))),"
    " up (code, name, level, parent_code, depth) AS ("
    "  SELECT u.code, u.name, u.level, u.parent_code, 0 FROM org.units u JOIN me USING (code)"
    "  UNION ALL"
    "  SELECT p.code, p.name, p.level, p.parent_code, up.depth + 1"
    "  FROM org.units p JOIN up ON p.code = up.parent_code WHERE up.depth < 8)"
    " SELECT json_build_object('node', me.code, 'name', me.name, 'level', me.level,"
    "  'parent', (SELECT json_build_object('node', code, 'name', name, 'level', level)"
    "             FROM up WHERE depth = 1),"
    "  'path', (SELECT json_agg(json_build_object('node', code, 'name', name, 'level', level)"
    "           ORDER BY depth DESC) FROM up),"
    "  'children', (SELECT coalesce(json_agg(json_build_object('node', c.code, 'name', c.name,"
    "               'level', c.level) ORDER BY c.sort_order, c.code), '[]')"
    "               FROM org.units c WHERE c.parent_code = me.code))::text"
    " FROM me";

void
analytics_store_prepare_read (gz_db_t *db, const char *schema)
{
    gz_db_prepare (db, "an_unit", s_unit_sql);
    gz_db_prepare (db, "an_node", s_node_sql);
    gz_db_prepare (db, "an_children", s_children_sql);
    char *sql = s_sums_sql ("");
    gz_db_prepare_schema (db, "an_sums", sql, schema);
    free (sql);
    gz_db_prepare_schema (db, "an_overdue", s_overdue_sql, schema);
    for (size_t i = 0; i < sizeof s_rates_by / sizeof s_rates_by[0]; i++) {
        sql = s_sums_sql (s_rates_by[i].overdue);
        gz_db_prepare_schema (db, s_rates_by[i].name, sql, schema);
        free (sql);
    }
    gz_db_prepare_schema (db, "an_trend", s_trend_sql, schema);
    gz_db_prepare_schema (db, "an_volumes", s_volumes_sql, schema);
    gz_db_prepare_schema (db, "an_hotspots", s_hotspots_sql, schema);
}

//  ---------------------------------------------------------------- arrays

//  A PostgreSQL array literal under construction.
typedef struct {
    char *s;
    size_t len, size;
} s_arr_t;

static void
s_put (s_arr_t *a, const char *text, size_t n)
{
    if (a->len + n + 2 > a->size) {
        a->size = (a->len + n + 2) * 2 + 64;
        a->s = realloc (a->s, a->size);
        assert (a->s);
    }
    memcpy (a->s + a->len, text, n);
    a->len += n;
    a->s[a->len] = 0;
}

static void
s_sep (s_arr_t *a)
{
    s_put (a, a->len ? "," : "{", 1);
}

//  A quoted element ("\" and "\\" escaped).
static void
s_text (s_arr_t *a, const char *v)
{
    s_sep (a);
    s_put (a, "\"", 1);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            s_put (a, "\\", 1);
        s_put (a, p, 1);
    }
    s_put (a, "\"", 1);
}

static void
s_int (s_arr_t *a, int64_t v)
{
    char b[32];
    s_sep (a);
    s_put (a, b, (size_t) snprintf (b, sizeof b, "%lld", (long long) v));
}

static void
s_bool (s_arr_t *a, bool v)
{
    s_sep (a);
    s_put (a, v ? "t" : "f", 1);
}

static const char *
s_end (s_arr_t *a)
{
    if (!a->len)
        s_put (a, "{", 1);
    s_put (a, "}", 1);
    return a->s;
}

//  Run name with n array parameters, then free them. 0 or -1.
static int
s_run_arrays (gz_db_t *db, const char *name, s_arr_t *arrs, int n)
{
    const char *values[32];
    for (int i = 0; i < n; i++)
        values[i] = s_end (&arrs[i]);
    PGresult *r = gz_db_exec (db, name, n, values);
    for (int i = 0; i < n; i++)
        free (arrs[i].s);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

//  ---------------------------------------------------------------- the consumer's

int
analytics_store_fact_get (gz_db_t *db, const char *id, analytics_fact_t *f)
{
    analytics_fact_init (f, id);
    const char *values[] = {id};
    PGresult *r = gz_db_exec (db, "an_fact_get", 1, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found) {
        snprintf (f->category, sizeof f->category, "%s", PQgetvalue (r, 0, 1));
        f->channel = atoi (PQgetvalue (r, 0, 2));
        f->tier = atoi (PQgetvalue (r, 0, 3));
        char *codes[6] = {f->building,    f->grid,     f->community,
                          f->subdistrict, f->district, f->department};
        for (int i = 0; i < 6; i++)
            snprintf (codes[i], ANALYTICS_CODE_MAX, "%s", PQgetvalue (r, 0, 4 + i));
        f->submitted_us = atoll (PQgetvalue (r, 0, 10));
        f->response_due_us = atoll (PQgetvalue (r, 0, 11));
        f->resolve_due_us = atoll (PQgetvalue (r, 0, 12));
        f->reached_us = atoll (PQgetvalue (r, 0, 13));
        f->resolved_us = atoll (PQgetvalue (r, 0, 14));
        f->resolved = PQgetvalue (r, 0, 15)[0] == 't';
        f->merged = PQgetvalue (r, 0, 16)[0] == 't';
        f->invalid = PQgetvalue (r, 0, 17)[0] == 't';
        f->satisfied = atoi (PQgetvalue (r, 0, 18));
        f->reopens = atoi (PQgetvalue (r, 0, 19));
        f->escalations = atoi (PQgetvalue (r, 0, 20));
    }
    PQclear (r);
    return found;
}

int
analytics_store_facts_put (gz_db_t *db, analytics_fact_t *const *facts, size_t n)
{
    if (n == 0)
        return 0;
    s_arr_t a[21];
    memset (a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        const analytics_fact_t *f = facts[i];
        s_text (&a[0], f->id);
        s_text (&a[1], f->category);
        s_int (&a[2], f->channel);
        s_int (&a[3], f->tier);
        const char *codes[6] = {f->building,    f->grid,     f->community,
                                f->subdistrict, f->district, f->department};
        for (int c = 0; c < 6; c++)
            s_text (&a[4 + c], codes[c]);
        int64_t times[5] = {f->submitted_us, f->response_due_us, f->resolve_due_us, f->reached_us,
                            f->resolved_us};
        for (int t = 0; t < 5; t++)
            s_int (&a[10 + t], times[t]);
        s_bool (&a[15], f->resolved);
        s_bool (&a[16], f->merged);
        s_bool (&a[17], f->invalid);
        s_int (&a[18], f->satisfied);
        s_int (&a[19], f->reopens);
        s_int (&a[20], f->escalations);
    }
    return s_run_arrays (db, "an_facts_put", a, 21);
}

//  A histogram as an array literal's element text: "{1,0,...}".
static void
s_hist (s_arr_t *a, const int64_t *h)
{
    char buf[ANALYTICS_HIST * 24 + 4];
    size_t used = (size_t) snprintf (buf, sizeof buf, "{");
    for (int i = 0; i < ANALYTICS_HIST; i++)
        used += (size_t) snprintf (buf + used, sizeof buf - used, "%s%lld", i ? "," : "",
                                   (long long) h[i]);
    snprintf (buf + used, sizeof buf - used, "}");
    s_text (a, buf);
}

int
analytics_store_rollup_add (gz_db_t *db, zhashx_t *deltas)
{
    if (zhashx_size (deltas) == 0)
        return 0;
    s_arr_t a[17];
    memset (a, 0, sizeof a);
    for (analytics_counts_t *c = zhashx_first (deltas); c; c = zhashx_next (deltas)) {
        if (analytics_counts_zero (c))
            continue;
        const char *key = zhashx_cursor (deltas);
        const char *bar = strchr (key, '|');
        char node[ANALYTICS_CODE_MAX];
        snprintf (node, sizeof node, "%.*s", (int) (bar - key), key);
        s_text (&a[0], node);
        s_text (&a[1], bar + 1);
        const int64_t *v = (const int64_t *) c;
        for (int i = 0; i < 13; i++)
            s_int (&a[2 + i], v[i]);
        s_hist (&a[15], c->contact_hist);
        s_hist (&a[16], c->resolve_hist);
    }
    if (!a[0].len) {
        for (int i = 0; i < 17; i++)
            free (a[i].s);
        return 0;
    }
    return s_run_arrays (db, "an_rollup_add", a, 17);
}

int
analytics_store_volumes_add (gz_db_t *db, zhashx_t *volumes)
{
    s_arr_t a[5];
    memset (a, 0, sizeof a);
    for (int64_t *n = zhashx_first (volumes); n; n = zhashx_next (volumes)) {
        if (!*n)
            continue;
        char key[256];
        snprintf (key, sizeof key, "%s", (const char *) zhashx_cursor (volumes));
        char *save = NULL;
        const char *parts[4] = {NULL, NULL, NULL, NULL};
        parts[0] = strtok_r (key, "|", &save);
        for (int i = 1; i < 4 && parts[i - 1]; i++)
            parts[i] = strtok_r (NULL, i == 3 ? "" : "|", &save);
        for (int i = 0; i < 4; i++)
            s_text (&a[i], parts[i] ? parts[i] : "");
        s_int (&a[4], *n);
    }
    if (!a[0].len) {
        for (int i = 0; i < 5; i++)
            free (a[i].s);
        return 0;
    }
    return s_run_arrays (db, "an_volumes_add", a, 5);
}

int
analytics_store_write (gz_db_t *db, analytics_acc_t *acc)
{
    size_t n = 0;
    analytics_fact_t **dirty = analytics_acc_dirty (acc, &n);
    int rc = 0;
    for (size_t at = 0; rc == 0 && at < n; at += 5000)
        rc = analytics_store_facts_put (db, dirty + at, n - at < 5000 ? n - at : 5000);
    free (dirty);
    if (rc == 0)
        rc = analytics_store_rollup_add (db, analytics_acc_deltas (acc));
    if (rc == 0)
        rc = analytics_store_volumes_add (db, analytics_acc_volumes (acc));
    return rc;
}

//  ---------------------------------------------------------------- reads

int
analytics_store_sums (gz_db_t *db, const char *node, const char *level, const char *from,
                      const char *to, analytics_counts_t *c, int64_t now_us,
                      int64_t *overdue_unreached)
{
    memset (c, 0, sizeof *c);
    //  A response deadline is never more than ANALYTICS_RESPONSE_MAX_DAYS
    //  after the filing: on the days before the recent ones every request
    //  not reached is overdue, and the rollup knows how many (requests -
    //  reached); only the recent days need the facts' deadlines.
    char recent[11];
    analytics_day (now_us - (int64_t) ANALYTICS_RESPONSE_MAX_DAYS * 86400000000LL, recent);
    char first[11], last_start[11], last_end[11];
    s_whole_months (from, to, recent, first, last_start, last_end);
    char now[32];
    snprintf (now, sizeof now, "%lld", (long long) now_us);
    const char *values[] = {node, from, to, recent, first, last_end, last_start, now};
    const char *stmt = "an_sums";
    for (size_t i = 0; level && i < sizeof s_rates_by / sizeof s_rates_by[0]; i++)
        if (strcmp (level, s_rates_by[i].level) == 0)
            stmt = s_rates_by[i].name;
    bool one = strcmp (stmt, "an_sums") != 0; //  the overdue count is its last column
    PGresult *r = gz_db_exec (db, stmt, one ? 8 : 7, values);
    if (!r)
        return -1;
    int64_t *v = (int64_t *) c;
    for (int i = 0; i < 13; i++)
        v[i] = atoll (PQgetvalue (r, 0, i));
    for (int b = 0; b < ANALYTICS_HIST; b++) {
        c->contact_hist[b] = atoll (PQgetvalue (r, 0, 13 + b));
        c->resolve_hist[b] = atoll (PQgetvalue (r, 0, 13 + ANALYTICS_HIST + b));
    }
    int64_t old_unreached = atoll (PQgetvalue (r, 0, 13 + 2 * ANALYTICS_HIST));
    int64_t recent_unreached = one ? atoll (PQgetvalue (r, 0, 14 + 2 * ANALYTICS_HIST)) : 0;
    PQclear (r);
    if (!one) {
        const char *ov[] = {node, from, to, now, recent};
        r = gz_db_exec (db, "an_overdue", 5, ov);
        if (!r)
            return -1;
        recent_unreached = atoll (PQgetvalue (r, 0, 0));
        PQclear (r);
    }
    *overdue_unreached = old_unreached + recent_unreached;
    return 0;
}

//  A statement answering one JSON text.
static json_t *
s_json (gz_db_t *db, const char *name, int n, const char *const *values)
{
    PGresult *r = gz_db_exec (db, name, n, values);
    if (!r)
        return NULL;
    json_t *j = json_loads (PQgetvalue (r, 0, 0), 0, NULL);
    PQclear (r);
    return j;
}

json_t *
analytics_store_trend (gz_db_t *db, const char *node, const char *from, const char *to)
{
    const char *values[] = {node, from, to};
    return s_json (db, "an_trend", 3, values);
}

json_t *
analytics_store_volumes (gz_db_t *db, const char *node, const char *from, const char *to)
{
    const char *values[] = {node, from, to};
    return s_json (db, "an_volumes", 3, values);
}

json_t *
analytics_store_hotspots (gz_db_t *db, const char *node, const char *from, const char *to, int min)
{
    char m[16];
    snprintf (m, sizeof m, "%d", min);
    const char *values[] = {node, from, to, m};
    return s_json (db, "an_hotspots", 4, values);
}

int
analytics_store_node (gz_db_t *db, const char *code, char *level, size_t size)
{
    const char *values[] = {code};
    PGresult *r = gz_db_exec (db, "an_node", 1, values);
    if (!r)
        return -1;
    int found = PQntuples (r) > 0;
    if (found)
        snprintf (level, size, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    return found;
}

json_t *
analytics_store_children (gz_db_t *db, const char *code, bool departments)
{
    const char *values[] = {code, departments ? "true" : "false"};
    return s_json (db, "an_children", 2, values);
}

int
analytics_store_unit_json (gz_db_t *db, const char *code, json_t **unit_p)
{
    *unit_p = NULL;
    const char *values[] = {code};
    PGresult *r = gz_db_exec (db, "an_unit", 1, values);
    if (!r)
        return -1;
    if (PQntuples (r) > 0)
        *unit_p = json_loads (PQgetvalue (r, 0, 0), 0, NULL);
    int rc = PQntuples (r) == 0 ? 0 : *unit_p ? 1 : -1;
    PQclear (r);
    return rc;
}
