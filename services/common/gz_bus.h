/*  gz_bus: the durable bus. PostgreSQL is the truth, ZeroMQ the fast path.

    Producer side (gz_bus_pub): a service writes its state change and the
    events it emits in ONE transaction: events go to <schema>.outbox with
    gap-free positions per stream, reserved from <schema>.bus_stream.head
    under that row's lock (held to commit, so positions commit in order and
    a reader never sees position n+1 before n). After COMMIT the events go
    out on a PUB socket as [topic][Envelope]. A heartbeat (topic
    "Heartbeat/<stream>", envelope type "Heartbeat", position = head) goes
    out from the tick. After a crash, the first tick re-publishes
    everything past the stored published watermark.

    Consumer side (gz_bus_sub): SUB socket connected to the producer. Each
    batch is applied in ONE transaction that locks and advances the
    consumer's cursor in <consumer schema>.bus_cursor together with the
    handler's effects. position <= cursor: duplicate, dropped. position >
    cursor+1 (a gap), a restart, or a silent publisher (no message for 3
    heartbeat intervals) or a heartbeat whose head is past the cursor: the
    consumer reads the missing range from <producer schema>.outbox in
    PostgreSQL before it takes the live stream again.

    Consumers subscribe to the whole stream (gap detection needs every
    position) and filter by envelope type in the handler. External
    subscribers that filter by topic prefix also subscribe "Heartbeat/".

    Tables (created by gz_bus_migrations, applied with gz_db_migrate into
    each service's own schema):
      bus_stream (stream text PK, head bigint, published bigint)
      outbox     (stream, position, id uuid, type, key, topic,
                  occurred_at_us, trace_id, idempotency_key, payload bytea;
                  PK (stream, position))
      bus_cursor (consumer text, stream text, position bigint; PK both)

    Threading: a gz_bus_pub or gz_bus_sub belongs to the thread that owns
    its gz_db_t (one actor). To commit on several connections at once, a
    publisher gets writers (gz_bus_pub_new_writer), one per extra thread
    and connection; they share its PUB socket.  */
#ifndef GZ_BUS_H_INCLUDED
#define GZ_BUS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_codec.h"
#include "gz_db.h"

//  ----------------------------------------------- gz_bus.c: tables and options

//  The bus tables, as migrations for gz_db_migrate (names "bus_NNN_*.sql"
//  so they never collide with a service's own). Static; do not free.
const gz_migration_t *gz_bus_migrations (void);

//  Tuning for a publisher or consumer, fixed when it is created: the bus
//  reads no environment itself. A plain struct the caller owns; the
//  constructors copy what they need.
typedef struct {
    int sndhwm;          //  PUB high-water mark, messages (0: none)
    int rcvhwm;          //  SUB high-water mark, messages (0: none)
    int64_t retention_s; //  keep published outbox rows this long (0: forever)
    int prune_every_ms;  //  how often the publisher's tick prunes
    int heartbeat_ms;    //  the publishers' tick interval, as consumers judge silence
    int max_msg_bytes;   //  largest message a socket that reads from others takes
                         //  (ZMQ_MAXMSGSIZE): a peer that sends more is disconnected
} gz_bus_opts_t;

//  The defaults: sndhwm and rcvhwm 100000, retention_s 7 days,
//  prune_every_ms 60000, heartbeat_ms 1000, max_msg_bytes 1 MiB.
void gz_bus_opts_default (gz_bus_opts_t *opts);

//  The defaults, overridden by GZ_BUS_SNDHWM and GZ_BUS_RCVHWM
//  (0..INT_MAX), GZ_BUS_RETENTION_S (0..100 years), GZ_BUS_PRUNE_EVERY_MS
//  (10..86400000) and GZ_BUS_HEARTBEAT_MS (1..3600000) where set; a value
//  out of range is reported and the default kept (gz_config_int). Read
//  once at start, by the service's configuration.
void gz_bus_opts_from_env (gz_bus_opts_t *opts);

//  ----------------------------------------------------- gz_bus_pub.c: producer

typedef struct _gz_bus_pub_t gz_bus_pub_t;

//  Create a publisher for stream in schema, binding a PUB socket to
//  endpoint (tcp://host:port, tcp://127.0.0.1:* or inproc://name). The
//  bus tables must exist (migrated). opts (borrowed; NULL: the defaults)
//  gives sndhwm, retention_s and prune_every_ms. NULL if the bind fails
//  (logged).
gz_bus_pub_t *gz_bus_pub_new (gz_db_t *db, const char *schema, const char *stream,
                              const char *endpoint, const gz_bus_opts_t *opts);
