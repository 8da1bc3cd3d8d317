/*  notify_server: the notify service's configuration and its actor spec
    (docs/service-anatomy.md). What is notify's own: its settings, the
    plan and the org directory in force (shared with the channel workers
    behind a read-write lock), the followed streams and the workers.  */
#include "gz_auth.h"
#include "gz_codec.h"
#include "gz_config.h"
#include "gz_dbpool.h"
#include "gz_log.h"
#include "notify.h"
#include "notify_policy.h"

#include <assert.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SVC "notify"

extern const gz_migration_t notify_migrations[];

//  ---------------------------------------------------------------- config

notify_config_t *
notify_config_from_env (void)
{
    notify_config_t *self = calloc (1, sizeof *self);
    assert (self);
    gz_actor_config_from_env (&self->base, "NOTIFY", "notify", GZ_PORT_NOTIFY_HTTP, -1,
                              GZ_PORT_NOTIFY_EVENTS);
    self->intake_schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->intake_events = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    self->routing_schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    self->routing_events = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    self->matching_schema = strdup (gz_config_str ("GZ_MATCHING_SCHEMA", "matching"));
    self->matching_events = gz_config_endpoint ("GZ_MATCHING_EVENTS", GZ_PORT_MATCHING_EVENTS);
    char buf[128];
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d",
              gz_config_port ("GZ_MATCHING_HTTP_PORT", GZ_PORT_MATCHING_HTTP));
    self->matching_url = strdup (gz_config_str ("GZ_MATCHING_URL", buf));
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d",
              gz_config_port ("GZ_INTAKE_HTTP_PORT", GZ_PORT_INTAKE_HTTP));
    self->intake_url = strdup (gz_config_str ("GZ_INTAKE_URL", buf));
    self->public_url = strdup (gz_config_str ("GZ_PUBLIC_URL", buf));
    self->contact_key = gz_config_strdup ("GZ_NOTIFY_CONTACT_KEY", NULL);
    self->plan_dir = gz_config_strdup ("GZ_NOTIFY_PLAN", NULL);
    self->quiet_hours = gz_config_strdup ("GZ_NOTIFY_QUIET_HOURS", NULL);
    self->resident_channels =
        strdup (gz_config_str ("GZ_NOTIFY_RESIDENT_CHANNELS", "webhook,sms,email,log"));
    self->staff_channels =
        strdup (gz_config_str ("GZ_NOTIFY_STAFF_CHANNELS", "webhook,wechat,sms,email,log"));
    self->volunteer_channels =
        strdup (gz_config_str ("GZ_NOTIFY_VOLUNTEER_CHANNELS", self->resident_channels));
    notify_channels_config_from_env (&self->chans);
    self->channel_workers = (int) gz_config_int ("GZ_NOTIFY_CHANNEL_WORKERS", 4, 1, 64);
    self->max_attempts = (int) gz_config_int ("GZ_NOTIFY_MAX_ATTEMPTS", 8, 1, 100);
    self->backoff_ms = (int) gz_config_int ("GZ_NOTIFY_BACKOFF_MS", 1000, 1, 3600000);
    self->backoff_max_ms = (int) gz_config_int ("GZ_NOTIFY_BACKOFF_MAX_MS", 600000, 1, 86400000);
    self->digest_window_ms = (int) gz_config_int ("GZ_NOTIFY_DIGEST_WINDOW_MS", -1, -1, 86400000);
    self->recipient_per_hour = (int) gz_config_int ("GZ_NOTIFY_RECIPIENT_PER_HOUR", 20, 0, 100000);
    self->channel_rates = strdup (gz_config_str ("GZ_NOTIFY_CHANNEL_RATE", ""));
    return self;
}

