/*  analytics_report_http: GET /api/v1/reports/monthly?node=CODE&month=YYYY-MM&format=xlsx|csv,
    the monthly 一张表 as a download (docs/analytics-report.md). A blocking
    route (a pool worker): collects the report on a pool connection, then
    writes it (the workbook through a temporary file, removed at once).
    A staff or operator bearer token (routing's) as every analytics route.
    Errors: {"error": {"code", "message"}} with 400 (the reason) 401 405 503.  */
#include "analytics.h"
#include "gz_auth.h"
#include "gz_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const s_xlsx_type =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

//  The file at path, read whole into a heap buffer (*len_p), or NULL.
static char *
s_slurp (const char *path, size_t *len_p)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    long size = fseek (f, 0, SEEK_END) == 0 ? ftell (f) : -1;
    if (size >= 0 && fseek (f, 0, SEEK_SET) == 0) {
        data = malloc ((size_t) size + 1);
        if (data && fread (data, 1, (size_t) size, f) != (size_t) size) {
            free (data);
            data = NULL;
        }
    }
    fclose (f);
    *len_p = data ? (size_t) size : 0;
    return data;
}

//  The workbook of r as bytes (*len_p), or NULL (logged).
static char *
s_xlsx_bytes (const analytics_report_t *r, size_t *len_p)
{
    const char *tmp = getenv ("TMPDIR");
    char path[512];
    snprintf (path, sizeof path, "%s/gz-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp (path);
    if (fd < 0) {
        gz_error ("analytics", "msg=\"no temporary file for the workbook\" path=\"%s\"", path);
        return NULL;
    }
    close (fd);
    char *data = NULL;
    if (analytics_report_xlsx (r, path, tmp && *tmp ? tmp : NULL) == 0)
        data = s_slurp (path, len_p);
    unlink (path);
    return data;
}

//  Content-Disposition: an ASCII filename (report-NODE-MONTH.EXT) and a
//  UTF-8 filename* with the Chinese name (RFC 6266, RFC 5987 encoding).
static void
s_disposition (gz_http_req_t *req, const char *node, const char *month, const char *ext)
{
    char name[160], utf8[200], encoded[600], header[900];
    analytics_report_filename (node, month, ext, name, sizeof name);
    snprintf (utf8, sizeof utf8, "一张表-%s-%s.%s", node, month, ext);
    size_t at = 0;
    for (const unsigned char *p = (const unsigned char *) utf8; *p && at + 4 < sizeof encoded;
         p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr ("-._", *p))
            encoded[at++] = (char) *p;
        else
            at += (size_t) snprintf (encoded + at, sizeof encoded - at, "%%%02X", *p);
    }
    encoded[at] = 0;
    snprintf (header, sizeof header, "attachment; filename=\"%s\"; filename*=UTF-8''%s", name,
              encoded);
    gz_http_set_header (req, "Content-Disposition", header);
}

//  The query checked: node, month and format; 0, or -1 when answered.
static int
s_params (gz_http_req_t *req, const char **node, const char **month, const char **format)
{
    *node = gz_http_query (req, "node");
    *month = gz_http_query (req, "month");
    *format = gz_http_query (req, "format");
    char from[11], to[11];
    const char *err = NULL;
    if (!*node || !**node || strlen (*node) > 64 ||
        strspn (*node, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                       "klmnopqrstuvwxyz0123456789._-") != strlen (*node))
        err = "node: a unit code is required";
    else if (analytics_report_month_parse (*month, from, to))
        err = "month: a month YYYY-MM is required";
    else if (*format && strcmp (*format, "xlsx") != 0 && strcmp (*format, "csv") != 0)
        err = "format: xlsx or csv";
    if (err) {
        gz_http_reply_error (req, 400, "bad_request", err);
        return -1;
    }
    if (!*format)
        *format = "xlsx";
    return 0;
}

//  The caller's token checked on db: 0, or -1 when answered.
static int
s_caller (gz_http_req_t *req, gz_db_t *db)
{
    const char *token = gz_http_bearer (req);
    gz_caller_t who;
    int rc = token ? gz_auth_caller (db, token, &who) : 1;
    if (rc == 0)
        return 0;
    if (rc > 0)
        gz_http_reply_error (req, 401, "unauthorized",
                             token ? "unknown or expired token"
                                   : "a staff or operator bearer token");
    else
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    return -1;
}

static void
s_send (gz_http_req_t *req, const analytics_report_t *r, const char *format)
{
    size_t len = 0;
    bool csv = strcmp (format, "csv") == 0;
    char *body = csv ? analytics_report_csv (r, &len) : s_xlsx_bytes (r, &len);
    if (!body) {
        gz_http_reply_error (req, 500, "internal", "the report could not be written");
        return;
    }
    s_disposition (req, r->node.code, r->month, format);
    gz_http_set_header (req, "Cache-Control", "no-store");
    gz_http_reply (req, 200, csv ? "text/csv; charset=utf-8" : s_xlsx_type, body, len);
    free (body);
}

bool
analytics_route_report_monthly (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    analytics_t *ctx = state;
    if (strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_set_header (req, "Allow", "GET");
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET");
        return false;
    }
    const char *node, *month, *format;
    if (s_params (req, &node, &month, &format))
        return false;
    gz_dbpool_t *pool = gz_actor_pool (ctx->actor);
    gz_db_t *db = gz_dbpool_get (pool);
    if (s_caller (req, db)) {
        gz_dbpool_put (pool, db);
        return false;
    }
    analytics_report_t *r = NULL;
    int rc = analytics_report_collect (db, ctx->cfg, node, month, analytics_now_us (ctx), &r);
    gz_dbpool_put (pool, db);
    if (rc == 1)
        gz_http_reply_error (req, 400, "bad_request", "node: no such unit");
    else if (rc != 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else
        s_send (req, r, format);
    analytics_report_destroy (&r);
    return false;
}
