/*  gz_bus: the durable bus (outbox, positions, cursors). See gz_bus.h.

    DESIGN

    Producer. gz_bus_pub_write costs one round trip whatever the batch
    size: a data-modifying CTE bumps bus_stream.head by n (the row lock it
    takes orders concurrent writers until their COMMIT, so positions
    commit in order and never leave a gap) and inserts the n rows from
    unnest() over binary array parameters. No SQL is built from data.
    The staged events learn their positions head-n+1..head from the reply
    and go out on the PUB socket in gz_bus_pub_committed.

    The tick reads (head, published) and re-sends from the outbox the
    rows of (published, head] that this process did not send itself: it
    tracks the one contiguous run of positions it sent (after a tick,
    1..head). So the first tick after a start re-sends what a crash left
    unpublished, and a later tick re-sends rows committed but never sent
    (a COMMIT that failed ambiguously, another writer on the stream): at
    worst a duplicate, which consumers drop. Then the published watermark
    advances to head and a heartbeat carries head.

    Consumer. Every batch, live or from PostgreSQL, is one transaction
    that locks the cursor row (FOR UPDATE, re-read every time: a replica
    sharing the cursor may have moved it), applies the events in position
    order on top of it, dropping position <= cursor and stopping at a gap,
    then stores the new cursor with the handler's effects. A gap, a
    heartbeat past the cursor, a failure, a start or a silent publisher
    set need_catchup (or trigger it at once): the catch-up reads the
    producer's outbox past the locked cursor, 1000 rows per transaction,
    until no rows are left. Positions in the outbox are committed in
    order, so what a reader sees is always a gap-free prefix.

    The in-memory cursor (self->position) is only a hint for dropping
    duplicates before the transaction; it never runs ahead of the stored
    cursor because it is set only after a successful COMMIT.

    Statement names are derived from a hash of their SQL, so publishers
    and consumers for different schemas can share one gz_db_t without
    colliding (PostgreSQL truncates statement names to 63 bytes, so the
    schema name itself cannot go into the name).  */
#include "gz_bus.h"
#include "gz_config.h"
#include "gz_log.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "bus"

//  PostgreSQL type OIDs for binary array parameters (pg_type.dat; fixed).
#define S_OID_BYTEA 17
#define S_OID_INT8 20
#define S_OID_TEXT 25

#define S_LIVE_BATCH 500     //  live messages applied per transaction
#define S_LIVE_BATCHES 8     //  batches per on_readable call, then yield
#define S_CATCHUP_LIMIT 1000 //  outbox rows read per catch-up transaction
#define S_WRITER_WAIT_S 10   //  longest wait for the writer lock (then fail)
#define S_CATCHUP_ROUNDS 20  //  catch-up transactions per call, then yield
#define S_REPUBLISH_LIMIT 1000

//  ---------------------------------------------------------------- migrations

static const char s_bus_001_init[] = "CREATE TABLE IF NOT EXISTS {schema}.bus_stream ("
                                     "  stream    text PRIMARY KEY,"
                                     "  head      bigint NOT NULL DEFAULT 0,"
                                     "  published bigint NOT NULL DEFAULT 0);"
                                     "CREATE TABLE IF NOT EXISTS {schema}.outbox ("
                                     "  stream          text NOT NULL,"
                                     "  position        bigint NOT NULL,"
                                     "  id              uuid NOT NULL,"
                                     "  type            text NOT NULL,"
                                     "  key             text NOT NULL DEFAULT '',"
                                     "  topic           text NOT NULL,"
                                     "  occurred_at_us  bigint NOT NULL,"
                                     "  trace_id        text NOT NULL DEFAULT '',"
                                     "  idempotency_key text NOT NULL DEFAULT '',"
                                     "  payload         bytea NOT NULL,"
                                     "  PRIMARY KEY (stream, position));"
                                     "CREATE TABLE IF NOT EXISTS {schema}.bus_cursor ("
                                     "  consumer text NOT NULL,"
                                     "  stream   text NOT NULL,"
                                     "  position bigint NOT NULL DEFAULT 0,"
                                     "  PRIMARY KEY (consumer, stream));";

static const gz_migration_t s_bus_migrations[] = {
    {"bus_001_init.sql", s_bus_001_init},
    {NULL, NULL},
};

const gz_migration_t *
gz_bus_migrations (void)
{
    return s_bus_migrations;
}

//  ---------------------------------------------------------------- helpers

//  Register sql with every "{p}" replaced by the quoted schema p and every
//  "{c}" by c; the statement's name (a hash of the final SQL) goes to
//  name[24].
static void
s_prepare (gz_db_t *db, char name[24], const char *sql, const char *p, const char *c)
{
    char *qp = gz_db_ident (p);
    char *qc = gz_db_ident (c ? c : p);
    size_t cap = strlen (sql) + 1, len = 0;
    for (const char *s = sql; (s = strchr (s, '{')); s++)
        cap += strlen (qp) + strlen (qc);
    char *out = malloc (cap);
    assert (out);
    for (const char *s = sql; *s;) {
        const char *with = NULL;
        if (strncmp (s, "{p}", 3) == 0)
            with = qp;
        else if (strncmp (s, "{c}", 3) == 0)
            with = qc;
        if (with) {
            memcpy (out + len, with, strlen (with));
            len += strlen (with);
            s += 3;
        }
        else
            out[len++] = *s++;
    }
    out[len] = 0;
    uint64_t h = 1469598103934665603ULL; //  FNV-1a
    for (const char *s = out; *s; s++) {
        h ^= (unsigned char) *s;
        h *= 1099511628211ULL;
    }
    snprintf (name, 24, "gzbus_%016llx", (unsigned long long) h);
    gz_db_prepare (db, name, out);
    free (out);
    free (qp);
    free (qc);
}

static int64_t
s_int64 (const char *text)
{
    return text ? strtoll (text, NULL, 10) : 0;
}

//  A growing byte buffer for binary array parameters.
typedef struct {
    uint8_t *data;
    size_t len, cap;
} s_buf_t;

static void
s_buf_put (s_buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->data = realloc (b->data, b->cap);
        assert (b->data);
    }
    if (n)
        memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
s_buf_u32 (s_buf_t *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};
    s_buf_put (b, be, 4);
}

