/*  intake_store: the only file of intake that speaks SQL (statement
    texts, prepare, exec, reading results); the routes and handlers get
    plain C data or, for Open311, the jansson trees its renderer writes.

    The commit path inserts a batch of validated submissions (and their
    contacts) in one statement inside the committer's open transaction,
    resolves duplicates by idempotency key, and stages each new request's
    RequestSubmitted event on the stream's publisher. Routing's updates
    are applied on the actor's connection. The reads (Open311's requests
    and updates feed, the resident's status page) run on a connection
    borrowed from the read pool for one call.  */
#include "intake.h"
#include "gz_bus.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/intake.pb-c.h"

//  Where a batch goes: the committer's connection and publisher on it.
typedef struct {
    gz_db_t *db;
    gz_bus_pub_t *pub;
} s_writer_t;

//  The fingerprint of an idempotency key (migration 006) is SHA-256 over
//  the submission's canonical form (intake_fingerprint.c), computed here
//  by PostgreSQL's sha256() rather than in C: the database already hashes
//  the status-link secret in this statement, and no hash library is
//  linked into the services (OpenSSL would be a new build and image
//  dependency for one call). The form travels as one more parameter, and
//  only for submissions with a key; the duplicate it is compared with is
//  the row this same statement found, so the comparison needs no round
//  trip of its own. The last column says the key was used for a different
//  request: a stored fingerprint that differs. A row without one (filed
//  before 006) is a plain duplicate, as before.
#define S_FINGERPRINT(form) "sha256(convert_to(" form ", 'UTF8'))"

static const char *s_insert_sql =
    "WITH ins AS ("
    " INSERT INTO %1$s.requests (channel, service_code, description, building_code,"
    "  grid_code, community_code, subdistrict_code, lat, lon, address, media_url,"
    "  attributes, meeting_id, external_id, client_id, idempotency_key, secret, fingerprint,"
    "  reporter_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::float8, $9::float8, $10, $11, $12::jsonb,"
    "  $13, $14, $15, $16, $17, " S_FINGERPRINT (
        "$21::text") ", $22)"
                     " ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL "
                     "DO NOTHING"
                     " RETURNING id, secret, submitted_at),"
                     " c AS (INSERT INTO %1$s.contacts (request_id, phone, name, email)"
                     "  SELECT id, $18::text, $19::text, $20::text FROM ins"
                     "  WHERE coalesce($18::text, $19::text, $20::text) IS NOT NULL)"
                     " SELECT id, secret, (extract(epoch FROM submitted_at) * 1000000)::bigint, "
                     "true,"
                     "  encode(sha256(convert_to(secret, 'UTF8')), 'hex'), false FROM ins"
                     " UNION ALL"
                     " SELECT id, secret, (extract(epoch FROM submitted_at) * 1000000)::bigint, "
                     "false, NULL,"
                     "  (fingerprint <> " S_FINGERPRINT (
                         "$21::text") ") IS TRUE"
                                      " FROM %1$s.requests WHERE client_id = $15 AND "
                                      "idempotency_key = $16"
                                      " AND NOT EXISTS (SELECT 1 FROM ins)";

