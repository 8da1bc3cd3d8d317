/*  gz_bus_sub: the consumer side of the durable bus. See gz_bus.h.

    DESIGN

    Consumer. Every batch, live or from PostgreSQL, is one transaction
    that locks the cursor row (FOR UPDATE, re-read every time: a replica
    sharing the cursor may have moved it), applies the events in position
    order on top of it, dropping position <= cursor and stopping at a gap,
    then stores the new cursor with the handler's effects. A gap, a
    heartbeat past the cursor, a failure, a start or a silent publisher
    set need_catchup (or trigger it at once): the catch-up reads the
    producer's outbox past the locked cursor, 5000 rows per transaction
    (a consumer that sums per key, like analytics, writes its hot rows
    once per transaction: 1000 caught up at half the rate), until no rows
    are left. Positions in the outbox are committed in
    order, so what a reader sees is always a gap-free prefix.

    The in-memory cursor (self->position) is only a hint for dropping
    duplicates before the transaction; it never runs ahead of the stored
    cursor because it is set only after a successful COMMIT.  */
#include "gz_bus_private.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "bus"

#define S_LIVE_BATCH 500     //  live messages applied per transaction
#define S_LIVE_BATCHES 8     //  batches per on_readable call, then yield
#define S_CATCHUP_LIMIT 5000 //  outbox rows read per catch-up transaction
#define S_CATCHUP_ROUNDS 4   //  catch-up transactions per call, then yield

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
    bool behind;          //  the last catch-up stopped at its rounds, rows left
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
                gz_bus_handler_fn *handler, void *arg, const gz_bus_opts_t *opts)
{
    assert (db && consumer && consumer_schema && producer_schema && stream && endpoint);
    assert (handler);
    gz_bus_opts_t defaults;
    opts = gz_bus_opts_or_default (opts, &defaults);
    assert (opts->rcvhwm >= 0 && opts->heartbeat_ms > 0);
    gz_bus_sub_t *self = calloc (1, sizeof *self);
    assert (self);
    self->db = db;
    self->consumer = strdup (consumer);
    self->stream = strdup (stream);
    self->handler = handler;
    self->arg = arg;
    self->batch = calloc (S_LIVE_BATCH, sizeof *self->batch);
    assert (self->batch);
    self->heartbeat_ms = opts->heartbeat_ms;
    self->last_heard = zclock_mono ();
    self->need_catchup = true;

    self->sub = zsock_new (ZMQ_SUB);
    assert (self->sub);
    zsock_set_rcvhwm (self->sub, opts->rcvhwm);
    zsock_set_maxmsgsize (self->sub, opts->max_msg_bytes);
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
    gz_bus_prepare (db, self->st_cursor_get,
                    "SELECT position FROM {c}.bus_cursor WHERE consumer = $1 AND stream = $2", p,
                    c);
    gz_bus_prepare (db, self->st_cursor_lock,
                    "SELECT position FROM {c}.bus_cursor WHERE consumer = $1 AND stream = $2"
                    " FOR UPDATE",
                    p, c);
    gz_bus_prepare (db, self->st_cursor_new,
                    "INSERT INTO {c}.bus_cursor (consumer, stream, position) VALUES ($1, $2, 0)"
                    " ON CONFLICT DO NOTHING",
                    p, c);
    gz_bus_prepare (db, self->st_cursor_set,
                    "UPDATE {c}.bus_cursor SET position = $3 WHERE consumer = $1 AND stream = $2",
                    p, c);
    gz_bus_prepare (db, self->st_outbox,
                    "SELECT " GZ_BUS_OUTBOX_COLUMNS " FROM {p}.outbox"
                    " WHERE stream = $1 AND position > $2 ORDER BY position LIMIT $3",
                    p, c);

    //  A hint only (duplicates are dropped early); every batch re-reads
    //  the cursor under its lock.
    if (gz_db_ok (db)) {
        const char *v[2] = {self->consumer, self->stream};
        PGresult *r = gz_db_exec (db, self->st_cursor_get, 2, v);
        if (r && PQntuples (r) == 1)
            self->position = gz_bus_int64 (PQgetvalue (r, 0, 0));
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
            *cursor_p = gz_bus_int64 (PQgetvalue (r, 0, 0));
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
    self->behind = false;
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
            rc = gz_bus_envelope_from_row (&rows[i], r, i, self->stream, &payloads[i]);
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
            return 0;
        }
    }
    self->behind = true;
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

bool
gz_bus_sub_behind (gz_bus_sub_t *self)
{
    assert (self);
    return self->behind && self->need_catchup;
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
