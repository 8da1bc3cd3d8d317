/*  intake_pages: the resident-facing pages, in Simplified Chinese.

    /q/{building}  码上办: the page behind a building's QR code. Knows the
                   building; asks category, description, optional phone
                   and photo link. POST files it (idempotent per form:
                   a hidden nonce is the idempotency key, so a double tap
                   or a reload files once) and shows the request number.
    /r/{id}        the status page with the request's timeline; with the
                   secret from the link (?t=) it also shows the masked
                   phone on record.
    Plain HTML and CSS, no JavaScript: works on any phone browser. The
    status page reads through intake_store.c.  */
#include "intake.h"
#include "gz_auth.h"
#include "gz_log.h"
#include "gz_text.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
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
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}"
    "label{display:block;font-weight:600;margin:12px 0 4px}"
    "select,textarea,input{width:100%%;box-sizing:border-box;font-size:16px;padding:10px;"
    "border:1px solid #c9cdd4;border-radius:8px;background:#fff}"
    "textarea{min-height:120px}small{color:#646a73}"
    "button{width:100%%;margin-top:18px;padding:14px;font-size:18px;border:0;"
    "border-radius:8px;background:#c8102e;color:#fff}"
    ".err{background:#fff1f0;border:1px solid #ffa39e;color:#a8071a;padding:10px;"
    "border-radius:8px}.ok{font-size:15px}.num{font-size:28px;font-weight:700;"
    "color:#c8102e;letter-spacing:1px}ol.tl{padding-left:20px}ol.tl li{margin:6px 0}"
    ".muted{color:#646a73;font-size:13px}a{color:#1456f0}"
    "label.check{font-weight:400}label.check input{width:auto;margin-right:6px}"
    ".photos img{width:30%%;margin:0 2%% 6px 0;border-radius:6px;vertical-align:top}"
    "footer{text-align:center;color:#8f959e;font-size:12px;padding:16px}"
    "</style></head><body>";

static const char *s_foot =
    "<footer>共治 · 基层治理服务平台<br>您的电话号码仅用于核实诉求，不会公开。"
    "</footer></main></body></html>";

//  A growing HTML page.
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

//  Escaped copy that s_put can print; freed with the page by the caller.
static char *
s_esc (const char *s)
{
    return gz_html_escape (s ? s : "");
}

static void
s_send (gz_http_req_t *req, int status, s_page_t *p)
{
    gz_http_reply (req, status, "text/html; charset=utf-8", (char *) zchunk_data (p->buf),
                   zchunk_size (p->buf));
    zchunk_destroy (&p->buf);
}

static void
s_page_begin (s_page_t *p, const char *title, const char *subtitle)
{
    p->buf = zchunk_new (NULL, 8192);
    char *t = s_esc (title), *s = s_esc (subtitle);
    s_put (p, s_head, t);
    s_put (p, "<header><h1>%s</h1><p>%s</p></header><main>", t, s);
    free (t);
    free (s);
}

static void
s_not_found (gz_http_req_t *req, const char *what)
{
    s_page_t p;
    s_page_begin (&p, "未找到", "码上办 · 基层治理");
    char *w = s_esc (what);
    s_put (&p,
           "<div class=\"card\"><p>%s</p><p class=\"muted\">请确认二维码或链接是否完整，"
           "或拨打 12345 热线反映。</p></div>",
           w);
    free (w);
    s_put (&p, "%s", s_foot);
    s_send (req, 404, &p);
}

//  ---------------------------------------------------------------- QR page

typedef struct {
    const char *service_code, *description, *phone, *media_url, *nonce;
    bool photo_public; //  允许公开照片 (off by default)
} s_form_t;

//  The per-photo limit in whole MB, for the form.
static size_t
s_photo_mb (const intake_t *ctx)
{
    size_t bytes =
        ctx->cfg->photo.max_bytes ? ctx->cfg->photo.max_bytes : INTAKE_PHOTO_MAX_BYTES_DEFAULT;
    return bytes / (1024 * 1024) > 0 ? bytes / (1024 * 1024) : 1;
}

//  A checkbox of the form is ticked.
static bool
s_checked (gz_http_req_t *req, const char *name)
{
    const char *v = gz_http_form (req, name);
    return v && (strcmp (v, "1") == 0 || strcmp (v, "on") == 0);
}

