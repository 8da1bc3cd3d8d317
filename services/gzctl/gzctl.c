/*  gzctl: the operator's command line.

    A thin shell over libgz: the org directory's validation, seeding and
    writing live in gz_orgdoc (services/common), where the integration
    tests call them directly. The database is GZ_DATABASE_URL (see
    gz_config_database_url). Output for people goes to stdout, logs and
    errors to stderr. Exit status: 0 done, 1 failed (nothing changed),
    2 usage.  */
#include "gz_config.h"

#include <czmq.h>
#include "gz_db.h"
#include "gz_log.h"
#include "gz_org.h"
#include "gz_orgdoc.h"
#include "gzctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define S_SVC "gzctl"

int
gzctl_usage (void)
{
    fprintf (stderr,
             "usage: gzctl COMMAND [ARGS]\n"
             "\n"
             "commands:\n"
             "  migrate                    apply the org schema migrations\n"
             "  seed huaguoyuan [--print]  replace the directory by the synthetic Huaguoyuan\n"
             "                             demo area (--print: write it as import JSON to\n"
             "                             stdout instead, touching no database)\n"
             "  org import FILE [--check]  replace the directory by FILE (docs/org-format.md);\n"
             "                             --check validates only\n"
             "  org stats                  count units per level, buildings, staff per role\n"
             "  token issue STAFF_ID [--days N]  issue a bearer token for a staff member of the\n"
             "                             org, valid N days (default 90)\n"
             "                             directory (printed once; only its SHA-256 is kept),\n"
             "                             and a one-time workbench sign-in link on stderr\n"
             "                             (15 minutes; GZ_WORKBENCH_URL sets its base)\n"
             "  token operator LABEL [--days N]  issue an operator token (may act for any unit)\n"
             "  token revoke STAFF_ID|LABEL  revoke every token of a staff member or label\n"
             "  notify dead [--limit N]    list notifications given up on (dead letters)\n"
             "  notify retry ID|--all      send dead notifications again (same key)\n"
             "  match solve                read a matching instance on stdin, write the\n"
             "                             optimal solution on stdout (docs/matching.md)\n"
             "  volunteers import FILE.csv create or update volunteers, all or nothing\n"
             "                             (columns: docs/matching.md, \"Registry\")\n"
             "  report monthly --node CODE --month YYYY-MM --out FILE [--format xlsx|csv]\n"
             "                             the monthly 一张表 of a unit as Excel or CSV\n"
             "                             (docs/analytics-report.md)\n"
             "  analytics rebuild          replay intake's and routing's outboxes into fresh\n"
             "                             analytics rollups (docs/analytics-rebuild.md)\n"
             "  analytics verify           recount every rollup from the source tables and\n"
             "                             print each difference (exit 1 if any)\n"
             "  help                       this text\n"
             "\n"
             "database: GZ_DATABASE_URL (default: the private cluster, GZ_PG_PORT or 54320)\n");
    return 2;
}

//  A connected handle with the org schema migrated, or NULL (reported).
gz_db_t *
gzctl_connect (bool migrate)
{
    char *url = gz_config_database_url ();
    gz_db_t *db = gz_db_new (url, S_SVC);
    free (url);
    if (!gz_db_ok (db)) {
        fprintf (stderr, "gzctl: cannot connect to the database (GZ_DATABASE_URL): %s\n",
                 gz_db_error (db));
        gz_db_destroy (&db);
        return NULL;
    }
    if (migrate && gz_db_migrate (db, "org", gz_org_migrations)) {
        fprintf (stderr, "gzctl: org migrations failed: %s\n", gz_db_error (db));
        gz_db_destroy (&db);
    }
    return db;
}

static int
s_migrate (void)
{
    gz_db_t *db = gzctl_connect (true);
    if (!db)
        return 1;
    printf ("org schema migrated\n");
    gz_db_destroy (&db);
    return 0;
}

//  Writes doc to the database and prints the resulting counts.
static int
s_apply (gz_orgdoc_t *doc, const char *what)
{
    gz_db_t *db = gzctl_connect (true);
    if (!db)
        return 1;
    double start = (double) zclock_usecs () / 1e3;
    int rc = gz_orgdoc_apply (doc, db);
    double took = (double) zclock_usecs () / 1e3 - start;
    gz_orgstats_t stats;
    if (rc == 0)
        rc = gz_orgdoc_db_stats (db, &stats);
    if (rc == 0) {
        printf ("%s: directory replaced in %.0f ms\n", what, took);
        gz_orgstats_print (&stats, stdout);
    }
    else
        fprintf (stderr, "gzctl: %s failed; the directory is unchanged\n", what);
    gz_db_destroy (&db);
    return rc ? 1 : 0;
}

