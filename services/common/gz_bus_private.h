/*  gz_bus_private: what the bus's three files share, and no one else.

    gz_bus.c holds the tables and these helpers, gz_bus_pub.c the
    producer, gz_bus_sub.c the consumer. Both sides read outbox rows
    (the publisher to re-send them, the consumer to catch up) and prepare
    their statements per schema the same way.  */
#ifndef GZ_BUS_PRIVATE_H_INCLUDED
#define GZ_BUS_PRIVATE_H_INCLUDED

#include "gz_bus.h"

#include <libpq-fe.h>
#include <stdint.h>

//  The outbox columns gz_bus_envelope_from_row reads, in its order.
#define GZ_BUS_OUTBOX_COLUMNS                                                                      \
    "position, id, type, key, topic, occurred_at_us, trace_id, idempotency_key, payload"

//  opts, or when it is NULL *defaults, filled with gz_bus_opts_default.
const gz_bus_opts_t *gz_bus_opts_or_default (const gz_bus_opts_t *opts, gz_bus_opts_t *defaults);

//  Register sql on db with every "{p}" replaced by the quoted schema p and
//  every "{c}" by c (p when c is NULL); the statement's name (a hash of
//  the final SQL) goes to name[24].
void gz_bus_prepare (gz_db_t *db, char name[24], const char *sql, const char *p, const char *c);

//  A bigint column's text as a number; NULL is 0.
int64_t gz_bus_int64 (const char *text);

//  The envelope of one outbox row (columns as in GZ_BUS_OUTBOX_COLUMNS),
//  pointing into r; *payload_p gets the unescaped payload, which the
//  caller frees with PQfreemem. -1 if the payload cannot be unescaped.
int gz_bus_envelope_from_row (gz_envelope_t *env, PGresult *r, int row, const char *stream,
                              unsigned char **payload_p);

#endif