//  org is the directory b belongs to.
static void
s_qr_form (const intake_t *ctx, gz_org_t *org, gz_http_req_t *req, const gz_building_t *b,
           const s_form_t *f, const char *error, int status)
{
    s_page_t p;
    char *bname = s_esc (b->name), *addr = s_esc (b->address ? b->address : "");
    char *community = s_esc (gz_org_unit_name (org, b->community_code));
    char *code = s_esc (b->code);
    s_page_begin (&p, "码上办 · 扫码反映问题", "有事扫一扫，马上就来办");
    s_put (&p,
           "<div class=\"card\"><div class=\"muted\">您所在的位置</div><div><b>%s</b></div>"
           "<div class=\"muted\">%s · %s</div></div>",
           bname, community, addr);
    if (error) {
        char *e = s_esc (error);
        s_put (&p, "<div class=\"err\" role=\"alert\">%s</div>", e);
        free (e);
    }
    char *nonce = s_esc (f->nonce);
    s_put (&p,
           "<form class=\"card\" method=\"post\" action=\"/q/%s\" accept-charset=\"utf-8\" "
           "enctype=\"multipart/form-data\">"
           "<input type=\"hidden\" name=\"nonce\" value=\"%s\">"
           "<label for=\"c\">问题类别</label><select id=\"c\" name=\"service_code\" required>"
           "<option value=\"\">请选择</option>",
           code, nonce);
    size_t n;
    const gz_category_t *all = gz_category_all (&n);
    for (size_t i = 0; i < n; i++) {
        bool sel = f->service_code && strcmp (f->service_code, all[i].code) == 0;
        s_put (&p, "<option value=\"%s\"%s>%s — %s</option>", all[i].code, sel ? " selected" : "",
               all[i].name, all[i].description);
    }
    char *desc = s_esc (f->description), *phone = s_esc (f->phone), *media = s_esc (f->media_url);
    s_put (&p,
           "</select><label for=\"d\">问题描述</label>"
           "<textarea id=\"d\" name=\"description\" maxlength=\"4000\" required "
           "placeholder=\"请描述遇到的问题，例如：3单元5楼楼道灯不亮已一周\">%s</textarea>",
           desc);
    //  Category-specific questions: shown for all, sent only for the chosen one.
    for (size_t i = 0; i < n; i++)
        for (const gz_attr_t *a = all[i].attrs; a && a->code; a++) {
            if (strcmp (a->datatype, "singlevaluelist") != 0)
                continue;
            s_put (&p,
                   "<label for=\"a_%s_%s\">%s：%s<small>（仅“%s”类别%s）</small></label>"
                   "<select id=\"a_%s_%s\" name=\"attr_%s_%s\"><option value=\"\">—</option>",
                   all[i].code, a->code, all[i].name, a->description, all[i].name,
                   a->required ? "必填" : "选填", all[i].code, a->code, all[i].code, a->code);
            for (const gz_attr_value_t *v = a->values; v && v->key; v++) {
                char field[128];
                snprintf (field, sizeof field, "attr_%s_%s", all[i].code, a->code);
                const char *cur = gz_http_form (req, field);
                s_put (&p, "<option value=\"%s\"%s>%s</option>", v->key,
                       cur && strcmp (cur, v->key) == 0 ? " selected" : "", v->name);
            }
            s_put (&p, "</select>");
        }
    s_put (&p,
           "<label for=\"p\">联系电话 <small>（选填，便于网格员电话核实）</small></label>"
           "<input id=\"p\" name=\"phone\" type=\"tel\" inputmode=\"tel\" maxlength=\"20\" "
           "value=\"%s\" placeholder=\"例如 13800001234\">"
           "<label for=\"m\">照片链接 <small>（选填）</small></label>"
           "<input id=\"m\" name=\"media_url\" type=\"url\" maxlength=\"1000\" value=\"%s\" "
           "placeholder=\"https://\">"
           "<label for=\"ph\">拍照或上传照片 <small>（选填，最多3张，每张不超过%zu MB）</small>"
           "</label><input id=\"ph\" name=\"photo\" type=\"file\" accept=\"image/*\" "
           "capture=\"environment\" multiple>"
           "<label class=\"check\"><input type=\"checkbox\" name=\"photo_public\" value=\"1\"%s> "
           "允许公开照片 <small>（勾选后，照片可在公开的诉求信息中显示；不勾选则仅您本人和"
           "办理人员可见）</small></label>"
           "<button type=\"submit\">提交</button>"
           "<p class=\"muted\">提交后会显示诉求编号，可随时查看办理进度。</p></form>",
           phone, media, s_photo_mb (ctx), f->photo_public ? " checked" : "");
    s_put (&p, "%s", s_foot);
    free (desc);
    free (phone);
    free (media);
    free (nonce);
    free (bname);
    free (addr);
    free (community);
    free (code);
    s_send (req, status, &p);
}

