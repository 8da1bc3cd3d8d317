/*  intake_server: the intake actor. See intake_server.h and the DESIGN
    note in intake.h.

    The actor thread owns: the writer connection (group commit), the bus
    publisher (PUB), the ROUTER for SubmitRequest commands, and the loop.
    HTTP threads only enqueue (and defer their request, or wait).  */
#include "intake.h"
#include "gz_bus.h"
#include "gz_config.h"
#include "gz_log.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define SVC "intake"

extern const gz_migration_t intake_migrations[];

//  ---------------------------------------------------------------- config

intake_config_t *
intake_config_from_env (void)
{
    intake_config_t *self = calloc (1, sizeof *self);
    assert (self);
    self->database_url = gz_config_database_url ();
    self->schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->http_bind = strdup (gz_config_str ("GZ_HTTP_BIND", "0.0.0.0"));
    self->http_port = gz_config_port ("GZ_INTAKE_HTTP_PORT", GZ_PORT_INTAKE_HTTP);
    self->bus_endpoint = gz_config_endpoint ("GZ_INTAKE_BUS", GZ_PORT_INTAKE_BUS);
    self->events_endpoint = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    char buf[128];
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d", self->http_port);
    self->public_url = strdup (gz_config_str ("GZ_PUBLIC_URL", buf));
    const char *keys = gz_config_str ("GZ_API_KEYS", "");
    const char *demo = gz_config_str ("GZ_DEMO_API_KEY", NULL);
    size_t n = strlen (keys) + (demo ? strlen (demo) : 0) + 8;
    self->api_keys = malloc (n);
    assert (self->api_keys);
    snprintf (self->api_keys, n, "%s%s%s%s", keys, *keys && demo ? "," : "", demo ? "demo=" : "",
              demo ? demo : "");
    self->rate = (double) gz_config_int ("GZ_INTAKE_RATE", 50, 0, 10000000);
    self->burst = (double) gz_config_int ("GZ_INTAKE_BURST", 200, 1, 10000000);
    self->area_radius_m = (double) gz_config_int ("GZ_AREA_RADIUS_M", 1000, 1, 100000);
    self->read_conns = (int) gz_config_int ("GZ_INTAKE_READ_CONNS", 4, 1, 64);
    self->max_batch = (int) gz_config_int ("GZ_INTAKE_MAX_BATCH", 512, 1, 10000);
    self->writers = (int) gz_config_int ("GZ_INTAKE_WRITERS", 1, 1, 16);
    self->routing_events = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    self->routing_schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d",
              gz_config_port ("GZ_ROUTING_HTTP_PORT", GZ_PORT_ROUTING_HTTP));
    self->routing_url = strdup (gz_config_str ("GZ_ROUTING_URL", buf));
    return self;
}

static intake_config_t *
s_config_dup (const intake_config_t *c)
{
    intake_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    self->database_url = strdup (c->database_url);
    self->schema = strdup (c->schema);
    self->http_bind = strdup (c->http_bind);
    self->bus_endpoint = strdup (c->bus_endpoint);
    self->events_endpoint = strdup (c->events_endpoint);
    self->public_url = strdup (c->public_url);
    self->api_keys = strdup (c->api_keys ? c->api_keys : "");
    self->routing_events = strdup (c->routing_events ? c->routing_events : "");
    self->routing_schema = strdup (c->routing_schema ? c->routing_schema : "routing");
    self->routing_url = strdup (c->routing_url ? c->routing_url : "");
    return self;
}