//  The whole batch in one statement: each column travels as one text[]
//  parameter, unnest() WITH ORDINALITY turns them back into rows, and the
//  result rows carry ord so they map back to submissions. A new row is
//  joined back by its secret (random, so unique). A duplicate key inside
//  the batch is skipped by ON CONFLICT and resolved from ins (the
//  statement's snapshot cannot see rows it inserted itself), so with two
//  submissions of one key and different content the earlier in the batch
//  is filed and the later one gets the mismatch; a duplicate
//  of an earlier request is resolved from the table. A submission with no
//  result row lost a race with another writer's uncommitted insert of the
//  same key: s_insert asks again for it alone.
static const char *s_insert_batch_sql =
    "WITH input AS ("
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    "  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
    "  $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],"
    "  $19::text[], $20::text[], $21::text[], $22::text[]) WITH ORDINALITY AS u (channel,"
    "  service_code, description, building_code, grid_code, community_code, subdistrict_code,"
    "  lat, lon, address, media_url, attributes, meeting_id, external_id, client_id,"
    "  idempotency_key, secret, phone, name, email, canonical, reporter_id, ord)),"
    " ins AS ("
    " INSERT INTO %1$s.requests (channel, service_code, description, building_code,"
    "  grid_code, community_code, subdistrict_code, lat, lon, address, media_url,"
    "  attributes, meeting_id, external_id, client_id, idempotency_key, secret, fingerprint,"
    "  reporter_id)"
    " SELECT channel, service_code, description, building_code, grid_code, community_code,"
    "  subdistrict_code, lat::float8, lon::float8, address, media_url, attributes::jsonb,"
    "  meeting_id, external_id, client_id, idempotency_key, secret,"
    "  " S_FINGERPRINT (
        "canonical") ", reporter_id FROM input ORDER BY ord"
                     " ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL "
                     "DO NOTHING"
                     " RETURNING id, client_id, idempotency_key, secret, submitted_at, "
                     "fingerprint),"
                     " c AS (INSERT INTO %1$s.contacts (request_id, phone, name, email)"
                     "  SELECT ins.id, input.phone, input.name, input.email"
                     "  FROM ins JOIN input ON input.secret = ins.secret"
                     "  WHERE coalesce(input.phone, input.name, input.email) IS NOT NULL)"
                     " SELECT input.ord, ins.id, ins.secret,"
                     "  (extract(epoch FROM ins.submitted_at) * 1000000)::bigint, true,"
                     "  encode(sha256(convert_to(ins.secret, 'UTF8')), 'hex'), false"
                     " FROM ins JOIN input ON input.secret = ins.secret"
                     " UNION ALL"
                     " SELECT input.ord, d.id, d.secret, (extract(epoch FROM d.submitted_at) * "
                     "1000000)::bigint,"
                     "  false, NULL, (d.fingerprint <> " S_FINGERPRINT (
                         "input.canonical") ") IS TRUE"
                                            " FROM input CROSS JOIN LATERAL ("
                                            "  SELECT id, secret, submitted_at, fingerprint FROM "
                                            "ins"
                                            "  WHERE ins.client_id = input.client_id AND "
                                            "ins.idempotency_key = input.idempotency_key"
                                            "  UNION ALL"
                                            "  SELECT id, secret, submitted_at, fingerprint FROM "
                                            "%1$s.requests r"
                                            "  WHERE r.client_id = input.client_id AND "
                                            "r.idempotency_key = input.idempotency_key"
                                            "  LIMIT 1) d"
                                            " WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.secret "
                                            "= input.secret)";

void
intake_store_prepare (gz_db_t *db, const char *schema)
{
    //  The batch statement's plan does not depend on its parameters, and
    //  planning it for every batch (a custom plan) cost about 5% of the
    //  submission rate with two writers (measured).
    gz_db_on_connect (db, "SET plan_cache_mode = force_generic_plan");
    char *q = gz_db_ident (schema);
    char sql[8192];
    snprintf (sql, sizeof sql, s_insert_sql, q);
    gz_db_prepare (db, "intake_insert", sql);
    intake_store_photo_prepare (db, schema);
    snprintf (sql, sizeof sql, s_insert_batch_sql, q);
    gz_db_prepare (db, "intake_insert_batch", sql);
    free (q);
}

static char *
s_attrs_json (const intake_sub_t *sub)
{
    json_t *o = json_object ();
    for (size_t i = 0; i < sub->nattrs; i++)
        json_object_set_new (o, sub->attrs[i].code, json_string (sub->attrs[i].value));
    char *text = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (o);
    return text;
}

