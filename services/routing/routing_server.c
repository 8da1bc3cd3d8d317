/*  routing_server: the routing service's configuration and its actor spec
    (docs/service-anatomy.md). gz_actor runs the loop, the pipe, the
    sockets, health and metrics; what is routing's own is here: its
    settings, the rules and org directory (RELOAD), the WorkerCommand
    ROUTER, the command queue HTTP threads fill, the deadline timers and
    the test clock. The state machine is routing_lifecycle.c, its SQL
    routing_store.c, intake's stream routing_consume.c.

    DESIGN: see routing.h. HTTP threads parse and check a command, defer
    their request and queue the command (routing_cmd_defer); the actor
    applies it in a transaction with its event and timeline row, commits,
    then resumes the request, which is answered on an HTTP thread. No
    thread waits.  */
#include "gz_config.h"
#include "gz_log.h"
#include "routing.h"
#include "routing_meetings.h"
#include "routing_pages.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gongzhi/v1/routing.pb-c.h"

#define SVC "routing"

extern const gz_migration_t routing_migrations[];

//  ---------------------------------------------------------------- config

routing_config_t *
routing_config_from_env (void)
{
    routing_config_t *self = calloc (1, sizeof *self);
    assert (self);
    gz_actor_config_from_env (&self->base, "ROUTING", "routing", GZ_PORT_ROUTING_HTTP,
                              GZ_PORT_ROUTING_BUS, GZ_PORT_ROUTING_EVENTS);
    self->intake_schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->intake_events = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    const char *rules = gz_config_str ("GZ_ROUTING_RULES", NULL);
    self->rules_path = rules ? strdup (rules) : NULL;
    const char *op = gz_config_str ("GZ_DEMO_OPERATOR_TOKEN", NULL);
    self->operator_token = op ? strdup (op) : NULL;
    self->timer_ms = (int) gz_config_int ("GZ_ROUTING_TIMER_MS", 200, 10, 60000);
    self->intake_bus = gz_config_endpoint ("GZ_INTAKE_BUS", GZ_PORT_INTAKE_BUS);
    const char *key = gz_config_str ("GZ_ROUTING_INTAKE_KEY", NULL);
    if (!key)
        key = gz_config_str ("GZ_DEMO_API_KEY", NULL);
    self->intake_key = key ? strdup (key) : NULL;
    self->intake_timeout_ms =
        (int) gz_config_int ("GZ_ROUTING_INTAKE_TIMEOUT_MS", 5000, 50, 120000);
    char url[128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d",
              gz_config_port ("GZ_INTAKE_HTTP_PORT", GZ_PORT_INTAKE_HTTP));
    self->intake_url = strdup (gz_config_str ("GZ_INTAKE_URL", url));
    const char *ck = gz_config_str ("GZ_ROUTING_CONTACT_KEY", NULL);
    if (!ck || !*ck)
        ck = gz_config_str ("GZ_NOTIFY_CONTACT_KEY", NULL);
    self->contact_key = ck && *ck ? strdup (ck) : NULL;
    self->test_clock = gz_config_bool ("GZ_TEST_CLOCK", false);
    if (self->test_clock)
        gz_warn (SVC, "msg=\"GZ_TEST_CLOCK=1: operators may move the clock\"");
    return self;
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

static void *
s_config_dup (const void *config)
{
    const routing_config_t *c = config;
    routing_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    gz_actor_config_copy (&self->base, &c->base);
    self->intake_schema = s_dup (c->intake_schema);
    self->intake_events = s_dup (c->intake_events);
    self->rules_path = s_dup (c->rules_path);
    self->operator_token = s_dup (c->operator_token);
    self->intake_bus = s_dup (c->intake_bus);
    self->intake_key = s_dup (c->intake_key);
    self->intake_url = s_dup (c->intake_url);
    self->contact_key = s_dup (c->contact_key);
    return self;
}

void
routing_config_destroy (routing_config_t **self_p)
{
    routing_config_t *self = *self_p;
    if (!self)
        return;
    gz_actor_config_clear (&self->base);
    free (self->intake_schema);
    free (self->intake_events);
    free (self->rules_path);
    free (self->operator_token);
    free (self->intake_bus);
    free (self->intake_key);
    free (self->intake_url);
    if (self->contact_key)
        explicit_bzero (self->contact_key, strlen (self->contact_key));
    free (self->contact_key);
    free (self);
    *self_p = NULL;
}

static void
s_config_free (void *config)
{
    routing_config_t *self = config;
    routing_config_destroy (&self);
}

//  ---------------------------------------------------------------- queue

int
routing_cmd_defer (routing_t *ctx, routing_cmd_t **cmd_p, gz_http_req_t *req)
{
    if (gz_actor_closing (ctx->actor))
        return -1;
    routing_cmd_t *cmd = *cmd_p;
    *cmd_p = NULL;
    cmd->ctx = ctx;
    //  Defer before queueing: the actor may finish cmd at once.
    cmd->http = gz_http_defer (req);
    atomic_fetch_add (&ctx->inflight, 1);
    if (gz_queue_push (ctx->queue, &cmd->item))
        gz_actor_wake (ctx->actor);
    return 0;
}

//  ---------------------------------------------------------------- actor

//  The actor's state: the shared context first, so the routes' state
//  pointer is the routing_t.
typedef struct {
    routing_t ctx;
    routing_core_t core;
    routing_config_t *cfg;
    gz_actor_t *actor;
} self_t;

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
    gz_metrics_add (m, "gz_routing_escalations_total", NULL, 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"intake\"", 0);
    for (int t = 1; t <= 3; t++) {
        char l[32];
        snprintf (l, sizeof l, "tier=\"%s\"", routing_tier_name (t));
        gz_metrics_add (m, "gz_routing_routed_total", l, 0);
    }
}

