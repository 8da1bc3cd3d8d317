/*  gzctl volunteers: the matching service's registry in bulk.

      gzctl volunteers import FILE.csv   create or update every volunteer
                                         of the file (columns:
                                         docs/matching.md, "Registry")

    All or nothing: every invalid row is reported on stderr as "line N:
    field: reason" (a bad value, a grid the org directory does not know, an
    id twice in the file) and nothing is imported; otherwise every row is
    written in one transaction (an existing id is updated, its phone kept
    when the row has none). The schema is GZ_MATCHING_SCHEMA (default
    matching), migrated here when matching has not started yet.  */
#include "gz_config.h"
#include "gz_org.h"
#include "gzctl.h"
#include "matching.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_FILE (256L * 1024 * 1024)

extern const gz_migration_t matching_migrations[];

static char *
s_read (const char *path, size_t *len)
{
    FILE *f = strcmp (path, "-") == 0 ? stdin : fopen (path, "rb");
    if (!f)
        return NULL;
    size_t size = 1 << 16, used = 0;
    char *buf = malloc (size);
    size_t got;
    while (buf && (got = fread (buf + used, 1, size - used, f)) > 0) {
        used += got;
        if (used == size && size < (size_t) S_MAX_FILE)
            buf = realloc (buf, size *= 2);
        else if (used == size)
            break;
    }
    if (f != stdin)
        fclose (f);
    *len = used;
    return buf;
}

//  The volunteers' grids against the org directory: errors reported.
static size_t
s_check_grids (gz_db_t *db, const mt_volunteer_t *v, size_t n)
{
    gz_org_t *org = gz_org_load (db);
    if (!org) {
        fprintf (stderr, "gzctl: cannot load the org directory: %s\n", gz_db_error (db));
        return 1;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *level = gz_org_unit_level (org, v[i].grid);
        if (!level || strcmp (level, "grid") != 0) {
            if (++bad <= 1000)
                fprintf (stderr, "gzctl: line %u: grid: no grid '%s' in the org directory\n",
                         v[i].line, v[i].grid);
        }
    }
    gz_org_destroy (&org);
    return bad;
}

static int
s_write (gz_db_t *db, const char *schema, const mt_volunteer_t *v, size_t n)
{
    matching_store_prepare (db, schema);
    size_t created = 0;
    int rc = gz_db_begin (db);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int c = matching_store_volunteer_put (db, &v[i], "gzctl:import");
        if (c < 0)
            rc = -1;
        created += c == 1;
    }
    if (rc == 0 && gz_db_commit (db) == 0) {
        printf ("imported %zu volunteers (%zu new, %zu updated)\n", n, created, n - created);
        return 0;
    }
    gz_db_rollback (db);
    fprintf (stderr, "gzctl: import failed, nothing imported: %s\n", gz_db_error (db));
    return 1;
}

static int
s_import (const char *path)
{
    size_t len = 0;
    char *text = s_read (path, &len);
    if (!text) {
        fprintf (stderr, "gzctl: cannot read %s: %s\n", path, strerror (errno));
        return 1;
    }
    mt_volunteer_t *v = NULL;
    size_t n = 0;
    mt_csv_errors_t errors = {NULL, 0};
    size_t bad = mt_csv_volunteers_parse (text, len, &v, &n, &errors);
    free (text);
    for (size_t i = 0; i < errors.n; i++)
        fprintf (stderr, "gzctl: %s\n", errors.lines[i]);
    mt_csv_errors_free (&errors);
    int rc = 1;
    gz_db_t *db = bad ? NULL : gzctl_connect (true);
    //  The bare name: gz_db_migrate and the store quote it themselves (a
    //  quoted name here made a schema called "matching", quotes included).
    const char *schema = gz_config_str ("GZ_MATCHING_SCHEMA", "matching");
    if (db && gz_db_migrate (db, schema, matching_migrations) != 0)
        fprintf (stderr, "gzctl: matching migrations failed: %s\n", gz_db_error (db));
    else if (db && (bad = s_check_grids (db, v, n)) == 0)
        rc = s_write (db, schema, v, n);
    if (bad)
        fprintf (stderr, "gzctl: %zu error%s: nothing imported\n", bad, bad == 1 ? "" : "s");
    gz_db_destroy (&db);
    free (v);
    return rc;
}

int
gzctl_volunteers (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[0], "import") == 0)
        return s_import (argv[1]);
    return gzctl_usage ();
}
