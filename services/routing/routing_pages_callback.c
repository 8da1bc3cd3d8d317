/*  routing_pages_callback: the workbench's 回访 (call-back) page, and the
    resident's phone as a tel: link (docs/workbench.md).

      GET  /w/callback        the resolved requests of the call-back
                              operator's sub-district waiting for a rating,
                              oldest resolution first, each with its result,
                              the resident's phone and a rating form
      POST /w/callback/{id}   score 1-5, satisfied yes/no and the comment
                              taken by phone: the rate action's
                              routing_cmd_t, deferred to the actor as the
                              JSON API's is; answered with a 303 to
                              /w/callback?m=…&r={id} (routing_callback_answer)

    DESIGN. Routing keeps no phone number: intake holds it behind its keyed
    internal path /internal/v1/contacts/{id} (GZ_ROUTING_CONTACT_KEY, else
    GZ_NOTIFY_CONTACT_KEY), asked with gz_fetch on the page's worker
    thread (pages are blocking routes: no HTTP thread waits), never while
    holding a read connection. A number is shown only to whom the request
    is assigned (her or her unit) on its page, and to the sub-district's
    call-back operators on this page; every number shown first leaves a
    timeline row (kind contact_viewed: who, when), and a number whose view
    could not be logged is not shown. When intake cannot say (unreachable,
    no key, the key refused, which intake answers 404 like an unknown id),
    the page says 号码暂不可用 and works on. The authorization of the
    rating is the actor's (routing_commands.c): a callback_operator may
    rate the resolved requests of her sub-district.  */
#include "gz_fetch.h"
#include "gz_log.h"
#include "gz_text.h"
#include "routing_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ROLE "callback_operator"
#define S_FETCH_MS 2000L //  a page waits no longer for intake

static bool
s_is_operator (const routing_viewer_t *v)
{
    return strcmp (v->caller.role, S_ROLE) == 0;
}

static const char *
s_str (json_t *o, const char *name)
{
    const char *s = json_string_value (json_object_get (o, name));
    return s ? s : "";
}

//  ---------------------------------------------------------------- phone

//  Ask intake for request id's phone, log the view and put it in obj's
//  "resident_phone" (else a note in "resident_phone_note"). 0 done, -1
//  intake could not be reached (the caller asks no more this page).
static int
s_phone_into (routing_t *ctx, CURL *curl, const routing_viewer_t *v, const char *id,
              const char *why, json_t *obj)
{
    const routing_config_t *cfg = ctx->cfg;
    const char *note = "号码暂不可用";
    int rc = -1;
    json_t *answer = NULL;
    char url[256], err[256] = "";
    if (cfg->contact_key && cfg->intake_url) {
        snprintf (url, sizeof url, "%s/internal/v1/contacts/%s", cfg->intake_url, id);
        rc = gz_fetch_json (curl, "intake", url, cfg->contact_key, S_FETCH_MS, &answer, err,
                            sizeof err);
    }
    if (rc == 1)
        snprintf (err, sizeof err, "intake: 404 (no contact, or it refused the key)");
    if (rc != 0 && cfg->contact_key)
        gz_warn ("routing", "msg=\"resident phone unavailable\" request=%s error=\"%s\"", id, err);
    const char *phone = s_str (answer, "phone");
    if (rc == 0 && !*phone)
        note = "居民未留电话";
    else if (rc == 0) {
        gz_db_t *db = gz_dbpool_get (ctx->pool);
        int logged = routing_store_contact_viewed (db, id, v, gz_actor_now_us (ctx->actor), why);
        gz_dbpool_put (ctx->pool, db);
        if (logged == 0) {
            json_object_set_new (obj, "resident_phone", json_string (phone));
            gz_info ("routing", "msg=\"resident phone viewed\" request=%s staff=%s", id,
                     v->caller.staff_id);
            note = NULL;
        }
    }
    if (note)
        json_object_set_new (obj, "resident_phone_note", json_string (note));
    if (answer) {
        //  Wipe the number and the status link's secret from the answer.
        json_t *val;
        const char *key;
        json_object_foreach (answer, key, val)
        {
            if (json_is_string (val))
                explicit_bzero ((char *) json_string_value (val), json_string_length (val));
        }
        json_decref (answer);
    }
    return rc < 0 && cfg->contact_key ? -1 : 0;
}

