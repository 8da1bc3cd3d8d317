/*  intake_photo: residents' photos checked and re-encoded (libvips).

    A photo is accepted only when its bytes are a JPEG, PNG, WebP or HEIC
    image (by content: never by file name or declared type), whole (no
    bytes after the image's end: a JPEG followed by a ZIP is refused), and
    within the limits read from its header before any pixel is decoded
    (decompression bombs). What is stored is never the upload: it is
    decoded, turned upright (EXIF orientation), stripped of every piece of
    metadata (EXIF with GPS, camera serial, owner; XMP; IPTC; ICC) and
    re-encoded as a JPEG, with a small thumbnail; its SHA-256 is its name
    (content address). Pure: no database, no HTTP.  */
#ifndef INTAKE_PHOTO_H_INCLUDED
#define INTAKE_PHOTO_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define INTAKE_PHOTO_MAX_BYTES_DEFAULT (10u * 1024 * 1024)   //  GZ_INTAKE_PHOTO_MAX_BYTES
#define INTAKE_PHOTO_MAX_PIXELS_DEFAULT 40000000L            //  GZ_INTAKE_PHOTO_MAX_PIXELS
#define INTAKE_PHOTO_MAX_SIDE 12000                          //  either side of an upload, in pixels
#define INTAKE_PHOTO_MAX_REQUEST_DEFAULT (32L * 1024 * 1024) //  GZ_INTAKE_PHOTO_MAX_REQUEST_BYTES
#define INTAKE_PHOTO_MAX_COUNT 3                             //  photos per filing
#define INTAKE_PHOTO_STORED_SIDE 2560                        //  the stored photo fits this square
#define INTAKE_PHOTO_THUMB_SIDE 320                          //  and its thumbnail this one
#define INTAKE_PHOTO_QUALITY 85                              //  JPEG quality of both

typedef enum {
    INTAKE_PHOTO_UNKNOWN = 0,
    INTAKE_PHOTO_JPEG,
    INTAKE_PHOTO_PNG,
    INTAKE_PHOTO_WEBP,
    INTAKE_PHOTO_HEIC,
} intake_photo_type_t;

typedef enum {
    INTAKE_PHOTO_OK = 0,
    INTAKE_PHOTO_TOO_LARGE, //  more bytes than max_bytes
    INTAKE_PHOTO_NOT_IMAGE, //  not one of the four types, or bytes after its end
    INTAKE_PHOTO_TOO_BIG,   //  its header declares too many pixels or too long a side
    INTAKE_PHOTO_BROKEN,    //  it claims to be an image but does not decode (truncated...)
} intake_photo_error_t;

typedef struct {
    size_t max_bytes;
    int64_t max_pixels;
} intake_photo_limits_t;

//  A re-encoded photo: the caller's, freed by intake_photo_clear.
typedef struct {
    unsigned char *jpeg;
    size_t jpeg_len;
    unsigned char *thumb;
    size_t thumb_len;
    int width, height;
    char sha256[65]; //  hex of jpeg's SHA-256
} intake_photo_t;

//  The defaults, overridden by GZ_INTAKE_PHOTO_MAX_BYTES and
//  GZ_INTAKE_PHOTO_MAX_PIXELS.
intake_photo_limits_t intake_photo_limits_from_env (void);

//  Start libvips once per process (thread-safe) with its untrusted
//  loaders (ImageMagick, PDF...) blocked. 0, or -1 when it cannot start.
int intake_photo_init (void);

//  The type data[0..len) is by its first bytes, or INTAKE_PHOTO_UNKNOWN.
intake_photo_type_t intake_photo_sniff (const void *data, size_t len);

//  Check and re-encode data[0..len). INTAKE_PHOTO_OK and *photo filled
//  (the caller frees it with intake_photo_clear), or why it was refused
//  (then *photo is empty). Safe on any thread.
intake_photo_error_t intake_photo_process (const void *data, size_t len,
                                           const intake_photo_limits_t *limits,
                                           intake_photo_t *photo);

//  Free what intake_photo_process filled; harmless twice.
void intake_photo_clear (intake_photo_t *photo);

//  The resident-facing message (Simplified Chinese) for a refusal.
const char *intake_photo_message (intake_photo_error_t error);

#endif
