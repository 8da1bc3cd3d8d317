/*  routing_pages: the staff's workbench (工作台), web pages for grid
    workers under /w/ on routing's HTTP port, on the same state machine,
    authorization and events as the worker API (docs/workbench.md).

      GET  /w/login[?code=]   the sign-in page: a link's code shows a 登录
                              button (a GET changes nothing: link previewers
                              must not spend the code); and a token form
      POST /w/login           code=… or token=…: a session, 303 to /w/
      POST /w/logout          ends the session server-side (CSRF checked)
      GET  /w/                待办: the person's open work, most urgent first
      GET  /w/coord           协调: a coordinator's area (routing_pages_coord.c)
      GET  /w/r/{id}          one request and the forms its state allows
      POST /w/r/{id}/{action} a form: the same routing_cmd_t the JSON API
                              builds, deferred to the actor the same way
                              (routing_cmd_defer); answered with a 303 to
                              the request's page saying what happened
                              (routing_pages_answer). 备注 and 办结 are
                              multipart with up to 3 photos, sent to intake
                              first (routing_pages_photos.c)
      GET  /w/media/{sha}[/thumb]?r={id}  a photo of a request the viewer
                              may read (routing_pages_photos.c)

    DESIGN. A session is a random 32-byte id (hex) in the gz_session
    cookie (HttpOnly, SameSite=Strict, Path=/w/, Secure behind a trusted
    HTTPS proxy); routing.sessions keeps its SHA-256, the staff member and
    an expiry (12 h). The CSRF token of a session is SHA-256("gz-csrf:" +
    session id): derived, so the action route checks it on the HTTP thread
    without a database read, and it reveals nothing of the session id. A
    command carries the session id instead of a bearer token; the actor
    finds its staff member (routing_commands.c) and authorizes exactly as
    it does a token's. Reads and sign-in run on gz_http's worker threads
    (blocking routes) with the read pool; an action is deferred, never
    waited for.  */
#include "gz_auth.h"
#include "gz_log.h"
#include "gz_text.h"
#include "routing_pages.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define S_COOKIE "gz_session"

//  ---------------------------------------------------------------- helpers

static void
s_hex (const unsigned char *raw, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n] = 0;
}

static void
s_csrf_of (const char *session, char out[65])
{
    char text[96];
    snprintf (text, sizeof text, "gz-csrf:%s", session);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest (text, strlen (text), md, &len, EVP_sha256 (), NULL);
    s_hex (md, 32, out);
}

static bool
s_hex64 (const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit ((unsigned char) s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return false;
    return true;
}

//  The session id of the gz_session cookie into out; false when none.
static bool
s_cookie (gz_http_req_t *req, char out[65])
{
    const char *h = gz_http_header (req, "Cookie");
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        size_t n = strcspn (h, ";");
        size_t k = strlen (S_COOKIE);
        if (n > k && strncmp (h, S_COOKIE, k) == 0 && h[k] == '=' &&
            s_hex64 (h + k + 1, n - k - 1)) {
            memcpy (out, h + k + 1, 64);
            out[64] = 0;
            return true;
        }
        h += n;
    }
    return false;
}

static void
s_set_cookie (gz_http_req_t *req, const char *session)
{
    char c[256];
    snprintf (c, sizeof c, S_COOKIE "=%s; Path=/w/; HttpOnly; SameSite=Strict%s%s",
              session ? session : "", session ? "; Max-Age=43200" : "; Max-Age=0",
              gz_http_https (req) ? "; Secure" : "");
    gz_http_set_header (req, "Set-Cookie", c);
}

static void
s_redirect (gz_http_req_t *req, const char *location)
{
    gz_http_set_header (req, "Location", location);
    gz_http_reply (req, 303, "text/html; charset=utf-8", "", 0);
}

//  A request id as the pages accept it: 1-32 letters, digits and '-'.
static bool
s_id_ok (const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) s[i]) && s[i] != '-')
            return false;
    return true;
}

