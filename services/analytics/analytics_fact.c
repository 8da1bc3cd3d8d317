/*  analytics_fact: see analytics_fact.h. The event table below says what
    each of routing's kinds does to a fact.  */
#include "analytics_fact.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_HOUR_US 3600000000LL
#define S_CHINA_US (8 * S_HOUR_US)

//  Bucket upper bounds in hours: half-hours to a month.
static const double s_upper[ANALYTICS_HIST] = {0.5, 1,   2,   4,   8,   12,  24,  48,
                                               72,  120, 168, 240, 360, 480, 720, INFINITY};

void
analytics_fact_init (analytics_fact_t *f, const char *id)
{
    memset (f, 0, sizeof *f);
    snprintf (f->id, sizeof f->id, "%s", id ? id : "");
    f->satisfied = -1;
}

static void
s_copy (char *dst, const char *src)
{
    snprintf (dst, ANALYTICS_CODE_MAX, "%s", src ? src : "");
}

void
analytics_fact_submitted (analytics_fact_t *f, const char *category, int channel,
                          const char *building, const char *grid, const char *community,
                          const char *subdistrict, const char *district, int64_t submitted_us)
{
    snprintf (f->category, sizeof f->category, "%s", category ? category : "");
    f->channel = channel;
    s_copy (f->building, building);
    s_copy (f->grid, grid);
    s_copy (f->community, community);
    s_copy (f->subdistrict, subdistrict);
    s_copy (f->district, district);
    f->submitted_us = submitted_us;
}

//  ---------------------------------------------------------------- events

static bool
s_routed (analytics_fact_t *f, const analytics_update_t *u)
{
    if (f->tier) //  deadlines are the first routing's, for good
        return false;
    f->tier = u->tier ? u->tier : 1;
    f->response_due_us = u->response_due_us;
    f->resolve_due_us = u->resolve_due_us;
    if (u->lead_is_department && u->lead_unit)
        s_copy (f->department, u->lead_unit);
    return true;
}

static bool
s_merged (analytics_fact_t *f, const analytics_update_t *u)
{
    (void) u;
    bool changed = !f->merged;
    f->merged = true;
    return changed;
}

static bool
s_verified (analytics_fact_t *f, const analytics_update_t *u)
{
    if (u->outcome && strcmp (u->outcome, "invalid") == 0) {
        bool changed = !f->invalid;
        f->invalid = true;
        return changed;
    }
    if (u->outcome && strcmp (u->outcome, "reached") == 0 && !f->reached_us) {
        f->reached_us = u->at_us ? u->at_us : 1;
        return true;
    }
    return false;
}

static bool
s_resolved (analytics_fact_t *f, const analytics_update_t *u)
{
    bool changed = !f->resolved || !f->resolved_us;
    if (!f->resolved_us)
        f->resolved_us = u->at_us ? u->at_us : 1;
    f->resolved = true;
    return changed;
}

static bool
s_rated (analytics_fact_t *f, const analytics_update_t *u)
{
    int now = u->satisfied ? 1 : 0;
    bool changed = f->satisfied != now || !f->resolved;
    f->satisfied = now;
    f->resolved = true; //  rated is resolved or later
    return changed;
}

static bool
s_reopened (analytics_fact_t *f, const analytics_update_t *u)
{
    (void) u;
    f->reopens++;
    f->resolved = false;
    return true;
}

static bool
s_escalated (analytics_fact_t *f, const analytics_update_t *u)
{
    (void) u;
    f->escalations++;
    return true;
}

static bool
s_rejected (analytics_fact_t *f, const analytics_update_t *u)
{
    (void) u;
    bool changed = !f->invalid;
    f->invalid = true;
    return changed;
}

typedef struct {
    const char *kind;
    bool (*apply) (analytics_fact_t *f, const analytics_update_t *u);
} s_rule_t;

//  What each kind does. closed keeps a resolved request resolved; the
//  others (accepted, started, note, transferred, returned, warnings)
//  change nothing analytics counts.
static const s_rule_t s_rules[] = {
    {"routed", s_routed},
    {"merged", s_merged},
    {"verified", s_verified},
    {"not_reached", s_verified},
    {"resolved", s_resolved},
    {"rated", s_rated},
    {"reopened", s_reopened},
    {"escalated", s_escalated},
    {"rejected", s_rejected},
    {"closed", s_resolved},
    {NULL, NULL},
};

