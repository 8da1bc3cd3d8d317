/*  gz_config: configuration from the environment. See gz_config.h.  */
#include "gz_config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
gz_config_str (const char *name, const char *dflt)
{
    const char *v = getenv (name);
    return (v && *v) ? v : dflt;
}

long
gz_config_int (const char *name, long dflt, long min, long max)
{
    const char *v = gz_config_str (name, NULL);
    if (!v)
        return dflt;
    char *end = NULL;
    errno = 0;
    long n = strtol (v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        fprintf (stderr, "config: %s=%s is not an integer in [%ld, %ld]; using %ld\n", name, v, min,
                 max, dflt);
        return dflt;
    }
    return n;
}

bool
gz_config_bool (const char *name, bool dflt)
{
    const char *v = gz_config_str (name, NULL);
    if (!v)
        return dflt;
    if (!strcasecmp (v, "1") || !strcasecmp (v, "true") || !strcasecmp (v, "yes") ||
        !strcasecmp (v, "on"))
        return true;
    if (!strcasecmp (v, "0") || !strcasecmp (v, "false") || !strcasecmp (v, "no") ||
        !strcasecmp (v, "off"))
        return false;
    return dflt;
}

int
gz_config_port_base (void)
{
    return (int) gz_config_int ("GZ_PORT_BASE", 8080, 1, 65000);
}

int
gz_config_port (const char *name, int offset)
{
    return (int) gz_config_int (name, gz_config_port_base () + offset, 0, 65535);
}

char *
gz_config_endpoint (const char *name, int offset)
{
    const char *v = gz_config_str (name, NULL);
    if (v)
        return strdup (v);
    char buf[64];
    snprintf (buf, sizeof buf, "tcp://127.0.0.1:%d", gz_config_port_base () + offset);
    return strdup (buf);
}

char *
gz_config_database_url (void)
{
    const char *v = gz_config_str ("GZ_DATABASE_URL", NULL);
    if (v)
        return strdup (v);
    char buf[128];
    snprintf (buf, sizeof buf, "postgresql://gongzhi@127.0.0.1:%ld/gongzhi",
              gz_config_int ("GZ_PG_PORT", 54320, 1, 65535));
    return strdup (buf);
}

char *
gz_config_strdup (const char *name, const char *dflt)
{
    const char *v = gz_config_str (name, dflt);
    char *s = v ? strdup (v) : NULL;
    assert (!v || s);
    return s;
}

void
gz_config_strings_dup (void *config, const size_t *offsets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char **s = (char **) ((char *) config + offsets[i]);
        if (*s) {
            *s = strdup (*s);
            assert (*s);
        }
    }
}

void
gz_config_strings_free (void *config, const size_t *offsets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char **s = (char **) ((char *) config + offsets[i]);
        if (*s)
            explicit_bzero (*s, strlen (*s));
        free (*s);
        *s = NULL;
    }
}
