/*  gz_service: the main every service binary shares. A service describes
    itself with a gz_service_def_t (its name, its config from the
    environment, its actor); gz_service_main starts the services it is
    given in order and waits for
    SIGTERM or SIGINT (CZMQ's interrupt flag); SIGHUP sends RELOAD to each
    actor (CZMQ catches only INT and TERM, so a handler here sets a flag
    and the loop forwards it) and logs whether each reloaded.  */
#ifndef GZ_SERVICE_H_INCLUDED
#define GZ_SERVICE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

//  What a binary needs to host a service (docs/service-anatomy.md).
typedef struct {
    const char *name;
    void *(*config_from_env) (void);       //  read GZ_* once, before the actor
    void (*config_destroy) (void *config); //  free what config_from_env made
    zactor_fn *actor;                      //  the actor (args: the config)
} gz_service_def_t;

//  The whole main of a service binary: catch signals, start each service
//  in order (a failed start stops there), run until SIGTERM or SIGINT
//  forwarding SIGHUP as RELOAD, stop them in reverse order. Returns the
//  process exit code: 0 when every service started.
int gz_service_main (const gz_service_def_t *const *services, size_t n);

//  True once the actor answered PORT with a port (it started).
bool gz_service_ready (zactor_t *actor);

//  Catch interrupts and SIGHUP. Call first in main.
void gz_service_signals (void);

//  Run until SIGTERM or SIGINT, forwarding SIGHUP as RELOAD to the n
//  actors, the last one first (names[i] for the log).
void gz_service_wait (zactor_t **actors, const char **names, size_t n);

#endif