bool
analytics_fact_apply (analytics_fact_t *f, const analytics_update_t *u)
{
    for (const s_rule_t *r = s_rules; u->kind && r->kind; r++)
        if (strcmp (r->kind, u->kind) == 0)
            return r->apply (f, u);
    return false;
}

//  ---------------------------------------------------------------- counts

int
analytics_hist_bucket (int64_t us)
{
    double hours = (double) (us < 0 ? 0 : us) / (double) S_HOUR_US;
    int b = 0;
    while (b < ANALYTICS_HIST - 1 && hours > s_upper[b])
        b++;
    return b;
}

double
analytics_hist_upper (int bucket)
{
    return bucket >= 0 && bucket < ANALYTICS_HIST ? s_upper[bucket] : NAN;
}

double
analytics_hist_quantile (const int64_t *hist, double q)
{
    int64_t total = 0;
    for (int b = 0; b < ANALYTICS_HIST; b++)
        total += hist[b];
    if (total <= 0)
        return NAN;
    double rank = q * (double) total, seen = 0;
    for (int b = 0; b < ANALYTICS_HIST; b++) {
        if (hist[b] && seen + (double) hist[b] >= rank) {
            double lo = b ? s_upper[b - 1] : 0;
            double hi = isinf (s_upper[b]) ? lo * 2 : s_upper[b];
            return lo + (hi - lo) * ((rank - seen) / (double) hist[b]);
        }
        seen += (double) hist[b];
    }
    return s_upper[ANALYTICS_HIST - 2] * 2;
}

void
analytics_fact_counts (const analytics_fact_t *f, analytics_counts_t *out)
{
    memset (out, 0, sizeof *out);
    if (!f->submitted_us)
        return;
    if (f->merged) {
        out->merged = 1;
        return;
    }
    if (f->invalid) {
        out->invalid = 1;
        return;
    }
    out->requests = 1;
    bool dispute = strcmp (f->category, "dispute") == 0;
    out->disputes = dispute;
    if (f->reached_us) {
        out->reached = 1;
        out->reached_on_time = f->response_due_us && f->reached_us <= f->response_due_us;
        out->contact_hist[analytics_hist_bucket (f->reached_us - f->submitted_us)] = 1;
    }
    if (f->resolved) {
        out->resolved = 1;
        out->resolved_on_time = f->resolve_due_us && f->resolved_us <= f->resolve_due_us;
        out->disputes_resolved = dispute;
        out->resolve_hist[analytics_hist_bucket (f->resolved_us - f->submitted_us)] = 1;
    }
    if (f->satisfied >= 0) {
        out->rated = 1;
        out->satisfied = f->satisfied == 1;
    }
    out->escalated = f->escalations > 0;
    out->reopened = f->reopens > 0;
}

void
analytics_counts_add (analytics_counts_t *out, const analytics_counts_t *c, int sign)
{
    int64_t *o = (int64_t *) out;
    const int64_t *x = (const int64_t *) c;
    for (size_t i = 0; i < sizeof *out / sizeof (int64_t); i++)
        o[i] += sign * x[i];
}

bool
analytics_counts_zero (const analytics_counts_t *c)
{
    const int64_t *x = (const int64_t *) c;
    for (size_t i = 0; i < sizeof *c / sizeof (int64_t); i++)
        if (x[i])
            return false;
    return true;
}

int
analytics_fact_nodes (const analytics_fact_t *f, const char *nodes[5])
{
    const char *all[5] = {f->grid, f->community, f->subdistrict, f->district, f->department};
    int n = 0;
    for (int i = 0; i < 5; i++)
        if (all[i][0])
            nodes[n++] = all[i];
    return n;
}

void
analytics_day (int64_t us, char out[11])
{
    time_t t = (time_t) ((us + S_CHINA_US) / 1000000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, 11, "%Y-%m-%d", &tm);
}