//  The form's csrf field is the session's (in time independent of where
//  they differ).
static bool
s_csrf_ok (gz_http_req_t *req, const char *session)
{
    char want[65];
    s_csrf_of (session, want);
    const char *given = gz_http_form_parse (req) ? gz_http_form (req, "csrf") : NULL;
    return gz_auth_secret_equal (given, want);
}

static void
s_unavailable (gz_http_req_t *req)
{
    routing_page_notice (req, 503, NULL, "系统繁忙", "系统繁忙，请稍后再试。");
}

//  The signed-in viewer of req, looked up on db: 1, 0 nobody (answered
//  with a 303 to the sign-in page), -1 failure (answered 503).
static int
s_viewer (gz_db_t *db, gz_http_req_t *req, routing_viewer_t *v)
{
    char session[65];
    int rc = 0;
    memset (v, 0, sizeof *v);
    if (s_cookie (req, session))
        rc = routing_session_caller (db, session, &v->caller, v->name);
    if (rc == 1)
        s_csrf_of (session, v->csrf);
    else if (rc == 0)
        s_redirect (req, "/w/login");
    else
        s_unavailable (req);
    return rc;
}

//  ---------------------------------------------------------------- sign in

static void
s_login_post (routing_t *ctx, gz_http_req_t *req)
{
    //  Login CSRF: another site's form must not sign the browser in as
    //  someone else (the session cookie does not exist yet, so the check
    //  is the browser's Origin).
    if (!gz_http_same_origin (req)) {
        gz_info ("routing", "msg=\"cross-site sign-in refused\"");
        routing_page_login (req, 403, NULL, "请从本站的登录页面登录。");
        return;
    }
    const char *code = gz_http_form_parse (req) ? gz_http_form (req, "code") : NULL;
    const char *token = gz_http_form (req, "token");
    if ((!code || !*code) && (!token || !*token)) {
        routing_page_login (req, 400, NULL, "请填写令牌。");
        return;
    }
    unsigned char raw[32];
    char session[65], staff[80];
    if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
        s_unavailable (req);
        return;
    }
    s_hex (raw, sizeof raw, session);
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    int rc = code && *code ? routing_session_from_code (db, code, session, staff)
                           : routing_session_from_token (db, token, session, staff);
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0)
        s_unavailable (req);
    else if (rc == 0)
        routing_page_login (req, 403, NULL,
                            code && *code ? "登录链接无效、已经用过或已过期，请重新获取。"
                                          : "令牌无效或已过期。");
    else {
        gz_info ("routing", "msg=\"workbench sign-in\" staff=%s by=%s", staff,
                 code && *code ? "link" : "token");
        s_set_cookie (req, session);
        s_redirect (req, "/w/");
    }
    explicit_bzero (session, sizeof session);
}

static void
s_logout (routing_t *ctx, gz_http_req_t *req)
{
    char session[65];
    if (!s_cookie (req, session)) {
        s_redirect (req, "/w/login");
        return;
    }
    if (!s_csrf_ok (req, session)) {
        routing_page_notice (req, 403, NULL, "无法完成", "页面已过期，请返回后重试。");
        return;
    }
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    int rc = routing_session_end (db, session);
    gz_dbpool_put (ctx->pool, db);
    if (rc < 0) {
        s_unavailable (req);
        return;
    }
    s_set_cookie (req, NULL);
    s_redirect (req, "/w/login");
}

//  ---------------------------------------------------------------- pages

static void
s_queue (routing_t *ctx, gz_http_req_t *req)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_viewer_t v;
    int rc = s_viewer (db, req, &v);
    json_t *items = rc == 1 ? routing_store_queue (db, v.caller.staff_id, v.caller.unit) : NULL;
    gz_dbpool_put (ctx->pool, db);
    if (rc != 1)
        return;
    if (!items)
        s_unavailable (req);
    else
        routing_page_queue (req, &v, items, gz_actor_now_us (ctx->actor));
    json_decref (items);
}

