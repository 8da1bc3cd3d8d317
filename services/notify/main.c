/*  gz-notify: the notify service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP reloads the plan and the org directory; a plan that does not
    load is logged with file:line and the old one stays.  */
#include "gz_service.h"
#include "notify_server.h"

int
main (void)
{
    const gz_service_def_t *services[] = {&notify_service};
    return gz_service_main (services, 1);
}
