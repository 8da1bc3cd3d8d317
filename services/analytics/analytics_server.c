/*  analytics_server: the analytics service's configuration and its actor
    spec (docs/service-anatomy.md). What is analytics' own: its settings
    (ranking sample, hot spot thresholds), the org directory in force (to
    tell departments from the ladder), the followed streams with their
    batch flush, the test clock.  */
#include "analytics.h"
#include "gz_auth.h"
#include "gz_config.h"
#include "gz_log.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SVC "analytics"

extern const gz_migration_t analytics_migrations[];

analytics_config_t *
analytics_config_from_env (void)
{
    analytics_config_t *self = calloc (1, sizeof *self);
    assert (self);
    gz_actor_config_from_env (&self->base, "ANALYTICS", "analytics", GZ_PORT_ANALYTICS_HTTP, -1,
                              -1);
    self->intake_schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->intake_events = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    self->routing_schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    self->routing_events = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    self->matching_schema = strdup (gz_config_str ("GZ_MATCHING_SCHEMA", "matching"));
    self->matching_events = gz_config_endpoint ("GZ_MATCHING_EVENTS", GZ_PORT_MATCHING_EVENTS);
    self->notify_schema = strdup (gz_config_str ("GZ_NOTIFY_SCHEMA", "notify"));
    self->notify_events = gz_config_endpoint ("GZ_NOTIFY_EVENTS", GZ_PORT_NOTIFY_EVENTS);
    self->min_sample = (int) gz_config_int ("GZ_ANALYTICS_MIN_SAMPLE", 20, 1, 1000000);
    self->hotspot_min = (int) gz_config_int ("GZ_ANALYTICS_HOTSPOT_MIN", 3, 1, 1000000);
    self->hotspot_days = (int) gz_config_int ("GZ_ANALYTICS_HOTSPOT_DAYS", 30, 1, 3660);
    return self;
}

static const size_t s_strings[] = {
    offsetof (analytics_config_t, intake_schema),   offsetof (analytics_config_t, intake_events),
    offsetof (analytics_config_t, routing_schema),  offsetof (analytics_config_t, routing_events),
    offsetof (analytics_config_t, matching_schema), offsetof (analytics_config_t, matching_events),
    offsetof (analytics_config_t, notify_schema),   offsetof (analytics_config_t, notify_events),
};
#define S_STRINGS (sizeof s_strings / sizeof s_strings[0])

static void *
s_config_dup (const void *config)
{
    const analytics_config_t *c = config;
    analytics_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    gz_actor_config_copy (&self->base, &c->base);
    gz_config_strings_dup (self, s_strings, S_STRINGS);
    return self;
}

void
analytics_config_destroy (analytics_config_t **self_p)
{
    analytics_config_t *self = *self_p;
    if (!self)
        return;
    gz_actor_config_clear (&self->base);
    gz_config_strings_free (self, s_strings, S_STRINGS);
    free (self);
    *self_p = NULL;
}

static void
s_config_free (void *config)
{
    analytics_config_t *self = config;
    analytics_config_destroy (&self);
}

int64_t
analytics_now_us (analytics_t *self)
{
    return gz_actor_now_us (self->actor);
}

static int
s_reload (void *state)
{
    analytics_t *self = state;
    gz_db_t *db = gz_actor_db (self->actor);
    gz_org_t *org = gz_db_ensure (db) == 0 ? gz_org_load (db) : NULL;
    if (!org) {
        gz_warn (SVC, "msg=\"org directory not loaded; the old one stays\"");
        return -1;
    }
    gz_org_destroy (&self->org);
    self->org = org;
    return 0;
}

static void
s_prepare_read (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    analytics_store_prepare_read (db, self->cfg->base.schema);
    analytics_store_matching_prepare_read (db, self->cfg->base.schema);
    analytics_store_notify_prepare_read (db, self->cfg->base.schema);
    analytics_store_people_prepare_read (db, self->cfg->routing_schema);
    analytics_store_prepare_report (db, self->cfg->base.schema, self->cfg->routing_schema);
    gz_auth_prepare (db, self->cfg->routing_schema);
}

