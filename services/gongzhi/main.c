/*  gongzhi: the all-in-one binary (the laptop default). Hosts every
    service that exists as an actor in one process, each configured from
    the same GZ_* variables as its own binary; SIGTERM or SIGINT drains
    and stops them all, SIGHUP reloads routing's rules and
    both services' org directory.  */
#include <signal.h>

#include "gz_log.h"
#include "intake_server.h"
#include "routing_server.h"

static volatile sig_atomic_t s_hup = 0;

static void
s_on_hup (int sig)
{
    (void) sig;
    s_hup = 1;
}

static bool
s_ready (zactor_t *actor)
{
    zstr_send (actor, "PORT");
    char *port = zstr_recv (actor);
    bool ok = port && atoi (port) > 0;
    free (port);
    return ok;
}

int
main (void)
{
    zsys_catch_interrupts ();
    signal (SIGHUP, s_on_hup);
    intake_config_t *intake_cfg = intake_config_from_env ();
    routing_config_t *routing_cfg = routing_config_from_env ();
    //  Intake first: it creates the stream routing consumes.
    zactor_t *intake = zactor_new (intake_server, intake_cfg);
    bool ok = s_ready (intake);
    zactor_t *routing = ok ? zactor_new (routing_server, routing_cfg) : NULL;
    ok = ok && s_ready (routing);
    if (ok)
        gz_info ("gongzhi", "msg=\"all services running\" services=intake,routing");
    while (ok && !zsys_interrupted) {
        zclock_sleep (100);
        if (s_hup) {
            s_hup = 0;
            zstr_send (routing, "RELOAD");
            int rrc = zsock_wait (routing);
            zstr_send (intake, "RELOAD");
            int irc = zsock_wait (intake);
            gz_info ("gongzhi", "msg=\"SIGHUP reload\" routing_ok=%d intake_ok=%d", rrc == 0,
                     irc == 0);
        }
    }
    gz_info ("gongzhi", "msg=\"stopping\"");
    zactor_destroy (&routing);
    zactor_destroy (&intake);
    routing_config_destroy (&routing_cfg);
    intake_config_destroy (&intake_cfg);
    return ok ? 0 : 1;
}