//  One-dimensional array without NULLs, PostgreSQL's binary format.
static void
s_array_start (s_buf_t *b, uint32_t elem_oid, size_t n)
{
    s_buf_u32 (b, 1); //  dimensions
    s_buf_u32 (b, 0); //  has nulls
    s_buf_u32 (b, elem_oid);
    s_buf_u32 (b, (uint32_t) n);
    s_buf_u32 (b, 1); //  lower bound
}

static void
s_array_bytes (s_buf_t *b, const void *p, size_t n)
{
    s_buf_u32 (b, (uint32_t) n);
    s_buf_put (b, p, n);
}

static void
s_array_text (s_buf_t *b, const char *s)
{
    s_array_bytes (b, s, strlen (s));
}

static void
s_array_int8 (s_buf_t *b, int64_t v)
{
    s_buf_u32 (b, 8);
    s_buf_u32 (b, (uint32_t) ((uint64_t) v >> 32));
    s_buf_u32 (b, (uint32_t) v);
}

//  The envelope of one outbox row (columns as in S_OUTBOX_COLUMNS),
//  pointing into r; *payload_p gets the unescaped payload, which the
//  caller frees with PQfreemem. -1 if the payload cannot be unescaped.
#define S_OUTBOX_COLUMNS                                                                           \
    "position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"

static int
s_envelope_from_row (gz_envelope_t *env, PGresult *r, int row, const char *stream,
                     unsigned char **payload_p)
{
    gz_envelope_t init = GONGZHI__V1__ENVELOPE__INIT;
    *env = init;
    env->position = s_int64 (PQgetvalue (r, row, 0));
    env->id = PQgetvalue (r, row, 1);
    env->type = PQgetvalue (r, row, 2);
    env->key = PQgetvalue (r, row, 3);
    env->topic = PQgetvalue (r, row, 4);
    env->occurred_at_us = s_int64 (PQgetvalue (r, row, 5));
    env->trace_id = PQgetvalue (r, row, 6);
    env->idempotency_key = PQgetvalue (r, row, 7);
    env->stream = (char *) stream;
    size_t len = 0;
    *payload_p = PQunescapeBytea ((const unsigned char *) PQgetvalue (r, row, 8), &len);
    if (!*payload_p)
        return -1;
    env->payload.data = *payload_p;
    env->payload.len = len;
    return 0;
}

//  ---------------------------------------------------------------- producer

typedef struct {
    char id[37];
    char *type, *key, *topic, *trace_id, *idempotency_key;
    uint8_t *payload;
    size_t len;
    int64_t occurred_at_us;
    int64_t position; //  0 until written
} s_event_t;

struct _gz_bus_pub_t {
    gz_db_t *db; //  borrowed: the owner's connection
    char *schema, *stream;
    //  The publisher that owns the socket and the fields below it: self,
    //  or for a writer (gz_bus_pub_new_writer) the publisher it serves.
    gz_bus_pub_t *root;
    //  Root only: held from a write to its committed/aborted, and while a
    //  tick or a counter read touches the shared fields, so events leave
    //  the socket in position order whichever writer committed them.
    pthread_mutex_t lock;
    bool holding;      //  this writer holds root->lock (between write and commit)
    bool stream_known; //  the bus_stream row exists (committed: a write committed, or created)
    zsock_t *pub;
    int port;
    char heartbeat_topic[256];

    char st_stream[24];    //  create the bus_stream row
    char st_write[24];     //  reserve positions + insert rows
    char st_state[24];     //  read head, published
    char st_republish[24]; //  outbox rows in a range
    char st_published[24]; //  advance the watermark
    char st_prune[24];     //  delete old, published rows

    s_event_t *staged;
    size_t nstaged, nwritten, cap;

    bool failing; //  last database call failed (log once)
    int64_t head; //  last committed position known
    //  The contiguous run of positions this process has sent since the
    //  last tick (empty when run_lo == 0); after a tick, 1..head.
    int64_t run_lo, run_hi;
    uint64_t published, republished, pruned;
    int64_t retention_us; //  keep outbox rows this long (0: forever)
    int64_t prune_every_us;
    int64_t next_prune_us; //  root only
};

static void
s_event_free (s_event_t *e)
{
    free (e->type);
    free (e->key);
    free (e->topic);
    free (e->trace_id);
    free (e->idempotency_key);
    free (e->payload);
}

static void
s_pub_forget (gz_bus_pub_t *self)
{
    for (size_t i = 0; i < self->nstaged; i++)
        s_event_free (&self->staged[i]);
    self->nstaged = self->nwritten = 0;
}

static void
s_pub_db_result (gz_bus_pub_t *self, bool ok, const char *what)
{
    if (!ok && !self->failing)
        gz_warn (SVC, "msg=\"%s failed\" stream=%s sqlstate=%s error=\"%s\"", what, self->stream,
                 gz_db_sqlstate (self->db), gz_db_error (self->db));
    else if (ok && self->failing)
        gz_info (SVC, "msg=\"publisher database back\" stream=%s", self->stream);
    self->failing = !ok;
}

//  Create the stream's row if missing. 0 ok, -1 failure.
static int
s_pub_ensure_stream (gz_bus_pub_t *self)
{
    const char *v[1] = {self->stream};
    PGresult *r = gz_db_exec (self->db, self->st_stream, 1, v);
    PQclear (r);
    return r ? 0 : -1;
}

static void s_pub_prepare_write (gz_bus_pub_t *self);