void
intake_config_destroy (intake_config_t **self_p)
{
    intake_config_t *self = *self_p;
    if (!self)
        return;
    free (self->database_url);
    free (self->schema);
    free (self->http_bind);
    free (self->bus_endpoint);
    free (self->events_endpoint);
    free (self->public_url);
    free (self->api_keys);
    free (self->routing_events);
    free (self->routing_schema);
    free (self->routing_url);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------- queue

//  Count a waiting HTTP submission in or out. The gauge moves by deltas,
//  so it stays exact without holding ctx->lock (which every waiter and the
//  actor contend for); tests watch it to know submissions are queued.
static void
s_waiting_add (intake_t *ctx, int delta)
{
    atomic_fetch_add (&ctx->inflight, delta);
    gz_metrics_add (ctx->metrics, "gz_intake_waiting", NULL, (double) delta);
}

//  Put sub on the queue; wake the actor if the queue was empty.
static void
s_enqueue (intake_t *ctx, intake_sub_t *sub)
{
    pthread_mutex_lock (&ctx->lock);
    sub->next = NULL;
    //  Only the first submission into an empty queue wakes the actor: it
    //  takes the whole queue (and polls without waiting while any is left).
    bool wake = ctx->head == NULL;
    if (ctx->tail)
        ctx->tail->next = sub;
    else
        ctx->head = sub;
    ctx->tail = sub;
    pthread_cond_signal (&ctx->ready);
    pthread_mutex_unlock (&ctx->lock);
    uint64_t one = 1;
    //  Writer threads wait on the condition; the actor need not wake.
    if (wake && !atomic_load (&ctx->writer_threads) &&
        write (ctx->wake_fd, &one, sizeof one) != sizeof one)
        gz_warn (SVC, "msg=\"eventfd write failed\"");
}

int
intake_submit_defer (intake_t *ctx, intake_sub_t **sub_p, gz_http_req_t *req,
                     intake_answer_fn *answer)
{
    assert (sub_p && *sub_p);
    assert (answer);
    if (atomic_load (&ctx->closing))
        return -1;
    intake_sub_t *sub = *sub_p;
    *sub_p = NULL;
    sub->answer = answer;
    sub->ctx = ctx;
    //  Defer before queueing: the actor may finish sub at once.
    sub->http = gz_http_defer (req);
    s_waiting_add (ctx, 1);
    s_enqueue (ctx, sub);
    return 0;
}

//  ---------------------------------------------------------------- actor

//  The finisher answers committed HTTP submissions off the committers'
//  threads, so a committer goes on to its next batch at once (resuming a
//  batch's connections took a fifth of a commit cycle, measured).
typedef struct s_finisher_t {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct s_done_t *head, *tail;
    bool stop;
    pthread_t thread;
    bool started;
} s_finisher_t;

typedef struct s_done_t {
    intake_sub_t *list;
    bool ok;
    struct s_done_t *next;
} s_done_t;

//  One committer: a connection, a publisher on it, and the thread that
//  uses them. The actor is one: it commits bus submissions, and HTTP ones
//  too unless GZ_INTAKE_WRITERS is 2 or more. Then that many writer
//  threads take HTTP submissions from the queue in turns (insert_turn):
//  while one batch waits for its COMMIT, the next is inserted on another
//  connection.
typedef struct {
    intake_t *ctx;
    s_finisher_t *finisher; //  NULL: answer on this thread
    gz_db_t *db;
    gz_bus_pub_t *pub;
    zsock_t *router; //  the actor's, for bus replies; NULL in writer threads
    pthread_t thread;
    bool started;
    bool stop; //  guarded by ctx->lock
} s_writer_t;

typedef struct {
    zsock_t *pipe;
    intake_t ctx;
    s_writer_t w;        //  the actor's own committer (db, pub, router below)
    s_writer_t *writers; //  the writer threads'
    int nwriters;
    s_finisher_t finisher;
    intake_config_t *cfg;
    gz_db_t *db; //  writer connection (this thread only)
    gz_bus_pub_t *pub;
    gz_bus_sub_t *follow; //  routing's stream, once routing's schema exists
    uint64_t consumed_seen, caught_up_seen, duplicates_seen;
    zsock_t *router;
    gz_http_t *http;
    int64_t next_tick_ms;
    int heartbeat_ms;
    int org_check_ms; //  GZ_ORG_CHECK_MS; 0: only SIGHUP reloads
    int64_t next_org_ms;
    uint64_t published_seen, pruned_seen, republished_seen;
    bool terminated;
} self_t;

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

static void
s_prepare_writer (s_writer_t *self)
{
    //  The batch statement's plan does not depend on its parameters, and
    //  planning it for every batch (a custom plan) cost about 5% of the
    //  submission rate with two writers (measured).
    gz_db_on_connect (self->db, "SET plan_cache_mode = force_generic_plan");
    char *q = gz_db_ident (self->ctx->cfg->schema);
    char sql[8192];
    snprintf (sql, sizeof sql, s_insert_sql, q);
    gz_db_prepare (self->db, "intake_insert", sql);
    snprintf (sql, sizeof sql, s_insert_batch_sql, q);
    gz_db_prepare (self->db, "intake_insert_batch", sql);
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
static int
s_insert_batch (s_writer_t *self, intake_sub_t *list)
{
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

static void s_finish (s_writer_t *self, intake_sub_t *list, bool ok);

//  Finish list on the finisher thread when it holds only HTTP
//  submissions (bus replies go out on the actor's ROUTER), else here.
static void
s_finish_later (s_writer_t *self, intake_sub_t *list, bool ok)
{
    bool http_only = self->finisher != NULL;
    for (intake_sub_t *s = list; s && http_only; s = s->next)
        http_only = s->reply_to == NULL;
    if (!http_only) {
        s_finish (self, list, ok);
        return;
    }
    s_done_t *done = calloc (1, sizeof *done);
    assert (done);
    done->list = list;
    done->ok = ok;
    s_finisher_t *f = self->finisher;
    pthread_mutex_lock (&f->lock);
    if (f->tail)
        f->tail->next = done;
    else
        f->head = done;
    f->tail = done;
    pthread_cond_signal (&f->ready);
    pthread_mutex_unlock (&f->lock);
}

static void *
s_finisher_run (void *arg)
{
    s_writer_t w = *(s_writer_t *) arg; //  ctx and metrics; no router
    w.router = NULL;
    s_finisher_t *f = w.finisher;
    pthread_mutex_lock (&f->lock);
    while (true) {
        while (!f->head && !f->stop)
            pthread_cond_wait (&f->ready, &f->lock);
        s_done_t *done = f->head;
        if (!done)
            break;
        f->head = done->next;
        if (!f->head)
            f->tail = NULL;
        pthread_mutex_unlock (&f->lock);
        s_finish (&w, done->list, done->ok);
        free (done);
        pthread_mutex_lock (&f->lock);
    }
    pthread_mutex_unlock (&f->lock);
    return NULL;
}

//  Commit a list of submissions in one transaction. On a failure that is
//  not the connection's, each submission is retried alone so one bad
//  apple cannot sink the rest.
//  turn, when not NULL, is the insert turn the caller holds: it is let go
//  once the batch is inserted (or has failed), before the COMMIT.
static void
s_commit (s_writer_t *self, intake_sub_t *list, pthread_mutex_t *turn)
{
    if (!list) {
        if (turn)
            pthread_mutex_unlock (turn);
        return;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 3 && rc; attempt++) {
        if (gz_db_ensure (self->db))
            break;
        //  Two round trips: BEGIN goes out with the insert, and COMMIT
        //  with the outbox write.
        rc = gz_db_begin (self->db);
        if (rc == 0)
            rc = s_insert_batch (self, list);
        if (turn) {
            pthread_mutex_unlock (turn);
            turn = NULL;
        }
        if (rc == 0)
            rc = gz_bus_pub_write_commit (self->pub);
        if (rc) {
            gz_metrics_add (self->ctx->metrics, "gz_db_errors_total", NULL, 1);
            gz_warn (SVC, "msg=\"commit failed\" sqlstate=%s error=\"%s\"",
                     gz_db_sqlstate (self->db), gz_db_error (self->db));
            gz_db_rollback (self->db);
            gz_bus_pub_aborted (self->pub);
            if (!gz_db_retryable (self->db))
                break;
        }
    }
    if (turn)
        pthread_mutex_unlock (turn); //  the database was down
    if (rc == 0) {
        gz_bus_pub_committed (self->pub);
        gz_metrics_add (self->ctx->metrics, "gz_intake_commits_total", NULL, 1);
        s_finish_later (self, list, true);
        return;
    }
    if (list->next && gz_db_ok (self->db)) {
        //  Split: commit each alone.
        while (list) {
            intake_sub_t *next = list->next;
            list->next = NULL;
            s_commit (self, list, NULL);
            list = next;
        }
        return;
    }
    s_finish (self, list, false);
}

static void
s_reply_bus (s_writer_t *self, zframe_t **to_p, bool delim, const Gongzhi__V1__SubmitReply *reply)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, to_p);
    if (delim)
        zmsg_addmem (msg, NULL, 0);
    zframe_t *body = gz_codec_envelope_frame ("SubmitReply", reply->service_request_id, NULL, NULL,
                                              &reply->base);
    zmsg_append (msg, &body);
    zmsg_send (&msg, self->router);
}

//  Runs on an HTTP thread: render the answer of a finished submission.
static void
s_answer (gz_http_req_t *req, void *arg)
{
    intake_sub_t *sub = arg;
    sub->answer (req, sub);
    intake_sub_destroy (&sub);
}

//  Hand results back: resume deferred HTTP requests (rendered on HTTP
//  threads), answer bus peers.
static void
s_finish (s_writer_t *self, intake_sub_t *list, bool ok)
{
    intake_sub_t *deferred = NULL;
    int ndeferred = 0;
    pthread_mutex_lock (&self->ctx->lock);
    while (list) {
        intake_sub_t *s = list;
        list = s->next;
        s->next = NULL;
        const char *label = intake_channel_label (s->channel);
        char labels[96];
        snprintf (labels, sizeof labels, "channel=\"%s\",outcome=\"%s\"", label,
                  !ok            ? "unavailable"
                  : s->duplicate ? "duplicate"
                                 : "accepted");
        gz_metrics_add (self->ctx->metrics, "gz_intake_submissions_total", labels, 1);
        if (s->reply_to) {
            Gongzhi__V1__SubmitReply reply = GONGZHI__V1__SUBMIT_REPLY__INIT;
            char id[32] = "";
            if (ok)
                snprintf (id, sizeof id, "%lld", (long long) s->id);
            reply.ok = ok;
            reply.service_request_id = id;
            reply.duplicate = s->duplicate;
            reply.error =
                ok ? GONGZHI__V1__ERROR_CODE__ERROR_NONE : GONGZHI__V1__ERROR_CODE__UNAVAILABLE;
            reply.message = ok ? "" : "database unavailable; retry with the same idempotency key";
            s_reply_bus (self, &s->reply_to, s->reply_delim, &reply);
            intake_sub_destroy (&s);
        }
        else if (s->http) {
            s->state = ok ? SUB_DONE : SUB_FAILED;
            s->next = deferred;
            deferred = s;
            ndeferred++;
        }
        else
            intake_sub_destroy (&s); //  its HTTP request was already answered
    }
    pthread_mutex_unlock (&self->ctx->lock);
    while (deferred) {
        intake_sub_t *s = deferred;
        deferred = s->next;
        s->next = NULL;
        //  -1: gz_http already answered it 503 (deferred too long).
        if (gz_http_resume (&s->http, s_answer, s) != 0)
            intake_sub_destroy (&s);
    }
    if (ndeferred)
        s_waiting_add (self->ctx, -ndeferred);
}

//  Take what HTTP threads queued, up to max, appending to *list.
static size_t
s_take_queue_locked (intake_t *ctx, intake_sub_t **head, intake_sub_t **tail, size_t max)
{
    size_t n = 0;
    while (ctx->head && n < max) {
        intake_sub_t *s = ctx->head;
        ctx->head = s->next;
        if (!ctx->head)
            ctx->tail = NULL;
        s->next = NULL;
        if (*tail)
            (*tail)->next = s;
        else
            *head = s;
        *tail = s;
        n++;
    }
    return n;
}

static size_t
s_take_queue (intake_t *ctx, intake_sub_t **head, intake_sub_t **tail, size_t max)
{
    pthread_mutex_lock (&ctx->lock);
    size_t n = s_take_queue_locked (ctx, head, tail, max);
    pthread_mutex_unlock (&ctx->lock);
    return n;
}

//  A writer thread: commit what HTTP threads queue until told to stop
//  (and the queue is empty).
static void *
s_writer_run (void *arg)
{
    s_writer_t *self = arg;
    intake_t *ctx = self->ctx;
    size_t max = (size_t) ctx->cfg->max_batch;
    while (true) {
        intake_sub_t *head = NULL, *tail = NULL;
        //  Wait for the turn, then for work: submissions pile up while
        //  the other writer inserts, so batches stay large.
        pthread_mutex_lock (&ctx->insert_turn);
        pthread_mutex_lock (&ctx->lock);
        while (!ctx->head && !self->stop)
            pthread_cond_wait (&ctx->ready, &ctx->lock);
        bool stop = !ctx->head && self->stop;
        s_take_queue_locked (ctx, &head, &tail, max);
        pthread_mutex_unlock (&ctx->lock);
        if (stop) {
            pthread_mutex_unlock (&ctx->insert_turn);
            break;
        }
        s_commit (self, head, &ctx->insert_turn);
    }
    return NULL;
}

static void
s_bus_error (self_t *self, zframe_t **to_p, bool delim, int code, const char *message)
{
    Gongzhi__V1__SubmitReply reply = GONGZHI__V1__SUBMIT_REPLY__INIT;
    reply.ok = false;
    reply.error = (Gongzhi__V1__ErrorCode) code;
    reply.message = (char *) message;
    s_reply_bus (&self->w, to_p, delim, &reply);
}

//  One command from the ROUTER. A valid submission joins the batch; every
//  other outcome is answered at once.
static void
s_on_router (self_t *self, intake_sub_t **head, intake_sub_t **tail)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *to = zmsg_pop (msg);
    bool delim = false;
    zframe_t *body = zmsg_pop (msg);
    if (body && zframe_size (body) == 0 && zmsg_size (msg) > 0) {
        delim = true; //  a REQ peer: keep its empty delimiter
        zframe_destroy (&body);
        body = zmsg_pop (msg);
    }
    zmsg_destroy (&msg);
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    zframe_destroy (&body);
    Gongzhi__V1__SubmitRequest *req = NULL;
    if (env && strcmp (env->type, "SubmitRequest") == 0)
        req = gongzhi__v1__submit_request__unpack (NULL, env->payload.len, env->payload.data);
    if (!req) {
        gz_metrics_add (self->ctx.metrics, "gz_decode_errors_total", "source=\"bus\"", 1);
        gz_metrics_add (self->ctx.metrics, "gz_intake_submissions_total",
                        "channel=\"bus\",outcome=\"rejected\"", 1);
        s_bus_error (self, &to, delim, GONGZHI__V1__ERROR_CODE__BAD_MESSAGE,
                     "expected an Envelope of type SubmitRequest with a valid payload");
        gz_codec_envelope_free (&env);
        return;
    }
    const char *keyname = intake_api_key_name (&self->ctx, env->credential);
    char client[160];
    snprintf (client, sizeof client, "apikey:%s", keyname ? keyname : "");
    int retry = 0;
    if (!keyname)
        s_bus_error (self, &to, delim, GONGZHI__V1__ERROR_CODE__UNAUTHORIZED,
                     "missing or unknown credential");
    else if (!gz_ratelimit_take (self->ctx.ratelimit, client, &retry)) {
        gz_metrics_add (self->ctx.metrics, "gz_intake_submissions_total",
                        "channel=\"bus\",outcome=\"rate_limited\"", 1);
        s_bus_error (self, &to, delim, GONGZHI__V1__ERROR_CODE__RATE_LIMITED,
                     "too many requests; slow down and retry");
    }
    else if (atomic_load (&self->ctx.closing))
        s_bus_error (self, &to, delim, GONGZHI__V1__ERROR_CODE__UNAVAILABLE,
                     "shutting down; retry with the same idempotency key");
    else {
        intake_raw_t raw = {0};
        raw.channel = req->channel ? (int) req->channel : GONGZHI__V1__CHANNEL__BUS;
        raw.service_code = req->service_code;
        raw.description = req->description;
        char lat[40] = "", lon[40] = "";
        if (req->location && req->location->has_latlon) {
            snprintf (lat, sizeof lat, "%.9g", req->location->lat);
            snprintf (lon, sizeof lon, "%.9g", req->location->lon);
            raw.lat_s = lat;
            raw.long_s = lon;
        }
        if (req->location) {
            raw.address_id = req->location->building_code;
            raw.address_string = req->location->address;
        }
        raw.phone = req->phone;
        raw.name = req->submitter_name;
        raw.media_url = req->media_url;
        raw.meeting_id = req->meeting_id;
        raw.external_id = req->external_id;
        raw.client_id = client;
        raw.idempotency_key = env->idempotency_key;
        const char **codes = calloc (req->n_attributes + 1, sizeof *codes);
        const char **vals = calloc (req->n_attributes + 1, sizeof *vals);
        assert (codes && vals);
        for (size_t i = 0; i < req->n_attributes; i++) {
            codes[i] = req->attributes[i]->code;
            vals[i] = req->attributes[i]->value;
        }
        raw.attr_codes = codes;
        raw.attr_values = vals;
        raw.nattrs = req->n_attributes;
        intake_err_t err;
        intake_sub_t *sub = intake_sub_new (&self->ctx, &raw, &err);
        free (codes);
        free (vals);
        if (!sub) {
            gz_metrics_add (self->ctx.metrics, "gz_intake_submissions_total",
                            "channel=\"bus\",outcome=\"rejected\"", 1);
            s_bus_error (self, &to, delim, err.error, err.message);
        }
        else {
            sub->reply_to = to;
            to = NULL;
            sub->reply_delim = delim;
            if (*tail)
                (*tail)->next = sub;
            else
                *head = sub;
            *tail = sub;
        }
    }
    zframe_destroy (&to);
    gongzhi__v1__submit_request__free_unpacked (req, NULL);
    gz_codec_envelope_free (&env);
}

