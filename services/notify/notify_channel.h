/*  notify_channel: the protocols notify delivers through, each a real
    one (docs/notify-channels.md):

      webhook  POST of JSON, signed: X-Gongzhi-Signature: t=<unix seconds>,
               v1=<hex HMAC-SHA256 of "<t>.<body>"> with the shared secret;
               Idempotency-Key per (event, recipient, channel)
      sms      a generic SMS gateway's JSON API (phone, template code,
               parameters), bearer-authorized
      email    SMTP through libcurl: UTF-8 subject (RFC 2047), base64 body
      wechat   a WeChat-style template message (openid, template, fields)
      log      the message as one log line: the laptop's default

    A channel handle belongs to one thread (a channel worker) and keeps
    its libcurl handle, so connections to the same receiver are reused.
    Sending blocks for at most timeout_ms. The outcome says what to do
    next: SENT; RETRY (the receiver is down, slow, overloaded, or answered
    what is not HTTP or 5xx/408/429); REFUSED (it said no for good: other
    4xx, or the recipient has no address on this channel). Errors name
    the reason, never a phone, an address or a secret.  */
#ifndef NOTIFY_CHANNEL_H_INCLUDED
#define NOTIFY_CHANNEL_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { NOTIFY_SENT = 0, NOTIFY_RETRY, NOTIFY_REFUSED } notify_outcome_t;

typedef struct {
    char *webhook_url, *webhook_secret; //  GZ_NOTIFY_WEBHOOK_URL, GZ_NOTIFY_WEBHOOK_SECRET
    char *sms_url, *sms_token;          //  GZ_NOTIFY_SMS_URL, GZ_NOTIFY_SMS_TOKEN
    char *smtp_url, *smtp_from;         //  GZ_NOTIFY_SMTP_URL (smtp://host:port), _SMTP_FROM
    char *wechat_url, *wechat_token;    //  GZ_NOTIFY_WECHAT_URL, GZ_NOTIFY_WECHAT_TOKEN
    int timeout_ms;                     //  GZ_NOTIFY_TIMEOUT_MS (5000)
} notify_channels_config_t;

//  From GZ_NOTIFY_* (unset or empty: NULL, the channel is off).
void notify_channels_config_from_env (notify_channels_config_t *cfg);
void notify_channels_config_copy (notify_channels_config_t *dst,
                                  const notify_channels_config_t *src);
void notify_channels_config_clear (notify_channels_config_t *cfg);

//  One message to one recipient on one channel. Borrowed.
typedef struct {
    const char *key;           //  Idempotency-Key: stable per (event, recipient, channel)
    const char *event;         //  "routed", ...
    const char *template_name; //  "routed.resident"
    const char *request_id;
    const char *recipient;              //  "staff:HGY-W0001", "resident:123"
    const char *phone, *email, *openid; //  full values or NULL: only for this call
    const char *subject;                //  e-mail subject, WeChat title (may be NULL)
    const char *text;                   //  the rendered UTF-8 body
    const json_t *params;               //  the template's variables (strings)
    const char *link;                   //  the status or answer link, or NULL
} notify_msg_t;

typedef struct _notify_channel_t notify_channel_t;

//  True when the channel is known and configured ("log" always is).
bool notify_channel_configured (const notify_channels_config_t *cfg, const char *name);

//  A handle for one thread; NULL when the channel is unknown or not
//  configured. cfg is borrowed for the handle's life.
notify_channel_t *notify_channel_new (const notify_channels_config_t *cfg, const char *name);
void notify_channel_destroy (notify_channel_t **self_p);

//  Send msg; err (errlen) says why when not SENT.
notify_outcome_t notify_channel_send (notify_channel_t *self, const notify_msg_t *msg, char *err,
                                      size_t errlen);

//  The webhook's signature header value for body at unix time t:
//  "t=<t>,v1=<64 hex>". Caller frees.
char *notify_webhook_signature (const char *secret, int64_t t, const char *body, size_t len);

//  RFC 2047 encoded-words (=?UTF-8?B?...?=, each at most 75 characters,
//  none cutting a UTF-8 character), joined by "\r\n " (folded). Caller
//  frees. For the e-mail subject; exposed for tests.
char *notify_mime_words (const char *utf8);

#endif
