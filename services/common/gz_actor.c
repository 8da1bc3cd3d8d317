/*  gz_actor: the skeleton every service runs on. See gz_actor.h and
    docs/service-anatomy.md.

    DESIGN: the loop is a zmq_poll over the pipe, the ROUTER, the wake
    eventfd and the SUB socket of each followed stream, with a timeout to
    the next timer (the heartbeat tick, the org check, the service's own
    timers), or none while spec->pending says work is queued. After every
    wake-up spec->cycle does the queued work. So a service never writes a
    loop, and the order of things in it is the same everywhere: pipe,
    streams, wake, ROUTER, cycle.  */
#include "gz_actor.h"
#include "gz_inflight.h"
#include "gz_log.h"
#include "gz_org.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_MAX_FOLLOW 4
#define S_MAX_TIMERS 8
#define S_DRAIN_MS 10000 //  $TERM: longest wait for work in flight

typedef struct {
    char *source_schema, *stream, *endpoint;
    bool wait;
    gz_bus_handler_fn *handler;
    void *arg;
    gz_actor_after_fn *after;
    void *after_arg;
    gz_bus_sub_t *sub;
    bool chain;             //  the handler stages events on the service's stream
    gz_bus_flush_fn *flush; //  the batch's flush, or NULL
    void *flush_arg;
    uint64_t consumed_seen, caught_seen, dup_seen;
} s_follow_t;

typedef struct {
    int interval_ms;
    int64_t next_ms;
    void (*fn) (void *arg);
    void *arg;
} s_timer_t;

struct _gz_actor_t {
    const gz_actor_spec_t *spec;
    _Atomic int64_t clock_us; //  the test clock (CLOCK), 0: the wall clock
    gz_actor_args_t args;
    void *config;                  //  the service's config (our copy)
    const gz_actor_config_t *base; //  its first member
    zsock_t *pipe;
    gz_db_t *db;
    gz_dbpool_t *pool;
    gz_metrics_t *metrics;
    gz_bus_pub_t *pub;
    zsock_t *router;
    gz_inflight_t *inflight; //  commands taken and not answered, per peer
    gz_http_t *http;
    int wake_fd;
    void *state;
    bool migrated;
    atomic_bool closing;
    bool terminated;
    bool next_catch_up; //  a subscriber is behind: poll without waiting (s_timers)
    s_follow_t follow[S_MAX_FOLLOW];
    size_t nfollow;
    s_timer_t timers[S_MAX_TIMERS];
    size_t ntimers;
    int64_t next_tick_ms, next_org_ms;
    int64_t org_generation, org_refused;
    uint64_t published_seen, pruned_seen, republished_seen;
};

//  ---------------------------------------------------------------- accessors

gz_db_t *
gz_actor_db (gz_actor_t *self)
{
    return self->db;
}

gz_dbpool_t *
gz_actor_pool (gz_actor_t *self)
{
    return self->pool;
}

int64_t
gz_actor_now_us (gz_actor_t *self)
{
    int64_t test = atomic_load (&self->clock_us);
    return test ? test : gz_now_us ();
}

void
gz_actor_set_clock (gz_actor_t *self, int64_t us)
{
    atomic_store (&self->clock_us, us);
}

gz_metrics_t *
gz_actor_metrics (gz_actor_t *self)
{
    return self->metrics;
}

gz_bus_pub_t *
gz_actor_pub (gz_actor_t *self)
{
    return self->pub;
}

zsock_t *
gz_actor_router (gz_actor_t *self)
{
    return self->router;
}

gz_http_t *
gz_actor_http (gz_actor_t *self)
{
    return self->http;
}

const char *
gz_actor_name (gz_actor_t *self)
{
    return self->spec->name;
}

bool
gz_actor_closing (gz_actor_t *self)
{
    return atomic_load (&self->closing);
}

void
gz_actor_wake (gz_actor_t *self)
{
    uint64_t one = 1;
    if (write (self->wake_fd, &one, sizeof one) != sizeof one)
        gz_warn (self->spec->name, "msg=\"eventfd write failed\"");
}

void
gz_actor_observe (gz_actor_t *self, const char *route, int64_t start_us)
{
    char labels[64];
    snprintf (labels, sizeof labels, "route=\"%s\"", route);
    gz_metrics_observe (self->metrics, "gz_http_request_duration_seconds", labels,
                        (double) (zclock_usecs () - start_us) / 1e6);
    gz_metrics_add (self->metrics, "gz_http_requests_total", labels, 1);
}

