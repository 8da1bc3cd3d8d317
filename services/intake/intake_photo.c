/*  intake_photo: residents' photos checked and re-encoded. See
    intake_photo.h; docs/photos.md says what is refused and why.

    DESIGN: three gates before a pixel is decoded. (1) The type by the
    first bytes: JPEG, PNG, WebP, HEIC; nothing else reaches libvips, and
    libvips' untrusted loaders (ImageMagick, PDF, SVG...) are blocked
    anyway. (2) The structure: the image's end is found by walking its
    segments or chunks; an image that stops early is broken (truncated),
    and bytes after the end are refused when they make the file a
    polyglot (a ZIP, HTML or script; PNG and WebP allow no trailer at all;
    a JPEG may carry a phone's motion-photo trailer, which the re-encoding
    drops). (3) The header: libvips opens the image lazily (sequential
    access, failing on truncation), and its declared size is checked
    against the limits before anything is decoded. Only then the image is
    decoded with shrink-on-load (vips_thumbnail), turned upright,
    flattened and converted to sRGB, and saved as a JPEG with every piece
    of metadata stripped; the thumbnail is made from that JPEG. libvips' cache
    is off, so nothing outlives a call.  */
#include "intake_photo.h"
#include "gz_config.h"
#include "gz_log.h"

#include <vips/vips.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

intake_photo_limits_t
intake_photo_limits_from_env (void)
{
    intake_photo_limits_t l;
    l.max_bytes = (size_t) gz_config_int ("GZ_INTAKE_PHOTO_MAX_BYTES",
                                          INTAKE_PHOTO_MAX_BYTES_DEFAULT, 1024, 100L * 1024 * 1024);
    l.max_pixels = gz_config_int ("GZ_INTAKE_PHOTO_MAX_PIXELS", INTAKE_PHOTO_MAX_PIXELS_DEFAULT,
                                  1000, 200000000L);
    return l;
}

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_init_rc = -1; //  written once under s_once

static void
s_init (void)
{
    if (VIPS_INIT ("gongzhi") != 0) {
        gz_error ("photo", "msg=\"libvips did not start\" error=\"%s\"", vips_error_buffer ());
        return;
    }
    vips_block_untrusted_set (TRUE);
    vips_cache_set_max (0);
    s_init_rc = 0;
}

int
intake_photo_init (void)
{
    pthread_once (&s_once, s_init);
    return s_init_rc;
}

