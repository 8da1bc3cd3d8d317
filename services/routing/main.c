/*  gz-routing: the routing service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP re-reads the rules file (GZ_ROUTING_RULES) and the org
    directory: CZMQ catches only INT and TERM, so SIGHUP sets a flag here
    and the loop sends RELOAD to the actor (a bad file is refused and the
    old rules stay in force).  */
#include "gz_log.h"
#include "routing_server.h"

#include <signal.h>

static volatile sig_atomic_t s_hup = 0;

static void
s_on_hup (int sig)
{
    (void) sig;
    s_hup = 1;
}

int
main (void)
{
    zsys_catch_interrupts ();
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_hup;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGHUP, &sa, NULL);
    routing_config_t *cfg = routing_config_from_env ();
    zactor_t *routing = zactor_new (routing_server, cfg);
    zstr_send (routing, "PORT");
    char *port = zstr_recv (routing);
    int ok = port && atoi (port) > 0;
    free (port);
    while (ok && !zsys_interrupted) {
        zclock_sleep (100);
        if (s_hup) {
            s_hup = 0;
            zstr_send (routing, "RELOAD");
            int rc = zsock_wait (routing);
            gz_info ("routing", "msg=\"SIGHUP reload\" ok=%d", rc == 0);
        }
    }
    zactor_destroy (&routing);
    routing_config_destroy (&cfg);
    gz_info ("routing", "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
