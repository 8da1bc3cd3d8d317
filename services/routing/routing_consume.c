/*  routing_consume: the bus consumer's handler for intake's stream.
    Every RequestSubmitted is routed once, inside the consumer's
    transaction (so its row, timers, co-handlers, timeline row and event
    commit with the cursor): merged into an open duplicate (same building
    and category, recent), or matched against the rules, assigned on the
    ladder (routing_assign.c) and given its deadlines. See "batches" for
    how a consumer batch is written with two round trips.  */
#include "gz_log.h"
#include "routing.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/routing.pb-c.h"

#define SVC "routing"

typedef struct {
    routing_array_t a[6]; //  rt_route: co units, unit names, staff, staff names; timer kinds, times
} s_arrays_t;

//  ---------------------------------------------------------------- batches
//
//  With core->batched, routing_on_event only keeps the RequestSubmitted
//  events of the consumer's batch; routing_on_flush, called inside the
//  consumer's transaction after the last of them, routes them in order
//  as s_route does one by one, except that the merge leads of the whole
//  batch come from one statement (rt_merge_leads), a request merges into
//  a lead routed earlier in the same batch from memory (its follower
//  count goes into the lead's row), and every row goes to its table in
//  one statement (rt_route_batch): two round trips per batch instead of
//  two per request. Events are staged and load counts moved as each
//  request is planned, as before; a failure rolls all of it back.
//
//  A request that exists already (a repeated event) would make what was
//  planned after it wrong (a merge into it copies the planned row, not
//  the stored one), so a conflict fails the batch and sets core->direct:
//  the retry (the consumer's catch-up) routes one request at a time,
//  exactly as before, and its flush turns batching back on.

enum {
    S_COL_FOLLOWERS = 28,        //  0..28 the requests' columns
    S_COL_FOL_IDS,               //  leads stored already, once per follower
    S_COL_TIMERS,                //  3: request, kind, at
    S_COL_CO = S_COL_TIMERS + 3, //  5: request, unit, unit name, staff, staff name
    S_COL_TL = S_COL_CO + 5,     //  6: request, at, kind, state, note, detail
    S_COLS = S_COL_TL + 6
};

typedef struct {
    routing_req_t q; //  what a follower copies
    size_t row;      //  its row in the batch
} s_lead_t;

struct _routing_batch_t {
    Gongzhi__V1__RequestSubmitted **evs;
    size_t nevs, evs_cap;
    routing_array_t col[S_COLS]; //  rt_route_batch's parameters
    int *followers;              //  per row
    size_t rows, rows_cap;
    zhashx_t *leads;      //  "building\x1fcategory" -> s_lead_t, routed in this batch
    zhashx_t *stored;     //  same key -> 1 + index in found
    routing_req_t *found; //  rt_merge_leads: leads stored already
    size_t nfound;
};

static void
s_lead_free (void **item)
{
    s_lead_t *l = *item;
    if (l) {
        routing_req_clear (&l->q);
        free (l);
    }
    *item = NULL;
}

static struct _routing_batch_t *
s_batch_new (void)
{
    struct _routing_batch_t *self = calloc (1, sizeof *self);
    assert (self);
    self->leads = zhashx_new ();
    zhashx_set_destructor (self->leads, s_lead_free);
    self->stored = zhashx_new ();
    return self;
}

//  Forget the batch (after its flush, whatever the outcome).
static void
s_batch_reset (struct _routing_batch_t *self)
{
    for (size_t i = 0; i < self->nevs; i++)
        gongzhi__v1__request_submitted__free_unpacked (self->evs[i], NULL);
    self->nevs = 0;
    for (int i = 0; i < S_COLS; i++)
        self->col[i].len = self->col[i].n = 0;
    self->rows = 0;
    zhashx_purge (self->leads);
    zhashx_purge (self->stored);
    for (size_t i = 0; i < self->nfound; i++)
        routing_req_clear (&self->found[i]);
    free (self->found);
    self->found = NULL;
    self->nfound = 0;
}

