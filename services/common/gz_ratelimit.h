/*  gz_ratelimit: token buckets per client key (IP address, API key).
    Thread-safe. Idle buckets are forgotten so memory stays bounded: a
    bucket idle long enough to be full again is dropped, and at most
    max_keys (default 100000) keys are tracked; beyond that the least
    recently used key is forgotten (it starts again with a full bucket).
    Keys are compared on their first 128 bytes.  */
#ifndef GZ_RATELIMIT_H_INCLUDED
#define GZ_RATELIMIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _gz_ratelimit_t gz_ratelimit_t;

//  rate: tokens per second refilled; burst: bucket size. rate <= 0 means
//  unlimited (every take succeeds). A burst below 1 counts as 1.
gz_ratelimit_t *gz_ratelimit_new (double rate, double burst);
void gz_ratelimit_destroy (gz_ratelimit_t **self_p);

//  Take one token for key. True if allowed; false if not, and then
//  *retry_after_s (when not NULL) gets whole seconds until a token is
//  there (at least 1). When allowed, *retry_after_s is set to 0.
bool gz_ratelimit_take (gz_ratelimit_t *self, const char *key, int *retry_after_s);

//  The same at an explicit time now_s in seconds on any monotonic scale
//  (gz_ratelimit_take uses the monotonic clock, zclock_usecs); for tests. A time earlier
//  than one already seen counts as that one.
bool gz_ratelimit_take_at (gz_ratelimit_t *self, const char *key, double now_s, int *retry_after_s);

//  Number of keys currently tracked.
size_t gz_ratelimit_size (gz_ratelimit_t *self);

//  Change the key cap (> 0); for tests and tuning.
void gz_ratelimit_set_max_keys (gz_ratelimit_t *self, size_t max_keys);

#endif