void
routing_page_phone (routing_t *ctx, const routing_viewer_t *v, json_t *view)
{
    json_t *as = json_object_get (view, "assignee");
    const char *staff = s_str (as, "staff_id"), *unit = s_str (as, "unit_code");
    bool mine = (*staff && strcmp (staff, v->caller.staff_id) == 0) ||
                (*unit && strcmp (unit, v->caller.unit) == 0);
    if (!mine)
        json_object_set_new (view, "resident_phone_note",
                             json_string ("仅承办人（本人或本单位）可查看居民电话"));
    else
        s_phone_into (ctx, NULL, v, s_str (view, "id"), "查看居民电话", view);
}

void
routing_page_phone_link (routing_page_t *p, json_t *view)
{
    const char *phone = json_string_value (json_object_get (view, "resident_phone"));
    char href[40];
    size_t n = 0;
    for (const char *c = phone; c && *c && n < sizeof href - 1; c++)
        if ((*c >= '0' && *c <= '9') || *c == '+')
            href[n++] = *c;
    href[n] = 0;
    routing_page_put (p, "<span class=\"phone\" id=\"phone-");
    routing_page_text (p, s_str (view, "id"));
    routing_page_put (p, "\">");
    if (phone && n) {
        routing_page_put (p, "<a href=\"tel:%s\">", href);
        routing_page_text (p, phone);
        routing_page_put (p, "</a>");
    }
    else {
        const char *note = json_string_value (json_object_get (view, "resident_phone_note"));
        routing_page_put (p, "<span class=\"muted\">");
        routing_page_text (p, note ? note : "号码暂不可用");
        routing_page_put (p, "</span>");
    }
    routing_page_put (p, "</span>");
}

//  ---------------------------------------------------------------- page

//  "2025-03-04 09:30" (China time) of us.
static void
s_when (routing_page_t *p, int64_t us)
{
    char iso[32];
    routing_iso8601 (us, iso);
    routing_page_put (p, "%.10s %.5s", iso, iso + 11);
}

//  What the last rating form did (?m= and ?r=), with r's state now.
static void
s_message (routing_page_t *p, const char *m, const char *r, json_t *focus)
{
    if (!m || !r)
        return;
    bool ok = strcmp (m, "ok") == 0;
    routing_page_put (p, "<div class=\"%s\" id=\"message\">", ok ? "ok" : "err");
    if (ok)
        routing_page_put (p, "已记录诉求 ");
    else
        routing_page_put (p, "评价未记录：诉求 ");
    routing_page_text (p, r);
    if (ok)
        routing_page_put (p, " 的回访评价。");
    else if (strcmp (m, "conflict") == 0)
        routing_page_put (p, " 已不在待回访状态（可能已有人记录了评价）。");
    else if (strcmp (m, "forbidden") == 0)
        routing_page_put (p, " 不在您所在的街道，无法代居民评价。");
    else if (strcmp (m, "fields") == 0)
        routing_page_put (p, " 的评分（1–5 分）和是否满意都要选择。");
    else
        routing_page_put (p, " 不存在。");
    if (focus) {
        routing_page_put (p, "当前状态：<b id=\"focus-state\">%s</b>",
                          routing_page_state_zh (s_str (focus, "state")));
        json_t *rating = json_object_get (focus, "rating");
        json_t *score = json_object_get (rating, "score");
        if (json_is_integer (score))
            routing_page_put (p, "，评分 %d 分，%s", (int) json_integer_value (score),
                              json_is_true (json_object_get (rating, "satisfied")) ? "满意"
                                                                                   : "不满意");
        routing_page_put (p, "。");
    }
    routing_page_put (p, "</div>");
}

