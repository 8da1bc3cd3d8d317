/*  gz_queue: a mutex-guarded intrusive FIFO with a condition for waiting
    consumers. See gz_queue.h.  */
#include "gz_queue.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

struct _gz_queue_t {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    gz_qitem_t *head, *tail;
    bool stopped;
};

gz_queue_t *
gz_queue_new (void)
{
    gz_queue_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->ready, NULL);
    return self;
}

void
gz_queue_destroy (gz_queue_t **self_p)
{
    gz_queue_t *self = *self_p;
    if (!self)
        return;
    pthread_cond_destroy (&self->ready);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

bool
gz_queue_push (gz_queue_t *self, gz_qitem_t *item)
{
    item->next = NULL;
    pthread_mutex_lock (&self->lock);
    bool was_empty = self->head == NULL;
    if (self->tail)
        self->tail->next = item;
    else
        self->head = item;
    self->tail = item;
    pthread_cond_signal (&self->ready);
    pthread_mutex_unlock (&self->lock);
    return was_empty;
}

//  With the lock held.
static gz_qitem_t *
s_take (gz_queue_t *self, size_t max)
{
    gz_qitem_t *first = self->head, *last = NULL;
    size_t n = 0;
    for (gz_qitem_t *i = self->head; i && n < max; i = i->next, n++)
        last = i;
    if (!last)
        return NULL;
    self->head = last->next;
    if (!self->head)
        self->tail = NULL;
    last->next = NULL;
    return first;
}

gz_qitem_t *
gz_queue_take (gz_queue_t *self, size_t max)
{
    pthread_mutex_lock (&self->lock);
    gz_qitem_t *items = s_take (self, max);
    pthread_mutex_unlock (&self->lock);
    return items;
}

gz_qitem_t *
gz_queue_wait_take (gz_queue_t *self, size_t max)
{
    pthread_mutex_lock (&self->lock);
    while (!self->head && !self->stopped)
        pthread_cond_wait (&self->ready, &self->lock);
    gz_qitem_t *items = s_take (self, max);
    pthread_mutex_unlock (&self->lock);
    return items;
}

void
gz_queue_stop (gz_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->stopped = true;
    pthread_cond_broadcast (&self->ready);
    pthread_mutex_unlock (&self->lock);
}

bool
gz_queue_empty (gz_queue_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool empty = self->head == NULL;
    pthread_mutex_unlock (&self->lock);
    return empty;
}
