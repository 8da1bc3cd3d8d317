/*  matching_pages: the volunteer's offer page, in Simplified Chinese.

    /o/{id}?t=SECRET  the link in the offer's text message (notify sends
                      it; the secret is in matching.offer_secrets). Shows
                      what is asked (skill, place, contact, time, urgency,
                      note), until when to answer, and two forms, 接受 and
                      拒绝, that POST back here with the secret as a
                      hidden field. Once answered or expired it says so and
                      shows no buttons.
    POST /o/{id}      t, action = accept | decline: the same op as the JSON
                      API's POST /api/v1/offers/{id}/accept|decline
                      (matching_ops.c), answered with a page instead of
                      JSON (op->page; matching_page_answer).

    A wrong or missing secret is the same 404 page as an unknown offer, so
    the page never tells that an offer exists. Plain HTML and CSS, no
    JavaScript; gz_http adds the page headers (CSP, no Referer, no
    framing, no-store).  */
#include "gz_log.h"
#include "gz_text.h"
#include "matching.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_head =
    "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<title>%s</title><style>"
    "body{margin:0;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "background:#f4f5f7;color:#1f2329;font-size:16px;line-height:1.6}"
    "header{background:#c8102e;color:#fff;padding:14px 18px}"
    "header h1{margin:0;font-size:20px}header p{margin:2px 0 0;font-size:13px;opacity:.9}"
    "main{max-width:560px;margin:0 auto;padding:14px}"
    ".card{background:#fff;border-radius:10px;padding:16px;margin-bottom:14px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}.card p{margin:6px 0}"
    "button{width:100%%;margin-top:10px;padding:14px;font-size:18px;border:0;"
    "border-radius:8px;background:#c8102e;color:#fff}button.no{background:#e5e6eb;color:#1f2329}"
    ".tag{display:inline-block;background:#fff1f0;color:#a8071a;border:1px solid #ffa39e;"
    "border-radius:4px;padding:0 6px;font-size:13px;margin-left:6px}"
    ".big{font-size:22px;font-weight:700;color:#c8102e}.num{font-size:28px;font-weight:700;"
    "color:#c8102e;letter-spacing:1px}.muted{color:#646a73;font-size:13px}"
    "footer{text-align:center;color:#8f959e;font-size:12px;padding:16px}"
    "</style></head><body>";

static const char *s_foot = "<footer>共治 · 志愿服务<br>此链接仅供您本人使用，请勿转发。"
                            "</footer></main></body></html>";

//  ---------------------------------------------------------------- the page

typedef struct {
    zchunk_t *buf;
} s_page_t;

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

//  s_put a label and escaped text as one line of a card.
static void
s_line (s_page_t *p, const char *label, const char *text)
{
    char *t = gz_html_escape (text ? text : "");
    s_put (p, "<p><b>%s：</b>%s</p>", label, t);
    free (t);
}

static void
s_begin (s_page_t *p, const char *title)
{
    p->buf = zchunk_new (NULL, 8192);
    s_put (p, s_head, title);
    s_put (p, "<header><h1>%s</h1><p>共治 · 志愿服务</p></header><main>", title);
}

static void
s_send (gz_http_req_t *req, int status, s_page_t *p)
{
    s_put (p, "%s", s_foot);
    gz_http_reply (req, status, "text/html; charset=utf-8", (char *) zchunk_data (p->buf),
                   zchunk_size (p->buf));
    zchunk_destroy (&p->buf);
}

//  One card with a message: not found, busy, a bad form.
static void
s_message (gz_http_req_t *req, int status, const char *title, const char *text)
{
    s_page_t p;
    s_begin (&p, title);
    s_put (&p, "<div class=\"card\"><p>%s</p></div>", text);
    s_send (req, status, &p);
}

static void
s_not_found (gz_http_req_t *req)
{
    s_message (req, 404, "未找到",
               "未找到该服务邀请。请确认短信中的链接是否完整，或联系您的社工、网格员。");
}

static void
s_busy (gz_http_req_t *req, int status)
{
    s_message (req, status, "系统繁忙", "系统繁忙，请稍后再试。");
}

