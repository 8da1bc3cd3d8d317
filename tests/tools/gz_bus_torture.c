/*  gz_bus_torture: the durable bus across processes, for the kill -9 test
    (tests/integration/test_bus_kill9.sh). Either process may be killed at
    any moment and restarted; verify then proves that every event arrived
    once and in order per key.

      gz_bus_torture produce URL ENDPOINT TOTAL KEYS
          Appends BusTestEvent events (key "k<i % KEYS>", seq 1, 2, 3 ...
          per key) to stream "torture" in schema torture_p, 1..20 events
          per transaction, until the outbox holds TOTAL. A restart derives
          the next event from what is committed (the outbox itself). Ticks
          (heartbeat, re-publish) every GZ_BUS_HEARTBEAT_MS; pauses
          GZ_TORTURE_PAUSE_MS (default 30) between transactions so kills
          land while events flow. Then keeps ticking until SIGTERM.
      gz_bus_torture consume URL ENDPOINT TOTAL
          Consumes the stream into torture_c.applied (key, seq, position),
          checking in the handler that seq = last applied seq of the key
          + 1 (a violation is recorded in torture_c.violations, never
          fatal). Exits 0 once the cursor reaches TOTAL.
      gz_bus_torture verify URL TOTAL
          Checks exactly TOTAL applied rows, no duplicates, per-key seq
          contiguous from 1, zero violations, applied rows matching the
          outbox. Prints a summary; exit 1 on any failure.

    Exit codes: 0 ok, 1 failure, 2 usage, 3 the producer cannot bind.  */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gongzhi/v1/bustest.pb-c.h"
#include "gz_bus.h"
#include "gz_config.h"
#include "gz_log.h"

#define STREAM "torture"
#define PSCHEMA "torture_p"
#define CSCHEMA "torture_c"
#define MAX_TX 20

static const gz_migration_t s_consumer_migrations[] = {
    {"torture_001_applied.sql",
     "CREATE TABLE IF NOT EXISTS {schema}.applied ("
     "  key text NOT NULL, seq bigint NOT NULL, position bigint NOT NULL,"
     "  UNIQUE (key, seq), UNIQUE (position));"
     "CREATE TABLE IF NOT EXISTS {schema}.last ("
     "  key text PRIMARY KEY, seq bigint NOT NULL);"
     "CREATE TABLE IF NOT EXISTS {schema}.violations ("
     "  id bigserial PRIMARY KEY, key text, seq bigint, expected bigint, position bigint,"
     "  reason text NOT NULL, at timestamptz NOT NULL DEFAULT now())"},
    {NULL, NULL},
};

//  Connect and migrate, retrying for a while (the cluster may be busy
//  with a killed sibling's connections). NULL after the deadline.
static gz_db_t *
s_open (const char *url, const char *app, bool consumer)
{
    gz_db_t *db = gz_db_new (url, app);
    int64_t deadline = zclock_mono () + 30000;
    while (!zsys_interrupted) {
        int rc = gz_db_ensure (db);
        if (rc == 0)
            rc = gz_db_migrate (db, PSCHEMA, gz_bus_migrations ());
        if (rc == 0 && consumer)
            rc = gz_db_migrate (db, CSCHEMA, gz_bus_migrations ());
        if (rc == 0 && consumer)
            rc = gz_db_migrate (db, CSCHEMA, s_consumer_migrations);
        if (rc == 0)
            return db;
        if (zclock_mono () > deadline)
            break;
        zclock_sleep (200);
    }
    fprintf (stderr, "%s: cannot open database: %s\n", app, gz_db_error (db));
    gz_db_destroy (&db);
    return NULL;
}

//  ---------------------------------------------------------------- produce

typedef struct {
    long keys;
    int64_t *seq;  //  last committed seq per key
    int64_t count; //  events committed
} produced_t;