static void
s_form (routing_page_t *p, const routing_viewer_t *v, const char *id)
{
    routing_page_put (p, "<form method=\"post\" action=\"/w/callback/");
    routing_page_text (p, id);
    routing_page_put (p,
                      "\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                      "<label>评分</label><select name=\"score\" required>"
                      "<option value=\"\">请选择</option><option value=\"5\">5 分 非常满意</option>"
                      "<option value=\"4\">4 分 满意</option><option value=\"3\">3 分 一般</option>"
                      "<option value=\"2\">2 分 不满意</option>"
                      "<option value=\"1\">1 分 非常不满意</option></select>"
                      "<label>居民是否满意</label><select name=\"satisfied\" required>"
                      "<option value=\"\">请选择</option><option value=\"yes\">满意（关闭诉求）"
                      "</option><option value=\"no\">不满意</option></select>"
                      "<label>居民意见（电话记录）</label>"
                      "<textarea name=\"comment\" maxlength=\"4000\"></textarea>"
                      "<button type=\"submit\">提交评价</button></form>",
                      v->csrf);
}

static void
s_item (routing_page_t *p, const routing_viewer_t *v, json_t *it)
{
    const char *id = s_str (it, "id");
    routing_page_put (p, "<div class=\"card\" id=\"cb-");
    routing_page_text (p, id);
    routing_page_put (p, "\"><div class=\"num\">#");
    routing_page_text (p, id);
    routing_page_put (p, "</div><p><b>类别：</b>%s</p><p><b>地点：</b>",
                      routing_page_category_zh (s_str (it, "category")));
    routing_page_text (p, *s_str (it, "building_code") ? s_str (it, "building_code") : "未填楼栋");
    routing_page_put (p, "</p><p><b>问题描述：</b>");
    routing_page_text (p, s_str (it, "description"));
    routing_page_put (p, "</p><p><b>办结时间：</b>");
    s_when (p, json_integer_value (json_object_get (it, "resolved_at_us")));
    routing_page_put (p, "</p><p><b>承办：</b>");
    routing_page_text (p, s_str (it, "assignee_name"));
    routing_page_put (p, "（");
    routing_page_text (p, s_str (it, "assignee_unit_name"));
    routing_page_put (p, "）</p><p><b>办理结果：</b><span class=\"result\">");
    routing_page_text (p, s_str (it, "result"));
    routing_page_put (p, "</span></p><p><b>居民电话：</b>");
    routing_page_phone_link (p, it);
    routing_page_put (p, "</p>");
    s_form (p, v, id);
    routing_page_put (p, "</div>");
}

static void
s_render (gz_http_req_t *req, const routing_viewer_t *v, json_t *items, json_t *focus)
{
    routing_page_t p;
    routing_page_begin (&p, "回访", v);
    s_message (&p, gz_http_query (req, "m"), gz_http_query (req, "r"), focus);
    routing_page_put (&p,
                      "<div class=\"counts\"><div><b id=\"count\">%zu</b>待回访</div></div>"
                      "<p class=\"muted\">请电话联系居民，按居民的回答记录评分、是否满意和意见。"
                      "查看号码会记入诉求的办理过程。</p>",
                      json_array_size (items));
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it)
    {
        s_item (&p, v, it);
    }
    if (json_array_size (items) == 0)
        routing_page_put (&p, "<div class=\"card\" id=\"empty\">暂无待回访的诉求。</div>");
    routing_page_send (req, 200, &p);
}

//  The request ?r= names (after a rating form) as the viewer may read it,
//  or NULL.
static json_t *
s_focus (gz_db_t *db, gz_http_req_t *req, const routing_viewer_t *v)
{
    const char *r = gz_http_query (req, "r");
    json_t *view = NULL;
    bool resident_ok = false;
    if (!r || !routing_page_id_ok (r, strlen (r)) ||
        routing_store_view (db, r, NULL, &view, &resident_ok) != 1)
        return NULL;
    if (!routing_may_read (&v->caller, view))
        json_decref (view), view = NULL;
    return view;
}

