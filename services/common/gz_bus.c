/*  gz_bus: the durable bus (outbox, positions, cursors). See gz_bus.h.

    This file holds what both sides share: the tables, and the helpers in
    gz_bus_private.h. The producer is gz_bus_pub.c, the consumer
    gz_bus_sub.c.

    Statement names are derived from a hash of their SQL, so publishers
    and consumers for different schemas can share one gz_db_t without
    colliding (PostgreSQL truncates statement names to 63 bytes, so the
    schema name itself cannot go into the name).  */
#include "gz_bus_private.h"
#include "gz_config.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

//  ---------------------------------------------------------------- options

void
gz_bus_opts_default (gz_bus_opts_t *opts)
{
    assert (opts);
    opts->sndhwm = 100000;
    opts->rcvhwm = 100000;
    opts->retention_s = INT64_C (7) * 24 * 3600;
    opts->prune_every_ms = 60000;
    opts->heartbeat_ms = 1000;
    opts->max_msg_bytes = 1024 * 1024;
}

void
gz_bus_opts_from_env (gz_bus_opts_t *opts)
{
    gz_bus_opts_default (opts);
    opts->sndhwm = (int) gz_config_int ("GZ_BUS_SNDHWM", opts->sndhwm, 0, INT_MAX);
    opts->rcvhwm = (int) gz_config_int ("GZ_BUS_RCVHWM", opts->rcvhwm, 0, INT_MAX);
    opts->retention_s = gz_config_int ("GZ_BUS_RETENTION_S", (long) opts->retention_s, 0,
                                       INT64_C (100) * 365 * 24 * 3600);
    opts->prune_every_ms =
        (int) gz_config_int ("GZ_BUS_PRUNE_EVERY_MS", opts->prune_every_ms, 10, 86400000);
    opts->heartbeat_ms =
        (int) gz_config_int ("GZ_BUS_HEARTBEAT_MS", opts->heartbeat_ms, 1, 3600000);
    opts->max_msg_bytes =
        (int) gz_config_int ("GZ_BUS_MAX_MSG_BYTES", opts->max_msg_bytes, 4096, 256 * 1024 * 1024);
}

const gz_bus_opts_t *
gz_bus_opts_or_default (const gz_bus_opts_t *opts, gz_bus_opts_t *defaults)
{
    if (opts)
        return opts;
    gz_bus_opts_default (defaults);
    return defaults;
}

//  ---------------------------------------------------------------- helpers

void
gz_bus_prepare (gz_db_t *db, char name[24], const char *sql, const char *p, const char *c)
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

int64_t
gz_bus_int64 (const char *text)
{
    return text ? strtoll (text, NULL, 10) : 0;
}

int
gz_bus_envelope_from_row (gz_envelope_t *env, PGresult *r, int row, const char *stream,
                          unsigned char **payload_p)
{
    gz_envelope_t init = GONGZHI__V1__ENVELOPE__INIT;
    *env = init;
    env->position = gz_bus_int64 (PQgetvalue (r, row, 0));
    env->id = PQgetvalue (r, row, 1);
    env->type = PQgetvalue (r, row, 2);
    env->key = PQgetvalue (r, row, 3);
    env->topic = PQgetvalue (r, row, 4);
    env->occurred_at_us = gz_bus_int64 (PQgetvalue (r, row, 5));
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
