/*  routing_pages_photos: the workbench's 处置 photos (docs/photos.md,
    "Staff photos").

      POST /w/r/{id}/note|resolve   (multipart/form-data, field "photo",
                              up to ROUTING_MAX_PHOTOS) each photo is sent
                              to intake (POST /internal/v1/photos), which
                              checks, re-encodes and stores it and answers
                              its SHA-256; the names go in the command
                              (routing_cmd_t.photos), so the timeline row
                              and the event carry them
      GET  /w/media/{sha256}[/thumb]?r={id}
                              a photo of request id, fetched from intake
                              (GET /internal/v1/photos/{sha256}[/thumb]),
                              to whoever may read the request

    DESIGN. Routing stores no image and decodes none: intake owns photos
    (its schema, its libvips checks), behind the keyed internal paths the
    contacts use (GZ_ROUTING_CONTACT_KEY). The upload runs on one of
    gz_http's workers (gz_http_offload), never on an HTTP thread, then
    defers the command to the actor like any form. The first photo intake
    refuses stops the action: the worker sees a Chinese page saying which
    one and why, and nothing is applied (the photos intake kept before it
    are linked to no request, and shown to nobody). A photo is shown to a
    viewer who may read the request (routing_may_read) and only when the
    request refers to it: a timeline row's photos, or the filing's as
    intake lists them (GET /internal/v1/requests/{id}/photos); anyone
    else gets 403 (the request) or 404 (the photo).  */
#include "gz_fetch.h"
#include "gz_log.h"
#include "routing_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_UPLOAD_MS 30000L                //  one photo's trip to intake (re-encoding)
#define S_FETCH_MS 5000L                  //  one photo fetched from intake
#define S_FETCH_MAX (16u * 1024 * 1024)   //  bytes of one photo as intake stores it
#define S_FILE_MAX (10u * 1024 * 1024)    //  one photo as uploaded
#define S_REQUEST_MAX (32u * 1024 * 1024) //  one upload in all

gz_http_multipart_t
routing_photos_limits (void)
{
    return (gz_http_multipart_t){S_REQUEST_MAX, S_FILE_MAX, ROUTING_MAX_PHOTOS, 64,
                                 ROUTING_MAX_BODY};
}

static bool
s_sha_ok (const char *s)
{
    return s && strlen (s) == 64 && strspn (s, "0123456789abcdef") == 64;
}

//  ---------------------------------------------------------------- upload

typedef struct {
    routing_t *ctx;
    routing_cmd_t *cmd;
} s_job_t;

//  On a worker: each photo to intake, then the command to the actor.
static void
s_upload (gz_http_req_t *req, void *arg)
{
    s_job_t *job = arg;
    routing_t *ctx = job->ctx;
    routing_cmd_t *cmd = job->cmd;
    free (job);
    const routing_config_t *cfg = ctx->cfg;
    size_t n = gz_http_file_count (req);
    char url[512], err[256] = "", why[512] = "";
    bool refused = false; //  intake refused a photo (else: could not be asked)
    snprintf (url, sizeof url, "%s/internal/v1/photos", cfg->intake_url ? cfg->intake_url : "");
    CURL *curl = curl_easy_init ();
    for (size_t i = 0; i < n && !*why; i++) {
        size_t len = 0;
        const unsigned char *data = gz_http_file_data (req, i, &len);
        json_t *answer = NULL;
        int status = cfg->contact_key && cfg->intake_url && curl
                         ? gz_fetch_post_file (curl, "intake", url, cfg->contact_key, S_UPLOAD_MS,
                                               "photo", data, len, &answer, err, sizeof err)
                         : -1;
        json_t *e = json_object_get (answer, "error");
        const char *sha = json_string_value (json_object_get (answer, "sha256"));
        const char *message = json_string_value (json_object_get (e, "message"));
        if ((status == 200 || status == 201) && s_sha_ok (sha))
            cmd->photos[cmd->nphotos++] = strdup (sha);
        else if ((status == 413 || status == 422) && message) {
            refused = true;
            snprintf (why, sizeof why,
                      "第%zu张照片无法使用：%s。操作没有执行，请返回诉求页面重试。", i + 1,
                      message);
        }
        else {
            gz_warn ("routing", "msg=\"photo not stored\" request=%s status=%d error=\"%s\"",
                     cmd->request_id, status, err);
            snprintf (why, sizeof why, "照片暂时无法保存，操作没有执行。请稍后再试。");
        }
        json_decref (answer);
    }
    if (curl)
        curl_easy_cleanup (curl);
    if (*why) {
        routing_page_notice (req, refused ? 422 : 503, NULL, "照片无法使用", why);
        routing_cmd_destroy (&cmd);
    }
    else if (routing_cmd_defer (ctx, &cmd, req) != 0) {
        routing_cmd_destroy (&cmd);
        routing_page_notice (req, 503, NULL, "系统繁忙", "系统繁忙，请稍后再试。");
    }
}

int
routing_photos_offload (routing_t *ctx, routing_cmd_t **cmd_p, gz_http_req_t *req)
{
    s_job_t *job = malloc (sizeof *job);
    if (!job)
        abort ();
    *job = (s_job_t){ctx, *cmd_p};
    //  The count stood in for the names while the fields were checked.
    (*cmd_p)->nphotos = 0;
    if (gz_http_offload (req, s_upload, job) != 0) {
        free (job);
        return -1;
    }
    *cmd_p = NULL;
    return 0;
}

//  ---------------------------------------------------------------- the filing's

