/*  gz_fetch: keyed requests to a peer's internal paths (gz_fetch.h).  */
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

//  One keyed request to a peer: a GET, or with field a multipart POST of
//  data as that file field; the answer's bytes go to write (arg). The
//  HTTP status, or -1 (err says why). curl: the caller's handle, reset
//  here, or NULL for one of its own.
static long
s_perform (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
           const char *field, const void *data, size_t len, curl_write_callback write, void *arg,
           char *err, size_t errlen)
{
    CURL *own = curl ? NULL : curl_easy_init ();
    CURL *c = curl ? curl : own;
    if (!c) {
        snprintf (err, errlen, "%s: no curl handle", peer);
        return -1;
    }
    char auth[300];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", key ? key : "");
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_reset (c);
    curl_mime *mime = NULL;
    if (field) {
        mime = curl_mime_init (c);
        curl_mimepart *part = curl_mime_addpart (mime);
        curl_mime_name (part, field);
        curl_mime_filename (part, "upload");
        curl_mime_data (part, data, len);
        curl_easy_setopt (c, CURLOPT_MIMEPOST, mime);
    }
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, arg);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform (c);
    long status = 0;
    curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_mime_free (mime);
    explicit_bzero (auth, sizeof auth);
    if (own)
        curl_easy_cleanup (own);
    if (rc != CURLE_OK || status <= 0) {
        snprintf (err, errlen, "%s: %s", peer, curl_easy_strerror (rc));
        return -1;
    }
    return status;
}

int
gz_fetch_json (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
               json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    s_body_t body = {.len = 0};
    body.buf[0] = 0;
    long status =
        s_perform (curl, peer, url, key, timeout_ms, NULL, NULL, 0, s_collect, &body, err, errlen);
    int result = -1;
    if (status < 0)
        ;
    else if (status == 404)
        result = 1;
    else if (status != 200)
        snprintf (err, errlen, "%s: HTTP %ld", peer, status);
    else if ((*out = json_loads (body.buf, 0, NULL)) != NULL)
        result = 0;
    else
        snprintf (err, errlen, "%s: not JSON", peer);
    explicit_bzero (body.buf, sizeof body.buf);
    return result;
}

//  ---------------------------------------------------------------- a file up, bytes down

int
gz_fetch_post_file (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
                    const char *field, const void *data, size_t len, json_t **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    s_body_t body = {.len = 0};
    body.buf[0] = 0;
    long status = s_perform (curl, peer, url, key, timeout_ms, field, data, len, s_collect, &body,
                             err, errlen);
    if (status < 0)
        return -1;
    *out = json_loads (body.buf, 0, NULL);
    return (int) status;
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
    s_bytes_t body = {NULL, 0, max};
    long status = s_perform (curl, peer, url, key, timeout_ms, NULL, NULL, 0, s_collect_bytes,
                             &body, err, errlen);
    int result = -1;
    if (status < 0)
        ;
    else if (status == 404)
        result = 1;
    else if (status != 200)
        snprintf (err, errlen, "%s: HTTP %ld", peer, status);
    else if (!body.data)
        snprintf (err, errlen, "%s: empty answer", peer);
    else {
        *bytes_p = body.data;
        *len_p = body.len;
        return 0;
    }
    free (body.data);
    return result;
}