static const char *
s_error_zh (const intake_err_t *err)
{
    switch (err->error) {
        case GONGZHI__V1__ERROR_CODE__UNKNOWN_SERVICE:
            return "请选择问题类别。";
        case GONGZHI__V1__ERROR_CODE__BAD_DESCRIPTION:
            return strstr (err->message, "longer") ? "问题描述不能超过4000字。"
                                                   : "请填写问题描述。";
        case GONGZHI__V1__ERROR_CODE__BAD_UTF8:
            return "提交的内容包含无法识别的字符，请检查后重试。";
        default:
            break;
    }
    if (err->field && strcmp (err->field, "phone") == 0)
        return "联系电话格式不正确，请填写手机或座机号码。";
    if (err->field && strcmp (err->field, "media_url") == 0)
        return "照片链接须以 http:// 或 https:// 开头。";
    if (err->field && strcmp (err->field, "attribute") == 0)
        return "请补充所选类别需要的信息。";
    return "提交的信息有误，请检查后重试。";
}

static void
s_qr_success (gz_http_req_t *req, const gz_building_t *b, const intake_sub_t *sub)
{
    s_page_t p;
    s_page_begin (&p, "提交成功", "码上办 · 基层治理");
    char *bname = s_esc (b->name);
    s_put (&p,
           "<div class=\"card ok\"><p>您的诉求已受理。</p><p>诉求编号</p>"
           "<p class=\"num\">%lld</p><p>网格员将尽快与您电话核实，并上门处置。"
           "请保存下面的链接，随时查看办理进度，办结后可以评价。</p>"
           "<p><a href=\"/r/%lld?t=%s\">查看办理进度</a></p>"
           "<p class=\"muted\">位置：%s</p></div>",
           (long long) sub->id, (long long) sub->id, sub->secret, bname);
    s_put (&p, "%s", s_foot);
    free (bname);
    s_send (req, 201, &p);
}

//  The form filled in again with what was sent, and message. The nonce
//  is kept when it was a valid idempotency key (so a resubmission cannot
//  register twice), else, or when fresh, a new one.
static void
s_qr_form_again (const intake_t *ctx, gz_org_t *org, gz_http_req_t *req, const gz_building_t *b,
                 const char *message, int status, bool fresh)
{
    char nonce[37];
    gz_uuid (nonce);
    s_form_t f = {gz_http_form (req, "service_code"), gz_http_form (req, "description"),
                  gz_http_form (req, "phone"),        gz_http_form (req, "media_url"),
                  gz_http_form (req, "nonce"),        s_checked (req, "photo_public")};
    bool nonce_ok = !fresh && f.nonce && strlen (f.nonce) <= 64;
    for (const char *q = f.nonce; nonce_ok && *q; q++)
        nonce_ok = isalnum ((unsigned char) *q) || *q == '-';
    if (!nonce_ok)
        f.nonce = nonce;
    s_qr_form (ctx, org, req, b, &f, message, status);
}

static const char *s_busy_zh = "系统繁忙，请稍后再次提交（不会重复登记）。";

//  The form's nonce had filed a request with other content (the form was
//  changed and sent again, e.g. after going back): this content was not
//  filed. The form comes back with a new nonce, so sending it again files
//  it as a new request.
static const char *s_mismatch_zh =
    "这张表单已经提交过一条内容不同的诉求，本次修改后的内容没有登记。"
    "如需反映新的问题，请核对下面的内容后再次点击“提交”。";

