/*  gz_testhttp: a blocking HTTP client for tests. See gz_testhttp.h.  */
#include "gz_testhttp.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t
s_write (char *data, size_t size, size_t n, void *arg)
{
    gz_testhttp_t *out = arg;
    size_t add = size * n;
    out->body = realloc (out->body, out->len + add + 1);
    memcpy (out->body + out->len, data, add);
    out->len += add;
    out->body[out->len] = 0;
    return add;
}

static size_t
s_header (char *data, size_t size, size_t n, void *arg)
{
    gz_testhttp_t *out = arg;
    size_t len = size * n;
    const char *names[] = {"Retry-After:", "Location:"};
    char **slots[] = {&out->retry_after, &out->location};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen (names[i]);
        if (len > k && strncasecmp (data, names[i], k) == 0) {
            const char *v = data + k;
            while (*v == ' ')
                v++;
            size_t vl = len - (size_t) (v - data);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                vl--;
            free (*slots[i]);
            *slots[i] = strndup (v, vl);
        }
    }
    return len;
}

int
gz_testhttp (const char *method, const char *url, const char *body, size_t len,
             const char *content_type, const char *const *headers, gz_testhttp_t *out)
{
    memset (out, 0, sizeof *out);
    out->body = calloc (1, 1);
    CURL *c = curl_easy_init ();
    if (!c)
        return -1;
    struct curl_slist *h = NULL;
    if (body) {
        char ct[256];
        snprintf (ct, sizeof ct, "Content-Type: %s",
                  content_type ? content_type : "application/x-www-form-urlencoded");
        h = curl_slist_append (h, ct);
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE, (long) len);
    }
    h = curl_slist_append (h, "Expect:");
    for (const char *const *p = headers; p && *p; p++)
        h = curl_slist_append (h, *p);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform (c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo (c, CURLINFO_CONTENT_TYPE, &ct);
        out->content_type = ct ? strdup (ct) : NULL;
    }
    curl_slist_free_all (h);
    curl_easy_cleanup (c);
    return rc == CURLE_OK ? 0 : -1;
}

int
gz_testhttp_get (const char *url, gz_testhttp_t *out)
{
    return gz_testhttp ("GET", url, NULL, 0, NULL, NULL, out);
}

void
gz_testhttp_free (gz_testhttp_t *out)
{
    free (out->body);
    free (out->content_type);
    free (out->retry_after);
    free (out->location);
    memset (out, 0, sizeof *out);
}