void
gz_actor_every (gz_actor_t *self, int interval_ms, void (*fn) (void *arg), void *arg)
{
    assert (self->ntimers < S_MAX_TIMERS);
    assert (interval_ms > 0);
    self->timers[self->ntimers++] =
        (s_timer_t){.interval_ms = interval_ms, .next_ms = zclock_mono (), .fn = fn, .arg = arg};
}

//  ---------------------------------------------------------------- commands

static char *
s_opt_dup (const char *s)
{
    return s && *s ? strdup (s) : NULL;
}

//  The command is answered or dropped: it is no longer in flight.
static void
s_peer_done (gz_peer_t *peer)
{
    if (peer->inflight && peer->from)
        gz_inflight_done (peer->inflight, peer->from);
    peer->inflight = NULL;
}

void
gz_actor_peer_clear (gz_peer_t *peer)
{
    s_peer_done (peer);
    zframe_destroy (&peer->from);
    free (peer->command_id);
    free (peer->idempotency_key);
    free (peer->trace_id);
    memset (peer, 0, sizeof *peer);
}

//  Refuse what is too large or one too many for its peer (the limits
//  every service shares), else count it in flight.
static void
s_peer_admit (gz_actor_t *self, gz_peer_t *peer, size_t size)
{
    const gz_actor_config_t *c = self->base;
    if (size > (size_t) c->max_command_bytes) {
        peer->refused = GZ_PEER_TOO_LARGE;
        snprintf (peer->why, sizeof peer->why,
                  "command of %zu bytes is over the limit of %d bytes (GZ_BUS_MAX_COMMAND_BYTES)",
                  size, c->max_command_bytes);
    }
    else if (!gz_inflight_take (self->inflight, peer->from)) {
        peer->refused = GZ_PEER_TOO_MANY;
        snprintf (peer->why, sizeof peer->why,
                  "%d commands of this peer are not answered yet "
                  "(GZ_BUS_MAX_INFLIGHT_PER_PEER); read replies, then retry",
                  c->max_inflight_per_peer);
    }
    else
        peer->inflight = self->inflight;
}

gz_envelope_t *
gz_actor_command_recv (gz_actor_t *self, gz_peer_t *peer)
{
    memset (peer, 0, sizeof *peer);
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return NULL;
    peer->from = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    if (body && zframe_size (body) == 0 && zmsg_size (msg) > 0) {
        peer->delim = true; //  a REQ peer: keep its empty delimiter
        zframe_destroy (&body);
        body = zmsg_pop (msg);
    }
    zmsg_destroy (&msg);
    if (peer->from)
        s_peer_admit (self, peer, body ? zframe_size (body) : 0);
    //  Decoded even when refused, so the refusal echoes the command's ids.
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    zframe_destroy (&body);
    if (env) {
        peer->command_id = s_opt_dup (env->id);
        peer->idempotency_key = s_opt_dup (env->idempotency_key);
        peer->trace_id = s_opt_dup (env->trace_id);
    }
    return env;
}

void
gz_actor_command_reply (zsock_t *router, gz_peer_t *peer, const char *type, const char *key,
                        const ProtobufCMessage *reply)
{
    s_peer_done (peer);
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &peer->from);
    if (peer->delim)
        zmsg_addmem (msg, NULL, 0);
    zframe_t *body = gz_codec_reply_frame (type, key, peer->command_id, peer->idempotency_key,
                                           peer->trace_id, reply);
    zmsg_append (msg, &body);
    zmsg_send (&msg, router);
    gz_actor_peer_clear (peer);
}

//  ---------------------------------------------------------------- streams

static void
s_follow_try (gz_actor_t *self, s_follow_t *f)
{
    if (f->sub || !gz_db_ok (self->db))
        return;
    if (f->wait) {
        char name[256];
        snprintf (name, sizeof name, "%s.outbox", f->source_schema);
        const char *v[1] = {name};
        PGresult *r = gz_db_exec (self->db, "gz_actor_outbox_exists", 1, v);
        bool exists = r && PQgetvalue (r, 0, 0)[0] == 't';
        PQclear (r);
        if (!exists)
            return;
    }
    f->sub = gz_bus_sub_new (self->db, self->spec->name, self->base->schema, f->source_schema,
                             f->stream, f->endpoint, f->handler, f->arg, &self->base->bus);
    if (f->sub && f->chain && self->pub)
        gz_bus_sub_set_outbox (f->sub, self->pub);
    if (f->sub && f->flush)
        gz_bus_sub_set_flush (f->sub, f->flush, f->flush_arg);
    if (f->sub)
        gz_info (self->spec->name, "msg=\"following %s\" endpoint=%s", f->stream, f->endpoint);
}