//  Add the metrics counted inside consumer transactions (committed).
static void
s_flush_pending (void *arg, bool committed)
{
    self_t *self = arg;
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
s_reload (void *state)
{
    self_t *self = state;
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
    gz_info (SVC, "msg=\"org directory and rules reloaded\" rules=%zu generation=%lld",
             routing_rules_count (rules), (long long) gz_org_generation (org));
    return 0;
}

//  Register the read statements on each pool connection.
static void
s_prepare_reads (gz_db_t *db, void *schema)
{
    routing_http_prepare (db, (const char *) schema);
}

static void
s_timers (void *arg)
{
    self_t *self = arg;
    if (routing_timers_run (&self->core) > 0)
        gz_debug (SVC, "msg=\"timers fired\"");
}

static void s_stop (void **state_p);

//  The writer's world: org directory, rules, statements, tokens,
//  intake's stream chained to ours.
static int
s_core_start (self_t *self)
{
    routing_core_t *core = &self->core;
    core->org = gz_org_load (core->db);
    if (!core->org) {
        gz_error (SVC, "msg=\"cannot load the org directory\"");
        return -1;
    }
    char err[512];
    core->rules = s_rules_load (self, err, sizeof err);
    if (!core->rules) {
        gz_error (SVC, "msg=\"rules refused\" error=\"%s\"", err);
        return -1;
    }
    routing_core_prepare (core);
    if (self->cfg->operator_token && *self->cfg->operator_token &&
        routing_token_install (core, self->cfg->operator_token, NULL, "operator", "demo")) {
        gz_error (SVC, "msg=\"cannot install the operator token\"");
        return -1;
    }
    gz_bus_sub_t *sub =
        gz_actor_follow (self->actor, self->cfg->intake_schema, "intake", self->cfg->intake_events,
                         false, routing_on_event, core, s_flush_pending, self);
    if (!sub)
        return -1;
    //  The events a RequestSubmitted causes commit with the cursor.
    gz_bus_sub_set_outbox (sub, core->pub);
    gz_bus_sub_set_flush (sub, routing_on_flush, core);
    core->batched = true;
    return 0;
}

static void *
s_start (gz_actor_t *actor, const void *config)
{
    self_t *self = calloc (1, sizeof *self);
    assert (self);
    self->actor = actor;
    self->cfg = (routing_config_t *) config;
    routing_t *ctx = &self->ctx;
    ctx->cfg = self->cfg;
    ctx->actor = actor;
    ctx->metrics = gz_actor_metrics (actor);
    ctx->pool = gz_actor_pool (actor);
    ctx->queue = gz_queue_new ();
    routing_meetings_describe (ctx->metrics);
    routing_core_t *core = &self->core;
    core->metrics = ctx->metrics;
    core->schema = self->cfg->base.schema;
    core->actor = actor;
    core->db = gz_actor_db (actor);
    core->pub = gz_actor_pub (actor);
    if (s_core_start (self)) {
        s_stop ((void **) &self);
        return NULL;
    }
    gz_dbpool_each (ctx->pool, s_prepare_reads, self->cfg->base.schema);
    //  The workbench's 备注 and 办结 take photos (gz_actor opens HTTP after
    //  start, with these).
    self->cfg->base.multipart = routing_photos_limits ();
    gz_actor_every (actor, self->cfg->timer_ms, s_timers, self);
    gz_info (SVC, "msg=\"routing started\" intake=%s rules=%zu", self->cfg->intake_events,
             routing_rules_count (core->rules));
    return self;
}

//  Hand a finished command back: answer the bus peer, or resume its HTTP
//  request (answered on an HTTP thread, routing_http_answer).
static void
s_finish (self_t *self, routing_cmd_t *cmd, const char *source)
{
    char labels[96];
    snprintf (labels, sizeof labels, "source=\"%s\",status=\"%d\"", source, cmd->status);
    gz_metrics_add (self->ctx.metrics, "gz_routing_commands_total", labels, 1);
    if (cmd->peer.from) {
        Gongzhi__V1__CommandReply reply = GONGZHI__V1__COMMAND_REPLY__INIT;
        reply.ok = cmd->status == 200;
        reply.error = cmd->error;
        reply.message = cmd->message;
        reply.state = cmd->state;
        gz_actor_command_reply (gz_actor_router (self->actor), &cmd->peer, "CommandReply",
                                cmd->request_id, &reply.base);
        routing_cmd_destroy (&cmd);
        return;
    }
    atomic_fetch_sub (&self->ctx.inflight, 1);
    //  -1: gz_http already answered it 503 (deferred too long).
    if (gz_http_resume (&cmd->http, routing_http_answer, cmd) != 0)
        routing_cmd_destroy (&cmd);
}

//  WorkerCommand.credential is the staff bearer token, raw or as the
//  HTTP header's value ("Bearer <token>"): both are accepted.
static const char *
s_bearer (const char *credential)
{
    if (credential && strncasecmp (credential, "Bearer ", 7) == 0) {
        credential += 7;
        while (*credential == ' ')
            credential++;
    }
    return credential;
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
    gz_peer_t peer;
    gz_envelope_t *env = gz_actor_command_recv (self->actor, &peer);
    if (!peer.from) {
        gz_codec_envelope_free (&env);
        return;
    }
    routing_cmd_t *cmd = routing_cmd_new ();
    cmd->peer = peer; //  answered after the commit
    if (peer.refused) {
        bool large = peer.refused == GZ_PEER_TOO_LARGE;
        cmd->status = large ? 413 : 429;
        snprintf (cmd->error, sizeof cmd->error, large ? "too_large" : "rate_limited");
        snprintf (cmd->message, sizeof cmd->message, "%s", peer.why);
        gz_codec_envelope_free (&env);
        s_finish (self, cmd, "bus");
        return;
    }
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
    cmd->token = s_opt (s_bearer (env->credential));
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
s_router (void *state, zsock_t *router)
{
    self_t *self = state;
    for (int n = 0; n < 256 && (zsock_events (router) & ZMQ_POLLIN); n++)
        s_on_router (self);
}

//  After every wake-up: apply the commands HTTP threads queued.
static void
s_cycle (void *state)
{
    self_t *self = state;
    gz_qitem_t *items = gz_queue_take (self->ctx.queue, 256);
    while (items) {
        //  item is the first member: the pointer is the command's.
        routing_cmd_t *cmd = (routing_cmd_t *) items;
        items = items->next;
        routing_execute (&self->core, cmd);
        s_finish (self, cmd, "http");
    }
}

static bool
s_pending (void *state)
{
    self_t *self = state;
    return !gz_queue_empty (self->ctx.queue);
}

static bool
s_idle (void *state)
{
    self_t *self = state;
    return atomic_load (&self->ctx.inflight) == 0;
}

static bool
s_command (void *state, const char *cmd, zmsg_t *msg, zsock_t *pipe)
{
    self_t *self = state;
    if (streq (cmd, "CLOCK")) {
        char *us = zmsg_popstr (msg);
        gz_actor_set_clock (self->actor, us ? strtoll (us, NULL, 10) : 0);
        free (us);
        s_timers (self);
        zsock_signal (pipe, 0);
        return true;
    }
    if (streq (cmd, "TOKEN")) {
        char *staff = zmsg_popstr (msg), *token = zmsg_popstr (msg);
        int rc = -1;
        if (staff && token && *token && gz_org_staff (self->core.org, staff))
            rc = routing_token_install (&self->core, token, staff, "staff", staff);
        zsock_signal (pipe, rc == 0 ? 0 : 1);
        free (staff);
        free (token);
        return true;
    }
    return false;
}

static void
s_stop (void **state_p)
{
    self_t *self = *state_p;
    if (!self)
        return;
    //  Commands still queued (only after a failed drain): apply them.
    if (self->core.rules)
        s_cycle (self);
    routing_core_release (&self->core);
    gz_org_destroy (&self->core.org);
    routing_rules_destroy (&self->core.rules);
    gz_queue_destroy (&self->ctx.queue);
    free (self);
    *state_p = NULL;
}

static const gz_actor_spec_t s_spec = {
    .name = SVC,
    .migrations = routing_migrations,
    .stream = "routing",
    .routes = routing_routes,
    .max_body = ROUTING_MAX_BODY,
    .describe_metrics = s_describe_metrics,
    .start = s_start,
    .stop = s_stop,
    .reload = s_reload,
    .router = s_router,
    .cycle = s_cycle,
    .pending = s_pending,
    .idle = s_idle,
    .command = s_command,
};

void
routing_server (zsock_t *pipe, void *args)
{
    gz_actor_args_t a = {&s_spec, args, s_config_dup, s_config_free};
    gz_actor_run (pipe, &a);
}

static void *
s_config_from_env (void)
{
    return routing_config_from_env ();
}

const gz_service_def_t routing_service = {SVC, s_config_from_env, s_config_free, routing_server};