intake_photo_type_t
intake_photo_sniff (const void *data, size_t len)
{
    const unsigned char *d = data;
    if (len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return INTAKE_PHOTO_JPEG;
    if (len >= 8 && memcmp (d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return INTAKE_PHOTO_PNG;
    if (len >= 12 && memcmp (d, "RIFF", 4) == 0 && memcmp (d + 8, "WEBP", 4) == 0)
        return INTAKE_PHOTO_WEBP;
    if (len >= 12 && memcmp (d + 4, "ftyp", 4) == 0 &&
        (memcmp (d + 8, "heic", 4) == 0 || memcmp (d + 8, "heix", 4) == 0 ||
         memcmp (d + 8, "mif1", 4) == 0))
        return INTAKE_PHOTO_HEIC;
    return INTAKE_PHOTO_UNKNOWN;
}

//  Where a JPEG ends (just past its EOI marker), or -1 when it stops
//  before: the segments are walked to each start of scan, whose entropy
//  data runs to the next marker that is not a restart or a stuffed byte.
static long
s_jpeg_end (const unsigned char *d, size_t len)
{
    size_t i = 2;
    while (i < len) {
        if (d[i] != 0xFF)
            return -1;
        while (i < len && d[i] == 0xFF)
            i++;
        if (i >= len)
            return -1;
        unsigned m = d[i++];
        if (m == 0xD9)
            return (long) i;
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01)
            continue;
        if (i + 2 > len)
            return -1;
        size_t seg = ((size_t) d[i] << 8) | d[i + 1];
        if (seg < 2 || seg > len - i)
            return -1;
        i += seg;
        if (m != 0xDA)
            continue;
        while (i + 1 < len && !(d[i] == 0xFF && d[i + 1] != 0x00 && d[i + 1] != 0xFF &&
                                !(d[i + 1] >= 0xD0 && d[i + 1] <= 0xD7)))
            i++;
        if (i + 1 >= len)
            return -1;
    }
    return -1;
}

//  Where a PNG ends (past its IEND chunk), or -1.
static long
s_png_end (const unsigned char *d, size_t len)
{
    size_t i = 8;
    while (len - i >= 12) {
        size_t n =
            ((size_t) d[i] << 24) | ((size_t) d[i + 1] << 16) | ((size_t) d[i + 2] << 8) | d[i + 3];
        if (n > len - i - 12)
            return -1;
        bool iend = memcmp (d + i + 4, "IEND", 4) == 0;
        i += 12 + n;
        if (iend)
            return (long) i;
    }
    return -1;
}

//  Where a WebP ends (its RIFF size), or -1.
static long
s_webp_end (const unsigned char *d, size_t len)
{
    size_t n = (size_t) d[4] | ((size_t) d[5] << 8) | ((size_t) d[6] << 16) | ((size_t) d[7] << 24);
    size_t end = n + 8 + (n & 1);
    return end <= len || n + 8 == len ? (long) (end <= len ? end : len) : -1;
}

static bool
s_holds (const unsigned char *d, size_t len, const char *needle, bool nocase)
{
    size_t n = strlen (needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (nocase ? strncasecmp ((const char *) d + i, needle, n) == 0
                   : memcmp (d + i, needle, n) == 0)
            return true;
    return false;
}

//  Bytes after the image that make it something else too.
static bool
s_polyglot_trailer (const unsigned char *d, size_t len)
{
    static const char *markers[] = {"<html", "<script", "<!doctype", "<svg",
                                    "<?php", "<body",   "%PDF-"};
    if (s_holds (d, len, "PK\x03\x04", false) || s_holds (d, len, "PK\x05\x06", false))
        return true;
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        if (s_holds (d, len, markers[i], true))
            return true;
    return false;
}

//  Gate (2): the image's end, and what follows it.
static intake_photo_error_t
s_check_structure (intake_photo_type_t type, const unsigned char *d, size_t len)
{
    long end = (long) len;
    if (type == INTAKE_PHOTO_JPEG)
        end = s_jpeg_end (d, len);
    else if (type == INTAKE_PHOTO_PNG)
        end = s_png_end (d, len);
    else if (type == INTAKE_PHOTO_WEBP)
        end = s_webp_end (d, len);
    if (end < 0)
        return INTAKE_PHOTO_BROKEN;
    size_t tail = len - (size_t) end;
    if (tail == 0)
        return INTAKE_PHOTO_OK;
    if (type != INTAKE_PHOTO_JPEG || s_polyglot_trailer (d + end, tail))
        return INTAKE_PHOTO_NOT_IMAGE;
    return INTAKE_PHOTO_OK;
}

//  Gate (3): the declared size, from the header alone.
static intake_photo_error_t
s_check_header (const void *data, size_t len, const intake_photo_limits_t *limits)
{
    VipsImage *head = vips_image_new_from_buffer (data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                                  "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    if (!head)
        return INTAKE_PHOTO_BROKEN;
    int64_t w = vips_image_get_width (head), h = vips_image_get_height (head);
    g_object_unref (head);
    if (w <= 0 || h <= 0)
        return INTAKE_PHOTO_BROKEN;
    if (w > INTAKE_PHOTO_MAX_SIDE || h > INTAKE_PHOTO_MAX_SIDE || w * h > limits->max_pixels)
        return INTAKE_PHOTO_TOO_BIG;
    return INTAKE_PHOTO_OK;
}

//  An image ready for JPEG: sRGB (or grey), no alpha. Takes *in_p.
static VipsImage *
s_for_jpeg (VipsImage **in_p)
{
    VipsImage *in = *in_p, *out = NULL;
    *in_p = NULL;
    if (vips_image_hasalpha (in)) {
        VipsArrayDouble *white = vips_array_double_newv (1, 255.0);
        int rc = vips_flatten (in, &out, "background", white, NULL);
        vips_area_unref (VIPS_AREA (white));
        g_object_unref (in);
        if (rc != 0)
            return NULL;
        in = out;
    }
    VipsInterpretation want = in->Bands < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    if (vips_colourspace (in, &out, want, NULL) != 0) {
        g_object_unref (in);
        return NULL;
    }
    g_object_unref (in);
    in = out;
    if (vips_cast_uchar (in, &out, NULL) != 0) {
        g_object_unref (in);
        return NULL;
    }
    g_object_unref (in);
    return out;
}

static int
s_save (VipsImage *image, unsigned char **buf_p, size_t *len_p)
{
    void *buf = NULL;
    size_t len = 0;
    if (vips_jpegsave_buffer (image, &buf, &len, "Q", INTAKE_PHOTO_QUALITY, "strip", TRUE,
                              "optimize_coding", TRUE, "interlace", FALSE, NULL) != 0)
        return -1;
    *buf_p = malloc (len);
    if (!*buf_p)
        abort ();
    memcpy (*buf_p, buf, len);
    *len_p = len;
    g_free (buf);
    return 0;
}

//  Decode (upright, shrunk on load), re-encode, thumbnail.
static intake_photo_error_t
s_reencode (const void *data, size_t len, intake_photo_t *photo)
{
    VipsImage *big = NULL, *thumb = NULL;
    intake_photo_error_t rc = INTAKE_PHOTO_BROKEN;
    if (vips_thumbnail_buffer ((void *) data, len, &big, INTAKE_PHOTO_STORED_SIDE, "height",
                               INTAKE_PHOTO_STORED_SIDE, "size", VIPS_SIZE_DOWN, "option_string",
                               "fail_on=truncated", NULL) != 0)
        goto cleanup;
    big = s_for_jpeg (&big);
    if (!big || s_save (big, &photo->jpeg, &photo->jpeg_len) != 0)
        goto cleanup;
    photo->width = vips_image_get_width (big);
    photo->height = vips_image_get_height (big);
    //  The thumbnail from the stored JPEG: the decoded image was read
    //  once, sequentially, and cannot be read again.
    if (vips_thumbnail_buffer (photo->jpeg, photo->jpeg_len, &thumb, INTAKE_PHOTO_THUMB_SIDE,
                               "height", INTAKE_PHOTO_THUMB_SIDE, "size", VIPS_SIZE_DOWN,
                               NULL) != 0 ||
        s_save (thumb, &photo->thumb, &photo->thumb_len) != 0)
        goto cleanup;
    gchar *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, photo->jpeg, photo->jpeg_len);
    g_strlcpy (photo->sha256, hex, sizeof photo->sha256);
    g_free (hex);
    rc = INTAKE_PHOTO_OK;
cleanup:
    if (big)
        g_object_unref (big);
    if (thumb)
        g_object_unref (thumb);
    return rc;
}

intake_photo_error_t
intake_photo_process (const void *data, size_t len, const intake_photo_limits_t *limits,
                      intake_photo_t *photo)
{
    memset (photo, 0, sizeof *photo);
    if (len > limits->max_bytes)
        return INTAKE_PHOTO_TOO_LARGE;
    intake_photo_type_t type = intake_photo_sniff (data, len);
    if (type == INTAKE_PHOTO_UNKNOWN)
        return INTAKE_PHOTO_NOT_IMAGE;
    intake_photo_error_t rc = s_check_structure (type, data, len);
    if (rc == INTAKE_PHOTO_OK && intake_photo_init () != 0)
        rc = INTAKE_PHOTO_BROKEN;
    if (rc == INTAKE_PHOTO_OK)
        rc = s_check_header (data, len, limits);
    if (rc == INTAKE_PHOTO_OK)
        rc = s_reencode (data, len, photo);
    if (rc != INTAKE_PHOTO_OK) {
        if (rc == INTAKE_PHOTO_BROKEN && *vips_error_buffer ()) {
            char detail[256];
            g_strlcpy (detail, vips_error_buffer (), sizeof detail);
            for (char *c = detail; *c; c++)
                if (*c == '"' || *c == '\n' || *c == '\\')
                    *c = ' ';
            gz_info ("photo", "msg=\"photo refused\" reason=broken detail=\"%s\"", detail);
        }
        vips_error_clear ();
        intake_photo_clear (photo);
    }
    return rc;
}

void
intake_photo_clear (intake_photo_t *photo)
{
    free (photo->jpeg);
    free (photo->thumb);
    memset (photo, 0, sizeof *photo);
}

const char *
intake_photo_message (intake_photo_error_t error)
{
    switch (error) {
        case INTAKE_PHOTO_OK:
            return "";
        case INTAKE_PHOTO_TOO_LARGE:
            return "照片太大（每张不能超过上传上限，默认 10 MB），请压缩或重新拍照后重试。";
        case INTAKE_PHOTO_NOT_IMAGE:
            return "只能上传照片（JPEG、PNG、WebP 或 HEIC 格式），这个文件不是照片。";
        case INTAKE_PHOTO_TOO_BIG:
            return "照片尺寸过大，请用手机相机直接拍照上传。";
        case INTAKE_PHOTO_BROKEN:
            return "照片已损坏或不完整，请重新拍照上传。";
    }
    return "照片无法使用。";
}