static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_intake_submissions_total", GZ_COUNTER,
                         "Submissions by channel and outcome");
    gz_metrics_describe (m, "gz_intake_busy_total", GZ_COUNTER,
                         "Reads and resident forms answered 503 because every worker was busy"
                         " and the queue full");
    gz_metrics_describe (m, "gz_intake_commits_total", GZ_COUNTER,
                         "Group-commit transactions committed");
    gz_metrics_describe (m, "gz_org_reloads_total", GZ_COUNTER,
                         "Org directory reloads (SIGHUP, or the directory changed)");
    gz_metrics_add (m, "gz_org_reloads_total", NULL, 0);
    gz_metrics_describe (m, "gz_intake_waiting", GZ_GAUGE,
                         "HTTP submissions queued or in a commit, waiting for the answer");
    gz_metrics_set (m, "gz_intake_waiting", NULL, 0);
    gz_metrics_describe (m, "gz_http_requests_total", GZ_COUNTER,
                         "HTTP requests by route and status code");
    gz_metrics_describe (m, "gz_http_request_duration_seconds", GZ_HISTOGRAM,
                         "HTTP request latency by route");
    gz_metrics_describe (m, "gz_bus_published_total", GZ_COUNTER,
                         "Events sent on the bus (including re-sends)");
    gz_metrics_describe (m, "gz_bus_pruned_total", GZ_COUNTER,
                         "Outbox rows deleted after the retention (GZ_BUS_RETENTION_S)");
    gz_metrics_describe (m, "gz_bus_republished_total", GZ_COUNTER,
                         "Events re-sent after a restart");
    gz_metrics_describe (m, "gz_bus_head_position", GZ_GAUGE,
                         "Last committed position of the stream");
    gz_metrics_describe (m, "gz_bus_consumed_total", GZ_COUNTER,
                         "Events applied from the bus (intake follows routing)");
    gz_metrics_describe (m, "gz_bus_caught_up_total", GZ_COUNTER,
                         "Events read from PostgreSQL to fill gaps or catch up");
    gz_metrics_describe (m, "gz_bus_duplicates_total", GZ_COUNTER,
                         "Events dropped as already applied");
    gz_metrics_describe (m, "gz_decode_errors_total", GZ_COUNTER,
                         "Messages that did not decode, by source");
    gz_metrics_describe (m, "gz_db_errors_total", GZ_COUNTER, "Database failures");
    gz_metrics_add (m, "gz_db_errors_total", NULL, 0);
    gz_metrics_add (m, "gz_intake_commits_total", NULL, 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"bus\"", 0);
    gz_metrics_add (m, "gz_bus_consumed_total", "stream=\"routing\"", 0);
    gz_metrics_add (m, "gz_bus_caught_up_total", "stream=\"routing\"", 0);
    gz_metrics_add (m, "gz_bus_duplicates_total", "stream=\"routing\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"routing\"", 0);
}

