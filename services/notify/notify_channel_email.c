/*  notify_channel_email: a notification as an e-mail over SMTP (libcurl).

    The message is built here, whole, before libcurl uploads it:

      Date: Thu, 03 Dec 2026 13:00:00 +0000
      From: =?UTF-8?B?...?= <noreply@example.org>   (or the bare address)
      To: <the recipient>
      Subject: =?UTF-8?B?...?=                       (RFC 2047, folded)
      Message-ID: <32 hex digits of the key's SHA-256@gongzhi>
      MIME-Version: 1.0
      Content-Type: text/plain; charset=UTF-8
      Content-Transfer-Encoding: base64

      <the text in base64, lines of 76>

    The Message-ID is the same for every attempt of one delivery, so a
    receiver that keeps ids drops a repeat; hashing the key keeps it short
    and free of characters an id may not hold, whatever the key. The
    header lines stay within 76 characters (RFC 2047's limit for lines
    that hold encoded-words). See docs/notify-channels.md.  */
#include "notify_channel_email.h"

#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Bytes of text per encoded-word: 39 bytes are 52 characters of base64,
//  64 with "=?UTF-8?B?" and "?=", so "Subject: " and a word fit in 76.
#define S_WORD_BYTES 39

//  Base64 of data[0..len) into a new string.
static char *
s_base64 (const unsigned char *data, size_t len)
{
    char *out = malloc (4 * ((len + 2) / 3) + 1);
    assert (out);
    EVP_EncodeBlock ((unsigned char *) out, data, (int) len);
    return out;
}

char *
notify_mime_words (const char *utf8)
{
    size_t len = strlen (utf8), at = 0;
    size_t cap = len * 2 + 64, used = 0;
    char *out = malloc (cap);
    assert (out);
    out[0] = 0;
    while (at < len) {
        size_t most = len - at < S_WORD_BYTES ? len - at : S_WORD_BYTES;
        size_t take = most;
        //  Cut only before a UTF-8 lead byte.
        while (take > 0 && at + take < len && ((unsigned char) utf8[at + take] & 0xC0) == 0x80)
            take--;
        if (take == 0)
            take = most; //  not UTF-8: cut anyway
        char *b64 = s_base64 ((const unsigned char *) utf8 + at, take);
        size_t need = used + strlen (b64) + 16;
        if (need > cap) {
            cap = need * 2;
            out = realloc (out, cap);
            assert (out);
        }
        used += (size_t) sprintf (out + used, "%s=?UTF-8?B?%s?=", used ? "\r\n " : "", b64);
        free (b64);
        at += take;
    }
    return out;
}

//  True when text is printable ASCII that may stand in a quoted string.
static bool
s_plain (const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p > 0x7E || *p == '"' || *p == '\\')
            return false;
    return true;
}

//  GZ_NOTIFY_SMTP_FROM is "addr@host" or "Name <addr@host>": the envelope
//  address (into addr) and the From header's value (returned, caller
//  frees; a non-ASCII name as encoded-words). NULL when malformed.
static char *
s_from (const char *from, char *addr, size_t size)
{
    const char *lt = strrchr (from, '<');
    const char *gt = lt ? strchr (lt, '>') : NULL;
    if (!lt || !gt) {
        if (strpbrk (from, "<>\r\n \t") || strlen (from) >= size)
            return NULL;
        snprintf (addr, size, "%s", from);
        return strdup (from);
    }
    size_t alen = (size_t) (gt - lt - 1);
    if (alen == 0 || alen >= size || strpbrk (from, "\r\n"))
        return NULL;
    memcpy (addr, lt + 1, alen);
    addr[alen] = 0;
    //  The display name: what precedes '<', trimmed, unquoted.
    const char *a = from, *b = lt;
    while (a < b && (*a == ' ' || *a == '"'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '"'))
        b--;
    char *name = strndup (a, (size_t) (b - a));
    assert (name);
    char *words = !*name ? NULL : s_plain (name) ? NULL : notify_mime_words (name);
    size_t n = strlen (name) + (words ? strlen (words) : 0) + alen + 16;
    char *out = malloc (n);
    assert (out);
    if (!*name)
        snprintf (out, n, "<%s>", addr);
    else if (words)
        snprintf (out, n, "%s\r\n <%s>", words, addr);
    else
        snprintf (out, n, "\"%s\" <%s>", name, addr);
    free (words);
    free (name);
    return out;
}

