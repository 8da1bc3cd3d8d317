/*  Unit tests for gz_ratelimit: bursts, refill, independent keys,
    unlimited mode, bounded memory and thread safety. Time is passed
    explicitly (gz_ratelimit_take_at) so nothing sleeps.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>

#include <cmocka.h>

#include "gz_ratelimit.h"

static void
test_burst_then_refused (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (1, 3);
    int retry = -1;
    for (int i = 0; i < 3; i++) {
        assert_true (gz_ratelimit_take_at (limit, "10.0.0.1", 100, &retry));
        assert_int_equal (retry, 0);
    }
    assert_false (gz_ratelimit_take_at (limit, "10.0.0.1", 100, &retry));
    assert_int_equal (retry, 1);
    assert_false (gz_ratelimit_take_at (limit, "10.0.0.1", 100.5, &retry));
    assert_true (retry >= 1);
    //  One token per second comes back.
    assert_true (gz_ratelimit_take_at (limit, "10.0.0.1", 101.1, &retry));
    assert_false (gz_ratelimit_take_at (limit, "10.0.0.1", 101.1, NULL));
    //  A long pause refills up to burst, not beyond.
    for (int i = 0; i < 3; i++)
        assert_true (gz_ratelimit_take_at (limit, "10.0.0.1", 1000, NULL));
    assert_false (gz_ratelimit_take_at (limit, "10.0.0.1", 1000, NULL));
    gz_ratelimit_destroy (&limit);
    assert_null (limit);
    gz_ratelimit_destroy (&limit); //  harmless twice
}

static void
test_retry_after_whole_seconds (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (0.1, 1); //  one per 10 s
    int retry = 0;
    assert_true (gz_ratelimit_take_at (limit, "k", 0, &retry));
    assert_false (gz_ratelimit_take_at (limit, "k", 0, &retry));
    assert_int_equal (retry, 10);
    assert_false (gz_ratelimit_take_at (limit, "k", 7.5, &retry));
    assert_int_equal (retry, 3); //  2.5 s rounds up
    assert_false (gz_ratelimit_take_at (limit, "k", 9.99, &retry));
    assert_int_equal (retry, 1); //  never 0 when refused
    assert_true (gz_ratelimit_take_at (limit, "k", 10, &retry));
    gz_ratelimit_destroy (&limit);
}

static void
test_keys_are_independent (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (1, 2);
    assert_true (gz_ratelimit_take_at (limit, "a", 5, NULL));
    assert_true (gz_ratelimit_take_at (limit, "a", 5, NULL));
    assert_false (gz_ratelimit_take_at (limit, "a", 5, NULL));
    assert_true (gz_ratelimit_take_at (limit, "b", 5, NULL));
    assert_true (gz_ratelimit_take_at (limit, "b", 5, NULL));
    assert_false (gz_ratelimit_take_at (limit, "b", 5, NULL));
    assert_true (gz_ratelimit_take_at (limit, "::1", 5, NULL));
    assert_int_equal (gz_ratelimit_size (limit), 3);
    gz_ratelimit_destroy (&limit);
}

static void
test_unlimited_when_rate_not_positive (void **state)
{
    (void) state;
    double rates[] = {0, -1, NAN};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        gz_ratelimit_t *limit = gz_ratelimit_new (rates[r], 1);
        int retry = -1;
        for (int i = 0; i < 1000; i++)
            assert_true (gz_ratelimit_take_at (limit, "k", 0, &retry));
        assert_int_equal (retry, 0);
        assert_true (gz_ratelimit_take (limit, "k", NULL));
        assert_int_equal (gz_ratelimit_size (limit), 0);
        gz_ratelimit_destroy (&limit);
    }
}

static void
test_real_clock (void **state)
{
    (void) state;
    //  A bucket of 2 refilling once an hour: the third take is refused
    //  however slow the machine.
    gz_ratelimit_t *limit = gz_ratelimit_new (1.0 / 3600, 2);
    int retry = 0;
    assert_true (gz_ratelimit_take (limit, "k", &retry));
    assert_true (gz_ratelimit_take (limit, "k", &retry));
    assert_false (gz_ratelimit_take (limit, "k", &retry));
    assert_true (retry > 3500 && retry <= 3600);
    gz_ratelimit_destroy (&limit);
}

static void
test_memory_is_bounded (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (1, 5);
    gz_ratelimit_set_max_keys (limit, 1000);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf (key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        assert_true (gz_ratelimit_take_at (limit, key, 1, NULL));
    }
    assert_int_equal (gz_ratelimit_size (limit), 1000);
    //  The most recent keys are still tracked (their bucket is not full).
    for (int i = 0; i < 4; i++)
        assert_true (gz_ratelimit_take_at (limit, "10.0.19.135", 1, NULL)); //  key 4999
    assert_false (gz_ratelimit_take_at (limit, "10.0.19.135", 1, NULL));

    //  Buckets idle long enough to be full again are forgotten.
    assert_true (gz_ratelimit_take_at (limit, "late", 100, NULL));
    assert_int_equal (gz_ratelimit_size (limit), 1);
    gz_ratelimit_destroy (&limit);

    //  The default cap holds under a flood of distinct keys.
    limit = gz_ratelimit_new (1, 5);
    for (int i = 0; i < 150000; i++) {
        snprintf (key, sizeof key, "k%d", i);
        gz_ratelimit_take_at (limit, key, 1, NULL);
    }
    assert_int_equal (gz_ratelimit_size (limit), 100000);
    gz_ratelimit_destroy (&limit);
}

static void
test_long_keys (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (1, 1);
    char a[300], b[300];
    memset (a, 'x', sizeof a - 1);
    a[sizeof a - 1] = 0;
    memcpy (b, a, sizeof b);
    b[200] = 'y'; //  differs only after the first 128 bytes
    assert_true (gz_ratelimit_take_at (limit, a, 0, NULL));
    assert_false (gz_ratelimit_take_at (limit, b, 0, NULL));
    b[100] = 'y';
    assert_true (gz_ratelimit_take_at (limit, b, 0, NULL));
    assert_int_equal (gz_ratelimit_size (limit), 2);
    gz_ratelimit_destroy (&limit);
}

typedef struct {
    gz_ratelimit_t *limit;
    int allowed;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *worker = arg;
    for (int i = 0; i < 1000; i++)
        if (gz_ratelimit_take_at (worker->limit, "shared", 1, NULL))
            worker->allowed++;
    return NULL;
}

static void
test_concurrent_takes (void **state)
{
    (void) state;
    gz_ratelimit_t *limit = gz_ratelimit_new (1e-9, 100);
    s_worker_t workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (s_worker_t){limit, 0};
        assert_int_equal (pthread_create (&threads[i], NULL, s_worker, &workers[i]), 0);
    }
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join (threads[i], NULL);
        allowed += workers[i].allowed;
    }
    assert_int_equal (allowed, 100);
    gz_ratelimit_destroy (&limit);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_burst_then_refused),
        cmocka_unit_test (test_retry_after_whole_seconds),
        cmocka_unit_test (test_keys_are_independent),
        cmocka_unit_test (test_unlimited_when_rate_not_positive),
        cmocka_unit_test (test_real_clock),
        cmocka_unit_test (test_memory_is_bounded),
        cmocka_unit_test (test_long_keys),
        cmocka_unit_test (test_concurrent_takes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