gz_bus_sub_t *
gz_actor_follow (gz_actor_t *self, const char *source_schema, const char *stream,
                 const char *endpoint, bool wait, gz_bus_handler_fn *handler, void *arg,
                 gz_actor_after_fn *after, void *after_arg)
{
    assert (self->nfollow < S_MAX_FOLLOW);
    s_follow_t *f = &self->follow[self->nfollow++];
    *f = (s_follow_t){.source_schema = strdup (source_schema),
                      .stream = strdup (stream),
                      .endpoint = strdup (endpoint),
                      .wait = wait,
                      .handler = handler,
                      .arg = arg,
                      .after = after,
                      .after_arg = after_arg};
    char labels[96];
    snprintf (labels, sizeof labels, "stream=\"%s\"", stream);
    gz_metrics_add (self->metrics, "gz_bus_consumed_total", labels, 0);
    gz_metrics_add (self->metrics, "gz_bus_caught_up_total", labels, 0);
    gz_metrics_add (self->metrics, "gz_bus_duplicates_total", labels, 0);
    s_follow_try (self, f);
    return f->sub;
}

void
gz_actor_follow_produces (gz_actor_t *self, const char *stream)
{
    for (size_t i = 0; i < self->nfollow; i++)
        if (strcmp (self->follow[i].stream, stream) == 0) {
            self->follow[i].chain = true;
            if (self->follow[i].sub && self->pub)
                gz_bus_sub_set_outbox (self->follow[i].sub, self->pub);
        }
}

void
gz_actor_follow_flush (gz_actor_t *self, const char *stream, gz_bus_flush_fn *flush, void *arg)
{
    for (size_t i = 0; i < self->nfollow; i++)
        if (strcmp (self->follow[i].stream, stream) == 0) {
            self->follow[i].flush = flush;
            self->follow[i].flush_arg = arg;
            if (self->follow[i].sub)
                gz_bus_sub_set_flush (self->follow[i].sub, flush, arg);
        }
}

//  Count what a subscriber did since the last count.
static void
s_follow_count (gz_actor_t *self, s_follow_t *f)
{
    if (!f->sub)
        return;
    char labels[96];
    snprintf (labels, sizeof labels, "stream=\"%s\"", f->stream);
    uint64_t c = gz_bus_sub_consumed (f->sub), k = gz_bus_sub_caught_up (f->sub),
             d = gz_bus_sub_duplicates (f->sub);
    gz_metrics_add (self->metrics, "gz_bus_consumed_total", labels,
                    (double) (c - f->consumed_seen));
    gz_metrics_add (self->metrics, "gz_bus_caught_up_total", labels, (double) (k - f->caught_seen));
    gz_metrics_add (self->metrics, "gz_bus_duplicates_total", labels, (double) (d - f->dup_seen));
    f->consumed_seen = c;
    f->caught_seen = k;
    f->dup_seen = d;
}

static void
s_pub_count (gz_actor_t *self)
{
    if (!self->pub)
        return;
    char labels[96];
    snprintf (labels, sizeof labels, "stream=\"%s\"", self->spec->stream);
    uint64_t p = gz_bus_pub_published (self->pub), r = gz_bus_pub_republished (self->pub),
             pruned = gz_bus_pub_pruned (self->pub);
    gz_metrics_add (self->metrics, "gz_bus_published_total", labels,
                    (double) (p - self->published_seen));
    gz_metrics_add (self->metrics, "gz_bus_republished_total", labels,
                    (double) (r - self->republished_seen));
    gz_metrics_add (self->metrics, "gz_bus_pruned_total", labels,
                    (double) (pruned - self->pruned_seen));
    self->published_seen = p;
    self->republished_seen = r;
    self->pruned_seen = pruned;
    gz_metrics_set (self->metrics, "gz_bus_head_position", labels,
                    (double) gz_bus_pub_head (self->pub));
}

//  The heartbeat: publisher and subscribers catch up, the counts move.
static void
s_tick (gz_actor_t *self)
{
    if (gz_db_ensure (self->db) == 0) {
        if (self->pub && gz_bus_pub_tick (self->pub) != 0)
            gz_metrics_add (self->metrics, "gz_db_errors_total", NULL, 1);
        for (size_t i = 0; i < self->nfollow; i++) {
            s_follow_t *f = &self->follow[i];
            s_follow_try (self, f);
            if (!f->sub)
                continue;
            int rc = gz_bus_sub_tick (f->sub);
            if (rc != 0)
                gz_metrics_add (self->metrics, "gz_db_errors_total", NULL, 1);
            if (f->after)
                f->after (f->after_arg, rc == 0);
        }
    }
    for (size_t i = 0; i < self->nfollow; i++)
        s_follow_count (self, &self->follow[i]);
    s_pub_count (self);
    if (self->spec->tick && self->state)
        self->spec->tick (self->state);
}

