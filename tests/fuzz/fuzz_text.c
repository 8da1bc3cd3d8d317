/*  fuzz_text: libFuzzer harness for gz_text, with each function checked
    against its contract in gz_text.h rather than only for crashes:

    - gz_utf8_valid agrees with a plain decoder written from RFC 3629;
      gz_utf8_chars is never more than the length, and equals the decoded
      count on valid text.
    - gz_phone_valid agrees with a grammar-shaped reference.
    - gz_phone_mask shows at most the first 3 and the last 4 digits of the
      number (after a Chinese country code), never the ones between.
    - gz_html_escape and gz_xml_escape leave no raw < > " ' and every &
      starts an entity; unescaping gives the input back (for XML, when the
      input holds no control character XML cannot carry, which must not
      survive either).  */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_text.h"

static void
s_require (bool ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_text: property violated: %s\n", what);
        abort ();
    }
}

//  Reference UTF-8 check: decode each sequence, then rule out overlongs,
//  surrogates and values above U+10FFFF by the code point. Returns the
//  number of code points, or -1 when invalid.
static long
s_utf8_reference (const unsigned char *s, size_t len)
{
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return -1;
            n = 1;
            cp = c;
        }
        else if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        }
        else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        }
        else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        }
        else
            return -1;
        if (len - i < n)
            return -1;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return -1;
        count++;
        i += n;
    }
    return count;
}

//  Reference phone grammar: ['+'] digits ((' ' | '-') digits)*, 5-20 digits.
static bool
s_phone_reference (const char *s)
{
    const char *p = s;
    if (*p == '+')
        p++;
    size_t digits = 0;
    while (true) {
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9') {
            digits++;
            p++;
        }
        if (*p == 0)
            break;
        if (*p != ' ' && *p != '-')
            return false;
        p++;
    }
    return digits >= 5 && digits <= 20;
}

static void
s_check_mask (const char *phone)
{
    char *masked = gz_phone_mask (phone);
    s_require (masked != NULL, "a mask is returned");
    //  Every digit of the input, as the contract counts them.
    size_t len = strlen (phone);
    char *digits = malloc (len + 1);
    if (!digits)
        abort ();
    size_t n = 0;
    for (const char *p = phone; *p; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    digits[n] = 0;
    const char *lead = phone + strspn (phone, " ");
    bool plus = *lead == '+';
    const char *d = digits;
    if (n == 13 && strncmp (d, "86", 2) == 0 && (plus || d[2] == '1')) {
        d += 2;
        n -= 2;
    }
    else if (!plus && n == 15 && strncmp (d, "0086", 4) == 0) {
        d += 4;
        n -= 4;
    }
    if (n < 9)
        s_require (strcmp (masked, "****") == 0, "a short number is all hidden");
    else {
        s_require (strlen (masked) == 11, "a masked number is 11 characters");
        s_require (memcmp (masked, d, 3) == 0, "the first 3 digits are shown");
        s_require (memcmp (masked + 3, "****", 4) == 0, "the middle is hidden");
        s_require (memcmp (masked + 7, d + n - 4, 4) == 0,
                   "the last 4 digits shown are the number's last 4");
    }
    free (digits);
    free (masked);
}

//  Undo an escape; the entities are the five of gz_text.h plus apos's
//  other spelling. NULL when an '&' starts no known entity.
static char *
s_unescape (const char *s)
{
    static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;"};
    static const char chars[] = "&<>\"''";
    char *out = malloc (strlen (s) + 1);
    if (!out)
        abort ();
    size_t n = 0;
    while (*s) {
        if (*s != '&') {
            out[n++] = *s++;
            continue;
        }
        size_t e = 0;
        while (e < 6 && strncmp (s, ents[e], strlen (ents[e])) != 0)
            e++;
        if (e == 6) {
            free (out);
            return NULL;
        }
        out[n++] = chars[e];
        s += strlen (ents[e]);
    }
    out[n] = 0;
    return out;
}

static void
s_check_escape (const char *s, bool xml)
{
    char *out = xml ? gz_xml_escape (s) : gz_html_escape (s);
    s_require (out != NULL, "an escape is returned");
    s_require (strpbrk (out, "<>\"'") == NULL, "no raw markup characters");
    bool controls = false;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            controls = true;
    if (xml)
        for (const unsigned char *p = (const unsigned char *) out; *p; p++)
            s_require (*p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r',
                       "no control character XML cannot carry");
    char *back = s_unescape (out);
    s_require (back != NULL, "every & starts an entity");
    if (!xml || !controls)
        s_require (strcmp (back, s) == 0, "unescaping gives the input back");
    free (back);
    free (out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *bytes = (const char *) data;
    long reference = s_utf8_reference (data, size);
    bool valid = gz_utf8_valid (bytes, size);
    s_require (valid == (reference >= 0), "gz_utf8_valid agrees with the reference");
    size_t chars = gz_utf8_chars (bytes, size);
    s_require (chars <= size, "no more characters than bytes");
    if (valid)
        s_require (chars == (size_t) reference, "gz_utf8_chars counts code points");

    //  The string functions see the input up to its first NUL.
    char *s = malloc (size + 1);
    if (!s)
        abort ();
    memcpy (s, data, size);
    s[size] = 0;
    s_require (gz_phone_valid (s) == s_phone_reference (s),
               "gz_phone_valid agrees with the reference");
    s_check_mask (s);
    s_check_escape (s, false);
    s_check_escape (s, true);
    free (s);
    return 0;
}
