/*  gz_testfix: fixtures the integration tests share, so each test states
    only what is its own: scalar SQL on the test's connection, an actor's
    ports, a service configuration pointed at the test database and
    loopback, a value from /metrics, a small org directory, an HTTP call
    on a thread of its own, and waiting for a condition with a deadline
    (tests synchronise on what they can observe, never on a fixed sleep).

    Every function fails the running cmocka test (with a message) where a
    check cannot be made: a query that does not return one row, a request
    that does not complete, a condition that never comes.  */
#ifndef GZ_TESTFIX_H_INCLUDED
#define GZ_TESTFIX_H_INCLUDED

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gz_db.h"
#include "gz_testhttp.h"
#include "intake_server.h"

//  ---- SQL on a test's own connection (constant SQL, no parameters)

//  The one row's first column as an integer; -1 when it is NULL. Fails
//  the test unless the query returns exactly one row.
long long gz_testfix_scalar (gz_db_t *db, const char *sql);
//  The same with the SQL formatted printf-style.
long long gz_testfix_scalarf (gz_db_t *db, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

//  The one row's first column as text, "" when it is NULL (caller frees).
//  Fails the test unless the query returns exactly one row.
char *gz_testfix_text (gz_db_t *db, const char *sql);
char *gz_testfix_textf (gz_db_t *db, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Run a command; fails the test if it fails.
void gz_testfix_exec (gz_db_t *db, const char *sql);

//  A small org directory on db (migrated here): district D1, subdistrict
//  S1, community C1, grid G1, buildings B1 and B2 in G1 near the
//  Huaguoyuan centre. What intake's tests file requests against.
void gz_testfix_seed_area (gz_db_t *db);

//  ---- actors

//  Ask actor for a number (PORT, BUSPORT, ...): send command, read the
//  answer.
int gz_testfix_port (zactor_t *actor, const char *command);

//  Point a service configuration at database_url, with its HTTP server on
//  127.0.0.1 and its bus and events sockets on any free loopback port:
//  replaces the four strings (freeing the old ones). The caller sets the
//  HTTP port to 0.
void gz_testfix_local (char **database_url, char **http_bind, char **bus_endpoint,
                       char **events_endpoint, const char *url);

//  An intake configuration from the environment, on database_url, its
//  HTTP server on 127.0.0.1 and every socket on a free port (PORT,
//  BUSPORT, EVENTSPORT tell which), accepting api_keys ("name=key,...").
//  The caller destroys it (intake_config_destroy).
intake_config_t *gz_testfix_intake_config (const char *database_url, const char *api_keys);

//  ---- HTTP

//  The value of series (a metric name, with its {labels} if any) in
//  base's /metrics, or -1 when it is absent.
double gz_testfix_metric (const char *base, const char *series);

//  service_request_id of the first request in an Open311 JSON answer
//  (caller frees), or NULL when there is none.
char *gz_testfix_request_id (const char *body);

//  One HTTP call on a thread of its own, for tests that need requests in
//  flight at once. Fill method, url, body (borrowed; NULL: none) and
//  header (one extra "Name: value" line, or ""), then start; join waits
//  for the answer. After join, rc is gz_testhttp's return, response is
//  valid when rc is 0 (free it with gz_testfix_call_free), took_ms is how
//  long the call took. done turns true when the answer (or the failure)
//  is in, so a test can wait for the first of several calls.
typedef struct {
    const char *method;
    char url[256];
    const char *body;
    char header[128];
    int rc;
    gz_testhttp_t response;
    int64_t took_ms;
    atomic_bool done;
    pthread_t thread;
} gz_testfix_call_t;

void gz_testfix_call_start (gz_testfix_call_t *call);
void gz_testfix_call_join (gz_testfix_call_t *call);
void gz_testfix_call_free (gz_testfix_call_t *call);

//  ---- raw bus peers and memory (the bus limits' tests)

//  A raw ZMTP 3.0 DEALER on 127.0.0.1:port that completes the handshake,
//  announces one frame of `announced` bytes and writes up to `send` bytes
//  of it in chunks (stopping early, without failing, when the server
//  closes), pausing pause_ms after each 64 KiB when pause_ms > 0. Returns
//  the socket, for gz_testfix_closed_by_server and close.
int gz_testfix_zmtp_frame (int port, uint64_t announced, size_t send, int pause_ms);

//  Has the server closed fd (within timeout_ms)? Reads and drops what it
//  sent first (its greeting).
bool gz_testfix_closed_by_server (int fd, int timeout_ms);

//  The process's resident set (VmRSS of /proc/self/status) in KiB.
long gz_testfix_rss_kib (void);

//  ---- waiting

//  A condition to wait for: true once it holds.
typedef bool (gz_testfix_cond_fn) (void *arg);

//  Check cond every 10 ms until it holds; fail the test with "what" if
//  it does not within timeout_ms.
void gz_testfix_wait (gz_testfix_cond_fn *cond, void *arg, int timeout_ms, const char *what);

//  Wait until series in base's /metrics has value.
void gz_testfix_wait_metric (const char *base, const char *series, double value, int timeout_ms);

//  Wait until sql (one integer) returns value on db.
void gz_testfix_wait_scalar (gz_db_t *db, const char *sql, long long value, int timeout_ms);

//  Wait until the actors whose connections are named application_name
//  have started `checks` more checks of org.generation (GZ_ORG_CHECK_MS),
//  one after the other, each seen in pg_stat_activity. Every reload such
//  a check decides on is done before the next check starts, so after
//  two checks a test knows what the checker made of the directory as it
//  is now.
void gz_testfix_wait_org_checks (gz_db_t *db, const char *application_name, int checks,
                                 int timeout_ms);

#endif