//  Stage the RequestSubmitted event for a newly inserted request.
static void
s_stage_event (s_writer_t *self, const intake_sub_t *sub, int64_t submitted_us,
               const char *token_sha256)
{
    Gongzhi__V1__RequestSubmitted ev = GONGZHI__V1__REQUEST_SUBMITTED__INIT;
    char id[32];
    snprintf (id, sizeof id, "%lld", (long long) sub->id);
    const gz_building_t *b = sub->building;
    ev.request_id = id;
    ev.service_code = sub->service_code;
    ev.description = sub->description;
    ev.channel = (Gongzhi__V1__Channel) sub->channel;
    ev.building_code = (char *) (b ? b->code : "");
    ev.grid_code = (char *) (b && b->grid_code ? b->grid_code : "");
    ev.community_code = (char *) (b && b->community_code ? b->community_code : "");
    ev.subdistrict_code = (char *) (b && b->subdistrict_code ? b->subdistrict_code : "");
    ev.lat = sub->lat;
    ev.lon = sub->lon;
    ev.address = sub->address ? sub->address : "";
    ev.submitted_at_us = submitted_us;
    ev.media_url = sub->media_url ? sub->media_url : "";
    ev.has_phone = sub->phone != NULL;
    ev.meeting_id = sub->meeting_id ? sub->meeting_id : "";
    ev.external_id = sub->external_id ? sub->external_id : "";
    ev.resident_token_sha256 = (char *) token_sha256;
    ev.reporter_id = sub->reporter_id ? sub->reporter_id : "";
    Gongzhi__V1__Attribute *attrs = calloc (sub->nattrs + 1, sizeof *attrs);
    Gongzhi__V1__Attribute **ptrs = calloc (sub->nattrs + 1, sizeof *ptrs);
    assert (attrs && ptrs);
    for (size_t i = 0; i < sub->nattrs; i++) {
        gongzhi__v1__attribute__init (&attrs[i]);
        attrs[i].code = sub->attrs[i].code;
        attrs[i].value = sub->attrs[i].value;
        ptrs[i] = &attrs[i];
    }
    ev.n_attributes = sub->nattrs;
    ev.attributes = ptrs;
    char topic[256];
    snprintf (topic, sizeof topic, "RequestSubmitted/%s/%s",
              *ev.subdistrict_code ? ev.subdistrict_code : "-",
              *ev.community_code ? ev.community_code : "-");
    gz_bus_pub_stage_msg (self->pub, "RequestSubmitted", id, topic, &ev.base);
    free (attrs);
    free (ptrs);
}

#define S_COLUMNS 22 //  parameters of intake_insert and intake_insert_batch

//  The parameters of one submission, in statement order. attrs is the
//  caller's (from s_attrs_json); lat and lon are its buffers.
static void
s_values (const intake_sub_t *sub, const char *attrs, char lat[32], char lon[32],
          const char *v[S_COLUMNS])
{
    snprintf (lat, 32, "%.7f", sub->lat);
    snprintf (lon, 32, "%.7f", sub->lon);
    const gz_building_t *b = sub->building;
    const char *values[S_COLUMNS] = {intake_channel_name (sub->channel),
                                     sub->service_code,
                                     sub->description,
                                     b ? b->code : NULL,
                                     b ? b->grid_code : NULL,
                                     b ? b->community_code : NULL,
                                     b ? b->subdistrict_code : NULL,
                                     sub->has_latlon ? lat : NULL,
                                     sub->has_latlon ? lon : NULL,
                                     sub->address,
                                     sub->media_url,
                                     attrs,
                                     sub->meeting_id,
                                     sub->external_id,
                                     sub->client_id,
                                     sub->idempotency_key,
                                     sub->secret,
                                     sub->phone,
                                     sub->name,
                                     sub->email,
                                     sub->canonical,
                                     sub->reporter_id};
    memcpy (v, values, sizeof values);
}

//  A growing text[] literal: {"a","b\"c",NULL}.
typedef struct {
    char *data;
    size_t len, cap;
} s_array_t;

static void
s_array_reserve (s_array_t *a, size_t more)
{
    if (a->len + more + 1 <= a->cap)
        return;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + more + 1)
        cap *= 2;
    a->data = realloc (a->data, cap);
    assert (a->data);
    a->cap = cap;
}

