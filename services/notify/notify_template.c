/*  notify_template: message templates. See notify_template.h and
    docs/notify-plan.md (the syntax, for operators).

    DESIGN
    Parsing compiles the subject and the body each into a sequence of
    parts: a literal (with "{{" and "}}" already turned into single
    braces) or a variable (an index into s_variables). Rendering walks the
    parts once and looks each variable up in the JSON object, so a render
    costs one pass and no parsing. A compiled template owns all its
    strings and is never changed after parse, so worker threads may render
    the same template at once.  */
#include "notify_template.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_text.h"

#define S_MAX_TEXT (64 * 1024)
#define S_SUBJECT "subject:"

//  The documented variables (docs/notify-plan.md has what each holds).
static const char *const s_variables[] = {
    "request_id",    "category",      "place",       "deadline",   "deadline_kind",
    "assignee_unit", "assignee_name", "status_link", "result",     "note",
    "level",         "score",         "tier",        "lead_unit",  "task",
    "when",          "name",          "expires",     "offer_link", NULL};

typedef struct {
    char *text; //  literal, owned; NULL for a variable
    size_t len;
    int var; //  index into s_variables, or -1 for a literal
} s_part_t;

typedef struct {
    s_part_t *parts;
    size_t count;
    size_t alloc;
} s_seq_t;

struct _notify_template_t {
    bool has_subject;
    s_seq_t subject;
    s_seq_t body;
};

//  A growing byte buffer; out of memory aborts.
typedef struct {
    char *data;
    size_t len;
    size_t alloc;
} s_buf_t;

static void
s_buf_add (s_buf_t *buf, const char *s, size_t len)
{
    if (buf->len + len + 1 > buf->alloc) {
        size_t alloc = buf->alloc ? buf->alloc : 64;
        while (alloc < buf->len + len + 1)
            alloc *= 2;
        buf->data = realloc (buf->data, alloc);
        if (!buf->data)
            abort ();
        buf->alloc = alloc;
    }
    memcpy (buf->data + buf->len, s, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

static void
s_fail (char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    char reason[256];
    va_list args;
    va_start (args, fmt);
    vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    if (line > 0)
        snprintf (err, errlen, "%s:%d: %s", file, line, reason);
    else
        snprintf (err, errlen, "%s: %s", file, reason);
}

const char *const *
notify_template_variables (void)
{
    return s_variables;
}

static int
s_variable_index (const char *name, size_t len)
{
    for (int i = 0; s_variables[i]; i++)
        if (strlen (s_variables[i]) == len && !memcmp (s_variables[i], name, len))
            return i;
    return -1;
}

bool
notify_template_variable_known (const char *name)
{
    return name && s_variable_index (name, strlen (name)) >= 0;
}

static void
s_seq_push (s_seq_t *seq, s_part_t part)
{
    if (seq->count == seq->alloc) {
        seq->alloc = seq->alloc ? seq->alloc * 2 : 8;
        seq->parts = realloc (seq->parts, seq->alloc * sizeof *seq->parts);
        if (!seq->parts)
            abort ();
    }
    seq->parts[seq->count++] = part;
}

//  Moves the pending literal (if any) into the sequence.
static void
s_flush_literal (s_seq_t *seq, s_buf_t *lit)
{
    if (lit->len == 0)
        return;
    s_seq_push (seq, (s_part_t){lit->data, lit->len, -1});
    *lit = (s_buf_t){0};
}

static void
s_seq_free (s_seq_t *seq)
{
    for (size_t i = 0; i < seq->count; i++)
        free (seq->parts[i].text);
    free (seq->parts);
    *seq = (s_seq_t){0};
}

//  Compiles s[0..len), whose first byte is on line `line`, into seq.
//  0, or -1 with err filled.
static int
s_compile (const char *s, size_t len, int line, s_seq_t *seq, const char *file, char *err,
           size_t errlen)
{
    s_buf_t lit = {0};
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '\n')
            line++;
        if ((c == '{' || c == '}') && i + 1 < len && s[i + 1] == c) {
            s_buf_add (&lit, &c, 1); //  "{{" or "}}": a literal brace
            i += 2;
            continue;
        }
        if (c == '}') {
            s_fail (err, errlen, file, line, "stray '}' (write '}}' for a literal brace)");
            goto fail;
        }
        if (c != '{') {
            s_buf_add (&lit, &c, 1);
            i++;
            continue;
        }
        //  A variable: its name runs to the next '}' on the same line.
        size_t end = i + 1;
        while (end < len && s[end] != '}' && s[end] != '{' && s[end] != '\n')
            end++;
        if (end >= len || s[end] != '}') {
            s_fail (err, errlen, file, line, "unclosed '{' (write '{{' for a literal brace)");
            goto fail;
        }
        const char *name = s + i + 1;
        size_t nlen = end - i - 1;
        if (nlen == 0) {
            s_fail (err, errlen, file, line, "empty variable '{}'");
            goto fail;
        }
        int var = s_variable_index (name, nlen);
        if (var < 0) {
            s_fail (err, errlen, file, line, "unknown variable {%.*s}",
                    (int) (nlen > 64 ? 64 : nlen), name);
            goto fail;
        }
        s_flush_literal (seq, &lit);
        s_seq_push (seq, (s_part_t){NULL, 0, var});
        i = end + 1;
    }
    s_flush_literal (seq, &lit);
    return 0;
fail:
    free (lit.data);
    return -1;
}

