/*  gz_http_form: application/x-www-form-urlencoded bodies, decoded once
    per request on first use. See gz_http.h.  */
#include "gz_http_private.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  ---- forms

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Decode s[0..len): '+' is a space, %XX a byte. NULL when an escape is
//  malformed or decodes to NUL (which would silently cut the string).
static char *
s_form_decode (const char *s, size_t len)
{
    char *out = malloc (len + 1);
    assert (out);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+')
            out[n++] = ' ';
        else if (s[i] == '%') {
            int hi = i + 2 < len ? s_hex (s[i + 1]) : -1;
            int lo = hi >= 0 ? s_hex (s[i + 2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0)) {
                free (out);
                return NULL;
            }
            out[n++] = (char) (hi * 16 + lo);
            i += 2;
        }
        else
            out[n++] = s[i];
    }
    out[n] = 0;
    return out;
}

//  True for a byte a form encoder may leave as is. Besides what browsers
//  send, hand-made bodies carry raw UTF-8 and URL punctuation; what is
//  never in a query string (controls, space, quotes, braces...) means the
//  body is something else, e.g. JSON.
static bool
s_form_byte_ok (unsigned char c)
{
    if (c <= 0x20 || c == 0x7F)
        return false;
    return !strchr ("\"<>\\^`{|}", c);
}

static bool
s_form_content_type_ok (gz_http_req_t *req)
{
    const char *type = gz_http_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type)
        return true;
    static const char form[] = "application/x-www-form-urlencoded";
    size_t len = strlen (form);
    return strncasecmp (type, form, len) == 0 &&
           (type[len] == 0 || type[len] == ';' || type[len] == ' ' || type[len] == '\t');
}

void
gz_http_form_free (char ***names_p, char ***values_p, size_t count)
{
    assert (names_p && values_p);
    for (size_t i = 0; i < count; i++) {
        free ((*names_p)[i]);
        free ((*values_p)[i]);
    }
    free (*names_p);
    free (*values_p);
    *names_p = *values_p = NULL;
}

int
gz_http_form_decode (const char *body, size_t len, char ***names_p, char ***values_p,
                     size_t *count_p)
{
    assert (names_p && values_p && count_p);
    assert (body || len == 0);
    *names_p = *values_p = NULL;
    *count_p = 0;
    for (size_t i = 0; i < len; i++)
        if (!s_form_byte_ok ((unsigned char) body[i]))
            return -1;
    char **names = NULL, **values = NULL;
    size_t count = 0, cap = 0;
    //  An empty body may come as NULL, and NULL + 0 is undefined.
    const char *p = body;
    const char *end = len ? body + len : body;
    while (p < end) {
        const char *amp = memchr (p, '&', (size_t) (end - p));
        const char *field_end = amp ? amp : end;
        if (field_end > p) { //  empty fields ("a=1&&b=2") are skipped
            const char *eq = memchr (p, '=', (size_t) (field_end - p));
            char *name = eq && eq > p ? s_form_decode (p, (size_t) (eq - p)) : NULL;
            char *value = name ? s_form_decode (eq + 1, (size_t) (field_end - eq - 1)) : NULL;
            if (!name || !value) {
                free (name);
                gz_http_form_free (&names, &values, count);
                return -1;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 8;
                names = realloc (names, cap * sizeof (char *));
                values = realloc (values, cap * sizeof (char *));
                assert (names && values);
            }
            names[count] = name;
            values[count] = value;
            count++;
        }
        //  Stop at the last field rather than step past the end: a
        //  pointer beyond one past the end is undefined even unread.
        if (!amp)
            break;
        p = amp + 1;
    }
    *names_p = names;
    *values_p = values;
    *count_p = count;
    return 0;
}

bool
gz_http_form_parse (gz_http_req_t *req)
{
    assert (req);
    //  A multipart body's fields were parsed as it streamed in.
    if (req->form_state != 0 || req->mp)
        return req->form_state > 0;
    req->form_state = -1;
    if (req->too_large || !s_form_content_type_ok (req))
        return false;
    if (gz_http_form_decode (req->body, req->body_len, &req->form_names, &req->form_values,
                             &req->form_count) != 0)
        return false;
    req->form_state = 1;
    return true;
}

const char *
gz_http_form (gz_http_req_t *req, const char *name)
{
    assert (name);
    if (!gz_http_form_parse (req))
        return NULL;
    for (size_t i = 0; i < req->form_count; i++)
        if (strcmp (req->form_names[i], name) == 0)
            return req->form_values[i];
    return NULL;
}

size_t
gz_http_form_count (gz_http_req_t *req)
{
    return gz_http_form_parse (req) ? req->form_count : 0;
}

const char *
gz_http_form_name (gz_http_req_t *req, size_t i)
{
    gz_http_form_parse (req);
    return i < req->form_count ? req->form_names[i] : NULL;
}

const char *
gz_http_form_value (gz_http_req_t *req, size_t i)
{
    gz_http_form_parse (req);
    return i < req->form_count ? req->form_values[i] : NULL;
}