static void
s_batch_destroy (struct _routing_batch_t **self_p)
{
    struct _routing_batch_t *self = *self_p;
    if (!self)
        return;
    s_batch_reset (self);
    for (int i = 0; i < S_COLS; i++)
        free (self->col[i].text);
    zhashx_destroy (&self->leads);
    zhashx_destroy (&self->stored);
    free (self->evs);
    free (self->followers);
    free (self);
    *self_p = NULL;
}

static void
s_merge_key (char *out, size_t len, const char *building, const char *category)
{
    snprintf (out, len, "%s\x1f%s", building, category);
}

//  ---------------------------------------------------------------- routing

static const char *
s_tier_label (int tier)
{
    return tier == 3 ? "疑难事项" : tier == 2 ? "上级事项" : "本级事项";
}

//  Fallback when the rules do not cover a category (they should).
static const routing_rule_t s_fallback_rule = {
    0, "*", NULL, "*", ROUTING_TIER_LOCAL, ROUTING_LEAD_GRID, NULL, NULL, 2 * 3600, 72 * 3600};

//  Co-handling departments of a hard request: the event's entries, and
//  the rows' columns as array literals for rt_route (units, unit names,
//  staff ids, staff names; staff "" = none).
static int
s_co_handlers (routing_core_t *core, const routing_rule_t *rule, Gongzhi__V1__Assignee *co,
               Gongzhi__V1__Assignee **cop, size_t max, size_t *n, s_arrays_t *rows)
{
    *n = 0;
    for (size_t i = 0; rule->co_handlers && rule->co_handlers[i] && *n < max; i++) {
        const char *dept = rule->co_handlers[i];
        const gz_staff_t *s = NULL;
        if (routing_pick_staff (core, dept, "department_contact", false, &s) < 0)
            return -1;
        const char *uname = gz_org_unit_name (core->org, dept);
        routing_array_add (&rows->a[0], dept);
        routing_array_add (&rows->a[1], routing_str (uname));
        routing_array_add (&rows->a[2], s ? s->id : "");
        routing_array_add (&rows->a[3], s ? s->name : "");
        gongzhi__v1__assignee__init (&co[*n]);
        co[*n].staff_id = (char *) (s ? s->id : "");
        co[*n].staff_name = (char *) (s ? s->name : "");
        co[*n].unit_code = (char *) dept;
        co[*n].unit_name = (char *) routing_str (uname);
        co[*n].role = (char *) (s ? s->role : "department");
        cop[*n] = &co[*n];
        (*n)++;
    }
    return 0;
}

//  The request's own columns (0 .. S_COL_FOLLOWERS-1), shared by the
//  single-row rt_route and the batch rt_route_batch; t holds the text the
//  numbers are written into, so v is valid as long as t is.
typedef struct {
    char sub[24], nowt[24], tier[8], line[16], level[8], rs[24], ss[24], rdue[24], sdue[24];
} s_row_text_t;

