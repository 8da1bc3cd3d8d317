/*  gz-intake: the intake service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.  */
#include "gz_log.h"
#include "intake_server.h"

int
main (void)
{
    zsys_catch_interrupts ();
    intake_config_t *cfg = intake_config_from_env ();
    zactor_t *intake = zactor_new (intake_server, cfg);
    zstr_send (intake, "PORT");
    char *port = zstr_recv (intake);
    int ok = port && atoi (port) > 0;
    free (port);
    while (ok && !zsys_interrupted)
        zclock_sleep (100);
    zactor_destroy (&intake);
    intake_config_destroy (&cfg);
    gz_info ("intake", "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
