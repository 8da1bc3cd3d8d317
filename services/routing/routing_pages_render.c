/*  routing_pages_render: the HTML of the staff's workbench (/w/), in
    Simplified Chinese, phone-sized, plain forms that work with JavaScript
    off. Only rendering: the handlers (routing_pages.c) read the data and
    decide; gz_http adds the defensive headers of every text/html answer
    (CSP, Referrer-Policy, X-Frame-Options). Every value from outside is
    escaped (gz_html_escape).  */
#include "gz_category.h"
#include "gz_text.h"
#include "routing_pages.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_head =
    "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<title>%s · 工作台</title><style>"
    "body{margin:0;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "background:#f4f5f7;color:#1f2329;font-size:16px;line-height:1.6}"
    "header{background:#c8102e;color:#fff;padding:10px 14px}"
    "header h1{margin:0;font-size:19px}nav{display:flex;gap:14px;align-items:center;"
    "flex-wrap:wrap;font-size:14px;margin-top:4px}nav a{color:#fff}"
    "nav form{margin:0 0 0 auto}nav button{width:auto;margin:0;padding:4px 10px;font-size:14px;"
    "background:#fff;color:#c8102e}"
    "main{max-width:560px;margin:0 auto;padding:12px}"
    ".card{background:#fff;border-radius:10px;padding:14px;margin-bottom:12px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "label{display:block;font-weight:600;margin:10px 0 4px}"
    "select,textarea,input{width:100%%;box-sizing:border-box;font-size:16px;padding:9px;"
    "border:1px solid #c9cdd4;border-radius:8px;background:#fff}textarea{min-height:70px}"
    "button{width:100%%;margin-top:12px;padding:12px;font-size:17px;border:0;"
    "border-radius:8px;background:#c8102e;color:#fff}"
    ".err{background:#fff1f0;border:1px solid #ffa39e;color:#a8071a;padding:10px;"
    "border-radius:8px;margin-bottom:12px}.ok{background:#f6ffed;border:1px solid #b7eb8f;"
    "color:#135200;padding:10px;border-radius:8px;margin-bottom:12px}"
    ".num{font-size:22px;font-weight:700;color:#c8102e}.late{color:#d4380d;font-weight:700}"
    ".counts{display:flex;gap:8px}.counts div{flex:1;text-align:center;background:#fff;"
    "border-radius:10px;padding:8px}.counts b{display:block;font-size:22px}"
    "ul.q{list-style:none;padding:0;margin:0}ul.q li{margin:0 0 10px}"
    "ul.q a{display:block;text-decoration:none;color:inherit}"
    "ol.tl{padding-left:20px}ol.tl li{margin:6px 0}"
    ".photos img{width:30%%;margin:4px 2%% 4px 0;border-radius:6px;vertical-align:top}"
    ".muted{color:#646a73;font-size:13px}a{color:#1456f0}"
    "details summary{font-weight:600;cursor:pointer;padding:4px 0}"
    "footer{text-align:center;color:#8f959e;font-size:12px;padding:14px}"
    "</style></head><body>";

typedef routing_page_t s_page_t;

