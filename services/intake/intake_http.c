/*  intake_http: the HTTP front door of intake. Dispatches by path to
    Open311 (/open311/v2/), the QR page (/q/), the status page (/r/), and
    the operational endpoints every service has (/healthz, /readyz,
    /metrics). Runs on libmicrohttpd's event-loop threads: submissions
    are deferred (see intake.h), reads run inline.  */
#include "intake.h"
#include "gz_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

double
intake_http_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_readyz (intake_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    extern const gz_migration_t intake_migrations[];
    bool ok =
        ctx->migrated && gz_db_ok (db) && gz_db_migrated (db, ctx->cfg->schema, intake_migrations);
    gz_dbpool_put (ctx->pool, db);
    if (ok)
        gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ready"));
    else
        gz_http_reply_error (req, 503, "not_ready",
                             "database unreachable or migrations not applied");
}

static const char *
s_route (const char *path)
{
    if (strncmp (path, "/open311/", 9) == 0)
        return "open311";
    if (strncmp (path, "/q/", 3) == 0)
        return "qr";
    if (strncmp (path, "/r/", 3) == 0)
        return "status";
    if (strcmp (path, "/healthz") == 0 || strcmp (path, "/readyz") == 0 ||
        strcmp (path, "/metrics") == 0)
        return path + 1;
    return "other";
}

//  Does this request hold its HTTP thread while it waits on something
//  else (a read connection, routing's API)? Submissions do not (they are
//  deferred); the fixed pages and answers from memory do not.
static bool
s_blocking (const char *route, const char *path, const char *method)
{
    if (strcmp (route, "status") == 0 || strcmp (path, "/readyz") == 0)
        return true;
    return strcmp (route, "open311") == 0 && strcmp (method, "POST") != 0 &&
           (strncmp (path, "/open311/v2/requests", 20) == 0 ||
            strncmp (path, "/open311/v2/servicerequestupdates", 33) == 0);
}

//  Every worker is busy and the queue is full (reads or routing are slow):
//  answer at once rather than hold the connection.
static void
s_busy (intake_t *ctx, gz_http_req_t *req, const char *route, const char *path)
{
    gz_metrics_add (ctx->metrics, "gz_intake_busy_total", NULL, 1);
    gz_http_set_header (req, "Retry-After", "1");
    if (strcmp (route, "open311") == 0)
        intake_open311_unavailable (req, path + 12);
    else if (strcmp (route, "status") == 0) {
        const char *body = "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
                           "<title>请稍后再试</title><p>系统繁忙，请稍后再试。</p></html>";
        gz_http_reply (req, 503, "text/html; charset=utf-8", body, strlen (body));
    }
    else
        gz_http_reply_error (req, 503, "busy", "too many requests waiting; retry shortly");
}

//  Route the request; true when it was deferred (a submission).
static bool
s_dispatch (intake_t *ctx, gz_http_req_t *req, const char *route, const char *path)
{
    bool deferred = false;
    if (strcmp (route, "open311") == 0 && strncmp (path, "/open311/v2/", 12) == 0)
        deferred = intake_open311 (ctx, req, path + 12);
    else if (strcmp (route, "qr") == 0)
        deferred = intake_page_qr (ctx, req, path + 3);
    else if (strcmp (route, "status") == 0) {
        const char *slash = strchr (path + 3, '/');
        if (slash) {
            char id[32] = "";
            size_t n = (size_t) (slash - (path + 3));
            if (n < sizeof id)
                memcpy (id, path + 3, n);
            intake_page_resident (ctx, req, id, slash + 1);
        }
        else
            intake_page_status (ctx, req, path + 3);
    }
    else if (strcmp (path, "/healthz") == 0)
        gz_http_reply_json (req, 200, json_pack ("{s:s}", "status", "ok"));
    else if (strcmp (path, "/readyz") == 0)
        s_readyz (ctx, req);
    else if (strcmp (path, "/metrics") == 0) {
        char *text = gz_metrics_render (ctx->metrics);
        gz_http_reply (req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text));
        free (text);
    }
    else if (strcmp (path, "/") == 0) {
        gz_http_set_header (req, "Location", "/open311/v2/discovery.json");
        gz_http_reply (req, 302, "text/plain; charset=utf-8", "", 0);
    }
    else
        gz_http_reply_error (req, 404, "not_found", "no such resource");
    return deferred;
}