//  Subscribers whose catch-up stopped at its bound with rows left go on
//  now, not a heartbeat later (a consumer far behind would otherwise
//  idle most of each heartbeat). Whether any is still behind.
static bool
s_catch_up (gz_actor_t *self)
{
    bool behind = false;
    for (size_t i = 0; i < self->nfollow; i++) {
        s_follow_t *f = &self->follow[i];
        if (!f->sub || !gz_bus_sub_behind (f->sub))
            continue;
        int rc = gz_bus_sub_tick (f->sub);
        if (rc != 0)
            gz_metrics_add (self->metrics, "gz_db_errors_total", NULL, 1);
        if (f->after)
            f->after (f->after_arg, rc == 0);
        behind = behind || gz_bus_sub_behind (f->sub);
    }
    return behind;
}

//  ---------------------------------------------------------------- reload

//  RELOAD, or the org directory changed. The generation is read first, so
//  a change during the reload is seen at the next check.
static int
s_reload (gz_actor_t *self)
{
    if (!self->spec->reload)
        return 0;
    int64_t gen = gz_db_ensure (self->db) == 0 ? gz_org_generation_now (self->db) : -1;
    int rc = self->spec->reload (self->state);
    if (rc == 0) {
        self->org_generation = gen;
        gz_metrics_add (self->metrics, "gz_org_reloads_total", NULL, 1);
    }
    else if (rc == -2)
        self->org_refused = gen;
    return rc;
}

//  Reload when the org directory changed in the database (gzctl org
//  import, an operator's edit), checked at most every GZ_ORG_CHECK_MS.
static void
s_org_check (gz_actor_t *self, int64_t now)
{
    if (self->base->org_check_ms <= 0 || now < self->next_org_ms)
        return;
    self->next_org_ms = now + self->base->org_check_ms;
    int64_t gen = gz_org_generation_now (self->db);
    //  A directory the service refused is not tried again until it changes.
    if (gen < 0 || gen == self->org_generation || gen == self->org_refused)
        return;
    gz_info (self->spec->name, "msg=\"org directory changed in the database; reloading\"");
    s_reload (self);
}

//  ---------------------------------------------------------------- pipe

static int
s_port_of (zsock_t *sock)
{
    const char *ep = sock ? zsock_endpoint (sock) : NULL;
    const char *colon = ep ? strrchr (ep, ':') : NULL;
    return colon ? atoi (colon + 1) : 0;
}

static void
s_on_pipe (gz_actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return;
    char *cmd = zmsg_popstr (msg);
    if (!cmd)
        ;
    else if (streq (cmd, "$TERM")) {
        atomic_store (&self->closing, true);
        self->terminated = true;
    }
    else if (streq (cmd, "PORT"))
        zstr_sendf (self->pipe, "%d", gz_http_port (self->http));
    else if (streq (cmd, "BUSPORT"))
        zstr_sendf (self->pipe, "%d", s_port_of (self->router));
    else if (streq (cmd, "EVENTSPORT"))
        zstr_sendf (self->pipe, "%d", self->pub ? gz_bus_pub_port (self->pub) : 0);
    else if (streq (cmd, "RELOAD"))
        zsock_signal (self->pipe, s_reload (self) == 0 ? 0 : 1);
    else if (streq (cmd, "STATS")) {
        uint64_t consumed = 0;
        for (size_t i = 0; i < self->nfollow; i++)
            consumed += self->follow[i].sub ? gz_bus_sub_consumed (self->follow[i].sub) : 0;
        zstr_sendf (self->pipe, "%llu %llu", (unsigned long long) consumed,
                    (unsigned long long) (self->pub ? gz_bus_pub_published (self->pub) : 0));
    }
    else if (streq (cmd, "VERBOSE"))
        ;
    else if (self->spec->command && self->spec->command (self->state, cmd, msg, self->pipe))
        ;
    else if (streq (cmd, "CLOCK")) {
        char *us = zmsg_popstr (msg);
        atomic_store (&self->clock_us, us ? strtoll (us, NULL, 10) : 0);
        free (us);
        zsock_signal (self->pipe, 0);
    }
    else
        gz_warn (self->spec->name, "msg=\"unknown pipe command\" cmd=%s", cmd);
    free (cmd);
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------- http

typedef struct {
    gz_actor_t *actor;
    const gz_route_t *route;
    int64_t start_us;
} s_job_t;

static void
s_readyz (gz_actor_t *self, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (self->pool);
    bool ok = self->migrated && gz_db_ok (db) &&
              gz_db_migrated (db, self->base->schema, self->spec->migrations);
    gz_dbpool_put (self->pool, db);
    if (ok)
        gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ready"));
    else
        gz_http_reply_error (req, 503, "not_ready",
                             "database unreachable or migrations not applied");
}

static void
s_metrics (gz_actor_t *self, gz_http_req_t *req)
{
    gz_metrics_set (self->metrics, "gz_http_connections_refused_total", NULL,
                    (double) gz_http_refused_total (self->http));
    gz_metrics_set (self->metrics, "gz_http_connections_cut_total", NULL,
                    (double) gz_http_cut_total (self->http));
    char *text = gz_metrics_render (self->metrics);
    gz_http_reply (req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text));
    free (text);
}

