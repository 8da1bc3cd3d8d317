/*  gz-routing: the routing service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP re-reads the rules file (GZ_ROUTING_RULES) and the org
    directory (a bad file is refused and the old rules stay in force).  */
#include "gz_service.h"
#include "routing_server.h"

int
main (void)
{
    const gz_service_def_t *services[] = {&routing_service};
    return gz_service_main (services, 1);
}
