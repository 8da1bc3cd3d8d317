/*  intake_http: intake's route table. Open311 (/open311/v2/), the QR page
    (/q/) and the status page (/r/); gz_actor answers /healthz, /readyz
    and /metrics. Submissions are deferred (see intake.h); reads and the
    resident's forms are blocking routes, run on gz_http's workers.  */
#include "intake.h"
#include "gz_auth.h"
#include "gz_log.h"

#include <stdio.h>
#include <string.h>

static bool
s_open311 (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    const char *path = gz_http_path (req);
    if (strncmp (path, "/open311/v2/", 12) == 0)
        return intake_open311 (state, req, path + 12);
    gz_http_reply_error (req, 404, "not_found", "no such resource");
    return false;
}

static bool
s_qr (void *state, gz_http_req_t *req, const char *rest)
{
    return intake_page_qr (state, req, rest);
}

//  /r/{id}: the status page; /r/{id}/{action}: the resident's forms.
static bool
s_status (void *state, gz_http_req_t *req, const char *rest)
{
    const char *slash = strchr (rest, '/');
    if (!slash) {
        intake_page_status (state, req, rest);
        return false;
    }
    char id[32] = "";
    size_t n = (size_t) (slash - rest);
    if (n < sizeof id)
        memcpy (id, rest, n);
    intake_page_resident (state, req, id, slash + 1);
    return false;
}

//  /internal/v1/contacts/{id}: a resident's contact and status link, for
//  notify and routing's workbench (the tel: link; both show
//  GZ_NOTIFY_CONTACT_KEY as a bearer token): the one path by which a
//  contact leaves intake. Answered 404 when the key is not
//  set, not given or wrong (nothing tells a prober the path exists), or
//  when the request left no contact. Never logged.
static bool
s_contact (void *state, gz_http_req_t *req, const char *rest)
{
    intake_t *ctx = state;
    const char *key = ctx->cfg->contact_key;
    const char *given = gz_http_bearer (req);
    size_t n = strspn (rest, "0123456789");
    if (!key || !given || !gz_auth_secret_equal (given, key) || n == 0 || n > 18 || rest[n] ||
        strcmp (gz_http_method (req), "GET") != 0) {
        gz_http_reply_error (req, 404, "not_found", "no such resource");
        return false;
    }
    intake_contact_t c;
    int rc = intake_store_contact (ctx, rest, &c);
    if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (rc > 0)
        gz_http_reply_error (req, 404, "not_found", "no contact on record");
    else {
        char path[128];
        snprintf (path, sizeof path, "/r/%s?t=%s", rest, c.secret);
        gz_http_reply_json (
            req, 200,
            json_pack ("{s:s, s:s, s:s}", "phone", c.phone, "email", c.email, "status_path", path));
        explicit_bzero (path, sizeof path);
    }
    explicit_bzero (&c, sizeof c);
    return false;
}

//  /media/{sha256}[/thumb]: residents' photos.
static bool
s_media (void *state, gz_http_req_t *req, const char *rest)
{
    intake_media (state, req, rest);
    return false;
}

//  /internal/v1/photos[/…] and /internal/v1/requests/{id}/photos: the
//  workbench's photos (intake_media_internal), keyed as contacts are.
static bool
s_internal_photos (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    intake_media_internal (state, req, gz_http_path (req) + strlen ("/internal/v1/"));
    return false;
}

static bool
s_root (void *state, gz_http_req_t *req, const char *rest)
{
    (void) state, (void) rest;
    gz_http_set_header (req, "Location", "/open311/v2/discovery.json");
    gz_http_reply (req, 302, "text/plain; charset=utf-8", "", 0);
    return false;
}

//  First match wins. Open311 reads of requests and updates wait on a read
//  connection: blocking. Submissions (POST) are deferred, never blocking.
const gz_route_t intake_routes[] = {
    {"POST", "/open311/v2/", "open311", s_open311, false},
    {NULL, "/open311/v2/requests*", "open311", s_open311, true},
    {NULL, "/open311/v2/servicerequestupdates*", "open311", s_open311, true},
    {NULL, "/open311/*", "open311", s_open311, false},
    {NULL, "/q/", "qr", s_qr, false},
    {NULL, "/r/", "status", s_status, true},
    {NULL, "/internal/v1/contacts/", "contact", s_contact, true},
    {NULL, "/media/", "media", s_media, true},
    {NULL, "/internal/v1/photos*", "photo_internal", s_internal_photos, true},
    {NULL, "/internal/v1/requests/", "photo_internal", s_internal_photos, true},
    {NULL, "/", "other", s_root, false},
    {NULL, NULL, NULL, NULL, false},
};

//  Every worker is busy and the queue is full (reads or routing are slow):
//  answer at once rather than hold the connection.
void
intake_http_busy (gz_http_req_t *req, void *state, const gz_route_t *route)
{
    intake_t *ctx = state;
    gz_metrics_add (ctx->metrics, "gz_intake_busy_total", NULL, 1);
    const char *path = gz_http_path (req);
    if (strcmp (route->label, "open311") == 0)
        intake_open311_unavailable (req, path + 12);
    else if (strcmp (route->label, "status") == 0) {
        const char *body = "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
                           "<title>请稍后再试</title><p>系统繁忙，请稍后再试。</p></html>";
        gz_http_reply (req, 503, "text/html; charset=utf-8", body, strlen (body));
    }
    else
        gz_http_reply_error (req, 503, "busy", "too many requests waiting; retry shortly");
}

void
intake_http_observe (intake_t *ctx, const char *route, int64_t start_us)
{
    gz_actor_observe (ctx->actor, route, start_us);
}

void
intake_http_timeout (gz_http_req_t *req, void *state)
{
    intake_t *ctx = state;
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
intake_rate_limited (intake_t *ctx, gz_http_req_t *req, const char *client, intake_format_t format)
{
    int retry = 1;
    if (gz_ratelimit_take (ctx->ratelimit, client, &retry))
        return false;
    char secs[16];
    snprintf (secs, sizeof secs, "%d", retry);
    gz_http_set_header (req, "Retry-After", secs);
    const char *msg = "too many requests from this client; retry later";
    if (format == INTAKE_FORMAT_XML) {
        char body[256];
        snprintf (body, sizeof body,
                  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<errors><error><code>429</code>"
                  "<description>%s</description></error></errors>",
                  msg);
        gz_http_reply (req, 429, "text/xml; charset=utf-8", body, strlen (body));
    }
    else if (format == INTAKE_FORMAT_HTML) {
        const char *body = "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\">"
                           "<title>请稍后再试</title><p>提交过于频繁，请稍后再试。</p></html>";
        gz_http_reply (req, 429, "text/html; charset=utf-8", body, strlen (body));
    }
    else
        gz_http_reply_json (req, 429, json_pack ("[{s:i,s:s}]", "code", 429, "description", msg));
    char labels[96];
    snprintf (labels, sizeof labels, "channel=\"%s\",outcome=\"rate_limited\"",
              format == INTAKE_FORMAT_HTML ? "qr" : "open311");
    gz_metrics_add (ctx->metrics, "gz_intake_submissions_total", labels, 1);
    return true;
}
