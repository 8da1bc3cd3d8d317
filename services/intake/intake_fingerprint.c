/*  intake_fingerprint: the canonical form of a submission, the text whose
    SHA-256 is the request's fingerprint. A request filed with an
    idempotency key keeps its fingerprint; a later submission with the
    same key (and client) is the same request only if its fingerprint is
    the same. Otherwise the key was reused for a different request, and
    intake refuses it (Open311 422, the bus IDEMPOTENCY_MISMATCH, the QR
    page a message) instead of answering with the first request's id and
    silently dropping the second content.

    The form covers what the client sent and intake keeps: the channel,
    service_code, description (trimmed, as stored), lat and long as the
    client spelled them, address_id, address_string, phone, name, email,
    media_url, meeting_id, external_id, the attributes (by code, the
    last of a repeated code winning, as stored) and the reporter_id. Not what the server sets
    (time, id, secret, the building found from lat/long, the address
    taken from the building), so a retry after a directory reload is
    still the same request; not the client id and key, which are what the
    fingerprint is looked up by. An empty field counts as absent, as
    intake stores both as NULL.

    Each field is written as its name, then "-" when absent or its length
    in bytes, ':' and the bytes, then a newline. The lengths make the
    form unambiguous: no two different submissions share a form, whatever
    their text holds. The first line names the version of the form, so a
    future change cannot be mistaken for a different request by a later
    reader of the same rows (change the version with the form).

    The reporter_id came later (migration 007) and is written last, and
    only when given: a submission without one has the very form it had
    before, so the fingerprints stored for it stay valid and the version
    stays. The form stays unambiguous: the attributes line counts its
    entries, so what follows them is known to be the reporter.

    Photos came later still (the QR page's camera, the bus's photos):
    written after everything else, and only when there are some, as a
    count line, one field per photo (the SHA-256 of the photo as stored:
    re-encoded without metadata, so the same upload gives the same name)
    and whether they may be public. A retry with other photos is another
    request, not a duplicate.

    Pure logic, unit-tested in tests/unit/test_intake_fingerprint.c; the
    hash itself is computed by PostgreSQL in intake_store.c.  */
#include "intake.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VERSION "gongzhi-submission-v1\n"

typedef struct {
    const char *code, *value;
    size_t order; //  position as sent: the later of one code wins
} s_attr_t;

//  Append "name -\n" or "name <len>:<bytes>\n"; value of length len.
static void
s_field_n (zchunk_t *out, const char *name, const char *value, size_t len)
{
    char head[96];
    int n = value && len ? snprintf (head, sizeof head, "%s %zu:", name, len)
                         : snprintf (head, sizeof head, "%s -\n", name);
    zchunk_extend (out, head, (size_t) n);
    if (value && len) {
        zchunk_extend (out, value, len);
        zchunk_extend (out, "\n", 1);
    }
}

static void
s_field (zchunk_t *out, const char *name, const char *value)
{
    s_field_n (out, name, value, value ? strlen (value) : 0);
}

//  Leading and trailing ASCII whitespace dropped, as intake_validate.c
//  stores a description: *len_p bytes from the returned pointer.
static const char *
s_trimmed (const char *s, size_t *len_p)
{
    *len_p = 0;
    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    *len_p = n;
    return s;
}

//  By code, then the later first, so the first of each code is the one
//  that counts.
static int
s_attr_cmp (const void *a, const void *b)
{
    const s_attr_t *x = a, *y = b;
    int c = strcmp (x->code, y->code);
    if (c)
        return c;
    return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

static void
s_attributes (zchunk_t *out, const intake_raw_t *raw)
{
    s_attr_t *attrs = calloc (raw->nattrs + 1, sizeof *attrs);
    assert (attrs);
    for (size_t i = 0; i < raw->nattrs; i++)
        attrs[i] = (s_attr_t){raw->attr_codes[i] ? raw->attr_codes[i] : "",
                              raw->attr_values[i] ? raw->attr_values[i] : "", i};
    qsort (attrs, raw->nattrs, sizeof *attrs, s_attr_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < raw->nattrs; i++)
        kept += i == 0 || strcmp (attrs[i].code, attrs[i - 1].code) != 0;
    char head[32];
    int n = snprintf (head, sizeof head, "attributes %zu\n", kept);
    zchunk_extend (out, head, (size_t) n);
    for (size_t i = 0; i < raw->nattrs; i++) {
        if (i > 0 && strcmp (attrs[i].code, attrs[i - 1].code) == 0)
            continue;
        s_field (out, "code", attrs[i].code);
        //  An empty value is a value here: it is stored as "".
        char vhead[32];
        size_t vlen = strlen (attrs[i].value);
        n = snprintf (vhead, sizeof vhead, "value %zu:", vlen);
        zchunk_extend (out, vhead, (size_t) n);
        zchunk_extend (out, attrs[i].value, vlen);
        zchunk_extend (out, "\n", 1);
    }
    free (attrs);
}

char *
intake_canonical_form (const intake_raw_t *raw)
{
    assert (raw);
    zchunk_t *out = zchunk_new (NULL, 512);
    zchunk_extend (out, S_VERSION, strlen (S_VERSION));
    //  Unset is BUS, as intake_sub_new files it.
    s_field (out, "channel",
             intake_channel_name (raw->channel ? raw->channel : GONGZHI__V1__CHANNEL__BUS));
    s_field (out, "service_code", raw->service_code);
    size_t dlen;
    const char *desc = s_trimmed (raw->description, &dlen);
    s_field_n (out, "description", desc, dlen);
    s_field (out, "lat", raw->lat_s);
    s_field (out, "long", raw->long_s);
    s_field (out, "address_id", raw->address_id);
    s_field (out, "address_string", raw->address_string);
    s_field (out, "phone", raw->phone);
    s_field (out, "name", raw->name);
    s_field (out, "email", raw->email);
    s_field (out, "media_url", raw->media_url);
    s_field (out, "meeting_id", raw->meeting_id);
    s_field (out, "external_id", raw->external_id);
    s_attributes (out, raw);
    if (raw->reporter_id && *raw->reporter_id)
        s_field (out, "reporter_id", raw->reporter_id);
    char *text = malloc (zchunk_size (out) + 1);
    assert (text);
    memcpy (text, zchunk_data (out), zchunk_size (out));
    text[zchunk_size (out)] = 0;
    zchunk_destroy (&out);
    return text;
}

void
intake_canonical_add_photos (char **form_p, const char (*sha256)[65], size_t n, bool public_)
{
    if (!form_p || !*form_p || n == 0)
        return;
    zchunk_t *out = zchunk_new (*form_p, strlen (*form_p));
    char head[32];
    int len = snprintf (head, sizeof head, "photos %zu\n", n);
    zchunk_extend (out, head, (size_t) len);
    for (size_t i = 0; i < n; i++)
        s_field (out, "photo", sha256[i]);
    s_field (out, "photos_public", public_ ? "yes" : "no");
    char *text = malloc (zchunk_size (out) + 1);
    assert (text);
    memcpy (text, zchunk_data (out), zchunk_size (out));
    text[zchunk_size (out)] = 0;
    zchunk_destroy (&out);
    free (*form_p);
    *form_p = text;
}

void
intake_sub_fingerprint_photos (intake_sub_t *sub)
{
    char sha[INTAKE_PHOTO_MAX_COUNT][65];
    for (size_t i = 0; i < sub->nphotos; i++)
        memcpy (sha[i], sub->photos[i].sha256, 65);
    intake_canonical_add_photos (&sub->canonical, (const char (*)[65]) sha, sub->nphotos,
                                 sub->photos_public);
}
