/*  gz_testdb: throwaway databases for integration tests. See gz_testdb.h.  */
#include "gz_testdb.h"

#include <assert.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct _gz_testdb_t {
    char name[96];
    char url[512];
    char admin[512];
};

static void
s_admin_exec (const char *admin, const char *sql)
{
    PGconn *c = PQconnectdb (admin);
    if (PQstatus (c) != CONNECTION_OK) {
        fprintf (stderr, "gz_testdb: cannot connect to %s: %s\n", admin, PQerrorMessage (c));
        exit (1);
    }
    PGresult *r = PQexec (c, sql);
    if (PQresultStatus (r) != PGRES_COMMAND_OK && PQresultStatus (r) != PGRES_TUPLES_OK) {
        fprintf (stderr, "gz_testdb: %s: %s\n", sql, PQresultErrorMessage (r));
        exit (1);
    }
    PQclear (r);
    PQfinish (c);
}

gz_testdb_t *
gz_testdb_new (const char *tag)
{
    const char *admin = getenv ("GZ_TEST_DATABASE_URL");
    if (!admin || !*admin) {
        fprintf (stderr, "gz_testdb: GZ_TEST_DATABASE_URL is not set; run scripts/test\n");
        exit (1);
    }
    gz_testdb_t *self = calloc (1, sizeof *self);
    assert (self);
    static int counter = 0;
    snprintf (self->name, sizeof self->name, "gzt_%s_%d_%d_%ld", tag, (int) getpid (), counter++,
              (long) (time (NULL) % 100000));
    snprintf (self->admin, sizeof self->admin, "%s", admin);
    char sql[256];
    snprintf (sql, sizeof sql, "CREATE DATABASE %s", self->name);
    s_admin_exec (admin, sql);
    //  Replace the database name at the end of the admin URI.
    snprintf (self->url, sizeof self->url, "%s", admin);
    char *slash = strrchr (self->url, '/');
    assert (slash);
    snprintf (slash + 1, sizeof self->url - (size_t) (slash + 1 - self->url), "%s", self->name);
    return self;
}

const char *
gz_testdb_url (gz_testdb_t *self)
{
    return self->url;
}

void
gz_testdb_destroy (gz_testdb_t **self_p)
{
    gz_testdb_t *self = *self_p;
    if (!self)
        return;
    char sql[256];
    snprintf (sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", self->name);
    s_admin_exec (self->admin, sql);
    free (self);
    *self_p = NULL;
}
