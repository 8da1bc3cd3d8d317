/*  analytics_acc: see analytics_acc.h. Moved out of analytics_consume.c
    so the live consumer and gzctl's rebuild and verify share one delta
    logic.  */
#include "analytics_acc.h"
#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    analytics_fact_t fact;
    bool dirty;
} s_fact_t;

struct _analytics_acc_t {
    zhashx_t *facts;   //  request id -> s_fact_t
    zhashx_t *deltas;  //  "node|day" -> analytics_counts_t
    zhashx_t *volumes; //  "node|day|dim|value" -> int64_t
    analytics_acc_load_fn *load;
    void *load_arg;
    gz_org_t *org;
    uint64_t applied;
};

static zhashx_t *
s_hash (void)
{
    zhashx_t *h = zhashx_new ();
    assert (h);
    zhashx_set_destructor (h, (zhashx_destructor_fn *) zstr_free);
    return h;
}

analytics_acc_t *
analytics_acc_new (analytics_acc_load_fn *load, void *arg)
{
    analytics_acc_t *self = calloc (1, sizeof *self);
    assert (self);
    self->facts = s_hash ();
    self->deltas = s_hash ();
    self->volumes = s_hash ();
    self->load = load;
    self->load_arg = arg;
    return self;
}

void
analytics_acc_destroy (analytics_acc_t **self_p)
{
    analytics_acc_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->facts);
    zhashx_destroy (&self->deltas);
    zhashx_destroy (&self->volumes);
    free (self);
    *self_p = NULL;
}

void
analytics_acc_set_org (analytics_acc_t *self, gz_org_t *org)
{
    self->org = org;
}

void
analytics_acc_purge (analytics_acc_t *self)
{
    zhashx_purge (self->facts);
    zhashx_purge (self->deltas);
    zhashx_purge (self->volumes);
}

//  The fact of request id, loaded once. NULL on failure.
static s_fact_t *
s_fact (analytics_acc_t *self, const char *id)
{
    s_fact_t *f = zhashx_lookup (self->facts, id);
    if (f)
        return f;
    f = calloc (1, sizeof *f);
    assert (f);
    analytics_fact_init (&f->fact, id);
    if (self->load && self->load (self->load_arg, id, &f->fact) < 0) {
        free (f);
        return NULL;
    }
    zhashx_insert (self->facts, id, f);
    return f;
}

//  Add sign x c at key (node|day).
static void
s_add_counts (analytics_acc_t *self, const char *node, const char *day, const analytics_counts_t *c,
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
s_add_volume (analytics_acc_t *self, const char *node, const char *day, const char *dim,
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
s_contribute (analytics_acc_t *self, const analytics_fact_t *f, int sign)
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

void
analytics_acc_add_fact (analytics_acc_t *self, const analytics_fact_t *f)
{
    s_contribute (self, f, 1);
}

//  The fact changed from before to f->fact: move the rollups.
static void
s_moved (analytics_acc_t *self, s_fact_t *f, const analytics_fact_t *before)
{
    s_contribute (self, before, -1);
    s_contribute (self, &f->fact, 1);
    f->dirty = true;
    self->applied++;
}

int
analytics_acc_submitted (analytics_acc_t *self, const Gongzhi__V1__RequestSubmitted *ev)
{
    if (!ev->request_id || !*ev->request_id)
        return 1;
    s_fact_t *f = s_fact (self, ev->request_id);
    if (!f)
        return -1;
    if (!f->fact.submitted_us) {
        analytics_fact_t before = f->fact;
        const char *district = self->org && ev->subdistrict_code
                                   ? gz_org_unit_parent (self->org, ev->subdistrict_code)
                                   : NULL;
        analytics_fact_submitted (&f->fact, ev->service_code, (int) ev->channel, ev->building_code,
                                  ev->grid_code, ev->community_code, ev->subdistrict_code,
                                  district ? district : "", ev->submitted_at_us);
        s_moved (self, f, &before);
    }
    return 0;
}

int
analytics_acc_update (analytics_acc_t *self, const Gongzhi__V1__RequestUpdate *u,
                      int64_t occurred_at_us)
{
    if (!u->request_id || !*u->request_id)
        return 1;
    s_fact_t *f = s_fact (self, u->request_id);
    if (!f)
        return -1;
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
                             .at_us = u->at_us ? u->at_us : occurred_at_us};
    analytics_fact_t before = f->fact;
    if (analytics_fact_apply (&f->fact, &up))
        s_moved (self, f, &before);
    return 0;
}

int
analytics_acc_intake (analytics_acc_t *self, const gz_envelope_t *env)
{
    if (strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *ev =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    int rc = ev ? analytics_acc_submitted (self, ev) : 1;
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    return rc;
}

int
analytics_acc_routing (analytics_acc_t *self, const gz_envelope_t *env)
{
    Gongzhi__V1__RequestUpdate *u =
        gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    int rc = u ? analytics_acc_update (self, u, env->occurred_at_us) : 1;
    gongzhi__v1__request_update__free_unpacked (u, NULL);
    return rc;
}

bool
analytics_acc_has (analytics_acc_t *self, const char *id)
{
    return zhashx_lookup (self->facts, id) != NULL;
}

void
analytics_acc_put (analytics_acc_t *self, const analytics_fact_t *fact)
{
    if (zhashx_lookup (self->facts, fact->id))
        return;
    s_fact_t *f = calloc (1, sizeof *f);
    assert (f);
    f->fact = *fact;
    zhashx_insert (self->facts, fact->id, f);
}

analytics_fact_t **
analytics_acc_dirty (analytics_acc_t *self, size_t *n)
{
    analytics_fact_t **dirty = calloc (zhashx_size (self->facts) + 1, sizeof *dirty);
    assert (dirty);
    *n = 0;
    for (s_fact_t *f = zhashx_first (self->facts); f; f = zhashx_next (self->facts))
        if (f->dirty)
            dirty[(*n)++] = &f->fact;
    return dirty;
}

zhashx_t *
analytics_acc_deltas (analytics_acc_t *self)
{
    return self->deltas;
}

zhashx_t *
analytics_acc_volumes (analytics_acc_t *self)
{
    return self->volumes;
}

uint64_t
analytics_acc_applied (analytics_acc_t *self)
{
    return self->applied;
}