//  Start following routing's stream once routing has created its outbox
//  (in the all-in-one binary both start together; in containers either
//  may come first).
static void
s_follow_start (self_t *self)
{
    if (self->follow || !*self->cfg->routing_events || !gz_db_ok (self->db))
        return;
    char name[256];
    snprintf (name, sizeof name, "%s.outbox", self->cfg->routing_schema);
    const char *v[1] = {name};
    PGresult *r = gz_db_exec (self->db, "follow_exists", 1, v);
    bool exists = r && PQgetvalue (r, 0, 0)[0] == 't';
    PQclear (r);
    if (!exists)
        return;
    intake_follow_prepare (self->db, self->cfg->schema);
    gz_bus_opts_t opts;
    gz_bus_opts_from_env (&opts);
    self->follow =
        gz_bus_sub_new (self->db, "intake", self->cfg->schema, self->cfg->routing_schema, "routing",
                        self->cfg->routing_events, intake_follow_handler, &self->ctx, &opts);
    if (self->follow)
        gz_info (SVC, "msg=\"following routing\" endpoint=%s", self->cfg->routing_events);
}

static void
s_follow_metrics (self_t *self)
{
    if (!self->follow)
        return;
    uint64_t c = gz_bus_sub_consumed (self->follow), u = gz_bus_sub_caught_up (self->follow),
             d = gz_bus_sub_duplicates (self->follow);
    gz_metrics_add (self->ctx.metrics, "gz_bus_consumed_total", "stream=\"routing\"",
                    (double) (c - self->consumed_seen));
    gz_metrics_add (self->ctx.metrics, "gz_bus_caught_up_total", "stream=\"routing\"",
                    (double) (u - self->caught_up_seen));
    gz_metrics_add (self->ctx.metrics, "gz_bus_duplicates_total", "stream=\"routing\"",
                    (double) (d - self->duplicates_seen));
    self->consumed_seen = c;
    self->caught_up_seen = u;
    self->duplicates_seen = d;
}

