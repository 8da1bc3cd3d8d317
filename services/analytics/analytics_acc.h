/*  analytics_acc: the delta logic shared by the live consumer
    (analytics_consume.c) and `gzctl analytics rebuild|verify`
    (docs/analytics-rebuild.md).

    An accumulator holds the facts an event touched (loaded once through
    its loader: the store for the live consumer, none for a rebuild from
    nothing), the rollup deltas summed per "node|day" and the volume deltas
    per "node|day|dim|value". An event changes one fact; the rollups move
    by the fact's new contribution minus its old one (analytics_fact.h),
    so the same events give the same rollups whichever path applies them.
    No SQL here: the store writes what the accumulator holds.  */
#ifndef ANALYTICS_ACC_H_INCLUDED
#define ANALYTICS_ACC_H_INCLUDED

#include <czmq.h>

#include "analytics_fact.h"
#include "gongzhi/v1/intake.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"
#include "gz_codec.h"
#include "gz_org.h"

typedef struct _analytics_acc_t analytics_acc_t;

//  Fills f (initialised by the caller) with the stored fact of its id:
//  1 found, 0 not, -1 failure.
typedef int (analytics_acc_load_fn) (void *arg, const char *id, analytics_fact_t *f);

//  A new accumulator. load NULL: every fact starts empty. org (borrowed,
//  may be NULL) tells a sub-district's district and a department.
analytics_acc_t *analytics_acc_new (analytics_acc_load_fn *load, void *arg);
void analytics_acc_destroy (analytics_acc_t **self_p);
void analytics_acc_set_org (analytics_acc_t *self, gz_org_t *org);
//  Forget everything (the batch is over).
void analytics_acc_purge (analytics_acc_t *self);

//  Apply an envelope of intake's (RequestSubmitted; other types ignored)
//  or routing's stream (RequestUpdate). 0 applied or ignored, 1 the
//  payload does not decode (count it and go on), -1 the loader failed.
int analytics_acc_intake (analytics_acc_t *self, const gz_envelope_t *env);
int analytics_acc_routing (analytics_acc_t *self, const gz_envelope_t *env);
//  The same, decoded (the live consumer decodes a batch first to load its
//  facts at once): 0 applied, 1 no request id, -1 the loader failed.
//  occurred_at_us: the envelope's, when the update has no at_us.
int analytics_acc_submitted (analytics_acc_t *self, const Gongzhi__V1__RequestSubmitted *ev);
int analytics_acc_update (analytics_acc_t *self, const Gongzhi__V1__RequestUpdate *u,
                          int64_t occurred_at_us);

//  Whether the fact of id is held; hold a copy of fact (loaded by the
//  caller; initialised when not stored), unless one is held already. A
//  held fact is not loaded again until the purge.
bool analytics_acc_has (analytics_acc_t *self, const char *id);
void analytics_acc_put (analytics_acc_t *self, const analytics_fact_t *fact);

//  A fact taken as a whole (verify: from the source tables): its
//  contribution added.
void analytics_acc_add_fact (analytics_acc_t *self, const analytics_fact_t *f);

//  The facts changed since the last purge (array of n, caller frees the
//  array, not the facts: they stay the accumulator's).
analytics_fact_t **analytics_acc_dirty (analytics_acc_t *self, size_t *n);
//  "node|day" -> analytics_counts_t; "node|day|dim|value" -> int64_t.
//  Borrowed.
zhashx_t *analytics_acc_deltas (analytics_acc_t *self);
zhashx_t *analytics_acc_volumes (analytics_acc_t *self);
//  Facts changed (events that moved something) since the start.
uint64_t analytics_acc_applied (analytics_acc_t *self);

#endif
