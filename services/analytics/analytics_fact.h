/*  analytics_fact: one request as analytics sees it, the events that
    change it, and what it counts for (pure; tests/unit/test_analytics_fact.c).

    A request's fact holds what the rates need (docs/analytics.md): where
    and when it was filed, its category, channel and tier, the deadlines
    set when it was first routed, when it was first verified reached, its
    first resolution and whether it is resolved now, its latest rating,
    merges, rejection as invalid, reopens and escalations.

    Its contribution (analytics_counts_t) is what it adds to the rollup of
    the day it was filed, at every node above it (grid, community,
    sub-district, district, and the department that leads it). When an
    event changes a fact, the rollups move by new minus old contribution:
    so a rating changed from satisfied to not, a reopen, or a merge that
    takes a request out of the cohort are counted exactly, and replaying
    the whole history gives the same rollups as following it live.  */
#ifndef ANALYTICS_FACT_H_INCLUDED
#define ANALYTICS_FACT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#define ANALYTICS_CODE_MAX 72
//  Hours histograms (to first contact, to resolution): bucket upper bounds
//  in hours; the last bucket is everything beyond.
#define ANALYTICS_HIST 16
//  No response deadline is longer than this after the filing (routing's
//  rules give minutes to a day): older requests not reached are overdue.
#define ANALYTICS_RESPONSE_MAX_DAYS 31

typedef struct {
    char id[32];
    char category[64];
    int channel; //  gongzhi.v1.Channel
    int tier;    //  gongzhi.v1.Tier, 0 until routed
    char building[ANALYTICS_CODE_MAX];
    char grid[ANALYTICS_CODE_MAX], community[ANALYTICS_CODE_MAX];
    char subdistrict[ANALYTICS_CODE_MAX], district[ANALYTICS_CODE_MAX];
    char department[ANALYTICS_CODE_MAX]; //  the lead department (a hard request), or ""
    int64_t submitted_us;                //  0: not seen from intake yet
    int64_t response_due_us;             //  set at the first routing, never moved
    int64_t resolve_due_us;
    int64_t reached_us;  //  the first verify reached, 0: none
    int64_t resolved_us; //  the first resolution, 0: none
    bool resolved;       //  resolved, rated or closed now
    bool merged;         //  a follower merged into another request
    bool invalid;        //  rejected as invalid at verification
    int satisfied;       //  the latest rating: -1 none, 0 no, 1 yes
    int reopens, escalations;
} analytics_fact_t;

//  What one request adds to its day's rollup at each node above it.
typedef struct {
    int64_t requests;         //  the cohort: not merged, not invalid
    int64_t reached;          //  cohort, verified reached
    int64_t reached_on_time;  //  ... at or before the response deadline
    int64_t resolved;         //  cohort, resolved (or rated, closed) now
    int64_t resolved_on_time; //  ... first resolved by the resolve deadline
    int64_t rated, satisfied;
    int64_t escalated, reopened;
    int64_t merged, invalid; //  outside the cohort
    int64_t disputes, disputes_resolved;
    int64_t contact_hist[ANALYTICS_HIST]; //  cohort, reached: hours to first contact
    int64_t resolve_hist[ANALYTICS_HIST]; //  cohort, resolved: hours to first resolution
} analytics_counts_t;

//  A new fact for request id (everything empty, satisfied -1).
void analytics_fact_init (analytics_fact_t *f, const char *id);

//  Intake's RequestSubmitted: place, category, channel, time.
void analytics_fact_submitted (analytics_fact_t *f, const char *category, int channel,
                               const char *building, const char *grid, const char *community,
                               const char *subdistrict, const char *district, int64_t submitted_us);

//  One of routing's RequestUpdate kinds (routing.proto): routed (the first
//  sets tier, deadlines and, for a hard request, the lead department),
//  merged, verified (outcome reached / not_reached / invalid), resolved,
//  rated (satisfied), reopened, escalated, rejected, closed; others change
//  nothing. Returns true when the fact changed.
typedef struct {
    const char *kind;
    const char *outcome;     //  verified
    int tier;                //  routed
    const char *lead_unit;   //  routed: the assignee's unit (a hard request's lead)
    bool lead_is_department; //  routed: that unit is a department
    int64_t response_due_us, resolve_due_us;
    bool satisfied; //  rated
    int64_t at_us;
} analytics_update_t;
bool analytics_fact_apply (analytics_fact_t *f, const analytics_update_t *u);

//  The fact's contribution (all zero until it is seen from intake).
void analytics_fact_counts (const analytics_fact_t *f, analytics_counts_t *out);

//  out += sign x c.
void analytics_counts_add (analytics_counts_t *out, const analytics_counts_t *c, int sign);
bool analytics_counts_zero (const analytics_counts_t *c);

//  The histogram bucket of a duration, and each bucket's upper bound in
//  hours (the last: INFINITY).
int analytics_hist_bucket (int64_t us);
double analytics_hist_upper (int bucket);
//  The q-quantile (0..1) of a histogram in hours, by linear interpolation
//  inside its bucket; NaN when it is empty.
double analytics_hist_quantile (const int64_t *hist, double q);

//  The nodes a fact counts at: grid, community, sub-district, district and
//  the department ("" ones skipped). Returns how many (at most 5).
int analytics_fact_nodes (const analytics_fact_t *f, const char *nodes[5]);

//  The China-time date (YYYY-MM-DD) of a moment.
void analytics_day (int64_t us, char out[11]);

#endif
