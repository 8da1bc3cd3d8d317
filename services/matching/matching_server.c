/*  matching_server: the matching service's configuration and its actor
    spec (docs/service-anatomy.md). What is matching's own: its settings
    (batch period, offer time, weights, earning rules, the categories that
    make needs), the org directory in force, the op queue, the batch and
    expiry timers and the followed streams.  */
#include "gz_config.h"
#include "gz_log.h"
#include "matching.h"

#include <assert.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SVC "matching"

extern const gz_migration_t matching_migrations[];

//  ---------------------------------------------------------------- config

//  GZ_MATCHING_WEIGHTS: "name=value,..." over the defaults. 0 or -1.
typedef struct {
    const char *name;
    size_t offset;
} s_weight_t;

static const s_weight_t s_weights[] = {
    {"radius_m", offsetof (mt_pairs_weights_t, radius_m)},
    {"per_km", offsetof (mt_pairs_weights_t, per_km)},
    {"same_grid", offsetof (mt_pairs_weights_t, same_grid)},
    {"same_community", offsetof (mt_pairs_weights_t, same_community)},
    {"further", offsetof (mt_pairs_weights_t, further)},
    {"fairness", offsetof (mt_pairs_weights_t, fairness)},
    {"rating", offsetof (mt_pairs_weights_t, rating)},
    {"continuity", offsetof (mt_pairs_weights_t, continuity)},
    {"normal", offsetof (mt_pairs_weights_t, normal)},
    {"enough", offsetof (mt_pairs_weights_t, enough)},
};

int
matching_weights_parse (const char *text, mt_pairs_weights_t *w, char *err, size_t err_size)
{
    mt_pairs_weights_default (w);
    //  The service looks farther than a need's community only for needs
    //  with fewer than 64 candidates nearer (a dense city would otherwise
    //  give every need thousands of pairs within the radius).
    w->enough = 64;
    char *copy = strdup (text ? text : "");
    char *save = NULL;
    int rc = 0;
    for (char *item = strtok_r (copy, ", ", &save); item && rc == 0;
         item = strtok_r (NULL, ", ", &save)) {
        char *eq = strchr (item, '=');
        char *end = NULL;
        long value = eq ? strtol (eq + 1, &end, 10) : -1;
        if (eq)
            *eq = 0;
        size_t i = 0;
        while (i < sizeof s_weights / sizeof s_weights[0] && strcmp (s_weights[i].name, item) != 0)
            i++;
        if (!eq || !eq[1] || *end || value < 0 || value > 10000000 ||
            i == sizeof s_weights / sizeof s_weights[0]) {
            snprintf (err, err_size, "GZ_MATCHING_WEIGHTS: bad item '%s'", item);
            rc = -1;
        }
        else
            *(int32_t *) ((char *) w + s_weights[i].offset) = (int32_t) value;
    }
    free (copy);
    return rc;
}

matching_config_t *
matching_config_from_env (void)
{
    matching_config_t *self = calloc (1, sizeof *self);
    assert (self);
    gz_actor_config_from_env (&self->base, "MATCHING", "matching", GZ_PORT_MATCHING_HTTP,
                              GZ_PORT_MATCHING_BUS, GZ_PORT_MATCHING_EVENTS);
    self->intake_schema = strdup (gz_config_str ("GZ_INTAKE_SCHEMA", "intake"));
    self->intake_events = gz_config_endpoint ("GZ_INTAKE_EVENTS", GZ_PORT_INTAKE_EVENTS);
    self->routing_schema = strdup (gz_config_str ("GZ_ROUTING_SCHEMA", "routing"));
    self->routing_events = gz_config_endpoint ("GZ_ROUTING_EVENTS", GZ_PORT_ROUTING_EVENTS);
    self->batch_ms = (int) gz_config_int ("GZ_MATCHING_BATCH_MS", 3000, 0, 3600000);
    self->offer_ttl_s = (int) gz_config_int ("GZ_MATCHING_OFFER_TTL_S", 1800, 1, 30 * 86400);
    self->need_categories =
        strdup (gz_config_str ("GZ_MATCHING_NEED_CATEGORIES", "elderly_care=elderly_care"));
    self->weights = strdup (gz_config_str ("GZ_MATCHING_WEIGHTS", ""));
    self->points = strdup (gz_config_str ("GZ_MATCHING_POINTS", ""));
    self->contact_key = gz_config_strdup ("GZ_NOTIFY_CONTACT_KEY", NULL);
    char buf[128];
    snprintf (buf, sizeof buf, "http://127.0.0.1:%d", self->base.http_port);
    self->public_url = strdup (gz_config_str ("GZ_MATCHING_PUBLIC_URL", buf));
    return self;
}

