/*  intake_media: GET /media/{sha256} and /media/{sha256}/thumb, the
    residents' photos as intake stored them (re-encoded JPEG, no
    metadata). Who may see one: docs/photos.md; anyone else, and a name
    that is not a photo, gets the same 404.  */
#include "intake.h"

#include <stdio.h>
#include <string.h>

static void
s_not_found (gz_http_req_t *req)
{
    gz_http_reply_error (req, 404, "not_found", "no such photo");
}

void
intake_media (intake_t *ctx, gz_http_req_t *req, const char *rest)
{
    const char *method = gz_http_method (req);
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0) {
        gz_http_set_header (req, "Allow", "GET, HEAD");
        gz_http_reply_error (req, 405, "method_not_allowed", "GET only");
        return;
    }
    size_t n = strspn (rest, "0123456789abcdef");
    bool thumb = n == 64 && strcmp (rest + 64, "/thumb") == 0;
    if (n != 64 || (rest[64] && !thumb)) {
        s_not_found (req);
        return;
    }
    char sha[65];
    memcpy (sha, rest, 64);
    sha[64] = 0;
    const char *secret = gz_http_query (req, "t");
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc =
        intake_store_photo_get (ctx, sha, thumb, secret && *secret ? secret : NULL, &bytes, &len);
    if (rc < 0) {
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        return;
    }
    if (rc > 0) {
        s_not_found (req);
        return;
    }
    //  A name is its content's hash: what it names never changes. Private:
    //  most photos are seen through a secret, and shared caches must not
    //  keep those.
    gz_http_set_header (req, "Cache-Control", "private, max-age=31536000, immutable");
    gz_http_set_header (req, "X-Content-Type-Options", "nosniff");
    gz_http_set_header (req, "Content-Security-Policy", "default-src 'none'; sandbox");
    gz_http_set_header (req, "Referrer-Policy", "no-referrer");
    gz_http_reply (req, 200, "image/jpeg", (const char *) bytes, len);
    free (bytes);
}
