/*  intake_media: GET /media/{sha256} and /media/{sha256}/thumb, the
    residents' photos as intake stored them (re-encoded JPEG, no
    metadata). Who may see one: docs/photos.md; anyone else, and a name
    that is not a photo, gets the same 404. And the keyed internal paths
    by which routing's workbench stores and shows staff photos.  */
#include "intake.h"
#include "gz_auth.h"
#include "gz_log.h"

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

//  ---------------------------------------------------------------- staff, keyed

//  The photos routing's workbench stores and shows (docs/photos.md,
//  "Staff photos"). Keyed like /internal/v1/contacts/ (the contact key):
//  without it, with a wrong one, or with no key configured, every path
//  is the same 404. These run on gz_http's workers (blocking routes):
//  re-encoding a photo takes a while, never on an HTTP thread.

//  POST /internal/v1/photos: one file (field "photo"), checked and
//  re-encoded as the QR page's are, stored linked to no request yet.
static void
s_put (intake_t *ctx, gz_http_req_t *req)
{
    size_t len = 0;
    const unsigned char *data =
        gz_http_file_count (req) == 1 ? gz_http_file_data (req, 0, &len) : NULL;
    if (gz_http_too_large (req)) {
        gz_http_reply_json (req, 413,
                            json_pack ("{s:{s:s,s:s}}", "error", "code", "too_large", "message",
                                       intake_photo_message (INTAKE_PHOTO_TOO_LARGE)));
        return;
    }
    if (!data || len == 0) {
        gz_http_reply_error (req, 400, "bad_request", "one file in field photo");
        return;
    }
    intake_photo_t ph = {0};
    intake_photo_error_t e = intake_photo_process (data, len, &ctx->cfg->photo, &ph);
    if (e != INTAKE_PHOTO_OK) {
        gz_info ("intake", "msg=\"staff photo refused\" reason=%d bytes=%zu", (int) e, len);
        gz_http_reply_json (req, 422,
                            json_pack ("{s:{s:s,s:s}}", "error", "code", "not_accepted", "message",
                                       intake_photo_message (e)));
        return;
    }
    if (intake_store_photo_put (ctx, &ph))
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else
        gz_http_reply_json (req, 201, json_pack ("{s:s}", "sha256", ph.sha256));
    intake_photo_clear (&ph);
}

//  GET /internal/v1/photos/{sha256}[/thumb]: any stored photo.
static void
s_get (intake_t *ctx, gz_http_req_t *req, const char *rest)
{
    size_t n = strspn (rest, "0123456789abcdef");
    bool thumb = n == 64 && strcmp (rest + 64, "/thumb") == 0;
    if (n != 64 || (rest[64] && !thumb)) {
        s_not_found (req);
        return;
    }
    char sha[65];
    memcpy (sha, rest, 64);
    sha[64] = 0;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = intake_store_photo_staff_get (ctx, sha, thumb, &bytes, &len);
    if (rc < 0)
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
    else if (rc > 0)
        s_not_found (req);
    else {
        gz_http_set_header (req, "X-Content-Type-Options", "nosniff");
        gz_http_reply (req, 200, "image/jpeg", (const char *) bytes, len);
    }
    free (bytes);
}

//  GET /internal/v1/requests/{id}/photos: {"filing":[sha…],"after":[sha…]}.
static void
s_list (intake_t *ctx, gz_http_req_t *req, const char *rest)
{
    size_t n = strspn (rest, "0123456789");
    if (n == 0 || n > 18 || strcmp (rest + n, "/photos") != 0) {
        s_not_found (req);
        return;
    }
    char id[20], sha[16][65];
    bool pub[16];
    snprintf (id, sizeof id, "%.*s", (int) n, rest);
    int nf = intake_store_photo_list (ctx, id, "filing", sha, pub, INTAKE_PHOTO_MAX_COUNT);
    int na = nf < 0 ? -1
                    : intake_store_photo_list (ctx, id, "after", sha + nf, pub + nf,
                                               16 - INTAKE_PHOTO_MAX_COUNT);
    if (na < 0) {
        gz_http_reply_error (req, 503, "unavailable", "database unavailable; retry");
        return;
    }
    json_t *filing = json_array (), *after = json_array ();
    for (int i = 0; i < nf + na; i++)
        json_array_append_new (i < nf ? filing : after, json_string (sha[i]));
    gz_http_reply_json (req, 200, json_pack ("{s:o,s:o}", "filing", filing, "after", after));
}

void
intake_media_internal (intake_t *ctx, gz_http_req_t *req, const char *rest)
{
    const char *key = ctx->cfg->contact_key;
    const char *given = gz_http_bearer (req);
    const char *method = gz_http_method (req);
    bool get = strcmp (method, "GET") == 0;
    if (!key || !given || !gz_auth_secret_equal (given, key))
        s_not_found (req);
    else if (strcmp (rest, "photos") == 0 && strcmp (method, "POST") == 0)
        s_put (ctx, req);
    else if (strncmp (rest, "photos/", 7) == 0 && get)
        s_get (ctx, req, rest + 7);
    else if (strncmp (rest, "requests/", 9) == 0 && get)
        s_list (ctx, req, rest + 9);
    else
        s_not_found (req);
}
