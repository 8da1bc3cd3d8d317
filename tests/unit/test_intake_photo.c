/*  Unit tests for intake_photo: the checks and the re-encoding of
    residents' photos. Every image is made here with libvips (the EXIF
    block with GPS, an owner's name and orientation 6 is built by hand, a
    TIFF structure of three tags and a GPS directory). The stored photo
    keeps no metadata and is upright; a truncated JPEG, a PNG declaring
    100000 x 100000 pixels, a JPEG followed by a ZIP, HTML with any name,
    a PNG with a trailer and an upload over the byte limit are refused.  */
#include <assert.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "intake_photo.h"

//  LeakSanitizer (GZ_SANITIZE builds): libx265, which libheif uses only to
//  make this test's HEIC image, keeps two buffers it never frees.
const char *__lsan_default_suppressions (void);
const char *
__lsan_default_suppressions (void)
{
    return "leak:libx265\n";
}

static intake_photo_limits_t s_limits = {INTAKE_PHOTO_MAX_BYTES_DEFAULT,
                                         INTAKE_PHOTO_MAX_PIXELS_DEFAULT};

//  An EXIF block (as JPEG's APP1 carries it): IFD0 with Orientation 6,
//  Artist "ZS" and a GPS pointer; a GPS IFD with LatitudeRef "N" and
//  Latitude 31/1 14/1 0/1. Little-endian TIFF.
static size_t
s_exif (unsigned char *b)
{
    unsigned char t[] = {
        'E',  'x',  'i', 'f', 0,  0, 'I', 'I', 42,  0,   8, 0, 0,  0, 3, 0, //  IFD0 at 8: 3 entries
        0x12, 0x01, 3,   0,   1,  0, 0,   0,   6,   0,   0, 0,              //  Orientation SHORT 6
        0x3B, 0x01, 2,   0,   3,  0, 0,   0,   'Z', 'S', 0, 0,              //  Artist ASCII "ZS"
        0x25, 0x88, 4,   0,   1,  0, 0,   0,   50,  0,   0, 0,              //  GPS IFD at 50
        0,    0,    0,   0,                                                 //  no next IFD
        2,    0,                                               //  GPS IFD at 50: 2 entries
        0x01, 0x00, 2,   0,   2,  0, 0,   0,   'N', 0,   0, 0, //  GPSLatitudeRef "N"
        0x02, 0x00, 5,   0,   3,  0, 0,   0,   80,  0,   0, 0, //  GPSLatitude at 80
        0,    0,    0,   0,   31, 0, 0,   0,   1,   0,   0, 0, 14, 0, 0, 0,
        1,    0,    0,   0,   0,  0, 0,   0,   1,   0,   0, 0,
    };
    memcpy (b, t, sizeof t);
    return sizeof t;
}

//  A w x h colour image with a gradient (so JPEG has something to code).
static VipsImage *
s_image (int w, int h, int bands)
{
    VipsImage *x = NULL, *out = NULL;
    assert_int_equal (vips_xyz (&x, w, h, NULL), 0);
    VipsImage *parts[4];
    for (int i = 0; i < bands; i++)
        assert_int_equal (vips_extract_band (x, &parts[i], i % 2, NULL), 0);
    VipsImage *joined = NULL;
    assert_int_equal (vips_bandjoin (parts, &joined, bands, NULL), 0);
    for (int i = 0; i < bands; i++)
        g_object_unref (parts[i]);
    g_object_unref (x);
    assert_int_equal (vips_cast_uchar (joined, &out, NULL), 0);
    g_object_unref (joined);
    out->Type = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    return out;
}

static void *
s_jpeg (int w, int h, bool exif, size_t *len_p)
{
    VipsImage *im = s_image (w, h, 3);
    if (exif) {
        unsigned char b[256];
        size_t n = s_exif (b);
        vips_image_set_blob_copy (im, "exif-data", b, n);
    }
    void *buf = NULL;
    assert_int_equal (vips_jpegsave_buffer (im, &buf, len_p, "Q", 90, NULL), 0);
    g_object_unref (im);
    return buf;
}

static void
test_sniff_by_content (void **state)
{
    (void) state;
    size_t len = 0;
    void *jpeg = s_jpeg (16, 16, false, &len);
    assert_int_equal (intake_photo_sniff (jpeg, len), INTAKE_PHOTO_JPEG);
    g_free (jpeg);
    assert_int_equal (intake_photo_sniff ("\x89PNG\r\n\x1a\nxxxx", 12), INTAKE_PHOTO_PNG);
    assert_int_equal (intake_photo_sniff ("RIFF\0\0\0\0WEBPVP8 ", 16), INTAKE_PHOTO_WEBP);
    assert_int_equal (intake_photo_sniff ("\0\0\0\x18"
                                          "ftypheic",
                                          12),
                      INTAKE_PHOTO_HEIC);
    assert_int_equal (intake_photo_sniff ("\0\0\0\x18"
                                          "ftypmp42",
                                          12),
                      INTAKE_PHOTO_UNKNOWN);
    assert_int_equal (intake_photo_sniff ("GIF89a", 6), INTAKE_PHOTO_UNKNOWN);
    //  HTML, whatever it is called: the name never reaches intake_photo.
    const char *html = "<!DOCTYPE html><html><script>alert(1)</script></html>";
    intake_photo_t p;
    assert_int_equal (intake_photo_process (html, strlen (html), &s_limits, &p),
                      INTAKE_PHOTO_NOT_IMAGE);
    assert_null (p.jpeg);
}

