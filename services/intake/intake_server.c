/*  intake_server: the intake service's configuration and its actor spec
    (docs/service-anatomy.md). Everything a service shares - the loop,
    the pipe, the sockets, health and metrics - is gz_actor's; what is
    intake's own is here: its settings, the API keys, the org directory
    in force, and the callbacks that tie the commit engine
    (intake_commit.c) and the bus commands (intake_consume.c) to the
    loop.  */
#include "intake.h"
#include "gz_auth.h"
#include "gz_config.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "intake"

extern const gz_migration_t intake_migrations[];

//  ---------------------------------------------------------------- config

intake_config_t *
intake_config_from_env (void)
{
    intake_config_t *self = calloc (1, sizeof *self);
    assert (self);
    gz_actor_config_from_env (&self->base, "INTAKE", "intake", GZ_PORT_INTAKE_HTTP,
                              GZ_PORT_INTAKE_BUS, GZ_PORT_INTAKE_EVENTS);
    char buf[128];
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d", self->base.http_port);
    self->public_url = strdup (gz_config_str ("GZ_PUBLIC_URL", buf));
    const char *keys = gz_config_str ("GZ_API_KEYS", "");
    const char *demo = gz_config_str ("GZ_DEMO_API_KEY", NULL);
    size_t n = strlen (keys) + (demo ? strlen (demo) : 0) + 8;
    self->api_keys = malloc (n);
    assert (self->api_keys);
    snprintf (self->api_keys, n, "%s%s%s%s", keys, *keys && demo ? "," : "", demo ? "demo=" : "",
              demo ? demo : "");
    self->rate = (double) gz_config_int ("GZ_INTAKE_RATE", 50, 0, 10000000);
    self->burst = (double) gz_config_int ("GZ_INTAKE_BURST", 200, 1, 10000000);
    self->area_radius_m = (double) gz_config_int ("GZ_AREA_RADIUS_M", 1000, 1, 100000);
    self->max_batch = (int) gz_config_int ("GZ_INTAKE_MAX_BATCH", 512, 1, 10000);
    self->writers = (int) gz_config_int ("GZ_INTAKE_WRITERS", 1, 1, 16);
    self->routing_events = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    self->routing_schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d",
              gz_config_port ("GZ_ROUTING_HTTP_PORT", GZ_PORT_ROUTING_HTTP));
    self->routing_url = strdup (gz_config_str ("GZ_ROUTING_URL", buf));
    const char *contact_key = gz_config_str ("GZ_NOTIFY_CONTACT_KEY", NULL);
    self->contact_key = contact_key && *contact_key ? strdup (contact_key) : NULL;
    self->photo = intake_photo_limits_from_env ();
    self->photo_max_request =
        (size_t) gz_config_int ("GZ_INTAKE_PHOTO_MAX_REQUEST_BYTES",
                                INTAKE_PHOTO_MAX_REQUEST_DEFAULT, 64 * 1024, 1024L * 1024 * 1024);
    return self;
}

static char *
s_dup (const char *s, const char *dflt)
{
    return strdup (s ? s : dflt);
}

static void *
s_config_dup (const void *config)
{
    const intake_config_t *c = config;
    intake_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    gz_actor_config_copy (&self->base, &c->base);
    self->public_url = s_dup (c->public_url, "");
    self->api_keys = s_dup (c->api_keys, "");
    self->routing_events = s_dup (c->routing_events, "");
    self->routing_schema = s_dup (c->routing_schema, "routing");
    self->routing_url = s_dup (c->routing_url, "");
    self->contact_key = c->contact_key ? strdup (c->contact_key) : NULL;
    return self;
}

void
intake_config_destroy (intake_config_t **self_p)
{
    intake_config_t *self = *self_p;
    if (!self)
        return;
    gz_actor_config_clear (&self->base);
    free (self->public_url);
    free (self->api_keys);
    free (self->routing_events);
    free (self->routing_schema);
    free (self->routing_url);
    if (self->contact_key)
        explicit_bzero (self->contact_key, strlen (self->contact_key));
    free (self->contact_key);
    free (self);
    *self_p = NULL;
}

static void
s_config_free (void *config)
{
    intake_config_t *self = config;
    intake_config_destroy (&self);
}

//  ---------------------------------------------------------------- keys, org

static void
s_load_keys (intake_t *ctx, const char *spec)
{
    char *copy = strdup (spec ? spec : "");
    char *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (tok, '=');
        if (!eq || eq == tok || !eq[1])
            continue;
        *eq = 0;
        ctx->keys = realloc (ctx->keys, (ctx->nkeys + 1) * sizeof *ctx->keys);
        assert (ctx->keys);
        ctx->keys[ctx->nkeys].name = strdup (tok);
        ctx->keys[ctx->nkeys].key = strdup (eq + 1);
        ctx->nkeys++;
    }
    free (copy);
}