//  Append one element (NULL = SQL NULL), quoted, with " and \ escaped.
static void
s_array_add (s_array_t *a, const char *value)
{
    char sep = a->len == 0 ? '{' : ',';
    s_array_reserve (a, 2);
    a->data[a->len++] = sep;
    if (!value) {
        s_array_reserve (a, 4);
        memcpy (a->data + a->len, "NULL", 4);
        a->len += 4;
        return;
    }
    size_t n = strlen (value);
    s_array_reserve (a, 2 * n + 2);
    a->data[a->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '"' || value[i] == '\\')
            a->data[a->len++] = '\\';
        a->data[a->len++] = value[i];
    }
    a->data[a->len++] = '"';
}

static void
s_array_end (s_array_t *a)
{
    s_array_reserve (a, 2);
    if (a->len == 0)
        a->data[a->len++] = '{';
    a->data[a->len++] = '}';
    a->data[a->len] = 0;
}

//  Record a result row (ord, id, secret, submitted_us, inserted, token,
//  mismatch) on sub; stage the event if it is new. A mismatch is a
//  duplicate too (so a retried attempt renews its secret); its answer
//  shows neither the id nor the secret.
static void
s_take_row (s_writer_t *self, intake_sub_t *sub, PGresult *r, int row, int col)
{
    sub->id = strtoll (PQgetvalue (r, row, col), NULL, 10);
    snprintf (sub->secret, sizeof sub->secret, "%s", PQgetvalue (r, row, col + 1));
    int64_t us = strtoll (PQgetvalue (r, row, col + 2), NULL, 10);
    sub->duplicate = PQgetvalue (r, row, col + 3)[0] != 't';
    sub->mismatch = sub->duplicate && PQgetvalue (r, row, col + 5)[0] == 't';
    if (!sub->duplicate)
        s_stage_event (self, sub, us, PQgetvalue (r, row, col + 4));
}

//  A failed attempt may have marked sub a duplicate and given it the
//  original's secret; if the original was inserted in that same (rolled
//  back) attempt, the retry would carry one secret twice and the join by
//  secret would pair both submissions with one row. So a retried
//  duplicate gets a fresh secret of its own, as validation gave it.
static void
s_secret_renew (intake_sub_t *sub)
{
    char uuid[37];
    gz_uuid (uuid);
    size_t j = 0;
    for (size_t i = 0; uuid[i] && j < sizeof sub->secret - 1; i++)
        if (uuid[i] != '-')
            sub->secret[j++] = uuid[i];
    sub->secret[j] = 0;
    sub->duplicate = false;
    sub->mismatch = false;
}

//  Insert one submission inside the open transaction. 0 ok, -1 failure.
static int
s_insert (s_writer_t *self, intake_sub_t *sub)
{
    if (sub->duplicate)
        s_secret_renew (sub);
    char lat[32], lon[32];
    char *attrs = s_attrs_json (sub);
    const char *v[S_COLUMNS];
    s_values (sub, attrs, lat, lon, v);
    int rc = -1;
    //  Zero rows means a concurrent transaction (another replica) held the
    //  same idempotency key and committed after our snapshot: ask again.
    for (int attempt = 0; attempt < 3 && rc < 0; attempt++) {
        PGresult *r = gz_db_exec (self->db, "intake_insert", S_COLUMNS, v);
        if (!r)
            break;
        if (PQntuples (r) == 1) {
            s_take_row (self, sub, r, 0, 0);
            rc = 0;
        }
        PQclear (r);
    }
    free (attrs);
    return rc;
}

static int s_insert_rows (gz_db_t *db, gz_bus_pub_t *pub, intake_sub_t *list);

//  Insert a list of submissions inside the open transaction, then the
//  photos of those that are new (a duplicate's are the original's). 0 ok,
//  -1 failure (the caller rolls back: nothing of the list is stored).
int
intake_store_insert (gz_db_t *db, gz_bus_pub_t *pub, intake_sub_t *list)
{
    if (s_insert_rows (db, pub, list) != 0)
        return -1;
    for (intake_sub_t *s = list; s; s = s->next)
        if (s->nphotos > 0 && !s->duplicate && intake_store_photo_link (db, s) != 0)
            return -1;
    return 0;
}

