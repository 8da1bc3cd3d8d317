/*  gz_service: the main loop every service binary shares. See gz_service.h.  */
#include "gz_service.h"
#include "gz_log.h"

#include <assert.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t s_hup = 0;

static void
s_on_hup (int sig)
{
    (void) sig;
    s_hup = 1;
}

bool
gz_service_ready (zactor_t *actor)
{
    zstr_send (actor, "PORT");
    char *port = zstr_recv (actor);
    bool ok = port && atoi (port) > 0;
    free (port);
    return ok;
}

void
gz_service_signals (void)
{
    zsys_catch_interrupts ();
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_hup;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGHUP, &sa, NULL);
}

void
gz_service_wait (zactor_t **actors, const char **names, size_t n)
{
    while (!zsys_interrupted) {
        zclock_sleep (100);
        if (!s_hup)
            continue;
        s_hup = 0;
        //  Last started first: a consumer holds the newer directory
        //  before its producer sends anything that needs it.
        for (size_t i = n; i-- > 0;) {
            zstr_send (actors[i], "RELOAD");
            int rc = zsock_wait (actors[i]);
            gz_info (names[i], "msg=\"SIGHUP reload\" ok=%d", rc == 0);
        }
    }
}

int
gz_service_main (const gz_service_def_t *const *services, size_t n)
{
    assert (n > 0 && n <= 8);
    gz_service_signals ();
    void *configs[8] = {NULL};
    zactor_t *actors[8] = {NULL};
    const char *names[8] = {NULL};
    size_t started = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        names[i] = services[i]->name;
        configs[i] = services[i]->config_from_env ();
        actors[i] = zactor_new (services[i]->actor, configs[i]);
        started = i + 1;
        ok = gz_service_ready (actors[i]);
    }
    if (ok) {
        gz_info (n > 1 ? "gongzhi" : names[0], "msg=\"running\" services=%zu", n);
        gz_service_wait (actors, names, n);
    }
    for (size_t i = started; i-- > 0;) {
        zactor_destroy (&actors[i]);
        services[i]->config_destroy (configs[i]);
    }
    gz_info (n > 1 ? "gongzhi" : names[0], "msg=\"exit\" ok=%d", ok);
    return ok ? 0 : 1;
}