gz_bus_pub_t *
gz_bus_pub_new (gz_db_t *db, const char *schema, const char *stream, const char *endpoint)
{
    assert (db && schema && stream && endpoint);
    gz_bus_pub_t *self = calloc (1, sizeof *self);
    assert (self);
    self->db = db;
    self->root = self;
    pthread_mutex_init (&self->lock, NULL);
    self->schema = strdup (schema);
    self->stream = strdup (stream);
    snprintf (self->heartbeat_topic, sizeof self->heartbeat_topic, "Heartbeat/%s", stream);

    self->pub = zsock_new (ZMQ_PUB);
    assert (self->pub);
    //  Never block the owner and keep a burst for a slow subscriber; what
    //  still overflows is read from the outbox by the subscriber.
    zsock_set_sndhwm (self->pub, (int) gz_config_int ("GZ_BUS_SNDHWM", 100000, 0, INT_MAX));
    zsock_set_linger (self->pub, 100);
    self->port = zsock_bind (self->pub, "%s", endpoint); //  the port for tcp://, else 0
    if (self->port == -1) {
        gz_error (SVC, "msg=\"cannot bind publisher\" stream=%s endpoint=%s error=\"%s\"", stream,
                  endpoint, zmq_strerror (zmq_errno ()));
        gz_bus_pub_destroy (&self);
        return NULL;
    }

    s_pub_prepare_write (self);
    s_prepare (db, self->st_state, "SELECT head, published FROM {p}.bus_stream WHERE stream = $1",
               schema, NULL);
    s_prepare (db, self->st_republish,
               "SELECT " S_OUTBOX_COLUMNS " FROM {p}.outbox"
               " WHERE stream = $1 AND position > $2 AND position <= $3"
               " ORDER BY position LIMIT $4",
               schema, NULL);
    s_prepare (db, self->st_published,
               "UPDATE {p}.bus_stream SET published = $2 WHERE stream = $1 AND published < $2",
               schema, NULL);
    s_prepare (db, self->st_prune,
               "WITH doomed AS ("
               "  SELECT position FROM {p}.outbox"
               "  WHERE stream = $1 AND position <= $2 AND occurred_at_us < $3"
               "  ORDER BY position LIMIT $4)"
               " DELETE FROM {p}.outbox o USING doomed d"
               " WHERE o.stream = $1 AND o.position = d.position",
               schema, NULL);
    self->retention_us =
        gz_config_int ("GZ_BUS_RETENTION_S", 7 * 24 * 3600, 0, INT64_C (100) * 365 * 24 * 3600) *
        INT64_C (1000000);
    self->prune_every_us = gz_config_int ("GZ_BUS_PRUNE_EVERY_MS", 60000, 10, 86400000) * 1000;
    self->next_prune_us = gz_now_us () + self->prune_every_us / 10;

    //  The row may also be created later, by the first write.
    if (gz_db_ok (db)) {
        if (s_pub_ensure_stream (self))
            s_pub_db_result (self, false, "stream row");
        else
            self->stream_known = PQtransactionStatus (gz_db_conn (db)) == PQTRANS_IDLE;
    }
    return self;
}

gz_bus_pub_t *
gz_bus_pub_new_writer (gz_bus_pub_t *pub, gz_db_t *db)
{
    assert (pub && pub->root == pub && db);
    gz_bus_pub_t *self = calloc (1, sizeof *self);
    assert (self);
    self->db = db;
    self->root = pub;
    self->schema = strdup (pub->schema);
    self->stream = strdup (pub->stream);
    assert (self->schema && self->stream);
    s_pub_prepare_write (self);
    return self;
}

//  The statements a writer needs: create the stream row, write events.
static void
s_pub_prepare_write (gz_bus_pub_t *self)
{
    s_prepare (self->db, self->st_stream,
               "INSERT INTO {p}.bus_stream (stream) VALUES ($1) ON CONFLICT DO NOTHING",
               self->schema, NULL);
    s_prepare (self->db, self->st_write,
               "WITH h AS ("
               "  UPDATE {p}.bus_stream SET head = head + cardinality($2::text[])"
               "  WHERE stream = $1 RETURNING head),"
               " ins AS ("
               "  INSERT INTO {p}.outbox (stream, position, id, type, key, topic, occurred_at_us,"
               "                          trace_id, idempotency_key, payload)"
               "  SELECT $1, h.head - cardinality($2::text[]) + e.n, e.id::uuid, e.type, e.key,"
               "         e.topic, e.occ, e.trace, e.idem, e.payload"
               "  FROM h, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[],"
               "                 $7::text[], $8::text[], $9::bytea[])"
               "       WITH ORDINALITY AS e (id, type, key, topic, occ, trace, idem, payload, n)"
               "  RETURNING position)"
               " SELECT count(*), coalesce(max(position), 0) FROM ins",
               self->schema, NULL);
}

void
gz_bus_pub_destroy (gz_bus_pub_t **self_p)
{
    assert (self_p);
    gz_bus_pub_t *self = *self_p;
    if (!self)
        return;
    if (self->holding)
        gz_bus_pub_aborted (self);
    s_pub_forget (self);
    free (self->staged);
    zsock_destroy (&self->pub);
    if (self->root == self)
        pthread_mutex_destroy (&self->lock);
    free (self->schema);
    free (self->stream);
    free (self);
    *self_p = NULL;
}

int
gz_bus_pub_port (gz_bus_pub_t *self)
{
    return self->root->port;
}

void
gz_bus_pub_stage (gz_bus_pub_t *self, const char *type, const char *key, const char *topic,
                  const uint8_t *payload, size_t len, const char *idempotency_key,
                  const char *trace_id)
{
    assert (self && type);
    assert (payload || len == 0);
    if (self->nstaged == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->staged = realloc (self->staged, self->cap * sizeof *self->staged);
        assert (self->staged);
    }
    s_event_t *e = &self->staged[self->nstaged++];
    memset (e, 0, sizeof *e);
    gz_uuid (e->id);
    e->type = strdup (type);
    e->key = strdup (key ? key : "");
    e->topic = strdup (topic ? topic : type);
    e->trace_id = strdup (trace_id ? trace_id : "");
    e->idempotency_key = strdup (idempotency_key ? idempotency_key : "");
    e->payload = malloc (len ? len : 1);
    assert (e->type && e->key && e->topic && e->trace_id && e->idempotency_key && e->payload);
    if (len)
        memcpy (e->payload, payload, len);
    e->len = len;
    e->occurred_at_us = gz_now_us ();
}

void
gz_bus_pub_stage_msg (gz_bus_pub_t *self, const char *type, const char *key, const char *topic,
                      const ProtobufCMessage *msg)
{
    size_t len = 0;
    uint8_t *buf = gz_codec_pack_buf (msg, &len);
    gz_bus_pub_stage (self, type, key, topic, buf, len, NULL, NULL);
    free (buf);
}

