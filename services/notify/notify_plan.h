/*  notify_plan: who hears what. The plan maps each event (routing's
    RequestUpdate kinds, intake's submitted, matching's offered and
    reminder) and audience (resident, assignee, next_rung, lead,
    co_handler, volunteer) to a template and flags:

      # event    audience   template          flags
      routed     resident   routed.resident   -
      escalated  next_rung  escalated.next_rung  essential,urgent

    A plan directory holds notify.plan and templates/<name>.txt; the
    built-in defaults (services/notify/plan/, embedded in the binary) are
    loaded with dir NULL. Format, audiences, flags and the default texts:
    docs/notify-plan.md.

    A bad plan or template is refused as a whole with
    "<file>:<line>: <reason>", and the caller keeps the plan it had
    (SIGHUP reload). A loaded plan is immutable: threads may share it.
    Pure logic: no SQL, sockets or clock.  */
#ifndef NOTIFY_PLAN_H_INCLUDED
#define NOTIFY_PLAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "notify_template.h"

typedef enum {
    NOTIFY_RESIDENT = 1, //  the submitter (phone/e-mail given) and merged followers' residents
    NOTIFY_ASSIGNEE,     //  the person (or unit) holding the request after the event
    NOTIFY_NEXT_RUNG,    //  escalated: the new rung's responsible person
    NOTIFY_LEAD,         //  a 疑难 (hard) request's lead department contact
    NOTIFY_CO_HANDLER,   //  each co-handling department of a hard request
    NOTIFY_VOLUNTEER     //  matching: the volunteer offered a task or reminded
} notify_audience_t;

//  Tier bits for notify_rule_t.tiers (proto gongzhi.v1.Tier values).
#define NOTIFY_TIER_LOCAL (1u << 1)
#define NOTIFY_TIER_UPPER (1u << 2)
#define NOTIFY_TIER_HARD (1u << 3)
#define NOTIFY_TIER_ANY (NOTIFY_TIER_LOCAL | NOTIFY_TIER_UPPER | NOTIFY_TIER_HARD)

typedef struct {
    int line;                           //  line in notify.plan, for messages
    const char *event;                  //  "routed", ...
    notify_audience_t audience;         //
    const char *template_name;          //  "routed.resident" (templates/<name>.txt)
    const notify_template_t *template_; //  borrowed from the plan
    bool essential;                     //  cannot be opted out of
    bool urgent;                        //  ignores quiet hours
    unsigned tiers;                     //  NOTIFY_TIER_* bits the rule applies to
} notify_rule_t;

typedef struct _notify_plan_t notify_plan_t;

//  The embedded default plan text (services/notify/plan/notify.plan).
extern const char notify_default_plan[];

//  Load dir/notify.plan and every dir/templates/*.txt; dir NULL loads the
//  built-in defaults. NULL on error with err filled as
//  "<file>:<line>: <reason>" (file is the path, or "default:notify.plan"
//  and "default:templates/<name>.txt" for the built-ins). Refused: an
//  unknown event, audience, template or flag, a duplicate (event,
//  audience), a bad setting, any template that does not parse (unused
//  ones too), an unreadable file. Caller destroys the result.
notify_plan_t *notify_plan_load (const char *dir, char *err, size_t errlen);

//  Parse plan text against templates already parsed: names[i] is the
//  template name (file name without ".txt") of templates[i]; the plan
//  takes ownership of the templates (on failure too) and nulls the
//  array's pointers. source names the plan in messages. For tests and
//  for notify_plan_load.
notify_plan_t *notify_plan_parse (const char *text, const char *source, const char *const *names,
                                  notify_template_t **templates, size_t count, char *err,
                                  size_t errlen);

void notify_plan_destroy (notify_plan_t **self_p);

//  All rules for an event, in file order: stores a pointer to the first
//  in *rules_p (NULL when none) and returns how many. Unknown events have
//  none. Borrowed from self.
size_t notify_plan_match (const notify_plan_t *self, const char *event,
                          const notify_rule_t **rules_p);

//  True when the rule applies to a request of this tier (1 local,
//  2 upper, 3 hard; 0 = unknown, which only tier-free rules match).
bool notify_rule_applies (const notify_rule_t *rule, int tier);

//  The template of that name, or NULL. Borrowed from self.
const notify_template_t *notify_plan_template (const notify_plan_t *self, const char *name);

//  Settings ("set quiet_hours 22:00-07:00", "set digest_window 10m"):
//  quiet hours as minutes after China-time midnight (start == end: none;
//  default 22:00-07:00) and the digest window in ms (default 10 minutes).
void notify_plan_quiet_hours (const notify_plan_t *self, int *start_min_p, int *end_min_p);
int notify_plan_digest_window_ms (const notify_plan_t *self);

//  Known event names, NULL-terminated.
const char *const *notify_plan_events (void);

//  "resident", "assignee", ...; "unknown" otherwise.
const char *notify_audience_name (notify_audience_t audience);

//  True for the staff audiences (assignee, next_rung, lead, co_handler).
bool notify_audience_staff (notify_audience_t audience);

#endif
