/*  Unit tests for gz_text: UTF-8 validation and counting, phone checks
    and masking, HTML/XML escaping.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gz_text.h"

//  Byte strings may hold NUL, so lengths are explicit.
#define VALID(lit) assert_true (gz_utf8_valid (lit, sizeof (lit) - 1))
#define INVALID(lit) assert_false (gz_utf8_valid (lit, sizeof (lit) - 1))

static void
test_utf8_accepts_valid_text (void **state)
{
    (void) state;
    VALID ("");
    VALID ("hello, world");
    VALID ("楼道灯坏了");
    VALID ("3号楼 2单元\t灯坏了\r\n请尽快修");
    VALID ("\x7f");             //  DEL is allowed
    VALID ("\xc2\x80");         //  U+0080, smallest 2-byte
    VALID ("\xdf\xbf");         //  U+07FF
    VALID ("\xe0\xa0\x80");     //  U+0800, smallest 3-byte
    VALID ("\xed\x9f\xbf");     //  U+D7FF, just below the surrogates
    VALID ("\xee\x80\x80");     //  U+E000, just above them
    VALID ("\xef\xbf\xbd");     //  U+FFFD (U+FFFE and U+FFFF are refused, below)
    VALID ("\xf0\x90\x80\x80"); //  U+10000
    VALID ("\xf0\x9f\x98\x80"); //  an emoji
    VALID ("\xf4\x8f\xbf\xbf"); //  U+10FFFF, the largest
    assert_true (gz_utf8_valid (NULL, 0));
}

static void
test_utf8_rejects_malformed (void **state)
{
    (void) state;
    INVALID ("\xc0\xaf");         //  overlong '/'
    INVALID ("\xc1\xbf");         //  overlong
    INVALID ("\xe0\x80\xaf");     //  overlong 3-byte
    INVALID ("\xe0\x9f\xbf");     //  overlong 3-byte (U+07FF)
    INVALID ("\xf0\x80\x80\xaf"); //  overlong 4-byte
    INVALID ("\xf0\x8f\xbf\xbf"); //  overlong 4-byte (U+FFFF)
    INVALID ("\xed\xa0\x80");     //  surrogate U+D800
    INVALID ("\xed\xbf\xbf");     //  surrogate U+DFFF
    INVALID ("\xf4\x90\x80\x80"); //  U+110000
    INVALID ("\xf5\x80\x80\x80"); //  lead byte beyond the range
    INVALID ("\xfe");
    INVALID ("\xff");
    INVALID ("\x80"); //  lone continuation byte
    INVALID ("a\xbf");
    INVALID ("\xe6\xa5");         //  truncated 楼 (E6 A5 BC)
    INVALID ("楼道\xe6\xa5");     //  truncated at the end
    INVALID ("\xe6\xa5x");        //  continuation replaced by ASCII
    INVALID ("\xf0\x9f\x98");     //  truncated 4-byte
    INVALID ("\xe6\xa5\xbc\xbc"); //  extra continuation
    INVALID ("a\0b");             //  embedded NUL
    INVALID ("\x01");             //  control characters
    INVALID ("line\x1b[31m");
    INVALID ("\x0b"); //  vertical tab
    INVALID ("\x0c"); //  form feed
    //  Characters XML 1.0 cannot carry: one stored would break every XML
    //  answer that shows it.
    INVALID ("\xef\xbf\xbe"); //  U+FFFE
    INVALID ("a\xef\xbf\xbf"
             "b");                                   //  U+FFFF
    assert_true (gz_utf8_valid ("\xef\xbf\xbd", 3)); //  U+FFFD is fine
    //  The length is respected: a bad byte past it does not count.
    assert_true (gz_utf8_valid ("ok\xff", 2));
}

static void
test_utf8_chars_counts_code_points (void **state)
{
    (void) state;
    const char *s = "楼道灯坏了";
    assert_int_equal (strlen (s), 15);
    assert_int_equal (gz_utf8_chars (s, strlen (s)), 5);
    assert_int_equal (gz_utf8_chars ("abc", 3), 3);
    assert_int_equal (gz_utf8_chars ("3号楼", strlen ("3号楼")), 3);
    assert_int_equal (gz_utf8_chars ("\xf0\x9f\x98\x80!", 5), 2);
    assert_int_equal (gz_utf8_chars ("", 0), 0);
    //  Counting stops at len, not at a NUL.
    assert_int_equal (gz_utf8_chars ("楼道灯", 6), 2);
}

static void
test_phone_valid (void **state)
{
    (void) state;
    assert_true (gz_phone_valid ("13812348000"));
    assert_true (gz_phone_valid ("+86 138-1234-8000"));
    assert_true (gz_phone_valid ("+8613812348000"));
    assert_true (gz_phone_valid ("010-12345678"));
    assert_true (gz_phone_valid ("12345"));
    assert_true (gz_phone_valid ("12345678901234567890")); //  20 digits
    assert_false (gz_phone_valid ("123456789012345678901"));
    assert_false (gz_phone_valid ("1234"));
    assert_false (gz_phone_valid (""));
    assert_false (gz_phone_valid (NULL));
    assert_false (gz_phone_valid ("+"));
    assert_false (gz_phone_valid ("++8613812348000"));
    assert_false (gz_phone_valid ("138--1234-8000"));
    assert_false (gz_phone_valid ("-13812348000"));
    assert_false (gz_phone_valid ("13812348000-"));
    assert_false (gz_phone_valid ("13812348000 "));
    assert_false (gz_phone_valid ("138 1234 800a"));
    assert_false (gz_phone_valid ("138.1234.8000"));
    assert_false (gz_phone_valid ("1381234８000")); //  full-width digit
}

static void
s_assert_mask (const char *phone, const char *expected)
{
    char *masked = gz_phone_mask (phone);
    assert_non_null (masked);
    assert_string_equal (masked, expected);
    free (masked);
}

static void
test_phone_mask (void **state)
{
    (void) state;
    s_assert_mask ("13812348000", "138****8000");
    s_assert_mask ("+86 138-1234-8000", "138****8000");
    s_assert_mask ("+8613812348000", "138****8000");
    s_assert_mask ("8613812348000", "138****8000");
    s_assert_mask ("008613812348000", "138****8000");
    s_assert_mask ("138 1234 8000", "138****8000");
    s_assert_mask ("010-12345678", "010****5678");
    s_assert_mask ("+44 20 7946 0958", "442****0958");
    s_assert_mask ("12345678", "****");
    s_assert_mask ("12345", "****");
    s_assert_mask ("", "****");
    s_assert_mask ("abc", "****");
    s_assert_mask (NULL, "****");
}

//  Found by tests/fuzz (fuzz_text): digits were collected into a 64-byte
//  buffer, so past 63 digits the "last four" shown came from the middle
//  of the number. The mask must show the number's own last four.
static void
test_phone_mask_long_number (void **state)
{
    (void) state;
    char phone[128];
    snprintf (phone, sizeof phone, "1380000%060d5678", 0); //  71 digits
    s_assert_mask (phone, "138****5678");
    //  The same with formatting between the digits.
    snprintf (phone, sizeof phone, "+1 %080d-9876", 0);
    s_assert_mask (phone, "100****9876");
}

static void
s_assert_escape (char *escaped, const char *expected)
{
    assert_non_null (escaped);
    assert_string_equal (escaped, expected);
    free (escaped);
}

static void
test_html_escape (void **state)
{
    (void) state;
    s_assert_escape (gz_html_escape ("<a href=\"x\">Tom & 'Jerry'</a>"),
                     "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    s_assert_escape (gz_html_escape ("楼道灯坏了"), "楼道灯坏了");
    s_assert_escape (gz_html_escape (""), "");
    s_assert_escape (gz_html_escape ("&amp;"), "&amp;amp;");
    s_assert_escape (gz_html_escape ("<script>alert(1)</script>"),
                     "&lt;script&gt;alert(1)&lt;/script&gt;");
}

static void
test_xml_escape (void **state)
{
    (void) state;
    s_assert_escape (gz_xml_escape ("<x a=\"1\">it's & more</x>"),
                     "&lt;x a=&quot;1&quot;&gt;it&apos;s &amp; more&lt;/x&gt;");
    s_assert_escape (gz_xml_escape ("楼道\t灯\n坏了"), "楼道\t灯\n坏了");
    //  Controls XML cannot hold become U+FFFD.
    s_assert_escape (gz_xml_escape ("a\x01"
                                    "b\x1b"),
                     "a\xef\xbf\xbd"
                     "b\xef\xbf\xbd");
    //  So do U+FFFE and U+FFFF, if one was stored before they were refused.
    s_assert_escape (gz_xml_escape ("a\xef\xbf\xbe"
                                    "b\xef\xbf\xbf"),
                     "a\xef\xbf\xbd"
                     "b\xef\xbf\xbd");
    s_assert_escape (gz_xml_escape (""), "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_utf8_accepts_valid_text),
        cmocka_unit_test (test_utf8_rejects_malformed),
        cmocka_unit_test (test_utf8_chars_counts_code_points),
        cmocka_unit_test (test_phone_valid),
        cmocka_unit_test (test_phone_mask),
        cmocka_unit_test (test_phone_mask_long_number),
        cmocka_unit_test (test_html_escape),
        cmocka_unit_test (test_xml_escape),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