//  Run the write statement for n events. Returns the number of rows
//  inserted (0 when the stream row is missing) and the last position in
//  *last_p, or -1 on failure.
static int64_t
s_pub_insert (gz_bus_pub_t *self, const s_event_t *ev, size_t n, int64_t *last_p, bool commit)
{
    enum { NCOLS = 8 };
    static const uint32_t oids[NCOLS] = {S_OID_TEXT, S_OID_TEXT, S_OID_TEXT, S_OID_TEXT,
                                         S_OID_INT8, S_OID_TEXT, S_OID_TEXT, S_OID_BYTEA};
    s_buf_t cols[NCOLS];
    memset (cols, 0, sizeof cols);
    for (int c = 0; c < NCOLS; c++)
        s_array_start (&cols[c], oids[c], n);
    for (size_t i = 0; i < n; i++) {
        s_array_text (&cols[0], ev[i].id);
        s_array_text (&cols[1], ev[i].type);
        s_array_text (&cols[2], ev[i].key);
        s_array_text (&cols[3], ev[i].topic);
        s_array_int8 (&cols[4], ev[i].occurred_at_us);
        s_array_text (&cols[5], ev[i].trace_id);
        s_array_text (&cols[6], ev[i].idempotency_key);
        s_array_bytes (&cols[7], ev[i].payload, ev[i].len);
    }
    const char *values[NCOLS + 1] = {self->stream};
    int lengths[NCOLS + 1] = {0};
    int formats[NCOLS + 1] = {0};
    bool too_big = false;
    for (int c = 0; c < NCOLS; c++) {
        values[c + 1] = (const char *) cols[c].data;
        lengths[c + 1] = (int) cols[c].len;
        formats[c + 1] = 1;
        too_big |= cols[c].len > INT_MAX;
    }
    int64_t count = -1;
    if (too_big)
        gz_error (SVC, "msg=\"batch too large for one statement\" stream=%s events=%zu",
                  self->stream, n);
    else {
        PGresult *r =
            commit
                ? gz_db_execb_commit (self->db, self->st_write, NCOLS + 1, values, lengths, formats)
                : gz_db_execb (self->db, self->st_write, NCOLS + 1, values, lengths, formats);
        if (r && PQntuples (r) == 1) {
            count = s_int64 (PQgetvalue (r, 0, 0));
            *last_p = s_int64 (PQgetvalue (r, 0, 1));
        }
        PQclear (r);
    }
    for (int c = 0; c < NCOLS; c++)
        free (cols[c].data);
    return count;
}

static void s_pub_release (gz_bus_pub_t *self);

