/*  gz_http_multipart: multipart/form-data bodies (file uploads), streamed.

    Why: a phone's photo is megabytes, and an upload may be a 200 MB
    attack; gz_http's ordinary body buffer (max_body, 64 KiB for intake)
    is the wrong shape for both. Here libmicrohttpd's post processor
    splits the body as it arrives: text fields go into the request's form
    table (so gz_http_form reads them as for an urlencoded form), each
    file part into a buffer of its own, and every byte is counted against
    the server's limits (gz_http_set_multipart) as it arrives, so an
    over-limit upload is refused when the limit is crossed (from its
    Content-Length, before any of it is read), never read to its end
    past max_request, and never kept past a file's limit. See gz_http.h
    for the contract.

    DESIGN: one struct gz_http_mp per multipart request, fed on the
    connection's event-loop thread only (gz_http.c's access handler); the
    handler reads it after the body is complete (or the limit crossed),
    when nothing feeds it any more. A part is told apart from the next by
    the post processor's offset (0 starts a part). A file part with no
    file name and no bytes (a file input left empty) is not a file.  */
#include "gz_http_private.h"
#include "gz_log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GZ_HTTP_MP_BUFFER 8192 //  the post processor's own buffer

typedef struct {
    char *field;
    char *filename; //  NULL: a text field
    unsigned char *data;
    size_t len, cap;
} s_part_t;

struct gz_http_mp {
    struct MHD_PostProcessor *pp;
    gz_http_req_t *req;
    size_t received; //  body bytes so far
    s_part_t *files;
    size_t nfiles;
    s_part_t cur; //  the part being read (cur.field NULL: none)
    bool failed;  //  a limit crossed or the body malformed
};

void
gz_http_set_multipart (gz_http_t *self, const gz_http_multipart_t *limits)
{
    assert (self && limits);
    assert (limits->max_request > 0 && limits->max_file_bytes > 0);
    self->multipart = *limits;
    atomic_store (&self->multipart_on, true);
}

static void
s_part_free (s_part_t *part)
{
    free (part->field);
    free (part->filename);
    free (part->data);
    memset (part, 0, sizeof *part);
}

//  A limit was crossed: the handler answers 413.
static void
s_too_large (struct gz_http_mp *mp)
{
    mp->failed = true;
    mp->req->too_large = true;
}

//  Add a text field to the request's form table (value NUL-terminated).
static void
s_field_add (gz_http_req_t *req, char *name, char *value)
{
    size_t n = req->form_count + 1;
    req->form_names = realloc (req->form_names, n * sizeof *req->form_names);
    req->form_values = realloc (req->form_values, n * sizeof *req->form_values);
    assert (req->form_names && req->form_values);
    req->form_names[req->form_count] = name;
    req->form_values[req->form_count] = value;
    req->form_count = n;
}

//  The current part is complete: keep it where it belongs.
static void
s_part_close (struct gz_http_mp *mp)
{
    s_part_t *cur = &mp->cur;
    if (!cur->field)
        return;
    gz_http_req_t *req = mp->req;
    if (cur->filename) {
        if (cur->len == 0) {
            s_part_free (cur); //  an empty file input
            return;
        }
        mp->files = realloc (mp->files, (mp->nfiles + 1) * sizeof *mp->files);
        assert (mp->files);
        mp->files[mp->nfiles++] = *cur;
        memset (cur, 0, sizeof *cur);
        return;
    }
    //  A NUL inside a text value would cut it silently: malformed.
    char *value = cur->data ? (char *) cur->data : strdup ("");
    assert (value);
    if (cur->len > 0 && memchr (value, 0, cur->len)) {
        mp->failed = true;
        req->form_state = -1;
        free (value);
        free (cur->field);
    }
    else if (req->form_count >= req->server->multipart.max_fields) {
        s_too_large (mp);
        free (value);
        free (cur->field);
    }
    else
        s_field_add (req, cur->field, value);
    free (cur->filename);
    memset (cur, 0, sizeof *cur);
}

//  Append to the current part within its limit; false when over.
static bool
s_part_append (struct gz_http_mp *mp, const char *data, size_t size)
{
    s_part_t *cur = &mp->cur;
    const gz_http_multipart_t *l = &mp->req->server->multipart;
    size_t max = cur->filename ? l->max_file_bytes : l->max_field;
    if (size > max - cur->len)
        return false;
    if (cur->filename && cur->len == 0 && size > 0 && mp->nfiles >= l->max_files)
        return false;
    size_t need = cur->len + size + 1;
    if (need > cur->cap) {
        size_t cap = cur->cap ? cur->cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        cur->data = realloc (cur->data, cap);
        assert (cur->data);
        cur->cap = cap;
    }
    if (size > 0)
        memcpy (cur->data + cur->len, data, size);
    cur->len += size;
    cur->data[cur->len] = 0;
    return true;
}