void gz_bus_pub_destroy (gz_bus_pub_t **self_p);

//  A writer for pub's stream on another connection, for another thread:
//  stage, write, committed and aborted work as on pub, and committed
//  events go out on pub's socket. From a write to its committed or
//  aborted, the writer holds a lock shared with pub and its other writers
//  (as PostgreSQL holds the head row), so events leave the socket in the
//  order their transactions commit; the other writers meanwhile prepare
//  their own transactions. Tick, port, head and the counters belong to
//  pub (on a writer they read pub's). Destroy writers before pub.
//  PostgreSQL cannot see that lock: between the write and the commit, run
//  nothing that may wait for another writer's open transaction (statements
//  on rows it locked, deferred constraints they share). A writer that
//  waits more than 10 s for the lock gives up (the write returns -1, the
//  caller rolls back), so such a deadlock ends, but only then.
gz_bus_pub_t *gz_bus_pub_new_writer (gz_bus_pub_t *pub, gz_db_t *db);

//  The bound TCP port (for endpoints ending in :*), or 0.
int gz_bus_pub_port (gz_bus_pub_t *self);

//  Stage one event for the current transaction. Copies everything.
//  topic NULL means type. idempotency_key and trace_id may be NULL.
void gz_bus_pub_stage (gz_bus_pub_t *self, const char *type, const char *key, const char *topic,
                       const uint8_t *payload, size_t len, const char *idempotency_key,
                       const char *trace_id);

//  Convenience: stage a protobuf message (packed here).
void gz_bus_pub_stage_msg (gz_bus_pub_t *self, const char *type, const char *key, const char *topic,
                           const ProtobufCMessage *msg);

//  Inside the caller's open transaction on db: reserve positions for all
//  staged events and insert them into the outbox (one round trip where
//  possible). 0 ok: the caller commits and calls gz_bus_pub_committed, or
//  rolls back and calls gz_bus_pub_aborted (one of them, always: until
//  then the stream is held for this process). -1 on failure (the caller
//  rolls back and calls gz_bus_pub_aborted). A no-op returning 0 when
//  nothing is staged.
int gz_bus_pub_write (gz_bus_pub_t *self);

//  gz_bus_pub_write and the caller's COMMIT in one round trip (one fewer
//  than write, then gz_db_commit). 0: committed, call
//  gz_bus_pub_committed. -1: not committed (or, the connection lost, not
//  known: the tick re-sends what did commit): roll back, call
//  gz_bus_pub_aborted. With nothing staged, just the COMMIT.
int gz_bus_pub_write_commit (gz_bus_pub_t *self);

//  After the caller's COMMIT: send the written events on the PUB socket,
//  then forget them. Every staged event must have been written (asserted:
//  committing staged events without gz_bus_pub_write would lose them).
void gz_bus_pub_committed (gz_bus_pub_t *self);

//  After a ROLLBACK: forget staged events (their positions are void, the
//  head row update rolled back with them).
void gz_bus_pub_aborted (gz_bus_pub_t *self);

//  Call from a timer every heartbeat interval (opts heartbeat_ms,
//  default 1000), outside any transaction, on the publisher (not a
//  writer; its writers wait meanwhile). Every opts prune_every_ms (about
//  once a minute) it also deletes outbox rows that are published and
//  older than opts retention_s (default 7 days; 0 keeps them all),
//  oldest first, up to 200,000 per call. A consumer further behind than
//  that finds a gap it cannot fill: it stops there and logs "gap in
//  outbox" until an operator acts. Re-publishes rows past the
//  published watermark (after a crash, or left by another replica),
//  advances the watermark, and sends a heartbeat. 0 ok, -1 db failure.
int gz_bus_pub_tick (gz_bus_pub_t *self);

//  Last committed position this publisher knows of.
int64_t gz_bus_pub_head (gz_bus_pub_t *self);

//  Counters for /metrics.
uint64_t gz_bus_pub_published (gz_bus_pub_t *self);   //  events sent (incl. re-sends)
uint64_t gz_bus_pub_republished (gz_bus_pub_t *self); //  re-sent after a crash
uint64_t gz_bus_pub_pruned (gz_bus_pub_t *self);      //  outbox rows deleted (retention)