//  Runs on an HTTP thread once the actor has finished sub.
static void
s_qr_answer (gz_http_req_t *req, intake_sub_t *sub)
{
    if (sub->state == SUB_DONE && sub->mismatch)
        s_qr_form_again (sub->ctx, sub->org->org, req, sub->qr_building, s_mismatch_zh, 422, true);
    else if (sub->state == SUB_DONE)
        s_qr_success (req, sub->qr_building, sub);
    else
        s_qr_form_again (sub->ctx, sub->org->org, req, sub->qr_building, s_busy_zh, 503, false);
    intake_http_observe (sub->ctx, "qr", sub->http_start_us);
}

void
intake_page_qr_unavailable (intake_t *ctx, gz_http_req_t *req, const char *building_code)
{
    intake_org_t *org = intake_org_take (ctx);
    const gz_building_t *b = gz_org_building (org->org, building_code);
    if (!b)
        gz_http_reply (req, 503, "text/html; charset=utf-8", "<p>系统繁忙，请稍后再试。</p>",
                       strlen ("<p>系统繁忙，请稍后再试。</p>"));
    else
        s_qr_form_again (ctx, org->org, req, b, s_busy_zh, 503, false);
    intake_org_drop (&org);
}

static bool s_page_qr (intake_t *ctx, gz_org_t *org, gz_http_req_t *req, const char *building_code);

//  A QR filing with photos, on its way to a worker.
typedef struct {
    intake_t *ctx;
    intake_sub_t *sub;
} s_photo_job_t;

//  On an HTTP worker: check and re-encode the filing's photos; the first
//  bad one refuses the filing (nothing stored: the form comes back with
//  what was typed), else the filing goes to the committer with them.
static void
s_qr_photos (gz_http_req_t *req, void *arg)
{
    s_photo_job_t *job = arg;
    intake_t *ctx = job->ctx;
    intake_sub_t *sub = job->sub;
    free (job);
    size_t n = gz_http_file_count (req);
    const char *refusal = NULL;
    for (size_t i = 0; i < n && i < INTAKE_PHOTO_MAX_COUNT && !refusal; i++) {
        size_t len = 0;
        const unsigned char *data = gz_http_file_data (req, i, &len);
        intake_photo_error_t e =
            intake_photo_process (data, len, &ctx->cfg->photo, &sub->photos[sub->nphotos]);
        if (e == INTAKE_PHOTO_OK)
            sub->nphotos++;
        else {
            refusal = intake_photo_message (e);
            gz_info ("intake", "msg=\"photo refused\" index=%zu reason=%d bytes=%zu", i, (int) e,
                     len);
            char msg[384];
            snprintf (msg, sizeof msg,
                      "第%zu张照片无法使用：%s本次没有提交，您填写的内容已保留，"
                      "请重新选择照片后再提交。",
                      i + 1, refusal);
            s_qr_form_again (ctx, sub->org->org, req, sub->qr_building, msg, 422, false);
        }
    }
    if (!refusal)
        intake_sub_fingerprint_photos (sub);
    if (!refusal && intake_submit_defer (ctx, &sub, req, s_qr_answer) == 0)
        return;
    if (!refusal)
        s_qr_form_again (ctx, sub->org->org, req, sub->qr_building, s_busy_zh, 503, false);
    intake_http_observe (ctx, "qr", sub->http_start_us);
    intake_sub_destroy (&sub);
}

bool
intake_page_qr (intake_t *ctx, gz_http_req_t *req, const char *building_code)
{
    intake_org_t *org = intake_org_take (ctx);
    bool deferred = s_page_qr (ctx, org->org, req, building_code);
    intake_org_drop (&org);
    return deferred;
}