//  The standard endpoints every service answers, as routes.
static bool
s_route_healthz (void *state, gz_http_req_t *req, const char *rest)
{
    (void) state, (void) rest;
    gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ok"));
    return false;
}

static const gz_route_t s_standard[] = {
    {NULL, "/healthz", "healthz", s_route_healthz, false},
    {NULL, "/readyz", "readyz", NULL, true},
    {NULL, "/metrics", "metrics", NULL, false},
    {NULL, NULL, NULL, NULL, false},
};

static bool
s_matches (const gz_route_t *r, const char *method, const char *path)
{
    if (r->method && strcmp (r->method, method) != 0)
        return false;
    size_t n = strlen (r->path);
    if (n > 0 && r->path[n - 1] == '*')
        return strncmp (path, r->path, n - 1) == 0;
    if (n > 1 && r->path[n - 1] == '/')
        return strncmp (path, r->path, n) == 0;
    return strcmp (path, r->path) == 0;
}

static const gz_route_t *
s_find (const gz_route_t *table, const char *method, const char *path)
{
    for (const gz_route_t *r = table; r && r->path; r++)
        if (s_matches (r, method, path))
            return r;
    return NULL;
}

//  Run a route; true when it deferred the request.
static bool
s_run (gz_actor_t *self, const gz_route_t *r, gz_http_req_t *req)
{
    const char *path = gz_http_path (req);
    size_t n = strlen (r->path);
    const char *rest = n > 1 && r->path[n - 1] == '/' ? path + n
                       : r->path[n - 1] == '*'        ? path + n - 1
                                                      : "";
    if (r->handler)
        return r->handler (self->state, req, rest);
    if (strcmp (r->path, "/readyz") == 0)
        s_readyz (self, req);
    else
        s_metrics (self, req);
    return false;
}

static void
s_offloaded (gz_http_req_t *req, void *arg)
{
    s_job_t *job = arg;
    if (!s_run (job->actor, job->route, req))
        gz_actor_observe (job->actor, job->route->label, job->start_us);
    free (job);
}

static void
s_busy (gz_actor_t *self, gz_http_req_t *req, const gz_route_t *r)
{
    gz_http_set_header (req, "Retry-After", "1");
    if (self->spec->busy)
        self->spec->busy (req, self->state, r);
    else
        gz_http_reply_error (req, 503, "busy", "too many requests waiting; retry shortly");
}

static void
s_http (gz_http_req_t *req, void *arg)
{
    gz_actor_t *self = arg;
    int64_t start = zclock_usecs ();
    const char *path = gz_http_path (req);
    const char *method = gz_http_method (req);
    const gz_route_t *r = s_find (s_standard, method, path);
    if (!r)
        r = s_find (self->spec->routes, method, path);
    if (!r) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        gz_actor_observe (self, "other", start);
        return;
    }
    if (r->blocking) {
        //  Waits on a read connection or another service: on a worker, so
        //  this HTTP thread and the connections it serves never wait.
        s_job_t *job = malloc (sizeof *job);
        assert (job);
        *job = (s_job_t){self, r, start};
        if (gz_http_offload (req, s_offloaded, job) != 0) {
            free (job);
            s_busy (self, req, r);
            gz_actor_observe (self, r->label, start);
        }
        return;
    }
    if (!s_run (self, r, req))
        gz_actor_observe (self, r->label, start);
}

static void
s_timeout (gz_http_req_t *req, void *arg)
{
    gz_actor_t *self = arg;
    if (self->spec->timeout)
        self->spec->timeout (req, self->state);
    else
        gz_http_reply_error (req, 503, "unavailable", "timed out waiting for the database; retry");
}

