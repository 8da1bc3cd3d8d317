/*  routing_lifecycle: the request state machine of routing as data. The
    states a request row can be in and the worker and resident actions,
    as enums with their database and URL names, and one table saying, for
    each action, in which states it applies and which state follows.

    Pure: no SQL, no I/O. routing_commands.c executes an action by looking
    it up here (and refuses it with 409 when the request's state is not
    in the row's set); routing_timers.c asks here which states a deadline
    or the close timer still concerns. tests/unit/test_routing_lifecycle.c
    checks the whole table against the state machine in routing.h.  */
#include "routing.h"

#include <assert.h>
#include <string.h>

//  Database names, indexed by routing_state_t. They are the values of
//  requests.state (CHECK in sql/001_routing.sql): never rename one.
static const char *const s_state_names[ROUTING_STATES] = {
    [ROUTING_STATE_NONE] = "unknown",
    [ROUTING_STATE_ASSIGNED] = "assigned",
    [ROUTING_STATE_ACCEPTED] = "accepted",
    [ROUTING_STATE_VERIFIED] = "verified",
    [ROUTING_STATE_IN_PROGRESS] = "in_progress",
    [ROUTING_STATE_RESOLVED] = "resolved",
    [ROUTING_STATE_RATED] = "rated",
    [ROUTING_STATE_CLOSED] = "closed",
    [ROUTING_STATE_REJECTED] = "rejected",
    [ROUTING_STATE_MERGED] = "merged",
};

#define S_BIT(state) (1u << (state))
#define S_WORKING                                                                                  \
    (S_BIT (ROUTING_STATE_ASSIGNED) | S_BIT (ROUTING_STATE_ACCEPTED) |                             \
     S_BIT (ROUTING_STATE_VERIFIED) | S_BIT (ROUTING_STATE_IN_PROGRESS))
#define S_DONE (S_BIT (ROUTING_STATE_RESOLVED) | S_BIT (ROUTING_STATE_RATED))

//  The table, indexed by routing_action_t (see routing.h for the story).
static const routing_transition_t s_table[ROUTING_ACTIONS] = {
    [ROUTING_ACTION_ACCEPT] = {ROUTING_ACTION_ACCEPT, "accept", S_BIT (ROUTING_STATE_ASSIGNED),
                               ROUTING_STATE_ACCEPTED, false},
    [ROUTING_ACTION_VERIFY] = {ROUTING_ACTION_VERIFY, "verify", S_BIT (ROUTING_STATE_ACCEPTED),
                               ROUTING_NEXT_COMPUTED, false},
    [ROUTING_ACTION_START] = {ROUTING_ACTION_START, "start", S_BIT (ROUTING_STATE_VERIFIED),
                              ROUTING_STATE_IN_PROGRESS, false},
    [ROUTING_ACTION_NOTE] = {ROUTING_ACTION_NOTE, "note", S_WORKING | S_DONE, ROUTING_NEXT_SAME,
                             false},
    [ROUTING_ACTION_RESOLVE] = {ROUTING_ACTION_RESOLVE, "resolve",
                                S_BIT (ROUTING_STATE_IN_PROGRESS), ROUTING_STATE_RESOLVED, false},
    [ROUTING_ACTION_RATE] = {ROUTING_ACTION_RATE, "rate", S_BIT (ROUTING_STATE_RESOLVED),
                             ROUTING_NEXT_COMPUTED, true},
    [ROUTING_ACTION_REOPEN] = {ROUTING_ACTION_REOPEN, "reopen", S_DONE, ROUTING_STATE_ACCEPTED,
                               true},
    [ROUTING_ACTION_TRANSFER] = {ROUTING_ACTION_TRANSFER, "transfer", S_WORKING,
                                 ROUTING_STATE_ASSIGNED, false},
    [ROUTING_ACTION_ESCALATE] = {ROUTING_ACTION_ESCALATE, "escalate", S_WORKING,
                                 ROUTING_NEXT_COMPUTED, false},
    [ROUTING_ACTION_RETURN] = {ROUTING_ACTION_RETURN, "return",
                               S_BIT (ROUTING_STATE_ASSIGNED) | S_BIT (ROUTING_STATE_ACCEPTED),
                               ROUTING_STATE_ASSIGNED, false},
    [ROUTING_ACTION_REASSIGN] = {ROUTING_ACTION_REASSIGN, "reassign", S_WORKING,
                                 ROUTING_STATE_ASSIGNED, false},
};

