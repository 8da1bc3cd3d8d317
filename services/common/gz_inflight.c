/*  gz_inflight: per-peer counts of commands in flight. See gz_inflight.h.

    DESIGN: a zhashx from the routing id in hex to its count (stored in
    the item pointer, no allocation per peer), under one mutex. A peer's
    entry is deleted when its count drops to zero. Routing ids are at
    most 255 bytes (ZMTP), so the key fits a fixed buffer.  */
#include "gz_inflight.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

struct _gz_inflight_t {
    pthread_mutex_t lock;
    zhashx_t *counts; //  hex routing id -> (intptr_t) count > 0
    int max;
};

gz_inflight_t *
gz_inflight_new (int max)
{
    assert (max > 0);
    gz_inflight_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->counts = zhashx_new ();
    assert (self->counts);
    self->max = max;
    return self;
}

void
gz_inflight_destroy (gz_inflight_t **self_p)
{
    gz_inflight_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->counts);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static const char *
s_key (zframe_t *peer, char key[2 * 255 + 1])
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *d = zframe_data (peer);
    size_t n = zframe_size (peer) > 255 ? 255 : zframe_size (peer);
    for (size_t i = 0; i < n; i++) {
        key[2 * i] = hex[d[i] >> 4];
        key[2 * i + 1] = hex[d[i] & 15];
    }
    key[2 * n] = 0;
    return key;
}

bool
gz_inflight_take (gz_inflight_t *self, zframe_t *peer)
{
    char key[2 * 255 + 1];
    s_key (peer, key);
    pthread_mutex_lock (&self->lock);
    intptr_t n = (intptr_t) zhashx_lookup (self->counts, key);
    bool taken = n < self->max;
    if (taken)
        zhashx_update (self->counts, key, (void *) (n + 1));
    pthread_mutex_unlock (&self->lock);
    return taken;
}

void
gz_inflight_done (gz_inflight_t *self, zframe_t *peer)
{
    char key[2 * 255 + 1];
    s_key (peer, key);
    pthread_mutex_lock (&self->lock);
    intptr_t n = (intptr_t) zhashx_lookup (self->counts, key);
    assert (n > 0); //  every done follows its take
    if (n > 1)
        zhashx_update (self->counts, key, (void *) (n - 1));
    else
        zhashx_delete (self->counts, key);
    pthread_mutex_unlock (&self->lock);
}

int
gz_inflight_count (gz_inflight_t *self, zframe_t *peer)
{
    char key[2 * 255 + 1];
    s_key (peer, key);
    pthread_mutex_lock (&self->lock);
    intptr_t n = (intptr_t) zhashx_lookup (self->counts, key);
    pthread_mutex_unlock (&self->lock);
    return (int) n;
}

int
gz_inflight_max (gz_inflight_t *self)
{
    return self->max;
}