//  Write the staged events; with commit, COMMIT in the same round trip.
//  Committing needs the stream row known to exist: a write that finds no
//  row inserts nothing, and must not commit the caller's effects alone.
static int
s_pub_write (gz_bus_pub_t *self, bool commit)
{
    assert (self);
    size_t n = self->nstaged - self->nwritten;
    if (n == 0)
        return commit ? gz_db_commit (self->db) : 0;
    if (commit && !self->stream_known) {
        int rc = s_pub_write (self, false);
        if (rc == 0 && gz_db_commit (self->db) != 0)
            rc = -1; //  written, not committed: the caller calls aborted
        return rc;
    }
    s_event_t *ev = self->staged + self->nwritten;
    //  Held until committed or aborted (released here on failure): within
    //  this process the head row's lock is then never contended, and
    //  events are sent in the order their transactions commit. PostgreSQL
    //  cannot see this lock, so it cannot break a deadlock through it (a
    //  holder waiting for a row this waiter's transaction locked): the
    //  wait is bounded, and giving up rolls this transaction back.
    if (!self->holding) {
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += S_WRITER_WAIT_S;
        if (pthread_mutex_timedlock (&self->root->lock, &until) != 0) {
            gz_warn (SVC, "msg=\"gave up waiting for the stream's writer lock\" stream=%s",
                     self->stream);
            return -1;
        }
        self->holding = true;
    }
    int64_t last = 0;
    int64_t count = s_pub_insert (self, ev, n, &last, commit);
    if (count == 0 && !commit) {
        //  No stream row yet (the database was down at gz_bus_pub_new).
        if (s_pub_ensure_stream (self) == 0)
            count = s_pub_insert (self, ev, n, &last, false);
    }
    if (count != (int64_t) n || last < (int64_t) n) {
        if (count >= 0)
            gz_error (SVC, "msg=\"outbox insert wrote %lld of %zu rows\" stream=%s",
                      (long long) count, n, self->stream);
        else
            gz_warn (SVC, "msg=\"outbox write failed\" stream=%s sqlstate=%s error=\"%s\"",
                     self->stream, gz_db_sqlstate (self->db), gz_db_error (self->db));
        s_pub_release (self);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ev[i].position = last - (int64_t) n + 1 + (int64_t) i;
    self->nwritten = self->nstaged;
    return 0;
}

int
gz_bus_pub_write (gz_bus_pub_t *self)
{
    return s_pub_write (self, false);
}

int
gz_bus_pub_write_commit (gz_bus_pub_t *self)
{
    return s_pub_write (self, true);
}

//  Send one event envelope as [topic][Envelope]. self is the root, and
//  the caller holds its lock (or is the only thread using it).
static void
s_pub_send (gz_bus_pub_t *self, const char *topic, const gz_envelope_t *env)
{
    size_t len = protobuf_c_message_get_packed_size (&env->base);
    uint8_t stack[2048];
    uint8_t *buf = len <= sizeof stack ? stack : malloc (len);
    assert (buf);
    protobuf_c_message_pack (&env->base, buf);
    void *handle = zsock_resolve (self->pub);
    //  PUB never blocks: past the high-water mark it drops, and the
    //  subscriber reads what it missed from the outbox.
    zmq_send (handle, topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (handle, buf, len, ZMQ_DONTWAIT);
    if (buf != stack)
        free (buf);
}

void
gz_bus_pub_committed (gz_bus_pub_t *self)
{
    assert (self);
    //  Staged but never written means the caller committed without
    //  gz_bus_pub_write: those events would be lost silently.
    assert (self->nwritten == self->nstaged);
    gz_bus_pub_t *root = self->root;
    if (self->nwritten)
        self->stream_known = true; //  a committed write found the row
    if (!self->holding) {          //  nothing was written
        pthread_mutex_lock (&root->lock);
        self->holding = true;
    }
    for (size_t i = 0; i < self->nwritten; i++) {
        s_event_t *e = &self->staged[i];
        gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
        env.id = e->id;
        env.type = e->type;
        env.key = e->key;
        env.stream = self->stream;
        env.position = e->position;
        env.occurred_at_us = e->occurred_at_us;
        env.trace_id = e->trace_id;
        env.idempotency_key = e->idempotency_key;
        env.payload.data = e->payload;
        env.payload.len = e->len;
        env.topic = e->topic;
        s_pub_send (root, e->topic, &env);
        root->published++;
        if (root->run_lo == 0)
            root->run_lo = root->run_hi = e->position;
        else if (e->position == root->run_hi + 1)
            root->run_hi = e->position;
        if (e->position > root->head)
            root->head = e->position;
    }
    s_pub_release (self);
    s_pub_forget (self);
}

void
gz_bus_pub_aborted (gz_bus_pub_t *self)
{
    assert (self);
    s_pub_release (self);
    s_pub_forget (self);
}

//  Let go of root's lock if this writer holds it.
static void
s_pub_release (gz_bus_pub_t *self)
{
    if (self->holding) {
        self->holding = false;
        pthread_mutex_unlock (&self->root->lock);
    }
}

static void
s_pub_heartbeat (gz_bus_pub_t *self)
{
    Gongzhi__V1__Heartbeat hb = GONGZHI__V1__HEARTBEAT__INIT;
    hb.stream = self->stream;
    hb.head = self->head;
    uint8_t payload[512];
    size_t len = protobuf_c_message_get_packed_size (&hb.base);
    if (len > sizeof payload)
        return; //  a stream name of hundreds of bytes: no heartbeat
    protobuf_c_message_pack (&hb.base, payload);
    char id[37];
    gz_uuid (id);
    gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
    env.id = id;
    env.type = "Heartbeat";
    env.stream = self->stream;
    env.position = self->head;
    env.occurred_at_us = gz_now_us ();
    env.topic = self->heartbeat_topic;
    env.payload.data = payload;
    env.payload.len = len;
    s_pub_send (self, self->heartbeat_topic, &env);
}

//  Re-send outbox rows in (from, to]. 0 ok, -1 failure.
static int
s_pub_republish (gz_bus_pub_t *self, int64_t from, int64_t to)
{
    while (from < to) {
        char a[24], b[24], lim[24];
        snprintf (a, sizeof a, "%lld", (long long) from);
        snprintf (b, sizeof b, "%lld", (long long) to);
        snprintf (lim, sizeof lim, "%d", S_REPUBLISH_LIMIT);
        const char *v[4] = {self->stream, a, b, lim};
        PGresult *r = gz_db_exec (self->db, self->st_republish, 4, v);
        if (!r)
            return -1;
        int n = PQntuples (r);
        for (int i = 0; i < n; i++) {
            gz_envelope_t env;
            unsigned char *payload = NULL;
            if (s_envelope_from_row (&env, r, i, self->stream, &payload) == 0) {
                s_pub_send (self, env.topic, &env);
                self->published++;
                self->republished++;
            }
            PQfreemem (payload);
            from = env.position;
        }
        PQclear (r);
        if (n == 0)
            break; //  rows up to the head are committed; none left means done
    }
    return 0;
}

#define S_PRUNE_CHUNK 10000 //  outbox rows deleted per statement
#define S_PRUNE_CHUNKS 20   //  statements per prune, at most

//  Delete rows older than the retention that are published (at or below
//  the watermark), oldest first, a bounded amount per call.
static void
s_pub_prune (gz_bus_pub_t *self, int64_t published)
{
    int64_t now = gz_now_us ();
    if (self->retention_us <= 0 || now < self->next_prune_us || published <= 0)
        return;
    self->next_prune_us = now + self->prune_every_us;
    char upto[24], before[24], chunk[24];
    snprintf (upto, sizeof upto, "%lld", (long long) published);
    snprintf (before, sizeof before, "%lld", (long long) (now - self->retention_us));
    snprintf (chunk, sizeof chunk, "%d", S_PRUNE_CHUNK);
    const char *v[4] = {self->stream, upto, before, chunk};
    for (int i = 0; i < S_PRUNE_CHUNKS; i++) {
        PGresult *r = gz_db_exec (self->db, self->st_prune, 4, v);
        if (!r) {
            s_pub_db_result (self, false, "outbox prune");
            return;
        }
        long n = atol (PQcmdTuples (r));
        PQclear (r);
        self->pruned += (uint64_t) n;
        if (n < S_PRUNE_CHUNK)
            break;
    }
}

int
gz_bus_pub_tick (gz_bus_pub_t *self)
{
    assert (self && self->root == self);
    assert (!self->holding); //  not between a write and its commit
    //  Writers wait: an event they committed but have not sent yet would
    //  otherwise look unsent and go out twice.
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    int64_t prune_upto = 0;
    const char *v[1] = {self->stream};
    PGresult *r = gz_db_exec (self->db, self->st_state, 1, v);
    if (r && PQntuples (r) == 1) {
        int64_t head = s_int64 (PQgetvalue (r, 0, 0));
        int64_t published = s_int64 (PQgetvalue (r, 0, 1));
        //  (published, head] minus the run this process sent itself: the
        //  part before the run (committed before this start, never sent:
        //  a crash) and after it (an ambiguous COMMIT, another writer).
        int64_t before_hi = published, after_lo = published;
        if (self->run_lo > 0) {
            before_hi = self->run_lo - 1 < head ? self->run_lo - 1 : head;
            after_lo = self->run_hi > published ? self->run_hi : published;
        }
        rc = s_pub_republish (self, published, before_hi);
        if (rc == 0)
            rc = s_pub_republish (self, after_lo, head);
        if (rc == 0) {
            self->run_lo = 1;
            if (head > self->run_hi)
                self->run_hi = head;
            if (head > self->head)
                self->head = head;
            if (head > published) {
                char h[24];
                snprintf (h, sizeof h, "%lld", (long long) head);
                const char *u[2] = {self->stream, h};
                PGresult *w = gz_db_exec (self->db, self->st_published, 2, u);
                rc = w ? 0 : -1;
                PQclear (w);
            }
            if (rc == 0)
                prune_upto = head;
        }
    }
    else if (r) //  no stream row (yet): create it, nothing to re-send
        rc = s_pub_ensure_stream (self);
    PQclear (r);
    s_pub_db_result (self, rc == 0, "publisher tick");
    //  Heartbeat also while the database is down: consumers then do not
    //  hammer it with catch-ups that cannot succeed.
    s_pub_heartbeat (self);
    pthread_mutex_unlock (&self->lock);
    //  Outside the lock: writers need not wait for the deletes.
    if (prune_upto > 0)
        s_pub_prune (self, prune_upto);
    return rc;
}

//  Read one of root's shared counters under its lock.
static int64_t
s_pub_read (gz_bus_pub_t *self, const void *field, size_t size)
{
    gz_bus_pub_t *root = self->root;
    int64_t value = 0;
    if (!self->holding)
        pthread_mutex_lock (&root->lock);
    memcpy (&value, field, size);
    if (!self->holding)
        pthread_mutex_unlock (&root->lock);
    return value;
}

int64_t
gz_bus_pub_head (gz_bus_pub_t *self)
{
    return s_pub_read (self, &self->root->head, sizeof self->root->head);
}

uint64_t
gz_bus_pub_published (gz_bus_pub_t *self)
{
    return (uint64_t) s_pub_read (self, &self->root->published, sizeof self->root->published);
}

uint64_t
gz_bus_pub_pruned (gz_bus_pub_t *self)
{
    return (uint64_t) s_pub_read (self, &self->root->pruned, sizeof self->root->pruned);
}

uint64_t
gz_bus_pub_republished (gz_bus_pub_t *self)
{
    return (uint64_t) s_pub_read (self, &self->root->republished, sizeof self->root->republished);
}

//  ---------------------------------------------------------------- consumer

struct _gz_bus_sub_t {
    gz_db_t *db;       //  borrowed: the owner's connection
    gz_bus_pub_t *pub; //  borrowed: chained publisher (consume-transform-produce), or NULL
    char *consumer, *stream;
    zsock_t *sub;
    gz_bus_handler_fn *handler;
    void *arg;
    gz_bus_flush_fn *flush; //  NULL: none
    void *flush_arg;

    char st_cursor_get[24];
    char st_cursor_lock[24];
    char st_cursor_new[24];
    char st_cursor_set[24];
    char st_outbox[24];

    gz_envelope_t **batch; //  decoded live messages, S_LIVE_BATCH at most
    size_t nbatch;

    int64_t position;     //  last applied (stored) position
    int64_t seen_head;    //  highest heartbeat head this batch
    bool need_catchup;    //  read the outbox before trusting the live stream
    bool failing;         //  last database call failed (log once)
    bool handler_failed;  //  the last failure was the handler's (logged)
    int64_t heartbeat_ms; //  the publisher's interval
    int64_t last_heard;   //  zclock_mono of the last message (or silence catch-up)

    uint64_t consumed, duplicates, caught_up, bad, heartbeats;
};

static void
s_sub_db_result (gz_bus_sub_t *self, bool ok, const char *what)
{
    if (!ok && self->handler_failed)
        return; //  logged where it failed; not the database's fault
    if (!ok && !self->failing)
        gz_warn (SVC, "msg=\"%s failed\" consumer=%s stream=%s sqlstate=%s error=\"%s\"", what,
                 self->consumer, self->stream, gz_db_sqlstate (self->db), gz_db_error (self->db));
    else if (ok && self->failing)
        gz_info (SVC, "msg=\"consumer database back\" consumer=%s stream=%s", self->consumer,
                 self->stream);
    self->failing = !ok;
}

gz_bus_sub_t *
gz_bus_sub_new (gz_db_t *db, const char *consumer, const char *consumer_schema,
                const char *producer_schema, const char *stream, const char *endpoint,
                gz_bus_handler_fn *handler, void *arg)
{
    assert (db && consumer && consumer_schema && producer_schema && stream && endpoint);
    assert (handler);
    gz_bus_sub_t *self = calloc (1, sizeof *self);
    assert (self);
    self->db = db;
    self->consumer = strdup (consumer);
    self->stream = strdup (stream);
    self->handler = handler;
    self->arg = arg;
    self->batch = calloc (S_LIVE_BATCH, sizeof *self->batch);
    assert (self->batch);
    self->heartbeat_ms = gz_config_int ("GZ_BUS_HEARTBEAT_MS", 1000, 1, 3600000);
    self->last_heard = zclock_mono ();
    self->need_catchup = true;

    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    zsock_set_rcvhwm (self->sub, (int) gz_config_int ("GZ_BUS_RCVHWM", 100000, 0, INT_MAX));
    zsock_set_linger (self->sub, 0);
    //  Everything: gap detection needs every position.
    zsock_set_subscribe (self->sub, "");
    //  zsock_attach: a list of endpoints (one per producer replica) works.
    if (zsock_attach (self->sub, endpoint, false)) {
        gz_error (SVC, "msg=\"cannot connect consumer\" consumer=%s endpoint=%s", consumer,
                  endpoint);
        gz_bus_sub_destroy (&self);
        return NULL;
    }

    const char *c = consumer_schema, *p = producer_schema;
    s_prepare (db, self->st_cursor_get,
               "SELECT position FROM {c}.bus_cursor WHERE consumer = $1 AND stream = $2", p, c);
    s_prepare (db, self->st_cursor_lock,
               "SELECT position FROM {c}.bus_cursor WHERE consumer = $1 AND stream = $2"
               " FOR UPDATE",
               p, c);
    s_prepare (db, self->st_cursor_new,
               "INSERT INTO {c}.bus_cursor (consumer, stream, position) VALUES ($1, $2, 0)"
               " ON CONFLICT DO NOTHING",
               p, c);
    s_prepare (db, self->st_cursor_set,
               "UPDATE {c}.bus_cursor SET position = $3 WHERE consumer = $1 AND stream = $2", p, c);
    s_prepare (db, self->st_outbox,
               "SELECT " S_OUTBOX_COLUMNS " FROM {p}.outbox"
               " WHERE stream = $1 AND position > $2 ORDER BY position LIMIT $3",
               p, c);

    //  A hint only (duplicates are dropped early); every batch re-reads
    //  the cursor under its lock.
    if (gz_db_ok (db)) {
        const char *v[2] = {self->consumer, self->stream};
        PGresult *r = gz_db_exec (db, self->st_cursor_get, 2, v);
        if (r && PQntuples (r) == 1)
            self->position = s_int64 (PQgetvalue (r, 0, 0));
        PQclear (r);
    }
    return self;
}

static void
s_sub_clear_batch (gz_bus_sub_t *self)
{
    for (size_t i = 0; i < self->nbatch; i++)
        gz_codec_envelope_free (&self->batch[i]);
    self->nbatch = 0;
}

void
gz_bus_sub_destroy (gz_bus_sub_t **self_p)
{
    assert (self_p);
    gz_bus_sub_t *self = *self_p;
    if (!self)
        return;
    s_sub_clear_batch (self);
    free (self->batch);
    zsock_destroy (&self->sub);
    free (self->consumer);
    free (self->stream);
    free (self);
    *self_p = NULL;
}

//  Roll back the consumer's transaction, and forget the events its
//  handler staged on the chained publisher (their positions are void).
static void
s_sub_rollback (gz_bus_sub_t *self)
{
    gz_db_rollback (self->db);
    if (self->pub)
        gz_bus_pub_aborted (self->pub);
}

void
gz_bus_sub_set_outbox (gz_bus_sub_t *self, gz_bus_pub_t *pub)
{
    self->pub = pub;
}

void
gz_bus_sub_set_flush (gz_bus_sub_t *self, gz_bus_flush_fn *flush, void *arg)
{
    self->flush = flush;
    self->flush_arg = arg;
}

zsock_t *
gz_bus_sub_sock (gz_bus_sub_t *self)
{
    return self->sub;
}

//  BEGIN and lock the cursor row (created at 0 when missing); its value
//  goes to *cursor_p. 0 ok, -1 failure (rolled back).
static int
s_sub_begin (gz_bus_sub_t *self, int64_t *cursor_p)
{
    if (gz_db_begin (self->db))
        return -1;
    const char *v[2] = {self->consumer, self->stream};
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *r = gz_db_exec (self->db, self->st_cursor_lock, 2, v);
        if (!r)
            break;
        int rows = PQntuples (r);
        if (rows == 1)
            *cursor_p = s_int64 (PQgetvalue (r, 0, 0));
        PQclear (r);
        if (rows == 1)
            return 0;
        r = gz_db_exec (self->db, self->st_cursor_new, 2, v);
        PQclear (r);
        if (!r)
            break;
    }
    s_sub_rollback (self);
    return -1;
}

//  Apply envs (sorted by position) on top of *cursor_p inside the open
//  transaction: drop position <= cursor, stop before a gap (*gap_p).
//  *applied_p counts the events applied. 0 ok, -1 handler failure.
static int
s_sub_apply (gz_bus_sub_t *self, gz_envelope_t *const *envs, size_t n, int64_t *cursor_p,
             size_t *applied_p, bool *gap_p)
{
    for (size_t i = 0; i < n; i++) {
        const gz_envelope_t *env = envs[i];
        if (env->position <= *cursor_p) {
            self->duplicates++;
            continue;
        }
        if (env->position != *cursor_p + 1) {
            *gap_p = true;
            break;
        }
        if (self->handler (self->db, env, self->arg)) {
            self->handler_failed = true;
            gz_warn (SVC,
                     "msg=\"handler failed, batch rolled back\" consumer=%s stream=%s "
                     "position=%lld",
                     self->consumer, self->stream, (long long) env->position);
            return -1;
        }
        *cursor_p = env->position;
        (*applied_p)++;
    }
    return 0;
}

//  Store the cursor and COMMIT. 0 ok, -1 failure (rolled back).
static int
s_sub_commit (gz_bus_sub_t *self, int64_t start, int64_t cursor)
{
    //  The handler has seen the whole batch: let it write what it held.
    if (self->flush && cursor != start && self->flush (self->db, self->flush_arg)) {
        self->handler_failed = true;
        gz_warn (SVC, "msg=\"batch flush failed, batch rolled back\" consumer=%s stream=%s",
                 self->consumer, self->stream);
        s_sub_rollback (self);
        return -1;
    }
    //  A handler that ignored a failed statement leaves the transaction
    //  aborted, and COMMIT would then silently roll back.
    PGconn *conn = gz_db_conn (self->db);
    if (!conn || PQtransactionStatus (conn) != PQTRANS_INTRANS) {
        s_sub_rollback (self);
        return -1;
    }
    if (cursor != start) {
        char pos[24];
        snprintf (pos, sizeof pos, "%lld", (long long) cursor);
        const char *v[3] = {self->consumer, self->stream, pos};
        PGresult *r = gz_db_exec (self->db, self->st_cursor_set, 3, v);
        PQclear (r);
        if (!r) {
            s_sub_rollback (self);
            return -1;
        }
    }
    //  Events the handler staged commit with its effects, then go out.
    if (self->pub && gz_bus_pub_write (self->pub)) {
        s_sub_rollback (self);
        return -1;
    }
    if (gz_db_commit (self->db)) {
        s_sub_rollback (self);
        return -1;
    }
    if (self->pub)
        gz_bus_pub_committed (self->pub);
    return 0;
}

//  One transaction over n envelopes. 0 ok (*gap_p set when a gap
//  stopped it), -1 failure (rolled back).
static int
s_sub_batch (gz_bus_sub_t *self, gz_envelope_t *const *envs, size_t n, bool *gap_p,
             size_t *applied_p)
{
    int64_t start = 0;
    if (s_sub_begin (self, &start))
        return -1;
    int64_t cursor = start;
    if (s_sub_apply (self, envs, n, &cursor, applied_p, gap_p)) {
        s_sub_rollback (self);
        return -1;
    }
    if (s_sub_commit (self, start, cursor))
        return -1;
    self->position = cursor;
    self->consumed += *applied_p;
    return 0;
}

//  Read the outbox past the cursor and apply it, until none is left (or
//  a bounded number of rounds, so the owner's loop stays responsive).
//  0 ok, -1 failure.
static int
s_sub_catchup (gz_bus_sub_t *self)
{
    for (int round = 0; round < S_CATCHUP_ROUNDS; round++) {
        int64_t start = 0;
        if (s_sub_begin (self, &start))
            return -1;
        char pos[24], lim[24];
        snprintf (pos, sizeof pos, "%lld", (long long) start);
        snprintf (lim, sizeof lim, "%d", S_CATCHUP_LIMIT);
        const char *v[3] = {self->stream, pos, lim};
        PGresult *r = gz_db_exec (self->db, self->st_outbox, 3, v);
        if (!r) {
            s_sub_rollback (self);
            return -1;
        }
        int n = PQntuples (r);
        gz_envelope_t *rows = calloc ((size_t) n + 1, sizeof *rows);
        gz_envelope_t **envs = calloc ((size_t) n + 1, sizeof *envs);
        unsigned char **payloads = calloc ((size_t) n + 1, sizeof *payloads);
        assert (rows && envs && payloads);
        int rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            rc = s_envelope_from_row (&rows[i], r, i, self->stream, &payloads[i]);
            envs[i] = &rows[i];
        }
        int64_t cursor = start;
        size_t applied = 0;
        bool gap = false;
        if (rc == 0)
            rc = s_sub_apply (self, envs, (size_t) n, &cursor, &applied, &gap);
        if (rc == 0)
            rc = s_sub_commit (self, start, cursor);
        else
            s_sub_rollback (self);
        for (int i = 0; i < n; i++)
            PQfreemem (payloads[i]);
        free (payloads);
        free (envs);
        free (rows);
        PQclear (r);
        if (rc)
            return -1;
        self->position = cursor;
        self->consumed += applied;
        self->caught_up += applied;
        if (gap)
            //  Cannot happen with positions reserved under the stream
            //  lock; if rows were removed by hand, say so, do not spin.
            gz_error (SVC, "msg=\"gap in outbox\" consumer=%s stream=%s after=%lld", self->consumer,
                      self->stream, (long long) cursor);
        if (n < S_CATCHUP_LIMIT || gap) {
            self->need_catchup = false;
            break;
        }
    }
    return 0;
}

