/*  gz_testhttp: a blocking HTTP client for tests (libcurl).  */
#ifndef GZ_TESTHTTP_H_INCLUDED
#define GZ_TESTHTTP_H_INCLUDED

#include <stddef.h>

typedef struct {
    long status;
    char *body; //  NUL-terminated, caller frees via gz_testhttp_free
    size_t len;
    char *content_type; //  may be NULL
    char *retry_after;  //  Retry-After header or NULL
    char *location;     //  Location header or NULL
} gz_testhttp_t;

//  Perform method on url with optional body (sent as content_type when
//  given, else application/x-www-form-urlencoded) and extra headers
//  ("Name: value", NULL-terminated list or NULL). Returns 0 on a completed
//  exchange (any status), -1 on a transport failure.
int gz_testhttp (const char *method, const char *url, const char *body, size_t len,
                 const char *content_type, const char *const *headers, gz_testhttp_t *out);

//  GET shorthand.
int gz_testhttp_get (const char *url, gz_testhttp_t *out);

void gz_testhttp_free (gz_testhttp_t *out);

#endif