//  What is committed: per key, its events in the outbox (seq is
//  contiguous from 1, so the count is the last seq). 0 ok, -1 failure.
static int
s_load (gz_db_t *db, produced_t *p)
{
    gz_db_prepare (db, "torture_load",
                   "SELECT key, count(*) FROM " PSCHEMA ".outbox WHERE stream = '" STREAM "'"
                   " GROUP BY key");
    PGresult *r = gz_db_exec (db, "torture_load", 0, NULL);
    if (!r)
        return -1;
    memset (p->seq, 0, (size_t) p->keys * sizeof *p->seq);
    p->count = 0;
    int rc = 0;
    for (int i = 0; i < PQntuples (r); i++) {
        const char *key = PQgetvalue (r, i, 0);
        long k = key[0] == 'k' ? strtol (key + 1, NULL, 10) : -1;
        if (k < 0 || k >= p->keys) {
            fprintf (stderr, "produce: unexpected key %s in outbox (KEYS changed?)\n", key);
            rc = -1;
            continue;
        }
        p->seq[k] = strtoll (PQgetvalue (r, i, 1), NULL, 10);
        p->count += p->seq[k];
    }
    PQclear (r);
    return rc;
}

//  One transaction of n events. 0 ok (committed and published), -1.
static int
s_produce_tx (gz_db_t *db, gz_bus_pub_t *pub, produced_t *p, int n)
{
    int64_t next[MAX_TX];
    long key_of[MAX_TX];
    int rc = gz_db_begin (db);
    for (int j = 0; j < n && rc == 0; j++) {
        int64_t i = p->count + j;
        key_of[j] = (long) (i % p->keys);
        int64_t seq = p->seq[key_of[j]] + 1;
        for (int e = 0; e < j; e++)
            if (key_of[e] == key_of[j])
                seq = next[e] + 1; //  the same key twice in one transaction
        next[j] = seq;
        char key[32];
        snprintf (key, sizeof key, "k%ld", key_of[j]);
        Gongzhi__V1__BusTestEvent ev = GONGZHI__V1__BUS_TEST_EVENT__INIT;
        ev.key = key;
        ev.seq = seq;
        gz_bus_pub_stage_msg (pub, "BusTestEvent", key, NULL, &ev.base);
    }
    if (rc == 0)
        rc = gz_bus_pub_write (pub);
    if (rc == 0)
        rc = gz_db_commit (db);
    if (rc) {
        gz_db_rollback (db);
        gz_bus_pub_aborted (pub);
        return -1;
    }
    gz_bus_pub_committed (pub);
    for (int j = 0; j < n; j++)
        p->seq[key_of[j]] = next[j];
    p->count += n;
    return 0;
}

