/*  routing_assign: who gets a request. The ladder (grid worker,
    community duty, sub-district coordinator, department contact), the
    dispatcher for requests with no place in it, least-loaded choice
    among candidates with the actor's load cache, escalation one rung up,
    and the check of the rules' departments against the org directory.  */
#include "routing.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------- load cache
//
//  Least-loaded assignment needs the open requests of each candidate.
//  Counting them in PostgreSQL for every request costs a round trip and a
//  scan that grows with the open requests of the candidates (the index
//  holds every open request of a staff member). So the actor keeps the
//  counts: a count is read from PostgreSQL (inside the current
//  transaction, so it includes this transaction's own writes) when a
//  candidate has none or it is older than S_LOAD_TTL_MS, and moved by
//  every transition this actor makes itself (routing_load_move, right after
//  the write). A rollback forgets them all (routing_core_forget_loads),
//  since moves made in it did not happen. With one replica the counts
//  are then exact; with several, another replica's transitions show up
//  within S_LOAD_TTL_MS. A count only picks among candidates (and judges
//  max_open, which is a soft cap): PostgreSQL stays the truth of every
//  request's state and assignee.

#define S_LOAD_TTL_MS 2000

typedef struct {
    long open;
    int64_t counted_ms; //  when read from PostgreSQL (zclock_mono)
} s_load_t;

static void
s_load_free (void **item)
{
    free (*item);
    *item = NULL;
}

zhashx_t *
routing_loads_new (void)
{
    zhashx_t *loads = zhashx_new ();
    zhashx_set_destructor (loads, s_load_free);
    return loads;
}

void
routing_core_forget_loads (routing_core_t *core)
{
    if (core->loads)
        zhashx_purge (core->loads);
}

//  One request more (delta 1) or less (-1) in hand for staff_id.
void
routing_load_move (routing_core_t *core, const char *staff_id, int delta)
{
    s_load_t *l = staff_id ? zhashx_lookup (core->loads, staff_id) : NULL;
    if (l)
        l->open += delta;
}

//  Store q's row and move the load cache from what was stored to q.
int
routing_req_save (routing_core_t *core, routing_req_t *q)
{
    if (routing_store_save (core, q))
        return -1;
    if (routing_state_open (q->saved_state))
        routing_load_move (core, q->saved_staff, -1);
    if (routing_state_open (q->state))
        routing_load_move (core, q->assignee_staff, 1);
    q->saved_state = q->state;
    routing_set (&q->saved_staff, q->assignee_staff);
    return 0;
}

//  ---------------------------------------------------------------- assignment

//  Open requests per staff id, for candidates cand[0..n-1] into load[]:
//  from the load cache, counting in PostgreSQL (one round trip) only the
//  candidates it has no fresh count of.
static int
s_loads (routing_core_t *core, const gz_staff_t **cand, size_t n, long *load)
{
    int64_t now = zclock_mono ();
    size_t len = 3, stale = 0;
    for (size_t i = 0; i < n; i++) {
        s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
        if (!l || now - l->counted_ms >= S_LOAD_TTL_MS) {
            len += strlen (cand[i]->id) + 1;
            stale++;
        }
    }
    if (stale) {
        char *arr = malloc (len);
        assert (arr);
        char *p = arr;
        *p++ = '{';
        for (size_t i = 0, k = 0; i < n; i++) {
            s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
            if (!l || now - l->counted_ms >= S_LOAD_TTL_MS)
                p += sprintf (p, "%s%s", k++ ? "," : "",
                              cand[i]->id); //  ids are [A-Za-z0-9._-]
        }
        *p++ = '}';
        *p = 0;
        routing_count_t *counts;
        size_t ncounts;
        int rc = routing_store_load_counts (core, arr, &counts, &ncounts);
        free (arr);
        if (rc)
            return -1;
        for (size_t i = 0; i < ncounts; i++) {
            s_load_t *l = zhashx_lookup (core->loads, counts[i].staff_id);
            if (!l) {
                l = calloc (1, sizeof *l);
                assert (l);
                zhashx_insert (core->loads, counts[i].staff_id, l);
            }
            l->open = counts[i].open;
            l->counted_ms = now;
        }
        free (counts);
    }
    for (size_t i = 0; i < n; i++) {
        s_load_t *l = zhashx_lookup (core->loads, cand[i]->id);
        load[i] = l ? l->open : 0;
    }
    return 0;
}

//  Least-loaded staff of unit with role. strict: on duty and under
//  max_open only; otherwise on duty preferred, then anyone. 1 found, 0
//  none, -1 failure.
int
routing_pick_staff (routing_core_t *core, const char *unit, const char *role, bool strict,
                    const gz_staff_t **out)
{
    *out = NULL;
    if (!unit)
        return 0;
    const gz_staff_t *cand[32];
    size_t n = gz_org_unit_staff (core->org, unit, role, cand, 32);
    if (n > 32)
        n = 32;
    if (n == 0)
        return 0;
    long load[32] = {0};
    if (s_loads (core, cand, n, load))
        return -1;
    int best = -1, best_rank = 99;
    for (size_t i = 0; i < n; i++) {
        bool over = cand[i]->max_open >= 0 && load[i] >= cand[i]->max_open;
        int rank = cand[i]->on_duty && !over ? 0 : cand[i]->on_duty ? 1 : 2;
        if (strict && rank > 0)
            continue;
        if (best < 0 || rank < best_rank || (rank == best_rank && load[i] < load[best])) {
            best = (int) i;
            best_rank = rank;
        }
    }
    if (best < 0)
        return 0;
    *out = cand[best];
    return 1;
}