static void
s_tick (self_t *self)
{
    if (gz_db_ensure (self->db) == 0 && gz_bus_pub_tick (self->pub) != 0)
        gz_metrics_add (self->ctx.metrics, "gz_db_errors_total", NULL, 1);
    s_follow_start (self);
    if (self->follow && gz_bus_sub_tick (self->follow) != 0)
        gz_metrics_add (self->ctx.metrics, "gz_db_errors_total", NULL, 1);
    s_follow_metrics (self);
    uint64_t p = gz_bus_pub_published (self->pub), r = gz_bus_pub_republished (self->pub);
    gz_metrics_add (self->ctx.metrics, "gz_bus_published_total", "stream=\"intake\"",
                    (double) (p - self->published_seen));
    gz_metrics_add (self->ctx.metrics, "gz_bus_republished_total", "stream=\"intake\"",
                    (double) (r - self->republished_seen));
    self->published_seen = p;
    uint64_t pruned = gz_bus_pub_pruned (self->pub);
    gz_metrics_add (self->ctx.metrics, "gz_bus_pruned_total", "stream=\"intake\"",
                    (double) (pruned - self->pruned_seen));
    self->pruned_seen = pruned;
    self->republished_seen = r;
    gz_metrics_set (self->ctx.metrics, "gz_bus_head_position", "stream=\"intake\"",
                    (double) gz_bus_pub_head (self->pub));
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_load_keys (intake_t *ctx, const char *spec)
{
    char *copy = strdup (spec ? spec : "");
    char *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (tok, '=');
        if (!eq || eq == tok || !eq[1])
            continue;
        *eq = 0;
        ctx->keys = realloc (ctx->keys, (ctx->nkeys + 1) * sizeof *ctx->keys);
        assert (ctx->keys);
        ctx->keys[ctx->nkeys].name = strdup (tok);
        ctx->keys[ctx->nkeys].key = strdup (eq + 1);
        ctx->nkeys++;
    }
    free (copy);
}

