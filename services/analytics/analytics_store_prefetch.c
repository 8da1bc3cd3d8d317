/*  analytics_store_prefetch: the live consumer's facts of a batch loaded
    with one statement (analytics_consume.c), instead of one round trip
    per request: a batch of 1,000 routing events touches about 300
    requests, and on a loaded machine each round trip waits for the
    backend to be scheduled.  */
#include "analytics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_facts_get_sql =
    "SELECT request_id, category, channel, tier, building, grid, community, subdistrict,"
    " district, department, submitted_us, response_due_us, resolve_due_us, reached_us,"
    " resolved_us, resolved, merged, invalid, satisfied, reopens, escalations"
    " FROM {schema}.facts WHERE request_id = ANY ($1::text[])";

void
analytics_store_prefetch_prepare (gz_db_t *db, const char *schema)
{
    gz_db_prepare_schema (db, "an_facts_get", s_facts_get_sql, schema);
}

static void
s_fact_from_row (PGresult *r, int i, analytics_fact_t *f)
{
    analytics_fact_init (f, PQgetvalue (r, i, 0));
    snprintf (f->category, sizeof f->category, "%s", PQgetvalue (r, i, 1));
    f->channel = atoi (PQgetvalue (r, i, 2));
    f->tier = atoi (PQgetvalue (r, i, 3));
    char *codes[6] = {f->building,    f->grid,     f->community,
                      f->subdistrict, f->district, f->department};
    for (int c = 0; c < 6; c++)
        snprintf (codes[c], ANALYTICS_CODE_MAX, "%s", PQgetvalue (r, i, 4 + c));
    f->submitted_us = atoll (PQgetvalue (r, i, 10));
    f->response_due_us = atoll (PQgetvalue (r, i, 11));
    f->resolve_due_us = atoll (PQgetvalue (r, i, 12));
    f->reached_us = atoll (PQgetvalue (r, i, 13));
    f->resolved_us = atoll (PQgetvalue (r, i, 14));
    f->resolved = PQgetvalue (r, i, 15)[0] == 't';
    f->merged = PQgetvalue (r, i, 16)[0] == 't';
    f->invalid = PQgetvalue (r, i, 17)[0] == 't';
    f->satisfied = atoi (PQgetvalue (r, i, 18));
    f->reopens = atoi (PQgetvalue (r, i, 19));
    f->escalations = atoi (PQgetvalue (r, i, 20));
}

//  text[] literal of ids: each quoted, backslashes and quotes escaped.
static char *
s_array (const char *const *ids, size_t n)
{
    size_t size = 3;
    for (size_t i = 0; i < n; i++)
        size += 2 * strlen (ids[i]) + 3;
    char *out = malloc (size), *p = out;
    if (!out)
        abort ();
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *c = ids[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = 0;
    return out;
}

int
analytics_store_facts_prefetch (gz_db_t *db, const char *const *ids, size_t n, analytics_acc_t *acc)
{
    if (n == 0)
        return 0;
    char *array = s_array (ids, n);
    const char *values[1] = {array};
    PGresult *r = gz_db_exec (db, "an_facts_get", 1, values);
    free (array);
    if (!r)
        return -1;
    analytics_fact_t f;
    for (int i = 0; i < PQntuples (r); i++) {
        s_fact_from_row (r, i, &f);
        analytics_acc_put (acc, &f);
    }
    PQclear (r);
    //  Not stored yet: new requests start empty.
    for (size_t i = 0; i < n; i++) {
        analytics_fact_init (&f, ids[i]);
        analytics_acc_put (acc, &f);
    }
    return 0;
}