//  An offloaded request, on a worker thread.
typedef struct {
    intake_t *ctx;
    double start;
} s_offload_t;

static void
s_offloaded (gz_http_req_t *req, void *arg)
{
    s_offload_t *job = arg;
    const char *path = gz_http_path (req);
    const char *route = s_route (path);
    s_dispatch (job->ctx, req, route, path);
    intake_http_observe (job->ctx, route, job->start);
    free (job);
}

void
intake_http_handler (gz_http_req_t *req, void *arg)
{
    intake_t *ctx = arg;
    double start = intake_http_now ();
    const char *path = gz_http_path (req);
    const char *route = s_route (path);
    if (s_blocking (route, path, gz_http_method (req))) {
        //  Waits on a read connection or on routing: on a worker, so this
        //  HTTP thread and the connections it serves (submissions among
        //  them) never wait with it.
        s_offload_t *job = malloc (sizeof *job);
        assert (job);
        job->ctx = ctx;
        job->start = start;
        if (gz_http_offload (req, s_offloaded, job) != 0) {
            free (job);
            s_busy (ctx, req, route, path);
            intake_http_observe (ctx, route, start);
        }
        return;
    }
    //  A deferred request (req is no longer ours) is counted when answered.
    if (!s_dispatch (ctx, req, route, path))
        intake_http_observe (ctx, route, start);
}

void
intake_http_observe (intake_t *ctx, const char *route, double start)
{
    char labels[64];
    snprintf (labels, sizeof labels, "route=\"%s\"", route);
    gz_metrics_observe (ctx->metrics, "gz_http_request_duration_seconds", labels,
                        intake_http_now () - start);
    gz_metrics_add (ctx->metrics, "gz_http_requests_total", labels, 1);
}

void
intake_http_timeout (gz_http_req_t *req, void *arg)
{
    intake_t *ctx = arg;
    const char *path = gz_http_path (req);
    bool qr = strncmp (path, "/q/", 3) == 0;
    if (qr)
        intake_page_qr_unavailable (ctx, req, path + 3);
    else
        intake_open311_unavailable (req, strncmp (path, "/open311/v2/", 12) == 0 ? path + 12 : "");
    //  Counted, not observed: its start time is with the submission.
    gz_metrics_add (ctx->metrics, "gz_http_requests_total",
                    qr ? "route=\"qr\"" : "route=\"open311\"", 1);
}

bool
intake_rate_limited (intake_t *ctx, gz_http_req_t *req, const char *client, int format)
{
    int retry = 1;
    if (gz_ratelimit_take (ctx->ratelimit, client, &retry))
        return false;
    char secs[16];
    snprintf (secs, sizeof secs, "%d", retry);
    gz_http_set_header (req, "Retry-After", secs);
    const char *msg = "too many requests from this client; retry later";
    if (format == 1) { //  Open311 XML
        char body[256];
        snprintf (body, sizeof body,
                  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>429</code>"
                  "<description>%s</description></error></errors>",
                  msg);
        gz_http_reply (req, 429, "text/xml; charset=utf-8", body, strlen (body));
    }
    else if (format == 2) { //  HTML
        const char *body = "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
                           "<title>请稍后再试</title><p>提交过于频繁，请稍后再试。</p></html>";
        gz_http_reply (req, 429, "text/html; charset=utf-8", body, strlen (body));
    }
    else
        gz_http_reply_json (req, 429, json_pack ("[{s:i,s:s}]", "code", 429, "description", msg));
    char labels[96];
    snprintf (labels, sizeof labels, "channel=\"%s\",outcome=\"rate_limited\"",
              format == 2 ? "qr" : "open311");
    gz_metrics_add (ctx->metrics, "gz_intake_submissions_total", labels, 1);
    return true;
}