const char *
intake_api_key_name (intake_t *ctx, const char *key)
{
    if (!key || !*key)
        return NULL;
    size_t n = strlen (key);
    for (size_t i = 0; i < ctx->nkeys; i++) {
        //  Compare in constant time for equal lengths.
        const char *k = ctx->keys[i].key;
        if (strlen (k) != n)
            continue;
        unsigned char diff = 0;
        for (size_t j = 0; j < n; j++)
            diff |= (unsigned char) (k[j] ^ key[j]);
        if (!diff)
            return ctx->keys[i].name;
    }
    return NULL;
}

static void s_self_destroy (self_t **self_p);

intake_org_t *
intake_org_take (intake_t *ctx)
{
    pthread_mutex_lock (&ctx->org_lock);
    intake_org_t *org = ctx->org_cur;
    assert (org); //  set at start, before any request
    atomic_fetch_add (&org->refs, 1);
    pthread_mutex_unlock (&ctx->org_lock);
    return org;
}

void
intake_org_drop (intake_org_t **org_p)
{
    intake_org_t *org = *org_p;
    *org_p = NULL;
    if (org && atomic_fetch_sub (&org->refs, 1) == 1) {
        gz_org_destroy (&org->org);
        free (org);
    }
}

void
intake_org_set (intake_t *ctx, gz_org_t *org)
{
    intake_org_t *fresh = calloc (1, sizeof *fresh);
    assert (fresh);
    fresh->org = org;
    atomic_init (&fresh->refs, 1); //  being in force
    pthread_mutex_lock (&ctx->org_lock);
    intake_org_t *old = ctx->org_cur;
    ctx->org_cur = fresh;
    pthread_mutex_unlock (&ctx->org_lock);
    intake_org_drop (&old);
}

//  RELOAD: read the org directory again and put it in force. 0 ok; -1
//  when it cannot be read (the old one stays).
static int
s_reload (self_t *self)
{
    if (gz_db_ensure (self->db))
        return -1;
    gz_org_t *org = gz_org_load (self->db);
    if (!org) {
        gz_warn (SVC, "msg=\"org reload failed; the old directory stays\"");
        return -1;
    }
    size_t buildings = gz_org_building_count (org);
    int64_t generation = gz_org_generation (org);
    intake_org_set (&self->ctx, org);
    gz_metrics_add (self->ctx.metrics, "gz_org_reloads_total", NULL, 1);
    gz_info (SVC, "msg=\"org directory reloaded\" buildings=%zu generation=%lld", buildings,
             (long long) generation);
    return 0;
}

//  Load the org directory again when it changed in the database (gzctl
//  org import, an operator's edit), checked at most every
//  GZ_ORG_CHECK_MS on the tick.
static void
s_org_check (self_t *self, int64_t now)
{
    if (self->org_check_ms <= 0 || now < self->next_org_ms)
        return;
    self->next_org_ms = now + self->org_check_ms;
    int64_t now_gen = gz_org_generation_now (self->db);
    intake_org_t *cur = intake_org_take (&self->ctx);
    bool changed = cur && now_gen >= 0 && now_gen != gz_org_generation (cur->org);
    intake_org_drop (&cur);
    if (changed) {
        gz_info (SVC, "msg=\"org directory changed in the database; reloading\"");
        s_reload (self);
    }
}

//  Start the writer threads, each on its own connection (connected, like
//  the actor's, lazily: a database that is down now is retried).
static void
s_writers_start (self_t *self)
{
    s_finisher_t *f = &self->finisher;
    pthread_mutex_init (&f->lock, NULL);
    pthread_cond_init (&f->ready, NULL);
    self->w.finisher = f; //  before the thread copies self->w
    f->started = pthread_create (&f->thread, NULL, s_finisher_run, &self->w) == 0;
    if (!f->started)
        self->w.finisher = NULL;
    //  One writer: the actor commits HTTP submissions with the bus's.
    int n = self->cfg->writers;
    if (n < 2)
        return;
    self->writers = calloc ((size_t) n, sizeof *self->writers);
    assert (self->writers);
    for (int i = 0; i < n; i++) {
        //  Built in place: the thread keeps this address.
        s_writer_t *w = &self->writers[self->nwriters];
        *w = (s_writer_t){0};
        w->ctx = &self->ctx;
        w->finisher = self->w.finisher;
        w->db = gz_db_new (self->cfg->database_url, SVC);
        w->pub = gz_bus_pub_new_writer (self->pub, w->db);
        s_prepare_writer (w);
        w->started = pthread_create (&w->thread, NULL, s_writer_run, w) == 0;
        if (!w->started) {
            //  Without any, the actor commits HTTP submissions itself.
            gz_error (SVC, "msg=\"cannot start a writer thread\"");
            gz_bus_pub_destroy (&w->pub);
            gz_db_destroy (&w->db);
            continue;
        }
        self->nwriters++;
    }
    atomic_store (&self->ctx.writer_threads, self->nwriters > 0);
}