static bool
s_page_qr (intake_t *ctx, gz_org_t *org, gz_http_req_t *req, const char *building_code)
{
    int64_t start = zclock_usecs ();
    const gz_building_t *b = gz_org_building (org, building_code);
    if (!b) {
        s_not_found (req, "未找到该楼栋的二维码信息。");
        return false;
    }
    const char *method = gz_http_method (req);
    if (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0) {
        char nonce[37];
        gz_uuid (nonce);
        s_form_t f = {NULL, NULL, NULL, NULL, nonce, false};
        s_qr_form (ctx, org, req, b, &f, NULL, 200);
        return false;
    }
    if (strcmp (method, "POST") != 0) {
        gz_http_set_header (req, "Allow", "GET, POST");
        gz_http_reply_error (req, 405, "method_not_allowed", "use GET or POST");
        return false;
    }
    char nonce[37];
    gz_uuid (nonce);
    s_form_t empty = {NULL, NULL, NULL, NULL, nonce, false};
    if (gz_http_too_large (req) && gz_http_multipart (req)) {
        //  What arrived before the limit was crossed is kept.
        char msg[256];
        snprintf (msg, sizeof msg,
                  "照片太大或太多：最多3张，每张不超过%zu MB。本次没有提交，"
                  "请重新选择照片后再提交。",
                  s_photo_mb (ctx));
        s_qr_form_again (ctx, org, req, b, msg, 413, false);
        return false;
    }
    if (gz_http_too_large (req)) {
        s_qr_form (ctx, org, req, b, &empty, "提交的内容过长，请精简后重试。", 413);
        return false;
    }
    if (!gz_http_form_parse (req)) {
        s_qr_form (ctx, org, req, b, &empty, "提交的表单无法识别，请重新填写。", 400);
        return false;
    }
    char client[96];
    snprintf (client, sizeof client, "ip:%s", gz_http_client_ip (req));
    if (intake_rate_limited (ctx, req, client, INTAKE_FORMAT_HTML))
        return false;
    s_form_t f = {gz_http_form (req, "service_code"), gz_http_form (req, "description"),
                  gz_http_form (req, "phone"),        gz_http_form (req, "media_url"),
                  gz_http_form (req, "nonce"),        s_checked (req, "photo_public")};
    //  Only the chosen category's questions, and only answered ones.
    const char *codes[8], *vals[8];
    size_t na = 0;
    const gz_category_t *cat = gz_category_find (f.service_code);
    for (const gz_attr_t *a = cat ? cat->attrs : NULL; a && a->code && na < 8; a++) {
        char field[128];
        snprintf (field, sizeof field, "attr_%s_%s", cat->code, a->code);
        const char *v = gz_http_form (req, field);
        if (v && *v) {
            codes[na] = a->code;
            vals[na++] = v;
        }
    }
    char idem[80] = "";
    bool nonce_ok = f.nonce && strlen (f.nonce) <= 64;
    for (const char *q = f.nonce; nonce_ok && *q; q++)
        nonce_ok = isalnum ((unsigned char) *q) || *q == '-';
    if (nonce_ok)
        snprintf (idem, sizeof idem, "qr-form:%s", f.nonce);
    intake_raw_t raw = {0};
    raw.channel = GONGZHI__V1__CHANNEL__QR;
    raw.service_code = f.service_code;
    raw.description = f.description;
    raw.address_id = b->code;
    raw.phone = f.phone;
    raw.media_url = f.media_url;
    raw.client_id = "qr";
    raw.idempotency_key = nonce_ok ? idem : NULL;
    raw.attr_codes = codes;
    raw.attr_values = vals;
    raw.nattrs = na;
    intake_err_t err;
    intake_sub_t *sub = intake_sub_new (ctx, &raw, &err);
    s_form_t keep = f;
    if (!nonce_ok)
        keep.nonce = nonce;
    if (!sub) {
        gz_metrics_add (ctx->metrics, "gz_intake_submissions_total",
                        "channel=\"qr\",outcome=\"rejected\"", 1);
        //  Never echo text that is not valid UTF-8 back into the page.
        if (err.error == GONGZHI__V1__ERROR_CODE__BAD_UTF8)
            keep = empty;
        s_qr_form (ctx, org, req, b, &keep, s_error_zh (&err), 422);
        return false;
    }
    //  The same building in the directory the submission holds (b's may
    //  be replaced by a RELOAD before the answer is rendered).
    sub->qr_building = sub->building;
    sub->http_start_us = start;
    sub->photos_public = f.photo_public;
    if (gz_http_file_count (req) > 0) {
        //  Decoding photos takes a while: on a worker, never this thread.
        s_photo_job_t *job = malloc (sizeof *job);
        assert (job);
        *job = (s_photo_job_t){ctx, sub};
        if (gz_http_offload (req, s_qr_photos, job) == 0)
            return true;
        free (job);
        intake_sub_destroy (&sub);
        s_qr_form (ctx, org, req, b, &keep, s_busy_zh, 503);
        return false;
    }
    if (intake_submit_defer (ctx, &sub, req, s_qr_answer) == 0)
        return true;
    intake_sub_destroy (&sub);
    s_qr_form (ctx, org, req, b, &keep, s_busy_zh, 503);
    return false;
}