static void s_put (s_page_t *p, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_put (s_page_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    char *text = NULL;
    int n = vasprintf (&text, fmt, ap);
    va_end (ap);
    if (n > 0)
        zchunk_extend (p->buf, text, (size_t) n);
    free (text);
}

//  Put s escaped.
static void
s_text (s_page_t *p, const char *s)
{
    char *e = gz_html_escape (s ? s : "");
    s_put (p, "%s", e);
    free (e);
}

//  The head, the title bar and (for a signed-in viewer) the nav bar: 待办
//  and, for coordinators, 协调; the call-back operator's page goes here too.
static void
s_begin (s_page_t *p, const char *title, const routing_viewer_t *v)
{
    p->buf = zchunk_new (NULL, 16384);
    char *t = gz_html_escape (title);
    s_put (p, s_head, t);
    s_put (p, "<header><h1>%s</h1>", t);
    free (t);
    if (v) {
        s_put (p, "<nav><a href=\"/w/\">待办</a>");
        if (routing_coordinator_role (v->caller.role))
            s_put (p, "<a href=\"/w/coord\">协调</a>");
        if (strcmp (v->caller.role, "callback_operator") == 0)
            s_put (p, "<a href=\"/w/callback\">回访</a>");
        s_put (p, "<span>");
        s_text (p, v->name);
        s_put (p,
               "</span><form method=\"post\" action=\"/w/logout\">"
               "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
               "<button type=\"submit\">退出</button></form></nav>",
               v->csrf);
    }
    s_put (p, "</header><main>");
}

static void
s_send (gz_http_req_t *req, int status, s_page_t *p)
{
    s_put (p, "<footer>共治 · 基层治理工作台<br>居民信息仅用于办理诉求，请勿外传。"
              "</footer></main></body></html>");
    gz_http_reply (req, status, "text/html; charset=utf-8", (char *) zchunk_data (p->buf),
                   zchunk_size (p->buf));
    zchunk_destroy (&p->buf);
}

//  ---------------------------------------------------------------- words

static const char *
s_state_zh (const char *state)
{
    static const char *const names[][2] = {
        {"assigned", "待签收"},    {"accepted", "已签收"}, {"verified", "已核实"},
        {"in_progress", "处置中"}, {"resolved", "已办结"}, {"rated", "已评价"},
        {"closed", "已关闭"},      {"rejected", "已驳回"}, {"merged", "已合并"},
    };
    for (size_t i = 0; state && i < sizeof names / sizeof names[0]; i++)
        if (strcmp (names[i][0], state) == 0)
            return names[i][1];
    return "未知";
}

const char *
routing_page_message (const char *code, bool *ok)
{
    static const char *const msgs[][2] = {
        {"ok-accept", "已签收。"},
        {"ok-verify", "已记录核实结果。"},
        {"ok-start", "已开始处置。"},
        {"ok-note", "已添加备注。"},
        {"ok-resolve", "已办结，等待居民评价。"},
        {"ok-transfer", "已转办。"},
        {"ok-return", "已退回派单员。"},
        {"ok-escalate", "已申请上级办理。"},
        {"conflict", "操作未完成：这件诉求的状态已经变了（可能同事已先处理），下面是当前状态。"},
        {"forbidden", "操作未完成：这件诉求不是派给您或您所在单位的。"},
        {"unprocessable", "操作未完成：单位或人员不存在，或已是最高一级，无法办理。"},
        {"fields", "操作未完成：请把必填内容填写完整（照片链接须以 http:// 或 https:// 开头）。"},
    };
    for (size_t i = 0; code && i < sizeof msgs / sizeof msgs[0]; i++)
        if (strcmp (msgs[i][0], code) == 0) {
            *ok = strncmp (code, "ok-", 3) == 0;
            return msgs[i][1];
        }
    return routing_page_coord_message (code, ok);
}

//  "2026-12-04T11:30:00+08:00" as microseconds since the epoch; -1 when
//  it is not that.
static int64_t
s_iso_us (const char *iso)
{
    struct tm tm = {0};
    if (!iso || sscanf (iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return ((int64_t) timegm (&tm) - 8 * 3600) * 1000000;
}

//  "还剩 2小时5分" or, past it, "已超时 1天3小时" in red; "" without a due.
static void
s_time_left (s_page_t *p, const char *due_iso, int64_t now_us)
{
    int64_t due = s_iso_us (due_iso);
    if (due < 0)
        return;
    int64_t left = (due - now_us) / 1000000;
    bool late = left < 0;
    int64_t s = late ? -left : left;
    long d = (long) (s / 86400), h = (long) (s % 86400 / 3600), m = (long) (s % 3600 / 60);
    char span[64];
    if (d > 0)
        snprintf (span, sizeof span, "%ld天%ld小时", d, h);
    else if (h > 0)
        snprintf (span, sizeof span, "%ld小时%ld分", h, m);
    else
        snprintf (span, sizeof span, "%ld分钟", m);
    if (late)
        s_put (p, "<span class=\"late\">已超时 %s</span>", span);
    else
        s_put (p, "<span>还剩 %s</span>", span);
}

//  The deadline as "12-04 11:30".
static void
s_due (s_page_t *p, const char *iso)
{
    if (iso && strlen (iso) >= 16)
        s_put (p, "%.5s %.5s", iso + 5, iso + 11);
}

static const char *
s_str (json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    return s ? s : "";
}

static const char *
s_category_zh (const char *code)
{
    const gz_category_t *c = gz_category_find (code);
    return c ? c->name : "其他";
}

//  ---------------------------------------------------------------- pages

void
routing_page_notice (gz_http_req_t *req, int status, const routing_viewer_t *v, const char *title,
                     const char *message)
{
    s_page_t p;
    s_begin (&p, title, v);
    s_put (&p, "<div class=\"card\"><p>");
    s_text (&p, message);
    s_put (&p, "</p><p><a href=\"/w/\">返回待办</a></p></div>");
    s_send (req, status, &p);
}

void
routing_page_login (gz_http_req_t *req, int status, const char *code, const char *error)
{
    //  Its form must carry this site's Origin (the sign-in's login-CSRF
    //  check): under the pages' no-referrer policy the browser sends
    //  "Origin: null", which a cross-site form can send too.
    gz_http_set_header (req, "Referrer-Policy", "same-origin");
    s_page_t p;
    s_begin (&p, "登录", NULL);
    if (error) {
        s_put (&p, "<div class=\"err\">");
        s_text (&p, error);
        s_put (&p, "</div>");
    }
    if (code) {
        s_put (&p, "<form class=\"card\" method=\"post\" action=\"/w/login\">"
                   "<p>这是您的一次性登录链接（15分钟内有效，只能用一次）。</p>"
                   "<input type=\"hidden\" name=\"code\" value=\"");
        s_text (&p, code);
        s_put (&p, "\"><button type=\"submit\" id=\"login\">登录</button></form>");
    }
    s_put (&p, "<form class=\"card\" method=\"post\" action=\"/w/login\">"
               "<label for=\"token\">用令牌登录</label>"
               "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
               "placeholder=\"gzctl token issue 发给您的令牌\">"
               "<button type=\"submit\">登录</button></form>");
    s_send (req, status, &p);
}

void
routing_page_queue (gz_http_req_t *req, const routing_viewer_t *v, json_t *items, int64_t now_us)
{
    s_page_t p;
    s_begin (&p, "待办", v);
    size_t i, late = 0, fresh = 0;
    json_t *it;
    json_array_foreach (items, i, it)
    {
        int64_t due = s_iso_us (s_str (it, "next_due"));
        late += due >= 0 && due < now_us;
        fresh += strcmp (s_str (it, "state"), "assigned") == 0;
    }
    s_put (&p,
           "<div class=\"counts card\"><div><b id=\"open\">%zu</b>在办</div>"
           "<div><b id=\"new\">%zu</b>待签收</div><div><b id=\"late\" class=\"%s\">%zu</b>"
           "已超时</div></div>",
           json_array_size (items), fresh, late ? "late" : "", late);
    if (json_array_size (items) == 0)
        s_put (&p, "<div class=\"card\">目前没有待办诉求。</div>");
    s_put (&p, "<ul class=\"q\">");
    json_array_foreach (items, i, it)
    {
        const char *id = s_str (it, "id");
        s_put (&p, "<li class=\"card\"><a href=\"/w/r/");
        s_text (&p, id);
        s_put (&p, "\"><span class=\"num\">");
        s_text (&p, id);
        s_put (&p, "</span> <b>%s</b> · %s<br>", s_category_zh (s_str (it, "category")),
               s_state_zh (s_str (it, "state")));
        s_put (&p, "<span class=\"muted\">地点：");
        s_text (&p, *s_str (it, "building_code") ? s_str (it, "building_code") : "未填楼栋");
        s_put (&p, "</span><br><span class=\"muted\">时限 ");
        s_due (&p, s_str (it, "next_due"));
        s_put (&p, "</span> ");
        s_time_left (&p, s_str (it, "next_due"), now_us);
        s_put (&p, "</a></li>");
    }
    s_put (&p, "</ul>");
    s_send (req, 200, &p);
}

//  ---------------------------------------------------------------- request

//  The opening of one action's form: its action URL and CSRF token.
static void
s_form (s_page_t *p, const routing_viewer_t *v, const char *id, const char *action,
        const char *title, bool open)
{
    //  备注 and 办结 take photos (routing_pages_photos.c).
    bool photos = strcmp (action, "note") == 0 || strcmp (action, "resolve") == 0;
    s_put (p, "<details class=\"card\"%s><summary>%s</summary>", open ? " open" : "", title);
    s_put (p, "<form method=\"post\"%s action=\"/w/r/",
           photos ? " enctype=\"multipart/form-data\"" : "");
    s_text (p, id);
    s_put (p, "/%s\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">", action, v->csrf);
}

//  The camera input of a note's or a resolution's form.
static void
s_photo_input (s_page_t *p, const char *label)
{
    s_put (p,
           "<label>%s <small>（选填，拍照或上传，最多3张，每张不超过10MB）</small></label>"
           "<input name=\"photo\" type=\"file\" accept=\"image/*\" capture=\"environment\" "
           "multiple>",
           label);
}

static bool
s_allows (routing_action_t action, routing_state_t state)
{
    return routing_transition_allows (routing_transition (action), state);
}

//  The forms of the actions state allows (routing_lifecycle's table).
static void
s_actions (s_page_t *p, const routing_viewer_t *v, const char *id, routing_state_t st)
{
    if (s_allows (ROUTING_ACTION_ACCEPT, st)) {
        s_form (p, v, id, "accept", "签收", true);
        s_put (p, "<p class=\"muted\">签收后由您负责办理。</p>"
                  "<button type=\"submit\">签收</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_VERIFY, st)) {
        s_form (p, v, id, "verify", "核实（电话联系居民）", true);
        s_put (p, "<label>核实结果</label><select name=\"outcome\">"
                  "<option value=\"reached\">已联系上居民，情况属实</option>"
                  "<option value=\"not_reached\">未联系上</option>"
                  "<option value=\"invalid\">无效诉求</option></select>"
                  "<label>说明 <small>（选填）</small></label>"
                  "<textarea name=\"text\" maxlength=\"4000\"></textarea>"
                  "<button type=\"submit\">核实</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_START, st)) {
        s_form (p, v, id, "start", "开始处置（上门）", true);
        s_put (p, "<label>说明 <small>（选填）</small></label>"
                  "<textarea name=\"text\" maxlength=\"4000\"></textarea>"
                  "<button type=\"submit\">开始处置</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_RESOLVE, st)) {
        s_form (p, v, id, "resolve", "办结", true);
        s_put (p, "<label>办理结果</label>"
                  "<textarea name=\"text\" maxlength=\"4000\" required></textarea>");
        s_photo_input (p, "处置后照片");
        s_put (p, "<button type=\"submit\">办结</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_NOTE, st)) {
        s_form (p, v, id, "note", "备注", false);
        s_put (p, "<label>备注内容</label><textarea name=\"text\" maxlength=\"4000\"></textarea>");
        s_photo_input (p, "处置照片（处置前/处置中）");
        s_put (p, "<label>照片链接 <small>（选填，http(s)://）</small></label>"
                  "<input name=\"media_url\" type=\"url\" maxlength=\"2000\">"
                  "<button type=\"submit\">添加备注</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_TRANSFER, st)) {
        s_form (p, v, id, "transfer", "转办", false);
        s_put (p, "<label>转给单位（编码）</label>"
                  "<input name=\"to_unit\" required placeholder=\"如 HGY-G0002\">"
                  "<label>转给人员 <small>（选填，工号）</small></label>"
                  "<input name=\"to_staff\"><label>原因</label>"
                  "<textarea name=\"text\" maxlength=\"4000\" required></textarea>"
                  "<button type=\"submit\">转办</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_RETURN, st)) {
        s_form (p, v, id, "return", "退回派单员", false);
        s_put (p, "<label>原因</label>"
                  "<textarea name=\"text\" maxlength=\"4000\" required></textarea>"
                  "<button type=\"submit\">退回</button></form></details>");
    }
    if (s_allows (ROUTING_ACTION_REASSIGN, st) && routing_coordinator_role (v->caller.role))
        routing_page_reassign_form (p, v, id, false);
    if (s_allows (ROUTING_ACTION_ESCALATE, st)) {
        s_form (p, v, id, "escalate", "申请上级", false);
        s_put (p, "<label>原因 <small>（选填）</small></label>"
                  "<textarea name=\"text\" maxlength=\"4000\"></textarea>"
                  "<button type=\"submit\">申请上级</button></form></details>");
    }
}

//  The facts: number, state, category, place, deadlines, description,
//  phone, photo, assignee, co-handlers.
static void
s_facts (s_page_t *p, json_t *view, int64_t now_us)
{
    json_t *dl = json_object_get (view, "deadlines");
    json_t *as = json_object_get (view, "assignee");
    s_put (p, "<div class=\"card\"><div class=\"muted\">诉求编号</div><div class=\"num\">");
    s_text (p, s_str (view, "id"));
    s_put (p, "</div><p><b>状态：</b><span id=\"state\">%s</span></p><p><b>类别：</b>%s</p>",
           s_state_zh (s_str (view, "state")), s_category_zh (s_str (view, "category")));
    s_put (p, "<p><b>地点：</b>");
    s_text (p, *s_str (view, "building_code") ? s_str (view, "building_code") : "未填楼栋");
    s_put (p, "</p><p><b>问题描述：</b>");
    s_text (p, s_str (view, "description"));
    s_put (p, "</p><p><b>响应时限：</b>");
    s_due (p, s_str (dl, "response"));
    if (json_is_null (json_object_get (view, "responded_at"))) {
        s_put (p, " ");
        s_time_left (p, s_str (dl, "response"), now_us);
    }
    else
        s_put (p, " 已响应");
    s_put (p, "</p><p><b>办结时限：</b>");
    s_due (p, s_str (dl, "resolve"));
    s_put (p, " ");
    s_time_left (p, s_str (dl, "resolve"), now_us);
    //  The number intake holds, fetched and logged by routing_page_phone.
    s_put (p, "</p><p><b>居民电话：</b>");
    routing_page_phone_link (p, view);
    s_put (p, "</p>");
    const char *media = s_str (view, "media_url");
    if (gz_url_http (media)) {
        s_put (p, "<p><b>照片：</b><a rel=\"noreferrer\" href=\"");
        s_text (p, media);
        s_put (p, "\">查看照片</a></p>");
    }
    //  The resident's photos, as intake lists them (routing_page_photos).
    if (json_array_size (json_object_get (view, "filing_photos"))) {
        s_put (p, "<p><b>居民上传的照片：</b></p>");
        routing_page_thumbs (p, s_str (view, "id"), json_object_get (view, "filing_photos"),
                             "filing-photos");
    }
    s_put (p, "<p><b>承办：</b>");
    s_text (p, s_str (as, "name"));
    s_put (p, "（");
    s_text (p, s_str (as, "unit_name"));
    s_put (p, "）</p>");
    size_t i;
    json_t *co;
    json_array_foreach (json_object_get (view, "co_handlers"), i, co)
    {
        s_put (p, "<p><b>协办：</b>");
        s_text (p, s_str (co, "unit_name"));
        s_put (p, "%s</p>", json_is_true (json_object_get (co, "reported")) ? "（已反馈）" : "");
    }
    s_put (p, "</div>");
}

void
routing_page_request (gz_http_req_t *req, const routing_viewer_t *v, json_t *view,
                      const char *message_code, int64_t now_us)
{
    s_page_t p;
    s_begin (&p, "诉求详情", v);
    bool ok = false;
    const char *msg = routing_page_message (message_code, &ok);
    if (msg)
        s_put (&p, "<div class=\"%s\" id=\"message\">%s</div>", ok ? "ok" : "err", msg);
    s_facts (&p, view, now_us);
    s_actions (&p, v, s_str (view, "id"), routing_state_from_name (s_str (view, "state")));
    s_put (&p, "<div class=\"card\"><b>办理过程</b><ol class=\"tl\">");
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (view, "timeline"), i, t)
    {
        const char *at = s_str (t, "at");
        s_put (&p, "<li><span class=\"muted\">");
        s_due (&p, at);
        s_put (&p, " ");
        s_text (&p, s_str (json_object_get (t, "actor"), "name"));
        s_put (&p, "</span><br>%s", s_state_zh (s_str (t, "state")));
        if (*s_str (t, "note")) {
            s_put (&p, "：");
            s_text (&p, s_str (t, "note"));
        }
        json_t *photos = json_object_get (json_object_get (t, "detail"), "photos");
        if (json_array_size (photos)) {
            s_put (&p, "<br>");
            routing_page_thumbs (&p, s_str (view, "id"), photos, NULL);
        }
        s_put (&p, "</li>");
    }
    s_put (&p, "</ol></div><p><a href=\"/w/\">返回待办</a></p>");
    //  gz_http's policy for pages, with the request's photos (same origin).
    gz_http_set_header (req, "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    s_send (req, 200, &p);
}

//  ---------------------------------------------------------------- for other page files

void
routing_page_begin (routing_page_t *p, const char *title, const routing_viewer_t *v)
{
    s_begin (p, title, v);
}

void
routing_page_put (routing_page_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    char *text = NULL;
    int n = vasprintf (&text, fmt, ap);
    va_end (ap);
    if (n > 0)
        zchunk_extend (p->buf, text, (size_t) n);
    free (text);
}

void
routing_page_text (routing_page_t *p, const char *s)
{
    s_text (p, s);
}

void
routing_page_send (gz_http_req_t *req, int status, routing_page_t *p)
{
    s_send (req, status, p);
}

void
routing_page_time_left (routing_page_t *p, const char *due_iso, int64_t now_us)
{
    s_time_left (p, due_iso, now_us);
}

bool
routing_page_overdue (const char *due_iso, int64_t now_us)
{
    int64_t due = s_iso_us (due_iso);
    return due >= 0 && due < now_us;
}

const char *
routing_page_state_zh (const char *state)
{
    return s_state_zh (state);
}

const char *
routing_page_category_zh (const char *code)
{
    return s_category_zh (code);
}