const char *
intake_api_key_name (intake_t *ctx, const char *key)
{
    if (!key || !*key)
        return NULL;
    for (size_t i = 0; i < ctx->nkeys; i++)
        if (gz_auth_secret_equal (key, ctx->keys[i].key))
            return ctx->keys[i].name;
    return NULL;
}

intake_org_t *
intake_org_take (intake_t *ctx)
{
    pthread_mutex_lock (&ctx->org_lock);
    intake_org_t *org = ctx->org_cur;
    assert (org); //  set at start, before any request
    atomic_fetch_add (&org->refs, 1);
    pthread_mutex_unlock (&ctx->org_lock);
    return org;
}

void
intake_org_drop (intake_org_t **org_p)
{
    intake_org_t *org = *org_p;
    *org_p = NULL;
    if (org && atomic_fetch_sub (&org->refs, 1) == 1) {
        gz_org_destroy (&org->org);
        free (org);
    }
}

void
intake_org_set (intake_t *ctx, gz_org_t *org)
{
    intake_org_t *fresh = calloc (1, sizeof *fresh);
    assert (fresh);
    fresh->org = org;
    atomic_init (&fresh->refs, 1); //  being in force
    pthread_mutex_lock (&ctx->org_lock);
    intake_org_t *old = ctx->org_cur;
    ctx->org_cur = fresh;
    pthread_mutex_unlock (&ctx->org_lock);
    intake_org_drop (&old);
}

//  ---------------------------------------------------------------- spec

//  The actor's state: the shared context first, so the routes' state
//  pointer is the intake_t.
typedef struct {
    intake_t ctx;
    gz_actor_t *actor;
    intake_engine_t *engine;
    intake_sub_t *bus_head, *bus_tail; //  the ROUTER's submissions for the next commit
} self_t;

//  intake's own metrics; the common ones are gz_actor's.
static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_intake_submissions_total", GZ_COUNTER,
                         "Submissions by channel and outcome");
    gz_metrics_describe (m, "gz_intake_busy_total", GZ_COUNTER,
                         "Reads and resident forms answered 503 because every worker was busy"
                         " and the queue full");
    gz_metrics_describe (m, "gz_intake_commits_total", GZ_COUNTER,
                         "Group-commit transactions committed");
    gz_metrics_add (m, "gz_intake_commits_total", NULL, 0);
    gz_metrics_describe (m, "gz_intake_waiting", GZ_GAUGE,
                         "HTTP submissions queued or in a commit, waiting for the answer");
    gz_metrics_set (m, "gz_intake_waiting", NULL, 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"routing\"", 0);
}

static int
s_reload (void *state)
{
    self_t *self = state;
    gz_db_t *db = gz_actor_db (self->actor);
    if (gz_db_ensure (db))
        return -1;
    gz_org_t *org = gz_org_load (db);
    if (!org) {
        gz_warn (SVC, "msg=\"org reload failed; the old directory stays\"");
        return -1;
    }
    size_t buildings = gz_org_building_count (org);
    int64_t generation = gz_org_generation (org);
    intake_org_set (&self->ctx, org);
    gz_info (SVC, "msg=\"org directory reloaded\" buildings=%zu generation=%lld", buildings,
             (long long) generation);
    return 0;
}

static void s_stop (void **state_p);

//  Photos on the QR page: libvips, and multipart bodies on the HTTP
//  server within the photo limits (docs/photos.md).
static void
s_photos_start (intake_t *ctx)
{
    intake_config_t *cfg = ctx->cfg;
    if (cfg->photo.max_bytes == 0 || cfg->photo.max_pixels == 0) {
        cfg->photo.max_bytes = INTAKE_PHOTO_MAX_BYTES_DEFAULT;
        cfg->photo.max_pixels = INTAKE_PHOTO_MAX_PIXELS_DEFAULT;
    }
    if (cfg->photo_max_request == 0)
        cfg->photo_max_request = INTAKE_PHOTO_MAX_REQUEST_DEFAULT;
    if (intake_photo_init () != 0)
        gz_warn (SVC, "msg=\"libvips did not start; photos will be refused\"");
    //  gz_actor opens HTTP after start, with these.
    cfg->base.multipart = (gz_http_multipart_t){cfg->photo_max_request, cfg->photo.max_bytes,
                                                INTAKE_PHOTO_MAX_COUNT, 64, INTAKE_MAX_BODY};
}

