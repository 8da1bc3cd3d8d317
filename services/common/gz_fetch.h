/*  gz_fetch: GET another service's keyed internal JSON path
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

#endif
