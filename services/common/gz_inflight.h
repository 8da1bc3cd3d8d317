/*  gz_inflight: commands accepted on a ROUTER and not yet answered,
    counted per peer (its routing id), so one peer cannot queue unbounded
    work in a service: past max, its commands are refused at once
    (RATE_LIMITED) until it reads some replies. Thread-safe (a command may
    be answered or dropped on another thread than the one that took it).
    Only peers with something in flight are tracked, so memory follows
    the work in flight, not the number of peers ever seen.  */
#ifndef GZ_INFLIGHT_H_INCLUDED
#define GZ_INFLIGHT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct _gz_inflight_t gz_inflight_t;

//  At most max (> 0) commands in flight per peer.
gz_inflight_t *gz_inflight_new (int max);
void gz_inflight_destroy (gz_inflight_t **self_p);

//  Count one more command from peer (its routing id frame, borrowed).
//  True if it is taken; false when peer already has max in flight (then
//  nothing is counted).
bool gz_inflight_take (gz_inflight_t *self, zframe_t *peer);
//  One command of peer's was answered or dropped.
void gz_inflight_done (gz_inflight_t *self, zframe_t *peer);
//  Commands peer has in flight.
int gz_inflight_count (gz_inflight_t *self, zframe_t *peer);
//  The limit.
int gz_inflight_max (gz_inflight_t *self);

#endif