static int
s_seed (int argc, char **argv)
{
    if (argc < 1 || strcmp (argv[0], "huaguoyuan") != 0)
        return gzctl_usage ();
    bool print = argc == 2 && strcmp (argv[1], "--print") == 0;
    if (argc > 2 || (argc == 2 && !print))
        return gzctl_usage ();
    json_t *root = gz_orgdoc_huaguoyuan ();
    if (print) {
        int rc = json_dumpf (root, stdout, JSON_INDENT (1) | JSON_PRESERVE_ORDER);
        printf ("\n");
        json_decref (root);
        return rc ? 1 : 0;
    }
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_new (root, &errors);
    json_decref (root);
    if (!doc) {
        //  The generator and the validator disagree: a bug, say so.
        fprintf (stderr, "gzctl: internal error, the seed does not validate:\n%s", errors);
        free (errors);
        return 1;
    }
    int rc = s_apply (doc, "seed huaguoyuan");
    gz_orgdoc_destroy (&doc);
    return rc;
}

static int
s_org_import (int argc, char **argv)
{
    if (argc < 1 || argc > 2)
        return gzctl_usage ();
    bool check = argc == 2 && strcmp (argv[1], "--check") == 0;
    if (argc == 2 && !check)
        return gzctl_usage ();
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_load (argv[0], &errors);
    if (!doc) {
        fprintf (stderr, "gzctl: %s is not a valid org directory; nothing changed:\n%s", argv[0],
                 errors ? errors : "");
        free (errors);
        return 1;
    }
    int rc = 0;
    if (check) {
        gz_orgstats_t stats;
        gz_orgdoc_stats (doc, &stats);
        printf ("%s: valid\n", argv[0]);
        gz_orgstats_print (&stats, stdout);
    }
    else
        rc = s_apply (doc, "org import");
    gz_orgdoc_destroy (&doc);
    return rc;
}

static int
s_org_stats (void)
{
    gz_db_t *db = gzctl_connect (false);
    if (!db)
        return 1;
    gz_orgstats_t stats;
    int rc = gz_orgdoc_db_stats (db, &stats);
    if (rc == 0)
        gz_orgstats_print (&stats, stdout);
    else
        fprintf (stderr, "gzctl: cannot read the org directory (run gzctl migrate?): %s\n",
                 gz_db_error (db));
    gz_db_destroy (&db);
    return rc ? 1 : 0;
}

//  A fresh random token: 32 URL-safe characters (192 bits).
static void
s_new_token (char out[33])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[32];
    if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
        fprintf (stderr, "gzctl: no randomness available\n");
        exit (1);
    }
    for (int i = 0; i < 32; i++)
        out[i] = alphabet[raw[i] & 63];
    out[32] = 0;
}

//  A one-time sign-in link to the workbench for staff_id (valid 15
//  minutes, usable once; only the code's SHA-256 is stored), on stderr:
//  stdout carries the token alone. 0 ok, -1 failure.
static int
s_login_link (gz_db_t *db, const char *schema, const char *staff_id)
{
    char code[33], sql[512];
    s_new_token (code);
    snprintf (sql, sizeof sql,
              "INSERT INTO %s.login_codes (code_sha256, staff_id, expires_at)"
              " VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2,"
              " now() + interval '15 minutes')",
              schema);
    gz_db_prepare (db, "login_code", sql);
    const char *v[2] = {code, staff_id};
    PGresult *r = gz_db_exec (db, "login_code", 2, v);
    if (!r) {
        fprintf (stderr, "gzctl: cannot store the sign-in link: %s\n", gz_db_error (db));
        return -1;
    }
    PQclear (r);
    const char *base = gz_config_str ("GZ_WORKBENCH_URL", NULL);
    char local[64];
    if (!base) {
        snprintf (local, sizeof local, "http://127.0.0.1:%d",
                  gz_config_port ("GZ_ROUTING_HTTP_PORT", GZ_PORT_ROUTING_HTTP));
        base = local;
    }
    fprintf (stderr, "gzctl: sign-in link (valid 15 minutes, usable once): %s/w/login?code=%s\n",
             base, code);
    return 0;
}

