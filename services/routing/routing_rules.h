/*  routing_rules: the classification rules file of the routing service.

    A rules file says, per category (Open311 service code), optional
    keywords in the description and an optional place in the ladder,
    which tier a request is (本级 local / 上级 upper / 疑难 hard), who
    leads it, which departments co-handle it, and its two deadlines
    (first contact; resolution). Rules are tried in file order; the first
    match wins. Format and shipped defaults: docs/routing-rules.md and
    services/routing/default.rules (embedded in the binary as
    routing_default_rules[]; GZ_ROUTING_RULES names a file to use instead).

    A bad file is refused with "<source>:<line>: <reason>" ("<source>:
    <reason>" for a whole-file problem: unreadable, larger than 1 MiB), and
    the caller keeps the rules it had (SIGHUP reload). A parsed
    routing_rules_t is immutable: threads may share it.  */
#ifndef ROUTING_RULES_H_INCLUDED
#define ROUTING_RULES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ROUTING_TIER_LOCAL = 1, //  values equal proto gongzhi.v1.Tier
    ROUTING_TIER_UPPER = 2,
    ROUTING_TIER_HARD = 3
} routing_tier_t;

//  Who leads a request.
typedef enum {
    ROUTING_LEAD_GRID = 1,    //  the grid worker of the building's grid
    ROUTING_LEAD_COMMUNITY,   //  the community duty officer
    ROUTING_LEAD_SUBDISTRICT, //  the sub-district coordinator
    ROUTING_LEAD_DEPARTMENT   //  a district department (lead_code)
} routing_lead_t;

typedef struct {
    int line;                    //  line in the source, for messages
    const char *category;        //  service code, or "*" for any
    const char *const *keywords; //  NULL-terminated; empty = any description
    const char *place;           //  "*" or a unit code (sub-district or community)
    routing_tier_t tier;
    routing_lead_t lead;
    const char *lead_code;          //  department code when lead is DEPARTMENT, else NULL
    const char *const *co_handlers; //  department codes, NULL-terminated (may be empty)
    int64_t respond_s;              //  first-contact deadline, seconds
    int64_t resolve_s;              //  resolution deadline, seconds
} routing_rule_t;

typedef struct _routing_rules_t routing_rules_t;

//  The embedded default rules text (services/routing/default.rules).
extern const char routing_default_rules[];

//  Parse rules text. source names it in messages (a path, or "default").
//  NULL on error with err filled as "<source>:<line>: <reason>".
//  Checks: syntax, known category/tier/lead, tier and lead agree (local:
//  grid|community; upper: subdistrict; hard: dept:<code>, co-handlers only
//  for hard), durations (e.g. 30m, 2h, 3d, 1w; resolve >= respond), no
//  rule placed after a catch-all that already takes its requests, valid
//  UTF-8, lines <= 4 KiB, text <= 1 MiB, and that every category in
//  gz_category_all() is covered by a catch-all rule (no keywords, place
//  "*"; a category "*" catch-all covers all). Caller destroys the result.
routing_rules_t *routing_rules_parse (const char *text, const char *source, char *err,
                                      size_t errlen);

//  Read and parse a file. NULL on error (unreadable file included).
routing_rules_t *routing_rules_load (const char *path, char *err, size_t errlen);

void routing_rules_destroy (routing_rules_t **self_p);

//  The first rule matching a request: category equal (or rule "*"), any
//  keyword found in description (or no keywords), place "*" or equal to
//  the request's sub-district or community code. Keywords are byte
//  substrings (case-sensitive). NULL description/subdistrict/community
//  mean unknown. Never NULL for a category the file covers; NULL
//  otherwise. Borrowed from self.
const routing_rule_t *routing_rules_match (const routing_rules_t *self, const char *category,
                                           const char *description, const char *subdistrict,
                                           const char *community);

//  All rules, for checks against the org directory (department codes).
const routing_rule_t *routing_rules_at (const routing_rules_t *self, size_t index);
size_t routing_rules_count (const routing_rules_t *self);

//  Settings ("set <name> <value>" lines), with defaults:
//  merge_window (same building + category as an open request within it
//  merges; default 24h), warn_at (fraction of a deadline that triggers a
//  warning; default 0.8), reopen_window (default 7d).
int64_t routing_rules_merge_window_s (const routing_rules_t *self);
double routing_rules_warn_at (const routing_rules_t *self);
int64_t routing_rules_reopen_window_s (const routing_rules_t *self);

//  "local", "upper", "hard" (the API's spelling); "unknown" otherwise.
const char *routing_rules_tier_name (routing_tier_t tier);

//  "grid", "community", "subdistrict", "dept"; "unknown" otherwise.
const char *routing_rules_lead_name (routing_lead_t lead);

#endif
