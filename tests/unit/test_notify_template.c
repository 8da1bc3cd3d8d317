/*  Unit tests for notify_template: parsing and rendering Chinese text,
    the subject line, literal braces, every syntax error refused with its
    line, unknown variables, missing values, and SMS segment counts.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify_template.h"

static notify_template_t *
s_parsed (const char *text)
{
    char err[512] = "";
    notify_template_t *t = notify_template_parse (text, "t.txt", err, sizeof err);
    if (!t)
        fail_msg ("parse failed: %s", err);
    return t;
}

//  Text that must be refused with exactly this message.
static void
s_refused (const char *text, const char *want)
{
    char err[512] = "";
    notify_template_t *t = notify_template_parse (text, "t.txt", err, sizeof err);
    if (t || strcmp (err, want))
        fail_msg ("expected \"%s\", got %s \"%s\"", want, t ? "success" : "error", err);
    notify_template_destroy (&t);
}

static void
s_assert_render (const notify_template_t *t, const json_t *vars, const char *want)
{
    char *got = notify_template_render (t, vars);
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}

static void
test_render_chinese_with_subject (void **state)
{
    (void) state;
    notify_template_t *t = s_parsed ("subject: 诉求{request_id}已办结\r\n"
                                     "\r\n"
                                     "您的诉求{request_id}（{category}）已办结：{result}。\r\n"
                                     "请评价：{status_link}\r\n\r\n");
    json_t *vars =
        json_pack ("{s:s, s:s, s:s, s:s}", "request_id", "100001", "category", "道路破损", "result",
                   "已修补路面", "status_link", "https://gz.example.cn/r/100001?t=abc");
    s_assert_render (t, vars,
                     "您的诉求100001（道路破损）已办结：已修补路面。\n"
                     "请评价：https://gz.example.cn/r/100001?t=abc");
    assert_true (notify_template_has_subject (t));
    char *subject = notify_template_render_subject (t, vars);
    assert_string_equal (subject, "诉求100001已办结");
    free (subject);
    assert_true (notify_template_uses (t, "result"));
    assert_false (notify_template_uses (t, "place"));
    assert_false (notify_template_uses (t, "nonsense"));
    json_decref (vars);
    notify_template_destroy (&t);
    notify_template_destroy (&t); //  a second destroy is harmless
    assert_null (t);
}

static void
test_no_subject_braces_missing_and_integers (void **state)
{
    (void) state;
    notify_template_t *t = s_parsed ("\xEF\xBB\xBF{{编号}}：{request_id}，评分{score}，{note}。}}");
    assert_false (notify_template_has_subject (t));
    assert_null (notify_template_render_subject (t, NULL));
    json_t *vars = json_pack ("{s:s, s:i, s:n}", "request_id", "7", "score", 5, "note");
    //  note is null: rendered as ""; a missing object renders every variable as "".
    s_assert_render (t, vars, "{编号}：7，评分5，。}");
    s_assert_render (t, NULL, "{编号}：，评分，。}");
    json_decref (vars);
    notify_template_destroy (&t);

    //  "subject:" only counts on the first line.
    t = s_parsed ("正文\nsubject: 不是标题");
    assert_false (notify_template_has_subject (t));
    s_assert_render (t, NULL, "正文\nsubject: 不是标题");
    notify_template_destroy (&t);
}

static void
test_syntax_errors_name_their_line (void **state)
{
    (void) state;
    s_refused ("第一行\n第二行{request_id\n",
               "t.txt:2: unclosed '{' (write '{{' for a literal brace)");
    s_refused ("第一行{request_id\n}", "t.txt:1: unclosed '{' (write '{{' for a literal brace)");
    s_refused ("{a{request_id}", "t.txt:1: unclosed '{' (write '{{' for a literal brace)");
    s_refused ("一\n二\n三}", "t.txt:3: stray '}' (write '}}' for a literal brace)");
    s_refused ("subject: 好\n\n\n正文{}", "t.txt:4: empty variable '{}'");
    s_refused ("subject: {}\n正文", "t.txt:1: empty variable '{}'");
    s_refused ("subject: 标题\n正文\n{request_ID}", "t.txt:3: unknown variable {request_ID}");
    s_refused ("{ request_id }", "t.txt:1: unknown variable { request_id }");
    s_refused ("{phone}", "t.txt:1: unknown variable {phone}");
    s_refused ("subject:   \n正文", "t.txt:1: empty subject");
    s_refused ("subject: 只有标题\n\n  \n", "t.txt: no message text");
    s_refused ("", "t.txt: no message text");
    s_refused ("一\n二\xff", "t.txt:2: not valid UTF-8 text (or a control character)");
    s_refused ("一\r\n二\r\n三\x01", "t.txt:3: not valid UTF-8 text (or a control character)");
}

static void
test_every_variable_is_known (void **state)
{
    (void) state;
    const char *const *vars = notify_template_variables ();
    size_t n = 0;
    for (; vars[n]; n++) {
        char text[64];
        snprintf (text, sizeof text, "{%s}", vars[n]);
        notify_template_t *t = s_parsed (text);
        json_t *v = json_pack ("{s:s}", vars[n], "值");
        s_assert_render (t, v, "值");
        json_decref (v);
        notify_template_destroy (&t);
        assert_true (notify_template_variable_known (vars[n]));
    }
    assert_true (n >= 16);
    assert_false (notify_template_variable_known ("phone"));
    assert_false (notify_template_variable_known (NULL));
}

static void
test_oversized_refused (void **state)
{
    (void) state;
    size_t len = 64 * 1024 + 1;
    char *text = malloc (len + 1);
    memset (text, 'a', len);
    text[len] = '\0';
    s_refused (text, "t.txt: larger than 64 KiB");
    free (text);
}

//  n copies of the UTF-8 character c.
static char *
s_repeat (const char *c, size_t n)
{
    size_t clen = strlen (c);
    char *s = malloc (clen * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy (s + i * clen, c, clen);
    s[clen * n] = '\0';
    return s;
}

static void
s_assert_segments (const char *c, size_t n, int want)
{
    char *s = s_repeat (c, n);
    size_t chars = 0;
    int got = notify_sms_segments (s, &chars);
    if (got != want || chars != n)
        fail_msg ("%zu x \"%s\": %d segments, %zu chars; want %d, %zu", n, c, got, chars, want, n);
    free (s);
}

static void
test_sms_segments (void **state)
{
    (void) state;
    const char *chars[] = {"字", "a", "😀"};
    for (size_t i = 0; i < 3; i++) {
        s_assert_segments (chars[i], 1, 1);
        s_assert_segments (chars[i], 70, 1);
        s_assert_segments (chars[i], 71, 2);
        s_assert_segments (chars[i], 134, 2);
        s_assert_segments (chars[i], 135, 3);
        s_assert_segments (chars[i], 201, 3);
        s_assert_segments (chars[i], 202, 4);
    }
    s_assert_segments ("a", 0, 0);
    assert_int_equal (notify_sms_segments ("您好，hello", NULL), 1);
    assert_int_equal (notify_sms_segments ("bad\xff", NULL), -1);
    assert_int_equal (notify_sms_segments (NULL, NULL), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_render_chinese_with_subject),
        cmocka_unit_test (test_no_subject_braces_missing_and_integers),
        cmocka_unit_test (test_syntax_errors_name_their_line),
        cmocka_unit_test (test_every_variable_is_known),
        cmocka_unit_test (test_oversized_refused),
        cmocka_unit_test (test_sms_segments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
