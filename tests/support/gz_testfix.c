/*  gz_testfix: fixtures the integration tests share. See gz_testfix.h.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gz_org.h"
#include "gz_testfix.h"

//  ---------------------------------------------------------------- SQL

//  The one row of sql's answer (caller clears); fails the test otherwise.
static PGresult *
s_one_row (gz_db_t *db, const char *sql)
{
    PGresult *r = PQexec (gz_db_conn (db), sql);
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        fprintf (stderr, "query failed: %s: %s (%d rows)\n", sql, PQresultErrorMessage (r),
                 PQntuples (r));
        PQclear (r);
        fail_msg ("expected one row from: %s", sql);
    }
    return r;
}

long long
gz_testfix_scalar (gz_db_t *db, const char *sql)
{
    PGresult *r = s_one_row (db, sql);
    long long v = PQgetisnull (r, 0, 0) ? -1 : strtoll (PQgetvalue (r, 0, 0), NULL, 10);
    PQclear (r);
    return v;
}

//  Format SQL into sql (S_SQL_MAX bytes); fails the test if it is cut.
#define S_SQL_MAX 2048
static void
s_format (char *sql, const char *fmt, va_list ap)
{
    int n = vsnprintf (sql, S_SQL_MAX, fmt, ap);
    assert_true (n >= 0 && n < S_SQL_MAX);
}

long long
gz_testfix_scalarf (gz_db_t *db, const char *fmt, ...)
{
    char sql[S_SQL_MAX];
    va_list ap;
    va_start (ap, fmt);
    s_format (sql, fmt, ap);
    va_end (ap);
    return gz_testfix_scalar (db, sql);
}

char *
gz_testfix_text (gz_db_t *db, const char *sql)
{
    PGresult *r = s_one_row (db, sql);
    char *v = strdup (PQgetisnull (r, 0, 0) ? "" : PQgetvalue (r, 0, 0));
    assert_non_null (v);
    PQclear (r);
    return v;
}

char *
gz_testfix_textf (gz_db_t *db, const char *fmt, ...)
{
    char sql[S_SQL_MAX];
    va_list ap;
    va_start (ap, fmt);
    s_format (sql, fmt, ap);
    va_end (ap);
    return gz_testfix_text (db, sql);
}

void
gz_testfix_exec (gz_db_t *db, const char *sql)
{
    if (gz_db_command (db, sql) != 0)
        fail_msg ("command failed: %s: %s", sql, gz_db_error (db));
}

void
gz_testfix_seed_area (gz_db_t *db)
{
    assert_int_equal (gz_db_migrate (db, "org", gz_org_migrations), 0);
    gz_testfix_exec (db, "INSERT INTO org.units (code, level, parent_code, name) VALUES"
                         " ('D1','district',NULL,'示例区'), ('S1','subdistrict','D1','示例街道1'),"
                         " ('C1','community','S1','示例社区1'), ('G1','grid','C1','示例网格1')");
    gz_testfix_exec (db, "INSERT INTO org.buildings (code, grid_code, name, address, lat, lon)"
                         " VALUES ('B1','G1','示例小区1 1栋','示例路1号',26.5650,106.6900),"
                         " ('B2','G1','示例小区1 2栋','示例路2号',26.5660,106.6910)");
}

//  ---------------------------------------------------------------- actors

int
gz_testfix_port (zactor_t *actor, const char *command)
{
    zstr_send (actor, command);
    char *answer = zstr_recv (actor);
    assert_non_null (answer);
    int port = atoi (answer);
    free (answer);
    return port;
}

static void
s_replace (char **field, const char *value)
{
    free (*field);
    *field = strdup (value);
    assert_non_null (*field);
}

void
gz_testfix_local (char **database_url, char **http_bind, char **bus_endpoint,
                  char **events_endpoint, const char *url)
{
    s_replace (database_url, url);
    s_replace (http_bind, "127.0.0.1");
    s_replace (bus_endpoint, "tcp://127.0.0.1:*");
    s_replace (events_endpoint, "tcp://127.0.0.1:*");
}

intake_config_t *
gz_testfix_intake_config (const char *database_url, const char *api_keys)
{
    intake_config_t *cfg = intake_config_from_env ();
    assert_non_null (cfg);
    gz_testfix_local (&cfg->base.database_url, &cfg->base.http_bind, &cfg->base.bus_endpoint,
                      &cfg->base.events_endpoint, database_url);
    cfg->base.http_port = 0;
    //  Every test client comes from 127.0.0.1, many at once: no
    //  per-address limit here (test_gz_http_guard and test_slowloris test it).
    cfg->base.http_limits.max_per_address = 0;
    s_replace (&cfg->api_keys, api_keys);
    return cfg;
}

//  ---------------------------------------------------------------- HTTP

double
gz_testfix_metric (const char *base, const char *series)
{
    char url[256];
    snprintf (url, sizeof url, "%s/metrics", base);
    gz_testhttp_t r;
    assert_int_equal (gz_testhttp_get (url, &r), 0);
    assert_int_equal (r.status, 200);
    //  A series starts a line and is followed by one space and its value.
    char want[256];
    snprintf (want, sizeof want, "\n%s ", series);
    const char *at = strstr (r.body, want);
    double v = at ? atof (at + strlen (want)) : -1;
    gz_testhttp_free (&r);
    return v;
}

char *
gz_testfix_request_id (const char *body)
{
    json_t *j = body ? json_loads (body, 0, NULL) : NULL;
    const char *id =
        json_string_value (json_object_get (json_array_get (j, 0), "service_request_id"));
    char *copy = id ? strdup (id) : NULL;
    json_decref (j);
    return copy;
}

static void *
s_call_run (void *arg)
{
    gz_testfix_call_t *call = arg;
    const char *headers[] = {call->header, NULL};
    int64_t start = zclock_mono ();
    call->rc =
        gz_testhttp (call->method, call->url, call->body, call->body ? strlen (call->body) : 0,
                     NULL, call->header[0] ? headers : NULL, &call->response);
    call->took_ms = zclock_mono () - start;
    atomic_store (&call->done, true);
    return NULL;
}

void
gz_testfix_call_start (gz_testfix_call_t *call)
{
    assert_non_null (call->method);
    call->rc = -1;
    memset (&call->response, 0, sizeof call->response);
    atomic_store (&call->done, false);
    assert_int_equal (pthread_create (&call->thread, NULL, s_call_run, call), 0);
}

void
gz_testfix_call_join (gz_testfix_call_t *call)
{
    assert_int_equal (pthread_join (call->thread, NULL), 0);
}

void
gz_testfix_call_free (gz_testfix_call_t *call)
{
    if (call->rc == 0)
        gz_testhttp_free (&call->response);
    call->rc = -1;
}

//  ---------------------------------------------------------------- waiting

void
gz_testfix_wait (gz_testfix_cond_fn *cond, void *arg, int timeout_ms, const char *what)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!cond (arg)) {
        if (zclock_mono () > deadline)
            fail_msg ("waited %d ms in vain for %s", timeout_ms, what);
        zclock_sleep (10);
    }
}

//  A value to wait for: SQL's one integer on db, or else a series in
//  base's /metrics.
typedef struct {
    gz_db_t *db;
    const char *base;
    const char *name; //  the SQL or the series
    double value;
} s_target_t;

static bool
s_target_reached (void *arg)
{
    s_target_t *t = arg;
    double now =
        t->db ? (double) gz_testfix_scalar (t->db, t->name) : gz_testfix_metric (t->base, t->name);
    return now == t->value;
}

static void
s_wait_target (s_target_t *t, int timeout_ms)
{
    char what[512];
    snprintf (what, sizeof what, "%s to be %g", t->name, t->value);
    gz_testfix_wait (s_target_reached, t, timeout_ms, what);
}

void
gz_testfix_wait_metric (const char *base, const char *series, double value, int timeout_ms)
{
    s_target_t t = {NULL, base, series, value};
    s_wait_target (&t, timeout_ms);
}

void
gz_testfix_wait_scalar (gz_db_t *db, const char *sql, long long value, int timeout_ms)
{
    s_target_t t = {db, NULL, sql, (double) value};
    s_wait_target (&t, timeout_ms);
}

typedef struct {
    gz_db_t *db;
    const char *application_name;
    char since[64]; //  a pg_stat_activity query_start, as text
} s_org_check_t;

//  Has an org.generation check started after c->since? Moves since on.
static bool
s_org_checked (void *arg)
{
    s_org_check_t *c = arg;
    char *started =
        gz_testfix_textf (c->db,
                          "SELECT max(query_start)::text FROM pg_stat_activity"
                          " WHERE datname = current_database() AND application_name = '%s'"
                          " AND query = 'SELECT value FROM org.generation' AND query_start > '%s'",
                          c->application_name, c->since);
    bool seen = *started != 0;
    if (seen)
        snprintf (c->since, sizeof c->since, "%s", started);
    free (started);
    return seen;
}

void
gz_testfix_wait_org_checks (gz_db_t *db, const char *application_name, int checks, int timeout_ms)
{
    s_org_check_t c = {db, application_name, ""};
    char *now = gz_testfix_text (db, "SELECT clock_timestamp()::text");
    snprintf (c.since, sizeof c.since, "%s", now);
    free (now);
    for (int i = 0; i < checks; i++)
        gz_testfix_wait (s_org_checked, &c, timeout_ms, "a check of org.generation");
}

//  ---------------------------------------------------------------- raw bus peers

int
gz_testfix_zmtp_frame (int port, uint64_t announced, size_t send_bytes, int pause_ms)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    unsigned char greeting[64] = {0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0, 'N', 'U', 'L', 'L'};
    assert_int_equal (write (fd, greeting, sizeof greeting), (ssize_t) sizeof greeting);
    static const unsigned char ready[] = {0x04, 28,  5,   'R', 'E', 'A', 'D', 'Y', 11,  'S',
                                          'o',  'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e',
                                          0,    0,   0,   6,   'D', 'E', 'A', 'L', 'E', 'R'};
    assert_int_equal (write (fd, ready, sizeof ready), (ssize_t) sizeof ready);
    //  A long frame (flags 0x02): its size in 8 bytes, network order.
    unsigned char header[9] = {0x02};
    for (int i = 0; i < 8; i++)
        header[1 + i] = (unsigned char) (announced >> (56 - 8 * i));
    assert_int_equal (write (fd, header, sizeof header), (ssize_t) sizeof header);
    static char chunk[64 * 1024];
    memset (chunk, 'x', sizeof chunk);
    //  The server may close at any time: a failed send ends the frame.
    for (size_t sent = 0; sent < send_bytes;) {
        size_t n = send_bytes - sent < sizeof chunk ? send_bytes - sent : sizeof chunk;
        ssize_t w = send (fd, chunk, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        sent += (size_t) w;
        if (pause_ms > 0)
            zclock_sleep (pause_ms);
    }
    return fd;
}

bool
gz_testfix_closed_by_server (int fd, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    char buf[512];
    while (zclock_mono () < until) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll (&p, 1, 50) > 0) {
            ssize_t n = read (fd, buf, sizeof buf);
            if (n <= 0)
                return true;
        }
    }
    return false;
}

long
gz_testfix_rss_kib (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    assert_non_null (f);
    char line[256];
    long kib = -1;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = atol (line + 6);
    fclose (f);
    assert_true (kib > 0);
    return kib;
}