static void s_stop (void **state_p);

static void *
s_start (gz_actor_t *actor, const void *config)
{
    analytics_t *self = calloc (1, sizeof *self);
    assert (self);
    self->actor = actor;
    self->cfg = config;
    self->metrics = gz_actor_metrics (actor);
    self->levels = analytics_levels_new ();
    analytics_consume_init (self);
    analytics_store_prepare (gz_actor_db (actor), self->cfg->base.schema);
    analytics_store_prefetch_prepare (gz_actor_db (actor), self->cfg->base.schema);
    analytics_store_matching_prepare (gz_actor_db (actor), self->cfg->base.schema);
    self->matching = zhashx_new ();
    zhashx_set_destructor (self->matching, (zhashx_destructor_fn *) zstr_free);
    analytics_store_notify_prepare (gz_actor_db (actor), self->cfg->base.schema);
    self->notify = zhashx_new ();
    zhashx_set_destructor (self->notify, (zhashx_destructor_fn *) zstr_free);
    gz_dbpool_each (gz_actor_pool (actor), s_prepare_read, self);
    if (s_reload (self) != 0) {
        s_stop ((void **) &self);
        return NULL;
    }
    gz_actor_follow (actor, self->cfg->intake_schema, "intake", self->cfg->intake_events, true,
                     analytics_on_intake, self, analytics_after, self);
    gz_actor_follow (actor, self->cfg->routing_schema, "routing", self->cfg->routing_events, true,
                     analytics_on_routing, self, analytics_after, self);
    gz_actor_follow_flush (actor, "intake", analytics_flush, self);
    gz_actor_follow_flush (actor, "routing", analytics_flush, self);
    gz_actor_follow (actor, self->cfg->matching_schema, "matching", self->cfg->matching_events,
                     true, analytics_on_matching, self, analytics_matching_after, self);
    gz_actor_follow_flush (actor, "matching", analytics_matching_flush, self);
    gz_actor_follow (actor, self->cfg->notify_schema, "notify", self->cfg->notify_events, true,
                     analytics_on_notify, self, analytics_notify_after, self);
    gz_actor_follow_flush (actor, "notify", analytics_notify_flush, self);
    gz_info (SVC, "msg=\"analytics started\" min_sample=%d hotspots=%d/%dd", self->cfg->min_sample,
             self->cfg->hotspot_min, self->cfg->hotspot_days);
    return self;
}

static void
s_stop (void **state_p)
{
    analytics_t *self = *state_p;
    if (!self)
        return;
    analytics_consume_destroy (self);
    zhashx_destroy (&self->matching);
    zhashx_destroy (&self->notify);
    gz_org_destroy (&self->org);
    analytics_levels_destroy (&self->levels);
    free (self);
    *state_p = NULL;
}

static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_analytics_events_total", GZ_COUNTER,
                         "Events applied to the facts and rollups, by stream");
    gz_metrics_add (m, "gz_analytics_events_total", "stream=\"intake\"", 0);
    gz_metrics_add (m, "gz_analytics_events_total", "stream=\"routing\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"intake\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"routing\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"matching\"", 0);
    gz_metrics_add (m, "gz_analytics_events_total", "stream=\"matching\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"notify\"", 0);
    gz_metrics_add (m, "gz_analytics_events_total", "stream=\"notify\"", 0);
}

static const gz_actor_spec_t s_spec = {
    .name = SVC,
    .migrations = analytics_migrations,
    .stream = NULL,
    .routes = analytics_routes,
    .max_body = 4096,
    .describe_metrics = s_describe_metrics,
    .start = s_start,
    .stop = s_stop,
    .reload = s_reload,
};

void
analytics_server (zsock_t *pipe, void *args)
{
    gz_actor_args_t a = {&s_spec, args, s_config_dup, s_config_free};
    gz_actor_run (pipe, &a);
}

static void *
s_config_from_env (void)
{
    return analytics_config_from_env ();
}

const gz_service_def_t analytics_service = {SVC, s_config_from_env, s_config_free,
                                            analytics_server};
