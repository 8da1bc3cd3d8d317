/*  gzctl notify: the dead letters of the notify service.

      gzctl notify dead [--limit N]   list deliveries given up on, newest first
      gzctl notify retry ID|--all     send them again: back to queued, due now,
                                      attempts from zero (the same key, so a
                                      receiver that had it drops the repeat)

    The schema is GZ_NOTIFY_SCHEMA (default notify). Only dead rows are
    touched: a retry of a row that is queued, sending or sent changes
    nothing and says so.  */
#include "gz_config.h"
#include "gz_db.h"
#include "gzctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_dead (gz_db_t *db, const char *schema, long limit)
{
    char sql[1024];
    snprintf (sql, sizeof sql,
              "SELECT id, to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),"
              " channel, event, request_id, recipient, attempts, coalesce(last_error, '')"
              " FROM %s.deliveries WHERE state = 'dead' ORDER BY id DESC LIMIT $1::int",
              schema);
    gz_db_prepare (db, "dead", sql);
    char n[24];
    snprintf (n, sizeof n, "%ld", limit);
    const char *v[1] = {n};
    PGresult *r = gz_db_exec (db, "dead", 1, v);
    if (!r) {
        fprintf (stderr, "gzctl: cannot list (has notify started once?): %s\n", gz_db_error (db));
        return 1;
    }
    printf ("%-8s %-16s %-8s %-17s %-10s %-24s %-8s %s\n", "id", "created", "channel", "event",
            "request", "recipient", "attempts", "last error");
    for (int i = 0; i < PQntuples (r); i++)
        printf ("%-8s %-16s %-8s %-17s %-10s %-24s %-8s %s\n", PQgetvalue (r, i, 0),
                PQgetvalue (r, i, 1), PQgetvalue (r, i, 2), PQgetvalue (r, i, 3),
                PQgetvalue (r, i, 4), PQgetvalue (r, i, 5), PQgetvalue (r, i, 6),
                PQgetvalue (r, i, 7));
    printf ("%d dead deliver%s\n", PQntuples (r), PQntuples (r) == 1 ? "y" : "ies");
    PQclear (r);
    return 0;
}

static int
s_retry (gz_db_t *db, const char *schema, const char *id)
{
    bool all = strcmp (id, "--all") == 0;
    char *end = NULL;
    if (!all && (strtoll (id, &end, 10) <= 0 || *end)) {
        fprintf (stderr, "gzctl: notify retry takes a delivery id or --all\n");
        return 2;
    }
    char sql[512];
    snprintf (sql, sizeof sql,
              "UPDATE %s.deliveries SET state = 'queued', attempts = 0, due_at = now(),"
              " last_error = NULL WHERE state = 'dead' AND ($1::bigint IS NULL OR id = $1::bigint)",
              schema);
    gz_db_prepare (db, "retry", sql);
    const char *v[1] = {all ? NULL : id};
    PGresult *r = gz_db_exec (db, "retry", 1, v);
    if (!r) {
        fprintf (stderr, "gzctl: cannot retry: %s\n", gz_db_error (db));
        return 1;
    }
    long n = atol (PQcmdTuples (r));
    PQclear (r);
    if (!all && n == 0) {
        fprintf (stderr, "gzctl: delivery %s is not dead (or does not exist): nothing changed\n",
                 id);
        return 1;
    }
    printf ("%ld deliver%s queued again\n", n, n == 1 ? "y" : "ies");
    return 0;
}

int
gzctl_notify (int argc, char **argv)
{
    //  notify dead [--limit N] | notify retry ID|--all
    long limit = 100;
    bool dead = argc >= 1 && strcmp (argv[0], "dead") == 0;
    if (dead && argc == 3 && strcmp (argv[1], "--limit") == 0) {
        char *end = NULL;
        limit = strtol (argv[2], &end, 10);
        if (!*argv[2] || *end || limit < 1 || limit > 100000) {
            fprintf (stderr, "gzctl: --limit takes a whole number from 1 to 100000\n");
            return 2;
        }
    }
    else if (!(dead && argc == 1) && !(argc == 2 && strcmp (argv[0], "retry") == 0))
        return gzctl_usage ();
    gz_db_t *db = gzctl_connect (false);
    if (!db)
        return 1;
    char *schema = gz_db_ident (gz_config_str ("GZ_NOTIFY_SCHEMA", "notify"));
    int rc = dead ? s_dead (db, schema, limit) : s_retry (db, schema, argv[1]);
    free (schema);
    gz_db_destroy (&db);
    return rc;
}
