/*  gongzhi: the all-in-one binary (the laptop default). Hosts every
    service that exists as an actor in one process, each configured from
    the same GZ_* variables as its own binary; SIGTERM or SIGINT drains
    and stops them all, SIGHUP reloads routing's rules and both services'
    org directory.  */
#include "gz_log.h"
#include "gz_service.h"
#include "intake_server.h"
#include "routing_server.h"

int
main (void)
{
    gz_service_signals ();
    intake_config_t *intake_cfg = intake_config_from_env ();
    routing_config_t *routing_cfg = routing_config_from_env ();
    //  Intake first: it creates the stream routing consumes.
    zactor_t *intake = zactor_new (intake_server, intake_cfg);
    bool ok = gz_service_ready (intake);
    zactor_t *routing = ok ? zactor_new (routing_server, routing_cfg) : NULL;
    ok = ok && gz_service_ready (routing);
    if (ok) {
        gz_info ("gongzhi", "msg=\"all services running\" services=intake,routing");
        zactor_t *actors[] = {routing, intake};
        const char *names[] = {"routing", "intake"};
        gz_service_wait (actors, names, 2);
    }
    gz_info ("gongzhi", "msg=\"stopping\"");
    zactor_destroy (&routing);
    zactor_destroy (&intake);
    routing_config_destroy (&routing_cfg);
    intake_config_destroy (&intake_cfg);
    return ok ? 0 : 1;
}
