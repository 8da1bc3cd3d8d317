/*  routing_server: the routing actor. See routing_server.h and the DESIGN
    note in routing.h.

    The actor thread owns: the writer connection, the consumer of intake's
    stream, the publisher of stream "routing" (chained to the consumer),
    the ROUTER for WorkerCommand, the rules, the org directory, the test
    clock and the timer checks. HTTP threads only enqueue and wait.  */
#include "gz_config.h"
#include "gz_log.h"
#include "routing.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gongzhi/v1/routing.pb-c.h"

#define SVC "routing"

extern const gz_migration_t routing_migrations[];

//  ---------------------------------------------------------------- config

routing_config_t *
routing_config_from_env (void)
{
    routing_config_t *self = calloc (1, sizeof *self);
    assert (self);
    self->database_url = gz_config_database_url ();
    self->schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    self->intake_schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->intake_events = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    self->http_bind = strdup (gz_config_str ("GZ_HTTP_BIND", "0.0.0.0"));
    self->http_port = gz_config_port ("GZ_ROUTING_HTTP_PORT", GZ_PORT_ROUTING_HTTP);
    self->bus_endpoint = gz_config_endpoint ("GZ_ROUTING_BUS", GZ_PORT_ROUTING_BUS);
    self->events_endpoint = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    const char *rules = gz_config_str ("GZ_ROUTING_RULES", NULL);
    self->rules_path = rules ? strdup (rules) : NULL;
    const char *op = gz_config_str ("GZ_DEMO_OPERATOR_TOKEN", NULL);
    self->operator_token = op ? strdup (op) : NULL;
    self->read_conns = (int) gz_config_int ("GZ_ROUTING_READ_CONNS", 4, 1, 64);
    self->timer_ms = (int) gz_config_int ("GZ_ROUTING_TIMER_MS", 200, 10, 60000);
    return self;
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

static routing_config_t *
s_config_dup (const routing_config_t *c)
{
    routing_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    self->database_url = s_dup (c->database_url);
    self->schema = s_dup (c->schema);
    self->intake_schema = s_dup (c->intake_schema);
    self->intake_events = s_dup (c->intake_events);
    self->http_bind = s_dup (c->http_bind);
    self->bus_endpoint = s_dup (c->bus_endpoint);
    self->events_endpoint = s_dup (c->events_endpoint);
    self->rules_path = s_dup (c->rules_path);
    self->operator_token = s_dup (c->operator_token);
    return self;
}

void
routing_config_destroy (routing_config_t **self_p)
{
    routing_config_t *self = *self_p;
    if (!self)
        return;
    free (self->database_url);
    free (self->schema);
    free (self->intake_schema);
    free (self->intake_events);
    free (self->http_bind);
    free (self->bus_endpoint);
    free (self->events_endpoint);
    free (self->rules_path);
    free (self->operator_token);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------- pool

//  ---------------------------------------------------------------- queue

int
routing_cmd_wait (routing_t *ctx, routing_cmd_t *cmd)
{
    if (atomic_load (&ctx->closing))
        return -1;
    atomic_fetch_add (&ctx->inflight, 1);
    pthread_mutex_lock (&ctx->lock);
    cmd->next = NULL;
    if (ctx->tail)
        ctx->tail->next = cmd;
    else
        ctx->head = cmd;
    ctx->tail = cmd;
    pthread_mutex_unlock (&ctx->lock);
    uint64_t one = 1;
    if (write (ctx->wake_fd, &one, sizeof one) != sizeof one)
        gz_warn (SVC, "msg=\"eventfd write failed\"");
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 15;
    pthread_mutex_lock (&ctx->lock);
    int rc = 0;
    while (!cmd->done && rc == 0)
        rc = pthread_cond_timedwait (&ctx->done, &ctx->lock, &deadline);
    if (!cmd->done) {
        cmd->abandoned = true; //  the actor frees it
        pthread_mutex_unlock (&ctx->lock);
        atomic_fetch_sub (&ctx->inflight, 1);
        return -2;
    }
    pthread_mutex_unlock (&ctx->lock);
    atomic_fetch_sub (&ctx->inflight, 1);
    return 0;
}

//  ---------------------------------------------------------------- actor

typedef struct {
    zsock_t *pipe;
    routing_t ctx;
    routing_core_t core;
    routing_config_t *cfg;
    gz_bus_sub_t *sub;
    zsock_t *router;
    gz_http_t *http;
    int heartbeat_ms;
    int org_check_ms;    //  GZ_ORG_CHECK_MS; 0: only SIGHUP reloads
    int64_t org_refused; //  a generation whose reload failed (-1: none)
    int64_t next_tick_ms, next_timer_ms, next_org_ms;
    uint64_t published_seen, pruned_seen, consumed_seen, caught_seen, dup_seen;
    bool terminated;
} self_t;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_routing_routed_total", GZ_COUNTER, "Requests routed, by tier");
    gz_metrics_describe (m, "gz_routing_merged_total", GZ_COUNTER,
                         "Requests merged into an open duplicate");
    gz_metrics_describe (m, "gz_routing_transitions_total", GZ_COUNTER,
                         "Lifecycle transitions, by kind");
    gz_metrics_describe (m, "gz_routing_timers_fired_total", GZ_COUNTER,
                         "Deadline timers fired, by kind");
    gz_metrics_describe (m, "gz_routing_escalations_total", GZ_COUNTER,
                         "Escalations (督办), by timer or by hand");
    gz_metrics_describe (m, "gz_routing_commands_total", GZ_COUNTER,
                         "Worker and resident commands, by source and status");
    gz_metrics_describe (m, "gz_http_requests_total", GZ_COUNTER,
                         "HTTP requests by route and status code");
    gz_metrics_describe (m, "gz_http_request_duration_seconds", GZ_HISTOGRAM,
                         "HTTP request latency by route");
    gz_metrics_describe (m, "gz_bus_published_total", GZ_COUNTER,
                         "Events sent on the bus (including re-sends)");
    gz_metrics_describe (m, "gz_bus_pruned_total", GZ_COUNTER,
                         "Outbox rows deleted after the retention (GZ_BUS_RETENTION_S)");
    gz_metrics_describe (m, "gz_bus_head_position", GZ_GAUGE,
                         "Last committed position of the stream");
    gz_metrics_describe (m, "gz_bus_consumed_total", GZ_COUNTER, "Events applied from the bus");
    gz_metrics_describe (m, "gz_bus_caught_up_total", GZ_COUNTER,
                         "Events read from PostgreSQL to fill gaps");
    gz_metrics_describe (m, "gz_bus_duplicates_total", GZ_COUNTER,
                         "Events dropped as already applied");
    gz_metrics_describe (m, "gz_decode_errors_total", GZ_COUNTER,
                         "Messages that did not decode, by source");
    gz_metrics_describe (m, "gz_org_reloads_total", GZ_COUNTER,
                         "Org directory and rules reloads (SIGHUP, or the directory changed)");
    gz_metrics_add (m, "gz_org_reloads_total", NULL, 0);
    gz_metrics_describe (m, "gz_db_errors_total", GZ_COUNTER, "Database failures");
    gz_metrics_add (m, "gz_db_errors_total", NULL, 0);
    gz_metrics_add (m, "gz_routing_escalations_total", NULL, 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"bus\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"intake\"", 0);
    for (int t = 1; t <= 3; t++) {
        char l[32];
        snprintf (l, sizeof l, "tier=\"%s\"", routing_tier_name (t));
        gz_metrics_add (m, "gz_routing_routed_total", l, 0);
    }
}

//  Add the metrics counted inside consumer transactions (committed).
static void
s_flush_pending (self_t *self, bool committed)
{
    routing_core_t *core = &self->core;
    for (int t = 1; t <= 3; t++) {
        if (committed && core->pending_routed[t] > 0) {
            char l[32];
            snprintf (l, sizeof l, "tier=\"%s\"", routing_tier_name (t));
            gz_metrics_add (core->metrics, "gz_routing_routed_total", l, core->pending_routed[t]);
        }
        core->pending_routed[t] = 0;
    }
    //  Load counts moved in a transaction that rolled back are wrong.
    if (!committed) {
        routing_core_forget_loads (core);
        routing_core_forget_counts (core);
    }
    else
        routing_core_count_committed (core);
    if (committed && core->pending_merged > 0)
        gz_metrics_add (core->metrics, "gz_routing_merged_total", NULL, core->pending_merged);
    core->pending_merged = 0;
}

static void
s_tick (self_t *self)
{
    gz_metrics_t *m = self->ctx.metrics;
    if (gz_db_ensure (self->core.db) == 0) {
        if (gz_bus_pub_tick (self->core.pub) != 0)
            gz_metrics_add (m, "gz_db_errors_total", NULL, 1);
        int rc = gz_bus_sub_tick (self->sub);
        s_flush_pending (self, rc == 0);
    }
    uint64_t p = gz_bus_pub_published (self->core.pub);
    uint64_t c = gz_bus_sub_consumed (self->sub), k = gz_bus_sub_caught_up (self->sub),
             d = gz_bus_sub_duplicates (self->sub);
    gz_metrics_add (m, "gz_bus_published_total", "stream=\"routing\"",
                    (double) (p - self->published_seen));
    gz_metrics_add (m, "gz_bus_consumed_total", "stream=\"intake\"",
                    (double) (c - self->consumed_seen));
    gz_metrics_add (m, "gz_bus_caught_up_total", "stream=\"intake\"",
                    (double) (k - self->caught_seen));
    gz_metrics_add (m, "gz_bus_duplicates_total", "stream=\"intake\"",
                    (double) (d - self->dup_seen));
    self->published_seen = p;
    uint64_t pruned = gz_bus_pub_pruned (self->core.pub);
    gz_metrics_add (m, "gz_bus_pruned_total", "stream=\"routing\"",
                    (double) (pruned - self->pruned_seen));
    self->pruned_seen = pruned;
    self->consumed_seen = c;
    self->caught_seen = k;
    self->dup_seen = d;
    gz_metrics_set (m, "gz_bus_head_position", "stream=\"routing\"",
                    (double) gz_bus_pub_head (self->core.pub));
}

//  Load rules (the file, else the embedded defaults) and check them
//  against the org directory. NULL with err filled on failure.
static routing_rules_t *
s_rules_load (self_t *self, char *err, size_t errlen)
{
    routing_rules_t *rules =
        self->cfg->rules_path ? routing_rules_load (self->cfg->rules_path, err, errlen)
                              : routing_rules_parse (routing_default_rules, "default", err, errlen);
    if (!rules)
        return NULL;
    char why[256];
    //  An empty directory (not seeded yet) cannot vouch for any department:
    //  start anyway, say so; a seeded one must know every department named.
    if (gz_org_unit_count (self->core.org) == 0)
        gz_warn (SVC, "msg=\"org directory is empty; department codes of the rules unchecked\"");
    else if (routing_rules_check_org (rules, self->core.org, why, sizeof why)) {
        snprintf (err, errlen, "%s:%s", self->cfg->rules_path ? self->cfg->rules_path : "default",
                  why + 5);
        routing_rules_destroy (&rules);
    }
    return rules;
}

//  RELOAD: the org directory and the rules. 0 ok; the old ones are kept
//  on -1 (the database failed) and -2 (the rules refused the directory).
static int
s_reload (self_t *self)
{
    gz_org_t *org = gz_org_load (self->core.db);
    if (!org) {
        gz_error (SVC, "msg=\"reload: cannot load the org directory; keeping the old one\"");
        return -1;
    }
    gz_org_t *old_org = self->core.org;
    self->core.org = org;
    char err[512];
    routing_rules_t *rules = s_rules_load (self, err, sizeof err);
    if (!rules) {
        gz_error (SVC,
                  "msg=\"reload: rules refused; the old rules stay in force\" "
                  "error=\"%s\"",
                  err);
        self->core.org = old_org;
        gz_org_destroy (&org);
        return -2;
    }
    gz_org_destroy (&old_org);
    routing_core_forget_loads (&self->core);
    routing_rules_destroy (&self->core.rules);
    self->core.rules = rules;
    gz_metrics_add (self->ctx.metrics, "gz_org_reloads_total", NULL, 1);
    gz_info (SVC, "msg=\"org directory and rules reloaded\" rules=%zu generation=%lld",
             routing_rules_count (rules), (long long) gz_org_generation (org));
    return 0;
}

//  Reload when the org directory changed in the database (gzctl org
//  import, an operator's edit), checked at most every GZ_ORG_CHECK_MS on
//  the tick.
static void
s_org_check (self_t *self, int64_t now)
{
    if (self->org_check_ms <= 0 || now < self->next_org_ms || !self->core.org)
        return;
    self->next_org_ms = now + self->org_check_ms;
    int64_t gen = gz_org_generation_now (self->core.db);
    //  A directory the rules refused is not tried again until it changes.
    if (gen < 0 || gen == gz_org_generation (self->core.org) || gen == self->org_refused)
        return;
    gz_info (SVC, "msg=\"org directory changed in the database; reloading\"");
    if (s_reload (self) == -2)
        self->org_refused = gen;
}

static void s_self_destroy (self_t **self_p);

//  Register the read statements on each pool connection.
static void
s_prepare_reads (gz_db_t *db, void *schema)
{
    routing_http_prepare (db, (const char *) schema);
}

static self_t *
s_self_new (zsock_t *pipe, const routing_config_t *cfg)
{
    self_t *self = calloc (1, sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->cfg = s_config_dup (cfg);
    routing_t *ctx = &self->ctx;
    ctx->cfg = self->cfg;
    ctx->wake_fd = -1;
    pthread_mutex_init (&ctx->lock, NULL);
    pthread_cond_init (&ctx->done, NULL);
    ctx->metrics = gz_metrics_new ();
    s_describe_metrics (ctx->metrics);
    self->heartbeat_ms = (int) gz_config_int ("GZ_BUS_HEARTBEAT_MS", 1000, 10, 60000);
    self->org_check_ms = (int) gz_config_int ("GZ_ORG_CHECK_MS", 5000, 0, 3600000);
    self->org_refused = -1;
    routing_core_t *core = &self->core;
    core->metrics = ctx->metrics;
    core->schema = self->cfg->schema;
    core->db = gz_db_new (self->cfg->database_url, SVC);
    char err[512];
    if (gz_db_migrate (core->db, "org", gz_org_migrations) ||
        gz_db_migrate (core->db, self->cfg->schema, gz_bus_migrations ()) ||
        gz_db_migrate (core->db, self->cfg->schema, routing_migrations)) {
        gz_error (SVC, "msg=\"cannot migrate the database\" error=\"%s\"", gz_db_error (core->db));
        goto failed;
    }
    ctx->migrated = true;
    core->org = gz_org_load (core->db);
    if (!core->org) {
        gz_error (SVC, "msg=\"cannot load the org directory\"");
        goto failed;
    }
    core->rules = s_rules_load (self, err, sizeof err);
    if (!core->rules) {
        gz_error (SVC, "msg=\"rules refused\" error=\"%s\"", err);
        goto failed;
    }
    routing_core_prepare (core);
    if (self->cfg->operator_token && *self->cfg->operator_token &&
        routing_token_install (core, self->cfg->operator_token, NULL, "operator", "demo")) {
        gz_error (SVC, "msg=\"cannot install the operator token\"");
        goto failed;
    }
    gz_bus_opts_t opts;
    gz_bus_opts_from_env (&opts);
    core->pub =
        gz_bus_pub_new (core->db, self->cfg->schema, "routing", self->cfg->events_endpoint, &opts);
    if (!core->pub)
        goto failed;
    self->sub = gz_bus_sub_new (core->db, "routing", self->cfg->schema, self->cfg->intake_schema,
                                "intake", self->cfg->intake_events, routing_on_event, core, &opts);
    if (!self->sub)
        goto failed;
    gz_bus_sub_set_outbox (self->sub, core->pub);
    gz_bus_sub_set_flush (self->sub, routing_on_flush, core);
    core->batched = true;
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", self->cfg->bus_endpoint) < 0) {
        gz_error (SVC, "msg=\"cannot bind the bus endpoint\" endpoint=%s", self->cfg->bus_endpoint);
        goto failed;
    }
    ctx->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert (ctx->wake_fd >= 0);
    ctx->pool = gz_dbpool_new (self->cfg->database_url, SVC, self->cfg->read_conns);
    gz_dbpool_each (ctx->pool, s_prepare_reads, self->cfg->schema);
    self->http = gz_http_new (self->cfg->http_bind, self->cfg->http_port, ROUTING_MAX_BODY,
                              routing_http_handler, ctx);
    if (!self->http) {
        gz_error (SVC, "msg=\"cannot listen for HTTP\" port=%d", self->cfg->http_port);
        goto failed;
    }
    gz_info (SVC, "msg=\"routing ready\" http_port=%d bus=%s events=%s intake=%s rules=%zu",
             gz_http_port (self->http), self->cfg->bus_endpoint, self->cfg->events_endpoint,
             self->cfg->intake_events, routing_rules_count (core->rules));
    return self;
failed:
    s_self_destroy (&self);
    return NULL;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    routing_t *ctx = &self->ctx;
    gz_http_destroy (&self->http);
    zsock_destroy (&self->router);
    gz_bus_sub_destroy (&self->sub);
    gz_bus_pub_destroy (&self->core.pub);
    gz_db_destroy (&self->core.db);
    gz_dbpool_destroy (&ctx->pool);
    if (ctx->wake_fd >= 0)
        close (ctx->wake_fd);
    //  Commands still queued (only after a failed drain): free them.
    while (ctx->head) {
        routing_cmd_t *c = ctx->head;
        ctx->head = c->next;
        if (c->abandoned || c->reply_to)
            routing_cmd_destroy (&c);
        else
            c->done = true;
    }
    routing_core_release (&self->core);
    gz_org_destroy (&self->core.org);
    routing_rules_destroy (&self->core.rules);
    gz_metrics_destroy (&ctx->metrics);
    pthread_mutex_destroy (&ctx->lock);
    pthread_cond_destroy (&ctx->done);
    routing_config_destroy (&self->cfg);
    free (self);
    *self_p = NULL;
}

static void
s_timers (self_t *self)
{
    if (routing_timers_run (&self->core) > 0)
        gz_debug (SVC, "msg=\"timers fired\"");
}

static void
s_on_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return;
    char *cmd = zmsg_popstr (msg);
    if (cmd && streq (cmd, "$TERM")) {
        atomic_store (&self->ctx.closing, true);
        self->terminated = true;
    }
    else if (cmd && streq (cmd, "PORT"))
        zstr_sendf (self->pipe, "%d", gz_http_port (self->http));
    else if (cmd && streq (cmd, "BUSPORT"))
        zstr_sendf (self->pipe, "%d", atoi (strrchr (zsock_endpoint (self->router), ':') + 1));
    else if (cmd && streq (cmd, "EVENTSPORT"))
        zstr_sendf (self->pipe, "%d", gz_bus_pub_port (self->core.pub));
    else if (cmd && streq (cmd, "CLOCK")) {
        char *us = zmsg_popstr (msg);
        self->core.clock_us = us ? strtoll (us, NULL, 10) : 0;
        free (us);
        s_timers (self);
        zsock_signal (self->pipe, 0);
    }
    else if (cmd && streq (cmd, "TOKEN")) {
        char *staff = zmsg_popstr (msg), *token = zmsg_popstr (msg);
        int rc = -1;
        if (staff && token && *token && gz_org_staff (self->core.org, staff))
            rc = routing_token_install (&self->core, token, staff, "staff", staff);
        zsock_signal (self->pipe, rc == 0 ? 0 : 1);
        free (staff);
        free (token);
    }
    else if (cmd && streq (cmd, "RELOAD"))
        zsock_signal (self->pipe, s_reload (self) == 0 ? 0 : 1);
    else if (cmd && streq (cmd, "STATS"))
        zstr_sendf (self->pipe, "%llu %llu", (unsigned long long) gz_bus_sub_consumed (self->sub),
                    (unsigned long long) gz_bus_pub_published (self->core.pub));
    else if (cmd && streq (cmd, "VERBOSE"))
        ;
    else
        gz_warn (SVC, "msg=\"unknown pipe command\" cmd=%s", cmd ? cmd : "(null)");
    free (cmd);
    zmsg_destroy (&msg);
}

