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
    nothing (its first answer was a refusal) is the row removed.  */
#include "gz_auth.h"
#include "gz_category.h"
#include "gz_config.h"
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
#define S_MAX_PLACE 200
#define S_MAX_KEY 100
#define S_MAX_PARTICIPANTS 1000000

static const struct {
    const char *name;
    const char *sql;
} s_sqls[] = {
    {"rm_community", "SELECT name FROM org.units WHERE code = $1 AND level = 'community'"},
    {"rm_unknown_host", "SELECT h FROM unnest ($1::text[]) WITH ORDINALITY AS x (h, n)"
                        " WHERE NOT EXISTS (SELECT 1 FROM org.staff s WHERE s.id = x.h)"
                        " ORDER BY n LIMIT 1"},
    {"rm_building", "SELECT g.parent_code FROM org.buildings b"
                    " JOIN org.units g ON g.code = b.grid_code WHERE b.code = $1"},
    {"rm_first_building", "SELECT b.code FROM org.buildings b JOIN org.units g ON g.code = "
                          "b.grid_code"
                          " WHERE g.parent_code = $1 ORDER BY b.sort_order, b.code LIMIT 1"},
    {"rm_sha", "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"},
    {"rm_claim", "INSERT INTO {schema}.meetings (id, community_code, held_on, place, participants,"
                 " hosts, recorded_by, recorded_role, client_key, body_sha256, demands_total)"
                 " VALUES ('M' || nextval('{schema}.meeting_seq'), $1, $2::date, $3, $4::int,"
                 " $5::text[], $6, $7, $8, $9, $10::int)"
                 " ON CONFLICT (community_code, client_key) DO NOTHING RETURNING id"},
    {"rm_by_key", "SELECT id, body_sha256, status FROM {schema}.meetings"
                  " WHERE community_code = $1 AND client_key = $2"},
    {"rm_demand", "INSERT INTO {schema}.meeting_demands (meeting_id, idx, request_id, service_code)"
                  " VALUES ($1, $2::int, $3, $4) ON CONFLICT DO NOTHING"},
    {"rm_recorded", "UPDATE {schema}.meetings SET status = 'recorded', updated_at = now()"
                    " WHERE id = $1 AND (SELECT count(*) FROM {schema}.meeting_demands d"
                    "  WHERE d.meeting_id = $1) = demands_total"},
    {"rm_abandon", "DELETE FROM {schema}.meetings m WHERE id = $1 AND status = 'filing'"
                   " AND NOT EXISTS (SELECT 1 FROM {schema}.meeting_demands d WHERE d.meeting_id = "
                   "m.id)"},
    {"rm_get", "SELECT m.id, m.community_code, coalesce(u.name, ''),"
               " to_char(m.held_on, 'YYYY-MM-DD'), m.place, m.participants,"
               " (SELECT coalesce(json_agg(json_build_object('staff_id', x.h, 'name',"
               "   coalesce(s.name, ''), 'role', coalesce(s.role, ''), 'unit_code',"
               "   coalesce(s.unit_code, '')) ORDER BY x.n), '[]')"
               "  FROM unnest (m.hosts) WITH ORDINALITY AS x (h, n)"
               "  LEFT JOIN org.staff s ON s.id = x.h),"
               " m.recorded_by, m.status, m.demands_total,"
               " (extract(epoch FROM m.created_at) * 1000000)::bigint"
               " FROM {schema}.meetings m LEFT JOIN org.units u ON u.code = m.community_code"
               " WHERE m.id = $1"},
    {"rm_demands",
     "SELECT d.idx, d.request_id, d.service_code, r.state, r.tier, r.description,"
     " r.building_code, r.assignee_staff, r.assignee_name, r.assignee_unit_name,"
     " r.response_due_us, r.resolve_due_us, r.merged_into, r.level"
     " FROM {schema}.meeting_demands d LEFT JOIN {schema}.requests r ON r.id = d.request_id"
     " WHERE d.meeting_id = $1 ORDER BY d.idx"},
    {"rm_list", "SELECT m.id, m.community_code, to_char(m.held_on, 'YYYY-MM-DD'), m.place,"
                " m.participants, array_to_json(m.hosts), m.status, m.demands_total,"
                " (SELECT count(*) FROM {schema}.meeting_demands d WHERE d.meeting_id = m.id),"
                " (SELECT count(*) FROM {schema}.meeting_demands d JOIN {schema}.requests r"
                "   ON r.id = d.request_id WHERE d.meeting_id = m.id"
                "   AND r.state IN ('resolved', 'rated', 'closed'))"
                " FROM {schema}.meetings m"
                " WHERE ($1::text IS NULL OR m.community_code = $1)"
                " AND ($2::date IS NULL OR m.held_on >= $2::date)"
                " AND ($3::date IS NULL OR m.held_on <= $3::date)"
                " ORDER BY m.held_on DESC, m.created_at DESC, m.id DESC LIMIT 500"},
};

