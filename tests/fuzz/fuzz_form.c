/*  fuzz_form: libFuzzer harness for the application/x-www-form-urlencoded
    decoder behind gz_http_form_parse (Open311 POST bodies, the QR page
    form), reached through gz_http_form_decode with no HTTP server.

    Besides crashes, leaks and undefined behaviour it checks what the
    callers rely on: every decoded name is non-empty, and a form that
    decodes, encoded again field by field, decodes to the same fields.  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_http.h"

static void
s_require (int ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_form: property violated: %s\n", what);
        abort ();
    }
}

//  Percent-encode s onto out (which has room for 3 bytes per byte).
static size_t
s_encode (const char *s, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        out[n++] = '%';
        out[n++] = hex[*p >> 4];
        out[n++] = hex[*p & 15];
    }
    return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char **names, **values;
    size_t count;
    if (gz_http_form_decode ((const char *) data, size, &names, &values, &count) != 0) {
        s_require (!names && !values && count == 0, "a refused form returns nothing");
        return 0;
    }
    s_require (count <= size / 2 + 1, "no more fields than the body can hold");
    //  Encode every byte: the result must decode to the very same fields.
    char *again = malloc (3 * size + 2 * count + 1);
    if (!again)
        abort ();
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        s_require (names[i] && values[i], "fields are not NULL");
        s_require (*names[i] != 0, "a name is never empty");
        s_require (strlen (names[i]) + strlen (values[i]) < size, "decoding never grows");
        if (i > 0)
            again[len++] = '&';
        len += s_encode (names[i], again + len);
        again[len++] = '=';
        len += s_encode (values[i], again + len);
    }
    char **names2, **values2;
    size_t count2;
    s_require (gz_http_form_decode (again, len, &names2, &values2, &count2) == 0,
               "an encoded form decodes");
    s_require (count2 == count, "same number of fields after a round trip");
    for (size_t i = 0; i < count; i++)
        s_require (strcmp (names[i], names2[i]) == 0 && strcmp (values[i], values2[i]) == 0,
                   "same fields after a round trip");
    gz_http_form_free (&names2, &values2, count2);
    gz_http_form_free (&names, &values, count);
    s_require (!names && !values, "gz_http_form_free nulls its arguments");
    free (again);
    return 0;
}