//  Hand a finished command back: wake its HTTP waiter or answer the bus.
static void
s_finish (self_t *self, routing_cmd_t *cmd, const char *source)
{
    char labels[96];
    snprintf (labels, sizeof labels, "source=\"%s\",status=\"%d\"", source, cmd->status);
    gz_metrics_add (self->ctx.metrics, "gz_routing_commands_total", labels, 1);
    if (cmd->reply_to) {
        Gongzhi__V1__CommandReply reply = GONGZHI__V1__COMMAND_REPLY__INIT;
        reply.ok = cmd->status == 200;
        reply.error = cmd->error;
        reply.message = cmd->message;
        reply.state = cmd->state;
        zmsg_t *msg = zmsg_new ();
        zmsg_append (msg, &cmd->reply_to);
        if (cmd->reply_delim)
            zmsg_addmem (msg, NULL, 0);
        zframe_t *body =
            gz_codec_envelope_frame ("CommandReply", cmd->request_id, NULL, NULL, &reply.base);
        zmsg_append (msg, &body);
        zmsg_send (&msg, self->router);
        routing_cmd_destroy (&cmd);
        return;
    }
    pthread_mutex_lock (&self->ctx.lock);
    if (cmd->abandoned)
        routing_cmd_destroy (&cmd);
    else
        cmd->done = true;
    pthread_cond_broadcast (&self->ctx.done);
    pthread_mutex_unlock (&self->ctx.lock);
}