void
routing_meetings_prepare (gz_db_t *db, const char *schema)
{
    gz_auth_prepare (db, schema);
    for (size_t i = 0; i < sizeof s_sqls / sizeof s_sqls[0]; i++)
        gz_db_prepare_schema (db, s_sqls[i].name, s_sqls[i].sql, schema);
}

void
routing_meetings_describe (gz_metrics_t *metrics)
{
    gz_metrics_describe (metrics, "gz_routing_meetings_total", GZ_COUNTER,
                         "Meetings (逢四说事) recorded with all their demands filed");
    gz_metrics_describe (metrics, "gz_routing_meeting_demands_total", GZ_COUNTER,
                         "Meeting demands filed with intake as requests (channel MEETING)");
}

//  ---------------------------------------------------------------- helpers

//  An answer on its way out: status 0 means "no error yet".
typedef struct {
    int status;
    const char *code;
    char message[256];
} answer_t;

static int s_fail (answer_t *a, int status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Record the first failure only. Always -1.
static int
s_fail (answer_t *a, int status, const char *code, const char *fmt, ...)
{
    if (a->status)
        return -1;
    a->status = status;
    a->code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (a->message, sizeof a->message, fmt, ap);
    va_end (ap);
    return -1;
}

typedef struct {
    bool known, operator;
    char staff_id[80];
    char community[80]; //  "" when the staff member serves no community
} caller_t;

//  The bearer token's owner. 0 (known false: none/unknown), -1 failure.
static int
s_caller (gz_db_t *db, gz_http_req_t *req, caller_t *c, bool *had_token)
{
    memset (c, 0, sizeof *c);
    const char *token = gz_http_bearer (req);
    *had_token = token != NULL;
    if (!token)
        return 0;
    gz_caller_t who;
    int rc = gz_auth_caller (db, token, &who);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        c->operator= strcmp (who.role, "operator") == 0;
        c->known = c->operator|| who.in_org;
        snprintf (c->staff_id, sizeof c->staff_id, "%s", who.staff_id);
        if (strcmp (who.unit_level, "community") == 0)
            snprintf (c->community, sizeof c->community, "%s", who.unit_code);
        else if (strcmp (who.unit_level, "grid") == 0)
            snprintf (c->community, sizeof c->community, "%s", who.unit_parent);
    }
    return 0;
}

static bool
s_may (const caller_t *c, const char *community)
{
    return c->operator|| (*c->community && strcmp (c->community, community) == 0);
}

//  Authenticate; on failure answer and return false.
static bool
s_authenticate (gz_http_req_t *req, int rc, bool had_token, const caller_t *c)
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

static json_t *
s_jstr (PGresult *r, int row, int col)
{
    return PQgetisnull (r, row, col) ? json_null () : json_string (PQgetvalue (r, row, col));
}

static json_t *
s_jtime (PGresult *r, int row, int col)
{
    if (PQgetisnull (r, row, col))
        return json_null ();
    char iso[32];
    routing_iso8601 (strtoll (PQgetvalue (r, row, col), NULL, 10), iso);
    return json_string (iso);
}

//  Text that is UTF-8 with 1..max characters once ASCII blanks are trimmed.
static bool
s_text (const char *s, size_t max)
{
    if (!s || !gz_utf8_valid (s, strlen (s)))
        return false;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    size_t chars = gz_utf8_chars (s, n);
    return chars >= 1 && chars <= max;
}