static void
s_request_values (const Gongzhi__V1__RequestSubmitted *ev, const routing_req_t *q, int rule_line,
                  int64_t now, s_row_text_t *t, const char *v[S_COL_FOLLOWERS])
{
    snprintf (t->sub, sizeof t->sub, "%lld",
              (long long) (ev->submitted_at_us ? ev->submitted_at_us : now));
    snprintf (t->nowt, sizeof t->nowt, "%lld", (long long) now);
    snprintf (t->tier, sizeof t->tier, "%d", q->tier);
    snprintf (t->line, sizeof t->line, "%d", rule_line);
    snprintf (t->level, sizeof t->level, "%d", q->level);
    snprintf (t->rs, sizeof t->rs, "%lld", (long long) q->response_s);
    snprintf (t->ss, sizeof t->ss, "%lld", (long long) q->resolve_s);
    snprintf (t->rdue, sizeof t->rdue, "%lld", (long long) q->response_due_us);
    snprintf (t->sdue, sizeof t->sdue, "%lld", (long long) q->resolve_due_us);
    const char *channel = "";
    const ProtobufCEnumValue *cv =
        protobuf_c_enum_descriptor_get_value (&gongzhi__v1__channel__descriptor, ev->channel);
    if (cv)
        channel = cv->name;
    const char *values[S_COL_FOLLOWERS] = {q->id,
                                           q->service_code,
                                           routing_str (ev->description),
                                           channel,
                                           q->building_code,
                                           q->grid_code,
                                           q->community_code,
                                           q->subdistrict_code,
                                           ev->meeting_id && *ev->meeting_id ? ev->meeting_id
                                                                             : NULL,
                                           ev->media_url && *ev->media_url ? ev->media_url : NULL,
                                           routing_str (ev->resident_token_sha256),
                                           t->sub,
                                           t->nowt,
                                           routing_state_name (q->state),
                                           t->tier,
                                           t->line,
                                           q->lead_code,
                                           t->level,
                                           q->assignee_staff,
                                           routing_str (q->assignee_name),
                                           routing_str (q->assignee_unit),
                                           routing_str (q->assignee_unit_name),
                                           routing_str (q->assignee_role),
                                           q->merged_into,
                                           t->rs,
                                           t->ss,
                                           t->rdue,
                                           t->sdue};
    memcpy (v, values, sizeof values);
}

//  Write a routed or merged request q with everything that goes with it
//  (rt_route): its row, the lead's follower count (merged), its timers
//  and co-handlers (routed), its timeline row for the transition e. Sets
//  *inserted false when the request was there already (a replay).
static int
s_insert (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev, const routing_req_t *q,
          int rule_line, int64_t now, const routing_emit_t *e, const s_arrays_t *arrays,
          bool *inserted)
{
    s_row_text_t t;
    const char *v[37];
    s_request_values (ev, q, rule_line, now, &t, v);
    char *detail = routing_timeline_detail (q, e);
    const char *rest[37 - S_COL_FOLLOWERS] = {routing_array_text (&arrays->a[4]),
                                              routing_array_text (&arrays->a[5]),
                                              routing_array_text (&arrays->a[0]),
                                              routing_array_text (&arrays->a[1]),
                                              routing_array_text (&arrays->a[2]),
                                              routing_array_text (&arrays->a[3]),
                                              e->kind,
                                              routing_str (e->note),
                                              detail};
    memcpy (v + S_COL_FOLLOWERS, rest, sizeof rest);
    int rc = routing_store_route (core, v, inserted);
    free (detail);
    return rc;
}

//  What s_insert writes, as one row more of batch b (rt_route_batch).
static void
s_batch_row (struct _routing_batch_t *b, const Gongzhi__V1__RequestSubmitted *ev,
             const routing_req_t *q, int rule_line, int64_t now, const routing_emit_t *e,
             const s_arrays_t *arrays)
{
    s_row_text_t t;
    const char *v[S_COL_FOLLOWERS];
    s_request_values (ev, q, rule_line, now, &t, v);
    char *detail = routing_timeline_detail (q, e);
    for (int i = 0; i < S_COL_FOLLOWERS; i++)
        routing_array_add_or_null (&b->col[i], v[i]);
    if (b->rows == b->rows_cap) {
        b->rows_cap = b->rows_cap ? b->rows_cap * 2 : 64;
        b->followers = realloc (b->followers, b->rows_cap * sizeof *b->followers);
        assert (b->followers);
    }
    b->followers[b->rows++] = 0;
    for (size_t i = 0; i < arrays->a[4].n; i++)
        routing_array_add (&b->col[S_COL_TIMERS], q->id);
    routing_array_cat (&b->col[S_COL_TIMERS + 1], &arrays->a[4]);
    routing_array_cat (&b->col[S_COL_TIMERS + 2], &arrays->a[5]);
    for (size_t i = 0; i < arrays->a[0].n; i++)
        routing_array_add (&b->col[S_COL_CO], q->id);
    for (int i = 0; i < 4; i++)
        routing_array_cat (&b->col[S_COL_CO + 1 + i], &arrays->a[i]);
    const char *tl[6] = {
        q->id, t.nowt, e->kind, routing_state_name (q->state), routing_str (e->note), detail};
    for (int i = 0; i < 6; i++)
        routing_array_add (&b->col[S_COL_TL + i], tl[i]);
    free (detail);
}