static void
s_request (routing_t *ctx, gz_http_req_t *req, const char *id)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    routing_viewer_t v;
    json_t *view = NULL;
    bool resident_ok;
    int rc = s_viewer (db, req, &v);
    int found = rc == 1 ? routing_store_view (db, id, NULL, &view, &resident_ok) : 0;
    gz_dbpool_put (ctx->pool, db);
    if (rc != 1)
        return;
    if (found < 0)
        s_unavailable (req);
    else if (found == 0)
        routing_page_notice (req, 404, &v, "未找到", "没有这件诉求。");
    else if (!routing_may_read (&v.caller, view))
        //  The rule of GET /api/v1/requests/{id}.
        routing_page_notice (req, 403, &v, "无权查看",
                             "这件诉求不属于您的网格、单位或您本人，无权查看。");
    else {
        routing_page_phone (ctx, &v, view);
        routing_page_photos (ctx, view);
        routing_page_request (req, &v, view, gz_http_query (req, "m"),
                              gz_actor_now_us (ctx->actor));
    }
    json_decref (view);
}

//  Every /w/ path but the actions: a blocking route (worker threads).
bool
routing_page_route (void *state, gz_http_req_t *req, const char *rest)
{
    routing_t *ctx = state;
    bool post = strcmp (gz_http_method (req), "POST") == 0;
    if (strcmp (rest, "login") == 0) {
        const char *code = gz_http_query (req, "code");
        if (post)
            s_login_post (ctx, req);
        else
            routing_page_login (req, 200, code && *code ? code : NULL, NULL);
    }
    else if (strcmp (rest, "logout") == 0 && post)
        s_logout (ctx, req);
    else if (*rest == 0 && !post)
        s_queue (ctx, req);
    else if (strcmp (rest, "coord") == 0 && !post)
        routing_page_coord (ctx, req);
    else if (strncmp (rest, "r/", 2) == 0 && !post && s_id_ok (rest + 2, strlen (rest + 2)))
        s_request (ctx, req, rest + 2);
    else if (strncmp (rest, "media/", 6) == 0 && !post)
        routing_page_media (ctx, req, rest + 6);
    else
        routing_page_notice (req, 404, NULL, "未找到", "没有这个页面。");
    return false;
}

//  ---------------------------------------------------------------- actions

//  A form field, NULL when absent or empty.
static char *
s_field (gz_http_req_t *req, const char *name)
{
    const char *v = gz_http_form (req, name);
    return v && *v ? strdup (v) : NULL;
}