static bool
s_has_metadata (const unsigned char *buf, size_t len)
{
    VipsImage *im = vips_image_new_from_buffer (buf, len, "", NULL);
    assert_non_null (im);
    gchar **fields = vips_image_get_fields (im);
    bool found = false;
    for (int i = 0; fields[i]; i++)
        if (strncmp (fields[i], "exif", 4) == 0 || strcmp (fields[i], "xmp-data") == 0 ||
            strcmp (fields[i], "iptc-data") == 0 || strcmp (fields[i], "icc-profile-data") == 0 ||
            strcmp (fields[i], "orientation") == 0)
            found = true;
    g_strfreev (fields);
    g_object_unref (im);
    return found || memmem (buf, len, "Exif", 4) || memmem (buf, len, "ZS", 3);
}

static void
test_metadata_stripped_and_upright (void **state)
{
    (void) state;
    size_t len = 0;
    unsigned char *jpeg = s_jpeg (200, 100, true, &len);
    //  The upload does carry the GPS position and the owner.
    VipsImage *in = vips_image_new_from_buffer (jpeg, len, "", NULL);
    assert_non_null (in);
    assert_true (vips_image_get_typeof (in, "exif-ifd3-GPSLatitude") != 0);
    assert_true (vips_image_get_typeof (in, "exif-ifd0-Artist") != 0);
    g_object_unref (in);
    assert_true (s_has_metadata (jpeg, len));

    intake_photo_t p;
    assert_int_equal (intake_photo_process (jpeg, len, &s_limits, &p), INTAKE_PHOTO_OK);
    assert_false (s_has_metadata (p.jpeg, p.jpeg_len));
    assert_false (s_has_metadata (p.thumb, p.thumb_len));
    //  Orientation 6: stored turned upright, the sides swapped.
    assert_int_equal (p.width, 100);
    assert_int_equal (p.height, 200);
    assert_int_equal (strlen (p.sha256), 64);
    //  Content-addressed: the same upload gives the same name.
    intake_photo_t q;
    assert_int_equal (intake_photo_process (jpeg, len, &s_limits, &q), INTAKE_PHOTO_OK);
    assert_string_equal (p.sha256, q.sha256);
    intake_photo_clear (&q);
    intake_photo_clear (&p);
    intake_photo_clear (&p);
    assert_null (p.jpeg);
    g_free (jpeg);
}

static void
test_sizes (void **state)
{
    (void) state;
    size_t len = 0;
    void *jpeg = s_jpeg (4000, 3000, false, &len);
    intake_photo_t p;
    assert_int_equal (intake_photo_process (jpeg, len, &s_limits, &p), INTAKE_PHOTO_OK);
    assert_int_equal (p.width, 2560);
    assert_int_equal (p.height, 1920);
    VipsImage *t = vips_image_new_from_buffer (p.thumb, p.thumb_len, "", NULL);
    assert_non_null (t);
    assert_int_equal (vips_image_get_width (t), 320);
    assert_int_equal (vips_image_get_height (t), 240);
    g_object_unref (t);
    intake_photo_clear (&p);
    intake_photo_limits_t small = {len - 1, INTAKE_PHOTO_MAX_PIXELS_DEFAULT};
    assert_int_equal (intake_photo_process (jpeg, len, &small, &p), INTAKE_PHOTO_TOO_LARGE);
    intake_photo_limits_t few = {INTAKE_PHOTO_MAX_BYTES_DEFAULT, 4000L * 3000 - 1};
    assert_int_equal (intake_photo_process (jpeg, len, &few, &p), INTAKE_PHOTO_TOO_BIG);
    g_free (jpeg);
}

static void
test_truncated_refused (void **state)
{
    (void) state;
    size_t len = 0;
    unsigned char *jpeg = s_jpeg (640, 480, false, &len);
    intake_photo_t p;
    assert_int_equal (intake_photo_process (jpeg, len / 2, &s_limits, &p), INTAKE_PHOTO_BROKEN);
    assert_int_equal (intake_photo_process (jpeg, len - 2, &s_limits, &p), INTAKE_PHOTO_BROKEN);
    assert_null (p.jpeg);
    g_free (jpeg);
}

