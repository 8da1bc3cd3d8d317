/*  gz_dbpool: a fixed pool of connections for reads. See gz_dbpool.h.  */
#include "gz_dbpool.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct _gz_dbpool_t {
    gz_db_t **conns;
    bool *busy;
    int size;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

gz_dbpool_t *
gz_dbpool_new (const char *url, const char *app_name, int size)
{
    assert (url && size > 0);
    gz_dbpool_t *self = calloc (1, sizeof *self);
    assert (self);
    self->size = size;
    self->conns = calloc ((size_t) size, sizeof *self->conns);
    self->busy = calloc ((size_t) size, sizeof *self->busy);
    assert (self->conns && self->busy);
    for (int i = 0; i < size; i++)
        self->conns[i] = gz_db_new (url, app_name);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

void
gz_dbpool_destroy (gz_dbpool_t **self_p)
{
    gz_dbpool_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->size; i++) {
        assert (!self->busy[i]); //  destroying with a connection out is a bug
        gz_db_destroy (&self->conns[i]);
    }
    free (self->conns);
    free (self->busy);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

void
gz_dbpool_each (gz_dbpool_t *self, void (*fn) (gz_db_t *db, void *arg), void *arg)
{
    for (int i = 0; i < self->size; i++)
        fn (self->conns[i], arg);
}

gz_db_t *
gz_dbpool_get (gz_dbpool_t *self)
{
    pthread_mutex_lock (&self->lock);
    for (;;) {
        for (int i = 0; i < self->size; i++)
            if (!self->busy[i]) {
                self->busy[i] = true;
                pthread_mutex_unlock (&self->lock);
                gz_db_ensure (self->conns[i]);
                return self->conns[i];
            }
        pthread_cond_wait (&self->cond, &self->lock);
    }
}

void
gz_dbpool_put (gz_dbpool_t *self, gz_db_t *db)
{
    pthread_mutex_lock (&self->lock);
    bool found = false;
    for (int i = 0; i < self->size; i++)
        if (self->conns[i] == db) {
            assert (self->busy[i]);
            self->busy[i] = false;
            found = true;
        }
    assert (found); //  giving back a stranger is a bug
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
}
