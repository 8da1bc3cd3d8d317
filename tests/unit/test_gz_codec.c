/*  Unit tests for gz_codec's UUIDs (event ids, resident secrets): well
    formed, never repeated, also across threads.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "gz_codec.h"

#define S_MANY 20000

static int
s_cmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Version 4, RFC 4122 variant, lower-case hex in 8-4-4-4-12 groups.
static void
s_assert_uuid (const char *u)
{
    assert_int_equal (strlen (u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal (u[i], '-');
        else
            assert_non_null (strchr ("0123456789abcdef", u[i]));
    }
    assert_int_equal (u[14], '4');
    assert_non_null (strchr ("89ab", u[19]));
}

static void
s_assert_distinct (char (*ids)[37], size_t n)
{
    qsort (ids, n, sizeof *ids, s_cmp);
    for (size_t i = 1; i < n; i++)
        assert_int_not_equal (strcmp (ids[i - 1], ids[i]), 0);
}

//  Many UUIDs (many random buffers' worth) are well formed and all
//  different: a buffer handing out the same bytes twice would repeat.
static void
test_uuid_unique (void **state)
{
    (void) state;
    char (*ids)[37] = calloc (S_MANY, sizeof *ids);
    assert_non_null (ids);
    for (int i = 0; i < S_MANY; i++) {
        gz_uuid (ids[i]);
        s_assert_uuid (ids[i]);
    }
    s_assert_distinct (ids, S_MANY);
    free (ids);
}

static void *
s_make (void *arg)
{
    char (*ids)[37] = arg;
    for (int i = 0; i < S_MANY / 2; i++)
        gz_uuid (ids[i]);
    return NULL;
}

//  Two threads draw from their own buffers: no UUID appears in both.
static void
test_uuid_threads (void **state)
{
    (void) state;
    char (*ids)[37] = calloc (S_MANY, sizeof *ids);
    assert_non_null (ids);
    pthread_t a, b;
    assert_int_equal (pthread_create (&a, NULL, s_make, ids), 0);
    assert_int_equal (pthread_create (&b, NULL, s_make, ids + S_MANY / 2), 0);
    pthread_join (a, NULL);
    pthread_join (b, NULL);
    for (int i = 0; i < S_MANY; i++)
        s_assert_uuid (ids[i]);
    s_assert_distinct (ids, S_MANY);
    free (ids);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_uuid_unique),
        cmocka_unit_test (test_uuid_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