static void
s_pick_from_staff (routing_core_t *core, const gz_staff_t *s, routing_pick_t *p)
{
    p->staff_id = s->id;
    p->name = s->name;
    p->unit = s->unit_code;
    p->unit_name = gz_org_unit_name (core->org, s->unit_code);
    p->role = s->role;
}

//  The department for rung 3: the rule's lead, else the first department
//  paired (结对) with the community.
static const char *
s_department (routing_core_t *core, const routing_req_t *q)
{
    if (q->lead_code)
        return q->lead_code;
    const char *dept[1];
    if (q->community_code && gz_org_paired_departments (core->org, q->community_code, dept, 1))
        return dept[0];
    return NULL;
}

//  Someone at rung level (0 grid, 1 community, 2 sub-district, 3
//  department) for q. 1 found, 0 none, -1 failure.
static int
s_pick_level (routing_core_t *core, const routing_req_t *q, int level, routing_pick_t *p)
{
    const gz_staff_t *s = NULL;
    int rc = 0;
    memset (p, 0, sizeof *p);
    if (level == 0)
        rc = routing_pick_staff (core, q->grid_code, "grid_worker", true, &s);
    else if (level == 1) {
        rc = routing_pick_staff (core, q->community_code, "community_duty", true, &s);
        if (rc == 0)
            rc = routing_pick_staff (core, q->community_code, "community_duty", false, &s);
    }
    else if (level == 2)
        rc = routing_pick_staff (core, q->subdistrict_code, "subdistrict_coordinator", false, &s);
    else if (level == 3) {
        const char *dept = s_department (core, q);
        rc = routing_pick_staff (core, dept, "department_contact", false, &s);
        if (rc == 0 && dept && gz_org_unit_level (core->org, dept)) {
            p->unit = dept;
            p->unit_name = gz_org_unit_name (core->org, dept);
            p->role = "department";
            return 1;
        }
    }
    if (rc == 1)
        s_pick_from_staff (core, s, p);
    return rc;
}

//  The dispatcher (派单员) for requests with no place in the ladder or
//  returned by their handler: the sub-district coordinator of the
//  request's sub-district, else the first sub-district coordinator of the
//  district. 1 found, 0 none, -1 failure.
int
routing_pick_dispatcher (routing_core_t *core, const routing_req_t *q, routing_pick_t *p)
{
    int rc = s_pick_level (core, q, 2, p);
    if (rc != 0)
        return rc;
    const gz_staff_t *s;
    if ((rc = routing_store_dispatcher (core, &s)) != 1)
        return rc;
    s_pick_from_staff (core, s, p);
    return 1;
}

//  Assign q at rung level or the first rung above it that has someone;
//  the dispatcher when the ladder has no one. Returns the rung, -1 when
//  nobody at all (q unchanged), -2 on failure.
int
routing_assign_from (routing_core_t *core, routing_req_t *q, int level)
{
    routing_pick_t p;
    int rc = 0, at = level;
    for (; at <= 3 && rc == 0; at++)
        if ((rc = s_pick_level (core, q, at, &p)) < 0)
            return -2;
    at--;
    if (rc == 0) {
        if ((rc = routing_pick_dispatcher (core, q, &p)) < 0)
            return -2;
        at = 2;
    }
    if (rc == 0)
        return -1;
    routing_assign_to (q, &p, at);
    return at;
}

void
routing_assign_to (routing_req_t *q, const routing_pick_t *p, int level)
{
    routing_set (&q->assignee_staff, p->staff_id);
    routing_set (&q->assignee_name, p->name ? p->name : p->unit_name);
    routing_set (&q->assignee_unit, p->unit);
    routing_set (&q->assignee_unit_name, p->unit_name);
    routing_set (&q->assignee_role, p->role);
    q->level = level;
}

void
routing_assignee_note (const routing_req_t *q, const char *prefix, const char *suffix, char *out,
                       size_t len)
{
    snprintf (out, len, "%s%s（%s）%s", prefix, routing_str (q->assignee_name),
              routing_str (q->assignee_unit_name), suffix ? suffix : "");
}

//  Climb one rung. 0 done, 1 at the top already, -1 failure. Fills e.
int
routing_climb (routing_core_t *core, routing_req_t *q, char *note, size_t len, const char *why)
{
    if (q->level >= 3)
        return 1;
    int at = routing_assign_from (core, q, q->level + 1);
    if (at == -2)
        return -1;
    if (at == -1)
        return 1;
    //  accepted falls back to assigned (the new person signs); the
    //  table says so (escalate's computed next state).
    routing_state_t next = routing_lifecycle_next (ROUTING_ACTION_ESCALATE, q->state, 0);
    if (next != ROUTING_STATE_NONE)
        q->state = next;
    routing_assignee_note (q, why, "督办", note, len);
    gz_metrics_add (core->metrics, "gz_routing_escalations_total", NULL, 1);
    return 0;
}

int
routing_rules_check_org (const routing_rules_t *rules, gz_org_t *org, char *err, size_t errlen)
{
    for (size_t i = 0; i < routing_rules_count (rules); i++) {
        const routing_rule_t *r = routing_rules_at (rules, i);
        const char *codes[66];
        size_t n = 0;
        if (r->lead_code)
            codes[n++] = r->lead_code;
        for (size_t j = 0; r->co_handlers && r->co_handlers[j] && n < 64; j++)
            codes[n++] = r->co_handlers[j];
        for (size_t j = 0; j < n; j++) {
            const char *level = gz_org_unit_level (org, codes[j]);
            if (!level || strcmp (level, "department") != 0) {
                snprintf (err, errlen, "line %d: unknown department %s", r->line, codes[j]);
                return -1;
            }
        }
    }
    return 0;
}