static char *
s_opt (const char *s)
{
    return s && *s ? strdup (s) : NULL;
}

//  One WorkerCommand from the ROUTER: check, apply, answer after commit.
static void
s_on_router (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    routing_cmd_t *cmd = routing_cmd_new ();
    cmd->reply_to = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    if (body && zframe_size (body) == 0 && zmsg_size (msg) > 0) {
        cmd->reply_delim = true;
        zframe_destroy (&body);
        body = zmsg_pop (msg);
    }
    zmsg_destroy (&msg);
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    zframe_destroy (&body);
    Gongzhi__V1__WorkerCommand *wc = NULL;
    if (env && env->type && strcmp (env->type, "WorkerCommand") == 0)
        wc = gongzhi__v1__worker_command__unpack (NULL, env->payload.len, env->payload.data);
    if (!wc) {
        gz_metrics_add (self->ctx.metrics, "gz_decode_errors_total", "source=\"bus\"", 1);
        cmd->status = 400;
        snprintf (cmd->error, sizeof cmd->error, "bad_request");
        snprintf (cmd->message, sizeof cmd->message,
                  "expected an Envelope of type WorkerCommand with a valid payload");
        gz_codec_envelope_free (&env);
        s_finish (self, cmd, "bus");
        return;
    }
    cmd->request_id = s_opt (wc->request_id);
    cmd->action = s_opt (wc->action);
    cmd->token = s_opt (env->credential);
    cmd->resident_token = s_opt (wc->resident_token);
    cmd->outcome = s_opt (wc->outcome);
    cmd->text = s_opt (wc->text);
    cmd->media_url = s_opt (wc->media_url);
    cmd->to_unit = s_opt (wc->to_unit);
    cmd->to_staff = s_opt (wc->to_staff);
    cmd->score = wc->score;
    cmd->satisfied = wc->satisfied;
    gongzhi__v1__worker_command__free_unpacked (wc, NULL);
    gz_codec_envelope_free (&env);
    const char *why = routing_cmd_check (cmd);
    if (why) {
        cmd->status = 400;
        snprintf (cmd->error, sizeof cmd->error, "bad_request");
        snprintf (cmd->message, sizeof cmd->message, "%s", why);
    }
    else
        routing_execute (&self->core, cmd);
    s_finish (self, cmd, "bus");
}

