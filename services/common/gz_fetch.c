/*  gz_fetch: a keyed GET of a peer's internal JSON path (gz_fetch.h).  */
#include "gz_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char buf[16384];
    size_t len;
} s_body_t;

static size_t
s_collect (char *data, size_t size, size_t n, void *arg)
{
    s_body_t *b = arg;
    size_t len = size * n;
    if (len > sizeof b->buf - 1 - b->len)
        return 0; //  too long: the transfer fails
    memcpy (b->buf + b->len, data, len);
    b->len += len;
    b->buf[b->len] = 0;
    return len;
}

int
gz_fetch_json (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
               json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    CURL *own = curl ? NULL : curl_easy_init ();
    CURL *c = curl ? curl : own;
    if (!c) {
        snprintf (err, errlen, "%s: no curl handle", peer);
        return -1;
    }
    char auth[300];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    s_body_t body = {.len = 0};
    body.buf[0] = 0;
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    explicit_bzero (auth, sizeof auth);
    int result = -1;
    if (rc != CURLE_OK)
        snprintf (err, errlen, "%s: %s", peer, curl_easy_strerror (rc));
    else if (status == 404)
        result = 1;
    else if (status != 200)
        snprintf (err, errlen, "%s: HTTP %ld", peer, status);
    else if ((*out = json_loads (body.buf, 0, NULL)) != NULL)
        result = 0;
    else
        snprintf (err, errlen, "%s: not JSON", peer);
    explicit_bzero (body.buf, sizeof body.buf);
    if (own)
        curl_easy_cleanup (own);
    return result;
}

//  ---------------------------------------------------------------- a file up, bytes down

int
gz_fetch_post_file (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
                    const char *field, const void *data, size_t len, json_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    CURL *own = curl ? NULL : curl_easy_init ();
    CURL *c = curl ? curl : own;
    if (!c) {
        snprintf (err, errlen, "%s: no curl handle", peer);
        return -1;
    }
    char auth[300];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    s_body_t body = {.len = 0};
    body.buf[0] = 0;
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_reset (c);
    curl_mime *mime = curl_mime_init (c);
    curl_mimepart *part = curl_mime_addpart (mime);
    curl_mime_name (part, field);
    curl_mime_filename (part, "upload");
    curl_mime_data (part, data, len);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_mime_free (mime);
    explicit_bzero (auth, sizeof auth);
    int result = -1;
    if (rc != CURLE_OK || status <= 0)
        snprintf (err, errlen, "%s: %s", peer, curl_easy_strerror (rc));
    else {
        *out = json_loads (body.buf, 0, NULL);
        result = (int) status;
    }
    if (own)
        curl_easy_cleanup (own);
    return result;
}

typedef struct {
    unsigned char *data;
    size_t len, max;
} s_bytes_t;

static size_t
s_collect_bytes (char *data, size_t size, size_t n, void *arg)
{
    s_bytes_t *b = arg;
    size_t len = size * n;
    if (len > b->max - b->len)
        return 0; //  too long: the transfer fails
    unsigned char *grown = realloc (b->data, b->len + len + 1);
    if (!grown)
        abort ();
    b->data = grown;
    memcpy (b->data + b->len, data, len);
    b->len += len;
    return len;
}

int
gz_fetch_bytes (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
                size_t max, unsigned char **bytes_p, size_t *len_p, char *err, size_t errlen)
{
    *bytes_p = NULL;
    *len_p = 0;
    CURL *own = curl ? NULL : curl_easy_init ();
    CURL *c = curl ? curl : own;
    if (!c) {
        snprintf (err, errlen, "%s: no curl handle", peer);
        return -1;
    }
    char auth[300];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    s_bytes_t body = {NULL, 0, max};
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_collect_bytes);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    explicit_bzero (auth, sizeof auth);
    int result = -1;
    if (rc != CURLE_OK)
        snprintf (err, errlen, "%s: %s", peer, curl_easy_strerror (rc));
    else if (status == 404)
        result = 1;
    else if (status != 200)
        snprintf (err, errlen, "%s: HTTP %ld", peer, status);
    else
        result = 0;
    if (result == 0 && body.data) {
        *bytes_p = body.data;
        *len_p = body.len;
    }
    else {
        free (body.data);
        if (result == 0) {
            snprintf (err, errlen, "%s: empty answer", peer);
            result = -1;
        }
    }
    if (own)
        curl_easy_cleanup (own);
    return result;
}