//  Write q: at once (s_insert), or as a row of batch b (then it counts
//  as inserted; a conflict fails the batch in routing_on_flush).
static int
s_write (routing_core_t *core, struct _routing_batch_t *b, const Gongzhi__V1__RequestSubmitted *ev,
         const routing_req_t *q, int rule_line, int64_t now, const routing_emit_t *e,
         const s_arrays_t *arrays, bool *inserted)
{
    if (!b)
        return s_insert (core, ev, q, rule_line, now, e, arrays, inserted);
    s_batch_row (b, ev, q, rule_line, now, e, arrays);
    *inserted = true;
    return 0;
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

//  q follows lead (a lead of the batch, or one stored already).
static void
s_follow (routing_req_t *q, const routing_req_t *lead)
{
    q->merged_into = strdup (lead->id);
    q->tier = lead->tier;
    q->level = lead->level;
    q->lead_code = s_dup (lead->lead_code);
    q->assignee_staff = s_dup (lead->assignee_staff);
    q->assignee_name = s_dup (lead->assignee_name);
    q->assignee_unit = s_dup (lead->assignee_unit);
    q->assignee_unit_name = s_dup (lead->assignee_unit_name);
    q->assignee_role = s_dup (lead->assignee_role);
    q->response_s = lead->response_s;
    q->resolve_s = lead->resolve_s;
    q->response_due_us = lead->response_due_us;
    q->resolve_due_us = lead->resolve_due_us;
}

//  The copy of routed q that later requests of batch b merge into.
static void
s_lead_keep (struct _routing_batch_t *b, const routing_req_t *q)
{
    char key[512];
    s_merge_key (key, sizeof key, q->building_code, q->service_code);
    s_lead_t *l = calloc (1, sizeof *l);
    assert (l);
    l->row = b->rows - 1;
    l->q.id = strdup (q->id);
    l->q.tier = q->tier;
    l->q.level = q->level;
    l->q.lead_code = routing_dup_or_null (q->lead_code);
    l->q.assignee_staff = routing_dup_or_null (q->assignee_staff);
    l->q.assignee_name = routing_dup_or_null (q->assignee_name);
    l->q.assignee_unit = routing_dup_or_null (q->assignee_unit);
    l->q.assignee_unit_name = routing_dup_or_null (q->assignee_unit_name);
    l->q.assignee_role = routing_dup_or_null (q->assignee_role);
    l->q.response_s = q->response_s;
    l->q.resolve_s = q->resolve_s;
    l->q.response_due_us = q->response_due_us;
    l->q.resolve_due_us = q->resolve_due_us;
    if (zhashx_insert (b->leads, key, l))
        s_lead_free ((void **) &l); //  the first stays the lead
}

//  The open duplicate q merges into, copied into q (rt_merge_lead: one
//  round trip; in a batch, from memory). 1 found, 0 none, -1 failure.
static int
s_merge_lead (routing_core_t *core, struct _routing_batch_t *b, routing_req_t *q, int64_t now)
{
    if (b) {
        char key[512];
        s_merge_key (key, sizeof key, q->building_code, q->service_code);
        s_lead_t *l = zhashx_lookup (b->leads, key);
        if (l) {
            s_follow (q, &l->q);
            b->followers[l->row]++;
            return 1;
        }
        uintptr_t at = (uintptr_t) zhashx_lookup (b->stored, key);
        if (!at)
            return 0;
        s_follow (q, &b->found[at - 1]);
        routing_array_add (&b->col[S_COL_FOL_IDS], q->merged_into);
        return 1;
    }
    char since[24];
    snprintf (since, sizeof since, "%lld",
              (long long) (now - routing_rules_merge_window_s (core->rules) * 1000000));
    return routing_store_merge_lead (core, q, since);
}

//  q follows an open duplicate (s_merge_lead found it): write it as
//  merged. 0 ok, -1 failure.
static int
s_route_merged (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev,
                struct _routing_batch_t *b, routing_req_t *q, int64_t now)
{
    char note[512];
    routing_emit_t e = {0};
    e.satisfied = -1;
    s_arrays_t arrays;
    memset (&arrays, 0, sizeof arrays);
    q->state = ROUTING_STATE_MERGED;
    snprintf (note, sizeof note,
              "同一楼栋已有相同问题正在办理（诉求 "
              "%s），您的诉求已合并，将一并处理并告知您结果",
              q->merged_into);
    e.type = "RequestMerged";
    e.kind = "merged";
    e.note = note;
    bool inserted = false;
    if (s_write (core, b, ev, q, 0, now, &e, &arrays, &inserted))
        return -1;
    if (inserted) {
        routing_stage_event (core, q, &e, NULL, now);
        core->pending_merged++;
    }
    return 0;
}

//  The rule for q (the fallback when none matches).
static const routing_rule_t *
s_rule (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev, const routing_req_t *q)
{
    const routing_rule_t *rule =
        core->rules
            ? routing_rules_match (core->rules, q->service_code, routing_str (ev->description),
                                   q->subdistrict_code, q->community_code)
            : NULL;
    if (!rule) {
        gz_warn (SVC, "msg=\"no rule matches; using the fallback\" request=%s category=%s", q->id,
                 q->service_code);
        rule = &s_fallback_rule;
    }
    return rule;
}

//  The first generation of both deadlines' timers of a new request (it
//  has none to cancel), as routing_arm_deadline would arm them, into
//  arrays' timer columns.
static void
s_first_timers (routing_core_t *core, const routing_req_t *q, s_arrays_t *arrays)
{
    static const char *const kinds[4] = {"response_warn", "response_due", "resolve_warn",
                                         "resolve_due"};
    int64_t fire[4] = {routing_warn_at (core, q->response_due_us, q->response_s),
                       q->response_due_us, routing_warn_at (core, q->resolve_due_us, q->resolve_s),
                       q->resolve_due_us};
    for (int i = 0; i < 4; i++) {
        char at_us[24];
        snprintf (at_us, sizeof at_us, "%lld", (long long) fire[i]);
        routing_array_add (&arrays->a[4], kinds[i]);
        routing_array_add (&arrays->a[5], at_us);
    }
}

//  Route q by its rule: assign it, set its deadlines and co-handlers,
//  write it as routed. 0 ok, -1 failure.
static int
s_route_rule (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev,
              struct _routing_batch_t *b, routing_req_t *q, int64_t now, s_arrays_t *arrays)
{
    const routing_rule_t *rule = s_rule (core, ev, q);
    q->tier = (int) rule->tier;
    q->lead_code =
        rule->lead == ROUTING_LEAD_DEPARTMENT && rule->lead_code ? strdup (rule->lead_code) : NULL;
    int level = rule->lead == ROUTING_LEAD_GRID          ? 0
                : rule->lead == ROUTING_LEAD_COMMUNITY   ? 1
                : rule->lead == ROUTING_LEAD_SUBDISTRICT ? 2
                                                         : 3;
    int at = routing_assign_from (core, q, level);
    if (at == -2)
        return -1;
    if (at == -1) {
        gz_warn (SVC, "msg=\"nobody to assign; left with no assignee\" request=%s", q->id);
        q->level = level;
    }
    q->state = ROUTING_STATE_ASSIGNED;
    q->response_s = rule->respond_s;
    q->resolve_s = rule->resolve_s;
    q->response_due_us = now + rule->respond_s * 1000000;
    q->resolve_due_us = now + rule->resolve_s * 1000000;
    Gongzhi__V1__Assignee co[16];
    Gongzhi__V1__Assignee *cop[16];
    size_t nco = 0;
    if (rule->tier == ROUTING_TIER_HARD && s_co_handlers (core, rule, co, cop, 16, &nco, arrays))
        return -1;
    s_first_timers (core, q, arrays);
    char prefix[64], note[512];
    snprintf (prefix, sizeof prefix, "%s，已派单给", s_tier_label (q->tier));
    if (at >= 0)
        routing_assignee_note (q, prefix, nco ? "牵头办理，相关部门协同" : "办理", note,
                               sizeof note);
    else
        snprintf (note, sizeof note, "%s，等待派单", s_tier_label (q->tier));
    routing_emit_t e = {0};
    e.satisfied = -1;
    e.type = "RequestRouted";
    e.kind = "routed";
    e.note = note;
    e.co = cop;
    e.nco = nco;
    bool inserted = false;
    if (s_write (core, b, ev, q, rule->line, now, &e, arrays, &inserted))
        return -1;
    if (b && q->building_code && core->rules)
        s_lead_keep (b, q);
    if (inserted) {
        routing_load_move (core, q->assignee_staff, 1);
        routing_stage_event (core, q, &e, NULL, now);
        core->pending_routed[q->tier]++;
    }
    return 0;
}

//  Route one submitted request inside the consumer's transaction at now:
//  one round trip to look for an open duplicate, one to write (rt_route);
//  the candidates' loads come from the load cache. A replayed event
//  (routed already) conflicts in rt_route and changes nothing: once only.
//  With a batch b, the lead comes from b and the rows go into b.
static int
s_route (routing_core_t *core, const Gongzhi__V1__RequestSubmitted *ev, struct _routing_batch_t *b,
         int64_t now)
{
    routing_req_t q = {0};
    q.id = strdup (ev->request_id);
    q.service_code = strdup (routing_str (ev->service_code));
    q.building_code = routing_dup_or_null (ev->building_code);
    q.grid_code = routing_dup_or_null (ev->grid_code);
    q.community_code = routing_dup_or_null (ev->community_code);
    q.subdistrict_code = routing_dup_or_null (ev->subdistrict_code);
    q.responded_at_us = q.resolved_at_us = q.closed_at_us = -1;
    q.satisfied = -1;
    int found = 0, rc;
    //  Merge into an open duplicate: same building and category, recent.
    if (q.building_code && core->rules)
        found = s_merge_lead (core, b, &q, now);
    if (found < 0)
        rc = -1;
    else if (found)
        rc = s_route_merged (core, ev, b, &q, now);
    else {
        s_arrays_t arrays;
        memset (&arrays, 0, sizeof arrays);
        rc = s_route_rule (core, ev, b, &q, now, &arrays);
        for (int i = 0; i < 6; i++)
            free (arrays.a[i].text);
    }
    routing_req_clear (&q);
    return rc;
}

int
routing_on_event (gz_db_t *db, const gz_envelope_t *env, void *arg)
{
    routing_core_t *core = arg;
    assert (db == core->db);
    if (!env->type || strcmp (env->type, "RequestSubmitted") != 0)
        return 0;
    Gongzhi__V1__RequestSubmitted *ev =
        gongzhi__v1__request_submitted__unpack (NULL, env->payload.len, env->payload.data);
    if (!ev || !ev->request_id || !*ev->request_id || !ev->service_code) {
        gz_metrics_add (core->metrics, "gz_decode_errors_total", "source=\"intake\"", 1);
        if (ev)
            gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
        return 0;
    }
    if (core->batched && !core->direct) {
        struct _routing_batch_t *b = core->batch;
        if (b->nevs == b->evs_cap) {
            b->evs_cap = b->evs_cap ? b->evs_cap * 2 : 64;
            b->evs = realloc (b->evs, b->evs_cap * sizeof *b->evs);
            assert (b->evs);
        }
        b->evs[b->nevs++] = ev; //  routed by routing_on_flush
        return 0;
    }
    int rc = s_route (core, ev, NULL, routing_now (core));
    gongzhi__v1__request_submitted__free_unpacked (ev, NULL);
    return rc;
}

//  The leads stored already of every (building, category) pair of batch
//  b, locked (rt_merge_leads), into b->found and b->stored. 0 ok, -1
//  failure.
static int
s_batch_leads (routing_core_t *core, struct _routing_batch_t *b, int64_t now)
{
    routing_array_t bs = {0}, cs = {0};
    for (size_t i = 0; i < b->nevs; i++)
        if (b->evs[i]->building_code && *b->evs[i]->building_code) {
            routing_array_add (&bs, b->evs[i]->building_code);
            routing_array_add (&cs, b->evs[i]->service_code);
        }
    int rc = 0;
    if (bs.n) {
        char since[24];
        snprintf (since, sizeof since, "%lld",
                  (long long) (now - routing_rules_merge_window_s (core->rules) * 1000000));
        rc = routing_store_merge_leads (core, routing_array_text (&bs), routing_array_text (&cs),
                                        since, &b->found, &b->nfound);
        for (size_t i = 0; rc == 0 && i < b->nfound; i++) {
            char key[512];
            s_merge_key (key, sizeof key, routing_str (b->found[i].building_code),
                         routing_str (b->found[i].service_code));
            zhashx_insert (b->stored, key, (void *) (uintptr_t) (i + 1));
        }
    }
    free (bs.text);
    free (cs.text);
    return rc;
}

//  Route the requests of batch b and write them (rt_route_batch). 0 ok,
//  -1 failure (core->direct set when a request existed already).
static int
s_flush (routing_core_t *core, struct _routing_batch_t *b, int64_t now)
{
    if (core->rules && s_batch_leads (core, b, now))
        return -1;
    for (size_t i = 0; i < b->nevs; i++)
        if (s_route (core, b->evs[i], b, now))
            return -1;
    for (size_t i = 0; i < b->rows; i++) {
        char n[16];
        snprintf (n, sizeof n, "%d", b->followers[i]);
        routing_array_add (&b->col[S_COL_FOLLOWERS], n);
    }
    const char *v[S_COLS];
    for (int i = 0; i < S_COLS; i++)
        v[i] = routing_array_text (&b->col[i]);
    long long inserted;
    if (routing_store_route_batch (core, S_COLS, v, &inserted))
        return -1;
    if (inserted != (long long) b->rows) {
        gz_warn (SVC,
                 "msg=\"a request of the batch exists already; routing it one by one\" "
                 "requests=%zu inserted=%lld",
                 b->rows, inserted);
        core->direct = true;
        return -1;
    }
    return 0;
}

int
routing_on_flush (gz_db_t *db, void *arg)
{
    routing_core_t *core = arg;
    assert (db == core->db);
    struct _routing_batch_t *b = core->batch;
    //  A batch routed one by one is done: batch the next one again.
    core->direct = false;
    if (b->nevs == 0)
        return 0;
    int rc = s_flush (core, b, routing_now (core));
    s_batch_reset (b);
    return rc;
}

void
routing_core_prepare (routing_core_t *core)
{
    if (!core->loads)
        core->loads = routing_loads_new ();
    if (!core->batch)
        core->batch = s_batch_new ();
    routing_store_prepare (core);
}

void
routing_core_release (routing_core_t *core)
{
    zhashx_destroy (&core->loads);
    s_batch_destroy (&core->batch);
}