//  ---------------------------------------------------------------- lifecycle

static void
s_describe (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_http_requests_total", GZ_COUNTER,
                         "HTTP requests by route and status code");
    gz_metrics_describe (m, "gz_http_request_duration_seconds", GZ_HISTOGRAM,
                         "HTTP request latency by route");
    gz_metrics_describe (m, "gz_http_connections_refused_total", GZ_COUNTER,
                         "Connections shut at once: too many from one address");
    gz_metrics_add (m, "gz_http_connections_refused_total", NULL, 0);
    gz_metrics_describe (m, "gz_http_connections_cut_total", GZ_COUNTER,
                         "Connections cut: a request's header or body not read in time");
    gz_metrics_add (m, "gz_http_connections_cut_total", NULL, 0);
    gz_metrics_describe (m, "gz_bus_published_total", GZ_COUNTER,
                         "Events sent on the bus (including re-sends)");
    gz_metrics_describe (m, "gz_bus_republished_total", GZ_COUNTER,
                         "Events re-sent after a restart");
    gz_metrics_describe (m, "gz_bus_pruned_total", GZ_COUNTER,
                         "Outbox rows deleted after the retention (GZ_BUS_RETENTION_S)");
    gz_metrics_describe (m, "gz_bus_head_position", GZ_GAUGE,
                         "Last committed position of the stream");
    gz_metrics_describe (m, "gz_bus_consumed_total", GZ_COUNTER, "Events applied from the bus");
    gz_metrics_describe (m, "gz_bus_caught_up_total", GZ_COUNTER,
                         "Events read from PostgreSQL to fill gaps or catch up");
    gz_metrics_describe (m, "gz_bus_duplicates_total", GZ_COUNTER,
                         "Events dropped as already applied");
    gz_metrics_describe (m, "gz_decode_errors_total", GZ_COUNTER,
                         "Messages that did not decode, by source");
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"bus\"", 0);
    gz_metrics_describe (m, "gz_db_errors_total", GZ_COUNTER, "Database failures");
    gz_metrics_add (m, "gz_db_errors_total", NULL, 0);
    gz_metrics_describe (m, "gz_org_reloads_total", GZ_COUNTER,
                         "Org directory reloads (RELOAD, SIGHUP, or the directory changed)");
    gz_metrics_add (m, "gz_org_reloads_total", NULL, 0);
}

static void s_destroy (gz_actor_t **self_p);

//  The database: connect, migrate (the org directory's, the bus's when
//  the service has a stream, its own). 0 ok, -1 failed (logged).
static int
s_open_db (gz_actor_t *self)
{
    const char *svc = self->spec->name;
    self->db = gz_db_new (self->base->database_url, svc);
    //  The bus tables for every service: its outbox when it has a stream,
    //  its cursors when it follows one (a consumer-only service too).
    if (gz_db_migrate (self->db, "org", gz_org_migrations) ||
        gz_db_migrate (self->db, self->base->schema, gz_bus_migrations ()) ||
        gz_db_migrate (self->db, self->base->schema, self->spec->migrations)) {
        gz_error (svc, "msg=\"cannot migrate the database\" error=\"%s\"", gz_db_error (self->db));
        return -1;
    }
    self->migrated = true;
    gz_db_prepare (self->db, "gz_actor_outbox_exists", "SELECT to_regclass($1) IS NOT NULL");
    self->org_generation = gz_org_generation_now (self->db);
    return 0;
}

//  The sockets: the stream's PUB, the commands' ROUTER. 0 ok, -1 failed.
static int
s_open_sockets (gz_actor_t *self)
{
    const gz_actor_config_t *c = self->base;
    if (self->spec->stream && c->events_endpoint) {
        self->pub =
            gz_bus_pub_new (self->db, c->schema, self->spec->stream, c->events_endpoint, &c->bus);
        if (!self->pub)
            return -1;
    }
    if (c->bus_endpoint) {
        self->inflight = gz_inflight_new (c->max_inflight_per_peer);
        self->router = zsock_new (ZMQ_ROUTER);
        assert (self->router);
        zsock_set_router_mandatory (self->router, 0);
        zsock_set_sndhwm (self->router, 100000);
        //  What one peer may queue unread before TCP pushes back: what it
        //  may have in flight and as many again to refuse at once (at
        //  least 64), not libzmq's 1000 frames of up to max_msg_bytes.
        int hwm = c->max_inflight_per_peer < 32 ? 64 : 2 * c->max_inflight_per_peer;
        zsock_set_rcvhwm (self->router, hwm);
        zsock_set_linger (self->router, 0);
        //  A peer that announces or sends more is disconnected at once:
        //  nobody can make the process hold a frame larger than this.
        zsock_set_maxmsgsize (self->router, c->bus.max_msg_bytes);
        if (zsock_bind (self->router, "%s", c->bus_endpoint) < 0) {
            gz_error (self->spec->name, "msg=\"cannot bind the bus endpoint\" endpoint=%s",
                      c->bus_endpoint);
            return -1;
        }
    }
    return 0;
}