//  POST /w/r/{id}/{action}: checked here (session cookie present, CSRF,
//  fields), applied by the actor. Not blocking: no database here.
bool
routing_page_action_route (void *state, gz_http_req_t *req, const char *rest)
{
    routing_t *ctx = state;
    int64_t start = zclock_usecs ();
    const char *slash = strchr (rest, '/');
    routing_action_t act = slash ? routing_action_from_name (slash + 1) : ROUTING_ACTION_NONE;
    const routing_transition_t *t = routing_transition (act);
    if (!slash || !s_id_ok (rest, (size_t) (slash - rest)) || !t || t->resident) {
        routing_page_notice (req, 404, NULL, "未找到", "没有这个操作。");
        return false;
    }
    char id[40], session[65], where[96];
    snprintf (id, sizeof id, "%.*s", (int) (slash - rest), rest);
    if (!s_cookie (req, session)) {
        s_redirect (req, "/w/login");
        return false;
    }
    if (gz_http_too_large (req) && gz_http_multipart (req)) {
        routing_page_notice (
            req, 413, NULL, "照片太大",
            "照片太大：最多 3 张，每张不超过 10MB。操作没有执行，请返回诉求页面重试。");
        return false;
    }
    if (gz_http_too_large (req) || !s_csrf_ok (req, session)) {
        //  Nothing was applied: a form from elsewhere, or a stale page.
        routing_page_notice (req, 403, NULL, "无法完成",
                             "表单校验未通过，操作没有执行。请返回诉求页面刷新后重试。");
        return false;
    }
    //  Photos: only a note's and a resolution's (routing_pages_photos.c).
    size_t files =
        act == ROUTING_ACTION_NOTE || act == ROUTING_ACTION_RESOLVE ? gz_http_file_count (req) : 0;
    routing_cmd_t *cmd = routing_cmd_new ();
    cmd->request_id = strdup (id);
    cmd->action = strdup (routing_action_name (act));
    cmd->session = strdup (session);
    cmd->page = true;
    cmd->outcome = s_field (req, "outcome");
    cmd->text = s_field (req, "text");
    cmd->media_url = s_field (req, "media_url");
    cmd->to_unit = s_field (req, "to_unit");
    cmd->to_staff = s_field (req, "to_staff");
    cmd->start_us = start;
    //  The count stands in for the names while the fields are checked (a
    //  note may be photos alone); routing_photos_offload resets it.
    cmd->nphotos = files;
    if (routing_cmd_check (cmd)) {
        cmd->nphotos = 0;
        routing_cmd_destroy (&cmd);
        snprintf (where, sizeof where, "/w/r/%s?m=fields", id);
        s_redirect (req, where);
        return false;
    }
    if (files && routing_photos_offload (ctx, &cmd, req) == 0)
        return true;
    if (!files && routing_cmd_defer (ctx, &cmd, req) == 0)
        return true;
    cmd->nphotos = 0;
    routing_cmd_destroy (&cmd);
    s_unavailable (req);
    return false;
}

void
routing_pages_answer (gz_http_req_t *req, routing_cmd_t *cmd)
{
    routing_t *ctx = cmd->ctx;
    if (strcmp (cmd->action, "rate") == 0) {
        //  Only the 回访 page posts a rating (/w/r/ refuses residents' actions).
        gz_actor_observe (ctx->actor, "page_action", cmd->start_us);
        routing_callback_answer (req, cmd);
        return;
    }
    char where[128];
    const char *m = NULL;
    switch (cmd->status) {
        case 200:
            m = "ok";
            break;
        case 400:
            m = "fields";
            break;
        case 403:
            m = "forbidden";
            break;
        case 409:
            m = "conflict";
            break;
        case 422:
            m = "unprocessable";
            break;
        default:
            break;
    }
    if (routing_page_coord_code (cmd))
        m = routing_page_coord_code (cmd);
    if (cmd->status == 401)
        s_redirect (req, "/w/login");
    else if (cmd->status == 404)
        routing_page_notice (req, 404, NULL, "未找到", "没有这件诉求。");
    else if (!m)
        s_unavailable (req);
    else {
        if (cmd->status == 200)
            snprintf (where, sizeof where, "/w/r/%s?m=ok-%s", cmd->request_id, cmd->action);
        else
            snprintf (where, sizeof where, "/w/r/%s?m=%s", cmd->request_id, m);
        s_redirect (req, where);
    }
    gz_actor_observe (ctx->actor, "page_action", cmd->start_us);
    routing_cmd_destroy (&cmd);
}

//  ---------------------------------------------------------------- for other page files

int
routing_page_viewer (gz_db_t *db, gz_http_req_t *req, routing_viewer_t *v)
{
    return s_viewer (db, req, v);
}

bool
routing_page_session (gz_http_req_t *req, char out[65])
{
    return s_cookie (req, out);
}

bool
routing_page_csrf_ok (gz_http_req_t *req, const char *session)
{
    return s_csrf_ok (req, session);
}

void
routing_page_redirect (gz_http_req_t *req, const char *location)
{
    s_redirect (req, location);
}

bool
routing_page_id_ok (const char *s, size_t n)
{
    return s_id_ok (s, n);
}
