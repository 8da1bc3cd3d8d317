/*  notify_channel: the channels' protocols. See notify_channel.h and
    docs/notify-channels.md. E-mail is in notify_channel_email.c.  */
#include "gz_config.h"
#include "gz_log.h"
#include "notify_channel.h"
#include "notify_channel_email.h"

#include <assert.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SVC "notify"
#define S_MAX_ANSWER 65536 //  bytes of a receiver's answer kept

typedef enum { S_LOG, S_WEBHOOK, S_SMS, S_EMAIL, S_WECHAT } s_kind_t;

struct _notify_channel_t {
    const notify_channels_config_t *cfg;
    s_kind_t kind;
    CURL *curl;
};

//  ---------------------------------------------------------------- config

static char *
s_env (const char *name)
{
    const char *v = gz_config_str (name, NULL);
    return v && *v ? strdup (v) : NULL;
}

void
notify_channels_config_from_env (notify_channels_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    cfg->webhook_url = s_env ("GZ_NOTIFY_WEBHOOK_URL");
    cfg->webhook_secret = s_env ("GZ_NOTIFY_WEBHOOK_SECRET");
    cfg->sms_url = s_env ("GZ_NOTIFY_SMS_URL");
    cfg->sms_token = s_env ("GZ_NOTIFY_SMS_TOKEN");
    cfg->smtp_url = s_env ("GZ_NOTIFY_SMTP_URL");
    cfg->smtp_from = s_env ("GZ_NOTIFY_SMTP_FROM");
    cfg->wechat_url = s_env ("GZ_NOTIFY_WECHAT_URL");
    cfg->wechat_token = s_env ("GZ_NOTIFY_WECHAT_TOKEN");
    cfg->timeout_ms = (int) gz_config_int ("GZ_NOTIFY_TIMEOUT_MS", 5000, 100, 600000);
}

static char *
s_dup (const char *s)
{
    return s ? strdup (s) : NULL;
}

void
notify_channels_config_copy (notify_channels_config_t *dst, const notify_channels_config_t *src)
{
    *dst = *src;
    dst->webhook_url = s_dup (src->webhook_url);
    dst->webhook_secret = s_dup (src->webhook_secret);
    dst->sms_url = s_dup (src->sms_url);
    dst->sms_token = s_dup (src->sms_token);
    dst->smtp_url = s_dup (src->smtp_url);
    dst->smtp_from = s_dup (src->smtp_from);
    dst->wechat_url = s_dup (src->wechat_url);
    dst->wechat_token = s_dup (src->wechat_token);
}

void
notify_channels_config_clear (notify_channels_config_t *cfg)
{
    char *all[] = {cfg->webhook_url, cfg->webhook_secret, cfg->sms_url,    cfg->sms_token,
                   cfg->smtp_url,    cfg->smtp_from,      cfg->wechat_url, cfg->wechat_token};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) {
            explicit_bzero (all[i], strlen (all[i]));
            free (all[i]);
        }
    memset (cfg, 0, sizeof *cfg);
}

static int
s_kind (const notify_channels_config_t *cfg, const char *name)
{
    if (!name)
        return -1;
    if (strcmp (name, "log") == 0)
        return S_LOG;
    if (strcmp (name, "webhook") == 0)
        return cfg->webhook_url ? S_WEBHOOK : -1;
    if (strcmp (name, "sms") == 0)
        return cfg->sms_url ? S_SMS : -1;
    if (strcmp (name, "email") == 0)
        return cfg->smtp_url && cfg->smtp_from ? S_EMAIL : -1;
    if (strcmp (name, "wechat") == 0)
        return cfg->wechat_url ? S_WECHAT : -1;
    return -1;
}

bool
notify_channel_configured (const notify_channels_config_t *cfg, const char *name)
{
    return s_kind (cfg, name) >= 0;
}

notify_channel_t *
notify_channel_new (const notify_channels_config_t *cfg, const char *name)
{
    int kind = s_kind (cfg, name);
    if (kind < 0)
        return NULL;
    notify_channel_t *self = calloc (1, sizeof *self);
    assert (self);
    self->cfg = cfg;
    self->kind = (s_kind_t) kind;
    if (kind != S_LOG) {
        self->curl = curl_easy_init ();
        if (!self->curl) {
            free (self);
            return NULL;
        }
    }
    return self;
}

