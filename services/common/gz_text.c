/*  gz_text: text checks and transforms shared by every service. See
    gz_text.h.

    Everything here is pure (no state, no allocation except the returned
    strings), so any thread may call it.  */
#include "gz_text.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool
gz_utf8_valid (const char *s, size_t len)
{
    if (len > 0 && !s)
        return false;
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            //  NUL and C0 controls other than tab, LF, CR; DEL is allowed.
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                return false;
            i++;
            continue;
        }
        //  Lead byte: sequence length and the allowed range of the second
        //  byte, which is where overlongs (E0, F0), surrogates (ED) and
        //  code points above U+10FFFF (F4) are ruled out (RFC 3629 table).
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        }
        else
            return false; //  continuation byte, C0/C1 overlong lead, F5..FF
        if (len - i < n)
            return false; //  truncated
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        //  U+FFFE and U+FFFF (EF BF BE, EF BF BF): XML 1.0 cannot carry
        //  them, and one stored would break every XML answer that shows it.
        if (c == 0xEF && p[i + 1] == 0xBF && (p[i + 2] == 0xBE || p[i + 2] == 0xBF))
            return false;
        i += n;
    }
    return true;
}

size_t
gz_utf8_chars (const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            count++;
    return count;
}

bool
gz_url_http (const char *url)
{
    return url && (strncmp (url, "http://", 7) == 0 || strncmp (url, "https://", 8) == 0) &&
           url[strncmp (url, "https", 5) == 0 ? 8 : 7] != 0;
}

bool
gz_phone_valid (const char *phone)
{
    if (!phone)
        return false;
    const char *p = phone;
    if (*p == '+')
        p++;
    size_t digits = 0;
    bool after_digit = false; //  a separator may only follow a digit
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            digits++;
            after_digit = true;
        }
        else if ((*p == ' ' || *p == '-') && after_digit)
            after_digit = false;
        else
            return false;
        if (digits > 20)
            return false;
    }
    //  Must end on a digit: "138 " or "138-" is not a number.
    return after_digit && digits >= 5;
}

char *
gz_phone_mask (const char *phone)
{
    //  Only the digits count; formatting characters do not. The number may
    //  be of any length (a stored value is not necessarily a valid phone),
    //  so keep its first digits and a running window of its last four
    //  rather than a prefix of bounded size: the last four shown must be
    //  the number's own last four, never digits from its middle.
    char head[7] = {0}; //  enough for the first 3 after a 4-digit "0086"
    char tail[4] = {0};
    size_t n = 0;
    bool plus = false;
    if (phone) {
        const char *p = phone;
        while (*p == ' ')
            p++;
        plus = *p == '+';
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                continue;
            if (n < sizeof head)
                head[n] = *p;
            memmove (tail, tail + 1, sizeof tail - 1);
            tail[sizeof tail - 1] = *p;
            n++;
        }
    }
    //  A Chinese country code ("+86 138...", "0086138...", "86138...") is
    //  not part of the number people recognise, so it is dropped.
    size_t skip = 0;
    if (n == 13 && strncmp (head, "86", 2) == 0 && (plus || head[2] == '1'))
        skip = 2;
    else if (!plus && n == 15 && strncmp (head, "0086", 4) == 0)
        skip = 4;
    n -= skip;
    //  Keeping 3 + 4 digits of a short number would reveal almost all of
    //  it; at least two digits stay hidden or nothing is shown. From here
    //  on n >= 9, so head and tail are full.
    if (n < 9)
        return strdup ("****");
    char *out = malloc (3 + 4 + 4 + 1);
    assert (out);
    memcpy (out, head + skip, 3);
    memcpy (out + 3, "****", 4);
    memcpy (out + 7, tail, 4);
    out[11] = 0;
    return out;
}

//  Escape the five markup characters; apos is the spelling of '\''.
//  When drop_controls is set, C0 controls and U+FFFE/U+FFFF, which XML 1.0
//  cannot carry at all (even as references), become U+FFFD: an answer
//  stays well-formed whatever was stored.
static char *
s_escape (const char *s, const char *apos, bool drop_controls)
{
    assert (s);
    size_t apos_len = strlen (apos);
    size_t out_len = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        switch (*p) {
            case '&':
                out_len += 5;
                break;
            case '<':
            case '>':
                out_len += 4;
                break;
            case '"':
                out_len += 6;
                break;
            case '\'':
                out_len += apos_len;
                break;
            default:
                if (drop_controls && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                    out_len += 3;
                else
                    out_len += 1;
        }
    }
    char *out = malloc (out_len + 1);
    assert (out);
    char *o = out;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
            case '&':
                rep = "&amp;";
                break;
            case '<':
                rep = "&lt;";
                break;
            case '>':
                rep = "&gt;";
                break;
            case '"':
                rep = "&quot;";
                break;
            case '\'':
                rep = apos;
                break;
            default:
                if (drop_controls && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                    rep = "\xEF\xBF\xBD";
        }
        if (rep) {
            size_t k = strlen (rep);
            memcpy (o, rep, k);
            o += k;
        }
        else if (drop_controls && p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
            //  U+FFFE, U+FFFF (stored before they were refused): U+FFFD,
            //  the same three bytes long.
            memcpy (o, "\xEF\xBF\xBD", 3);
            o += 3;
            p += 2;
        }
        else
            *o++ = (char) *p;
    }
    *o = 0;
    assert ((size_t) (o - out) == out_len);
    return out;
}

char *
gz_html_escape (const char *s)
{
    //  &#39; rather than &apos;: the latter is not in HTML 4.
    return s_escape (s, "&#39;", false);
}

char *
gz_xml_escape (const char *s)
{
    return s_escape (s, "&apos;", true);
}