bool
routing_callback_route (void *state, gz_http_req_t *req, const char *rest)
{
    (void) rest;
    routing_t *ctx = state;
    routing_viewer_t v;
    json_t *items = NULL, *focus = NULL;
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    int rc = routing_page_viewer (db, req, &v);
    if (rc == 1 && s_is_operator (&v)) {
        items = routing_store_callback_list (db, v.caller.unit);
        focus = s_focus (db, req, &v);
    }
    gz_dbpool_put (ctx->pool, db);
    if (rc != 1)
        return false;
    if (!s_is_operator (&v))
        routing_page_notice (req, 403, &v, "无权查看", "回访页面仅供回访员使用。");
    else if (!items)
        routing_page_notice (req, 503, &v, "系统繁忙", "系统繁忙，请稍后再试。");
    else {
        CURL *curl = curl_easy_init ();
        bool down = false;
        size_t i;
        json_t *it;
        json_array_foreach (items, i, it)
        {
            if (down)
                json_object_set_new (it, "resident_phone_note", json_string ("号码暂不可用"));
            else if (s_phone_into (ctx, curl, &v, s_str (it, "id"), "回访时查看居民电话", it))
                down = true; //  intake is not answering: ask no more this time
        }
        if (curl)
            curl_easy_cleanup (curl);
        s_render (req, &v, items, focus);
    }
    json_decref (items);
    json_decref (focus);
    return false;
}

//  ---------------------------------------------------------------- rating

bool
routing_callback_rate_route (void *state, gz_http_req_t *req, const char *rest)
{
    routing_t *ctx = state;
    int64_t start = zclock_usecs ();
    char session[65], where[128];
    if (!routing_page_id_ok (rest, strlen (rest))) {
        routing_page_notice (req, 404, NULL, "未找到", "没有这个操作。");
        return false;
    }
    if (!routing_page_session (req, session)) {
        routing_page_redirect (req, "/w/login");
        return false;
    }
    if (gz_http_too_large (req) || !routing_page_csrf_ok (req, session)) {
        //  Nothing was applied: a form from elsewhere, or a stale page.
        routing_page_notice (req, 403, NULL, "无法完成",
                             "表单校验未通过，评价没有记录。请返回回访页面刷新后重试。");
        return false;
    }
    const char *score = gz_http_form (req, "score");
    const char *satisfied = gz_http_form (req, "satisfied");
    const char *comment = gz_http_form (req, "comment");
    routing_cmd_t *cmd = routing_cmd_new ();
    cmd->request_id = strdup (rest);
    cmd->action = strdup ("rate");
    cmd->session = strdup (session);
    cmd->page = true;
    cmd->score = score && score[0] >= '1' && score[0] <= '5' && !score[1] ? score[0] - '0' : 0;
    bool sat_ok = satisfied && (strcmp (satisfied, "yes") == 0 || strcmp (satisfied, "no") == 0);
    cmd->satisfied = sat_ok && strcmp (satisfied, "yes") == 0;
    cmd->text = comment && *comment ? strdup (comment) : NULL;
    cmd->start_us = start;
    if (!sat_ok || routing_cmd_check (cmd)) {
        routing_cmd_destroy (&cmd);
        snprintf (where, sizeof where, "/w/callback?m=fields&r=%s", rest);
        routing_page_redirect (req, where);
        return false;
    }
    if (routing_cmd_defer (ctx, &cmd, req) == 0)
        return true;
    routing_cmd_destroy (&cmd);
    routing_page_notice (req, 503, NULL, "系统繁忙", "系统繁忙，请稍后再试。");
    return false;
}

void
routing_callback_answer (gz_http_req_t *req, routing_cmd_t *cmd)
{
    const char *m = cmd->status == 200   ? "ok"
                    : cmd->status == 400 ? "fields"
                    : cmd->status == 403 ? "forbidden"
                    : cmd->status == 409 ? "conflict"
                    : cmd->status == 404 ? "not_found"
                                         : NULL;
    char where[128];
    if (cmd->status == 401)
        routing_page_redirect (req, "/w/login");
    else if (!m)
        routing_page_notice (req, 503, NULL, "系统繁忙", "系统繁忙，请稍后再试。");
    else {
        snprintf (where, sizeof where, "/w/callback?m=%s&r=%s", m, cmd->request_id);
        routing_page_redirect (req, where);
    }
    routing_cmd_destroy (&cmd);
}