//  gzctl token issue|operator|revoke: staff bearer tokens of the routing
//  service (table <GZ_ROUTING_SCHEMA>.tokens, created when routing first
//  starts). Only the SHA-256 of a token is stored.
static int
s_token (int argc, char **argv)
{
    //  token issue|operator X [--days N]
    long days = 90;
    if (argc == 4 && strcmp (argv[2], "--days") == 0) {
        char *end = NULL;
        days = strtol (argv[3], &end, 10);
        if (!*argv[3] || *end || days < 1 || days > 3650) {
            fprintf (stderr, "gzctl: --days takes a whole number from 1 to 3650\n");
            return 2;
        }
        argc = 2;
    }
    if (argc != 2)
        return gzctl_usage ();
    gz_db_t *db = gzctl_connect (false);
    if (!db)
        return 1;
    char *schema = gz_db_ident (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    char sql[512];
    int rc = 1;
    const char *what = argv[0], *arg = argv[1];
    if (strcmp (what, "issue") == 0 || strcmp (what, "operator") == 0) {
        bool staff = strcmp (what, "issue") == 0;
        if (staff) {
            gz_db_prepare (db, "staff", "SELECT name FROM org.staff WHERE id = $1");
            const char *v[1] = {arg};
            PGresult *r = gz_db_exec (db, "staff", 1, v);
            bool known = r && PQntuples (r) == 1;
            PQclear (r);
            if (!known) {
                fprintf (stderr, "gzctl: no staff member %s in the org directory\n", arg);
                goto done;
            }
        }
        char token[33];
        s_new_token (token);
        snprintf (
            sql, sizeof sql,
            "INSERT INTO %s.tokens (token_sha256, staff_id, role, label, expires_at)"
            " VALUES (encode(sha256(convert_to($1, 'UTF8')), 'hex'), $2, $3, $4,"
            " now() + make_interval (days => $5::int))"
            " RETURNING to_char(expires_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')",
            schema);
        gz_db_prepare (db, "issue", sql);
        char ndays[16];
        snprintf (ndays, sizeof ndays, "%ld", days);
        const char *v[5] = {token, staff ? arg : NULL, staff ? "staff" : "operator", arg, ndays};
        PGresult *r = gz_db_exec (db, "issue", 5, v);
        if (!r) {
            fprintf (stderr, "gzctl: cannot store the token (has routing started once?): %s\n",
                     gz_db_error (db));
            goto done;
        }
        //  stdout carries the token alone (scripts read it); the expiry is
        //  for the person.
        fprintf (stderr, "gzctl: token valid until %s (China time)\n", PQgetvalue (r, 0, 0));
        PQclear (r);
        printf ("%s\n", token);
        rc = staff ? s_login_link (db, schema, arg) : 0;
    }
    else if (strcmp (what, "revoke") == 0) {
        //  The person's workbench sessions and unused sign-in links end
        //  with their tokens (one statement: all or nothing).
        snprintf (sql, sizeof sql,
                  "WITH t AS (DELETE FROM %s.tokens WHERE staff_id = $1"
                  "  OR (staff_id IS NULL AND label = $1) RETURNING 1),"
                  " s AS (DELETE FROM %s.sessions WHERE staff_id = $1 RETURNING 1),"
                  " c AS (DELETE FROM %s.login_codes WHERE staff_id = $1 AND used_at IS NULL"
                  "  RETURNING 1)"
                  " SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM s),"
                  " (SELECT count(*) FROM c)",
                  schema, schema, schema);
        gz_db_prepare (db, "revoke", sql);
        const char *v[1] = {arg};
        PGresult *r = gz_db_exec (db, "revoke", 1, v);
        if (!r) {
            fprintf (stderr, "gzctl: cannot revoke: %s\n", gz_db_error (db));
            goto done;
        }
        printf ("revoked %s token(s), ended %s workbench session(s) and %s sign-in link(s)\n",
                PQgetvalue (r, 0, 0), PQgetvalue (r, 0, 1), PQgetvalue (r, 0, 2));
        PQclear (r);
        rc = 0;
    }
    else
        rc = gzctl_usage ();
done:
    free (schema);
    gz_db_destroy (&db);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc < 2)
        return gzctl_usage ();
    const char *command = argv[1];
    if (strcmp (command, "migrate") == 0 && argc == 2)
        return s_migrate ();
    if (strcmp (command, "seed") == 0)
        return s_seed (argc - 2, argv + 2);
    if (strcmp (command, "org") == 0 && argc >= 3) {
        if (strcmp (argv[2], "import") == 0)
            return s_org_import (argc - 3, argv + 3);
        if (strcmp (argv[2], "stats") == 0 && argc == 3)
            return s_org_stats ();
    }
    if (strcmp (command, "token") == 0)
        return s_token (argc - 2, argv + 2);
    if (strcmp (command, "notify") == 0)
        return gzctl_notify (argc - 2, argv + 2);
    if (strcmp (command, "analytics") == 0)
        return gzctl_analytics (argc - 2, argv + 2);
    if (strcmp (command, "match") == 0)
        return gzctl_match (argc - 2, argv + 2);
    if (strcmp (command, "volunteers") == 0)
        return gzctl_volunteers (argc - 2, argv + 2);
    if (strcmp (command, "report") == 0)
        return gzctl_report (argc - 2, argv + 2);
    return gzctl_usage ();
}
