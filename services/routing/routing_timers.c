/*  routing_timers: the deadlines of a request and the clock. Each routed
    request has a response and a resolve deadline, each with a warning
    timer (at warn_at of its length, 80% by default) and a due timer;
    a resolved request has a close timer (the reopen window). Timers are
    rows (routing_store.c), armed and cancelled inside the transaction of
    the transition that sets or ends a deadline; routing_timers_run fires
    the due ones in transactions of their own:
      warn      -> DeadlineWarning
      due       -> escalate one rung (routing_climb), the same-length
                   deadline again; at the top, DeadlineWarning
      close     -> closed (resolved or rated, the window passed)  */
#include "gz_log.h"
#include "routing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVC "routing"

int64_t
routing_now (routing_core_t *core)
{
    //  The actor's clock, which the pages (HTTP threads) read too.
    return core->actor ? gz_actor_now_us (core->actor) : gz_now_us ();
}

//  When the warning of a deadline ending at due_us that lasts length_s
//  fires.
int64_t
routing_warn_at (routing_core_t *core, int64_t due_us, int64_t length_s)
{
    double frac = core->rules ? routing_rules_warn_at (core->rules) : 0.8;
    //  Rounded: (1 - 0.8) * 10 h in doubles is a microsecond short of 2 h.
    int64_t length_us = length_s * 1000000;
    return due_us - length_us + (int64_t) llround (frac * (double) length_us);
}

//  (Re-)arm the warning and the due timer of one deadline ending at due_us
//  that lasts length_s. which is "response" or "resolve".
int
routing_arm_deadline (routing_core_t *core, const char *id, const char *which, int64_t due_us,
                      int64_t length_s)
{
    char warn[32], due[32], kinds[80];
    snprintf (warn, sizeof warn, "%s_warn", which);
    snprintf (due, sizeof due, "%s_due", which);
    snprintf (kinds, sizeof kinds, "{%s,%s}", warn, due);
    int64_t warn_us = routing_warn_at (core, due_us, length_s);
    if (routing_store_timer_cancel (core, id, kinds) ||
        routing_store_timer_arm (core, id, warn, warn_us) ||
        routing_store_timer_arm (core, id, due, due_us))
        return -1;
    return 0;
}

//  A due timer of deadline (response or resolve) climbs one rung and
//  arms the deadline again; at the top it only warns. Fills note and e.
//  0 ok, -1 failure.
static int
s_fire_due (routing_core_t *core, routing_req_t *q, bool response, int64_t now, char *note,
            size_t len, routing_emit_t *e)
{
    int climbed = routing_climb (core, q, note, len,
                                 response ? "超过响应时限，已上报至" : "超过办结时限，已上报至");
    if (climbed < 0)
        return -1;
    int64_t length = response ? q->response_s : q->resolve_s;
    int64_t next = now + length * 1000000;
    if (response)
        q->response_due_us = next;
    else
        q->resolve_due_us = next;
    if (climbed == 0 &&
        routing_arm_deadline (core, q->id, response ? "response" : "resolve", next, length))
        return -1;
    if (climbed == 0) {
        e->type = "RequestEscalated";
        e->kind = "escalated";
        e->escalation_level = q->level;
    }
    else {
        snprintf (note, len, "%s%s", response ? "响应时限" : "办结时限", "已过，已在最高层级督办");
        e->type = "DeadlineWarning";
        e->kind = "deadline_warning";
    }
    return 0;
}

//  Apply one due timer to its request. 0 ok (or nothing to do), -1
//  failure.
static int
s_fire (routing_core_t *core, const char *id, const char *kind)
{
    routing_req_t q;
    int found = routing_store_load (core, id, NULL, &q);
    if (found <= 0)
        return found;
    int64_t now = routing_now (core);
    bool response = strncmp (kind, "response", 8) == 0;
    bool due = strstr (kind, "_due") != NULL;
    char note[1024] = "";
    routing_emit_t e = {0};
    e.satisfied = -1;
    int rc = 0;
    bool live;
    if (strcmp (kind, "close") == 0) {
        live = routing_state_done (q.state);
        q.state = ROUTING_STATE_CLOSED;
        q.closed_at_us = now;
        snprintf (note, sizeof note, "回访期已过，诉求已关闭");
        e.type = "RequestClosed";
        e.kind = "closed";
    }
    else {
        live = response ? routing_state_responding (q.state) && q.responded_at_us < 0
                        : routing_state_open (q.state);
        e.deadline = response ? "response" : "resolve";
        if (live && due)
            rc = s_fire_due (core, &q, response, now, note, sizeof note, &e);
        else if (live) {
            snprintf (note, sizeof note, "%s%s", response ? "响应时限" : "办结时限", "即将到期");
            e.type = "DeadlineWarning";
            e.kind = "deadline_warning";
        }
    }
    e.note = note;
    if (live && rc == 0 && (routing_req_save (core, &q) || routing_emit (core, &q, &e, NULL)))
        rc = -1;
    routing_req_clear (&q);
    return rc;
}

//  Commit a timer run's transaction, or roll it back. 0 ok, -1 failure.
static int
s_finish (routing_core_t *core, int rc)
{
    if (rc == 0 && gz_bus_pub_write (core->pub) == 0 && gz_db_commit (core->db) == 0) {
        gz_bus_pub_committed (core->pub);
        routing_core_count_committed (core);
        return 0;
    }
    gz_db_rollback (core->db);
    gz_bus_pub_aborted (core->pub);
    routing_core_forget_loads (core);
    routing_core_forget_counts (core);
    gz_metrics_add (core->metrics, "gz_db_errors_total", NULL, 1);
    gz_warn (SVC, "msg=\"timer run failed\" error=\"%s\"", gz_db_error (core->db));
    return -1;
}

int
routing_timers_run (routing_core_t *core)
{
    int fired = 0;
    for (int round = 0; round < 20; round++) {
        if (gz_db_ensure (core->db) || gz_db_begin (core->db))
            return -1;
        char now[24];
        snprintf (now, sizeof now, "%lld", (long long) routing_now (core));
        routing_timer_t *due;
        size_t n;
        int rc = routing_store_timers_due (core, now, &due, &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            //  Fire only a timer this transaction marked: one already
            //  fired or cancelled (deleted) since the SELECT takes no effect.
            const char *id = due[i].request_id, *kind = due[i].kind;
            int marked = routing_store_timer_mark (core, id, kind, due[i].generation, now);
            rc = marked < 0 ? -1 : marked ? s_fire (core, id, kind) : 0;
        }
        if (s_finish (core, rc)) {
            free (due);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            char labels[64];
            snprintf (labels, sizeof labels, "kind=\"%.15s\"", due[i].kind);
            gz_metrics_add (core->metrics, "gz_routing_timers_fired_total", labels, 1);
        }
        free (due);
        fired += (int) n;
        if (n < 100)
            break;
    }
    return fired;
}
