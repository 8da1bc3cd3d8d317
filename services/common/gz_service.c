/*  gz_service: the main loop every service binary shares. See gz_service.h.  */
#include "gz_service.h"
#include "gz_log.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t s_hup = 0;

static void
s_on_hup (int sig)
{
    (void) sig;
    s_hup = 1;
}

bool
gz_service_ready (zactor_t *actor)
{
    zstr_send (actor, "PORT");
    char *port = zstr_recv (actor);
    bool ok = port && atoi (port) > 0;
    free (port);
    return ok;
}

void
gz_service_signals (void)
{
    zsys_catch_interrupts ();
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_hup;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGHUP, &sa, NULL);
}

void
gz_service_wait (zactor_t **actors, const char **names, size_t n)
{
    while (!zsys_interrupted) {
        zclock_sleep (100);
        if (!s_hup)
            continue;
        s_hup = 0;
        for (size_t i = 0; i < n; i++) {
            zstr_send (actors[i], "RELOAD");
            int rc = zsock_wait (actors[i]);
            gz_info (names[i], "msg=\"SIGHUP reload\" ok=%d", rc == 0);
        }
    }
}
