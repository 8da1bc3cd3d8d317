/*  Integration tests for photos carried by the bus SubmitRequest (issue
    14) against a real intake, PostgreSQL and ZeroMQ: a JPEG with GPS
    EXIF is stored re-encoded (no EXIF) and linked to the request, public
    when asked; a bad photo (HTML, a truncated JPEG), a fourth photo, or
    one over the photo limit refuses the whole command with BAD_PHOTO or
    TOO_LARGE and stores nothing; a command over GZ_BUS_MAX_COMMAND_BYTES
    gets TOO_LARGE.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vips/vips.h>

#include "gz_codec.h"
#include "gz_db.h"
#include "gz_testdb.h"
#include "gz_testfix.h"
#include "intake_photo.h"
#include "intake_server.h"

#define KEY "test-key-123"
#define MAX_COMMAND (256 * 1024)
#define MAX_PHOTO (100 * 1024)

static struct {
    gz_testdb_t *tdb;
    gz_db_t *db;
    intake_config_t *cfg;
    zactor_t *intake;
    zsock_t *dealer;
} F;

static int
s_setup (void **state)
{
    (void) state;
    setenv ("GZ_ORG_CHECK_MS", "0", 1);
    F.tdb = gz_testdb_new ("intake");
    F.db = gz_db_new (gz_testdb_url (F.tdb), "test");
    gz_testfix_seed_area (F.db);
    F.cfg = gz_testfix_intake_config (gz_testdb_url (F.tdb), "district=" KEY);
    F.cfg->rate = 0;
    F.cfg->base.max_command_bytes = MAX_COMMAND;
    F.cfg->photo.max_bytes = MAX_PHOTO;
    F.intake = zactor_new (intake_server, F.cfg);
    assert_non_null (F.intake);
    int bus = gz_testfix_port (F.intake, "BUSPORT");
    assert_true (bus > 0);
    F.dealer = zsock_new (ZMQ_DEALER);
    assert_int_equal (zsock_connect (F.dealer, "tcp://127.0.0.1:%d", bus), 0);
    zsock_set_rcvtimeo (F.dealer, 20000);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    zsock_destroy (&F.dealer);
    zactor_destroy (&F.intake);
    intake_config_destroy (&F.cfg);
    gz_db_destroy (&F.db);
    gz_testdb_destroy (&F.tdb);
    return 0;
}

//  A w x h JPEG (a gradient) whose EXIF carries GPS latitude 31°14' N and
//  the Artist "ZS"; g_free it.
static void *
s_jpeg_gps (int w, int h, size_t *len_p)
{
    static const unsigned char exif[] = {
        'E',  'x',  'i', 'f', 0,  0, 'I', 'I', 42,  0,   8, 0, 0,  0, 2, 0, //  IFD0: 2 entries
        0x3B, 0x01, 2,   0,   3,  0, 0,   0,   'Z', 'S', 0, 0,              //  Artist "ZS"
        0x25, 0x88, 4,   0,   1,  0, 0,   0,   38,  0,   0, 0,              //  GPS IFD at 38
        0,    0,    0,   0,                                                 //  no next IFD
        2,    0,                                                            //  GPS IFD: 2 entries
        0x01, 0x00, 2,   0,   2,  0, 0,   0,   'N', 0,   0, 0,              //  GPSLatitudeRef "N"
        0x02, 0x00, 5,   0,   3,  0, 0,   0,   68,  0,   0, 0,              //  GPSLatitude at 68
        0,    0,    0,   0,   31, 0, 0,   0,   1,   0,   0, 0, 14, 0, 0, 0,
        1,    0,    0,   0,   0,  0, 0,   0,   1,   0,   0, 0,
    };
    VipsImage *x = NULL, *band = NULL, *rgb = NULL, *im = NULL;
    assert_int_equal (vips_xyz (&x, w, h, NULL), 0);
    assert_int_equal (vips_extract_band (x, &band, 0, NULL), 0);
    VipsImage *parts[3] = {band, band, band};
    assert_int_equal (vips_bandjoin (parts, &rgb, 3, NULL), 0);
    assert_int_equal (vips_cast_uchar (rgb, &im, NULL), 0);
    im->Type = VIPS_INTERPRETATION_sRGB;
    vips_image_set_blob_copy (im, "exif-data", exif, sizeof exif);
    void *buf = NULL;
    assert_int_equal (vips_jpegsave_buffer (im, &buf, len_p, "Q", 90, NULL), 0);
    g_object_unref (im);
    g_object_unref (rgb);
    g_object_unref (band);
    g_object_unref (x);
    return buf;
}

//  Send req with photos (borrowed) and wait for the reply (caller frees).
static Gongzhi__V1__SubmitReply *
s_submit (const char *idem, ProtobufCBinaryData *photos, size_t n, bool public_)
{
    Gongzhi__V1__Location loc = GONGZHI__V1__LOCATION__INIT;
    loc.building_code = "B2";
    Gongzhi__V1__SubmitRequest req = GONGZHI__V1__SUBMIT_REQUEST__INIT;
    req.service_code = "property";
    req.description = "井盖坏了";
    req.location = &loc;
    req.channel = GONGZHI__V1__CHANNEL__RIDER;
    req.photos = photos;
    req.n_photos = n;
    req.photos_public = public_;
    zframe_t *f = gz_codec_envelope_frame ("SubmitRequest", NULL, idem, KEY, &req.base);
    assert_int_equal (zframe_send (&f, F.dealer, 0), 0);
    zframe_t *reply = zframe_recv (F.dealer);
    assert_non_null (reply);
    gz_envelope_t *env = gz_codec_envelope_decode (zframe_data (reply), zframe_size (reply));
    zframe_destroy (&reply);
    assert_non_null (env);
    assert_string_equal (env->type, "SubmitReply");
    Gongzhi__V1__SubmitReply *out =
        gongzhi__v1__submit_reply__unpack (NULL, env->payload.len, env->payload.data);
    gz_codec_envelope_free (&env);
    assert_non_null (out);
    return out;
}

static long long
s_stored (void)
{
    return gz_testfix_scalar (F.db, "SELECT (SELECT count(*) FROM intake.requests) * 1000"
                                    " + (SELECT count(*) FROM intake.photos) * 10"
                                    " + (SELECT count(*) FROM intake.request_photos)");
}

//  The bytes of the photo request id refers to at idx (caller frees).
static unsigned char *
s_stored_photo (const char *id, int idx, size_t *len_p)
{
    char sql[256];
    snprintf (sql, sizeof sql,
              "SELECT p.bytes FROM intake.photos p JOIN intake.request_photos rp"
              " ON rp.sha256 = p.sha256 WHERE rp.request_id = %s AND rp.idx = %d",
              id, idx);
    PGresult *r = PQexecParams (gz_db_conn (F.db), sql, 0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal (PQresultStatus (r), PGRES_TUPLES_OK);
    assert_int_equal (PQntuples (r), 1);
    *len_p = (size_t) PQgetlength (r, 0, 0);
    unsigned char *out = malloc (*len_p);
    memcpy (out, PQgetvalue (r, 0, 0), *len_p);
    PQclear (r);
    return out;
}

static void
test_bus_photo_stored_without_exif (void **state)
{
    (void) state;
    size_t len = 0;
    void *jpeg = s_jpeg_gps (300, 200, &len);
    assert_non_null (memmem (jpeg, len, "Exif", 4));
    ProtobufCBinaryData photos[1] = {{len, jpeg}};
    Gongzhi__V1__SubmitReply *rep = s_submit ("bus-photo-1", photos, 1, true);
    assert_true (rep->ok);
    char *id = strdup (rep->service_request_id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);

    size_t n = 0;
    unsigned char *stored = s_stored_photo (id, 0, &n);
    assert_true (n > 100);
    assert_null (memmem (stored, n, "Exif", 4));
    assert_null (memmem (stored, n, "ZS", 2));
    VipsImage *im = vips_image_new_from_buffer (stored, n, "", NULL);
    assert_non_null (im);
    assert_int_equal (vips_image_get_width (im), 300);
    assert_int_equal (vips_image_get_typeof (im, "exif-data"), 0);
    assert_int_equal (vips_image_get_typeof (im, "exif-ifd3-GPSLatitude"), 0);
    g_object_unref (im);
    free (stored);
    char sql[160];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.request_photos WHERE request_id = %s AND public", id);
    assert_int_equal (gz_testfix_scalar (F.db, sql), 1);

    //  The same command again: a duplicate, no second link.
    long long before = s_stored ();
    rep = s_submit ("bus-photo-1", photos, 1, true);
    assert_true (rep->ok);
    assert_true (rep->duplicate);
    assert_string_equal (rep->service_request_id, id);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (s_stored (), before);

    //  The same key with another photo: the key was used for another
    //  request; refused, nothing stored.
    size_t len2 = 0;
    void *jpeg2 = s_jpeg_gps (200, 300, &len2);
    ProtobufCBinaryData other[1] = {{len2, jpeg2}};
    rep = s_submit ("bus-photo-1", other, 1, true);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    //  Nor without its photo, nor with it private.
    rep = s_submit ("bus-photo-1", NULL, 0, false);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    rep = s_submit ("bus-photo-1", photos, 1, false);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__IDEMPOTENCY_MISMATCH);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    assert_int_equal (s_stored (), before);
    g_free (jpeg2);
    g_free (jpeg);
    free (id);
}

static void
test_bus_bad_photos_refused (void **state)
{
    (void) state;
    size_t len = 0;
    void *jpeg = s_jpeg_gps (120, 80, &len);
    const char *html = "<!DOCTYPE html><html><script>alert(1)</script></html>";
    long long before = s_stored ();

    //  A good photo then HTML: the whole command refused, naming photo 2.
    ProtobufCBinaryData two[2] = {{len, jpeg}, {strlen (html), (uint8_t *) html}};
    Gongzhi__V1__SubmitReply *rep = s_submit ("bus-bad-1", two, 2, false);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_PHOTO);
    assert_non_null (strstr (rep->message, "photo 2"));
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);

    //  A truncated JPEG.
    ProtobufCBinaryData cut[1] = {{len / 2, jpeg}};
    rep = s_submit ("bus-bad-2", cut, 1, false);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_PHOTO);
    assert_non_null (strstr (rep->message, "broken"));
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);

    //  Four photos.
    ProtobufCBinaryData four[4] = {{len, jpeg}, {len, jpeg}, {len, jpeg}, {len, jpeg}};
    rep = s_submit ("bus-bad-3", four, 4, false);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__BAD_PHOTO);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);

    //  Over the photo limit (within the command limit): TOO_LARGE.
    size_t big = MAX_PHOTO + 1;
    unsigned char *pad = calloc (1, big);
    memcpy (pad, jpeg, len);
    ProtobufCBinaryData large[1] = {{big, pad}};
    rep = s_submit ("bus-bad-4", large, 1, false);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__TOO_LARGE);
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);

    //  Over the command limit: TOO_LARGE before it is decoded.
    ProtobufCBinaryData three[3] = {{big, pad}, {big, pad}, {big, pad}};
    rep = s_submit ("bus-bad-5", three, 3, false);
    assert_false (rep->ok);
    assert_int_equal (rep->error, GONGZHI__V1__ERROR_CODE__TOO_LARGE);
    assert_non_null (strstr (rep->message, "GZ_BUS_MAX_COMMAND_BYTES"));
    gongzhi__v1__submit_reply__free_unpacked (rep, NULL);
    free (pad);

    assert_int_equal (s_stored (), before);
    g_free (jpeg);
}

int
main (void)
{
    assert_int_equal (intake_photo_init (), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bus_photo_stored_without_exif),
        cmocka_unit_test (test_bus_bad_photos_refused),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
