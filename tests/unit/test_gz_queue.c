/*  Unit test for gz_queue: order, the bounded take, the "was empty"
    answer producers use to wake the actor, and waiting consumers that
    stop only once the queue is empty.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>
#include <pthread.h>

#include "gz_queue.h"

typedef struct {
    gz_qitem_t item;
    int n;
} s_item_t;

static void
test_order_and_bounds (void **state)
{
    (void) state;
    gz_queue_t *q = gz_queue_new ();
    s_item_t items[5];
    assert_true (gz_queue_empty (q));
    assert_null (gz_queue_take (q, 10));
    for (int i = 0; i < 5; i++) {
        items[i].n = i;
        //  Only the first push finds the queue empty (the one that wakes).
        assert_int_equal (gz_queue_push (q, &items[i].item), i == 0);
    }
    gz_qitem_t *got = gz_queue_take (q, 3);
    int n = 0;
    for (gz_qitem_t *i = got; i; i = i->next, n++)
        assert_int_equal (((s_item_t *) i)->n, n);
    assert_int_equal (n, 3);
    assert_false (gz_queue_empty (q));
    got = gz_queue_take (q, 100);
    assert_int_equal (((s_item_t *) got)->n, 3);
    assert_int_equal (((s_item_t *) got->next)->n, 4);
    assert_null (got->next->next);
    assert_true (gz_queue_empty (q));
    //  Empty again: the next push wakes again.
    assert_true (gz_queue_push (q, &items[0].item));
    gz_queue_destroy (&q);
    assert_null (q);
    gz_queue_destroy (&q); //  harmless
}

typedef struct {
    gz_queue_t *q;
    int taken;
} s_consumer_t;

static void *
s_consume (void *arg)
{
    s_consumer_t *c = arg;
    gz_qitem_t *got;
    while ((got = gz_queue_wait_take (c->q, 7)))
        for (; got; got = got->next)
            c->taken++;
    return NULL;
}

//  Two waiting consumers take every item exactly once; stop ends them
//  only after the queue is drained.
static void
test_waiting_consumers (void **state)
{
    (void) state;
    enum { N = 10000 };
    gz_queue_t *q = gz_queue_new ();
    s_item_t *items = calloc (N, sizeof *items);
    s_consumer_t c[2] = {{q, 0}, {q, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal (pthread_create (&t[i], NULL, s_consume, &c[i]), 0);
    for (int i = 0; i < N; i++)
        gz_queue_push (q, &items[i].item);
    gz_queue_stop (q);
    for (int i = 0; i < 2; i++)
        pthread_join (t[i], NULL);
    assert_int_equal (c[0].taken + c[1].taken, N);
    assert_true (gz_queue_empty (q));
    //  Stopped and empty: a waiter returns at once.
    assert_null (gz_queue_wait_take (q, 1));
    free (items);
    gz_queue_destroy (&q);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_order_and_bounds),
        cmocka_unit_test (test_waiting_consumers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