//  Finds the first line of text[0..len) that is not valid UTF-8 (or
//  holds a control character); 0 when all are.
static int
s_bad_utf8_line (const char *text, size_t len)
{
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == '\n') {
            if (!gz_utf8_valid (text + start, i - start))
                return line;
            line++;
            start = i + 1;
        }
    }
    return 0;
}

static bool
s_blank (char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

//  text is NUL-free, LF-only, valid UTF-8, BOM removed.
static notify_template_t *
s_parse (char *text, size_t len, const char *file, char *err, size_t errlen)
{
    notify_template_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    size_t at = 0;
    int line = 1;
    if (len >= strlen (S_SUBJECT) && !memcmp (text, S_SUBJECT, strlen (S_SUBJECT))) {
        char *eol = memchr (text, '\n', len);
        size_t end = eol ? (size_t) (eol - text) : len;
        size_t from = strlen (S_SUBJECT);
        while (from < end && (text[from] == ' ' || text[from] == '\t'))
            from++;
        size_t to = end;
        while (to > from && (text[to - 1] == ' ' || text[to - 1] == '\t'))
            to--;
        if (to == from) {
            s_fail (err, errlen, file, 1, "empty subject");
            goto fail;
        }
        self->has_subject = true;
        if (s_compile (text + from, to - from, 1, &self->subject, file, err, errlen))
            goto fail;
        at = eol ? end + 1 : len;
        line = 2;
    }
    //  The body: leading blank lines (after a subject) and trailing blank
    //  space are not part of the message.
    while (at < len && s_blank (text[at])) {
        if (text[at] == '\n')
            line++;
        at++;
    }
    while (len > at && s_blank (text[len - 1]))
        len--;
    if (len == at) {
        s_fail (err, errlen, file, 0, "no message text");
        goto fail;
    }
    if (s_compile (text + at, len - at, line, &self->body, file, err, errlen))
        goto fail;
    return self;
fail:
    notify_template_destroy (&self);
    return NULL;
}

notify_template_t *
notify_template_parse (const char *text, const char *file, char *err, size_t errlen)
{
    assert (text);
    if (!file)
        file = "template";
    size_t len = strlen (text);
    if (len > S_MAX_TEXT) {
        s_fail (err, errlen, file, 0, "larger than 64 KiB");
        return NULL;
    }
    if (len >= 3 && !memcmp (text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        len -= 3;
    }
    //  A copy with CRLF read as LF.
    char *copy = malloc (len + 1);
    if (!copy)
        abort ();
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
            copy[n++] = text[i];
    copy[n] = '\0';
    notify_template_t *self = NULL;
    int bad = s_bad_utf8_line (copy, n);
    if (bad)
        s_fail (err, errlen, file, bad, "not valid UTF-8 text (or a control character)");
    else
        self = s_parse (copy, n, file, err, errlen);
    free (copy);
    return self;
}

static char *
s_render (const s_seq_t *seq, const json_t *vars)
{
    s_buf_t out = {0};
    s_buf_add (&out, "", 0);
    for (size_t i = 0; i < seq->count; i++) {
        const s_part_t *part = &seq->parts[i];
        if (part->var < 0) {
            s_buf_add (&out, part->text, part->len);
            continue;
        }
        json_t *value =
            json_is_object (vars) ? json_object_get (vars, s_variables[part->var]) : NULL;
        if (json_is_string (value))
            s_buf_add (&out, json_string_value (value), json_string_length (value));
        else if (json_is_integer (value)) {
            char num[32];
            int nlen =
                snprintf (num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
            s_buf_add (&out, num, (size_t) nlen);
        }
    }
    return out.data;
}

char *
notify_template_render (const notify_template_t *self, const json_t *vars)
{
    assert (self);
    return s_render (&self->body, vars);
}

char *
notify_template_render_subject (const notify_template_t *self, const json_t *vars)
{
    assert (self);
    return self->has_subject ? s_render (&self->subject, vars) : NULL;
}

bool
notify_template_has_subject (const notify_template_t *self)
{
    assert (self);
    return self->has_subject;
}

static bool
s_seq_uses (const s_seq_t *seq, int var)
{
    for (size_t i = 0; i < seq->count; i++)
        if (seq->parts[i].var == var)
            return true;
    return false;
}

bool
notify_template_uses (const notify_template_t *self, const char *name)
{
    assert (self);
    int var = name ? s_variable_index (name, strlen (name)) : -1;
    return var >= 0 && (s_seq_uses (&self->subject, var) || s_seq_uses (&self->body, var));
}

void
notify_template_destroy (notify_template_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_seq_free (&(*self_p)->subject);
        s_seq_free (&(*self_p)->body);
        free (*self_p);
        *self_p = NULL;
    }
}

int
notify_sms_segments (const char *utf8, size_t *chars_p)
{
    if (!utf8)
        return -1;
    size_t len = strlen (utf8);
    if (!gz_utf8_valid (utf8, len))
        return -1;
    size_t chars = gz_utf8_chars (utf8, len);
    if (chars_p)
        *chars_p = chars;
    if (chars == 0)
        return 0;
    if (chars <= 70)
        return 1;
    return (int) ((chars + 66) / 67);
}