static int
s_open_http (gz_actor_t *self)
{
    const gz_actor_config_t *c = self->base;
    self->http = gz_http_new_limited (c->http_bind, c->http_port, self->spec->max_body,
                                      c->http_threads, &c->http_limits, s_http, self);
    if (!self->http) {
        gz_error (self->spec->name, "msg=\"cannot listen for HTTP\" port=%d", c->http_port);
        return -1;
    }
    if (gz_http_set_trusted_proxies (self->http, c->trusted_proxies))
        return -1;
    //  A deferred request not answered in time (the actor stuck in a
    //  commit) is answered 503; the client retries with its key.
    gz_http_set_defer_timeout (self->http, c->answer_timeout_ms, s_timeout, self);
    gz_http_set_workers (self->http, c->workers, (size_t) c->worker_queue);
    if (c->multipart.max_request > 0)
        gz_http_set_multipart (self->http, &c->multipart);
    return 0;
}

static gz_actor_t *
s_new (zsock_t *pipe, const gz_actor_args_t *args)
{
    gz_actor_t *self = calloc (1, sizeof *self);
    assert (self);
    atomic_init (&self->clock_us, 0);
    self->spec = args->spec;
    self->args = *args;
    self->config = args->config_dup (args->config);
    self->base = self->config;
    self->pipe = pipe;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert (self->wake_fd >= 0);
    self->org_refused = -1;
    self->metrics = gz_metrics_new ();
    s_describe (self->metrics);
    if (self->spec->describe_metrics)
        self->spec->describe_metrics (self->metrics);
    if (s_open_db (self) || s_open_sockets (self))
        goto failed;
    self->pool = gz_dbpool_new (self->base->database_url, self->spec->name, self->base->read_conns);
    //  HTTP last but one: its handlers may run at once and need the state.
    self->state = self->spec->start (self, self->config);
    if (!self->state || s_open_http (self))
        goto failed;
    gz_info (self->spec->name, "msg=\"%s ready\" http_port=%d bus=%s events=%s", self->spec->name,
             gz_http_port (self->http), self->base->bus_endpoint ? self->base->bus_endpoint : "-",
             self->base->events_endpoint ? self->base->events_endpoint : "-");
    return self;
failed:
    s_destroy (&self);
    return NULL;
}

