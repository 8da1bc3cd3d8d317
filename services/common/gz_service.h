/*  gz_service: the main loop every service binary shares. Waits for
    SIGTERM or SIGINT (CZMQ's interrupt flag); SIGHUP sends RELOAD to each
    actor (CZMQ catches only INT and TERM, so a handler here sets a flag
    and the loop forwards it) and logs whether each reloaded.  */
#ifndef GZ_SERVICE_H_INCLUDED
#define GZ_SERVICE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  True once the actor answered PORT with a port (it started).
bool gz_service_ready (zactor_t *actor);

//  Catch interrupts and SIGHUP. Call first in main.
void gz_service_signals (void);

//  Run until SIGTERM or SIGINT, forwarding SIGHUP as RELOAD to the n
//  actors (names[i] for the log).
void gz_service_wait (zactor_t **actors, const char **names, size_t n);

#endif