const char *
routing_state_name (routing_state_t state)
{
    assert (state >= 0 && state < ROUTING_STATES);
    return s_state_names[state];
}

routing_state_t
routing_state_from_name (const char *name)
{
    for (int s = ROUTING_STATE_NONE + 1; name && s < ROUTING_STATES; s++)
        if (strcmp (name, s_state_names[s]) == 0)
            return (routing_state_t) s;
    return ROUTING_STATE_NONE;
}

bool
routing_state_open (routing_state_t state)
{
    return (S_WORKING & S_BIT (state)) != 0;
}

bool
routing_state_responding (routing_state_t state)
{
    return state == ROUTING_STATE_ASSIGNED || state == ROUTING_STATE_ACCEPTED;
}

bool
routing_state_done (routing_state_t state)
{
    return (S_DONE & S_BIT (state)) != 0;
}

const routing_transition_t *
routing_transition (routing_action_t action)
{
    if (action <= ROUTING_ACTION_NONE || action >= ROUTING_ACTIONS)
        return NULL;
    return &s_table[action];
}

const char *
routing_action_name (routing_action_t action)
{
    const routing_transition_t *t = routing_transition (action);
    return t ? t->name : "unknown";
}

routing_action_t
routing_action_from_name (const char *name)
{
    for (int a = ROUTING_ACTION_NONE + 1; name && a < ROUTING_ACTIONS; a++)
        if (strcmp (name, s_table[a].name) == 0)
            return (routing_action_t) a;
    return ROUTING_ACTION_NONE;
}

bool
routing_transition_allows (const routing_transition_t *t, routing_state_t state)
{
    return state > ROUTING_STATE_NONE && state < ROUTING_STATES && (t->allowed & S_BIT (state));
}

routing_state_t
routing_lifecycle_next (routing_action_t action, routing_state_t from, int choice)
{
    const routing_transition_t *t = routing_transition (action);
    if (!t || !routing_transition_allows (t, from))
        return ROUTING_STATE_NONE;
    if (t->next == ROUTING_NEXT_SAME)
        return from;
    if (t->next != ROUTING_NEXT_COMPUTED)
        return t->next;
    switch (action) {
        case ROUTING_ACTION_VERIFY:
            return choice == ROUTING_VERIFY_REACHED       ? ROUTING_STATE_VERIFIED
                   : choice == ROUTING_VERIFY_NOT_REACHED ? ROUTING_STATE_ACCEPTED
                                                          : ROUTING_STATE_REJECTED;
        case ROUTING_ACTION_RATE:
            return choice ? ROUTING_STATE_CLOSED : ROUTING_STATE_RATED;
        case ROUTING_ACTION_ESCALATE:
            //  A new person signs again; later states stay where they were.
            return from == ROUTING_STATE_ACCEPTED ? ROUTING_STATE_ASSIGNED : from;
        default:
            assert (false); //  a computed row without a rule here
            return ROUTING_STATE_NONE;
    }
}

int
routing_verify_outcome (const char *outcome)
{
    if (outcome && strcmp (outcome, "reached") == 0)
        return ROUTING_VERIFY_REACHED;
    if (outcome && strcmp (outcome, "not_reached") == 0)
        return ROUTING_VERIFY_NOT_REACHED;
    return ROUTING_VERIFY_INVALID;
}

bool
routing_coordinator_role (const char *role)
{
    static const char *const roles[] = {"subdistrict_coordinator", "community_duty",
                                        "community_secretary"};
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp (role, roles[i]) == 0)
            return true;
    return false;
}