void
notify_channel_destroy (notify_channel_t **self_p)
{
    notify_channel_t *self = *self_p;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------- pieces

char *
notify_webhook_signature (const char *secret, int64_t t, const char *body, size_t len)
{
    char prefix[32];
    int plen = snprintf (prefix, sizeof prefix, "%lld.", (long long) t);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char *signed_text = malloc ((size_t) plen + len + 1);
    assert (signed_text);
    memcpy (signed_text, prefix, (size_t) plen);
    memcpy (signed_text + plen, body, len);
    HMAC (EVP_sha256 (), secret, (int) strlen (secret), (const unsigned char *) signed_text,
          (size_t) plen + len, mac, &maclen);
    free (signed_text);
    char *out = malloc (32 + 2 * maclen + 1);
    assert (out);
    int n = sprintf (out, "t=%lld,v1=", (long long) t);
    for (unsigned int i = 0; i < maclen; i++)
        n += sprintf (out + n, "%02x", mac[i]);
    return out;
}

typedef struct {
    char *data;
    size_t len;
} s_buf_t;

static size_t
s_collect (char *data, size_t size, size_t n, void *arg)
{
    s_buf_t *b = arg;
    size_t len = size * n;
    //  Past the cap the rest is read and dropped: a long answer is still
    //  an answer (failing the transfer would resend a delivered message).
    if (b->len + len > S_MAX_ANSWER)
        return size * n;
    char *grown = realloc (b->data, b->len + len + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy (b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return len;
}

//  POST body to url with headers; the status in *status_p and the answer
//  in *answer (the caller frees answer->data). The transport's outcome:
//  SENT when an HTTP answer came (any status), else RETRY with err.
static notify_outcome_t
s_post (notify_channel_t *self, const char *url, const char *body, struct curl_slist *headers,
        long *status_p, s_buf_t *answer, char *err, size_t errlen)
{
    CURL *c = self->curl;
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_POST, 1L);
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, (long) self->cfg->timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform (c);
    *status_p = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, status_p);
    if (rc != CURLE_OK) {
        snprintf (err, errlen, "%s", curl_easy_strerror (rc));
        return NOTIFY_RETRY;
    }
    return NOTIFY_SENT;
}

//  What an HTTP status means: 2xx SENT; 408, 429, 5xx (and anything not
//  a final answer) RETRY; other 4xx REFUSED.
static notify_outcome_t
s_status (long status, char *err, size_t errlen)
{
    if (status >= 200 && status < 300)
        return NOTIFY_SENT;
    snprintf (err, errlen, "HTTP %ld", status);
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return NOTIFY_REFUSED;
    return NOTIFY_RETRY;
}

//  ---------------------------------------------------------------- channels

static notify_outcome_t
s_log (const notify_msg_t *msg)
{
    //  The caller masked what the text shows; no contact is logged.
    char *text = strdup (msg->text ? msg->text : "");
    assert (text);
    for (char *p = text; *p; p++)
        if (*p == '"' || *p == '\n' || *p == '\r' || *p == '\\')
            *p = ' ';
    gz_info (SVC,
             "msg=\"notification\" key=\"%s\" event=%s recipient=\"%s\" template=%s text=\"%s\"",
             msg->key, msg->event, msg->recipient, msg->template_name, text);
    free (text);
    return NOTIFY_SENT;
}

static void
s_set_str (json_t *obj, const char *name, const char *value)
{
    json_object_set_new (obj, name, value ? json_string (value) : json_null ());
}

//  A JSON body sent with headers; the HTTP status decides, unless check
//  (given the answer) says otherwise for a 2xx.
static notify_outcome_t
s_send_json (notify_channel_t *self, const char *url, json_t *body, struct curl_slist *headers,
             notify_outcome_t (*check) (const char *answer, char *err, size_t errlen), char *err,
             size_t errlen)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text) {
        snprintf (err, errlen, "the message is not valid UTF-8");
        curl_slist_free_all (headers);
        return NOTIFY_REFUSED;
    }
    headers = curl_slist_append (headers, "Content-Type: application/json");
    s_buf_t answer = {NULL, 0};
    long status = 0;
    notify_outcome_t outcome = s_post (self, url, text, headers, &status, &answer, err, errlen);
    if (outcome == NOTIFY_SENT)
        outcome = s_status (status, err, errlen);
    if (outcome == NOTIFY_SENT && check)
        outcome = check (answer.data ? answer.data : "", err, errlen);
    explicit_bzero (text, strlen (text));
    free (text);
    free (answer.data);
    curl_slist_free_all (headers);
    return outcome;
}