static const size_t s_strings[] = {
    offsetof (notify_config_t, intake_schema),      offsetof (notify_config_t, intake_events),
    offsetof (notify_config_t, routing_schema),     offsetof (notify_config_t, routing_events),
    offsetof (notify_config_t, matching_schema),    offsetof (notify_config_t, matching_events),
    offsetof (notify_config_t, matching_url),       offsetof (notify_config_t, intake_url),
    offsetof (notify_config_t, public_url),         offsetof (notify_config_t, contact_key),
    offsetof (notify_config_t, plan_dir),           offsetof (notify_config_t, quiet_hours),
    offsetof (notify_config_t, resident_channels),  offsetof (notify_config_t, staff_channels),
    offsetof (notify_config_t, volunteer_channels), offsetof (notify_config_t, channel_rates),
};
#define S_STRINGS (sizeof s_strings / sizeof s_strings[0])

static void *
s_config_dup (const void *config)
{
    const notify_config_t *c = config;
    notify_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    gz_actor_config_copy (&self->base, &c->base);
    gz_config_strings_dup (self, s_strings, S_STRINGS);
    notify_channels_config_copy (&self->chans, &c->chans);
    return self;
}

void
notify_config_destroy (notify_config_t **self_p)
{
    notify_config_t *self = *self_p;
    if (!self)
        return;
    gz_actor_config_clear (&self->base);
    gz_config_strings_free (self, s_strings, S_STRINGS);
    notify_channels_config_clear (&self->chans);
    free (self);
    *self_p = NULL;
}

static void
s_config_free (void *config)
{
    notify_config_t *self = config;
    notify_config_destroy (&self);
}

//  ---------------------------------------------------------------- state

void
notify_quiet_window (notify_t *self, int *start_p, int *end_p)
{
    if (self->quiet_env) {
        *start_p = self->quiet_start;
        *end_p = self->quiet_end;
    }
    else
        notify_plan_quiet_hours (self->shared.plan, start_p, end_p);
}

int
notify_digest_window_ms (notify_t *self)
{
    return self->cfg->digest_window_ms >= 0 ? self->cfg->digest_window_ms
                                            : notify_plan_digest_window_ms (self->shared.plan);
}

int64_t
notify_now_us (notify_t *self)
{
    return gz_actor_now_us (self->actor);
}

//  "a,b,c" into names (at most NOTIFY_MAX_CHANNELS), NULL-terminated.
static void
s_order (const char *list, char **names)
{
    char *copy = strdup (list ? list : "");
    char *save = NULL;
    size_t n = 0;
    for (char *c = strtok_r (copy, ", ", &save); c && n < NOTIFY_MAX_CHANNELS;
         c = strtok_r (NULL, ", ", &save))
        names[n++] = strdup (c);
    names[n] = NULL;
    free (copy);
}

static void
s_order_free (char **names)
{
    for (size_t i = 0; names[i]; i++)
        free (names[i]);
    names[0] = NULL;
}

//  Load the plan and the directory; swap them in whole. 0 ok, -1 the old
//  ones stay (logged).
static int
s_load (notify_t *self)
{
    char err[512] = "";
    notify_plan_t *plan = notify_plan_load (self->cfg->plan_dir, err, sizeof err);
    if (!plan) {
        gz_error (SVC, "msg=\"plan refused; the old one stays\" error=\"%s\"", err);
        return -1;
    }
    gz_db_t *db = gz_actor_db (self->actor);
    gz_org_t *org = gz_db_ensure (db) == 0 ? gz_org_load (db) : NULL;
    if (!org) {
        gz_warn (SVC, "msg=\"org directory not loaded; the old one stays\"");
        notify_plan_destroy (&plan);
        return -1;
    }
    pthread_rwlock_wrlock (&self->shared.lock);
    notify_plan_t *old_plan = self->shared.plan;
    gz_org_t *old_org = self->shared.org;
    self->shared.plan = plan;
    self->shared.org = org;
    pthread_rwlock_unlock (&self->shared.lock);
    notify_plan_destroy (&old_plan);
    gz_org_destroy (&old_org);
    gz_info (SVC, "msg=\"plan and directory loaded\" plan=\"%s\" staff=%zu",
             self->cfg->plan_dir ? self->cfg->plan_dir : "built-in", gz_org_staff_count (org));
    return 0;
}

static int
s_reload (void *state)
{
    return s_load (state);
}