//  Insert a list of submissions inside the open transaction in one round
//  trip (intake_insert_batch), then ask again one by one for any the batch
//  could not resolve. Events are staged in list order. 0 ok, -1 failure.
static int
s_insert_rows (gz_db_t *db, gz_bus_pub_t *pub, intake_sub_t *list)
{
    s_writer_t writer = {db, pub}, *self = &writer;
    size_t count = 0;
    for (intake_sub_t *s = list; s; s = s->next)
        count++;
    if (count == 1)
        return s_insert (self, list);
    intake_sub_t **subs = calloc (count, sizeof *subs);
    int *rows = malloc (count * sizeof *rows);
    s_array_t columns[S_COLUMNS] = {{0}};
    assert (subs && rows);
    size_t i = 0;
    for (intake_sub_t *s = list; s; s = s->next, i++) {
        subs[i] = s;
        rows[i] = -1;
        if (s->duplicate)
            s_secret_renew (s);
        char lat[32], lon[32];
        char *attrs = s_attrs_json (s);
        const char *v[S_COLUMNS];
        s_values (s, attrs, lat, lon, v);
        for (int c = 0; c < S_COLUMNS; c++)
            s_array_add (&columns[c], v[c]);
        free (attrs);
    }
    const char *v[S_COLUMNS];
    for (int c = 0; c < S_COLUMNS; c++) {
        s_array_end (&columns[c]);
        v[c] = columns[c].data;
    }
    int rc = -1;
    PGresult *r = gz_db_exec (self->db, "intake_insert_batch", S_COLUMNS, v);
    if (r) {
        rc = 0;
        for (int row = 0; row < PQntuples (r); row++) {
            long long ord = strtoll (PQgetvalue (r, row, 0), NULL, 10);
            if (ord >= 1 && ord <= (long long) count)
                rows[ord - 1] = row;
        }
        for (i = 0; i < count && rc == 0; i++) {
            if (rows[i] >= 0)
                s_take_row (self, subs[i], r, rows[i], 1);
            else
                rc = s_insert (self, subs[i]);
        }
        PQclear (r);
    }
    for (int c = 0; c < S_COLUMNS; c++)
        free (columns[c].data);
    free (rows);
    free (subs);
    return rc;
}

//  ---------------------------------------------------------------- routing's updates

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

int
intake_store_follow (gz_db_t *db, const intake_follow_t *u)
{
    char at[24], due[24], pos[24];
    snprintf (at, sizeof at, "%lld", (long long) u->at_us);
    snprintf (due, sizeof due, "%lld", (long long) u->due_us);
    snprintf (pos, sizeof pos, "%lld", (long long) u->position);
    const char *v[12] = {u->request_id,
                         u->status,
                         u->note,
                         u->agency,
                         u->due_us ? due : NULL,
                         at,
                         u->state,
                         u->kind,
                         pos,
                         u->public ? "t" : "f",
                         u->update_status,
                         u->media_url};
    PGresult *r = gz_db_exec (db, "follow_update", 12, v);
    int rc = r ? 0 : -1;
    PQclear (r);
    return rc;
}

//  ---------------------------------------------------------------- reads

//  Open311's datetimes: ISO 8601 in China Standard Time (+08:00, no DST);
//  the status page's: local minutes.
#define ISO_TS(col)                                                                                \
    "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
#define ISO_LOCAL(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')"

#define REQUEST_COLUMNS                                                                            \
    "SELECT id::text, status, status_notes, service_code, description, "                           \
    "agency_responsible, " ISO_TS ("submitted_at") ", " ISO_TS ("updated_at") ", " ISO_TS (        \
        "expected_at") ", address, building_code, lat, lon, media_url, (SELECT rp.sha256 FROM "    \
                       "%1$s.request_photos rp WHERE rp.request_id = %1$s.requests.id AND "        \
                       "rp.public ORDER BY rp.idx LIMIT 1) FROM %1$s.requests "

//  A media_url that names one of intake's own photos: /media/{sha256}
//  (or its /thumb, or a bare sha256), with a query or not; its one
//  group is the name.
#define PHOTO_URL_RE "(?:^|/media/)([0-9a-f]{64})(?:/thumb)?(?:[?#].*)?$"

