/*  gz-intake: the intake service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP reloads the org directory (after gzctl org import); if it
    cannot be read, the old one stays.  */
#include "gz_log.h"
#include "gz_service.h"
#include "intake_server.h"

int
main (void)
{
    gz_service_signals ();
    intake_config_t *cfg = intake_config_from_env ();
    zactor_t *intake = zactor_new (intake_server, cfg);
    bool ok = gz_service_ready (intake);
    const char *names[] = {"intake"};
    if (ok)
        gz_service_wait (&intake, names, 1);
    zactor_destroy (&intake);
    intake_config_destroy (&cfg);
    gz_info ("intake", "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