//  A calendar date "YYYY-MM-DD" (years 2000-2100).
static bool
s_date_ok (const char *s)
{
    if (!s || strlen (s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi (s), m = atoi (s + 5), d = atoi (s + 8);
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

//  Codes, ids and keys: 1..max printable ASCII characters, no quote or
//  backslash (so they sit in a text[] literal unescaped).
static bool
s_code_ok (const char *s, size_t max)
{
    size_t n = s ? strlen (s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
            return false;
    return true;
}

//  The hosts as a text[] literal. Caller frees.
static char *
s_hosts_literal (const char **hosts, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen (hosts[i]) + 3;
    char *arr = malloc (cap), *o = arr;
    assert (arr);
    *o++ = '{';
    for (size_t i = 0; i < n; i++)
        o += sprintf (o, "%s\"%s\"", i ? "," : "", hosts[i]);
    *o++ = '}';
    *o = 0;
    return arr;
}

//  ---------------------------------------------------------------- parse

typedef struct {
    const char *service_code, *description, *building, *address, *phone;
    json_t *attributes;      //  borrowed object of code -> string, or NULL
    char *resolved_building; //  building filed (given or the community's first)
} demand_t;

typedef struct {
    const char *community, *date, *place;
    int participants;
    const char **hosts;
    size_t nhosts;
    demand_t *demands;
    size_t ndemands;
    char *key; //  the caller's key or NULL
} meeting_t;

static void
s_meeting_clear (meeting_t *m)
{
    for (size_t i = 0; m->demands && i < m->ndemands; i++)
        free (m->demands[i].resolved_building);
    free (m->demands);
    free (m->hosts);
    free (m->key);
    memset (m, 0, sizeof *m);
}

//  A string member, NULL when absent/null; -1 via a when not a string.
static int
s_string (json_t *o, const char *name, const char **out, answer_t *a, const char *where)
{
    *out = NULL;
    json_t *v = json_object_get (o, name);
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_string (v))
        return s_fail (a, 400, "bad_request", "%s%s must be a string", where, name);
    *out = json_string_value (v);
    if (**out == 0)
        *out = NULL;
    return 0;
}

//  Check an attribute set against the category, like intake does, so a
//  demand intake would refuse is refused here before anything is filed.
static int
s_check_attributes (const gz_category_t *cat, json_t *attrs, size_t i, answer_t *a)
{
    const char *code;
    json_t *v;
    json_object_foreach (attrs, code, v)
    {
        if (!json_is_string (v))
            return s_fail (a, 400, "bad_request", "demands[%zu].attributes.%.64s must be a string",
                           i, code);
        const gz_attr_t *at = cat->attrs;
        while (at && at->code && strcmp (at->code, code) != 0)
            at++;
        if (!at || !at->code)
            return s_fail (a, 422, "unprocessable",
                           "demands[%zu].attributes.%.64s is not an attribute of service %s", i,
                           code, cat->code);
        const char *s = json_string_value (v);
        if (strcmp (at->datatype, "singlevaluelist") == 0) {
            const gz_attr_value_t *val = at->values;
            while (val && val->key && strcmp (val->key, s) != 0)
                val++;
            if (!val || !val->key)
                return s_fail (a, 422, "unprocessable",
                               "demands[%zu].attributes.%s has no value '%.32s'", i, at->code, s);
        }
        else if (strcmp (at->datatype, "number") == 0) {
            char *end = NULL;
            errno = 0;
            strtod (s, &end);
            if (!*s || errno || !end || *end)
                return s_fail (a, 422, "unprocessable",
                               "demands[%zu].attributes.%s must be a number", i, at->code);
        }
        else if (!gz_utf8_valid (s, strlen (s)) || gz_utf8_chars (s, strlen (s)) > 200)
            return s_fail (a, 400, "bad_request",
                           "demands[%zu].attributes.%s is not UTF-8 or too long", i, at->code);
    }
    for (const gz_attr_t *at = cat->attrs; at && at->code; at++) {
        json_t *v = attrs ? json_object_get (attrs, at->code) : NULL;
        if (at->required && (!json_is_string (v) || !*json_string_value (v)))
            return s_fail (a, 422, "unprocessable",
                           "demands[%zu].attributes.%s is required for service %s", i, at->code,
                           cat->code);
    }
    return 0;
}

//  The body's shape and every check that needs no database. 0 or -1 (a).
static int
s_parse (json_t *o, gz_http_req_t *req, meeting_t *m, answer_t *a)
{
    if (s_string (o, "community", &m->community, a, "") || s_string (o, "date", &m->date, a, "") ||
        s_string (o, "place", &m->place, a, ""))
        return -1;
    if (!m->community || !s_code_ok (m->community, 64))
        return s_fail (a, 400, "bad_request", "community (a community code) is required");
    if (!s_date_ok (m->date))
        return s_fail (a, 400, "bad_request", "date must be a calendar date YYYY-MM-DD");
    if (!s_text (m->place, S_MAX_PLACE))
        return s_fail (a, 400, "bad_request", "place is required (UTF-8, at most %d characters)",
                       S_MAX_PLACE);
    json_t *p = json_object_get (o, "participants");
    if (!json_is_integer (p) || json_integer_value (p) < 0 ||
        json_integer_value (p) > S_MAX_PARTICIPANTS)
        return s_fail (a, 400, "bad_request", "participants must be an integer from 0 to %d",
                       S_MAX_PARTICIPANTS);
    m->participants = (int) json_integer_value (p);

    json_t *hosts = json_object_get (o, "hosts");
    if (!json_is_array (hosts) || json_array_size (hosts) == 0 ||
        json_array_size (hosts) > ROUTING_MEETING_MAX_HOSTS)
        return s_fail (a, 400, "bad_request",
                       "hosts must be a list of 1 to %d staff ids (the hosting cadres)",
                       ROUTING_MEETING_MAX_HOSTS);
    m->nhosts = json_array_size (hosts);
    m->hosts = calloc (m->nhosts, sizeof *m->hosts);
    assert (m->hosts);
    for (size_t i = 0; i < m->nhosts; i++) {
        json_t *h = json_array_get (hosts, i);
        if (!json_is_string (h) || !s_code_ok (json_string_value (h), 64))
            return s_fail (a, 400, "bad_request", "hosts[%zu] must be a staff id", i);
        m->hosts[i] = json_string_value (h);
        for (size_t j = 0; j < i; j++)
            if (strcmp (m->hosts[j], m->hosts[i]) == 0)
                return s_fail (a, 400, "bad_request", "hosts[%zu] repeats %s", i, m->hosts[i]);
    }

    //  The key: body "key" or the Idempotency-Key header (they must agree).
    const char *key = NULL;
    if (s_string (o, "key", &key, a, ""))
        return -1;
    const char *hkey = gz_http_header (req, "Idempotency-Key");
    if (hkey && !*hkey)
        hkey = NULL;
    if (key && hkey && strcmp (key, hkey) != 0)
        return s_fail (a, 400, "bad_request", "key and the Idempotency-Key header differ");
    if (!key)
        key = hkey;
    if (key && !s_code_ok (key, S_MAX_KEY))
        return s_fail (a, 400, "bad_request", "key must be 1 to %d printable ASCII characters",
                       S_MAX_KEY);
    m->key = key ? strdup (key) : NULL;

    json_t *demands = json_object_get (o, "demands");
    if (demands && !json_is_null (demands) && !json_is_array (demands))
        return s_fail (a, 400, "bad_request", "demands must be a list");
    if (json_array_size (demands) > ROUTING_MEETING_MAX_DEMANDS)
        return s_fail (a, 400, "bad_request", "at most %d demands per meeting",
                       ROUTING_MEETING_MAX_DEMANDS);
    m->ndemands = json_array_size (demands);
    m->demands = calloc (m->ndemands + 1, sizeof *m->demands);
    assert (m->demands);
    for (size_t i = 0; i < m->ndemands; i++) {
        json_t *d = json_array_get (demands, i);
        demand_t *dm = &m->demands[i];
        char where[32];
        snprintf (where, sizeof where, "demands[%zu].", i);
        if (!json_is_object (d))
            return s_fail (a, 400, "bad_request", "demands[%zu] must be an object", i);
        if (s_string (d, "service_code", &dm->service_code, a, where) ||
            s_string (d, "description", &dm->description, a, where) ||
            s_string (d, "building", &dm->building, a, where) ||
            s_string (d, "address", &dm->address, a, where) ||
            s_string (d, "phone", &dm->phone, a, where))
            return -1;
        if (!dm->service_code)
            return s_fail (a, 400, "bad_request", "demands[%zu].service_code is required", i);
        const gz_category_t *cat = gz_category_find (dm->service_code);
        if (!cat)
            return s_fail (a, 422, "unprocessable",
                           "demands[%zu].service_code is not a known service", i);
        if (!s_text (dm->description, 4000))
            return s_fail (a, 400, "bad_request",
                           "demands[%zu].description is required (UTF-8, at most 4000 "
                           "characters)",
                           i);
        if (dm->building && !s_code_ok (dm->building, 64))
            return s_fail (a, 400, "bad_request", "demands[%zu].building is not a building code",
                           i);
        if (dm->address && !s_text (dm->address, 500))
            return s_fail (a, 400, "bad_request",
                           "demands[%zu].address is not UTF-8 or longer than 500 characters", i);
        if (dm->phone && !gz_phone_valid (dm->phone))
            return s_fail (a, 400, "bad_request", "demands[%zu].phone is not a valid phone number",
                           i);
        json_t *attrs = json_object_get (d, "attributes");
        if (attrs && !json_is_null (attrs) && !json_is_object (attrs))
            return s_fail (a, 400, "bad_request", "demands[%zu].attributes must be an object", i);
        dm->attributes = json_is_object (attrs) ? attrs : NULL;
        if (s_check_attributes (cat, dm->attributes, i, a))
            return -1;
    }
    return 0;
}

//  Checks against the org directory. 0, or -1 with a (422, 403, 503).
static int
s_check_refs (gz_db_t *db, const caller_t *c, meeting_t *m, answer_t *a)
{
    const char *v[1] = {m->community};
    PGresult *r = gz_db_exec (db, "rm_community", 1, v);
    if (!r)
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    bool known = PQntuples (r) == 1;
    PQclear (r);
    if (!known)
        return s_fail (a, 422, "unprocessable", "community %s is not a community", m->community);
    if (!s_may (c, m->community))
        return s_fail (a, 403, "forbidden", "you may record meetings of your own community only");

    char *arr = s_hosts_literal (m->hosts, m->nhosts);
    const char *vh[1] = {arr};
    r = gz_db_exec (db, "rm_unknown_host", 1, vh);
    free (arr);
    if (!r)
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    if (PQntuples (r) > 0) {
        s_fail (a, 422, "unprocessable", "host %.64s is not a staff member", PQgetvalue (r, 0, 0));
        PQclear (r);
        return -1;
    }
    PQclear (r);

    char *first = NULL;
    bool failed = false;
    for (size_t i = 0; i < m->ndemands && !failed; i++) {
        demand_t *d = &m->demands[i];
        if (d->building) {
            const char *vb[1] = {d->building};
            r = gz_db_exec (db, "rm_building", 1, vb);
            if (!r) {
                failed = true;
                break;
            }
            bool ours = PQntuples (r) == 1 && strcmp (PQgetvalue (r, 0, 0), m->community) == 0;
            bool exists = PQntuples (r) == 1;
            PQclear (r);
            if (!ours) {
                free (first);
                return s_fail (
                    a, 422, "unprocessable", "demands[%zu].building %s %s", i, d->building,
                    exists ? "is not in the meeting's community" : "is not a known building");
            }
            d->resolved_building = strdup (d->building);
            continue;
        }
        if (!first) {
            r = gz_db_exec (db, "rm_first_building", 1, v);
            if (!r) {
                failed = true;
                break;
            }
            if (PQntuples (r) == 1)
                first = strdup (PQgetvalue (r, 0, 0));
            PQclear (r);
            if (!first && !d->address)
                return s_fail (a, 422, "unprocessable",
                               "demands[%zu] needs a building or an address: community %s has "
                               "no buildings",
                               i, m->community);
        }
        d->resolved_building = first ? strdup (first) : NULL;
    }
    free (first);
    if (failed)
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    return 0;
}

//  ---------------------------------------------------------------- claim

enum { CLAIM_NEW, CLAIM_FILING, CLAIM_RECORDED };

//  Insert the meeting row or find it by key. CLAIM_* with id[] set, or -1
//  with a (409 key reused for another meeting, 503).
static int
s_claim (gz_db_t *db, const caller_t *c, const meeting_t *m, json_t *body, char id[32], answer_t *a)
{
    //  The canonical body (keys sorted, no blanks; "key" left out).
    json_t *copy = json_deep_copy (body);
    json_object_del (copy, "key");
    char *canon = json_dumps (copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (copy);
    assert (canon);
    const char *vs[1] = {canon};
    PGresult *r = gz_db_exec (db, "rm_sha", 1, vs);
    free (canon);
    if (!r)
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    char sha[80], key[S_MAX_KEY + 8];
    snprintf (sha, sizeof sha, "%s", PQgetvalue (r, 0, 0));
    PQclear (r);
    if (m->key)
        snprintf (key, sizeof key, "key:%s", m->key);
    else
        snprintf (key, sizeof key, "body:%.64s", sha);

    char *arr = s_hosts_literal (m->hosts, m->nhosts);
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
    r = gz_db_exec (db, "rm_claim", 10, v);
    free (arr);
    if (!r)
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    if (PQntuples (r) == 1) {
        snprintf (id, 32, "%s", PQgetvalue (r, 0, 0));
        PQclear (r);
        return CLAIM_NEW;
    }
    PQclear (r);
    const char *vk[2] = {m->community, key};
    r = gz_db_exec (db, "rm_by_key", 2, vk);
    if (!r || PQntuples (r) != 1) {
        PQclear (r);
        return s_fail (a, 503, "unavailable", "database unavailable; retry");
    }
    snprintf (id, 32, "%s", PQgetvalue (r, 0, 0));
    bool same = strcmp (PQgetvalue (r, 0, 1), sha) == 0;
    bool recorded = strcmp (PQgetvalue (r, 0, 2), "recorded") == 0;
    PQclear (r);
    if (!same)
        return s_fail (a, 409, "conflict", "key %.64s was used for another meeting (%s)",
                       m->key ? m->key : "", id);
    return recorded ? CLAIM_RECORDED : CLAIM_FILING;
}

//  ---------------------------------------------------------------- filing

//  The credential routing files with: GZ_ROUTING_INTAKE_KEY, else the demo
//  API key. Borrowed; NULL when neither is set.
static const char *
s_intake_key (void)
{
    const char *k = gz_config_str ("GZ_ROUTING_INTAKE_KEY", NULL);
    return k ? k : gz_config_str ("GZ_DEMO_API_KEY", NULL);
}

//  File the demands with intake, in order, until one fails. ids[i] gets
//  intake's request id of each accepted demand (caller frees). Returns
//  how many were accepted; *refused is true when intake definitely
//  refused the first one that failed (so nothing of it was filed).
static size_t
s_file (routing_t *ctx, const meeting_t *m, const char *meeting_id, char **ids, bool *refused,
        answer_t *a)
{
    *refused = false;
    char *endpoint = gz_config_endpoint ("GZ_INTAKE_BUS", GZ_PORT_INTAKE_BUS);
    int timeout = (int) gz_config_int ("GZ_ROUTING_INTAKE_TIMEOUT_MS", 5000, 50, 120000);
    const char *cred = s_intake_key ();
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, timeout);
    zsock_set_sndtimeo (sock, timeout);
    size_t done = 0;
    if (zsock_connect (sock, "%s", endpoint) < 0) {
        gz_error (SVC, "msg=\"cannot connect to intake's bus\" endpoint=%s", endpoint);
        s_fail (a, 503, "unavailable", "cannot reach intake; retry");
        *refused = true;
    }
    for (; !a->status && done < m->ndemands; done++) {
        if (atomic_load (&ctx->closing)) {
            s_fail (a, 503, "unavailable", "shutting down; retry with the same body");
            break;
        }
        const demand_t *d = &m->demands[done];
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
            s_fail (a, 503, "unavailable", "cannot reach intake; retry with the same body");
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
            s_fail (a, 503, "unavailable",
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
                s_fail (a, 503, "unavailable", "intake is busy (demands[%zu]): %.120s; retry", done,
                        reply->message ? reply->message : "");
            else if (e == GONGZHI__V1__ERROR_CODE__UNAUTHORIZED)
                s_fail (a, 503, "unavailable",
                        "intake refused routing's credential (GZ_ROUTING_INTAKE_KEY)");
            else
                s_fail (a, 422, "unprocessable", "intake refused demands[%zu]: %.160s", done,
                        reply->message ? reply->message : "");
        }
        gongzhi__v1__submit_reply__free_unpacked (reply, NULL);
        if (a->status)
            break;
    }
    zsock_destroy (&sock);
    free (endpoint);
    return done;
}

//  Record the accepted demands and, when all are in, the meeting as
//  recorded; remove the row when intake accepted none of them. 0 or -1.
static int
s_record (gz_db_t *db, const meeting_t *m, const char *id, char **ids, size_t accepted,
          bool nothing_filed)
{
    if (gz_db_begin (db))
        return -1;
    char idx[24];
    for (size_t i = 0; i < accepted; i++) {
        snprintf (idx, sizeof idx, "%zu", i);
        const char *v[4] = {id, idx, ids[i], m->demands[i].service_code};
        PGresult *r = gz_db_exec (db, "rm_demand", 4, v);
        if (!r) {
            gz_db_rollback (db);
            return -1;
        }
        PQclear (r);
    }
    const char *v1[1] = {id};
    //  rm_recorded changes nothing until every demand is in.
    PGresult *r = gz_db_exec (db, nothing_filed ? "rm_abandon" : "rm_recorded", 1, v1);
    if (!r) {
        gz_db_rollback (db);
        return -1;
    }
    PQclear (r);
    return gz_db_commit (db);
}

//  ---------------------------------------------------------------- handlers

static void
s_reply (gz_http_req_t *req, const answer_t *a, const char *id, char **ids, size_t n)
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
    caller_t c;
    bool had_token;
    int rc = s_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    size_t len = 0;
    const char *text = gz_http_body (req, &len);
    json_t *body = text && len ? json_loadb (text, len, 0, NULL) : NULL;
    answer_t a = {0};
    meeting_t m = {0};
    char id[32] = "";
    int claim = -1;
    if (!json_is_object (body))
        s_fail (&a, 400, "bad_request", "the body is not a JSON object");
    else if (s_parse (body, req, &m, &a) == 0 && s_check_refs (db, &c, &m, &a) == 0) {
        if (m.ndemands && !s_intake_key ())
            s_fail (&a, 503, "unavailable",
                    "no credential to file with intake: set GZ_ROUTING_INTAKE_KEY");
        else
            claim = s_claim (db, &c, &m, body, id, &a);
    }
    //  The pool connection goes back while intake files: filing may take
    //  a while and the pool is small.
    gz_dbpool_put (ctx->pool, db);
    if (claim < 0) {
        gz_http_reply_error (req, a.status, a.code, a.message);
        s_meeting_clear (&m);
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
        const char *v[1] = {id};
        PGresult *r = gz_db_exec (db, "rm_demands", 1, v);
        gz_dbpool_put (ctx->pool, db);
        if (!r)
            s_fail (&a, 503, "unavailable", "database unavailable; retry");
        for (int i = 0; r && i < PQntuples (r); i++) {
            size_t at = (size_t) atoi (PQgetvalue (r, i, 0));
            if (at < m.ndemands && !ids[at])
                ids[at] = strdup (PQgetvalue (r, i, 1));
        }
        PQclear (r);
        if (!a.status)
            a.status = 200;
    }
    else {
        if (m.ndemands)
            accepted = s_file (ctx, &m, id, ids, &refused, &a);
        db = gz_dbpool_get (ctx->pool);
        bool nothing = claim == CLAIM_NEW && accepted == 0 && refused;
        if (s_record (db, &m, id, ids, accepted, nothing)) {
            gz_error (SVC, "msg=\"cannot record a meeting's demands\" meeting=%s error=\"%s\"", id,
                      gz_db_error (db));
            if (!a.status || a.status < 400) {
                a.status = 0;
                s_fail (&a, 503, "unavailable", "database unavailable; retry with the same body");
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
    s_meeting_clear (&m);
    json_decref (body);
}

static json_t *
s_demand_view (PGresult *r, int i)
{
    json_t *o = json_object ();
    const gz_category_t *cat = gz_category_find (PQgetvalue (r, i, 2));
    json_object_set_new (o, "index", json_integer (atoi (PQgetvalue (r, i, 0))));
    json_object_set_new (o, "request_id", s_jstr (r, i, 1));
    json_object_set_new (o, "category", s_jstr (r, i, 2));
    json_object_set_new (o, "category_name", json_string (cat ? cat->name : ""));
    //  Not routed yet: intake has it, routing has not seen the event.
    json_object_set_new (o, "state",
                         PQgetisnull (r, i, 3) ? json_string ("submitted") : s_jstr (r, i, 3));
    json_object_set_new (o, "tier",
                         PQgetisnull (r, i, 4)
                             ? json_null ()
                             : json_string (routing_tier_name (atoi (PQgetvalue (r, i, 4)))));
    json_object_set_new (o, "description", s_jstr (r, i, 5));
    json_object_set_new (o, "building_code", s_jstr (r, i, 6));
    json_object_set_new (o, "assignee",
                         PQgetisnull (r, i, 3)
                             ? json_null ()
                             : json_pack ("{s:o,s:s,s:s}", "staff_id", s_jstr (r, i, 7), "name",
                                          PQgetvalue (r, i, 8), "unit_name", PQgetvalue (r, i, 9)));
    json_object_set_new (
        o, "deadlines",
        json_pack ("{s:o,s:o}", "response", s_jtime (r, i, 10), "resolve", s_jtime (r, i, 11)));
    json_object_set_new (o, "merged_into", s_jstr (r, i, 12));
    json_object_set_new (o, "escalation_level",
                         PQgetisnull (r, i, 13) ? json_integer (0)
                                                : json_integer (atoi (PQgetvalue (r, i, 13))));
    return o;
}

static void
s_get_one (routing_t *ctx, gz_http_req_t *req, const char *id)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    caller_t c;
    bool had_token;
    int rc = s_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    const char *v[1] = {id};
    PGresult *r = gz_db_exec (db, "rm_get", 1, v);
    PGresult *d = r && PQntuples (r) == 1 ? gz_db_exec (db, "rm_demands", 1, v) : NULL;
    gz_dbpool_put (ctx->pool, db);
    if (!r || (PQntuples (r) == 1 && !d))
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (PQntuples (r) != 1)
        gz_http_reply_error (req, 404, "not_found", "no such meeting");
    else if (!s_may (&c, PQgetvalue (r, 0, 1)))
        gz_http_reply_error (req, 403, "forbidden", "a meeting of another community");
    else {
        json_t *o = json_object ();
        json_object_set_new (o, "id", s_jstr (r, 0, 0));
        json_object_set_new (o, "community_code", s_jstr (r, 0, 1));
        json_object_set_new (o, "community_name", s_jstr (r, 0, 2));
        json_object_set_new (o, "date", s_jstr (r, 0, 3));
        json_object_set_new (o, "place", s_jstr (r, 0, 4));
        json_object_set_new (o, "participants", json_integer (atoi (PQgetvalue (r, 0, 5))));
        json_t *hosts = json_loads (PQgetvalue (r, 0, 6), 0, NULL);
        json_object_set_new (o, "hosts", hosts ? hosts : json_array ());
        json_object_set_new (o, "recorded_by", s_jstr (r, 0, 7));
        json_object_set_new (o, "status", s_jstr (r, 0, 8));
        json_object_set_new (o, "demands_total", json_integer (atoi (PQgetvalue (r, 0, 9))));
        json_object_set_new (o, "created_at", s_jtime (r, 0, 10));
        json_t *list = json_array ();
        for (int i = 0; i < PQntuples (d); i++)
            json_array_append_new (list, s_demand_view (d, i));
        json_object_set_new (o, "demands", list);
        gz_http_reply_json (req, 200, o);
    }
    PQclear (r);
    PQclear (d);
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
    caller_t c;
    bool had_token;
    int rc = s_caller (db, req, &c, &had_token);
    if (!s_authenticate (req, rc, had_token, &c)) {
        gz_dbpool_put (ctx->pool, db);
        return;
    }
    if (!community && !c.operator)
        community = *c.community ? c.community : NULL;
    PGresult *r = NULL;
    if ((from && !s_date_ok (from)) || (to && !s_date_ok (to)))
        gz_http_reply_error (req, 400, "bad_request", "from and to must be dates YYYY-MM-DD");
    else if (community && !s_code_ok (community, 64))
        gz_http_reply_error (req, 400, "bad_request", "community is not a community code");
    else if (!c.operator&& (!community || !s_may (&c, community)))
        gz_http_reply_error (req, 403, "forbidden", "meetings of your own community only");
    else {
        const char *v[3] = {community, from, to};
        r = gz_db_exec (db, "rm_list", 3, v);
        if (!r)
            gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    }
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return;
    json_t *items = json_array ();
    for (int i = 0; i < PQntuples (r); i++) {
        json_t *o = json_object ();
        json_object_set_new (o, "id", s_jstr (r, i, 0));
        json_object_set_new (o, "community_code", s_jstr (r, i, 1));
        json_object_set_new (o, "date", s_jstr (r, i, 2));
        json_object_set_new (o, "place", s_jstr (r, i, 3));
        json_object_set_new (o, "participants", json_integer (atoi (PQgetvalue (r, i, 4))));
        json_t *hosts = json_loads (PQgetvalue (r, i, 5), 0, NULL);
        json_object_set_new (o, "hosts", hosts ? hosts : json_array ());
        json_object_set_new (o, "status", s_jstr (r, i, 6));
        json_object_set_new (o, "demands_total", json_integer (atoi (PQgetvalue (r, i, 7))));
        json_object_set_new (o, "demands_filed", json_integer (atoi (PQgetvalue (r, i, 8))));
        json_object_set_new (o, "demands_resolved", json_integer (atoi (PQgetvalue (r, i, 9))));
        json_array_append_new (items, o);
    }
    PQclear (r);
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
    else if (!s_code_ok (id, 32) || strchr (id, '/'))
        gz_http_reply_error (req, 404, "not_found", "no such meeting");
    else
        s_get_one (ctx, req, id);
    return true;
}
