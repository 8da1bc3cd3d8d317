/*  gz-intake: the intake service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP reloads the org directory (after gzctl org import); if it
    cannot be read, the old one stays.  */
#include "gz_service.h"
#include "intake_server.h"

int
main (void)
{
    const gz_service_def_t *services[] = {&intake_service};
    return gz_service_main (services, 1);
}