//  Stop the writer threads once the queue is empty, and free them.
static void
s_writers_stop (self_t *self)
{
    pthread_mutex_lock (&self->ctx.lock);
    for (int i = 0; i < self->nwriters; i++)
        self->writers[i].stop = true;
    pthread_cond_broadcast (&self->ctx.ready);
    pthread_mutex_unlock (&self->ctx.lock);
    for (int i = 0; i < self->nwriters; i++) {
        s_writer_t *w = &self->writers[i];
        if (w->started)
            pthread_join (w->thread, NULL);
        gz_bus_pub_destroy (&w->pub);
        gz_db_destroy (&w->db);
    }
    free (self->writers);
    self->writers = NULL;
    self->nwriters = 0;
    //  Then the finisher, once it has answered everything handed to it.
    s_finisher_t *f = &self->finisher;
    if (f->started) {
        pthread_mutex_lock (&f->lock);
        f->stop = true;
        pthread_cond_broadcast (&f->ready);
        pthread_mutex_unlock (&f->lock);
        pthread_join (f->thread, NULL);
        f->started = false;
        self->w.finisher = NULL;
        pthread_cond_destroy (&f->ready);
        pthread_mutex_destroy (&f->lock);
    }
}

static self_t *
s_self_new (zsock_t *pipe, const intake_config_t *cfg)
{
    self_t *self = calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->cfg = s_config_dup (cfg);
    intake_t *ctx = &self->ctx;
    ctx->cfg = self->cfg;
    ctx->wake_fd = -1;
    pthread_mutex_init (&ctx->lock, NULL);
    pthread_cond_init (&ctx->ready, NULL);
    pthread_mutex_init (&ctx->insert_turn, NULL);
    pthread_mutex_init (&ctx->org_lock, NULL);
    ctx->metrics = gz_metrics_new ();
    s_describe_metrics (ctx->metrics);
    ctx->ratelimit = gz_ratelimit_new (self->cfg->rate, self->cfg->burst);
    s_load_keys (ctx, self->cfg->api_keys);
    self->heartbeat_ms = (int) gz_config_int ("GZ_BUS_HEARTBEAT_MS", 1000, 10, 60000);
    self->org_check_ms = (int) gz_config_int ("GZ_ORG_CHECK_MS", 5000, 0, 3600000);

    self->db = gz_db_new (self->cfg->database_url, SVC);
    if (gz_db_migrate (self->db, "org", gz_org_migrations) ||
        gz_db_migrate (self->db, self->cfg->schema, gz_bus_migrations ()) ||
        gz_db_migrate (self->db, self->cfg->schema, intake_migrations)) {
        gz_error (SVC, "msg=\"cannot migrate the database\" error=\"%s\"", gz_db_error (self->db));
        goto failed;
    }
    ctx->migrated = true;
    gz_org_t *org = gz_org_load (self->db);
    if (!org) {
        gz_error (SVC, "msg=\"cannot load the org directory\"");
        goto failed;
    }
    intake_org_set (ctx, org);
    if (gz_org_building_count (org) == 0)
        gz_warn (SVC, "msg=\"org directory has no buildings; run gzctl seed huaguoyuan or "
                      "gzctl org import\"");
    gz_db_prepare (self->db, "follow_exists", "SELECT to_regclass($1) IS NOT NULL");
    gz_bus_opts_t opts;
    gz_bus_opts_from_env (&opts);
    self->pub =
        gz_bus_pub_new (self->db, self->cfg->schema, "intake", self->cfg->events_endpoint, &opts);
    if (!self->pub)
        goto failed;
    self->w.ctx = ctx;
    self->w.db = self->db;
    self->w.pub = self->pub;
    s_prepare_writer (&self->w);
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    self->w.router = self->router;
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", self->cfg->bus_endpoint) < 0) {
        gz_error (SVC, "msg=\"cannot bind the bus endpoint\" endpoint=%s", self->cfg->bus_endpoint);
        goto failed;
    }
    ctx->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert (ctx->wake_fd >= 0);
    ctx->pool = gz_dbpool_new (self->cfg->database_url, SVC, self->cfg->read_conns);
    //  1, 2 and 4 threads measured alike for POSTs on 2 cores; 4 leaves room
    //  for the reads (GET, the resident's forms) that block a thread.
    int threads = (int) gz_config_int ("GZ_HTTP_THREADS", 8, 1, 64);
    s_writers_start (self);
    self->http = gz_http_new_pool (self->cfg->http_bind, self->cfg->http_port, INTAKE_MAX_BODY,
                                   threads, intake_http_handler, ctx);
    if (!self->http) {
        gz_error (SVC, "msg=\"cannot listen for HTTP\" port=%d", self->cfg->http_port);
        goto failed;
    }
    //  A submission not answered in time (the actor stuck in a commit) is
    //  answered 503; the client retries with its idempotency key.
    int answer_ms = (int) gz_config_int ("GZ_INTAKE_ANSWER_TIMEOUT_MS", 15000, 100, 600000);
    gz_http_set_defer_timeout (self->http, answer_ms, intake_http_timeout, ctx);
    //  Reads and the resident's forms (which call routing) wait on others:
    //  they run on these workers, never on the HTTP threads above.
    int workers = (int) gz_config_int ("GZ_INTAKE_WORKERS", 8, 1, 256);
    long queue = gz_config_int ("GZ_INTAKE_WORKER_QUEUE", 1000, 0, 1000000);
    gz_http_set_workers (self->http, workers, (size_t) queue);
    gz_info (SVC, "msg=\"intake ready\" http_port=%d bus=%s events=%s buildings=%zu api_keys=%zu",
             gz_http_port (self->http), self->cfg->bus_endpoint, self->cfg->events_endpoint,
             gz_org_building_count (org), ctx->nkeys);
    return self;
