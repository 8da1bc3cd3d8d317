/*  gz-analytics: the analytics service alone (the container way). Reads
    GZ_* configuration, starts the actor, waits for SIGTERM or SIGINT,
    drains. SIGHUP reloads the org directory.  */
#include "analytics_server.h"
#include "gz_service.h"

int
main (void)
{
    const gz_service_def_t *services[] = {&analytics_service};
    return gz_service_main (services, 1);
}