//  ---------------------------------------------------------------- status page

static const char *
s_kind_zh (const char *kind)
{
    static const char *map[][2] = {{"submitted", "已提交，等待分派"},
                                   {"routed", "已分派"},
                                   {"accepted", "已签收"},
                                   {"verified", "已电话核实"},
                                   {"started", "正在上门处置"},
                                   {"resolved", "已办结"},
                                   {"rated", "已评价"},
                                   {"reopened", "已重新办理"},
                                   {"closed", "已关闭"},
                                   {"escalated", "已升级督办"},
                                   {"transferred", "已转办"},
                                   {"returned", "已退回重新派单"},
                                   {"reassigned", "已改派"},
                                   {"merged", "已合并到相同诉求"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp (map[i][0], kind) == 0)
            return map[i][1];
    return kind;
}

//  The filing's photos (kind "filing"), or the resolution's (处置后, kind
//  "after", linked from routing's RequestResolved), as thumbnails linking
//  to the full photo, both through /media: all of them for the holder of
//  the status link's secret (token), else only the public ones (never an
//  after photo: staff photos are not made public).
static void
s_status_photos (intake_t *ctx, s_page_t *p, const char *id, const char *token, const char *kind)
{
    char sha[8][65];
    bool pub[8];
    bool after = strcmp (kind, "after") == 0;
    int n = intake_store_photo_list (ctx, id, kind, sha, pub, after ? 8 : INTAKE_PHOTO_MAX_COUNT);
    char *t = s_esc (token);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!token && !pub[i])
            continue;
        if (!any)
            s_put (p, "<p><b>%s</b></p><p class=\"photos\"%s>", after ? "处置后照片：" : "照片：",
                   after ? " id=\"after-photos\"" : "");
        any = true;
        const char *q = token ? "?t=" : "";
        s_put (p,
               "<a href=\"/media/%s%s%s\"><img src=\"/media/%s/thumb%s%s\" alt=\"第%d张照片\" "
               "loading=\"lazy\"></a>",
               sha[i], q, t, sha[i], q, t, i + 1);
    }
    if (any)
        s_put (p, "</p>");
    free (t);
}