//  The offer's state as the volunteer reads it.
static const char *
s_state_zh (const char *state)
{
    static const char *const map[][2] = {{"offered", "待答复"},
                                         {"accepted", "已接受"},
                                         {"declined", "已拒绝"},
                                         {"expired", "已过期"},
                                         {"cancelled", "已取消"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp (map[i][0], state) == 0)
            return map[i][1];
    return "已处理";
}

//  The canonical weekly text ("mon 09:00-11:00; sat ...") with Chinese
//  day names. The caller frees.
static char *
s_weekly_zh (const char *weekly)
{
    static const char *const days[][2] = {{"mon", "周一"}, {"tue", "周二"}, {"wed", "周三"},
                                          {"thu", "周四"}, {"fri", "周五"}, {"sat", "周六"},
                                          {"sun", "周日"}};
    size_t len = strlen (weekly);
    char *out = malloc (len * 2 + 1);
    if (!out)
        abort ();
    size_t used = 0;
    for (size_t i = 0; i < len;) {
        size_t d = 0;
        while (d < 7 && strncmp (weekly + i, days[d][0], 3) != 0)
            d++;
        if (d < 7) {
            memcpy (out + used, days[d][1], strlen (days[d][1]));
            used += strlen (days[d][1]);
            i += 3;
        }
        else
            out[used++] = weekly[i++];
    }
    out[used] = 0;
    return out;
}

//  What is asked, as a card.
static void
s_offer_card (s_page_t *p, const matching_offer_page_t *o)
{
    const char *skill = mt_skill_label (o->skill);
    char *name = gz_html_escape (o->volunteer_name);
    s_put (p, "<div class=\"card\"><p>%s，您好！有一户居民需要您的帮助：</p>", name);
    free (name);
    s_put (p, "<p><b>服务内容：</b>%s%s</p>", skill ? skill : "志愿服务",
           o->urgent ? "<span class=\"tag\">紧急</span>" : "");
    char place[1300];
    snprintf (place, sizeof place, "%s%s%s", o->community, o->community[0] ? " · " : "",
              o->building);
    s_line (p, "地点", place);
    if (o->address[0]) {
        char *a = gz_html_escape (o->address);
        s_put (p, "<p class=\"muted\">%s</p>", a);
        free (a);
    }
    s_line (p, "联系人", o->contact_name);
    if (o->recurring || !o->window_from[0]) {
        char *w = s_weekly_zh (o->weekly);
        char text[2200];
        snprintf (text, sizeof text, "每周 %s（长期服务）", w);
        free (w);
        s_line (p, "时间", text);
    }
    else {
        char text[80];
        //  The same day: its date once.
        bool same_day = strncmp (o->window_from, o->window_to, 10) == 0;
        snprintf (text, sizeof text, "%s 至 %s", o->window_from,
                  same_day && strlen (o->window_to) > 11 ? o->window_to + 11 : o->window_to);
        s_line (p, "时间", text);
    }
    if (o->note[0])
        s_line (p, "备注", o->note);
    s_put (p, "</div>");
}

//  GET /o/{id}?t=
static void
s_show (matching_t *ctx, gz_http_req_t *req, int64_t id)
{
    matching_offer_page_t *o = malloc (sizeof *o);
    if (!o)
        abort ();
    gz_db_t *db = gz_dbpool_get (gz_actor_pool (ctx->actor));
    int found = matching_store_offer_page (db, id, matching_now_us (ctx), o);
    gz_dbpool_put (gz_actor_pool (ctx->actor), db);
    const char *token = gz_http_query (req, "t");
    if (found < 0)
        s_busy (req, 503);
    else if (found == 0 || !o->secret[0] || !gz_auth_secret_equal (token, o->secret))
        s_not_found (req);
    else {
        s_page_t p;
        s_begin (&p, "志愿服务邀请");
        bool open = strcmp (o->state, "offered") == 0 && !o->past_due;
        const char *state = strcmp (o->state, "offered") == 0 ? "已过期" : s_state_zh (o->state);
        if (!open)
            s_put (&p, "<div class=\"card\"><p class=\"big\">%s</p>%s</div>", state,
                   strcmp (o->state, "accepted") == 0 ? "<p>感谢您的帮助！</p>"
                                                      : "<p>此邀请已无需答复。</p>");
        s_offer_card (&p, o);
        if (open) {
            char *t = gz_html_escape (token);
            s_put (&p, "<div class=\"card\"><p>请在 <b>%s</b> 前答复。</p>", o->expires);
            for (int i = 0; i < 2; i++)
                s_put (&p,
                       "<form method=\"post\" action=\"%lld\" accept-charset=\"utf-8\">"
                       "<input type=\"hidden\" name=\"t\" value=\"%s\">"
                       "<input type=\"hidden\" name=\"action\" value=\"%s\">"
                       "<button type=\"submit\"%s>%s</button></form>",
                       (long long) id, t, i == 0 ? "accept" : "decline",
                       i == 0 ? "" : " class=\"no\"", i == 0 ? "接受" : "拒绝");
            s_put (&p, "<p class=\"muted\">超时未答复视为拒绝。</p></div>");
            explicit_bzero (t, strlen (t));
            free (t);
        }
        s_send (req, 200, &p);
    }
    explicit_bzero (o->secret, sizeof o->secret);
    free (o);
}

//  POST /o/{id}: the form's answer, deferred as the JSON API's op.
static bool
s_answer (matching_t *ctx, gz_http_req_t *req, int64_t id)
{
    if (gz_http_too_large (req) || !gz_http_form_parse (req)) {
        s_message (req, 400, "无法识别", "提交的内容无法识别，请重新打开短信中的链接。");
        return false;
    }
    const char *t = gz_http_form (req, "t"), *action = gz_http_form (req, "action");
    matching_op_t *op = NULL;
    if (t && *t && strlen (t) < sizeof op->token && action &&
        (strcmp (action, "accept") == 0 || strcmp (action, "decline") == 0))
        op = matching_op_new (ctx, strcmp (action, "accept") == 0 ? MT_OP_ACCEPT : MT_OP_DECLINE);
    if (!op) {
        if (t && *t && strlen (t) < 96)
            s_message (req, 400, "无法识别", "请点击“接受”或“拒绝”按钮答复。");
        else
            s_not_found (req);
        return false;
    }
    op->id = id;
    op->page = true;
    op->label = "offer_page";
    snprintf (op->token, sizeof op->token, "%s", t);
    if (matching_op_defer (ctx, &op, req) == 0)
        return true;
    matching_op_destroy (&op);
    s_busy (req, 503);
    return false;
}

bool
matching_page_offer (void *state, gz_http_req_t *req, const char *rest)
{
    matching_t *ctx = state;
    size_t len = strlen (rest);
    int64_t id =
        len > 0 && len <= 18 && strspn (rest, "0123456789") == len ? strtoll (rest, NULL, 10) : 0;
    const char *method = gz_http_method (req);
    bool get = strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
    if (!get && strcmp (method, "POST") != 0) {
        gz_http_set_header (req, "Allow", "GET, POST");
        s_message (req, 405, "不支持", "不支持此操作。");
        return false;
    }
    if (id <= 0) {
        s_not_found (req);
        return false;
    }
    if (!get)
        return s_answer (ctx, req, id);
    s_show (ctx, req, id);
    return false;
}

//  ---------------------------------------------------------------- answers

void
matching_page_answer (gz_http_req_t *req, const matching_op_t *op)
{
    if (op->status == 403 || op->status == 404) {
        s_not_found (req);
        return;
    }
    if (op->status != 200 && op->status != 409) {
        s_busy (req, op->status >= 500 ? op->status : 503);
        return;
    }
    s_page_t p;
    s_begin (&p, "志愿服务邀请");
    if (op->status == 409)
        s_put (&p,
               "<div class=\"card\"><p>此邀请已处理，当前状态：</p><p class=\"big\">%s</p>"
               "<p class=\"muted\">无需再次答复。如有疑问，请联系您的社工或网格员。</p></div>",
               s_state_zh (op->state));
    else if (op->kind == MT_OP_DECLINE)
        s_put (&p, "<div class=\"card\"><p class=\"big\">已拒绝</p>"
                   "<p>感谢您的答复，我们会请其他志愿者前往。</p></div>");
    else {
        json_t *service = op->reply ? json_object_get (op->reply, "service") : NULL;
        s_put (&p,
               "<div class=\"card\"><p class=\"big\">已接受，谢谢！</p>"
               "<p class=\"muted\">服务编号</p><p class=\"num\">%lld</p>"
               "<p>请按约定时间前往。到达和离开时请告知社工或网格员，由他们为您登记签到、"
               "签退；服务确认后，时长将计入您的志愿积分。</p>"
               "<p class=\"muted\">如临时有事无法前往，请尽早联系社工或网格员。</p></div>",
               (long long) (json_is_integer (service) ? json_integer_value (service) : 0));
    }
    s_send (req, 200, &p);
}
