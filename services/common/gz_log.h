/*  gz_log: structured one-line logs (logfmt) on stderr.

    Every line: ts=ISO8601 level=info svc=intake msg="..." key=value ...
    The level threshold comes from GZ_LOG_LEVEL (debug, info, warn, error;
    default info). Logs are English; personal data never goes in them.  */
#ifndef GZ_LOG_H_INCLUDED
#define GZ_LOG_H_INCLUDED

typedef enum { GZ_LOG_DEBUG = 0, GZ_LOG_INFO, GZ_LOG_WARN, GZ_LOG_ERROR } gz_log_level_t;

//  Write one line. svc names the component; fmt is printf-style and forms
//  the rest of the line after msg= (use key=value pairs; quote free text
//  with gz_log's %s only through values you control).
void gz_log (gz_log_level_t level, const char *svc, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

//  True when lines at this level are written.
int gz_log_enabled (gz_log_level_t level);

#define gz_debug(svc, ...) gz_log (GZ_LOG_DEBUG, svc, __VA_ARGS__)
#define gz_info(svc, ...) gz_log (GZ_LOG_INFO, svc, __VA_ARGS__)
#define gz_warn(svc, ...) gz_log (GZ_LOG_WARN, svc, __VA_ARGS__)
#define gz_error(svc, ...) gz_log (GZ_LOG_ERROR, svc, __VA_ARGS__)

#endif