//  Receive one message without blocking into the batch (events), or
//  account for it (heartbeats, bad input). false when none was waiting.
static bool
s_sub_recv (gz_bus_sub_t *self)
{
    void *handle = zsock_resolve (self->sub);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&part);
        return false;
    }
    int frames = 1;
    gz_envelope_t *env = NULL;
    while (zmq_msg_more (&part)) {
        zmq_msg_close (&part);
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) == -1)
            break;
        if (++frames == 2)
            env = gz_codec_envelope_decode (zmq_msg_data (&part), zmq_msg_size (&part));
    }
    zmq_msg_close (&part);
    if (frames != 2 || !env || !env->type || !env->stream) {
        self->bad++;
        gz_codec_envelope_free (&env);
        return true;
    }
    if (strcmp (env->stream, self->stream) != 0) {
        gz_codec_envelope_free (&env); //  another stream's traffic: not ours
        return true;
    }
    self->last_heard = zclock_mono ();
    if (strcmp (env->type, "Heartbeat") == 0) {
        self->heartbeats++;
        if (env->position > self->seen_head)
            self->seen_head = env->position;
        gz_codec_envelope_free (&env);
    }
    else if (env->position <= 0) {
        self->bad++;
        gz_codec_envelope_free (&env);
    }
    else if (env->position <= self->position) {
        self->duplicates++;
        gz_codec_envelope_free (&env);
    }
    else
        self->batch[self->nbatch++] = env;
    return true;
}