//  ----------------------------------------------------- gz_bus_sub.c: consumer

typedef struct _gz_bus_sub_t gz_bus_sub_t;

//  Apply one event inside the consumer's open transaction on db.
//  Return 0 when applied or deliberately ignored (unknown type, a payload
//  that does not decode: count and skip, never retry forever); return -1
//  on a transient failure (database): the whole batch rolls back and is
//  retried later. Must be idempotent in effect only via the cursor: the
//  bus guarantees each position is applied once.
typedef int (gz_bus_handler_fn) (gz_db_t *db, const gz_envelope_t *env, void *arg);

//  Create a consumer named consumer (the cursor's name; replicas of one
//  service share it) whose cursor lives in consumer_schema, reading stream
//  from producer_schema's outbox, connecting a SUB socket to endpoint.
//  Loads the cursor and catches up from PostgreSQL on the first tick.
//  endpoint may list several, comma-separated (one per producer replica).
//  opts (borrowed; NULL: the defaults) gives rcvhwm and heartbeat_ms;
//  silence is judged against that heartbeat_ms: configure producers and
//  consumers alike. NULL if endpoint is malformed (logged).
gz_bus_sub_t *gz_bus_sub_new (gz_db_t *db, const char *consumer, const char *consumer_schema,
                              const char *producer_schema, const char *stream, const char *endpoint,
                              gz_bus_handler_fn *handler, void *arg, const gz_bus_opts_t *opts);
void gz_bus_sub_destroy (gz_bus_sub_t **self_p);

//  Chain a publisher (consume-transform-produce): events the handler
//  stages on pub are written to pub's outbox inside the consumer's
//  transaction, sent after its COMMIT, and forgotten after a ROLLBACK. So
//  an applied input and the events it caused commit together, once. pub
//  must use the same gz_db_t. Borrowed; NULL unchains.
void gz_bus_sub_set_outbox (gz_bus_sub_t *self, gz_bus_pub_t *pub);

//  Called once per batch inside the consumer's transaction, after the
//  handler has seen every event of the batch and before the chained
//  outbox is written, the cursor stored and the transaction committed;
//  only when the handler applied at least one event. So a handler can
//  collect its effects and write them with a few multi-row statements.
//  Return 0 ok; -1 rolls the batch back like a handler failure (retried
//  later, nothing published).
typedef int (gz_bus_flush_fn) (gz_db_t *db, void *arg);

//  Set (or with NULL clear) the batch flush hook. Unset: as before.
void gz_bus_sub_set_flush (gz_bus_sub_t *self, gz_bus_flush_fn *flush, void *arg);

//  The SUB socket, to add to the owner's poller. Borrowed.
zsock_t *gz_bus_sub_sock (gz_bus_sub_t *self);

//  The SUB socket is readable: drain what is there (without blocking) and
//  apply it in batches. At most a few thousand messages per call, so the
//  owner's loop stays responsive; the socket stays readable for the rest.
//  0 ok, -1 database or handler failure (retried by the tick).
int gz_bus_sub_on_readable (gz_bus_sub_t *self);

//  Call from a timer (every heartbeat interval or more often): catches up
//  from PostgreSQL when behind, a gap was seen, the publisher went silent,
//  or a previous apply failed. Reads at most 20,000 rows per call (the
//  next call goes on). 0 ok, -1 database or handler failure.
int gz_bus_sub_tick (gz_bus_sub_t *self);

//  Whether the last catch-up (tick or on_readable) stopped at its bound
//  of transactions with outbox rows left: the owner may call
//  gz_bus_sub_tick again at once instead of a heartbeat later (after a
//  failure it is false: the heartbeat retries).
bool gz_bus_sub_behind (gz_bus_sub_t *self);

//  Last applied position.
int64_t gz_bus_sub_position (gz_bus_sub_t *self);

//  Counters for /metrics.
uint64_t gz_bus_sub_consumed (gz_bus_sub_t *self);   //  events applied
uint64_t gz_bus_sub_duplicates (gz_bus_sub_t *self); //  dropped, position <= cursor
uint64_t gz_bus_sub_caught_up (gz_bus_sub_t *self);  //  events read from PostgreSQL
uint64_t gz_bus_sub_bad (gz_bus_sub_t *self);        //  undecodable messages dropped
uint64_t gz_bus_sub_heartbeats (gz_bus_sub_t *self); //  heartbeats received (tests use the
                                                     //  first one to know the link is up)

#endif
