/*  intake_store: the only file of intake's commit path that speaks SQL.
    Inserts a batch of validated submissions (and their contacts) in one
    statement inside the committer's open transaction, resolves
    duplicates by idempotency key, and stages each new request's
    RequestSubmitted event on the stream's publisher.  */
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

static const char *s_insert_sql =
    "WITH ins AS ("
    " INSERT INTO %1$s.requests (channel, service_code, description, building_code,"
    "  grid_code, community_code, subdistrict_code, lat, lon, address, media_url,"
    "  attributes, meeting_id, external_id, client_id, idempotency_key, secret)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::float8, $9::float8, $10, $11, $12::jsonb,"
    "  $13, $14, $15, $16, $17)"
    " ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id, secret, submitted_at),"
    " c AS (INSERT INTO %1$s.contacts (request_id, phone, name, email)"
    "  SELECT id, $18::text, $19::text, $20::text FROM ins"
    "  WHERE coalesce($18::text, $19::text, $20::text) IS NOT NULL)"
    " SELECT id, secret, (extract(epoch FROM submitted_at) * 1000000)::bigint, true,"
    "  encode(sha256(convert_to(secret, 'UTF8')), 'hex') FROM ins"
    " UNION ALL"
    " SELECT id, secret, (extract(epoch FROM submitted_at) * 1000000)::bigint, false, NULL"
    " FROM %1$s.requests WHERE client_id = $15 AND idempotency_key = $16"
    " AND NOT EXISTS (SELECT 1 FROM ins)";

//  The whole batch in one statement: each column travels as one text[]
//  parameter, unnest() WITH ORDINALITY turns them back into rows, and the
//  result rows carry ord so they map back to submissions. A new row is
//  joined back by its secret (random, so unique). A duplicate key inside
//  the batch is skipped by ON CONFLICT and resolved from ins (the
//  statement's snapshot cannot see rows it inserted itself); a duplicate
//  of an earlier request is resolved from the table. A submission with no
//  result row lost a race with another writer's uncommitted insert of the
//  same key: s_insert asks again for it alone.
static const char *s_insert_batch_sql =
    "WITH input AS ("
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    "  $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],"
    "  $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],"
    "  $19::text[], $20::text[]) WITH ORDINALITY AS u (channel, service_code, description,"
    "  building_code, grid_code, community_code, subdistrict_code, lat, lon, address,"
    "  media_url, attributes, meeting_id, external_id, client_id, idempotency_key, secret,"
    "  phone, name, email, ord)),"
    " ins AS ("
    " INSERT INTO %1$s.requests (channel, service_code, description, building_code,"
    "  grid_code, community_code, subdistrict_code, lat, lon, address, media_url,"
    "  attributes, meeting_id, external_id, client_id, idempotency_key, secret)"
    " SELECT channel, service_code, description, building_code, grid_code, community_code,"
    "  subdistrict_code, lat::float8, lon::float8, address, media_url, attributes::jsonb,"
    "  meeting_id, external_id, client_id, idempotency_key, secret FROM input ORDER BY ord"
    " ON CONFLICT (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id, client_id, idempotency_key, secret, submitted_at),"
    " c AS (INSERT INTO %1$s.contacts (request_id, phone, name, email)"
    "  SELECT ins.id, input.phone, input.name, input.email"
    "  FROM ins JOIN input ON input.secret = ins.secret"
    "  WHERE coalesce(input.phone, input.name, input.email) IS NOT NULL)"
    " SELECT input.ord, ins.id, ins.secret,"
    "  (extract(epoch FROM ins.submitted_at) * 1000000)::bigint, true,"
    "  encode(sha256(convert_to(ins.secret, 'UTF8')), 'hex')"
    " FROM ins JOIN input ON input.secret = ins.secret"
    " UNION ALL"
    " SELECT input.ord, d.id, d.secret, (extract(epoch FROM d.submitted_at) * 1000000)::bigint,"
    "  false, NULL"
    " FROM input CROSS JOIN LATERAL ("
    "  SELECT id, secret, submitted_at FROM ins"
    "  WHERE ins.client_id = input.client_id AND ins.idempotency_key = input.idempotency_key"
    "  UNION ALL"
    "  SELECT id, secret, submitted_at FROM %1$s.requests r"
    "  WHERE r.client_id = input.client_id AND r.idempotency_key = input.idempotency_key"
    "  LIMIT 1) d"
    " WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.secret = input.secret)";

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

#define S_COLUMNS 20 //  parameters of intake_insert and intake_insert_batch

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
                                     sub->email};
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

//  Record a result row (ord, id, secret, submitted_us, inserted, token)
//  on sub; stage the event if it is new.
static void
s_take_row (s_writer_t *self, intake_sub_t *sub, PGresult *r, int row, int col)
{
    sub->id = strtoll (PQgetvalue (r, row, col), NULL, 10);
    snprintf (sub->secret, sizeof sub->secret, "%s", PQgetvalue (r, row, col + 1));
    int64_t us = strtoll (PQgetvalue (r, row, col + 2), NULL, 10);
    sub->duplicate = PQgetvalue (r, row, col + 3)[0] != 't';
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

//  Insert a list of submissions inside the open transaction in one round
//  trip (intake_insert_batch), then ask again one by one for any the batch
//  could not resolve. Events are staged in list order. 0 ok, -1 failure.
int
intake_store_insert (gz_db_t *db, gz_bus_pub_t *pub, intake_sub_t *list)
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
