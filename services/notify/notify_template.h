/*  notify_template: the message templates of the notify service.

    A template is Simplified Chinese text with variables in braces:
    "您的诉求{request_id}已办结：{result}". The file may start with a
    "subject: ..." line (e-mail subject, WeChat title; it may hold
    variables too); the rest is the body. "{{" and "}}" are literal
    braces. Variables are from a fixed, documented list
    (notify_template_variables, docs/notify-plan.md); an unknown
    variable, an unclosed "{", a stray "}", an empty "{}" or text that is
    not UTF-8 is refused at parse with "<file>:<line>: <reason>".

    A parsed template is immutable: threads may share it. No SQL, no
    sockets, no clock: pure logic, unit-tested in
    tests/unit/test_notify_plan.c.  */
#ifndef NOTIFY_TEMPLATE_H_INCLUDED
#define NOTIFY_TEMPLATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct _notify_template_t notify_template_t;

//  The known variable names, NULL-terminated, in documentation order.
const char *const *notify_template_variables (void);

//  True if name (without braces) is a known variable.
bool notify_template_variable_known (const char *name);

//  Parse template text. file names it in messages (a path or
//  "default:<name>"). NULL on error with err filled as
//  "<file>:<line>: <reason>" (line 1 is the first line of the text, the
//  subject line when there is one). Refused: invalid UTF-8, an unclosed
//  "{" (no "}" before the end of its line), a stray "}", "{}", an
//  unknown variable, an empty subject, an empty body, text over 64 KiB.
//  Windows line ends are read as LF; a UTF-8 byte order mark is skipped;
//  the body loses its trailing blank space and newlines (files end with
//  one). Caller destroys the result.
notify_template_t *notify_template_parse (const char *text, const char *file, char *err,
                                          size_t errlen);

//  Render the body. vars is a JSON object (or NULL): each variable takes
//  its member's string value; an integer renders in decimal; a missing
//  member, null or any other type renders as "" (the template still
//  reads well enough, and a missing datum must not stop a message).
//  Values are inserted as they are: escaping for HTML, JSON or MIME is the
//  channel's job. Returns a new string; caller frees.
char *notify_template_render (const notify_template_t *self, const json_t *vars);

//  Render the subject line the same way; NULL when the template has none.
//  Caller frees.
char *notify_template_render_subject (const notify_template_t *self, const json_t *vars);

//  True when the template has a subject line.
bool notify_template_has_subject (const notify_template_t *self);

//  True when the body or subject uses the variable name.
bool notify_template_uses (const notify_template_t *self, const char *name);

void notify_template_destroy (notify_template_t **self_p);

//  SMS segments of a UTF-8 text, by the rule Chinese gateways bill by
//  (UCS-2, which any Chinese text is, and which they apply to ASCII text
//  too): up to 70 characters (code points) is one segment; a longer text
//  is split into segments of 67 characters, so ceil(chars / 67). An empty
//  text is 0 segments. Stores the character count in *chars_p when
//  chars_p is not NULL. -1 when utf8 is NULL or not valid UTF-8.
int notify_sms_segments (const char *utf8, size_t *chars_p);

#endif
