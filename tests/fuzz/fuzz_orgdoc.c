/*  fuzz_orgdoc: libFuzzer harness for gz_orgdoc_new, the validation of an
    org directory document (`gzctl org import FILE`), on whatever JSON
    jansson decodes from arbitrary bytes (inputs it refuses are skipped).
    NUL inside strings is allowed here so the validator's own check of it
    is reached.

    Properties: a refused document comes with at most 101 error lines
    (100, then a count), printable (UTF-8, no control characters but the
    newlines); an accepted one has counts that add up.  */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_orgdoc.h"
#include "gz_text.h"

static void
s_require (int ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_orgdoc: property violated: %s\n", what);
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_error_t error;
    json_t *root = json_loadb ((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!root)
        return 0;
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_new (root, &errors);
    if (doc) {
        s_require (errors == NULL, "no errors for a valid document");
        gz_orgstats_t stats;
        gz_orgdoc_stats (doc, &stats);
        s_require (stats.units[GZ_ORG_DISTRICT] >= 1, "a directory has a district");
        gz_orgdoc_destroy (&doc);
        s_require (doc == NULL, "gz_orgdoc_destroy nulls its argument");
    }
    else {
        s_require (errors && *errors, "a refused document says why");
        size_t len = strlen (errors);
        s_require (errors[len - 1] == '\n', "errors are whole lines");
        size_t lines = 0;
        for (const char *p = errors; *p; p++) {
            if (*p == '\n')
                lines++;
            else
                s_require ((unsigned char) *p >= 0x20 && *p != 0x7f, "errors are printable");
        }
        s_require (lines <= 101, "at most 100 errors and a count");
        s_require (gz_utf8_valid (errors, len), "errors are UTF-8");
        free (errors);
    }
    json_decref (root);
    return 0;
}
