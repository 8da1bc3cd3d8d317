/*  gz-intake: the intake service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP reloads the org directory (after gzctl org import): CZMQ catches
    only INT and TERM, so SIGHUP sets a flag here and the loop sends RELOAD
    to the actor (if the directory cannot be read, the old one stays).  */
#include "gz_log.h"
#include "intake_server.h"

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
    intake_config_t *cfg = intake_config_from_env ();
    zactor_t *intake = zactor_new (intake_server, cfg);
    zstr_send (intake, "PORT");
    char *port = zstr_recv (intake);
    int ok = port && atoi (port) > 0;
    free (port);
    while (ok && !zsys_interrupted) {
        zclock_sleep (100);
        if (s_hup) {
            s_hup = 0;
            zstr_send (intake, "RELOAD");
            int rc = zsock_wait (intake);
            gz_info ("intake", "msg=\"SIGHUP reload\" ok=%d", rc == 0);
        }
    }
    zactor_destroy (&intake);
    intake_config_destroy (&cfg);
    gz_info ("intake", "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