static const size_t s_strings[] = {
    offsetof (matching_config_t, intake_schema),   offsetof (matching_config_t, intake_events),
    offsetof (matching_config_t, routing_schema),  offsetof (matching_config_t, routing_events),
    offsetof (matching_config_t, need_categories), offsetof (matching_config_t, weights),
    offsetof (matching_config_t, points),          offsetof (matching_config_t, contact_key),
    offsetof (matching_config_t, public_url),
};
#define S_STRINGS (sizeof s_strings / sizeof s_strings[0])

static void *
s_config_dup (const void *config)
{
    const matching_config_t *c = config;
    matching_config_t *self = calloc (1, sizeof *self);
    assert (self);
    *self = *c;
    gz_actor_config_copy (&self->base, &c->base);
    gz_config_strings_dup (self, s_strings, S_STRINGS);
    return self;
}

void
matching_config_destroy (matching_config_t **self_p)
{
    matching_config_t *self = *self_p;
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
    matching_config_t *self = config;
    matching_config_destroy (&self);
}

//  ---------------------------------------------------------------- state

int64_t
matching_now_us (matching_t *self)
{
    return gz_actor_now_us (self->actor);
}

void
matching_count (matching_t *self, const char *metric, const char *labels)
{
    gz_metrics_add (self->metrics, metric, labels, 1);
}

static int
s_reload (void *state)
{
    matching_t *self = state;
    gz_org_t *org = gz_db_ensure (self->db) == 0 ? gz_org_load (self->db) : NULL;
    if (!org) {
        gz_warn (SVC, "msg=\"org directory not loaded; the old one stays\"");
        return -1;
    }
    gz_org_destroy (&self->org);
    self->org = org;
    self->dirty = true;
    return 0;
}

static void
s_prepare_read (gz_db_t *db, void *arg)
{
    matching_t *self = arg;
    matching_store_prepare_read (db, self->cfg->base.schema);
    matching_ledger_prepare (db, self->cfg->base.schema);
    gz_auth_prepare (db, self->cfg->routing_schema);
}

static void
s_batch_timer (void *arg)
{
    matching_t *self = arg;
    //  A batch when something changed, and at least once a minute (the
    //  week rolls, volunteers come back under their cap).
    int64_t now = gz_now_us ();
    if (self->dirty || now - self->last_batch_us > 60 * 1000000LL)
        matching_batch_run (self);
}

static void
s_expiry_timer (void *arg)
{
    matching_expire_due (arg);
}

static void s_stop (void **state_p);

static void *
s_start (gz_actor_t *actor, const void *config)
{
    matching_t *self = calloc (1, sizeof *self);
    assert (self);
    self->actor = actor;
    self->cfg = config;
    self->metrics = gz_actor_metrics (actor);
    self->db = gz_actor_db (actor);
    self->pub = gz_actor_pub (actor);
    self->queue = gz_queue_new ();
    self->dirty = true;
    atomic_init (&self->inflight, 0);
    char err[256] = "";
    mt_pairs_weights_t w;
    if (matching_weights_parse (self->cfg->weights, &w, err, sizeof err) != 0 ||
        matching_points_parse (self->cfg->points, &self->points, err, sizeof err) != 0) {
        gz_error (SVC, "msg=\"bad configuration\" error=\"%s\"", err);
        s_stop ((void **) &self);
        return NULL;
    }
    self->weights = w;
    matching_store_prepare (self->db, self->cfg->base.schema);
    matching_ledger_prepare (self->db, self->cfg->base.schema);
    gz_auth_prepare (self->db, self->cfg->routing_schema);
    matching_store_prepare_meetings (self->db, self->cfg->routing_schema);
    gz_dbpool_each (gz_actor_pool (actor), s_prepare_read, self);
    if (s_reload (self) != 0) {
        s_stop ((void **) &self);
        return NULL;
    }
    gz_actor_follow (actor, self->cfg->intake_schema, "intake", self->cfg->intake_events, true,
                     matching_on_intake, self, NULL, NULL);
    gz_actor_follow (actor, self->cfg->routing_schema, "routing", self->cfg->routing_events, true,
                     matching_on_routing, self, NULL, NULL);
    //  Needs and points made from requests commit with the cursors.
    gz_actor_follow_produces (actor, "intake");
    gz_actor_follow_produces (actor, "routing");
    if (self->cfg->batch_ms > 0)
        gz_actor_every (actor, self->cfg->batch_ms, s_batch_timer, self);
    gz_actor_every (actor, 1000, s_expiry_timer, self);
    gz_info (SVC, "msg=\"matching started\" batch_ms=%d offer_ttl_s=%d categories=\"%s\"",
             self->cfg->batch_ms, self->cfg->offer_ttl_s, self->cfg->need_categories);
    return self;
}

