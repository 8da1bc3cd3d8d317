/*  gz_log: structured one-line logs. See gz_log.h.  */
#include "gz_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

//  The threshold is read once from the environment; it is the same for
//  every actor in the process, so a read-only cached value is harmless.
static atomic_int s_threshold = -1;

static int
s_threshold_get (void)
{
    int t = atomic_load (&s_threshold);
    if (t >= 0)
        return t;
    const char *env = getenv ("GZ_LOG_LEVEL");
    t = GZ_LOG_INFO;
    if (env) {
        if (strcmp (env, "debug") == 0)
            t = GZ_LOG_DEBUG;
        else if (strcmp (env, "warn") == 0)
            t = GZ_LOG_WARN;
        else if (strcmp (env, "error") == 0)
            t = GZ_LOG_ERROR;
    }
    atomic_store (&s_threshold, t);
    return t;
}

int
gz_log_enabled (gz_log_level_t level)
{
    return (int) level >= s_threshold_get ();
}

void
gz_log (gz_log_level_t level, const char *svc, const char *fmt, ...)
{
    if (!gz_log_enabled (level))
        return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    char line[2048];
    int n = snprintf (line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s svc=%s ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec, (int) (tv.tv_usec / 1000), names[level], svc ? svc : "-");
    va_list ap;
    va_start (ap, fmt);
    if (n > 0 && (size_t) n < sizeof line)
        vsnprintf (line + n, sizeof line - (size_t) n, fmt, ap);
    va_end (ap);
    //  One write per line so lines from several threads never interleave.
    size_t len = strnlen (line, sizeof line - 2);
    line[len] = '\n';
    fwrite (line, 1, len + 1, stderr);
}