static void *
s_start (gz_actor_t *actor, const void *config)
{
    self_t *self = calloc (1, sizeof *self);
    assert (self);
    self->actor = actor;
    intake_t *ctx = &self->ctx;
    ctx->cfg = (intake_config_t *) config;
    ctx->actor = actor;
    ctx->metrics = gz_actor_metrics (actor);
    ctx->pool = gz_actor_pool (actor);
    ctx->queue = gz_queue_new ();
    pthread_mutex_init (&ctx->insert_turn, NULL);
    pthread_mutex_init (&ctx->org_lock, NULL);
    ctx->ratelimit = gz_ratelimit_new (ctx->cfg->rate, ctx->cfg->burst);
    s_load_keys (ctx, ctx->cfg->api_keys);
    gz_db_t *db = gz_actor_db (actor);
    gz_org_t *org = gz_org_load (db);
    if (!org) {
        gz_error (SVC, "msg=\"cannot load the org directory\"");
        s_stop ((void **) &self);
        return NULL;
    }
    intake_org_set (ctx, org);
    if (gz_org_building_count (org) == 0)
        gz_warn (SVC, "msg=\"org directory has no buildings; run gzctl seed huaguoyuan or "
                      "gzctl org import\"");
    s_photos_start (ctx);
    self->engine = intake_engine_new (ctx, db, gz_actor_pub (actor), gz_actor_router (actor));
    //  Routing's stream, once routing has created its outbox (in the
    //  all-in-one binary both start together; in containers either may
    //  come first).
    if (*ctx->cfg->routing_events) {
        intake_follow_prepare (db, ctx->cfg->base.schema);
        gz_actor_follow (actor, ctx->cfg->routing_schema, "routing", ctx->cfg->routing_events, true,
                         intake_follow_handler, ctx, NULL, NULL);
    }
    gz_info (SVC, "msg=\"intake started\" buildings=%zu api_keys=%zu", gz_org_building_count (org),
             ctx->nkeys);
    return self;
}

static void
s_stop (void **state_p)
{
    self_t *self = *state_p;
    if (!self)
        return;
    intake_t *ctx = &self->ctx;
    intake_engine_destroy (&self->engine);
    intake_org_drop (&ctx->org_cur);
    pthread_mutex_destroy (&ctx->org_lock);
    pthread_mutex_destroy (&ctx->insert_turn);
    gz_queue_destroy (&ctx->queue);
    gz_ratelimit_destroy (&ctx->ratelimit);
    for (size_t i = 0; i < ctx->nkeys; i++) {
        free (ctx->keys[i].name);
        free (ctx->keys[i].key);
    }
    free (ctx->keys);
    free (self);
    *state_p = NULL;
}

//  The ROUTER is readable: decode a batch's worth of commands.
static void
s_router (void *state, zsock_t *router)
{
    self_t *self = state;
    size_t max = (size_t) self->ctx.cfg->max_batch;
    for (size_t n = 0; n < max && (zsock_events (router) & ZMQ_POLLIN); n++)
        intake_on_command (&self->ctx, router, &self->bus_head, &self->bus_tail);
}

//  After every wake-up: commit what came (the ROUTER's and the queue's).
static void
s_cycle (void *state)
{
    self_t *self = state;
    intake_sub_t *list = self->bus_head;
    self->bus_head = self->bus_tail = NULL;
    intake_engine_cycle (self->engine, list);
}

static bool
s_pending (void *state)
{
    self_t *self = state;
    return intake_engine_pending (self->engine);
}

static bool
s_idle (void *state)
{
    self_t *self = state;
    return atomic_load (&self->ctx.inflight) == 0;
}

static const gz_actor_spec_t s_spec = {
    .name = SVC,
    .migrations = intake_migrations,
    .stream = "intake",
    .routes = intake_routes,
    .max_body = INTAKE_MAX_BODY,
    .describe_metrics = s_describe_metrics,
    .start = s_start,
    .stop = s_stop,
    .reload = s_reload,
    .router = s_router,
    .cycle = s_cycle,
    .pending = s_pending,
    .idle = s_idle,
    .timeout = intake_http_timeout,
    .busy = intake_http_busy,
};

void
intake_server (zsock_t *pipe, void *args)
{
    gz_actor_args_t a = {&s_spec, args, s_config_dup, s_config_free};
    gz_actor_run (pipe, &a);
}

static void *
s_config_from_env (void)
{
    return intake_config_from_env ();
}

const gz_service_def_t intake_service = {SVC, s_config_from_env, s_config_free, intake_server};