static int
s_produce (const char *url, const char *endpoint, int64_t total, long keys)
{
    gz_db_t *db = s_open (url, "torture-produce", false);
    if (!db)
        return zsys_interrupted ? 0 : 1;
    gz_bus_opts_t opts;
    gz_bus_opts_from_env (&opts);
    gz_bus_pub_t *pub = gz_bus_pub_new (db, PSCHEMA, STREAM, endpoint, &opts);
    if (!pub) {
        fprintf (stderr, "produce: cannot bind %s\n", endpoint);
        gz_db_destroy (&db);
        return 3;
    }
    produced_t p = {keys, calloc ((size_t) keys, sizeof (int64_t)), 0};
    assert (p.seq);
    bool loaded = s_load (db, &p) == 0;
    printf ("produce: pid %d bound %s, %lld committed before\n", (int) getpid (), endpoint,
            (long long) p.count);
    fflush (stdout);
    long heartbeat = opts.heartbeat_ms;
    long pause = gz_config_int ("GZ_TORTURE_PAUSE_MS", 30, 0, 10000);
    unsigned seed = (unsigned) getpid () ^ (unsigned) zclock_time ();
    int64_t next_tick = 0, failures = 0;
    bool reported = false;
    int rc = 0;
    while (!zsys_interrupted) {
        if (zclock_mono () >= next_tick) {
            next_tick = zclock_mono () + heartbeat;
            if (gz_db_ensure (db) == 0)
                gz_bus_pub_tick (pub);
        }
        if (!loaded) {
            //  After a failure the outcome of the last COMMIT is unknown:
            //  only the database knows which seq comes next.
            loaded = gz_db_ensure (db) == 0 && s_load (db, &p) == 0;
            if (!loaded) {
                zclock_sleep (100);
                continue;
            }
        }
        if (p.count > total) {
            fprintf (stderr, "produce: outbox holds %lld > TOTAL %lld\n", (long long) p.count,
                     (long long) total);
            rc = 1;
            break;
        }
        if (p.count == total) {
            if (!reported)
                printf ("produce: %lld committed (%lld failed transactions)\n", (long long) p.count,
                        (long long) failures);
            fflush (stdout);
            reported = true;
            zclock_sleep (20);
            continue;
        }
        int n = 1 + rand_r (&seed) % MAX_TX;
        if (n > total - p.count)
            n = (int) (total - p.count);
        if (s_produce_tx (db, pub, &p, n)) {
            failures++;
            loaded = false;
        }
        if (pause)
            zclock_sleep ((int) pause);
    }
    gz_bus_pub_destroy (&pub);
    gz_db_destroy (&db);
    free (p.seq);
    return rc;
}

//  ---------------------------------------------------------------- consume

typedef struct {
    uint64_t violations;
} consumed_t;

static int
s_violation (gz_db_t *db, const char *key, int64_t seq, int64_t expected, int64_t position,
             const char *reason)
{
    gz_db_prepare (db, "torture_violation",
                   "INSERT INTO " CSCHEMA ".violations (key, seq, expected, position, reason)"
                   " VALUES ($1, $2, $3, $4, $5)");
    char s[24], e[24], p[24];
    snprintf (s, sizeof s, "%lld", (long long) seq);
    snprintf (e, sizeof e, "%lld", (long long) expected);
    snprintf (p, sizeof p, "%lld", (long long) position);
    const char *v[5] = {key, s, e, p, reason};
    PGresult *r = gz_db_exec (db, "torture_violation", 5, v);
    PQclear (r);
    fprintf (stderr, "consume: VIOLATION %s key=%s seq=%lld expected=%lld position=%lld\n", reason,
             key, (long long) seq, (long long) expected, (long long) position);
    return r ? 0 : -1;
}

static int
s_apply (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    consumed_t *c = arg;
    Gongzhi__V1__BusTestEvent *ev =
        gongzhi__v1__bus_test_event__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev || strcmp (env->type, "BusTestEvent") != 0) {
        if (ev)
            gongzhi__v1__bus_test_event__free_unpacked (ev, NULL);
        c->violations++;
        return s_violation (db, env->key, 0, 0, env->position, "undecodable");
    }
    gz_db_prepare (db, "torture_apply",
                   "WITH prev AS (SELECT coalesce ((SELECT seq FROM " CSCHEMA ".last"
                   "                                WHERE key = $1), 0) AS seq),"
                   " ins AS (INSERT INTO " CSCHEMA ".applied (key, seq, position)"
                   "         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1),"
                   " up AS (INSERT INTO " CSCHEMA ".last (key, seq) VALUES ($1, $2)"
                   "        ON CONFLICT (key) DO UPDATE SET seq = excluded.seq)"
                   " SELECT prev.seq, (SELECT count(*) FROM ins) FROM prev");
    char seq[24], pos[24];
    snprintf (seq, sizeof seq, "%lld", (long long) ev->seq);
    snprintf (pos, sizeof pos, "%lld", (long long) env->position);
    const char *v[3] = {ev->key, seq, pos};
    PGresult *r = gz_db_exec (db, "torture_apply", 3, v);
    int rc = r ? 0 : -1;
    if (r && PQntuples (r) == 1) {
        int64_t prev = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
        bool inserted = strtoll (PQgetvalue (r, 0, 1), NULL, 10) == 1;
        const char *reason = !inserted                    ? "duplicate"
                             : strcmp (ev->key, env->key) ? "key mismatch"
                             : ev->seq != prev + 1        ? "out of order"
                                                          : NULL;
        if (reason) {
            c->violations++;
            rc = s_violation (db, ev->key, ev->seq, prev + 1, env->position, reason);
        }
    }
    PQclear (r);
    gongzhi__v1__bus_test_event__free_unpacked (ev, NULL);
    return rc;
}