//  Register Open311's reads on a pool connection (again is harmless).
static void
s_prepare_open311 (gz_db_t *db, const char *schema)
{
    char *q = gz_db_ident (schema);
    char sql[2048];
    snprintf (sql, sizeof sql, REQUEST_COLUMNS "WHERE id = ANY($1::bigint[]) ORDER BY id", q);
    gz_db_prepare (db, "o311_by_ids", sql);
    snprintf (sql, sizeof sql,
              REQUEST_COLUMNS "WHERE ($1::text[] IS NULL OR service_code = ANY($1::text[]))"
                              " AND submitted_at >= coalesce($2::timestamptz,"
                              "  coalesce($3::timestamptz, now()) - interval '90 days')"
                              " AND ($3::timestamptz IS NULL OR submitted_at <= $3::timestamptz)"
                              " AND ($4::text[] IS NULL OR status = ANY($4::text[]))"
                              " ORDER BY id DESC LIMIT $5::int",
              q);
    gz_db_prepare (db, "o311_search", sql);
    snprintf (sql, sizeof sql,
              "SELECT update_id::text, request_id::text, status, " ISO_TS (
                  "at") ", coalesce(note, ''), coalesce(media_url, ''),"
                        " media_url ~ '" PHOTO_URL_RE "',"
                        " (SELECT rp.sha256 FROM %1$s.request_photos rp WHERE rp.public"
                        "  AND rp.sha256 = substring(media_url from '" PHOTO_URL_RE "') LIMIT 1)"
                        " FROM %1$s.request_updates WHERE at >= coalesce($1::timestamptz,"
                        "  coalesce($2::timestamptz, now()) - interval '90 days')"
                        " AND ($2::timestamptz IS NULL OR at <= $2::timestamptz)"
                        " ORDER BY update_id LIMIT $3::int",
              q);
    gz_db_prepare (db, "o311_updates", sql);
    free (q);
}

//  Run a read statement on a pool connection. Returns the result (the
//  caller PQclear()s) or NULL, then *rc is -2 when the database refused
//  a parameter (SQLSTATE class 22), else -1.
static PGresult *
s_read (intake_t *ctx, const char *stmt, int nparams, const char *const *params, int *rc)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    s_prepare_open311 (db, ctx->cfg->base.schema);
    PGresult *r = gz_db_exec (db, stmt, nparams, params);
    //  Read the SQLSTATE before the connection goes back to other threads.
    *rc = r ? 0 : strncmp (gz_db_sqlstate (db), "22", 2) == 0 ? -2 : -1;
    gz_dbpool_put (ctx->pool, db);
    return r;
}