failed:
    s_self_destroy (&self);
    return NULL;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    intake_t *ctx = &self->ctx;
    gz_http_destroy (&self->http);
    s_writers_stop (self);
    zsock_destroy (&self->router);
    gz_bus_sub_destroy (&self->follow);
    gz_bus_pub_destroy (&self->pub);
    gz_db_destroy (&self->db);
    gz_dbpool_destroy (&ctx->pool);
    if (ctx->wake_fd >= 0)
        close (ctx->wake_fd);
    intake_org_drop (&ctx->org_cur);
    pthread_mutex_destroy (&ctx->org_lock);
    gz_metrics_destroy (&ctx->metrics);
    gz_ratelimit_destroy (&ctx->ratelimit);
    for (size_t i = 0; i < ctx->nkeys; i++) {
        free (ctx->keys[i].name);
        free (ctx->keys[i].key);
    }
    free (ctx->keys);
    pthread_cond_destroy (&ctx->ready);
    pthread_mutex_destroy (&ctx->insert_turn);
    pthread_mutex_destroy (&ctx->lock);
    intake_config_destroy (&self->cfg);
    free (self);
    *self_p = NULL;
}

static void
s_on_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return;
    char *cmd = zmsg_popstr (msg);
    if (cmd && streq (cmd, "$TERM")) {
        atomic_store (&self->ctx.closing, true);
        self->terminated = true;
    }
    else if (cmd && streq (cmd, "PORT"))
        zstr_sendf (self->pipe, "%d", gz_http_port (self->http));
    else if (cmd && streq (cmd, "BUSPORT"))
        zstr_sendf (self->pipe, "%d", atoi (strrchr (zsock_endpoint (self->router), ':') + 1));
    else if (cmd && streq (cmd, "EVENTSPORT"))
        zstr_sendf (self->pipe, "%d", gz_bus_pub_port (self->pub));
    else if (cmd && streq (cmd, "RELOAD"))
        zsock_signal (self->pipe, s_reload (self) == 0 ? 0 : 1);
    else if (cmd && streq (cmd, "VERBOSE"))
        ;
    else
        gz_warn (SVC, "msg=\"unknown pipe command\" cmd=%s", cmd ? cmd : "(null)");
    free (cmd);
    zmsg_destroy (&msg);
}

void
intake_server (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (const intake_config_t *) args);
    if (!self) {
        zsock_signal (pipe, 1);
        //  Answer queries with 0 until $TERM so the caller notices the
        //  failure and its zactor_destroy completes.
        while (true) {
            char *cmd = zstr_recv (pipe);
            bool term = !cmd || streq (cmd, "$TERM");
            free (cmd);
            if (term)
                break;
            zstr_send (pipe, "0");
        }
        return;
    }
    zsock_signal (pipe, 0);
    self->next_tick_ms = s_now_ms ();
    int64_t term_deadline = 0;
    while (true) {
        int64_t now = s_now_ms ();
        if (now >= self->next_tick_ms) {
            s_tick (self);
            s_org_check (self, now);
            self->next_tick_ms = now + self->heartbeat_ms;
        }
        if (self->terminated) {
            if (!term_deadline)
                term_deadline = now + 10000;
            pthread_mutex_lock (&self->ctx.lock);
            bool empty = self->ctx.head == NULL;
            pthread_mutex_unlock (&self->ctx.lock);
            if ((empty && atomic_load (&self->ctx.inflight) == 0) || now > term_deadline)
                break;
        }
        zmq_pollitem_t items[4] = {
            {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
            {NULL, self->ctx.wake_fd, ZMQ_POLLIN, 0},
            {self->follow ? zsock_resolve (gz_bus_sub_sock (self->follow)) : NULL, 0, ZMQ_POLLIN,
             0},
        };
        long timeout = (long) (self->next_tick_ms - now);
        //  With writer threads, HTTP submissions are theirs.
        bool queued = false;
        if (self->nwriters == 0) {
            pthread_mutex_lock (&self->ctx.lock);
            queued = self->ctx.head != NULL;
            pthread_mutex_unlock (&self->ctx.lock);
        }
        if (queued)
            timeout = 0;
        else if (self->terminated)
            timeout = 10;
        int rc = zmq_poll (items, self->follow ? 4 : 3, timeout < 0 ? 0 : timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe (self);
        if (self->follow && (items[3].revents & ZMQ_POLLIN) &&
            gz_bus_sub_on_readable (self->follow) != 0)
            gz_metrics_add (self->ctx.metrics, "gz_db_errors_total", NULL, 1);
        if (items[2].revents & ZMQ_POLLIN) {
            uint64_t count;
            if (read (self->ctx.wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                gz_warn (SVC, "msg=\"eventfd read failed\"");
        }
        intake_sub_t *head = NULL, *tail = NULL;
        size_t n = 0, max = (size_t) self->cfg->max_batch;
        while (n < max && (zsock_events (self->router) & ZMQ_POLLIN)) {
            s_on_router (self, &head, &tail);
            n++;
        }
        if (self->nwriters == 0)
            s_take_queue (&self->ctx, &head, &tail, max);
        s_commit (&self->w, head, NULL);
    }
    //  Drained: stop the writer threads and HTTP (lets in-flight GETs
    //  finish), publish the tail.
    s_writers_stop (self);
    gz_http_destroy (&self->http);
    s_tick (self);
    gz_info (SVC, "msg=\"intake stopped\"");
    s_self_destroy (&self);
}