static int
s_consume (const char *url, const char *endpoint, int64_t total)
{
    gz_db_t *db = s_open (url, "torture-consume", true);
    if (!db)
        return zsys_interrupted ? 0 : 1;
    consumed_t c = {0};
    gz_bus_opts_t opts;
    gz_bus_opts_from_env (&opts);
    gz_bus_sub_t *sub =
        gz_bus_sub_new (db, "torture", CSCHEMA, PSCHEMA, STREAM, endpoint, s_apply, &c, &opts);
    if (!sub) {
        gz_db_destroy (&db);
        return 1;
    }
    printf ("consume: pid %d from %s, cursor at %lld\n", (int) getpid (), endpoint,
            (long long) gz_bus_sub_position (sub));
    fflush (stdout);
    zpoller_t *poller = zpoller_new (gz_bus_sub_sock (sub), NULL);
    int64_t next_tick = 0;
    while (!zsys_interrupted && gz_bus_sub_position (sub) < total) {
        if (zpoller_wait (poller, 50))
            gz_bus_sub_on_readable (sub);
        if (zclock_mono () >= next_tick) {
            next_tick = zclock_mono () + 100;
            gz_bus_sub_tick (sub);
        }
    }
    int rc = gz_bus_sub_position (sub) >= total ? 0 : 1;
    printf ("consume: cursor %lld; this run applied %llu (%llu from PostgreSQL), %llu duplicates, "
            "%llu bad, %llu violations\n",
            (long long) gz_bus_sub_position (sub), (unsigned long long) gz_bus_sub_consumed (sub),
            (unsigned long long) gz_bus_sub_caught_up (sub),
            (unsigned long long) gz_bus_sub_duplicates (sub),
            (unsigned long long) gz_bus_sub_bad (sub), (unsigned long long) c.violations);
    zpoller_destroy (&poller);
    gz_bus_sub_destroy (&sub);
    gz_db_destroy (&db);
    return rc;
}

//  ---------------------------------------------------------------- verify

typedef struct {
    const char *what;
    const char *sql; //  constant; returns one number
    bool equals_total;
    long long expect; //  when !equals_total
} check_t;

