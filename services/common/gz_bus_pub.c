/*  gz_bus_pub: the producer side of the durable bus. See gz_bus.h.

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
    advances to head and a heartbeat carries head.  */
#include "gz_bus_private.h"
#include "gz_log.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SVC "bus"

//  PostgreSQL type OIDs for binary array parameters (pg_type.dat; fixed).
#define S_OID_BYTEA 17
#define S_OID_INT8 20
#define S_OID_TEXT 25

#define S_WRITER_WAIT_S 10 //  longest wait for the writer lock (then fail)
#define S_REPUBLISH_LIMIT 1000

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
    int64_t prune_every_ms;
    int64_t next_prune_ms; //  root only: zclock_mono of the next prune
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
gz_bus_pub_new (gz_db_t *db, const char *schema, const char *stream, const char *endpoint,
                const gz_bus_opts_t *opts)
{
    assert (db && schema && stream && endpoint);
    gz_bus_opts_t defaults;
    opts = gz_bus_opts_or_default (opts, &defaults);
    assert (opts->sndhwm >= 0 && opts->retention_s >= 0 && opts->prune_every_ms > 0);
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
    zsock_set_sndhwm (self->pub, opts->sndhwm);
    zsock_set_linger (self->pub, 100);
    self->port = zsock_bind (self->pub, "%s", endpoint); //  the port for tcp://, else 0
    if (self->port == -1) {
        gz_error (SVC, "msg=\"cannot bind publisher\" stream=%s endpoint=%s error=\"%s\"", stream,
                  endpoint, zmq_strerror (zmq_errno ()));
        gz_bus_pub_destroy (&self);
        return NULL;
    }

    s_pub_prepare_write (self);
    gz_bus_prepare (db, self->st_state,
                    "SELECT head, published FROM {p}.bus_stream WHERE stream = $1", schema, NULL);
    gz_bus_prepare (db, self->st_republish,
                    "SELECT " GZ_BUS_OUTBOX_COLUMNS " FROM {p}.outbox"
                    " WHERE stream = $1 AND position > $2 AND position <= $3"
                    " ORDER BY position LIMIT $4",
                    schema, NULL);
    gz_bus_prepare (db, self->st_published,
                    "UPDATE {p}.bus_stream SET published = $2 WHERE stream = $1 AND published < $2",
                    schema, NULL);
    gz_bus_prepare (db, self->st_prune,
                    "WITH doomed AS ("
                    "  SELECT position FROM {p}.outbox"
                    "  WHERE stream = $1 AND position <= $2 AND occurred_at_us < $3"
                    "  ORDER BY position LIMIT $4)"
                    " DELETE FROM {p}.outbox o USING doomed d"
                    " WHERE o.stream = $1 AND o.position = d.position",
                    schema, NULL);
    self->retention_us = opts->retention_s * INT64_C (1000000);
    self->prune_every_ms = opts->prune_every_ms;
    self->next_prune_ms = zclock_mono () + self->prune_every_ms / 10;

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
    gz_bus_prepare (self->db, self->st_stream,
                    "INSERT INTO {p}.bus_stream (stream) VALUES ($1) ON CONFLICT DO NOTHING",
                    self->schema, NULL);
    gz_bus_prepare (
        self->db, self->st_write,
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
            count = gz_bus_int64 (PQgetvalue (r, 0, 0));
            *last_p = gz_bus_int64 (PQgetvalue (r, 0, 1));
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
    //  wait is bounded, and giving up rolls this transaction back. The
    //  bound is on the monotonic clock: a step of the wall clock neither
    //  gives up at once nor waits an hour.
    if (!self->holding) {
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_sec += S_WRITER_WAIT_S;
        if (pthread_mutex_clocklock (&self->root->lock, CLOCK_MONOTONIC, &until) != 0) {
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
            if (gz_bus_envelope_from_row (&env, r, i, self->stream, &payload) == 0) {
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
    int64_t mono = zclock_mono ();
    if (self->retention_us <= 0 || mono < self->next_prune_ms || published <= 0)
        return;
    self->next_prune_ms = mono + self->prune_every_ms;
    int64_t now = gz_now_us (); //  wall clock: occurred_at_us is one
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
        int64_t head = gz_bus_int64 (PQgetvalue (r, 0, 0));
        int64_t published = gz_bus_int64 (PQgetvalue (r, 0, 1));
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
