/*  Unit tests for intake_fingerprint: the canonical form an idempotency
    key's fingerprint is computed from. The same submission gives the same
    form however it is spelled where intake stores it the same way; every
    field the client sends changes it; no two submissions share one,
    whatever their text holds; what the server sets or looks the
    fingerprint up by is not in it.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake.h"

//  A full submission; tests change one field at a time.
typedef struct {
    intake_raw_t raw;
    const char *codes[4], *values[4];
} s_sub_t;

static void
s_sub_init (s_sub_t *s)
{
    memset (s, 0, sizeof *s);
    s->raw.channel = GONGZHI__V1__CHANNEL__OPEN311;
    s->raw.service_code = "utilities";
    s->raw.description = "停水两天了";
    s->raw.lat_s = "26.5651";
    s->raw.long_s = "106.6901";
    s->raw.address_id = "B1";
    s->raw.address_string = "1栋";
    s->raw.phone = "13800001234";
    s->raw.name = "张 三";
    s->raw.email = "a@example.cn";
    s->raw.media_url = "https://example.cn/p.jpg";
    s->raw.meeting_id = "m-1";
    s->raw.external_id = "ticket-42";
    s->raw.reporter_id = "rider:MT-7788";
    s->raw.client_id = "apikey:district";
    s->raw.idempotency_key = "k-1";
    s->codes[0] = "utility_type";
    s->values[0] = "water";
    s->codes[1] = "urgent";
    s->values[1] = "yes";
    s->raw.attr_codes = s->codes;
    s->raw.attr_values = s->values;
    s->raw.nattrs = 2;
}

//  The forms of a and b are (not) the same.
static void
s_same (const intake_raw_t *a, const intake_raw_t *b, bool same)
{
    char *fa = intake_canonical_form (a), *fb = intake_canonical_form (b);
    if ((strcmp (fa, fb) == 0) != same)
        fail_msg ("expected %s forms:\n%s\n---\n%s", same ? "equal" : "different", fa, fb);
    free (fa);
    free (fb);
}

static void
test_form_is_versioned_and_readable (void **state)
{
    (void) state;
    s_sub_t s;
    s_sub_init (&s);
    char *form = intake_canonical_form (&s.raw);
    assert_true (strncmp (form, "gongzhi-submission-v1\n", 22) == 0);
    assert_non_null (strstr (form, "\nchannel 7:OPEN311\n"));
    assert_non_null (strstr (form, "\nservice_code 9:utilities\n"));
    assert_non_null (strstr (form, "\ndescription 15:停水两天了\n"));
    assert_non_null (strstr (form, "\nattributes 2\ncode 6:urgent\nvalue 3:yes\n"
                                   "code 12:utility_type\nvalue 5:water\n"));
    //  Neither the client nor its key.
    assert_null (strstr (form, "apikey:district"));
    assert_null (strstr (form, "k-1"));
    free (form);
}

static void
test_same_submission_same_form (void **state)
{
    (void) state;
    s_sub_t a, b;
    s_sub_init (&a);
    s_sub_init (&b);
    s_same (&a.raw, &b.raw, true);
    //  Another key or client: the form is the same (they are what it is
    //  looked up by, not part of it).
    b.raw.idempotency_key = "k-2";
    b.raw.client_id = "apikey:other";
    s_same (&a.raw, &b.raw, true);
    //  The description as stored: trimmed.
    b.raw.description = "  停水两天了\r\n";
    s_same (&a.raw, &b.raw, true);
    //  Attributes in another order.
    b.codes[0] = "urgent";
    b.values[0] = "yes";
    b.codes[1] = "utility_type";
    b.values[1] = "water";
    s_same (&a.raw, &b.raw, true);
    //  A repeated code: the last one counts, as stored.
    b.codes[2] = "urgent";
    b.values[2] = "yes";
    b.codes[1] = "utility_type";
    b.values[1] = "power";
    b.codes[0] = "utility_type";
    b.values[0] = "water";
    b.raw.nattrs = 3;
    s_same (&a.raw, &b.raw, false);
    b.codes[0] = "utility_type";
    b.values[0] = "power";
    b.codes[1] = "utility_type";
    b.values[1] = "water";
    s_same (&a.raw, &b.raw, true);
    //  An empty field is an absent one (both stored as NULL).
    a.raw.email = NULL;
    b.raw.email = "";
    s_same (&a.raw, &b.raw, true);
    //  An unset channel is BUS.
    a.raw.channel = 0;
    b.raw.channel = GONGZHI__V1__CHANNEL__BUS;
    s_same (&a.raw, &b.raw, true);
}

static void
test_every_field_counts (void **state)
{
    (void) state;
    s_sub_t a;
    s_sub_init (&a);
    for (int field = 0; field < 18; field++) {
        s_sub_t b;
        s_sub_init (&b);
        intake_raw_t *r = &b.raw;
        switch (field) {
            case 0:
                r->channel = GONGZHI__V1__CHANNEL__BUS;
                break;
            case 1:
                r->service_code = "noise";
                break;
            case 2:
                r->description = "停水三天了";
                break;
            case 3:
                r->lat_s = "26.5652";
                break;
            case 4:
                r->long_s = NULL;
                break;
            case 5:
                r->address_id = "B2";
                break;
            case 6:
                r->address_string = NULL;
                break;
            case 7:
                r->phone = "13800001235";
                break;
            case 8:
                r->name = "张三";
                break;
            case 9:
                r->email = "b@example.cn";
                break;
            case 10:
                r->media_url = "https://example.cn/q.jpg";
                break;
            case 11:
                r->meeting_id = "m-2";
                break;
            case 12:
                r->external_id = "ticket-43";
                break;
            case 13:
                b.values[0] = "power";
                break;
            case 14:
                r->nattrs = 1;
                break;
            case 15:
                b.values[1] = "";
                break;
            case 16:
                r->reporter_id = "rider:MT-7789";
                break;
            case 17:
                r->reporter_id = NULL;
                break;
        }
        s_same (&a.raw, &b.raw, false);
    }
}

//  Text that looks like the form's own framing cannot make two different
//  submissions share a form.
static void
test_no_two_submissions_share_a_form (void **state)
{
    (void) state;
    s_sub_t a, b;
    s_sub_init (&a);
    s_sub_init (&b);
    //  Moving text from one field into the next.
    a.raw.address_string = "1栋\nphone 11:13800001234";
    a.raw.phone = NULL;
    b.raw.address_string = "1栋";
    s_same (&a.raw, &b.raw, false);
    s_sub_init (&a);
    a.raw.meeting_id = "m-1\nexternal_id -";
    a.raw.external_id = NULL;
    b.raw.meeting_id = "m-1";
    b.raw.external_id = NULL;
    s_same (&a.raw, &b.raw, false);
    //  An attribute code that holds a value's framing.
    s_sub_init (&a);
    s_sub_init (&b);
    a.raw.nattrs = 1;
    a.codes[0] = "utility_type\nvalue 5:water\ncode 6:urgent";
    a.values[0] = "yes";
    s_same (&a.raw, &b.raw, false);
    //  No attributes, and an empty value.
    s_sub_init (&a);
    s_sub_init (&b);
    a.raw.nattrs = 0;
    b.raw.nattrs = 1;
    b.values[0] = "";
    s_same (&a.raw, &b.raw, false);
}

//  The reporter_id came after fingerprints were stored: without one, the
//  form is exactly the one intake computed before (so a retry of a
//  request filed then is still the same request); with one, it is the
//  last line.
static void
test_reporter_id_keeps_old_forms (void **state)
{
    (void) state;
    intake_raw_t raw = {0};
    raw.service_code = "noise";
    raw.description = " x ";
    const char *before = "gongzhi-submission-v1\nchannel 3:BUS\nservice_code 5:noise\n"
                         "description 1:x\nlat -\nlong -\naddress_id -\naddress_string -\n"
                         "phone -\nname -\nemail -\nmedia_url -\nmeeting_id -\n"
                         "external_id -\nattributes 0\n";
    char *form = intake_canonical_form (&raw);
    assert_string_equal (form, before);
    free (form);
    raw.reporter_id = "";
    form = intake_canonical_form (&raw);
    assert_string_equal (form, before);
    free (form);
    raw.reporter_id = "rider:MT-7788";
    form = intake_canonical_form (&raw);
    assert_true (strncmp (form, before, strlen (before)) == 0);
    assert_string_equal (form + strlen (before), "reporter_id 13:rider:MT-7788\n");
    free (form);
    //  A reporter cannot pass for an attribute, nor the reverse.
    s_sub_t a, b;
    s_sub_init (&a);
    s_sub_init (&b);
    a.raw.reporter_id = NULL;
    a.codes[1] = "urgent\nreporter_id 13:rider:MT-7788";
    b.codes[1] = "urgent";
    s_same (&a.raw, &b.raw, false);
}

//  Photos: none leaves the form as it was; their names, their order,
//  their number and whether they may be public each make another form.
static void
test_photos_count (void **state)
{
    (void) state;
    s_sub_t a;
    s_sub_init (&a);
    char *base = intake_canonical_form (&a.raw);
    const char sha[3][65] = {"1111111111111111111111111111111111111111111111111111111111111111",
                             "2222222222222222222222222222222222222222222222222222222222222222",
                             "3333333333333333333333333333333333333333333333333333333333333333"};
    const char swapped[2][65] = {
        "2222222222222222222222222222222222222222222222222222222222222222",
        "1111111111111111111111111111111111111111111111111111111111111111"};
    char *forms[6];
    for (int i = 0; i < 6; i++)
        forms[i] = strdup (base);
    intake_canonical_add_photos (&forms[0], sha, 0, true); //  none: as before
    assert_string_equal (forms[0], base);
    intake_canonical_add_photos (&forms[1], sha, 2, false);
    intake_canonical_add_photos (&forms[2], swapped, 2, false);
    intake_canonical_add_photos (&forms[3], sha, 3, false);
    intake_canonical_add_photos (&forms[4], sha, 2, true);
    intake_canonical_add_photos (&forms[5], sha, 1, false);
    assert_true (strncmp (forms[1], base, strlen (base)) == 0);
    assert_string_equal (forms[1] + strlen (base),
                         "photos 2\nphoto 64:"
                         "1111111111111111111111111111111111111111111111111111111111111111"
                         "\nphoto 64:"
                         "2222222222222222222222222222222222222222222222222222222222222222"
                         "\nphotos_public 2:no\n");
    for (int i = 0; i < 6; i++)
        for (int k = i + 1; k < 6; k++)
            if (i > 0 && strcmp (forms[i], forms[k]) == 0)
                fail_msg ("photo forms %d and %d are the same:\n%s", i, k, forms[i]);
    //  The same photos again: the same form.
    char *again = strdup (base);
    intake_canonical_add_photos (&again, sha, 2, false);
    assert_string_equal (again, forms[1]);
    free (again);
    char *null_form = NULL;
    intake_canonical_add_photos (&null_form, sha, 2, false); //  no key: nothing
    assert_null (null_form);
    for (int i = 0; i < 6; i++)
        free (forms[i]);
    free (base);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_form_is_versioned_and_readable),
        cmocka_unit_test (test_same_submission_same_form),
        cmocka_unit_test (test_every_field_counts),
        cmocka_unit_test (test_no_two_submissions_share_a_form),
        cmocka_unit_test (test_reporter_id_keeps_old_forms),
        cmocka_unit_test (test_photos_count),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
