/*  analytics_consume: intake's and routing's streams into facts and
    rollups, exactly once.

    Each event changes one request's fact (analytics_fact.c); the rollups
    move by the fact's new contribution minus its old one, at its day and
    every node above it. Within a batch the facts touched are kept in
    memory (loaded once), the rollup and volume deltas summed per key;
    the batch's flush writes them with three multi-row statements in the
    subscriber's transaction, with its cursor. A batch that fails is
    forgotten whole (after) and applied again from the cursor.  */
#include "analytics.h"
#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"
#include "gz_log.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "analytics"

typedef struct {
    analytics_fact_t fact;
    bool dirty;
} s_fact_t;

void
analytics_consume_init (analytics_t *self)
{
    self->facts = zhashx_new ();
    zhashx_set_destructor (self->facts, (zhashx_destructor_fn *) zstr_free);
    self->deltas = zhashx_new ();
    zhashx_set_destructor (self->deltas, (zhashx_destructor_fn *) zstr_free);
    self->volumes = zhashx_new ();
    zhashx_set_destructor (self->volumes, (zhashx_destructor_fn *) zstr_free);
}

void
analytics_consume_destroy (analytics_t *self)
{
    zhashx_destroy (&self->facts);
    zhashx_destroy (&self->deltas);
    zhashx_destroy (&self->volumes);
}

void
analytics_after (void *arg, bool committed)
{
    analytics_t *self = arg;
    (void) committed;
    zhashx_purge (self->facts);
    zhashx_purge (self->deltas);
    zhashx_purge (self->volumes);
}

//  The batch's fact of request id, loaded once. NULL on failure.
static s_fact_t *
s_fact (analytics_t *self, gz_db_t *db, const char *id)
{
    s_fact_t *f = zhashx_lookup (self->facts, id);
    if (f)
        return f;
    f = calloc (1, sizeof *f);
    assert (f);
    if (analytics_store_fact_get (db, id, &f->fact) < 0) {
        free (f);
        return NULL;
    }
    zhashx_insert (self->facts, id, f);
    return f;
}

//  Add sign x c at key (node|day) into the batch's deltas.
static void
s_add_counts (analytics_t *self, const char *node, const char *day, const analytics_counts_t *c,
              int sign)
{
    char key[ANALYTICS_CODE_MAX + 16];
    snprintf (key, sizeof key, "%s|%s", node, day);
    analytics_counts_t *d = zhashx_lookup (self->deltas, key);
    if (!d) {
        d = calloc (1, sizeof *d);
        assert (d);
        zhashx_insert (self->deltas, key, d);
    }
    analytics_counts_add (d, c, sign);
}

static void
s_add_volume (analytics_t *self, const char *node, const char *day, const char *dim,
              const char *value, int sign)
{
    char key[ANALYTICS_CODE_MAX + 112];
    snprintf (key, sizeof key, "%s|%s|%s|%.64s", node, day, dim, value);
    int64_t *n = zhashx_lookup (self->volumes, key);
    if (!n) {
        n = calloc (1, sizeof *n);
        assert (n);
        zhashx_insert (self->volumes, key, n);
    }
    *n += sign;
}

//  A fact's contribution added (sign 1) or taken away (-1) everywhere it
//  counts.
static void
s_contribute (analytics_t *self, const analytics_fact_t *f, int sign)
{
    analytics_counts_t c;
    analytics_fact_counts (f, &c);
    if (analytics_counts_zero (&c))
        return;
    char day[11], tier[16], channel[16];
    analytics_day (f->submitted_us, day);
    snprintf (tier, sizeof tier, "%d", f->tier);
    snprintf (channel, sizeof channel, "%d", f->channel);
    const char *nodes[5];
    int n = analytics_fact_nodes (f, nodes);
    for (int i = 0; i < n; i++) {
        s_add_counts (self, nodes[i], day, &c, sign);
        if (c.requests) {
            s_add_volume (self, nodes[i], day, "category", f->category, sign);
            s_add_volume (self, nodes[i], day, "tier", tier, sign);
            s_add_volume (self, nodes[i], day, "channel", channel, sign);
        }
    }
}

//  The fact changed from before to f->fact: move the rollups.
static void
s_moved (analytics_t *self, s_fact_t *f, const analytics_fact_t *before)
{
    s_contribute (self, before, -1);
    s_contribute (self, &f->fact, 1);
    f->dirty = true;
    self->applied++;
}

int
analytics_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    if (strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *ev =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev || !ev->request_id || !*ev->request_id) {
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
        return 0; //  counted and skipped: never fatal
    }
    s_fact_t *f = s_fact (self, db, ev->request_id);
    int rc = f ? 0 : -1;
    if (f && !f->fact.submitted_us) {
        analytics_fact_t before = f->fact;
        const char *district = self->org && ev->subdistrict_code
                                   ? gz_org_unit_parent (self->org, ev->subdistrict_code)
                                   : NULL;
        analytics_fact_submitted (&f->fact, ev->service_code, (int) ev->channel, ev->building_code,
                                  ev->grid_code, ev->community_code, ev->subdistrict_code,
                                  district ? district : "", ev->submitted_at_us);
        s_moved (self, f, &before);
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"intake\"", 1);
    }
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    return rc;
}

int
analytics_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    Gongzhi__V1__RequestUpdate *u =
        gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    if (!u || !u->request_id || !*u->request_id) {
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        gongzhi__v1__request_update__free_unpacked (u, NULL);
        return 0;
    }
    s_fact_t *f = s_fact (self, db, u->request_id);
    int rc = f ? 0 : -1;
    if (f) {
        const char *unit = u->assignee && u->assignee->unit_code ? u->assignee->unit_code : "";
        const char *level = self->org && *unit ? gz_org_unit_level (self->org, unit) : NULL;
        analytics_update_t up = {.kind = u->kind,
                                 .outcome = u->outcome,
                                 .tier = (int) u->tier,
                                 .lead_unit = unit,
                                 .lead_is_department = level && strcmp (level, "department") == 0,
                                 .response_due_us = u->response_due_us,
                                 .resolve_due_us = u->resolve_due_us,
                                 .satisfied = u->satisfied,
                                 .at_us = u->at_us ? u->at_us : env->occurred_at_us};
        analytics_fact_t before = f->fact;
        if (analytics_fact_apply (&f->fact, &up))
            s_moved (self, f, &before);
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"routing\"", 1);
    }
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}

int
analytics_flush (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    size_t n = 0;
    analytics_fact_t **dirty = calloc (zhashx_size (self->facts) + 1, sizeof *dirty);
    assert (dirty);
    for (s_fact_t *f = zhashx_first (self->facts); f; f = zhashx_next (self->facts))
        if (f->dirty)
            dirty[n++] = &f->fact;
    int rc = analytics_store_facts_put (db, dirty, n);
    free (dirty);
    if (rc == 0)
        rc = analytics_store_rollup_add (db, self->deltas);
    if (rc == 0)
        rc = analytics_store_volumes_add (db, self->volumes);
    if (rc)
        gz_warn (SVC, "msg=\"flush failed\" error=\"%s\"", gz_db_error (db));
    return rc;
}
