/*  analytics_consume: intake's and routing's streams into facts and
    rollups, exactly once.

    Each event changes one request's fact; the accumulator
    (analytics_acc.c, shared with `gzctl analytics rebuild`) moves the
    rollups by the fact's new contribution minus its old one. Within a
    batch the facts touched are kept in memory (loaded once from the
    store), the rollup and volume deltas summed per key; the batch's flush
    writes them with three multi-row statements in the subscriber's
    transaction, with its cursor, and forgets them: the subscriber may run
    several transactions before the actor calls after (a catch-up runs
    up to 20, a live read up to 8), and each must write only its own
    deltas. A batch that fails is forgotten whole (after) and applied
    again from the cursor.  */
#include "analytics.h"
#include "gz_log.h"

#include <stdlib.h>
#include <string.h>

#define SVC "analytics"

static int
s_load (void *arg, const char *id, analytics_fact_t *f)
{
    return analytics_store_fact_get (arg, id, f);
}

void
analytics_consume_init (analytics_t *self)
{
    self->acc = analytics_acc_new (s_load, gz_actor_db (self->actor));
}

void
analytics_consume_destroy (analytics_t *self)
{
    analytics_acc_destroy (&self->acc);
}

void
analytics_after (void *arg, bool committed)
{
    analytics_t *self = arg;
    (void) committed;
    analytics_acc_purge (self->acc);
}

int
analytics_on_intake (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    (void) db; //  the accumulator's loader reads through the actor's db
    analytics_acc_set_org (self->acc, self->org);
    int rc = analytics_acc_intake (self->acc, env);
    if (rc == 1) //  counted and skipped: never fatal
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
    else if (rc == 0 && strcmp (env->type, "RequestSubmitted") == 0)
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"intake\"", 1);
    return rc < 0 ? -1 : 0;
}

int
analytics_on_routing (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    analytics_t *self = arg;
    (void) db;
    analytics_acc_set_org (self->acc, self->org);
    int rc = analytics_acc_routing (self->acc, env);
    if (rc == 1)
        gz_metrics_add (self->metrics, "gz_decode_errors_total", "source=\"routing\"", 1);
    else if (rc == 0)
        gz_metrics_add (self->metrics, "gz_analytics_events_total", "stream=\"routing\"", 1);
    return rc < 0 ? -1 : 0;
}

int
analytics_flush (gz_db_t *db, void *arg)
{
    analytics_t *self = arg;
    int rc = analytics_store_write (db, self->acc);
    if (rc)
        gz_warn (SVC, "msg=\"flush failed\" error=\"%s\"", gz_db_error (db));
    //  Written (or the transaction rolls back): the next transaction
    //  starts from the stored facts, with no deltas.
    analytics_acc_purge (self->acc);
    return rc;
}