static int
s_verify (const char *url, int64_t total)
{
    gz_db_t *db = gz_db_new (url, "torture-verify");
    if (!gz_db_ok (db)) {
        fprintf (stderr, "verify: cannot connect: %s\n", gz_db_error (db));
        gz_db_destroy (&db);
        return 1;
    }
    static const check_t checks[] = {
        {"applied rows", "SELECT count(*) FROM " CSCHEMA ".applied", true, 0},
        {"distinct positions", "SELECT count(DISTINCT position) FROM " CSCHEMA ".applied", true, 0},
        {"lowest position", "SELECT coalesce(min(position), 0) FROM " CSCHEMA ".applied", false, 1},
        {"highest position", "SELECT coalesce(max(position), 0) FROM " CSCHEMA ".applied", true, 0},
        {"distinct (key, seq)",
         "SELECT count(*) FROM (SELECT DISTINCT key, seq FROM " CSCHEMA ".applied) x", true, 0},
        {"keys whose seq is not 1..n",
         "SELECT count(*) FROM (SELECT key FROM " CSCHEMA ".applied GROUP BY key"
         " HAVING min(seq) <> 1 OR max(seq) <> count(*) OR count(DISTINCT seq) <> count(*)) x",
         false, 0},
        {"keys applied out of order",
         "SELECT count(*) FROM (SELECT seq, lag (seq) OVER (PARTITION BY key ORDER BY position)"
         " AS prev FROM " CSCHEMA ".applied) x WHERE prev IS NOT NULL AND seq <> prev + 1",
         false, 0},
        {"violations", "SELECT count(*) FROM " CSCHEMA ".violations", false, 0},
        {"outbox rows", "SELECT count(*) FROM " PSCHEMA ".outbox WHERE stream = '" STREAM "'", true,
         0},
        {"stream head",
         "SELECT coalesce((SELECT head FROM " PSCHEMA ".bus_stream WHERE stream = '" STREAM
         "'), 0)",
         true, 0},
        {"consumer cursor",
         "SELECT coalesce((SELECT position FROM " CSCHEMA ".bus_cursor"
         " WHERE consumer = 'torture' AND stream = '" STREAM "'), 0)",
         true, 0},
        {"applied rows matching outbox (position, key)",
         "SELECT count(*) FROM " CSCHEMA ".applied a JOIN " PSCHEMA ".outbox o"
         " ON o.stream = '" STREAM "' AND o.position = a.position AND o.key = a.key",
         true, 0},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        char name[32];
        snprintf (name, sizeof name, "torture_verify_%zu", i);
        gz_db_prepare (db, name, checks[i].sql);
        PGresult *r = gz_db_exec (db, name, 0, NULL);
        long long want = checks[i].equals_total ? (long long) total : checks[i].expect;
        if (!r || PQntuples (r) != 1) {
            printf ("verify: %-45s query failed: %s\n", checks[i].what, gz_db_error (db));
            failed++;
        }
        else {
            long long got = strtoll (PQgetvalue (r, 0, 0), NULL, 10);
            bool ok = got == want;
            printf ("verify: %-45s %10lld  %s (want %lld)\n", checks[i].what, got,
                    ok ? "ok  " : "FAIL", want);
            failed += !ok;
        }
        PQclear (r);
    }
    printf ("verify: %s\n", failed ? "FAILED" : "all checks passed");
    gz_db_destroy (&db);
    return failed ? 1 : 0;
}

//  ---------------------------------------------------------------- main

static int
s_usage (void)
{
    fprintf (stderr, "usage: gz_bus_torture produce URL ENDPOINT TOTAL KEYS\n"
                     "       gz_bus_torture consume URL ENDPOINT TOTAL\n"
                     "       gz_bus_torture verify URL TOTAL\n");
    return 2;
}

static int64_t
s_count (const char *text)
{
    char *end = NULL;
    long long n = strtoll (text, &end, 10);
    return end != text && *end == 0 && n > 0 ? n : -1;
}

int
main (int argc, char *argv[])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    //  SIGTERM ends the loops cleanly (also before the first socket,
    //  which is when CZMQ would install its handler).
    zsys_catch_interrupts ();
    int rc = 2;
    if (argc == 6 && strcmp (argv[1], "produce") == 0) {
        int64_t total = s_count (argv[4]), keys = s_count (argv[5]);
        rc = total > 0 && keys > 0 ? s_produce (argv[2], argv[3], total, (long) keys) : s_usage ();
    }
    else if (argc == 5 && strcmp (argv[1], "consume") == 0) {
        int64_t total = s_count (argv[4]);
        rc = total > 0 ? s_consume (argv[2], argv[3], total) : s_usage ();
    }
    else if (argc == 4 && strcmp (argv[1], "verify") == 0) {
        int64_t total = s_count (argv[3]);
        rc = total > 0 ? s_verify (argv[2], total) : s_usage ();
    }
    else
        rc = s_usage ();
    return rc;
}