static int
s_by_position (const void *a, const void *b)
{
    const gz_envelope_t *x = *(gz_envelope_t *const *) a;
    const gz_envelope_t *y = *(gz_envelope_t *const *) b;
    return (x->position > y->position) - (x->position < y->position);
}

int
gz_bus_sub_on_readable (gz_bus_sub_t *self)
{
    assert (self);
    int rc = 0;
    bool more = true;
    self->handler_failed = false;
    //  Bounded, so a flood cannot starve the owner's loop: the socket
    //  stays readable and the poller calls again.
    for (int batches = 0; more && batches < S_LIVE_BATCHES; batches++) {
        self->seen_head = 0;
        more = false;
        while (self->nbatch < S_LIVE_BATCH && (more = s_sub_recv (self)))
            ;
        if (self->nbatch > 0) {
            qsort (self->batch, self->nbatch, sizeof *self->batch, s_by_position);
            bool gap = false;
            size_t applied = 0;
            if (s_sub_batch (self, self->batch, self->nbatch, &gap, &applied))
                rc = -1;
            else if (gap)
                self->need_catchup = true;
        }
        s_sub_clear_batch (self);
        if (rc == 0 && (self->need_catchup || self->seen_head > self->position))
            rc = s_sub_catchup (self);
        if (rc) {
            //  Drop a batch more so a dead database does not spin the
            //  owner's poller (bounded: all of it is in the outbox, and
            //  the tick catches up once the database is back).
            self->need_catchup = true;
            while (s_sub_recv (self) && self->nbatch < S_LIVE_BATCH)
                ;
            s_sub_clear_batch (self);
            more = false;
        }
    }
    s_sub_db_result (self, rc == 0, "consumer apply");
    return rc;
}

int
gz_bus_sub_tick (gz_bus_sub_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    bool silent = now - self->last_heard >= 3 * self->heartbeat_ms;
    if (!self->need_catchup && !silent)
        return 0;
    self->handler_failed = false;
    int rc = gz_db_ensure (self->db);
    if (rc == 0)
        rc = s_sub_catchup (self);
    if (rc)
        self->need_catchup = true;
    else if (silent)
        self->last_heard = now; //  next silent catch-up in 3 intervals
    s_sub_db_result (self, rc == 0, "consumer catch-up");
    return rc;
}

int64_t
gz_bus_sub_position (gz_bus_sub_t *self)
{
    return self->position;
}

uint64_t
gz_bus_sub_consumed (gz_bus_sub_t *self)
{
    return self->consumed;
}

uint64_t
gz_bus_sub_duplicates (gz_bus_sub_t *self)
{
    return self->duplicates;
}

uint64_t
gz_bus_sub_caught_up (gz_bus_sub_t *self)
{
    return self->caught_up;
}

uint64_t
gz_bus_sub_bad (gz_bus_sub_t *self)
{
    return self->bad;
}

uint64_t
gz_bus_sub_heartbeats (gz_bus_sub_t *self)
{
    return self->heartbeats;
}