//  intake's list of request id's photos ({"filing":[…],"after":[…]}),
//  or NULL when it cannot say (logged).
static json_t *
s_intake_list (routing_t *ctx, CURL *curl, const char *id)
{
    const routing_config_t *cfg = ctx->cfg;
    if (!cfg->contact_key || !cfg->intake_url)
        return NULL;
    char url[512], err[256] = "";
    snprintf (url, sizeof url, "%s/internal/v1/requests/%s/photos", cfg->intake_url, id);
    json_t *answer = NULL;
    int rc =
        gz_fetch_json (curl, "intake", url, cfg->contact_key, S_FETCH_MS, &answer, err, sizeof err);
    if (rc != 0)
        gz_warn ("routing", "msg=\"request photos unavailable\" request=%s error=\"%s\"", id,
                 rc == 1 ? "404" : err);
    return answer;
}

void
routing_page_photos (routing_t *ctx, json_t *view)
{
    json_t *list = s_intake_list (ctx, NULL, json_string_value (json_object_get (view, "id")));
    json_t *filing = json_object_get (list, "filing");
    json_object_set (view, "filing_photos", json_is_array (filing) ? filing : json_array ());
    json_decref (list);
}

void
routing_page_thumbs (routing_page_t *p, const char *id, json_t *photos, const char *html_id)
{
    if (json_array_size (photos) == 0)
        return;
    routing_page_put (p, "<span class=\"photos\"");
    if (html_id)
        routing_page_put (p, " id=\"%s\"", html_id);
    routing_page_put (p, ">");
    size_t i;
    json_t *s;
    json_array_foreach (photos, i, s)
    {
        const char *sha = json_string_value (s);
        if (!s_sha_ok (sha))
            continue;
        routing_page_put (p, "<a href=\"/w/media/%s?r=", sha);
        routing_page_text (p, id);
        routing_page_put (p, "\"><img src=\"/w/media/%s/thumb?r=", sha);
        routing_page_text (p, id);
        routing_page_put (p, "\" alt=\"照片%zu\" loading=\"lazy\"></a>", i + 1);
    }
    routing_page_put (p, "</span>");
}

//  ---------------------------------------------------------------- serving

static bool
s_in (json_t *array, const char *sha)
{
    size_t i;
    json_t *s;
    json_array_foreach (array, i, s)
    {
        if (json_is_string (s) && strcmp (json_string_value (s), sha) == 0)
            return true;
    }
    return false;
}

//  Whether request view refers to sha: a timeline row's photos, or the
//  filing's (intake's list).
static bool
s_refers (routing_t *ctx, json_t *view, const char *sha)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (view, "timeline"), i, t)
    {
        if (s_in (json_object_get (json_object_get (t, "detail"), "photos"), sha))
            return true;
    }
    json_t *list = s_intake_list (ctx, NULL, json_string_value (json_object_get (view, "id")));
    bool found = s_in (json_object_get (list, "filing"), sha);
    json_decref (list);
    return found;
}

void
routing_page_media (routing_t *ctx, gz_http_req_t *req, const char *rest)
{
    const char *r = gz_http_query (req, "r");
    size_t n = strspn (rest, "0123456789abcdef");
    bool thumb = n == 64 && strcmp (rest + 64, "/thumb") == 0;
    char sha[65];
    snprintf (sha, sizeof sha, "%.*s", (int) (n == 64 ? 64 : 0), rest);
    routing_viewer_t v;
    json_t *view = NULL;
    bool resident_ok = false;
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    int rc = routing_page_viewer (db, req, &v);
    bool shaped = n == 64 && (!rest[64] || thumb) && r && routing_page_id_ok (r, strlen (r));
    int found = rc == 1 && shaped ? routing_store_view (db, r, NULL, &view, &resident_ok) : 0;
    gz_dbpool_put (ctx->pool, db);
    if (rc != 1)
        return; //  answered: sign in, or 503
    unsigned char *bytes = NULL;
    size_t len = 0;
    char url[512], err[256] = "";
    if (found < 0)
        routing_page_notice (req, 503, &v, "系统繁忙", "系统繁忙，请稍后再试。");
    else if (found == 0)
        routing_page_notice (req, 404, &v, "未找到", "没有这张照片。");
    else if (!routing_may_read (&v.caller, view))
        routing_page_notice (req, 403, &v, "无权查看",
                             "这件诉求不属于您的网格、单位或您本人，无权查看它的照片。");
    else if (!s_refers (ctx, view, sha))
        routing_page_notice (req, 404, &v, "未找到", "没有这张照片。");
    else {
        const routing_config_t *cfg = ctx->cfg;
        snprintf (url, sizeof url, "%s/internal/v1/photos/%s%s",
                  cfg->intake_url ? cfg->intake_url : "", sha, thumb ? "/thumb" : "");
        int got = cfg->contact_key && cfg->intake_url
                      ? gz_fetch_bytes (NULL, "intake", url, cfg->contact_key, S_FETCH_MS,
                                        S_FETCH_MAX, &bytes, &len, err, sizeof err)
                      : -1;
        if (got == 0) {
            gz_http_set_header (req, "Cache-Control", "private, max-age=31536000, immutable");
            gz_http_set_header (req, "X-Content-Type-Options", "nosniff");
            gz_http_set_header (req, "Content-Security-Policy", "default-src 'none'; sandbox");
            gz_http_set_header (req, "Referrer-Policy", "no-referrer");
            gz_http_reply (req, 200, "image/jpeg", (const char *) bytes, len);
        }
        else {
            gz_warn ("routing", "msg=\"photo unavailable\" request=%s error=\"%s\"", r,
                     got == 1 ? "404" : err);
            routing_page_notice (req, got == 1 ? 404 : 503, &v, "照片暂不可用",
                                 "照片暂时无法显示，请稍后再试。");
        }
    }
    free (bytes);
    json_decref (view);
}
