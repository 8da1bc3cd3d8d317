/*  fuzz_envelope: libFuzzer harness for what intake's ROUTER does with a
    bus frame (intake_server.c s_on_router): gz_codec_envelope_decode on
    arbitrary bytes, then the payload unpacked as a SubmitRequest (here
    whatever the envelope's type says, to reach the payload decoder more
    often), and every field read the way intake reads it.

    Properties: what decodes packs again; when it carried no unknown
    fields, the packed bytes decode to a message that packs to the same
    bytes. (protobuf-c 1.4.1 keeps unknown fields whose tag it cannot
    write back: a multi-byte tag 0, or a tag over 2^29 - 1, wrapped. It
    re-emits them as they are, and that no longer decodes. The services
    never repack a received message, so this is not checked for them.)  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gz_codec.h"

static void
s_require (int ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_envelope: property violated: %s\n", what);
        abort ();
    }
}

//  Touch every byte of a decoded string, as intake's validation will.
static size_t
s_touch (const char *s)
{
    return s ? strlen (s) : 0;
}

static void
s_submit (const uint8_t *data, size_t len)
{
    Gongzhi__V1__SubmitRequest *req = gongzhi__v1__submit_request__unpack (NULL, len, data);
    if (!req)
        return;
    size_t total = s_touch (req->service_code) + s_touch (req->description) + s_touch (req->phone) +
                   s_touch (req->media_url) + s_touch (req->meeting_id) +
                   s_touch (req->external_id) + s_touch (req->submitter_name);
    size_t unknown = req->base.n_unknown_fields;
    if (req->location) {
        unknown += req->location->base.n_unknown_fields;
        char lat[40];
        snprintf (lat, sizeof lat, "%.9g %.9g", req->location->lat, req->location->lon);
        total += s_touch (req->location->building_code) + s_touch (req->location->address);
    }
    for (size_t i = 0; i < req->n_attributes; i++) {
        s_require (req->attributes[i] != NULL, "attributes are not NULL");
        unknown += req->attributes[i]->base.n_unknown_fields;
        total += s_touch (req->attributes[i]->code) + s_touch (req->attributes[i]->value);
    }
    s_require (total <= len, "strings fit in the payload");
    size_t n1 = 0, n2 = 0;
    uint8_t *buf1 = gz_codec_pack_buf (&req->base, &n1);
    Gongzhi__V1__SubmitRequest *again = gongzhi__v1__submit_request__unpack (NULL, n1, buf1);
    if (unknown == 0) {
        s_require (again != NULL, "a packed SubmitRequest unpacks");
        uint8_t *buf2 = gz_codec_pack_buf (&again->base, &n2);
        s_require (n1 == n2 && memcmp (buf1, buf2, n1) == 0, "SubmitRequest packing is stable");
        free (buf2);
    }
    free (buf1);
    if (again)
        gongzhi__v1__submit_request__free_unpacked (again, NULL);
    gongzhi__v1__submit_request__free_unpacked (req, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    gz_envelope_t *env = gz_codec_envelope_decode (data, size);
    if (!env)
        return 0;
    s_require (env->type && env->credential && env->idempotency_key,
               "proto3 strings are never NULL");
    s_require (env->payload.len == 0 || env->payload.data, "payload data is there");
    s_require (env->payload.len <= size, "the payload fits in the frame");
    //  s_on_router unpacks the payload only when the type says
    //  SubmitRequest; here always, to reach the decoder more often.
    s_submit (env->payload.data, env->payload.len);

    zframe_t *frame = gz_codec_pack (&env->base);
    gz_envelope_t *again = gz_codec_envelope_decode (zframe_data (frame), zframe_size (frame));
    if (env->base.n_unknown_fields == 0) {
        s_require (again != NULL, "a packed envelope decodes");
        s_require (strcmp (again->type, env->type) == 0 && again->payload.len == env->payload.len &&
                       (env->payload.len == 0 ||
                        memcmp (again->payload.data, env->payload.data, env->payload.len) == 0),
                   "an envelope survives a round trip");
    }
    gz_codec_envelope_free (&again);
    zframe_destroy (&frame);
    gz_codec_envelope_free (&env);
    s_require (env == NULL, "gz_codec_envelope_free nulls its argument");
    return 0;
}