static void
s_prepare_read (gz_db_t *db, void *arg)
{
    notify_t *self = arg;
    notify_store_prepare_read (db, self->cfg->base.schema);
    gz_auth_prepare (db, self->cfg->routing_schema);
}

static void s_stop (void **state_p);

static void *
s_start (gz_actor_t *actor, const void *config)
{
    notify_t *self = calloc (1, sizeof *self);
    assert (self);
    self->actor = actor;
    self->cfg = config;
    self->metrics = gz_actor_metrics (actor);
    pthread_rwlock_init (&self->shared.lock, NULL);
    atomic_init (&self->consumed, 0);
    s_order (self->cfg->resident_channels, self->resident_order);
    s_order (self->cfg->staff_channels, self->staff_order);
    s_order (self->cfg->volunteer_channels, self->volunteer_order);
    if (self->cfg->quiet_hours) {
        if (notify_quiet_parse (self->cfg->quiet_hours, &self->quiet_start, &self->quiet_end)) {
            gz_error (SVC, "msg=\"GZ_NOTIFY_QUIET_HOURS: not HH:MM-HH:MM or off\" value=\"%s\"",
                      self->cfg->quiet_hours);
            s_stop ((void **) &self);
            return NULL;
        }
        self->quiet_env = true;
    }
    gz_db_t *db = gz_actor_db (actor);
    notify_store_prepare (db, self->cfg->base.schema);
    gz_dbpool_each (gz_actor_pool (actor), s_prepare_read, self);
    if (s_load (self) != 0) {
        s_stop ((void **) &self);
        return NULL;
    }
    self->deliver = notify_deliver_start (self);
    if (!self->deliver) {
        s_stop ((void **) &self);
        return NULL;
    }
    //  The producers may start later (wait): notify follows once their
    //  outboxes exist.
    gz_actor_follow (actor, self->cfg->intake_schema, "intake", self->cfg->intake_events, true,
                     notify_on_intake, self, notify_on_batch, self);
    gz_actor_follow (actor, self->cfg->routing_schema, "routing", self->cfg->routing_events, true,
                     notify_on_routing, self, notify_on_batch, self);
    gz_actor_follow (actor, self->cfg->matching_schema, "matching", self->cfg->matching_events,
                     true, notify_on_matching, self, notify_on_batch, self);
    int qs, qe;
    notify_quiet_window (self, &qs, &qe);
    gz_info (SVC, "msg=\"notify started\" contact_key=%s quiet_hours=%02d:%02d-%02d:%02d",
             self->cfg->contact_key ? "set" : "unset", qs / 60, qs % 60, qe / 60, qe % 60);
    return self;
}

static void
s_stop (void **state_p)
{
    notify_t *self = *state_p;
    if (!self)
        return;
    notify_deliver_stop (&self->deliver);
    notify_plan_destroy (&self->shared.plan);
    gz_org_destroy (&self->shared.org);
    pthread_rwlock_destroy (&self->shared.lock);
    s_order_free (self->resident_order);
    s_order_free (self->staff_order);
    s_order_free (self->volunteer_order);
    free (self);
    *state_p = NULL;
}

static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_notify_deliveries_total", GZ_COUNTER,
                         "Delivery attempts by channel and outcome (sent, retry, dead)");
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"intake\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"routing\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"matching\"", 0);
}

static const gz_actor_spec_t s_spec = {
    .name = SVC,
    .migrations = notify_migrations,
    .stream = SVC, //  each delivery's end: NotifyEvent (proto/README.md)
    .routes = notify_routes,
    .max_body = 4096,
    .describe_metrics = s_describe_metrics,
    .start = s_start,
    .stop = s_stop,
    .reload = s_reload,
};

void
notify_server (zsock_t *pipe, void *args)
{
    gz_actor_args_t a = {&s_spec, args, s_config_dup, s_config_free};
    gz_actor_run (pipe, &a);
}

static void *
s_config_from_env (void)
{
    return notify_config_from_env ();
}

const gz_service_def_t notify_service = {SVC, s_config_from_env, s_config_free, notify_server};
