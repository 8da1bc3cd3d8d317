/*  gz_ratelimit: token buckets per client key. See gz_ratelimit.h.

    DESIGN: one mutex guards a chained hash table of buckets (key ->
    tokens, time of last refill) that is also threaded on a
    least-recently-used list. Every take refills lazily from the monotonic
    clock, so nothing runs in the background.

    Forgetting: a bucket untouched for burst/rate seconds is full again,
    and a full bucket behaves exactly like a key never seen, so such
    buckets are dropped from the cold end of the LRU list on every take
    (amortised O(1): each bucket is freed once). If the table still holds
    max_keys buckets (default 100000) a new key evicts the least recently
    used one even though it is not full yet; that key then starts again
    with a full bucket. This keeps memory bounded under a flood of
    distinct keys at the price of being lenient towards the oldest ones.
    Keys are compared on their first GZ_RATELIMIT_KEY_MAX bytes so a
    client cannot make us store huge keys.  */
#include "gz_ratelimit.h"

#include <assert.h>
#include <czmq.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GZ_RATELIMIT_KEY_MAX 128
#define GZ_RATELIMIT_DEFAULT_MAX_KEYS 100000

typedef struct _s_bucket_t s_bucket_t;
struct _s_bucket_t {
    s_bucket_t *chain; //  next in the hash slot
    s_bucket_t *newer; //  LRU list neighbours
    s_bucket_t *older;
    uint64_t hash;
    double tokens;
    double last; //  seconds, when tokens was last brought up to date
    char key[];
};

struct _gz_ratelimit_t {
    pthread_mutex_t mutex;
    double rate; //  <= 0: unlimited
    double burst;
    double idle_full; //  burst / rate: seconds after which any bucket is full
    double now_max;   //  latest time seen, so time never runs backwards
    s_bucket_t **slots;
    size_t nslots; //  power of two
    size_t count;
    size_t max_keys;
    s_bucket_t *newest;
    s_bucket_t *oldest;
};

static uint64_t
s_hash (const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL; //  FNV-1a
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

gz_ratelimit_t *
gz_ratelimit_new (double rate, double burst)
{
    gz_ratelimit_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->mutex, NULL);
    //  Values come from configuration: sanitise rather than assert.
    self->rate = (rate > 0 && isfinite (rate)) ? rate : 0;
    self->burst = burst >= 1 ? burst : 1;
    if (!isfinite (self->burst))
        self->burst = 1e15;
    self->idle_full = self->rate > 0 ? self->burst / self->rate : 0;
    self->nslots = 64;
    self->slots = calloc (self->nslots, sizeof *self->slots);
    assert (self->slots);
    self->max_keys = GZ_RATELIMIT_DEFAULT_MAX_KEYS;
    return self;
}

void
gz_ratelimit_destroy (gz_ratelimit_t **self_p)
{
    assert (self_p);
    gz_ratelimit_t *self = *self_p;
    if (!self)
        return;
    s_bucket_t *b = self->newest;
    while (b) {
        s_bucket_t *next = b->older;
        free (b);
        b = next;
    }
    free (self->slots);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

static void
s_lru_unlink (gz_ratelimit_t *self, s_bucket_t *b)
{
    if (b->newer)
        b->newer->older = b->older;
    else
        self->newest = b->older;
    if (b->older)
        b->older->newer = b->newer;
    else
        self->oldest = b->newer;
    b->newer = b->older = NULL;
}

static void
s_lru_push_newest (gz_ratelimit_t *self, s_bucket_t *b)
{
    b->newer = NULL;
    b->older = self->newest;
    if (self->newest)
        self->newest->newer = b;
    else
        self->oldest = b;
    self->newest = b;
}

static void
s_remove (gz_ratelimit_t *self, s_bucket_t *b)
{
    s_bucket_t **pp = &self->slots[b->hash & (self->nslots - 1)];
    while (*pp != b)
        pp = &(*pp)->chain;
    *pp = b->chain;
    s_lru_unlink (self, b);
    self->count--;
    free (b);
}

static void
s_grow (gz_ratelimit_t *self)
{
    size_t nslots = self->nslots * 2;
    s_bucket_t **slots = calloc (nslots, sizeof *slots);
    assert (slots);
    for (size_t i = 0; i < self->nslots; i++) {
        s_bucket_t *b = self->slots[i];
        while (b) {
            s_bucket_t *next = b->chain;
            b->chain = slots[b->hash & (nslots - 1)];
            slots[b->hash & (nslots - 1)] = b;
            b = next;
        }
    }
    free (self->slots);
    self->slots = slots;
    self->nslots = nslots;
}

static s_bucket_t *
s_lookup (gz_ratelimit_t *self, const char *key, size_t len, uint64_t hash)
{
    for (s_bucket_t *b = self->slots[hash & (self->nslots - 1)]; b; b = b->chain)
        if (b->hash == hash && strncmp (b->key, key, len) == 0 && b->key[len] == 0)
            return b;
    return NULL;
}

bool
gz_ratelimit_take_at (gz_ratelimit_t *self, const char *key, double now, int *retry_after_s)
{
    assert (self);
    assert (key);
    if (retry_after_s)
        *retry_after_s = 0;
    if (self->rate <= 0)
        return true;

    size_t len = strnlen (key, GZ_RATELIMIT_KEY_MAX);
    uint64_t hash = s_hash (key, len);
    bool allowed;
    pthread_mutex_lock (&self->mutex);
    if (now > self->now_max)
        self->now_max = now;
    now = self->now_max;

    //  Forget buckets that are full by now (see DESIGN).
    while (self->oldest && now - self->oldest->last >= self->idle_full)
        s_remove (self, self->oldest);

    s_bucket_t *b = s_lookup (self, key, len, hash);
    if (b)
        s_lru_unlink (self, b);
    else {
        while (self->count >= self->max_keys && self->oldest)
            s_remove (self, self->oldest);
        if (self->count >= self->nslots)
            s_grow (self);
        b = calloc (1, sizeof *b + len + 1);
        assert (b);
        memcpy (b->key, key, len);
        b->hash = hash;
        b->tokens = self->burst;
        b->last = now;
        b->chain = self->slots[hash & (self->nslots - 1)];
        self->slots[hash & (self->nslots - 1)] = b;
        self->count++;
    }
    s_lru_push_newest (self, b);

    b->tokens += (now - b->last) * self->rate;
    if (b->tokens > self->burst)
        b->tokens = self->burst;
    b->last = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        allowed = true;
    }
    else {
        allowed = false;
        if (retry_after_s) {
            double wait = ceil ((1 - b->tokens) / self->rate);
            *retry_after_s = wait < 1 ? 1 : wait > INT_MAX ? INT_MAX : (int) wait;
        }
    }
    pthread_mutex_unlock (&self->mutex);
    return allowed;
}

bool
gz_ratelimit_take (gz_ratelimit_t *self, const char *key, int *retry_after_s)
{
    return gz_ratelimit_take_at (self, key, (double) zclock_usecs () / 1e6, retry_after_s);
}

size_t
gz_ratelimit_size (gz_ratelimit_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    size_t count = self->count;
    pthread_mutex_unlock (&self->mutex);
    return count;
}

void
gz_ratelimit_set_max_keys (gz_ratelimit_t *self, size_t max_keys)
{
    assert (self);
    assert (max_keys > 0);
    pthread_mutex_lock (&self->mutex);
    self->max_keys = max_keys;
    pthread_mutex_unlock (&self->mutex);
}
