/*  analytics_consume: intake's and routing's streams into facts and
    rollups, exactly once.

    Each event changes one request's fact; the accumulator
    (analytics_acc.c, shared with `gzctl analytics rebuild`) moves the
    rollups by the fact's new contribution minus its old one. A batch's
    events are decoded as they come and applied at its flush, once the
    facts they touch are loaded with one statement
    (analytics_store_prefetch.c; one round trip per request was the
    consumer's main cost); the rollup and volume deltas are summed per
    key, and the flush writes them with three multi-row statements in the subscriber's
    transaction, with its cursor, and forgets them: the subscriber may run
    several transactions before the actor calls after (a catch-up runs
    up to 4, a live read up to 8), and each must write only its own
    deltas. A batch that fails is forgotten whole (after) and applied
    again from the cursor.  */
#include "analytics.h"
#include "gz_log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define SVC "analytics"

//  An event of the batch, decoded: applied at the flush, once the facts
//  of the whole batch are loaded with one statement.
typedef struct {
    Gongzhi__V1__RequestSubmitted *submitted; //  intake's, or
    Gongzhi__V1__RequestUpdate *update;       //  routing's
    int64_t occurred_at_us;
} s_item_t;

struct analytics_pending {
    s_item_t *items;
    size_t n, size;
};

static int
s_load (void *arg, const char *id, analytics_fact_t *f)
{
    return analytics_store_fact_get (arg, id, f);
}

static void
s_pending_clear (struct analytics_pending *p)
{
    for (size_t i = 0; i < p->n; i++) {
        gongzhi__v1__request_submitted__free_unpacked (p->items[i].submitted, NULL);
        gongzhi__v1__request_update__free_unpacked (p->items[i].update, NULL);
    }
    p->n = 0;
}

static void
s_pending_push (struct analytics_pending *p, s_item_t item)
{
    if (p->n == p->size) {
        p->size = p->size ? p->size * 2 : 1024;
        p->items = realloc (p->items, p->size * sizeof *p->items);
        assert (p->items);
    }
    p->items[p->n++] = item;
}

void
analytics_consume_init (analytics_t *self)
{
    self->acc = analytics_acc_new (s_load, gz_actor_db (self->actor));
    self->pending = calloc (1, sizeof *self->pending);
    assert (self->pending);
}

void
analytics_consume_destroy (analytics_t *self)
{
    analytics_acc_destroy (&self->acc);
    if (self->pending) {
        s_pending_clear (self->pending);
        free (self->pending->items);
        free (self->pending);
        self->pending = NULL;
    }
}

void
analytics_after (void *arg, bool committed)
{
    analytics_t *self = arg;
    (void) committed;
    analytics_acc_purge (self->acc);
    s_pending_clear (self->pending);
}

int
analytics_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    (void) db;
    if (strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    s_item_t item = {.occurred_at_us = env->occurred_at_us};
    item.submitted =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!item.submitted || !item.submitted->request_id || !*item.submitted->request_id) {
        //  counted and skipped: never fatal
        gongzhi__v1__request_submitted__free_unpacked (item.submitted, NULL);
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        return 0;
    }
    s_pending_push (self->pending, item);
    gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"intake\"", 1);
    return 0;
}

int
analytics_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    (void) db;
    s_item_t item = {.occurred_at_us = env->occurred_at_us};
    item.update = gongzhi__v1__request_update__unpack (NULL, env->payload.len, env->payload.data);
    if (!item.update || !item.update->request_id || !*item.update->request_id) {
        gongzhi__v1__request_update__free_unpacked (item.update, NULL);
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
        return 0;
    }
    s_pending_push (self->pending, item);
    gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"routing\"", 1);
    return 0;
}

//  The batch's facts not held yet, loaded with one statement, then its
//  events applied in order. 0 or -1.
static int
s_apply_pending (analytics_t *self, gz_db_t *db)
{
    struct analytics_pending *p = self->pending;
    const char **ids = calloc (p->n + 1, sizeof *ids);
    assert (ids);
    size_t n = 0;
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; i < p->n; i++) {
        const char *id = p->items[i].submitted ? p->items[i].submitted->request_id
                                               : p->items[i].update->request_id;
        if (!analytics_acc_has (self->acc, id) && !zhashx_lookup (seen, id)) {
            zhashx_insert (seen, id, (void *) id);
            ids[n++] = id;
        }
    }
    zhashx_destroy (&seen);
    int rc = analytics_store_facts_prefetch (db, ids, n, self->acc);
    free (ids);
    analytics_acc_set_org (self->acc, self->org);
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        const s_item_t *it = &p->items[i];
        int applied = it->submitted
                          ? analytics_acc_submitted (self->acc, it->submitted)
                          : analytics_acc_update (self->acc, it->update, it->occurred_at_us);
        rc = applied < 0 ? -1 : 0;
    }
    s_pending_clear (p);
    return rc;
}

int
analytics_flush (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    int rc = s_apply_pending (self, db);
    if (rc == 0)
        rc = analytics_store_write (db, self->acc);
    if (rc)
        gz_warn (SVC, "msg=\"flush failed\" error=\"%s\"", gz_db_error (db));
    //  Written (or the transaction rolls back): the next transaction
    //  starts from the stored facts, with no deltas.
    analytics_acc_purge (self->acc);
    return rc;
}
