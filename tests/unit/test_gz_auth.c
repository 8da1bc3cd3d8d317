/*  Unit test for gz_auth_secret_equal: the comparison of secrets that
    clients present (status-link secrets, API keys). Equal only when
    every byte and the length match; NULL never matches.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gz_auth.h"

static void
test_secret_equal (void **state)
{
    (void) state;
    assert_true (gz_auth_secret_equal ("3f9a0c", "3f9a0c"));
    assert_true (gz_auth_secret_equal ("", ""));
    //  Differs in the first, a middle or the last byte.
    assert_false (gz_auth_secret_equal ("4f9a0c", "3f9a0c"));
    assert_false (gz_auth_secret_equal ("3f9b0c", "3f9a0c"));
    assert_false (gz_auth_secret_equal ("3f9a0d", "3f9a0c"));
    //  A prefix, or the secret with more after it, is not the secret.
    assert_false (gz_auth_secret_equal ("3f9a0", "3f9a0c"));
    assert_false (gz_auth_secret_equal ("3f9a0c0", "3f9a0c"));
    assert_false (gz_auth_secret_equal ("", "3f9a0c"));
    assert_false (gz_auth_secret_equal (NULL, "3f9a0c"));
    assert_false (gz_auth_secret_equal ("3f9a0c", NULL));
    assert_false (gz_auth_secret_equal (NULL, NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_secret_equal),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