//  The public URL of photo sha256 (base: GZ_PUBLIC_URL), for Open311.
static json_t *
s_photo_url (const char *base, const char *sha256)
{
    size_t n = strlen (base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    return json_sprintf ("%.*s/media/%s", (int) n, base, sha256);
}

//  An Open311 request; its media_url is the URL of its first public
//  photo, else the media_url the client gave, else null. A photo the
//  resident did not make public never appears.
static json_t *
s_request_json (PGresult *r, int row, const char *public_url)
{
    json_t *o = json_object ();
    static const char *names[] = {"service_request_id",
                                  "status",
                                  "status_notes",
                                  "service_code",
                                  "description",
                                  "agency_responsible",
                                  "requested_datetime",
                                  "updated_datetime",
                                  "expected_datetime",
                                  "address",
                                  "address_id",
                                  "lat",
                                  "long",
                                  "media_url"};
    for (int c = 0; c < 14; c++) {
        if (c == 4) {
            //  service_name after service_code, as in the spec's example
            const gz_category_t *cat = gz_category_find (PQgetvalue (r, row, 3));
            json_object_set_new (o, "service_name", json_string (cat ? cat->name : ""));
        }
        if (c == 13 && !PQgetisnull (r, row, 14))
            json_object_set_new (o, names[c], s_photo_url (public_url, PQgetvalue (r, row, 14)));
        else if (PQgetisnull (r, row, c) || (c == 13 && !*PQgetvalue (r, row, c)))
            json_object_set_new (o, names[c], json_null ());
        else if (c == 11 || c == 12)
            json_object_set_new (o, names[c], json_real (strtod (PQgetvalue (r, row, c), NULL)));
        else
            json_object_set_new (o, names[c], json_string (PQgetvalue (r, row, c)));
    }
    json_object_set_new (o, "service_notice", json_null ());
    return o;
}

//  A NULL-terminated list as a text[] literal (the caller's), or NULL for
//  no list.
static char *
s_array_of (const char *const *list)
{
    if (!list)
        return NULL;
    s_array_t a = {0};
    for (; *list; list++)
        s_array_add (&a, *list);
    s_array_end (&a);
    return a.data;
}

int
intake_store_find_requests (intake_t *ctx, const intake_request_query_t *q, json_t **list_p)
{
    char limit[16];
    snprintf (limit, sizeof limit, "%ld", q->limit);
    char *a1 = s_array_of (q->ids ? q->ids : q->service_codes);
    char *a4 = q->ids ? NULL : s_array_of (q->statuses);
    int rc;
    PGresult *r;
    if (q->ids)
        r = s_read (ctx, "o311_by_ids", 1, (const char *[]){a1}, &rc);
    else {
        const char *params[5] = {a1, q->start_date, q->end_date, a4, limit};
        r = s_read (ctx, "o311_search", 5, params, &rc);
    }
    free (a1);
    free (a4);
    if (r) {
        json_t *list = json_array ();
        for (int i = 0; i < PQntuples (r); i++)
            json_array_append_new (list, s_request_json (r, i, ctx->cfg->public_url));
        PQclear (r);
        *list_p = list;
    }
    return rc;
}

int
intake_store_find_updates (intake_t *ctx, const char *start, const char *end, long limit,
                           json_t **list_p)
{
    char lim[16];
    snprintf (lim, sizeof lim, "%ld", limit);
    const char *params[3] = {start, end, lim};
    int rc;
    PGresult *r = s_read (ctx, "o311_updates", 3, params, &rc);
    if (r) {
        json_t *list = json_array ();
        for (int i = 0; i < PQntuples (r); i++) {
            //  An update naming one of intake's photos carries its public
            //  URL (never a status-link secret), or nothing when it is
            //  not public; any other URL is routing's, as given.
            json_t *media = PQgetvalue (r, i, 6)[0] != 't' ? json_string (PQgetvalue (r, i, 5))
                            : PQgetisnull (r, i, 7)
                                ? json_string ("")
                                : s_photo_url (ctx->cfg->public_url, PQgetvalue (r, i, 7));
            json_array_append_new (
                list, json_pack ("{s:s,s:s,s:s,s:s,s:s,s:o}", "update_id", PQgetvalue (r, i, 0),
                                 "service_request_id", PQgetvalue (r, i, 1), "status",
                                 PQgetvalue (r, i, 2), "updated_datetime", PQgetvalue (r, i, 3),
                                 "description", PQgetvalue (r, i, 4), "media_url", media));
        }
        PQclear (r);
        *list_p = list;
    }
    return rc;
}

//  ---------------------------------------------------------------- contacts

int
intake_store_contact (intake_t *ctx, const char *id, intake_contact_t *out)
{
    memset (out, 0, sizeof *out);
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    char *q = gz_db_ident (ctx->cfg->base.schema);
    char sql[512];
    snprintf (sql, sizeof sql,
              "SELECT c.phone, c.email, r.secret FROM %1$s.requests r"
              " JOIN %1$s.contacts c ON c.request_id = r.id WHERE r.id = $1::bigint",
              q);
    free (q);
    gz_db_prepare (db, "contact_get", sql);
    const char *v[1] = {id};
    PGresult *r = gz_db_exec (db, "contact_get", 1, v);
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1 && (!PQgetisnull (r, 0, 0) || !PQgetisnull (r, 0, 1))) {
        snprintf (out->phone, sizeof out->phone, "%s", PQgetvalue (r, 0, 0));
        snprintf (out->email, sizeof out->email, "%s", PQgetvalue (r, 0, 1));
        snprintf (out->secret, sizeof out->secret, "%s", PQgetvalue (r, 0, 2));
        rc = 0;
    }
    //  Wipe the result's copy of the contact before it is freed.
    for (int i = 0; i < PQntuples (r); i++)
        for (int c = 0; c < 3; c++)
            explicit_bzero (PQgetvalue (r, i, c), (size_t) PQgetlength (r, i, c));
    PQclear (r);
    return rc;
}

