/*  Unit tests for routing_lifecycle: every action from every state is
    allowed or refused as the state machine in routing.h says, with the
    state that follows; the computed transitions (verify's outcomes,
    rate's satisfaction, escalate from accepted); the state sets the
    timers use; the coordinating roles (reassign); and the names, which
    are the database's and the URL's.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing.h"

#define N ROUTING_STATE_NONE //  refused
#define AS ROUTING_STATE_ASSIGNED
#define AC ROUTING_STATE_ACCEPTED
#define VE ROUTING_STATE_VERIFIED
#define IP ROUTING_STATE_IN_PROGRESS
#define RS ROUTING_STATE_RESOLVED
#define RA ROUTING_STATE_RATED
#define CL ROUTING_STATE_CLOSED
#define RJ ROUTING_STATE_REJECTED
#define ME ROUTING_STATE_MERGED

//  What each action leaves a request in, from each state (columns: none,
//  assigned, accepted, verified, in_progress, resolved, rated, closed,
//  rejected, merged), written from the state machine in routing.h. For
//  the computed rows, choice 0: verify reached, rate not satisfied.
static const struct {
    routing_action_t action;
    const char *name;
    int choice;
    routing_state_t next[ROUTING_STATES];
} s_expected[] = {
    {ROUTING_ACTION_ACCEPT, "accept", 0, {N, AC, N, N, N, N, N, N, N, N}},
    {ROUTING_ACTION_VERIFY, "verify", ROUTING_VERIFY_REACHED, {N, N, VE, N, N, N, N, N, N, N}},
    {ROUTING_ACTION_VERIFY, "verify", ROUTING_VERIFY_NOT_REACHED, {N, N, AC, N, N, N, N, N, N, N}},
    {ROUTING_ACTION_VERIFY, "verify", ROUTING_VERIFY_INVALID, {N, N, RJ, N, N, N, N, N, N, N}},
    {ROUTING_ACTION_START, "start", 0, {N, N, N, IP, N, N, N, N, N, N}},
    {ROUTING_ACTION_NOTE, "note", 0, {N, AS, AC, VE, IP, RS, RA, N, N, N}},
    {ROUTING_ACTION_RESOLVE, "resolve", 0, {N, N, N, N, RS, N, N, N, N, N}},
    {ROUTING_ACTION_RATE, "rate", 1, {N, N, N, N, N, CL, N, N, N, N}},
    {ROUTING_ACTION_RATE, "rate", 0, {N, N, N, N, N, RA, N, N, N, N}},
    {ROUTING_ACTION_REOPEN, "reopen", 0, {N, N, N, N, N, AC, AC, N, N, N}},
    {ROUTING_ACTION_TRANSFER, "transfer", 0, {N, AS, AS, AS, AS, N, N, N, N, N}},
    {ROUTING_ACTION_ESCALATE, "escalate", 0, {N, AS, AS, VE, IP, N, N, N, N, N}},
    {ROUTING_ACTION_RETURN, "return", 0, {N, AS, AS, N, N, N, N, N, N, N}},
    {ROUTING_ACTION_REASSIGN, "reassign", 0, {N, AS, AS, AS, AS, N, N, N, N, N}},
};

static void
test_every_action_from_every_state (void **state)
{
    (void) state;
    bool seen[ROUTING_ACTIONS] = {false};
    for (size_t i = 0; i < sizeof s_expected / sizeof s_expected[0]; i++) {
        routing_action_t a = s_expected[i].action;
        const routing_transition_t *t = routing_transition (a);
        assert_non_null (t);
        assert_int_equal (t->action, a);
        seen[a] = true;
        for (int s = 0; s < ROUTING_STATES; s++) {
            routing_state_t want = s_expected[i].next[s];
            routing_state_t got =
                routing_lifecycle_next (a, (routing_state_t) s, s_expected[i].choice);
            if (got != want)
                fail_msg ("%s (choice %d) from %s: got %s, want %s", s_expected[i].name,
                          s_expected[i].choice, routing_state_name ((routing_state_t) s),
                          routing_state_name (got), routing_state_name (want));
            assert_int_equal (routing_transition_allows (t, (routing_state_t) s), want != N);
        }
    }
    for (int a = ROUTING_ACTION_NONE + 1; a < ROUTING_ACTIONS; a++)
        if (!seen[a])
            fail_msg ("action %s has no expected row", routing_action_name ((routing_action_t) a));
}

static void
test_fixed_next_states (void **state)
{
    (void) state;
    //  Where the table itself fixes the next state, and where it leaves
    //  it to the handler.
    assert_int_equal (routing_transition (ROUTING_ACTION_ACCEPT)->next, AC);
    assert_int_equal (routing_transition (ROUTING_ACTION_START)->next, IP);
    assert_int_equal (routing_transition (ROUTING_ACTION_RESOLVE)->next, RS);
    assert_int_equal (routing_transition (ROUTING_ACTION_REOPEN)->next, AC);
    assert_int_equal (routing_transition (ROUTING_ACTION_TRANSFER)->next, AS);
    assert_int_equal (routing_transition (ROUTING_ACTION_RETURN)->next, AS);
    //  Reassigned, the new person signs again.
    assert_int_equal (routing_transition (ROUTING_ACTION_REASSIGN)->next, AS);
    assert_int_equal (routing_transition (ROUTING_ACTION_NOTE)->next, ROUTING_NEXT_SAME);
    assert_int_equal (routing_transition (ROUTING_ACTION_VERIFY)->next, ROUTING_NEXT_COMPUTED);
    assert_int_equal (routing_transition (ROUTING_ACTION_RATE)->next, ROUTING_NEXT_COMPUTED);
    assert_int_equal (routing_transition (ROUTING_ACTION_ESCALATE)->next, ROUTING_NEXT_COMPUTED);
    //  Only the resident's actions take the status-link secret.
    for (int a = ROUTING_ACTION_NONE + 1; a < ROUTING_ACTIONS; a++)
        assert_int_equal (routing_transition ((routing_action_t) a)->resident,
                          a == ROUTING_ACTION_RATE || a == ROUTING_ACTION_REOPEN);
    assert_null (routing_transition (ROUTING_ACTION_NONE));
    assert_null (routing_transition (ROUTING_ACTIONS));
    assert_int_equal (routing_lifecycle_next (ROUTING_ACTION_NONE, AS, 0), N);
}

static void
test_state_sets (void **state)
{
    (void) state;
    //  open: work in hand (the load cache, transfer, escalate, resolve
    //  deadline); responding: the response deadline runs; done: the
    //  close timer applies.
    static const struct {
        routing_state_t s;
        bool open, responding, done;
    } sets[] = {
        {N, false, false, false},  {AS, true, true, false},   {AC, true, true, false},
        {VE, true, false, false},  {IP, true, false, false},  {RS, false, false, true},
        {RA, false, false, true},  {CL, false, false, false}, {RJ, false, false, false},
        {ME, false, false, false},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        assert_int_equal (routing_state_open (sets[i].s), sets[i].open);
        assert_int_equal (routing_state_responding (sets[i].s), sets[i].responding);
        assert_int_equal (routing_state_done (sets[i].s), sets[i].done);
    }
}

static void
test_coordinator_roles (void **state)
{
    (void) state;
    //  Who may open the coordinator page and reassign: sub-district and
    //  community coordinating roles, nobody else of org.staff's roles.
    assert_true (routing_coordinator_role ("subdistrict_coordinator"));
    assert_true (routing_coordinator_role ("community_duty"));
    assert_true (routing_coordinator_role ("community_secretary"));
    assert_false (routing_coordinator_role ("grid_worker"));
    assert_false (routing_coordinator_role ("grid_cadre"));
    assert_false (routing_coordinator_role ("department_contact"));
    assert_false (routing_coordinator_role ("district_leader"));
    assert_false (routing_coordinator_role (""));
    assert_false (routing_coordinator_role (NULL));
}

static void
test_names (void **state)
{
    (void) state;
    //  The database's spelling of every state (requests.state CHECK).
    static const char *const states[ROUTING_STATES] = {
        "unknown",  "assigned", "accepted", "verified", "in_progress",
        "resolved", "rated",    "closed",   "rejected", "merged"};
    for (int s = 0; s < ROUTING_STATES; s++) {
        assert_string_equal (routing_state_name ((routing_state_t) s), states[s]);
        if (s != N)
            assert_int_equal (routing_state_from_name (states[s]), s);
    }
    assert_int_equal (routing_state_from_name ("unknown"), N);
    assert_int_equal (routing_state_from_name ("routed"), N);
    assert_int_equal (routing_state_from_name ("Assigned"), N);
    assert_int_equal (routing_state_from_name (""), N);
    assert_int_equal (routing_state_from_name (NULL), N);

    //  The URL's spelling of every action (POST .../{action}).
    static const char *const actions[ROUTING_ACTIONS] = {
        "unknown", "accept", "verify",   "start",    "note",   "resolve",
        "rate",    "reopen", "transfer", "escalate", "return", "reassign"};
    for (int a = 0; a < ROUTING_ACTIONS; a++) {
        assert_string_equal (routing_action_name ((routing_action_t) a), actions[a]);
        if (a != ROUTING_ACTION_NONE)
            assert_int_equal (routing_action_from_name (actions[a]), a);
    }
    assert_int_equal (routing_action_from_name ("close"), ROUTING_ACTION_NONE);
    assert_int_equal (routing_action_from_name ("ACCEPT"), ROUTING_ACTION_NONE);
    assert_int_equal (routing_action_from_name (NULL), ROUTING_ACTION_NONE);

    assert_int_equal (routing_verify_outcome ("reached"), ROUTING_VERIFY_REACHED);
    assert_int_equal (routing_verify_outcome ("not_reached"), ROUTING_VERIFY_NOT_REACHED);
    assert_int_equal (routing_verify_outcome ("invalid"), ROUTING_VERIFY_INVALID);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_action_from_every_state),
        cmocka_unit_test (test_fixed_next_states),
        cmocka_unit_test (test_state_sets),
        cmocka_unit_test (test_coordinator_roles),
        cmocka_unit_test (test_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
