/*  gz_actor_config: what every service is configured with, from the
    environment (GZ_* variables; README's configuration table). See
    gz_actor.h (gz_actor_config_t).  */
#include "gz_actor.h"
#include "gz_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
s_var (char *buf, size_t len, const char *prefix, const char *suffix)
{
    snprintf (buf, len, "GZ_%s_%s", prefix, suffix);
    return buf;
}

void
gz_actor_config_from_env (gz_actor_config_t *cfg, const char *prefix, const char *default_schema,
                          int http_offset, int bus_offset, int events_offset)
{
    char v[64];
    memset (cfg, 0, sizeof *cfg);
    cfg->database_url = gz_config_database_url ();
    cfg->schema = strdup (gz_config_str (s_var (v, sizeof v, prefix, "SCHEMA"), default_schema));
    cfg->http_bind = strdup (gz_config_str ("GZ_HTTP_BIND", "0.0.0.0"));
    cfg->http_port = gz_config_port (s_var (v, sizeof v, prefix, "HTTP_PORT"), http_offset);
    //  1, 2 and 4 threads measured alike for intake's POSTs on 2 cores; 8
    //  leaves room for the connections that wait.
    cfg->http_threads = (int) gz_config_int ("GZ_HTTP_THREADS", 8, 1, 64);
    gz_http_limits_t *l = &cfg->http_limits;
    *l = gz_http_limits_default ();
    l->max_connections = (int) gz_config_int ("GZ_HTTP_MAX_CONNECTIONS", 0, 0, 1000000);
    l->max_per_address =
        (int) gz_config_int ("GZ_HTTP_MAX_PER_ADDRESS", l->max_per_address, 0, 1000000);
    l->header_timeout_s =
        (int) gz_config_int ("GZ_HTTP_HEADER_TIMEOUT_S", l->header_timeout_s, 1, 3600);
    l->body_timeout_s = (int) gz_config_int ("GZ_HTTP_BODY_TIMEOUT_S", l->body_timeout_s, 1, 3600);
    l->idle_timeout_s = (int) gz_config_int ("GZ_HTTP_IDLE_TIMEOUT_S", l->idle_timeout_s, 1, 3600);
    cfg->workers = (int) gz_config_int (s_var (v, sizeof v, prefix, "WORKERS"), 8, 1, 256);
    cfg->worker_queue =
        gz_config_int (s_var (v, sizeof v, prefix, "WORKER_QUEUE"), 1000, 0, 1000000);
    cfg->answer_timeout_ms =
        (int) gz_config_int (s_var (v, sizeof v, prefix, "ANSWER_TIMEOUT_MS"), 15000, 100, 600000);
    cfg->read_conns = (int) gz_config_int (s_var (v, sizeof v, prefix, "READ_CONNS"), 4, 1, 64);
    if (bus_offset >= 0)
        cfg->bus_endpoint = gz_config_endpoint (s_var (v, sizeof v, prefix, "BUS"), bus_offset);
    if (events_offset >= 0)
        cfg->events_endpoint =
            gz_config_endpoint (s_var (v, sizeof v, prefix, "EVENTS"), events_offset);
    cfg->trusted_proxies = strdup (gz_config_str ("GZ_TRUSTED_PROXIES", ""));
    cfg->org_check_ms = (int) gz_config_int ("GZ_ORG_CHECK_MS", 5000, 0, 3600000);
    gz_bus_opts_from_env (&cfg->bus);
    cfg->max_command_bytes =
        (int) gz_config_int ("GZ_BUS_MAX_COMMAND_BYTES", 64 * 1024, 1024, 256 * 1024 * 1024);
    cfg->max_inflight_per_peer =
        (int) gz_config_int ("GZ_BUS_MAX_INFLIGHT_PER_PEER", 256, 1, 1000000);
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

void
gz_actor_config_copy (gz_actor_config_t *dst, const gz_actor_config_t *src)
{
    *dst = *src;
    dst->database_url = s_dup (src->database_url);
    dst->schema = s_dup (src->schema);
    dst->http_bind = s_dup (src->http_bind);
    dst->bus_endpoint = s_dup (src->bus_endpoint);
    dst->events_endpoint = s_dup (src->events_endpoint);
    dst->trusted_proxies = s_dup (src->trusted_proxies);
}

void
gz_actor_config_clear (gz_actor_config_t *cfg)
{
    free (cfg->database_url);
    free (cfg->schema);
    free (cfg->http_bind);
    free (cfg->bus_endpoint);
    free (cfg->events_endpoint);
    free (cfg->trusted_proxies);
    memset (cfg, 0, sizeof *cfg);
}
