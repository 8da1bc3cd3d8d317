/*  Unit tests for intake_validate's pure checks: the reporter id a
    submission may carry (issue 10's points go to it), "rider:<id>" or
    "resident:<id>" with id 1 to 64 of [A-Za-z0-9._-]. What a submission
    with a bad one is answered (BAD_FIELD, 400) is tested end to end in
    tests/integration/test_intake_idempotency.c.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake.h"

static void
test_reporter_ids_accepted (void **state)
{
    (void) state;
    assert_true (intake_reporter_valid ("rider:MT-7788"));
    assert_true (intake_reporter_valid ("resident:a"));
    assert_true (intake_reporter_valid ("rider:Z.y_9-x"));
    char id[80];
    snprintf (id, sizeof id, "rider:%064d", 7); //  64 characters
    assert_true (intake_reporter_valid (id));
}

static void
test_reporter_ids_refused (void **state)
{
    (void) state;
    const char *bad[] = {
        "",                 //  empty is "none", never valid as an id
        "rider:",           //  no id
        "resident:",        //  no id
        "MT-7788",          //  no kind
        "courier:MT-7788",  //  an unknown kind
        "Rider:MT-7788",    //  kinds are lowercase
        " rider:MT-7788",   //  no spaces
        "rider:MT-7788 ",   //  none at the end either
        "rider:MT 7788",    //  nor inside
        "rider:MT:7788",    //  one colon
        "rider:骑手7788",   //  ASCII only
        "rider:MT-7788\n",  //  no control characters
        "rider:a/b",        //  not a path
        "resident:rider:x", //  one kind
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (intake_reporter_valid (bad[i]))
            fail_msg ("'%s' was taken as a reporter id", bad[i]);
    char id[80];
    snprintf (id, sizeof id, "rider:%065d", 7); //  65 characters
    assert_false (intake_reporter_valid (id));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reporter_ids_accepted),
        cmocka_unit_test (test_reporter_ids_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
