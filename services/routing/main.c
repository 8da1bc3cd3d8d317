/*  gz-routing: the routing service alone (the container way). Reads GZ_*
    configuration, starts the actor, waits for SIGTERM or SIGINT, drains.
    SIGHUP re-reads the rules file (GZ_ROUTING_RULES) and the org
    directory (a bad file is refused and the old rules stay in force).  */
#include "gz_log.h"
#include "gz_service.h"
#include "routing_server.h"

int
main (void)
{
    gz_service_signals ();
    routing_config_t *cfg = routing_config_from_env ();
    zactor_t *routing = zactor_new (routing_server, cfg);
    bool ok = gz_service_ready (routing);
    const char *names[] = {"routing"};
    if (ok)
        gz_service_wait (&routing, names, 1);
    zactor_destroy (&routing);
    routing_config_destroy (&cfg);
    gz_info ("routing", "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