//  RFC 5322's date in English whatever the locale.
static void
s_date (char *buf, size_t size)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    snprintf (buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
              months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

//  The Message-ID's left part: the key's SHA-256, its first 128 bits in
//  hex (unique enough, and the header line stays short).
static void
s_message_id (const char *key, char id[33])
{
    unsigned char md[EVP_MAX_MD_SIZE] = {0};
    unsigned int mdlen = 0;
    EVP_Digest (key, strlen (key), md, &mdlen, EVP_sha256 (), NULL);
    for (unsigned int i = 0; i < 16; i++)
        snprintf (id + 2 * i, 3, "%02x", md[i]);
    id[32] = 0;
}

//  The whole message (see the top of this file). Caller frees.
static char *
s_mime (const char *from_header, const notify_msg_t *msg)
{
    char date[64], id[33];
    s_date (date, sizeof date);
    s_message_id (msg->key ? msg->key : "", id);
    char *subject = notify_mime_words (msg->subject && *msg->subject ? msg->subject : "共治通知");
    const char *text = msg->text ? msg->text : "";
    char *b64 = s_base64 ((const unsigned char *) text, strlen (text));
    size_t blen = strlen (b64);
    size_t cap = strlen (subject) + blen + blen / 76 * 2 + strlen (from_header) +
                 strlen (msg->email) + sizeof id + 512;
    char *out = malloc (cap);
    assert (out);
    size_t n = (size_t) snprintf (out, cap,
                                  "Date: %s\r\nFrom: %s\r\nTo: <%s>\r\nSubject: %s\r\n"
                                  "Message-ID: <%s@gongzhi>\r\nMIME-Version: 1.0\r\n"
                                  "Content-Type: text/plain; charset=UTF-8\r\n"
                                  "Content-Transfer-Encoding: base64\r\n\r\n",
                                  date, from_header, msg->email, subject, id);
    for (size_t at = 0; at < blen; at += 76)
        n += (size_t) snprintf (out + n, cap - n, "%.76s\r\n", b64 + at);
    free (subject);
    free (b64);
    return out;
}

typedef struct {
    const char *data;
    size_t len, at;
} s_upload_t;

static size_t
s_read (char *out, size_t size, size_t n, void *arg)
{
    s_upload_t *u = arg;
    size_t room = size * n, left = u->len - u->at;
    size_t take = left < room ? left : room;
    memcpy (out, u->data + u->at, take);
    u->at += take;
    return take;
}

//  An address we can put in RCPT TO and To: one line, no angle brackets
//  or spaces, an '@' inside, at most 254 characters (RFC 5321).
static bool
s_address_ok (const char *email)
{
    size_t len = email ? strlen (email) : 0;
    const char *at = email ? strchr (email, '@') : NULL;
    return len > 0 && len <= 254 && at && at != email && at[1] && !strpbrk (email, "<>\r\n \t,;");
}

notify_outcome_t
notify_channel_email (CURL *curl, const notify_channels_config_t *cfg, const notify_msg_t *msg,
                      char *err, size_t errlen)
{
    if (!s_address_ok (msg->email)) {
        snprintf (err, errlen, "no e-mail address for this recipient");
        return NOTIFY_REFUSED;
    }
    char from_addr[256], to[260];
    char *from_header = s_from (cfg->smtp_from, from_addr, sizeof from_addr);
    if (!from_header) {
        //  A configuration mistake: refusing would drop every e-mail.
        snprintf (err, errlen, "GZ_NOTIFY_SMTP_FROM is not an address");
        return NOTIFY_RETRY;
    }
    char *mime = s_mime (from_header, msg);
    free (from_header);
    s_upload_t up = {mime, strlen (mime), 0};
    char envelope_from[260];
    snprintf (envelope_from, sizeof envelope_from, "<%s>", from_addr);
    snprintf (to, sizeof to, "<%s>", msg->email);
    struct curl_slist *rcpt = curl_slist_append (NULL, to);
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, cfg->smtp_url);
    curl_easy_setopt (curl, CURLOPT_MAIL_FROM, envelope_from);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_read);
    curl_easy_setopt (curl, CURLOPT_READDATA, &up);
    curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) up.len);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) cfg->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (rcpt);
    explicit_bzero (to, sizeof to);
    explicit_bzero (mime, strlen (mime));
    free (mime);
    if (rc == CURLE_OK)
        return NOTIFY_SENT;
    snprintf (err, errlen, "SMTP %ld: %s", status, curl_easy_strerror (rc));
    //  5xx from the server (a refused recipient or message): for good;
    //  4xx (try later), a timeout, nobody there, and refused credentials
    //  (the operator's to fix, not the recipient's): again.
    if (rc == CURLE_LOGIN_DENIED)
        return NOTIFY_RETRY;
    return status >= 500 && status < 600 ? NOTIFY_REFUSED : NOTIFY_RETRY;
}
