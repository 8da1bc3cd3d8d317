/*  gongzhi: the all-in-one binary (the laptop default). Hosts every
    service that exists as an actor in one process, each configured from
    the same GZ_* variables as its own binary; SIGTERM or SIGINT drains
    and stops them all.  */
#include "gz_log.h"
#include "intake_server.h"

int
main (void)
{
    zsys_catch_interrupts ();
    intake_config_t *intake_cfg = intake_config_from_env ();
    zactor_t *intake = zactor_new (intake_server, intake_cfg);
    zstr_send (intake, "PORT");
    char *port = zstr_recv (intake);
    int ok = port && atoi (port) > 0;
    free (port);
    if (ok)
        gz_info ("gongzhi", "msg=\"all services running\" services=intake");
    while (ok && !zsys_interrupted)
        zclock_sleep (100);
    gz_info ("gongzhi", "msg=\"stopping\"");
    zactor_destroy (&intake);
    intake_config_destroy (&intake_cfg);
    return ok ? 0 : 1;
}