static void
s_cycle (void *state)
{
    matching_t *self = state;
    gz_qitem_t *items = gz_queue_take (self->queue, 256);
    while (items) {
        matching_op_t *op = (matching_op_t *) items;
        items = items->next;
        matching_op_execute (self, op);
        char labels[96];
        snprintf (labels, sizeof labels, "source=\"http\",status=\"%d\"", op->status);
        matching_count (self, "gz_matching_commands_total", labels);
        atomic_fetch_sub (&self->inflight, 1);
        //  -1: gz_http already answered it 503 (deferred too long).
        if (gz_http_resume (&op->http, matching_op_answer, op) != 0)
            matching_op_destroy (&op);
    }
}

static bool
s_pending (void *state)
{
    matching_t *self = state;
    return !gz_queue_empty (self->queue);
}

static bool
s_idle (void *state)
{
    matching_t *self = state;
    return atomic_load (&self->inflight) == 0;
}

static void
s_stop (void **state_p)
{
    matching_t *self = *state_p;
    if (!self)
        return;
    if (self->queue) {
        s_cycle (self);
        gz_queue_destroy (&self->queue);
    }
    gz_org_destroy (&self->org);
    free (self);
    *state_p = NULL;
}

static bool
s_command (void *state, const char *cmd, zmsg_t *msg, zsock_t *pipe)
{
    matching_t *self = state;
    if (streq (cmd, "CLOCK")) {
        char *us = zmsg_popstr (msg);
        gz_actor_set_clock (self->actor, us ? strtoll (us, NULL, 10) : 0);
        free (us);
        matching_expire_due (self);
        zsock_signal (pipe, 0);
        return true;
    }
    if (streq (cmd, "MATCH")) {
        int made = matching_batch_run (self);
        zsock_signal (pipe, (byte) (made < 0 ? 255 : made > 254 ? 254 : made));
        return true;
    }
    return false;
}

static void
s_describe_metrics (gz_metrics_t *m)
{
    gz_metrics_describe (m, "gz_matching_commands_total", GZ_COUNTER,
                         "Writes over HTTP and the bus, by source and status");
    gz_metrics_describe (m, "gz_matching_batches_total", GZ_COUNTER, "Batches solved");
    gz_metrics_describe (m, "gz_matching_offers_total", GZ_COUNTER,
                         "Offers, by outcome (offered accepted declined expired)");
    gz_metrics_describe (m, "gz_matching_points_total", GZ_COUNTER,
                         "Points moved, by reason (earned: service report meeting; redeem)");
    gz_metrics_describe (m, "gz_matching_batch_seconds", GZ_GAUGE,
                         "The last batch's time: load, pairs, solve and write");
    gz_metrics_add (m, "gz_matching_batches_total", NULL, 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"intake\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"routing\"", 0);
    gz_metrics_add (m, "gz_decode_errors_total", "source=\"bus\"", 0);
}

static const gz_actor_spec_t s_spec = {
    .name = SVC,
    .migrations = matching_migrations,
    .stream = "matching",
    .routes = matching_routes,
    .max_body = MATCHING_MAX_BODY,
    .describe_metrics = s_describe_metrics,
    .start = s_start,
    .stop = s_stop,
    .reload = s_reload,
    .router = matching_on_router,
    .cycle = s_cycle,
    .pending = s_pending,
    .idle = s_idle,
    .command = s_command,
};

void
matching_server (zsock_t *pipe, void *args)
{
    gz_actor_args_t a = {&s_spec, args, s_config_dup, s_config_free};
    gz_actor_run (pipe, &a);
}

static void *
s_config_from_env (void)
{
    return matching_config_from_env ();
}

const gz_service_def_t matching_service = {SVC, s_config_from_env, s_config_free, matching_server};
