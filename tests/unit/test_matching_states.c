/*  Unit tests for matching_states: the life of a need, an offer and a
    service record. Every allowed step, and the steps a stale or repeated
    command would try (answer an answered offer, confirm before check-out,
    offer a matched need) refused.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "matching_states.h"

static void
s_expect (mt_machine_t m, const char *from, const char *action, const char *to)
{
    const char *got = mt_state_next (m, from, action);
    if (!to)
        assert_null (got);
    else {
        assert_non_null (got);
        assert_string_equal (got, to);
    }
}

static void
test_need (void **state)
{
    (void) state;
    s_expect (MT_NEED, "open", "offer", "offered");
    s_expect (MT_NEED, "offered", "accept", "matched");
    s_expect (MT_NEED, "offered", "decline", "open");
    s_expect (MT_NEED, "offered", "expire", "open");
    s_expect (MT_NEED, "matched", "complete", "done");
    s_expect (MT_NEED, "matched", "repeat", "open");
    s_expect (MT_NEED, "open", "cancel", "cancelled");
    //  Refused: a matched need is not offered again; done is final.
    s_expect (MT_NEED, "matched", "offer", NULL);
    s_expect (MT_NEED, "done", "repeat", NULL);
    s_expect (MT_NEED, "cancelled", "offer", NULL);
    s_expect (MT_NEED, "open", "accept", NULL);
}

static void
test_offer (void **state)
{
    (void) state;
    s_expect (MT_OFFER, "offered", "accept", "accepted");
    s_expect (MT_OFFER, "offered", "decline", "declined");
    s_expect (MT_OFFER, "offered", "expire", "expired");
    //  An answered offer cannot be answered again (a second click, a
    //  decline racing the timer).
    const char *answered[] = {"accepted", "declined", "expired", "cancelled"};
    for (size_t i = 0; i < 4; i++) {
        s_expect (MT_OFFER, answered[i], "accept", NULL);
        s_expect (MT_OFFER, answered[i], "decline", NULL);
        s_expect (MT_OFFER, answered[i], "expire", NULL);
    }
}

static void
test_service (void **state)
{
    (void) state;
    s_expect (MT_SERVICE, "scheduled", "checkin", "in_progress");
    s_expect (MT_SERVICE, "in_progress", "checkout", "completed");
    s_expect (MT_SERVICE, "scheduled", "checkout", "completed");
    s_expect (MT_SERVICE, "completed", "confirm", "confirmed");
    s_expect (MT_SERVICE, "scheduled", "confirm", NULL);
    s_expect (MT_SERVICE, "in_progress", "confirm", NULL);
    s_expect (MT_SERVICE, "confirmed", "confirm", NULL);
    s_expect (MT_SERVICE, "in_progress", "checkin", NULL);
    s_expect (MT_SERVICE, "completed", "checkout", NULL);
    s_expect (MT_SERVICE, NULL, "checkin", NULL);
    s_expect (MT_SERVICE, "scheduled", NULL, NULL);
    s_expect (MT_SERVICE, "scheduled", "unknown", NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_need),
        cmocka_unit_test (test_offer),
        cmocka_unit_test (test_service),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