static void
s_drain_queue (self_t *self)
{
    for (int n = 0; n < 256; n++) {
        pthread_mutex_lock (&self->ctx.lock);
        routing_cmd_t *cmd = self->ctx.head;
        if (cmd) {
            self->ctx.head = cmd->next;
            if (!self->ctx.head)
                self->ctx.tail = NULL;
            cmd->next = NULL;
        }
        pthread_mutex_unlock (&self->ctx.lock);
        if (!cmd)
            return;
        routing_execute (&self->core, cmd);
        s_finish (self, cmd, "http");
    }
}

void
routing_server (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (const routing_config_t *) args);
    if (!self) {
        zsock_signal (pipe, 1);
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
    self->next_tick_ms = self->next_timer_ms = s_mono_ms ();
    int64_t term_deadline = 0;
    while (true) {
        int64_t now = s_mono_ms ();
        if (now >= self->next_tick_ms) {
            s_tick (self);
            s_org_check (self, now);
            self->next_tick_ms = now + self->heartbeat_ms;
        }
        if (now >= self->next_timer_ms) {
            s_timers (self);
            self->next_timer_ms = now + self->cfg->timer_ms;
        }
        if (self->terminated) {
            if (!term_deadline)
                term_deadline = now + 10000;
            pthread_mutex_lock (&self->ctx.lock);
            bool empty = self->ctx.head == NULL;
            pthread_mutex_unlock (&self->ctx.lock);
            if ((empty && atomic_load (&self->ctx.inflight) == 0) || now > term_deadline)
                break;
        }
        zmq_pollitem_t items[4] = {
            {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
            {NULL, self->ctx.wake_fd, ZMQ_POLLIN, 0},
            {zsock_resolve (gz_bus_sub_sock (self->sub)), 0, ZMQ_POLLIN, 0},
        };
        int64_t next =
            self->next_tick_ms < self->next_timer_ms ? self->next_tick_ms : self->next_timer_ms;
        long timeout = (long) (next - now);
        pthread_mutex_lock (&self->ctx.lock);
        bool queued = self->ctx.head != NULL;
        pthread_mutex_unlock (&self->ctx.lock);
        if (queued)
            timeout = 0;
        else if (self->terminated)
            timeout = 10;
        int rc = zmq_poll (items, 4, timeout < 0 ? 0 : timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_on_pipe (self);
        if (items[2].revents & ZMQ_POLLIN) {
            uint64_t count;
            if (read (self->ctx.wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                gz_warn (SVC, "msg=\"eventfd read failed\"");
        }
        if (items[3].revents & ZMQ_POLLIN) {
            int r = gz_bus_sub_on_readable (self->sub);
            s_flush_pending (self, r == 0);
        }
        for (int n = 0; n < 256 && (zsock_events (self->router) & ZMQ_POLLIN); n++)
            s_on_router (self);
        s_drain_queue (self);
    }
    gz_http_destroy (&self->http);
    s_drain_queue (self);
    s_tick (self);
    gz_info (SVC, "msg=\"routing stopped\"");
    s_self_destroy (&self);
}