static enum MHD_Result
s_iterate (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
           const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
           size_t size)
{
    (void) kind, (void) content_type, (void) transfer_encoding;
    struct gz_http_mp *mp = cls;
    if (mp->failed)
        return MHD_NO;
    s_part_t *cur = &mp->cur;
    //  Offset 0 starts a part, unless the current one is that part's
    //  empty first call.
    bool same = cur->field && cur->len == 0 && key && strcmp (cur->field, key) == 0 &&
                (cur->filename != NULL) == (filename != NULL) &&
                (!filename || strcmp (cur->filename, filename) == 0);
    if (off == 0 && !same) {
        s_part_close (mp);
        if (mp->failed)
            return MHD_NO;
        cur->field = strdup (key ? key : "");
        cur->filename = filename ? strdup (filename) : NULL;
        assert (cur->field && (!filename || cur->filename));
    }
    if (!s_part_append (mp, data, size)) {
        s_too_large (mp);
        return MHD_NO;
    }
    return MHD_YES;
}

bool
gz_http_mp_begin (gz_http_req_t *req)
{
    gz_http_t *self = req->server;
    if (!atomic_load (&self->multipart_on))
        return false;
    const char *type = gz_http_header (req, "Content-Type");
    if (!type || strncasecmp (type, "multipart/form-data", 19) != 0)
        return false;
    struct gz_http_mp *mp = calloc (1, sizeof *mp);
    assert (mp);
    mp->req = req;
    req->mp = mp;
    req->form_state = 1;
    mp->pp = MHD_create_post_processor (req->conn, GZ_HTTP_MP_BUFFER, s_iterate, mp);
    if (!mp->pp) {
        //  No boundary, or one libmicrohttpd cannot use: malformed.
        mp->failed = true;
        req->form_state = -1;
    }
    return true;
}

bool
gz_http_mp_feed (gz_http_req_t *req, const char *data, size_t size)
{
    struct gz_http_mp *mp = req->mp;
    assert (mp);
    if (size > req->server->multipart.max_request - mp->received) {
        s_too_large (mp);
        return false;
    }
    mp->received += size;
    //  After a file or field limit the rest is read and dropped (at most
    //  max_request in all), so that the answer can go out: libmicrohttpd
    //  0.9.75 cannot queue one in the middle of a body.
    if (!mp->failed && MHD_post_process (mp->pp, data, size) != MHD_YES && !mp->failed) {
        mp->failed = true;
        req->form_state = -1;
    }
    return true;
}

void
gz_http_mp_end (gz_http_req_t *req)
{
    struct gz_http_mp *mp = req->mp;
    assert (mp);
    if (mp->failed)
        return;
    //  The post processor may report the last part from destroy. Its
    //  verdict on the body's end is not used: libmicrohttpd 0.9.75 says
    //  MHD_NO for well-formed bodies too (the closing boundary's tail),
    //  and the body is whole anyway (libmicrohttpd read Content-Length
    //  bytes, or the last chunk).
    (void) MHD_destroy_post_processor (mp->pp);
    mp->pp = NULL;
    if (!mp->failed)
        s_part_close (mp);
}

void
gz_http_mp_free (gz_http_req_t *req)
{
    struct gz_http_mp *mp = req->mp;
    if (!mp)
        return;
    if (mp->pp)
        MHD_destroy_post_processor (mp->pp);
    for (size_t i = 0; i < mp->nfiles; i++)
        s_part_free (&mp->files[i]);
    free (mp->files);
    s_part_free (&mp->cur);
    free (mp);
    req->mp = NULL;
}

bool
gz_http_multipart (gz_http_req_t *req)
{
    assert (req);
    return req->mp != NULL;
}

size_t
gz_http_file_count (gz_http_req_t *req)
{
    assert (req);
    return req->mp && !req->mp->failed ? req->mp->nfiles : 0;
}

const unsigned char *
gz_http_file_data (gz_http_req_t *req, size_t i, size_t *len_p)
{
    assert (i < gz_http_file_count (req));
    if (len_p)
        *len_p = req->mp->files[i].len;
    return req->mp->files[i].data;
}

const char *
gz_http_file_field (gz_http_req_t *req, size_t i)
{
    assert (i < gz_http_file_count (req));
    return req->mp->files[i].field;
}

const char *
gz_http_file_name (gz_http_req_t *req, size_t i)
{
    assert (i < gz_http_file_count (req));
    return req->mp->files[i].filename;
}
