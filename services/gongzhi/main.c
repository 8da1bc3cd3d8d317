/*  gongzhi: the all-in-one binary (the laptop default). Hosts every
    service as an actor in one process, each configured from the same
    GZ_* variables as its own binary; SIGTERM or SIGINT drains and stops
    them all, SIGHUP reloads each (routing's rules, the org directory).

    The service table: a new service adds its line here (in start order)
    and a gz_add_service line in services/CMakeLists.txt.  */
#include "analytics_server.h"
#include "gz_service.h"
#include "intake_server.h"
#include "matching_server.h"
#include "notify_server.h"
#include "routing_server.h"

static const gz_service_def_t *const s_services[] = {
    &intake_service,    //  first: it creates the stream routing consumes
    &routing_service,   //
    &notify_service,    //  follows both streams
    &matching_service,  //  follows both; its stream is matching's
    &analytics_service, //  follows intake's and routing's into rollups
};

int
main (void)
{
    return gz_service_main (s_services, sizeof s_services / sizeof s_services[0]);
}