static void
s_destroy (gz_actor_t **self_p)
{
    gz_actor_t *self = *self_p;
    if (!self)
        return;
    gz_http_destroy (&self->http);
    if (self->state && self->spec->stop)
        self->spec->stop (&self->state);
    zsock_destroy (&self->router);
    gz_inflight_destroy (&self->inflight);
    for (size_t i = 0; i < self->nfollow; i++) {
        s_follow_t *f = &self->follow[i];
        gz_bus_sub_destroy (&f->sub);
        free (f->source_schema);
        free (f->stream);
        free (f->endpoint);
    }
    gz_bus_pub_destroy (&self->pub);
    gz_db_destroy (&self->db);
    gz_dbpool_destroy (&self->pool);
    close (self->wake_fd);
    gz_metrics_destroy (&self->metrics);
    self->args.config_destroy (self->config);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------- loop

//  Timers due now; the time of the next one.
static int64_t
s_timers (gz_actor_t *self, int64_t now)
{
    if (now >= self->next_tick_ms) {
        s_tick (self);
        s_org_check (self, now);
        self->next_tick_ms = now + self->base->bus.heartbeat_ms;
        //  The tick's own catch-up may have stopped at its bound: go on
        //  at once, not a heartbeat later.
        for (size_t i = 0; i < self->nfollow; i++)
            if (self->follow[i].sub && gz_bus_sub_behind (self->follow[i].sub))
                self->next_catch_up = true;
    }
    //  A consumer behind: poll without waiting, then catch up again.
    else if (!self->terminated && s_catch_up (self))
        self->next_catch_up = true;
    int64_t next = self->next_catch_up ? now : self->next_tick_ms;
    self->next_catch_up = false;
    for (size_t i = 0; i < self->ntimers; i++) {
        s_timer_t *t = &self->timers[i];
        if (now >= t->next_ms) {
            t->fn (t->arg);
            t->next_ms = now + t->interval_ms;
        }
        if (t->next_ms < next)
            next = t->next_ms;
    }
    return next;
}

//  After $TERM: may the loop end? When nothing is in flight, or after
//  S_DRAIN_MS.
static bool
s_drained (gz_actor_t *self, int64_t now, int64_t *deadline)
{
    if (!*deadline)
        *deadline = now + S_DRAIN_MS;
    bool idle = !self->spec->idle || self->spec->idle (self->state);
    bool pending = self->spec->pending && self->spec->pending (self->state);
    return (idle && !pending) || now > *deadline;
}

static void
s_on_readable (gz_actor_t *self, zmq_pollitem_t *items, size_t nitems, s_follow_t **polled)
{
    if (items[0].revents & ZMQ_POLLIN)
        s_on_pipe (self);
    for (size_t i = 3; i < nitems; i++) {
        s_follow_t *f = polled[i];
        if (!(items[i].revents & ZMQ_POLLIN))
            continue;
        int rc = gz_bus_sub_on_readable (f->sub);
        if (rc != 0)
            gz_metrics_add (self->metrics, "gz_db_errors_total", NULL, 1);
        if (f->after)
            f->after (f->after_arg, rc == 0);
    }
    if (items[2].revents & ZMQ_POLLIN) {
        uint64_t count;
        if (read (self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
            gz_warn (self->spec->name, "msg=\"eventfd read failed\"");
    }
    if (self->router && self->spec->router && (zsock_events (self->router) & ZMQ_POLLIN))
        self->spec->router (self->state, self->router);
}

static void
s_loop (gz_actor_t *self)
{
    self->next_tick_ms = zclock_mono ();
    int64_t deadline = 0;
    while (true) {
        int64_t now = zclock_mono ();
        int64_t next = s_timers (self, now);
        if (self->terminated && s_drained (self, now, &deadline))
            break;
        zmq_pollitem_t items[3 + S_MAX_FOLLOW] = {
            {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
            {self->router ? zsock_resolve (self->router) : NULL, 0, self->router ? ZMQ_POLLIN : 0,
             0},
            {NULL, self->wake_fd, ZMQ_POLLIN, 0},
        };
        s_follow_t *polled[3 + S_MAX_FOLLOW] = {NULL};
        size_t nitems = 3;
        for (size_t i = 0; i < self->nfollow; i++)
            if (self->follow[i].sub) {
                polled[nitems] = &self->follow[i];
                items[nitems++] = (zmq_pollitem_t){
                    zsock_resolve (gz_bus_sub_sock (self->follow[i].sub)), 0, ZMQ_POLLIN, 0};
            }
        long timeout = (long) (next - now);
        if (self->spec->pending && self->spec->pending (self->state))
            timeout = 0;
        else if (self->terminated)
            timeout = 10;
        int rc = zmq_poll (items, (int) nitems, timeout < 0 ? 0 : timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        s_on_readable (self, items, nitems, polled);
        if (self->spec->cycle)
            self->spec->cycle (self->state);
    }
}

void
gz_actor_run (zsock_t *pipe, void *args)
{
    gz_actor_t *self = s_new (pipe, (const gz_actor_args_t *) args);
    if (!self) {
        zsock_signal (pipe, 1);
        //  Answer queries with 0 until $TERM so the caller notices the
        //  failure and its zactor_destroy completes.
        while (true) {
            char *cmd = zstr_recv (pipe);
            bool term = !cmd || streq (cmd, "$TERM");
            free (cmd);
            if (term)
                break;
            zstr_send (pipe, "0");
        }
        return;
    }
    zsock_signal (pipe, 0);
    s_loop (self);
    //  Drained: stop HTTP (lets in-flight requests finish), let the
    //  service finish what is queued and free its state, publish the tail.
    const char *name = self->spec->name;
    gz_http_destroy (&self->http);
    if (self->spec->stop)
        self->spec->stop (&self->state);
    //  Only the publisher now: the subscribers' handlers and hooks use the
    //  state just freed, and their cursors are safe in the database.
    if (self->pub && gz_db_ensure (self->db) == 0 && gz_bus_pub_tick (self->pub) != 0)
        gz_metrics_add (self->metrics, "gz_db_errors_total", NULL, 1);
    gz_info (name, "msg=\"%s stopped\"", name);
    s_destroy (&self);
}