void
intake_page_status (intake_t *ctx, gz_http_req_t *req, const char *id)
{
    bool digits = *id && strlen (id) < 19;
    for (const char *p = id; *p && digits; p++)
        digits = isdigit ((unsigned char) *p);
    if (!digits) {
        s_not_found (req, "未找到该诉求。");
        return;
    }
    intake_status_t *st = NULL;
    if (intake_store_status (ctx, id, true, &st) < 0) {
        gz_metrics_add (ctx->metrics, "gz_db_errors_total", NULL, 1);
        gz_http_reply (req, 503, "text/html; charset=utf-8", "<p>系统繁忙，请稍后再试。</p>",
                       strlen ("<p>系统繁忙，请稍后再试。</p>"));
        return;
    }
    if (!st) {
        s_not_found (req, "未找到该诉求。");
        return;
    }
    const char *token = gz_http_query (req, "t");
    bool owner = gz_auth_secret_equal (token, st->secret);
    const gz_category_t *cat = gz_category_find (st->service_code);
    bool closed = strcmp (st->status, "closed") == 0;
    s_page_t p;
    s_page_begin (&p, "办理进度", "码上办 · 基层治理");
    char *desc = s_esc (st->description), *addr = s_esc (st->address);
    s_put (&p,
           "<div class=\"card\"><div class=\"muted\">诉求编号</div><div class=\"num\">%s</div>"
           "<p><b>状态：</b>%s</p><p><b>类别：</b>%s</p><p><b>位置：</b>%s</p>"
           "<p><b>提交时间：</b>%s</p><p><b>问题描述：</b>%s</p>",
           st->id, closed ? "已办结" : "办理中", cat ? cat->name : "其他", addr, st->submitted_at,
           desc);
    s_status_photos (ctx, &p, id, owner ? token : NULL, "filing");
    s_status_photos (ctx, &p, id, owner ? token : NULL, "after");
    if (owner && st->phone) {
        char *masked = gz_phone_mask (st->phone);
        s_put (&p, "<p><b>联系电话：</b>%s</p>", masked);
        free (masked);
    }
    const char *state = st->state;
    if (owner && strcmp (state, "resolved") == 0) {
        char *t = s_esc (token);
        s_put (&p,
               "</div><form class=\"card\" method=\"post\" action=\"/r/%s/rate?t=%s\">"
               "<b>请您评价办理结果</b><label>满意程度</label>"
               "<select name=\"score\" required><option value=\"\">请选择</option>"
               "<option value=\"5\">5 非常满意</option><option value=\"4\">4 满意</option>"
               "<option value=\"3\">3 基本满意</option><option value=\"2\">2 不满意</option>"
               "<option value=\"1\">1 很不满意</option></select>"
               "<label>问题解决了吗？</label><select name=\"satisfied\" required>"
               "<option value=\"yes\">已解决，满意</option>"
               "<option value=\"no\">未解决，不满意</option></select>"
               "<label>意见建议 <small>（选填）</small></label>"
               "<textarea name=\"comment\" maxlength=\"500\"></textarea>"
               "<button type=\"submit\">提交评价</button></form>"
               "<div class=\"card\">",
               st->id, t);
        free (t);
    }
    if (owner && (strcmp (state, "resolved") == 0 || strcmp (state, "rated") == 0)) {
        char *t = s_esc (token);
        s_put (&p,
               "<form method=\"post\" action=\"/r/%s/reopen?t=%s\">"
               "<b>问题没有解决？</b><p class=\"muted\">办结后7天内可以申请重新办理。</p>"
               "<textarea name=\"reason\" maxlength=\"500\" placeholder=\"请说明原因\">"
               "</textarea><button type=\"submit\">申请重新办理</button></form>",
               st->id, t);
        free (t);
    }
    s_put (&p, "</div><div class=\"card\"><b>办理过程</b><ol class=\"tl\">");
    for (size_t i = 0; i < st->ntimeline; i++) {
        char *note = s_esc (st->timeline[i].note);
        s_put (&p, "<li><span class=\"muted\">%s</span><br>%s%s%s</li>", st->timeline[i].at,
               s_kind_zh (st->timeline[i].kind), *note ? "：" : "", note);
        free (note);
    }
    s_put (&p, "</ol></div>%s", s_foot);
    free (desc);
    free (addr);
    intake_status_destroy (&st);
    //  The page's own policy, with its photos (same origin) allowed.
    gz_http_set_header (req, "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    s_send (req, 200, &p);
}

//  ---------------------------------------------------------------- resident actions

typedef struct {
    char *buf;
    size_t len;
} s_sink_t;

static size_t
s_sink (char *data, size_t size, size_t n, void *arg)
{
    s_sink_t *sink = arg;
    size_t add = size * n;
    if (sink->len + add > 64 * 1024)
        return 0; //  routing's answers are small; refuse anything else
    char *grown = realloc (sink->buf, sink->len + add + 1);
    if (!grown)
        return 0;
    sink->buf = grown;
    memcpy (sink->buf + sink->len, data, add);
    sink->len += add;
    sink->buf[sink->len] = 0;
    return add;
}

//  POST json to routing's API; returns the HTTP status, or 0 when routing
//  could not be reached.
static long
s_routing_post (intake_t *ctx, const char *id, const char *action, json_t *json)
{
    char url[512];
    snprintf (url, sizeof url, "%s/api/v1/requests/%s/%s", ctx->cfg->routing_url, id, action);
    char *body = json_dumps (json, JSON_COMPACT);
    CURL *c = curl_easy_init ();
    long status = 0;
    s_sink_t sink = {NULL, 0};
    if (c && body) {
        struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
        curl_easy_setopt (c, CURLOPT_URL, url);
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
        //  Bounded: the resident's browser waits on this, and so does an
        //  HTTP thread.
        curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_sink);
        curl_easy_setopt (c, CURLOPT_WRITEDATA, &sink);
        if (curl_easy_perform (c) == CURLE_OK)
            curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
        else
            gz_warn ("intake", "msg=\"routing unreachable\" url=%s", ctx->cfg->routing_url);
        curl_slist_free_all (h);
    }
    if (c)
        curl_easy_cleanup (c);
    free (body);
    free (sink.buf);
    return status;
}