static notify_outcome_t
s_webhook (notify_channel_t *self, const notify_msg_t *msg, char *err, size_t errlen)
{
    json_t *body = json_object ();
    s_set_str (body, "key", msg->key);
    s_set_str (body, "event", msg->event);
    s_set_str (body, "template", msg->template_name);
    s_set_str (body, "request_id", msg->request_id);
    s_set_str (body, "recipient", msg->recipient);
    s_set_str (body, "subject", msg->subject);
    s_set_str (body, "text", msg->text);
    s_set_str (body, "link", msg->link);
    json_object_set_new (body, "params",
                         msg->params ? json_incref ((json_t *) msg->params) : json_object ());
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text) {
        snprintf (err, errlen, "the message is not valid UTF-8");
        return NOTIFY_REFUSED;
    }
    char key[512];
    snprintf (key, sizeof key, "Idempotency-Key: %s", msg->key);
    struct curl_slist *h = curl_slist_append (NULL, key);
    h = curl_slist_append (h, "Content-Type: application/json");
    char *sig = NULL;
    if (self->cfg->webhook_secret) {
        char *value = notify_webhook_signature (self->cfg->webhook_secret, (int64_t) time (NULL),
                                                text, strlen (text));
        size_t n = strlen (value) + 32;
        sig = malloc (n);
        assert (sig);
        snprintf (sig, n, "X-Gongzhi-Signature: %s", value);
        free (value);
        h = curl_slist_append (h, sig);
    }
    s_buf_t answer = {NULL, 0};
    long status = 0;
    notify_outcome_t outcome =
        s_post (self, self->cfg->webhook_url, text, h, &status, &answer, err, errlen);
    if (outcome == NOTIFY_SENT)
        outcome = s_status (status, err, errlen);
    free (sig);
    free (text);
    free (answer.data);
    curl_slist_free_all (h);
    return outcome;
}

//  An SMS gateway's answer to a 2xx: a "code" (or Aliyun's "Code") that
//  is "OK" in any case, "0" or 0 is sent, as is an answer without one
//  (or not JSON); any other code is retried (gateways mix transient and
//  permanent codes; the attempts are bounded).
static notify_outcome_t
s_sms_check (const char *answer, char *err, size_t errlen)
{
    json_t *a = json_loads (answer, 0, NULL);
    json_t *code = json_object_get (a, "code");
    if (!code)
        code = json_object_get (a, "Code");
    notify_outcome_t outcome = NOTIFY_SENT;
    if (json_is_string (code) && strcasecmp (json_string_value (code), "OK") != 0 &&
        strcmp (json_string_value (code), "0") != 0) {
        snprintf (err, errlen, "the gateway answered code %.64s", json_string_value (code));
        outcome = NOTIFY_RETRY;
    }
    else if (json_is_integer (code) && json_integer_value (code) != 0) {
        snprintf (err, errlen, "the gateway answered code %lld",
                  (long long) json_integer_value (code));
        outcome = NOTIFY_RETRY;
    }
    json_decref (a);
    return outcome;
}

