/*  gz_config: configuration from GZ_* environment variables.

    Every TCP port the platform opens derives from GZ_PORT_BASE (default
    8080) unless its own variable is set, so two platforms run side by
    side on different bases. Offsets: intake HTTP +0, routing +1,
    matching +2, notify +3, analytics +4; bus endpoints +10 and up (the
    next free one: +17).  */
#ifndef GZ_CONFIG_H_INCLUDED
#define GZ_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Offsets from GZ_PORT_BASE. Fixed forever: deployments depend on them.
enum {
    GZ_PORT_INTAKE_HTTP = 0,
    GZ_PORT_ROUTING_HTTP = 1,
    GZ_PORT_MATCHING_HTTP = 2,
    GZ_PORT_NOTIFY_HTTP = 3,
    GZ_PORT_ANALYTICS_HTTP = 4,
    GZ_PORT_INTAKE_BUS = 10,      //  ROUTER: SubmitRequest commands
    GZ_PORT_INTAKE_EVENTS = 11,   //  PUB: intake's event stream
    GZ_PORT_ROUTING_BUS = 12,     //  ROUTER: WorkerCommand commands
    GZ_PORT_ROUTING_EVENTS = 13,  //  PUB: routing's event stream
    GZ_PORT_MATCHING_BUS = 14,    //  ROUTER: MatchCommand commands
    GZ_PORT_MATCHING_EVENTS = 15, //  PUB: matching's event stream
    GZ_PORT_NOTIFY_EVENTS = 16,   //  PUB: notify's event stream (each delivery's end)
};

//  The value of variable name, or dflt when unset or empty. Borrowed.
const char *gz_config_str (const char *name, const char *dflt);

//  The integer value of name, or dflt when unset; a value that is not an
//  integer within [min, max] is reported on stderr and dflt is used.
long gz_config_int (const char *name, long dflt, long min, long max);

//  True for 1/true/yes/on, false for 0/false/no/off, else dflt.
bool gz_config_bool (const char *name, bool dflt);

//  GZ_PORT_BASE (default 8080).
int gz_config_port_base (void);

//  The port for a given offset: variable name when set, else base+offset.
int gz_config_port (const char *name, int offset);

//  A ZeroMQ endpoint: variable name when set, else
//  tcp://127.0.0.1:<base+offset>. Caller frees.
char *gz_config_endpoint (const char *name, int offset);

//  The database URL: GZ_DATABASE_URL, else the private cluster's default
//  (postgresql://gongzhi@127.0.0.1:<GZ_PG_PORT or 54320>/gongzhi).
//  Caller frees.
char *gz_config_database_url (void);

//  gz_config_str's value as a new string (caller frees), or NULL when
//  the variable is unset and dflt is NULL.
char *gz_config_strdup (const char *name, const char *dflt);

//  A service config's owned strings, named once by their offsets
//  (offsetof (cfg_t, field)): after a struct copy, each is duplicated
//  (NULL stays NULL); on destroy, each is wiped (keys, passwords) and
//  freed. So copying and freeing a config cannot forget a field.
void gz_config_strings_dup (void *config, const size_t *offsets, size_t n);
void gz_config_strings_free (void *config, const size_t *offsets, size_t n);

#endif
