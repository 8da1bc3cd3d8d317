/*  routing_events: what a transition records besides the request's row:
    the RequestUpdate event staged on routing's stream, the timeline row
    with its JSON detail, and the per-kind transition counts that reach
    the metrics only once their transaction commits. Also the array
    literal builder the consumer's batches are written with (the JSON
    detail is built with it too).  */
#include "routing.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/routing.pb-c.h"

//  ---------------------------------------------------------------- arrays

void
routing_array_put (routing_array_t *a, char c)
{
    if (a->len + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->text = realloc (a->text, a->cap);
        assert (a->text);
    }
    a->text[a->len++] = c;
    a->text[a->len] = 0;
}

void
routing_array_add (routing_array_t *a, const char *value)
{
    if (a->len)
        a->text[a->len - 1] = ','; //  was the closing brace
    else
        routing_array_put (a, '{');
    routing_array_put (a, '"');
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            routing_array_put (a, '\\');
        routing_array_put (a, *p);
    }
    routing_array_put (a, '"');
    routing_array_put (a, '}');
    a->n++;
}

//  value, or an SQL NULL element when value is NULL.
void
routing_array_add_or_null (routing_array_t *a, const char *value)
{
    if (value) {
        routing_array_add (a, value);
        return;
    }
    if (a->len)
        a->text[a->len - 1] = ',';
    else
        routing_array_put (a, '{');
    for (const char *p = "NULL}"; *p; p++)
        routing_array_put (a, *p);
    a->n++;
}

//  Append the elements of the literal src (from routing_array_text) to a.
void
routing_array_cat (routing_array_t *a, const routing_array_t *src)
{
    if (!src->len)
        return;
    size_t from = 0;
    if (a->len) {
        a->text[a->len - 1] = ',';
        from = 1; //  src's opening brace
    }
    for (size_t i = from; i < src->len; i++)
        routing_array_put (a, src->text[i]);
    a->n += src->n;
}

//  The literal; "{}" when nothing was added. Borrowed.
const char *
routing_array_text (const routing_array_t *a)
{
    return a->len ? a->text : "{}";
}

//  ---------------------------------------------------------------- counts

//  Count a staged transition; it reaches the metric only if its
//  transaction commits (routing_core_count_committed).
static void
s_count_kind (routing_core_t *core, const char *kind)
{
    for (int i = 0; i < core->npending_kinds; i++)
        if (strcmp (core->pending_kinds[i].kind, kind) == 0) {
            core->pending_kinds[i].n++;
            return;
        }
    if (core->npending_kinds == (int) (sizeof core->pending_kinds / sizeof core->pending_kinds[0]))
        return; //  more kinds than exist: a programmer error, but only a metric
    int i = core->npending_kinds++;
    snprintf (core->pending_kinds[i].kind, sizeof core->pending_kinds[i].kind, "%s", kind);
    core->pending_kinds[i].n = 1;
}

void
routing_core_count_committed (routing_core_t *core)
{
    for (int i = 0; i < core->npending_kinds; i++) {
        char labels[64];
        snprintf (labels, sizeof labels, "kind=\"%s\"", core->pending_kinds[i].kind);
        gz_metrics_add (core->metrics, "gz_routing_transitions_total", labels,
                        core->pending_kinds[i].n);
    }
    core->npending_kinds = 0;
}

void
routing_core_forget_counts (routing_core_t *core)
{
    core->npending_kinds = 0;
}

//  ---------------------------------------------------------------- events

//  Stage the event of one transition of q (already in its new state) at
//  now.
void
routing_stage_event (routing_core_t *core, const routing_req_t *q, const routing_emit_t *e,
                     const routing_actor_t *actor, int64_t now)
{
    Gongzhi__V1__RequestUpdate ev = GONGZHI__V1__REQUEST_UPDATE__INIT;
    Gongzhi__V1__Assignee as = GONGZHI__V1__ASSIGNEE__INIT, ac = GONGZHI__V1__ASSIGNEE__INIT;
    ev.request_id = q->id;
    ev.kind = (char *) e->kind;
    ev.state = (char *) routing_state_name (q->state);
    ev.tier = (Gongzhi__V1__Tier) q->tier;
    as.staff_id = (char *) routing_str (q->assignee_staff);
    as.staff_name = (char *) routing_str (q->assignee_name);
    as.unit_code = (char *) routing_str (q->assignee_unit);
    as.unit_name = (char *) routing_str (q->assignee_unit_name);
    as.role = (char *) routing_str (q->assignee_role);
    ev.assignee = &as;
    ev.co_handlers = e->co;
    ev.n_co_handlers = e->nco;
    ev.response_due_us = q->response_due_us;
    ev.resolve_due_us = q->resolve_due_us;
    if (actor && actor->role) {
        ac.staff_id = (char *) routing_str (actor->id);
        ac.staff_name = (char *) routing_str (actor->name);
        ac.unit_code = (char *) routing_str (actor->unit);
        ac.unit_name = (char *) routing_str (actor->unit_name);
        ac.role = (char *) actor->role;
        ev.actor = &ac;
    }
    ev.note = (char *) routing_str (e->note);
    ev.score = e->score;
    ev.satisfied = e->satisfied == 1;
    ev.merged_into = (char *) routing_str (q->merged_into);
    ev.escalation_level = e->escalation_level;
    ev.at_us = now;
    ev.service_code = q->service_code;
    ev.grid_code = (char *) routing_str (q->grid_code);
    ev.community_code = (char *) routing_str (q->community_code);
    ev.subdistrict_code = (char *) routing_str (q->subdistrict_code);
    ev.deadline = (char *) routing_str (e->deadline);
    ev.media_url = (char *) routing_str (e->media_url);
    ev.outcome = (char *) routing_str (e->outcome);
    ev.n_photos = e->nphotos;
    ev.photos = (char **) e->photos;
    char topic[256];
    snprintf (topic, sizeof topic, "%s/%s/%s", e->type,
              q->subdistrict_code ? q->subdistrict_code : "-",
              q->community_code ? q->community_code : "-");
    gz_bus_pub_stage_msg (core->pub, e->type, q->id, topic, &ev.base);
    s_count_kind (core, e->kind);
}