static notify_outcome_t
s_sms (notify_channel_t *self, const notify_msg_t *msg, char *err, size_t errlen)
{
    if (!msg->phone || !*msg->phone) {
        snprintf (err, errlen, "no phone number for this recipient");
        return NOTIFY_REFUSED;
    }
    json_t *body = json_object ();
    s_set_str (body, "phone", msg->phone);
    s_set_str (body, "template_code", msg->template_name);
    json_object_set_new (body, "params",
                         msg->params ? json_incref ((json_t *) msg->params) : json_object ());
    s_set_str (body, "text", msg->text);
    s_set_str (body, "out_id", msg->key);
    struct curl_slist *h = NULL;
    char auth[512];
    if (self->cfg->sms_token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", self->cfg->sms_token);
        h = curl_slist_append (h, auth);
        explicit_bzero (auth, sizeof auth);
    }
    return s_send_json (self, self->cfg->sms_url, body, h, s_sms_check, err, errlen);
}

//  WeChat errcodes that say "not now" rather than "never": -1 system
//  busy; 40001, 40014, 42001 the access token is invalid or expired (the
//  operator's to renew, not the recipient's fault); 45009 the API's
//  daily quota is spent.
static bool
s_wechat_transient (json_int_t code)
{
    return code == -1 || code == 40001 || code == 40014 || code == 42001 || code == 45009;
}

//  A WeChat-style answer: errcode 0 sent, a transient one retried,
//  anything else (an unknown openid, a bad template) refused.
static notify_outcome_t
s_wechat_check (const char *answer, char *err, size_t errlen)
{
    json_t *a = json_loads (answer, 0, NULL);
    json_t *code = json_object_get (a, "errcode");
    notify_outcome_t outcome = NOTIFY_RETRY;
    if (!json_is_integer (code))
        snprintf (err, errlen, "the answer has no errcode");
    else if (json_integer_value (code) == 0)
        outcome = NOTIFY_SENT;
    else {
        snprintf (err, errlen, "errcode %lld", (long long) json_integer_value (code));
        outcome = s_wechat_transient (json_integer_value (code)) ? NOTIFY_RETRY : NOTIFY_REFUSED;
    }
    json_decref (a);
    return outcome;
}

static notify_outcome_t
s_wechat (notify_channel_t *self, const notify_msg_t *msg, char *err, size_t errlen)
{
    if (!msg->openid || !*msg->openid) {
        snprintf (err, errlen, "no WeChat openid for this recipient");
        return NOTIFY_REFUSED;
    }
    json_t *data = json_object ();
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *) msg->params, name, value)
    {
        if (json_is_string (value))
            json_object_set_new (data, name, json_pack ("{s:O}", "value", value));
    }
    json_object_set_new (data, "first",
                         json_pack ("{s:s}", "value", msg->subject ? msg->subject : ""));
    json_object_set_new (data, "remark", json_pack ("{s:s}", "value", msg->text ? msg->text : ""));
    json_t *body = json_pack ("{s:s, s:s, s:o}", "touser", msg->openid, "template_id",
                              msg->template_name, "data", data);
    if (msg->link)
        s_set_str (body, "url", msg->link);
    char *esc =
        self->cfg->wechat_token ? curl_easy_escape (self->curl, self->cfg->wechat_token, 0) : NULL;
    size_t n = strlen (self->cfg->wechat_url) + (esc ? strlen (esc) : 0) + 32;
    char *url = malloc (n);
    assert (url);
    snprintf (url, n, "%s%saccess_token=%s", self->cfg->wechat_url,
              strchr (self->cfg->wechat_url, '?') ? "&" : "?", esc ? esc : "");
    curl_free (esc);
    notify_outcome_t outcome = s_send_json (self, url, body, NULL, s_wechat_check, err, errlen);
    explicit_bzero (url, strlen (url));
    free (url);
    return outcome;
}

notify_outcome_t
notify_channel_send (notify_channel_t *self, const notify_msg_t *msg, char *err, size_t errlen)
{
    if (errlen)
        err[0] = 0;
    switch (self->kind) {
        case S_LOG:
            return s_log (msg);
        case S_WEBHOOK:
            return s_webhook (self, msg, err, errlen);
        case S_SMS:
            return s_sms (self, msg, err, errlen);
        case S_EMAIL:
            return notify_channel_email (self->curl, self->cfg, msg, err, errlen);
        case S_WECHAT:
            return s_wechat (self, msg, err, errlen);
    }
    return NOTIFY_REFUSED;
}