//  Register the status page's reads on a pool connection.
static void
s_prepare_status (gz_db_t *db, const char *schema)
{
    char *q = gz_db_ident (schema);
    char sql[1024];
    snprintf (sql, sizeof sql,
              "SELECT r.id::text, r.service_code, r.description, r.status, r.address, " ISO_LOCAL (
                  "r.submitted_at") ", r.secret, c.phone, r.building_code, r.state "
                                    "FROM %1$s.requests r LEFT JOIN %1$s.contacts c ON "
                                    "c.request_id = r.id "
                                    "WHERE r.id = $1::bigint",
              q);
    gz_db_prepare (db, "status_request", sql);
    snprintf (sql, sizeof sql,
              "SELECT " ISO_LOCAL (
                  "t.at") ", t.kind, t.note FROM ("
                          " SELECT submitted_at AS at, 'submitted' AS kind, NULL::text AS note"
                          " FROM %1$s.requests WHERE id = $1::bigint"
                          " UNION ALL SELECT at, kind, note FROM %1$s.timeline"
                          " WHERE request_id = $1::bigint) t ORDER BY t.at, t.kind",
              q);
    gz_db_prepare (db, "status_timeline", sql);
    free (q);
}

//  A copy of a column ("" for NULL, as PQgetvalue gives it).
static char *
s_text (PGresult *r, int row, int col)
{
    char *text = strdup (PQgetvalue (r, row, col));
    assert (text);
    return text;
}

//  The status of r's row (status_request) and t's lines (status_timeline,
//  may be NULL).
static intake_status_t *
s_status_new (PGresult *r, PGresult *t)
{
    intake_status_t *self = calloc (1, sizeof *self);
    assert (self);
    self->id = s_text (r, 0, 0);
    self->service_code = s_text (r, 0, 1);
    self->description = s_text (r, 0, 2);
    self->status = s_text (r, 0, 3);
    self->address = s_text (r, 0, 4);
    self->submitted_at = s_text (r, 0, 5);
    self->secret = s_text (r, 0, 6);
    self->phone = PQgetisnull (r, 0, 7) ? NULL : s_text (r, 0, 7);
    self->state = s_text (r, 0, 9);
    self->ntimeline = t ? (size_t) PQntuples (t) : 0;
    self->timeline = calloc (self->ntimeline + 1, sizeof *self->timeline);
    assert (self->timeline);
    for (size_t i = 0; i < self->ntimeline; i++) {
        self->timeline[i].at = s_text (t, (int) i, 0);
        self->timeline[i].kind = s_text (t, (int) i, 1);
        self->timeline[i].note = s_text (t, (int) i, 2);
    }
    return self;
}

void
intake_status_destroy (intake_status_t **self_p)
{
    assert (self_p);
    intake_status_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->ntimeline; i++) {
        free (self->timeline[i].at);
        free (self->timeline[i].kind);
        free (self->timeline[i].note);
    }
    free (self->timeline);
    free (self->id);
    free (self->service_code);
    free (self->description);
    free (self->status);
    free (self->address);
    free (self->submitted_at);
    free (self->secret);
    free (self->phone);
    free (self->state);
    free (self);
    *self_p = NULL;
}

int
intake_store_status (intake_t *ctx, const char *id, bool timeline, intake_status_t **status_p)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    s_prepare_status (db, ctx->cfg->base.schema);
    const char *v[1] = {id};
    PGresult *r = gz_db_exec (db, "status_request", 1, v);
    bool found = r && PQntuples (r) == 1;
    PGresult *t = found && timeline ? gz_db_exec (db, "status_timeline", 1, v) : NULL;
    gz_dbpool_put (ctx->pool, db);
    int rc = !r || (found && timeline && !t) ? -1 : 0;
    *status_p = rc == 0 && found ? s_status_new (r, t) : NULL;
    PQclear (r);
    PQclear (t);
    return rc;
}