static uint32_t
s_crc (const unsigned char *d, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t
s_chunk (unsigned char *out, const char *type, const unsigned char *data, uint32_t n)
{
    out[0] = (unsigned char) (n >> 24), out[1] = (unsigned char) (n >> 16);
    out[2] = (unsigned char) (n >> 8), out[3] = (unsigned char) n;
    memcpy (out + 4, type, 4);
    if (n)
        memcpy (out + 8, data, n);
    uint32_t c = s_crc (out + 4, n + 4);
    out[8 + n] = (unsigned char) (c >> 24), out[9 + n] = (unsigned char) (c >> 16);
    out[10 + n] = (unsigned char) (c >> 8), out[11 + n] = (unsigned char) c;
    return 12 + n;
}

static void
test_png_bomb_refused_from_header (void **state)
{
    (void) state;
    //  100000 x 100000, 8-bit grey: 10 GB of pixels declared in 60 bytes.
    unsigned char png[256], ihdr[13] = {0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 0, 0, 0, 0};
    static const unsigned char idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    size_t n = 8;
    memcpy (png, "\x89PNG\r\n\x1a\n", 8);
    n += s_chunk (png + n, "IHDR", ihdr, sizeof ihdr);
    n += s_chunk (png + n, "IDAT", idat, sizeof idat);
    n += s_chunk (png + n, "IEND", NULL, 0);
    intake_photo_t p;
    assert_int_equal (intake_photo_process (png, n, &s_limits, &p), INTAKE_PHOTO_TOO_BIG);
    //  A trailer after IEND makes a PNG something else too.
    memcpy (png + n, "<html>", 6);
    assert_int_equal (intake_photo_process (png, n + 6, &s_limits, &p), INTAKE_PHOTO_NOT_IMAGE);
}

static void
test_polyglot (void **state)
{
    (void) state;
    size_t len = 0;
    unsigned char *jpeg = s_jpeg (64, 48, false, &len);
    unsigned char *glued = malloc (len + 64);
    memcpy (glued, jpeg, len);
    //  JPEG then a ZIP: refused.
    memcpy (glued + len, "PK\x03\x04\x14\0\0\0\0\0evil.html", 19);
    intake_photo_t p;
    assert_int_equal (intake_photo_process (glued, len + 19, &s_limits, &p),
                      INTAKE_PHOTO_NOT_IMAGE);
    memcpy (glued + len, "\n<SCRIPT>alert(1)</SCRIPT>", 26);
    assert_int_equal (intake_photo_process (glued, len + 26, &s_limits, &p),
                      INTAKE_PHOTO_NOT_IMAGE);
    //  A phone's motion-photo trailer (a video after the JPEG): accepted,
    //  and not stored.
    memcpy (glued + len,
            "\0\0\0\x18"
            "ftypmp42MOTIONPHOTO",
            23);
    assert_int_equal (intake_photo_process (glued, len + 23, &s_limits, &p), INTAKE_PHOTO_OK);
    assert_null (memmem (p.jpeg, p.jpeg_len, "MOTIONPHOTO", 11));
    intake_photo_clear (&p);
    free (glued);
    g_free (jpeg);
}

static void
test_other_types (void **state)
{
    (void) state;
    VipsImage *im = s_image (300, 200, 4); //  with alpha
    void *buf = NULL;
    size_t len = 0;
    intake_photo_t p;
    assert_int_equal (vips_pngsave_buffer (im, &buf, &len, NULL), 0);
    assert_int_equal (intake_photo_process (buf, len, &s_limits, &p), INTAKE_PHOTO_OK);
    assert_int_equal (p.width, 300);
    intake_photo_clear (&p);
    g_free (buf);
    assert_int_equal (vips_webpsave_buffer (im, &buf, &len, NULL), 0);
    assert_int_equal (intake_photo_process (buf, len, &s_limits, &p), INTAKE_PHOTO_OK);
    assert_int_equal (p.height, 200);
    intake_photo_clear (&p);
    g_free (buf);
    //  HEIC when this libheif can encode one (decoding is what matters).
    if (vips_heifsave_buffer (im, &buf, &len, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
                              NULL) == 0) {
        assert_int_equal (intake_photo_sniff (buf, len), INTAKE_PHOTO_HEIC);
        assert_int_equal (intake_photo_process (buf, len, &s_limits, &p), INTAKE_PHOTO_OK);
        intake_photo_clear (&p);
        g_free (buf);
    }
    else {
        fprintf (stderr, "note: no HEVC encoder here; HEIC decoding not exercised\n");
        vips_error_clear ();
    }
    g_object_unref (im);
}

int
main (void)
{
    assert (intake_photo_init () == 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sniff_by_content),
        cmocka_unit_test (test_metadata_stripped_and_upright),
        cmocka_unit_test (test_sizes),
        cmocka_unit_test (test_truncated_refused),
        cmocka_unit_test (test_png_bomb_refused_from_header),
        cmocka_unit_test (test_polyglot),
        cmocka_unit_test (test_other_types),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
