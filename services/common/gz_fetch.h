/*  gz_fetch: GET (or POST a file to) another service's keyed internal path
    (intake's /internal/v1/contacts/{id}, matching's /internal/v1/offers/
    {id}) with libcurl. Written once for every service that asks a peer
    for a contact: notify's channel workers and routing's workbench pages.
    Safe from any thread; a handle is used by one thread at a time. The
    answer may hold personal data: the buffers are wiped and nothing is
    logged here.  */
#ifndef GZ_FETCH_H_INCLUDED
#define GZ_FETCH_H_INCLUDED

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

//  GET url with "Authorization: Bearer key", within timeout_ms. curl: a
//  handle to reuse (reset here), or NULL for a handle of this call only.
//  Returns 0 with *out the 200 answer's JSON (the caller's), 1 when the
//  peer answered 404 (nothing there, or the key is not the peer's), -1
//  on anything else (unreachable, timeout, another status, not JSON, an
//  answer over 16 KiB) with a sentence naming peer in err.
int gz_fetch_json (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
                   json_t **out, char *err, size_t errlen);

//  POST data[0..len) as the one file of a multipart/form-data body (field
//  name field, file name "upload") to url, keyed as gz_fetch_json.
//  Returns the peer's HTTP status (> 0) with *out its answer's JSON when
//  it was JSON (the caller's; else NULL), or -1 when there was no answer
//  (unreachable, timeout, over 16 KiB) with a sentence in err.
int gz_fetch_post_file (CURL *curl, const char *peer, const char *url, const char *key,
                        long timeout_ms, const char *field, const void *data, size_t len,
                        json_t **out, char *err, size_t errlen);

//  GET url keyed as gz_fetch_json, the answer's bytes whatever they are
//  (a photo): 0 with *bytes_p (the caller's, freed with free) and
//  *len_p, 1 on 404, -1 on anything else (over max bytes too) with a
//  sentence in err.
int gz_fetch_bytes (CURL *curl, const char *peer, const char *url, const char *key, long timeout_ms,
                    size_t max, unsigned char **bytes_p, size_t *len_p, char *err, size_t errlen);

#endif
