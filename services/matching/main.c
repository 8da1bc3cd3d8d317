/*  gz-matching: the matching service alone (the container way). Reads
    GZ_* configuration, starts the actor, waits for SIGTERM or SIGINT,
    drains. SIGHUP reloads the org directory.  */
#include "gz_service.h"
#include "matching_server.h"

int
main (void)
{
    const gz_service_def_t *services[] = {&matching_service};
    return gz_service_main (services, 1);
}