static void
s_resident_result (gz_http_req_t *req, int status, const char *title, const char *message,
                   const char *id, const char *token)
{
    s_page_t p;
    s_page_begin (&p, title, "码上办 · 基层治理");
    char *m = s_esc (message), *t = s_esc (token ? token : "");
    s_put (&p, "<div class=\"card\"><p>%s</p><p><a href=\"/r/%s?t=%s\">返回办理进度</a></p></div>",
           m, id, t);
    free (m);
    free (t);
    s_put (&p, "%s", s_foot);
    s_send (req, status, &p);
}

void
intake_page_resident (intake_t *ctx, gz_http_req_t *req, const char *id, const char *action)
{
    bool digits = *id && strlen (id) < 19;
    for (const char *q = id; *q && digits; q++)
        digits = isdigit ((unsigned char) *q);
    bool rate = strcmp (action, "rate") == 0, reopen = strcmp (action, "reopen") == 0;
    if (!digits || (!rate && !reopen)) {
        s_not_found (req, "未找到该页面。");
        return;
    }
    if (strcmp (gz_http_method (req), "POST") != 0) {
        gz_http_set_header (req, "Allow", "POST");
        gz_http_reply_error (req, 405, "method_not_allowed", "use POST");
        return;
    }
    if (gz_http_too_large (req) || !gz_http_form_parse (req)) {
        s_resident_result (req, 400, "提交失败", "提交的表单无法识别，请返回重试。", id, NULL);
        return;
    }
    const char *token = gz_http_query (req, "t");
    if (!token)
        token = gz_http_form (req, "t");
    //  The secret must match before anything goes to routing.
    intake_status_t *st = NULL;
    bool owner = intake_store_status (ctx, id, false, &st) == 0 && st && token &&
                 gz_auth_secret_equal (token, st->secret);
    intake_status_destroy (&st);
    if (!owner) {
        s_resident_result (req, 403, "无法操作", "链接无效：请使用提交诉求后收到的办理进度链接。",
                           id, NULL);
        return;
    }
    json_t *body = json_pack ("{s:s}", "token", token);
    if (rate) {
        const char *score = gz_http_form (req, "score"), *sat = gz_http_form (req, "satisfied");
        const char *comment = gz_http_form (req, "comment");
        int n = score && strlen (score) == 1 ? score[0] - '0' : 0;
        if (n < 1 || n > 5 || !sat || (strcmp (sat, "yes") && strcmp (sat, "no")) ||
            (comment && (!gz_utf8_valid (comment, strlen (comment)) ||
                         gz_utf8_chars (comment, strlen (comment)) > 500))) {
            json_decref (body);
            s_resident_result (req, 422, "提交失败", "请选择满意程度，并确认意见不超过500字。", id,
                               token);
            return;
        }
        json_object_set_new (body, "score", json_integer (n));
        json_object_set_new (body, "satisfied", json_boolean (strcmp (sat, "yes") == 0));
        json_object_set_new (body, "comment", json_string (comment ? comment : ""));
    }
    else {
        const char *reason = gz_http_form (req, "reason");
        if (reason && (!gz_utf8_valid (reason, strlen (reason)) ||
                       gz_utf8_chars (reason, strlen (reason)) > 500)) {
            json_decref (body);
            s_resident_result (req, 422, "提交失败", "原因请不超过500字。", id, token);
            return;
        }
        json_object_set_new (body, "comment", json_string (reason ? reason : ""));
    }
    long status = s_routing_post (ctx, id, action, body);
    json_decref (body);
    if (status >= 200 && status < 300)
        s_resident_result (req, 200, rate ? "感谢您的评价" : "已申请重新办理",
                           rate ? "感谢您的评价！您的意见会反馈给办理人员。"
                                : "已重新交办，网格员会尽快与您联系。",
                           id, token);
    else if (status == 409)
        s_resident_result (req, 409, "暂时不能操作",
                           rate ? "该诉求目前不能评价（尚未办结，或已经评价过）。"
                                : "该诉求目前不能重新办理（尚未办结，或已超过7天）。",
                           id, token);
    else
        s_resident_result (req, 503, "系统繁忙", "系统繁忙，请稍后再试。", id, token);
}
