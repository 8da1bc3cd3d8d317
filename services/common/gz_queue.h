/*  gz_queue: the command queue between the threads that take work in (HTTP
    threads) and the thread or threads that do it (a service's actor, or
    writer threads). Intrusive: an item embeds a gz_qitem_t as its first
    member, so queueing allocates nothing. Order is kept.

    The consumer is woken one of two ways: gz_queue_push returns true when
    the queue was empty, and the producer then wakes the actor
    (gz_actor_wake); threads that consume wait on the queue's condition
    in gz_queue_wait_take.  */
#ifndef GZ_QUEUE_H_INCLUDED
#define GZ_QUEUE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _gz_qitem_t {
    struct _gz_qitem_t *next;
} gz_qitem_t;

typedef struct _gz_queue_t gz_queue_t;

gz_queue_t *gz_queue_new (void);
//  Free the queue (not its items: take them first). Nulls *self_p.
void gz_queue_destroy (gz_queue_t **self_p);

//  Append item (the queue's until taken). True when the queue was empty
//  before, i.e. a consumer that polls may be asleep and needs waking.
bool gz_queue_push (gz_queue_t *self, gz_qitem_t *item);

//  Take up to max items, oldest first, as a chain linked by next (the
//  last one's next is NULL). NULL when the queue is empty.
gz_qitem_t *gz_queue_take (gz_queue_t *self, size_t max);

//  Like gz_queue_take, but waits until there is an item or the queue is
//  stopped. NULL only when stopped and empty.
gz_qitem_t *gz_queue_wait_take (gz_queue_t *self, size_t max);

//  Wake every thread in gz_queue_wait_take; from now on they return NULL
//  once the queue is empty.
void gz_queue_stop (gz_queue_t *self);

bool gz_queue_empty (gz_queue_t *self);

#endif