//  Append text to b as it is.
static void
s_buf_puts (routing_array_t *b, const char *text)
{
    for (; *text; text++)
        routing_array_put (b, *text);
}

//  Append ,"key": (no comma first) to the JSON object open in b.
static void
s_json_key (routing_array_t *b, const char *key)
{
    if (b->len > 1)
        routing_array_put (b, ',');
    routing_array_put (b, '"');
    s_buf_puts (b, key);
    s_buf_puts (b, "\":");
}

static void s_json_str (routing_array_t *b, const char *value);

//  Append ,"key":"value" (no comma first) when value is not NULL.
static void
s_json_field (routing_array_t *b, const char *key, const char *value)
{
    if (!value)
        return;
    s_json_key (b, key);
    s_json_str (b, value);
}

//  Append value to b as a JSON string.
static void
s_json_str (routing_array_t *b, const char *value)
{
    routing_array_put (b, '"');
    for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
        if (*p == '"' || *p == '\\') {
            routing_array_put (b, '\\');
            routing_array_put (b, (char) *p);
        }
        else if (*p < 0x20) {
            char u[8];
            snprintf (u, sizeof u, "\\u%04x", *p);
            s_buf_puts (b, u);
        }
        else
            routing_array_put (b, (char) *p);
    }
    routing_array_put (b, '"');
}

static void
s_json_int (routing_array_t *b, long value)
{
    char n[24];
    snprintf (n, sizeof n, "%ld", value);
    s_buf_puts (b, n);
}

bool
routing_timeline_staff_only (const char *kind)
{
    //  Rows written outside the state machine, never published as
    //  events (so intake's status page never hears of them either).
    return kind && strcmp (kind, "contact_viewed") == 0;
}

bool
routing_timeline_resident_hidden (const char *kind)
{
    return routing_timeline_staff_only (kind) || (kind && strcmp (kind, "deadline_warning") == 0);
}

//  The timeline row's detail (a JSON object) of one transition. Written
//  by hand: jansson's tree and dump were a fifth of routing's CPU per
//  routed request. Caller frees.
char *
routing_timeline_detail (const routing_req_t *q, const routing_emit_t *e)
{
    routing_array_t b = {0};
    routing_array_put (&b, '{');
    s_json_field (&b, "outcome", e->outcome);
    s_json_field (&b, "deadline", e->deadline);
    s_json_field (&b, "media_url", e->media_url);
    if (e->nphotos) {
        s_json_key (&b, "photos");
        routing_array_put (&b, '[');
        for (size_t i = 0; i < e->nphotos; i++) {
            if (i)
                routing_array_put (&b, ',');
            s_json_str (&b, e->photos[i]);
        }
        routing_array_put (&b, ']');
    }
    if (e->score) {
        s_json_key (&b, "score");
        s_json_int (&b, e->score);
    }
    if (e->satisfied >= 0 && e->score) {
        s_json_key (&b, "satisfied");
        s_buf_puts (&b, e->satisfied == 1 ? "true" : "false");
    }
    if (e->escalation_level) {
        s_json_key (&b, "escalation_level");
        s_json_int (&b, e->escalation_level);
    }
    if (q->assignee_unit && *q->assignee_unit) {
        s_json_key (&b, "assignee");
        s_buf_puts (&b, "{\"staff_id\":");
        s_json_str (&b, routing_str (q->assignee_staff));
        s_buf_puts (&b, ",\"name\":");
        s_json_str (&b, routing_str (q->assignee_name));
        s_buf_puts (&b, ",\"unit_code\":");
        s_json_str (&b, routing_str (q->assignee_unit));
        s_buf_puts (&b, ",\"unit_name\":");
        s_json_str (&b, routing_str (q->assignee_unit_name));
        routing_array_put (&b, '}');
    }
    routing_array_put (&b, '}');
    return b.text;
}

//  Stage the event and write the timeline row for one transition of q
//  (already in its new state). 0 ok, -1 failure.
int
routing_emit (routing_core_t *core, const routing_req_t *q, const routing_emit_t *e,
              const routing_actor_t *actor)
{
    int64_t now = routing_now (core);
    routing_stage_event (core, q, e, actor, now);
    char *dj = routing_timeline_detail (q, e);
    int rc = routing_store_timeline (core, q->id, now, e->kind, q->state, actor ? actor->id : NULL,
                                     actor ? routing_str (actor->name) : "",
                                     actor && actor->role ? actor->role : "system",
                                     routing_str (e->note), dj);
    free (dj);
    return rc;
}
